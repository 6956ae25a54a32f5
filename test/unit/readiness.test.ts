/** The tail of the path (readiness.ts): which container the pod waited for, and the lanes of the others. */
import { describe, expect, it } from "vitest";
import { correlate } from "../../src/core/correlate.ts";
import { loadRecording } from "../support/recordings.ts";
import { phase } from "../support/scenarios.ts";

describe("readiness", () => {
  it("follows the container that became ready last; the other's probe is a lane", () => {
    const t = correlate(loadRecording("two-probes").observations);
    const slow = phase(t, "readiness:slow");
    const quick = phase(t, "readiness:quick");
    expect(slow.onCriticalPath).toBe(true);
    expect(quick.onCriticalPath).toBe(false);
    expect(quick.end!.offsetMs).toBeLessThan(slow.end!.offsetMs);
    expect(t.readyAfterMs).toBe(slow.end!.offsetMs);
    expect(Number(slow.details["probeFailures"])).toBeGreaterThan(0);
  });

  it("ends the status report at Ready when no container has a probe", () => {
    const t = correlate(loadRecording("two-app-containers").observations);
    expect(phase(t, "status-report").end!.offsetMs).toBe(t.readyAfterMs);
    expect(t.phases.filter((p) => p.kind === "readiness" || p.kind === "startup-probe")).toEqual([]);
  });
});
