/**
 * The correlation core on recordings of real runs on the local cluster: invariants that
 * hold for every recording, what each scenario must show, and the rendered timeline as a
 * snapshot. Recordings come from hack/record-fixtures.sh, never from hand.
 */
import { describe, expect, it } from "vitest";
import { correlate } from "../../src/core/correlate.ts";
import type { Phase, Timeline } from "../../src/core/timeline.ts";
import { renderTable } from "../../src/render/table.ts";
import { expectOrderedChain } from "../support/invariants.ts";
import { loadRecording, recordingNames } from "../support/recordings.ts";

// Recordings of a pod podtrace created itself; runs of many pods and of controllers are
// covered by pod-set.test.ts and controllers.test.ts.
const singles = recordingNames().filter((n) => (loadRecording(n).header.replicas ?? 1) === 1 && !loadRecording(n).header.controller);
const timelines = new Map<string, Timeline>(singles.map((n) => [n, correlate(loadRecording(n).observations)]));

function timeline(name: string): Timeline {
  const t = timelines.get(name);
  if (!t) throw new Error(`no recording ${name}; record it with: bash hack/record-fixtures.sh ${name}`);
  return t;
}

function phase(t: Timeline, id: string): Phase {
  const p = t.phases.find((x) => x.id === id);
  if (!p) throw new Error(`no phase ${id} in ${t.phases.map((x) => x.id).join(", ")}`);
  return p;
}

const ids = (t: Timeline) => t.phases.filter((p) => p.status !== "not-applicable").map((p) => p.id);

describe.each(singles)("recording %s", (name) => {
  const t = timeline(name);

  it("correlates deterministically", () => {
    expect(correlate(loadRecording(name).observations)).toEqual(t);
  });

  it("never produces a negative phase, and done phases form one ordered chain", () => {
    expectOrderedChain(t);
  });

  it("shows the clock estimate within the bounds the observations allow", () => {
    if (t.clock.lowerMs !== null) expect(t.clock.serverMinusClientMs).toBeGreaterThanOrEqual(t.clock.lowerMs);
    if (t.clock.upperMs !== null) expect(t.clock.serverMinusClientMs).toBeLessThanOrEqual(t.clock.upperMs);
  });

  it("renders the same table as before", async () => {
    await expect(renderTable(t, { color: false, kept: false })).toMatchFileSnapshot(`../fixtures/snapshots/${name}.txt`);
  });
});

describe("scenarios", () => {
  it("one container: every phase once, Ready, no endpoints to wait for", () => {
    const t = timeline("one-container");
    expect(ids(t)).toEqual([
      "admission",
      "scheduling",
      "sandbox",
      "image-pull:main",
      "container-create:main",
      "container-start:main",
      "readiness",
    ]);
    expect(phase(t, "endpoints").status).toBe("not-applicable");
    expect(t.verdict.outcome).toBe("ready");
    expect(t.readyAfterMs).toBe(phase(t, "readiness").end!.offsetMs);
    // The scheduler's microsecond eventTime, written just after the binding, places it.
    expect(phase(t, "scheduling").end!.sources[0]).toMatch(/^event Scheduled eventTime/);
  });

  it("init containers: run in order, each for at least its sleep", () => {
    const t = timeline("init-containers");
    expect(ids(t).filter((id) => id.startsWith("init-run"))).toEqual(["init-run:migrate", "init-run:seed"]);
    expect(phase(t, "init-run:migrate").durationMs).toBeGreaterThanOrEqual(1000);
    expect(phase(t, "init-run:seed").durationMs).toBeGreaterThanOrEqual(2000);
    expect(phase(t, "image-pull:seed").start!.offsetMs).toBeGreaterThanOrEqual(phase(t, "init-run:migrate").end!.offsetMs);
    expect(phase(t, "image-pull:main").start!.offsetMs).toBeGreaterThanOrEqual(phase(t, "init-run:seed").end!.offsetMs);
  });

  it("native sidecar: the app container waits for the sidecar's startup probe", () => {
    const t = timeline("native-sidecar");
    expect(phase(t, "container-start:proxy").containerType).toBe("sidecar");
    const startup = phase(t, "sidecar-startup:proxy");
    expect(startup.status).toBe("done");
    expect(startup.durationMs).toBeGreaterThanOrEqual(1500);
    expect(phase(t, "image-pull:main").start!.offsetMs).toBeGreaterThanOrEqual(startup.end!.offsetMs);
    expect(t.verdict.outcome).toBe("ready");
  });

  it("two app containers: started one after the other, readiness after the last", () => {
    const t = timeline("two-app-containers");
    expect(phase(t, "image-pull:helper").start!.offsetMs).toBeGreaterThanOrEqual(phase(t, "container-start:app").end!.offsetMs);
    expect(phase(t, "readiness").start!.offsetMs).toBe(phase(t, "container-start:helper").end!.offsetMs);
  });

  it("delayed readiness probe: readiness takes the delay, with the probe failures counted", () => {
    const t = timeline("delayed-readiness");
    expect(phase(t, "readiness").durationMs).toBeGreaterThanOrEqual(2500);
    expect(Number(phase(t, "readiness").details["probeFailures"])).toBeGreaterThan(0);
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

  it("service: endpoints are published after Ready", () => {
    const t = timeline("service-endpoints");
    const endpoints = phase(t, "endpoints");
    expect(endpoints.status).toBe("done");
    expect(endpoints.start!.offsetMs).toBe(t.readyAfterMs);
    expect(t.endpointsAfterMs).toBe(endpoints.end!.offsetMs);
    expect(t.pod.services).toHaveLength(1);
  });
});
