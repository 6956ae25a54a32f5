/**
 * The two Events APIs serve the same Event objects with different field names (core/v1
 * count, firstTimestamp, message; events.k8s.io/v1 deprecatedCount,
 * deprecatedFirstTimestamp, note). Whichever copy arrives first is the one podtrace keeps,
 * so both must read the same. Checked on every Event version seen through both APIs in
 * the recordings of real runs.
 */
import { describe, expect, it } from "vitest";
import { toSeenEvent } from "../../src/core/observed-run.ts";
import type { WatchObservation } from "../../src/core/observation.ts";
import { loadRecording, recordingNames } from "../support/recordings.ts";

describe("Events read through either API", () => {
  it("give the same reason, message, count, times and container for the same Event version", () => {
    let pairs = 0;
    for (const name of recordingNames()) {
      const byVersion = new Map<string, Partial<Record<WatchObservation["resource"], WatchObservation>>>();
      for (const o of loadRecording(name).observations) {
        if (o.kind !== "watch" || (o.resource !== "events" && o.resource !== "events.k8s.io") || o.type === "DELETED") continue;
        const meta = o.object["metadata"] as { uid: string; resourceVersion: string };
        const key = `${meta.uid}/${meta.resourceVersion}`;
        byVersion.set(key, { ...byVersion.get(key), [o.resource]: o });
      }
      for (const both of byVersion.values()) {
        if (!both.events || !both["events.k8s.io"]) continue;
        const { firstArrivedAt: _a, occurrences: _c, ...core } = toSeenEvent(both.events)!;
        const { firstArrivedAt: _b, occurrences: _d, ...events } = toSeenEvent(both["events.k8s.io"])!;
        expect(events, `${name}: ${core.reason} ${core.message}`).toEqual(core);
        pairs++;
      }
    }
    // Repeated events (counts above 1) are among them: the recordings hold back-offs.
    expect(pairs).toBeGreaterThan(50);
  });
});
