/**
 * Who refused, and the exit code that follows, on recordings of real refusals by the local
 * cluster (PodSecurity, LimitRange, ResourceQuota, a ValidatingAdmissionPolicy, a webhook
 * that denies and one that cannot be called, RBAC, validation; recorded by
 * test/e2e/rejections.test.ts) and on every other recording.
 */
import { describe, expect, it } from "vitest";
import { analyse, exitCodeFor } from "../../src/cli/commands/output.ts";
import { describeRejection, podsRefused, refusedCreate } from "../../src/core/rejection.ts";
import { indexObservations } from "../../src/core/observed-run.ts";
import type { CreateObservation } from "../../src/core/observation.ts";
import { ExitCode } from "../../src/errors.ts";
import { loadRecording, recordingNames } from "../support/recordings.ts";

function refusal(name: string): CreateObservation {
  const create = loadRecording(name).observations.find((o): o is CreateObservation => o.kind === "create" && o.status >= 300);
  if (!create) throw new Error(`${name} has no refused create request`);
  return create;
}

describe("describeRejection", () => {
  const cases: [string, RegExp, "access" | "input" | "cluster", string][] = [
    ["rejected-podsecurity", /^PodSecurity "restricted:latest"$/, "input", "kubectl get namespace"],
    ["rejected-limitrange", /^LimitRange$/, "input", "kubectl describe limitrange"],
    ["rejected-quota", /^ResourceQuota "no-pods"$/, "input", "kubectl describe resourcequota"],
    [
      "rejected-policy",
      /^ValidatingAdmissionPolicy "podtrace-e2e-\d+" \(binding "podtrace-e2e-\d+"\)$/,
      "input",
      "kubectl get validatingadmissionpolicy",
    ],
    ["rejected-rbac", /^RBAC$/, "access", "kubectl auth can-i --list"],
    [
      "rejected-webhook",
      /^admission webhook "deny\.podtrace-e2e-\d+\.podtrace\.dev"$/,
      "input",
      "kubectl get validatingwebhookconfigurations",
    ],
    [
      "rejected-webhook-unreachable",
      /^admission webhook "deny\.podtrace-e2e-\d+\.podtrace\.dev" \(not reachable\)$/,
      "cluster",
      "kubectl get validatingwebhookconfigurations",
    ],
    ["invalid-spec", /^validation$/, "input", "kubectl create --dry-run=server"],
  ];
  it.each(cases)("%s: refused by %s", (name, by, cause, next) => {
    const create = refusal(name);
    const r = describeRejection(create.status, create.object, create.namespace);
    expect(r.by).toMatch(by);
    expect(r.cause).toBe(cause);
    expect(r.message).toBe(create.object["message"]);
    expect(r.next.join("\n")).toContain(next);
  });

  it("tells RBAC's 403 from admission's 403 by the authorizer's words, not the status code", () => {
    const rbac = refusal("rejected-rbac");
    const podSecurity = refusal("rejected-podsecurity");
    expect([rbac.status, podSecurity.status]).toEqual([403, 403]);
    expect(describeRejection(rbac.status, rbac.object, rbac.namespace).cause).toBe("access");
    expect(describeRejection(podSecurity.status, podSecurity.object, podSecurity.namespace).cause).toBe("input");
    // A policy answers 422 by default, not 403.
    expect(refusal("rejected-policy").status).toBe(422);
  });

  it("treats an unauthenticated request as access, and a server that could not decide as the cluster's problem", () => {
    const rbac = refusal("rejected-rbac");
    expect(describeRejection(401, rbac.object, rbac.namespace)).toMatchObject({ cause: "access", by: "authentication" });
    expect(describeRejection(503, {}, "ns")).toMatchObject({ cause: "cluster", message: "HTTP 503" });
  });
});

describe("podsRefused: a controller whose pods admission refuses", () => {
  const events = indexObservations(loadRecording("rejected-podsecurity-deployment").observations).events;
  const failedCreate = events.filter((e) => e.reason === "FailedCreate");

  it("reads the refusal inside the ReplicaSet's FailedCreate, and ends once it was tried --fail-after times", () => {
    expect(failedCreate.length).toBeGreaterThan(0);
    expect(refusedCreate(failedCreate[0]!.message)).toMatch(/^pods ".*" is forbidden: violates PodSecurity "restricted:latest"/);
    const attempts = failedCreate.reduce((n, e) => n + e.count, 0);
    expect(podsRefused(events, attempts)).toMatch(
      new RegExp(
        `^ReplicaSet deployment-\\w+-\\w+ could not create pods \\(${attempts} times\\): refused by PodSecurity "restricted:latest"$`,
      ),
    );
    expect(podsRefused(events, attempts + 1)).toBeNull();
  });

  it("ignores other FailedCreate messages and every recording of pods that were created", () => {
    expect(refusedCreate("Error creating: Internal error occurred: resource quota evaluation timed out")).toBeNull();
    expect(refusedCreate('Error creating: pods "x" is forbidden: User "u" cannot create resource "pods"')).toBeNull();
    for (const name of recordingNames().filter((n) => n !== "rejected-podsecurity-deployment")) {
      expect(podsRefused(indexObservations(loadRecording(name).observations).events, 1), name).toBeNull();
    }
  });
});

describe("exit codes of every recording", () => {
  // What each recorded run should have exited with: refusals of the spec 2, of access 3,
  // failures 1, a threshold 4 only with --max (none here), Ready and completed 0.
  const expected: Record<string, number> = {
    "invalid-spec": ExitCode.BadInput,
    "rejected-podsecurity": ExitCode.BadInput,
    "rejected-podsecurity-deployment": ExitCode.BadInput,
    "rejected-limitrange": ExitCode.BadInput,
    "rejected-quota": ExitCode.BadInput,
    "rejected-policy": ExitCode.BadInput,
    "rejected-rbac": ExitCode.ClusterAccess,
    "rejected-webhook": ExitCode.BadInput,
    "rejected-webhook-unreachable": ExitCode.ClusterAccess,
    "exits-3": ExitCode.NotReady,
    "image-not-found": ExitCode.NotReady,
    "registry-unreachable": ExitCode.NotReady,
    "missing-configmap": ExitCode.NotReady,
    "never-ready": ExitCode.NotReady,
    "pvc-unbound": ExitCode.NotReady,
    "pvc-attach-fails": ExitCode.NotReady,
    "too-much-cpu": ExitCode.NotReady,
    "unschedulable-selector": ExitCode.NotReady,
  };
  it.each(recordingNames())("%s", (name) => {
    const r = loadRecording(name);
    const traced = analyse(r.observations, r.header.replicas ?? 1, []);
    expect(exitCodeFor(traced, r.observations)).toBe(expected[name] ?? ExitCode.Ready);
  });

  it("a threshold broken by a Ready pod exits 4", () => {
    const r = loadRecording("one-container");
    const traced = analyse(r.observations, 1, [{ phase: "total", limitMs: 1 }]);
    expect(exitCodeFor(traced, r.observations)).toBe(ExitCode.ThresholdExceeded);
  });
});
