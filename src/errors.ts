/**
 * The errors podtrace reports and the exit codes they map to. Only src/cli/main.ts turns
 * them into an exit; everything else throws or returns them.
 */

export const ExitCode = {
  /** The pod became Ready (and its endpoints were published). */
  Ready: 0,
  /** The pod did not become Ready: a failure, a stuck phase or the timeout. */
  NotReady: 1,
  /** Bad input: unreadable file, invalid YAML, not a single Pod, unknown flag, rejected spec. */
  BadInput: 2,
  /** The cluster could not be reached, or podtrace is not allowed to do what it needs. */
  ClusterAccess: 3,
  /** The pod became Ready, but slower than a --max threshold allows. */
  ThresholdExceeded: 4,
  /** An internal error: a bug in podtrace. */
  Internal: 70,
  /** Interrupted by SIGINT (Ctrl-C); 128 + 2 as shells report it. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error a user can fix, with the exit code it maps to and what to do about it. */
export class PodtraceError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(message: string, exitCode: ExitCode, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PodtraceError";
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

export class BadInputError extends PodtraceError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, ExitCode.BadInput, hint, options);
    this.name = "BadInputError";
  }
}

export class ClusterAccessError extends PodtraceError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, ExitCode.ClusterAccess, hint, options);
    this.name = "ClusterAccessError";
  }
}

/**
 * A request that never left: no connection could be made, so the server did nothing of it
 * (a create that fails so created nothing, and there is nothing to clean up).
 */
export class RequestNotSentError extends ClusterAccessError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, hint, options);
    this.name = "RequestNotSentError";
  }
}

/** The cause chain of an error, outermost first, for -v output. */
export function causeChain(err: unknown): string[] {
  const chain: string[] = [];
  let current: unknown = err;
  const seen = new Set<unknown>();
  while (current && !seen.has(current)) {
    seen.add(current);
    chain.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}
