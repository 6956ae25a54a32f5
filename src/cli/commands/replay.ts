/** `podtrace replay <recording>`: render a recorded run offline, exactly as it ran. */
import type { Threshold } from "../../core/thresholds.ts";
import { parseRecording, readRecording } from "../../trace/recording.ts";
import { readAll } from "../../kube/manifest.ts";
import type { IOStreams } from "../io.ts";
import { outputWidth, useColor } from "../io.ts";
import { analyse, exitCodeFor, render, type OutputFormat } from "./output.ts";

export interface ReplayOptions {
  file: string;
  output: OutputFormat;
  raw: boolean;
  quiet: boolean;
  color?: boolean | undefined;
  thresholds: Threshold[];
  /** The running podtrace's version, for the JSON. */
  version: string;
}

export async function replay(options: ReplayOptions, io: IOStreams): Promise<number> {
  // "-" reads the recording from stdin (podtrace replay - < run.ndjson).
  const recording = options.file === "-" ? parseRecording(await readAll(io.stdin), "stdin") : readRecording(options.file);
  const traced = analyse(recording.observations, recording.header.replicas ?? 1, options.thresholds);
  io.stdout.write(
    await render(traced, options.output, {
      color: useColor(io, options.color),
      kept: true,
      quiet: options.quiet,
      observations: options.raw ? recording.observations : undefined,
      width: outputWidth(io),
      versions: { podtraceVersion: options.version, serverVersion: recording.header.serverVersion },
    }),
  );
  return exitCodeFor(traced, recording.observations);
}
