/**
 * Pods made by a controller, from recordings of real runs: a Deployment of three (each
 * pod's stream cut from the shared one, each with the controller's phase before
 * scheduling), a ReplicaSet of one (shown as a single pod's timeline) and a Job of two
 * (done when they complete, not when Ready).
 */
import { describe, expect, it } from "vitest";
import { analyse } from "../../src/cli/commands/output.ts";
import { correlatePodSet } from "../../src/core/pod-set.ts";
import { expectTimelineInvariants } from "../support/invariants.ts";
import { loadRecording } from "../support/recordings.ts";

describe("Deployment", () => {
  const { header, observations } = loadRecording("deployment");
  const set = correlatePodSet(observations);

  it("traces every pod the Deployment made, to Ready and into the Service's endpoints", () => {
    expect(header.controller).toBe("Deployment");
    expect(set.replicas).toBe(3);
    expect(set.ready).toBe(3);
    for (const t of set.pods) {
      expect(t.pod.name.startsWith(`${header.pod}-`), t.pod.name).toBe(true);
      expect(t.verdict.outcome).toBe("ready");
      expect(t.phases.map((p) => p.id).slice(0, 3)).toEqual(["admission", "controller", "scheduling"]);
      expect(t.phases.find((p) => p.kind === "controller")?.status).toBe("done");
      expect(t.phases.find((p) => p.kind === "endpoints")?.status).toBe("done");
      expectTimelineInvariants(t);
    }
  });

  it("measures every pod from the Deployment's create request", () => {
    const submitted = new Set(set.pods.map((t) => t.submittedAt));
    expect(submitted.size).toBe(1);
    const controller = set.summary.find((s) => s.phase === "controller")!;
    expect(controller.count).toBe(3);
  });
});

describe("ReplicaSet", () => {
  it("of one pod is shown as that pod's timeline, controller phase included", () => {
    const { header, observations } = loadRecording("replicaset");
    const traced = analyse(observations, header.replicas ?? 1, []);
    expect(traced.kind).toBe("pod");
    if (traced.kind !== "pod") return;
    const t = traced.timeline;
    expect(t.verdict.outcome).toBe("ready");
    expect(t.phases.find((p) => p.kind === "controller")).toMatchObject({ status: "done", details: { controller: "ReplicaSet" } });
    expectTimelineInvariants(t);
  });
});

describe("Job", () => {
  it("is done when its pods complete, each container's run measured", () => {
    const { header, observations } = loadRecording("job");
    expect(header.controller).toBe("Job");
    const set = correlatePodSet(observations);
    expect(set.replicas).toBe(2);
    expect(set.ready).toBe(2);
    for (const t of set.pods) {
      expect(t.verdict.outcome).toBe("completed");
      expect(t.verdict.summary).toMatch(/^Completed after \d+\.\d+s$/);
      const run = t.phases.find((p) => p.id === "container-run:work")!;
      expect(run.status).toBe("done");
      expect(run.details["exitCode"]).toBe(0);
      // sleep 1: the run lasts at least a second, within its boundaries' windows.
      expect(run.durationMs! + run.start!.uncertaintyMs + run.end!.uncertaintyMs).toBeGreaterThanOrEqual(1000);
      expectTimelineInvariants(t);
    }
  });
});
