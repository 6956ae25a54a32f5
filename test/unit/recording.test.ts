/**
 * The recording writer: a run records its first requests' answers before it knows the
 * server version its header names (the create leaves with the version request), so what
 * comes before the header is held and written after it. A recording of a real run, written
 * again with its header late, reads back as the same recording.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { parseRecording, RecordingWriter } from "../../src/trace/recording.ts";
import { loadRecording } from "../support/recordings.ts";

const dir = mkdtempSync(`${tmpdir()}/podtrace-recording-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("RecordingWriter", () => {
  it("writes the header first, whenever it comes", async () => {
    const { header, observations } = loadRecording("one-container");
    const path = `${dir}/late-header.ndjson`;
    const writer = new RecordingWriter(path);
    const early = 3;
    for (const o of observations.slice(0, early)) writer.write(o);
    writer.writeHeader(header);
    for (const o of observations.slice(early)) writer.write(o);
    await writer.close();
    const text = readFileSync(path, "utf8");
    expect(JSON.parse(text.slice(0, text.indexOf("\n")))).toEqual(header);
    expect(parseRecording(text, path)).toEqual({ header, observations });
  });
});
