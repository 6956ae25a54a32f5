/**
 * Many pods in one run, from a recording of a real --replicas run: each pod's stream is
 * cut out of the shared one, and the summary agrees with the per-pod timelines.
 */
import { describe, expect, it } from "vitest";
import { correlatePodSet, percentile, podOf, splitByPod } from "../../src/core/pod-set.ts";
import { expectTimelineInvariants } from "../support/invariants.ts";
import { loadRecording } from "../support/recordings.ts";

describe("pod set", () => {
  const { header, observations } = loadRecording("five-replicas");
  const set = correlatePodSet(observations);

  it("finds every pod of the run and nothing else", () => {
    expect(header.replicas).toBe(5);
    const names = [...splitByPod(observations).keys()];
    expect([...names].sort()).toEqual([0, 1, 2, 3, 4].map((i) => `${header.pod}-${i}`));
    for (const o of observations) {
      const pod = podOf(o);
      if (pod !== null) expect(names).toContain(pod);
    }
  });

  it("traces each pod to Ready with its endpoints", () => {
    expect(set.replicas).toBe(5);
    expect(set.ready).toBe(5);
    for (const t of set.pods) {
      expect(t.verdict.outcome, t.pod.name).toBe("ready");
      expect(t.phases.find((p) => p.kind === "endpoints")?.status, t.pod.name).toBe("done");
      expectTimelineInvariants(t);
    }
    expect(new Set(set.pods.map((x) => x.pod.podIP)).size).toBe(5);
  });

  it("summarises exactly the per-pod figures", () => {
    const ready = set.pods.map((t) => t.readyAfterMs!);
    const row = set.summary.find((s) => s.phase === "ready (from submit)")!;
    expect(row).toMatchObject({ count: 5, p50Ms: percentile(ready, 50), p99Ms: percentile(ready, 99), maxMs: Math.max(...ready) });
    const scheduling = set.summary.find((s) => s.phase === "scheduling")!;
    expect(scheduling.count).toBe(5);
    expect(scheduling.p50Ms).toBeLessThanOrEqual(scheduling.p90Ms);
    expect(scheduling.p90Ms).toBeLessThanOrEqual(scheduling.p99Ms);
  });

  it("uses nearest-rank percentiles", () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
  });
});
