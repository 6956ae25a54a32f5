/**
 * The streams a command talks through, passed in so tests and pipes stay clean: results
 * (table, JSON, JUnit) go to stdout only; progress, logs and errors to stderr.
 */
export interface IOStreams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
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

/** The width a table in a pipe or in CI fits (unless -o wide): readable in a CI log. */
export const PIPE_WIDTH = 120;

/**
 * The width the table fits, in terminal cells: the terminal's own on a TTY (not in CI,
 * whose pseudo-terminals have arbitrary sizes), else COLUMNS when exported (a user's
 * explicit choice), else a fixed width so pipes and CI logs stay readable.
 */
export function outputWidth(io: IOStreams): number {
  const tty = io.stdout.isTTY === true && !isCI(io);
  if (tty && typeof io.stdout.columns === "number" && io.stdout.columns > 0) return io.stdout.columns;
  const columns = Number(io.env["COLUMNS"]);
  if (Number.isInteger(columns) && columns > 0) return columns;
  return PIPE_WIDTH;
}
