/**
 * Verdicts of failed runs, from recordings of real failures on the local cluster: the
 * phase, the cause in the cluster's words, and what to run next.
 */
import { describe, expect, it } from "vitest";
import { correlate } from "../../src/core/correlate.ts";
import { DEFAULT_FAIL_FAST, failFastReason } from "../../src/core/fail-fast.ts";
import { indexObservations } from "../../src/core/observed-run.ts";
import type { Observation } from "../../src/core/observation.ts";
import { applyThresholds } from "../../src/core/thresholds.ts";
import { loadRecording } from "../support/recordings.ts";

const verdictOf = (name: string) => correlate(loadRecording(name).observations).verdict;

/** The observations up to (not including) the end: what the live run had seen. */
function beforeEnd(name: string): Observation[] {
  const all = loadRecording(name).observations;
  const end = all.findIndex((o) => o.kind === "end");
  return end < 0 ? all : all.slice(0, end);
}

describe("verdicts", () => {
  it("unschedulable by nodeSelector", () => {
    const v = verdictOf("unschedulable-selector");
    expect(v.phase).toBe("scheduling");
    expect(v.unschedulable?.nodes).toBe(1);
    expect(v.unschedulable?.reasons).toEqual([{ reason: "node(s) didn't match Pod's node affinity/selector", nodes: 1 }]);
    expect(v.summary).toBe("failed in scheduling: unschedulable (node(s) didn't match Pod's node affinity/selector: 1 node)");
    expect(v.next[0]).toMatch(/^kubectl describe pod unschedulable-selector-\w+ -n \S+$/);
  });

  it("unschedulable by CPU request", () => {
    const v = verdictOf("too-much-cpu");
    expect(v.unschedulable?.reasons).toEqual([{ reason: "Insufficient cpu", nodes: 1 }]);
  });

  it("image not found", () => {
    const v = verdictOf("image-not-found");
    expect(v.phase).toBe("image-pull");
    expect(v.container).toBe("main");
    expect(v.summary).toMatch(/image not found in the registry \(127\.0\.0\.1:5000\/busybox:no-such-tag\)$/);
    expect(v.causes.some((c) => c.includes("not found"))).toBe(true);
  });

  it("registry unreachable", () => {
    const v = verdictOf("registry-unreachable");
    expect(v.phase).toBe("image-pull");
    expect(v.summary).toMatch(/registry unreachable/);
  });

  it("container exits 3", () => {
    const v = verdictOf("exits-3");
    expect(v.phase).toBe("container-start");
    expect(v.exit).toMatchObject({ container: "main", exitCode: 3, reason: "Error" });
    expect(v.exit?.logTail).toContain("config file /etc/app.conf missing");
  });

  it("readiness probe never passes", () => {
    const v = verdictOf("never-ready");
    expect(v.outcome).toBe("timeout");
    expect(v.phase).toBe("readiness");
    expect(v.container).toBe("web");
    expect(v.summary).toMatch(
      /^timed out in readiness probe of container web: \d+ readiness probe failures, last: Readiness probe failed: HTTP probe failed with statuscode: 404$/,
    );
  });

  it("missing ConfigMap volume", () => {
    const v = verdictOf("missing-configmap");
    expect(v.phase).toBe("sandbox");
    expect(v.summary).toMatch(
      /^failed in sandbox \+ network: FailedMount: MountVolume.SetUp failed for volume "config" : configmap "podtrace-no-such-configmap" not found$/,
    );
  });

  it("invalid spec rejected by the API", () => {
    const v = verdictOf("invalid-spec");
    expect(v.outcome).toBe("rejected");
    expect(v.phase).toBe("admission");
    expect(v.causes[0]).toMatch(/^Pod "invalid-spec-\w+" is invalid: /);
  });

  it("a healthy run is ready and stays ready under generous thresholds", () => {
    const t = correlate(loadRecording("one-container").observations);
    expect(t.verdict.outcome).toBe("ready");
    expect(applyThresholds(t, [{ phase: "total", limitMs: 600_000 }]).verdict.thresholds).toBeUndefined();
    const slow = applyThresholds(t, [
      { phase: "total", limitMs: 1 },
      { phase: "image-pull", limitMs: 600_000 },
      { phase: "sandbox", limitMs: 1 },
    ]);
    expect(slow.verdict.thresholds?.map((v) => v.phase)).toEqual(["total", "sandbox"]);
    expect(slow.verdict.summary).toMatch(/but over threshold: total/);
  });
});

describe("fail fast", () => {
  it("ends failures that will not fix themselves, at the point the live run did", () => {
    for (const name of ["image-not-found", "registry-unreachable", "exits-3", "missing-configmap"]) {
      const reason = failFastReason(indexObservations(beforeEnd(name)), DEFAULT_FAIL_FAST);
      expect(reason, name).not.toBeNull();
    }
  });

  it("waits on unschedulable pods unless --fail-fast, and never on probe failures", () => {
    const unschedulable = indexObservations(beforeEnd("unschedulable-selector"));
    expect(failFastReason(unschedulable, DEFAULT_FAIL_FAST)).toBeNull();
    expect(failFastReason(unschedulable, { immediate: true, repeats: 3 })).toMatch(/^unschedulable: 0\/1 nodes are available/);
    expect(failFastReason(indexObservations(beforeEnd("never-ready")), { immediate: true, repeats: 1 })).toBeNull();
  });

  it("does not end healthy runs", () => {
    for (const name of ["one-container", "init-containers", "native-sidecar", "service-endpoints"]) {
      expect(failFastReason(indexObservations(beforeEnd(name)), { immediate: true, repeats: 1 }), name).toBeNull();
    }
  });
});
