/** `podtrace replay <recording>`: render a recorded run offline, exactly as it ran. */
import type { Threshold } from "../../core/thresholds.ts";
import { readRecording } from "../../trace/recording.ts";
import type { IOStreams } from "../io.ts";
import { useColor } from "../io.ts";
import { analyse, exitCodeFor, render, type OutputFormat } from "./output.ts";

export interface ReplayOptions {
  file: string;
  output: OutputFormat;
  raw: boolean;
  quiet: boolean;
  color?: boolean | undefined;
  thresholds: Threshold[];
}

export async function replay(options: ReplayOptions, io: IOStreams): Promise<number> {
  const recording = await readRecording(options.file);
  const traced = analyse(recording.observations, recording.header.replicas ?? 1, options.thresholds);
  io.stdout.write(
    await render(traced, options.output, {
      color: useColor(io, options.color),
      kept: true,
      quiet: options.quiet,
      observations: options.raw ? recording.observations : undefined,
    }),
  );
  return exitCodeFor(traced, recording.observations);
}
