/**
 * Recordings: a run's raw observed stream as NDJSON, one header line then one observation
 * per line, written as they arrive so an interrupted run still leaves a usable file.
 * `podtrace replay` and the unit tests read them back.
 */
import { createWriteStream, readFileSync, type WriteStream } from "node:fs";
import { BadInputError } from "../errors.ts";
import type { Observation } from "../core/observation.ts";

export const RECORDING_FORMAT = "podtrace-recording/v1";

export interface RecordingHeader {
  format: typeof RECORDING_FORMAT;
  podtraceVersion: string;
  recordedAt: string;
  server: string;
  serverVersion: string | null;
  namespace: string;
  /** The pod's name, or with --replicas the prefix of the pods' names. */
  pod: string;
  /** How many pods the run waited for (absent in single-pod recordings of older versions). */
  replicas?: number;
  /** The controller whose pods were traced, when the manifest was a Deployment or ReplicaSet. */
  controller?: string;
  /** The manifest as submitted (after naming), so a replay can show what was traced. */
  manifest: Record<string, unknown>;
}

export interface Recording {
  header: RecordingHeader;
  observations: Observation[];
}

export class RecordingWriter {
  private readonly out: WriteStream;
  private failed: Error | null = null;
  /**
   * What was recorded before the header: a run's first requests are sent before the
   * server's version (which the header names) is known, and their answers may come first.
   */
  private beforeHeader: Observation[] | null = [];

  readonly path: string;

  constructor(path: string) {
    this.path = path;
    this.out = createWriteStream(path, { flags: "w" });
    this.out.on("error", (err) => {
      this.failed = err;
    });
  }

  writeHeader(header: RecordingHeader): void {
    this.out.write(`${JSON.stringify(header)}\n`);
    const held = this.beforeHeader ?? [];
    this.beforeHeader = null;
    for (const o of held) this.write(o);
  }

  write(o: Observation): void {
    if (this.beforeHeader) this.beforeHeader.push(o);
    else if (!this.failed) this.out.write(`${JSON.stringify(o)}\n`);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.out.end(resolve));
    if (this.failed) throw new Error(`writing recording ${this.path}: ${this.failed.message}`, { cause: this.failed });
  }
}

export function readRecording(path: string): Recording {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new BadInputError(
      `cannot read recording ${path}: ${(err as Error).message}`,
      "pass a file written by podtrace run --record FILE",
      { cause: err },
    );
  }
  return parseRecording(text, path);
}

export function parseRecording(text: string, source: string): Recording {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const parse = (line: string, n: number): unknown => {
    try {
      return JSON.parse(line);
    } catch {
      throw new BadInputError(`${source}:${n}: not a JSON line`, "pass a file written by podtrace run --record FILE");
    }
  };
  const header = parse(lines[0] ?? "{}", 1) as RecordingHeader;
  if (header.format !== RECORDING_FORMAT) {
    throw new BadInputError(
      `${source}: not a podtrace recording (format ${JSON.stringify(header.format ?? null)})`,
      "pass a file written by podtrace run --record FILE",
    );
  }
  const observations = lines.slice(1).map((l, i) => parse(l, i + 2) as Observation);
  return { header, observations };
}
