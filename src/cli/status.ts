/**
 * Progress while waiting: an ora spinner naming the phase being waited on when a person
 * watches a terminal; plain lines otherwise (pipes, CI); nothing with --quiet.
 */
import type { IOStreams } from "./io.ts";
import { isInteractive } from "./io.ts";

export interface Status {
  update(text: string): void;
  stop(): void;
}

export async function createStatus(io: IOStreams, quiet: boolean): Promise<Status> {
  if (quiet) return { update: () => undefined, stop: () => undefined };
  // A terminal that reports no size (a pseudo-terminal nobody sized: script(1), a container
  // started with -t from a pipe) gets plain lines: ora divides by the width to know how many
  // lines to clear, and with a width of 0 clears lines forever, with the run's event loop.
  const columns = (io.stderr as { columns?: number }).columns;
  if (isInteractive(io) && typeof columns === "number" && columns > 0) {
    const { default: ora } = await import("ora");
    // Interactive was decided above (isInteractive): ora's own check reads CI differently.
    const spinner = ora({ stream: io.stderr as NodeJS.WriteStream, discardStdin: false, isEnabled: true }).start("starting");
    return {
      update: (text) => {
        spinner.text = text;
      },
      stop: () => spinner.stop(),
    };
  }
  let last = "";
  return {
    update: (text) => {
      if (text === last) return;
      last = text;
      io.stderr.write(`podtrace: ${text}\n`);
    },
    stop: () => undefined,
  };
}
