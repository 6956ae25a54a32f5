/** Loading the committed recordings of real runs (test/fixtures/recordings). */
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { indexObservations, type SeenEvent } from "../../src/core/observed-run.ts";
import { parseRecording, type Recording } from "../../src/trace/recording.ts";

export const RECORDINGS_DIR = fileURLToPath(new URL("../fixtures/recordings/", import.meta.url));

export function recordingNames(): string[] {
  return readdirSync(RECORDINGS_DIR)
    .filter((f) => f.endsWith(".ndjson"))
    .map((f) => f.replace(/\.ndjson$/, ""))
    .sort();
}

export function loadRecording(name: string): Recording {
  return parseRecording(readFileSync(`${RECORDINGS_DIR}${name}.ndjson`, "utf8"), name);
}

/** Every Event of a recording, as the correlation core sees them. */
export function recordedEvents(name: string): SeenEvent[] {
  return indexObservations(loadRecording(name).observations).events;
}
