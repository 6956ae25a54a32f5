/**
 * The correlation core on recordings of real runs on the local cluster: the invariants
 * that hold for every recording (a gapless critical path whose durations add up to the
 * total, boundaries inside their windows, none before the create request), and what each
 * scenario must show. Recordings come from hack/record-fixtures.sh, never from hand.
 */
import { describe, expect, it } from "vitest";
import { correlate } from "../../src/core/correlate.ts";
import type { Timeline } from "../../src/core/timeline.ts";
import { expectTimelineInvariants } from "../support/invariants.ts";
import { loadRecording, recordingNames } from "../support/recordings.ts";
import { phase, SCENARIOS } from "../support/scenarios.ts";

// Recordings of a pod podtrace created itself; runs of many pods and of controllers are
// covered by pod-set.test.ts and controllers.test.ts.
const singles = recordingNames().filter((n) => (loadRecording(n).header.replicas ?? 1) === 1 && !loadRecording(n).header.controller);
const timelines = new Map<string, Timeline>(singles.map((n) => [n, correlate(loadRecording(n).observations)]));

function timeline(name: string): Timeline {
  const t = timelines.get(name);
  if (!t) throw new Error(`no recording ${name}; record it with: bash hack/record-fixtures.sh ${name}`);
  return t;
}

describe.each(singles)("recording %s", (name) => {
  const t = timeline(name);

  it("correlates deterministically", () => {
    expect(correlate(loadRecording(name).observations)).toEqual(t);
  });

  it("tiles the critical path with no hole, every boundary inside its window and none before submit", () => {
    expectTimelineInvariants(t);
  });

  it("shows each clock's estimate within the bounds the observations allow", () => {
    if (t.clocks.length) expect(t.clocks[0]?.source).toBe("apiserver");
    for (const k of t.clocks) {
      if (!k.consistent) continue;
      if (k.lowerMs !== null) expect(k.offsetMs, k.source).toBeGreaterThanOrEqual(k.lowerMs);
      if (k.upperMs !== null) expect(k.offsetMs, k.source).toBeLessThanOrEqual(k.upperMs);
    }
  });
});

describe("scenarios", () => {
  it.each(Object.entries(SCENARIOS))("%s", (name, scenario) => {
    scenario.check(timeline(name));
  });

  it("image pulled vs already present: the pull shows the kubelet's figures", () => {
    const pulled = phase(timeline("image-pulled"), "image-pull:big");
    expect(pulled.details["alreadyPresent"]).toBeUndefined();
    expect(Number(pulled.details["imageSizeBytes"])).toBeGreaterThan(30 * 1024 * 1024);
    const kubelet = Number(pulled.details["kubeletPullWithWaitingMs"]);
    expect(kubelet).toBeGreaterThan(0);
    // Pulling and Pulled carry one-second stamps; fused with arrivals they agree with the
    // kubelet's own measure far better than a second.
    expect(Math.abs(pulled.durationMs! - kubelet)).toBeLessThan(250);
    const present = phase(timeline("one-container"), "image-pull:main");
    expect(present.details["alreadyPresent"]).toBe(true);
    expect(present.durationMs).toBe(0);
  });
});
