/**
 * The streams a command talks through, passed in so tests and pipes stay clean: results
 * (table, JSON, JUnit) go to stdout only; progress, logs and errors to stderr.
 */
export interface IOStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

/** Interactive niceties (spinner, colour) only for a person at a terminal. */
export function isInteractive(io: IOStreams): boolean {
  return io.stderr.isTTY === true && !isCI(io) && io.env["TERM"] !== "dumb";
}

export function isCI(io: IOStreams): boolean {
  const ci = io.env["CI"];
  return ci !== undefined && ci !== "" && ci !== "0" && ci !== "false";
}

export function useColor(io: IOStreams, flag: boolean | undefined): boolean {
  if (flag === false || io.env["NO_COLOR"]) return false;
  if (io.env["FORCE_COLOR"] && io.env["FORCE_COLOR"] !== "0") return true;
  return (io.stdout as { isTTY?: boolean }).isTTY === true && !isCI(io);
}
