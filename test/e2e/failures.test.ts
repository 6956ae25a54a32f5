/**
 * When startup goes wrong, on the real cluster: each scenario names its phase and cause in
 * the cluster's words, exits with the documented code, ends early where fail-fast applies,
 * and leaves nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Timeline } from "../../src/core/timeline.ts";
import { create } from "xmlbuilder2";
import { podtrace } from "../support/cli.ts";

interface JunitDoc {
  testsuites: { testsuite: { "@tests": string; "@failures": string; testcase: { "@name": string; failure?: unknown }[] } };
}
import { createNamespace, deleteNamespace, leftovers, schedulableNodes } from "../support/cluster.ts";

let ns = "";
// The scheduler counts the nodes a pod could go to; others are rejected for their taints
// (kind's control plane), so that is the count each cause gets.
let nodes = 0;
beforeAll(async () => {
  ns = await createNamespace("failures-e2e");
  nodes = (await schedulableNodes()).length;
});
afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

async function trace(
  manifest: string,
  ...flags: string[]
): Promise<{ code: number | null; t: Timeline; elapsedMs: number; stderr: string }> {
  const r = await podtrace(["run", `test/fixtures/manifests/${manifest}.yaml`, "-n", ns, "-o", "json", ...flags]);
  expect(r.stderr).not.toMatch(/internal error/);
  const t = JSON.parse(r.stdout) as Timeline;
  expect(await leftovers(ns)).toEqual([]);
  return { code: r.code, t, elapsedMs: r.elapsedMs, stderr: r.stderr };
}

describe("stuck-phase verdicts", () => {
  it("nodeSelector that matches no node: unschedulable, at once with --fail-fast", async () => {
    const { code, t, elapsedMs } = await trace("unschedulable-selector", "--fail-fast", "--timeout", "60s");
    expect(code).toBe(1);
    expect(t.verdict.outcome).toBe("failed");
    expect(t.verdict.phase).toBe("scheduling");
    expect(
      t.verdict.unschedulable?.reasons.some((r) => /didn't match Pod's node affinity\/selector/.test(r.reason) && r.nodes === nodes),
    ).toBe(true);
    expect(t.verdict.summary).toMatch(/unschedulable/);
    expect(t.verdict.next.join("\n")).toMatch(/kubectl describe pod /);
    expect(elapsedMs).toBeLessThan(30_000);
  });

  it("CPU request larger than the node: Insufficient cpu", async () => {
    const { code, t, elapsedMs } = await trace("too-much-cpu", "--fail-fast", "--timeout", "60s");
    expect(code).toBe(1);
    expect(t.verdict.phase).toBe("scheduling");
    expect(t.verdict.unschedulable?.reasons).toContainEqual({ reason: "Insufficient cpu", nodes });
    expect(elapsedMs).toBeLessThan(30_000);
  });

  it("an image tag that does not exist in the local registry: image pull, not found", async () => {
    const { code, t, elapsedMs } = await trace("image-not-found", "--timeout", "120s");
    expect(code).toBe(1);
    expect(t.verdict.phase).toBe("image-pull");
    expect(t.verdict.container).toBe("main");
    expect(t.verdict.summary).toMatch(/not found/);
    expect(t.verdict.causes.join("\n")).toMatch(/127\.0\.0\.1:5000\/busybox:no-such-tag/);
    expect(t.phases.find((p) => p.id === "image-pull:main")?.status).toBe("failed");
    expect(elapsedMs).toBeLessThan(90_000);
  });

  it("a registry address nothing listens on: image pull, registry unreachable", async () => {
    const { code, t, elapsedMs } = await trace("registry-unreachable", "--timeout", "120s");
    expect(code).toBe(1);
    expect(t.verdict.phase).toBe("image-pull");
    expect(t.verdict.summary).toMatch(/registry unreachable/);
    expect(t.verdict.causes.join("\n")).toMatch(/connection refused/);
    expect(elapsedMs).toBeLessThan(90_000);
  });

  it("a container that exits 3 at once: container start, exit code and log tail", async () => {
    const { code, t, elapsedMs } = await trace("exits-3", "--timeout", "120s");
    expect(code).toBe(1);
    expect(t.verdict.phase).toBe("container-start");
    expect(t.verdict.exit?.exitCode).toBe(3);
    expect(t.verdict.exit?.logTail).toContain("config file /etc/app.conf missing");
    expect(t.verdict.summary).toMatch(/exited with code 3/);
    expect(t.verdict.next.join("\n")).toMatch(/kubectl logs .* -c main --previous/);
    expect(elapsedMs).toBeLessThan(90_000);
  });

  it("a readiness probe that never passes: readiness, with the probe's own message, at the timeout", async () => {
    const { code, t, elapsedMs } = await trace("never-ready", "--timeout", "12s");
    expect(code).toBe(1);
    expect(t.verdict.outcome).toBe("timeout");
    expect(t.verdict.phase).toBe("readiness");
    expect(t.verdict.causes.join("\n")).toMatch(/Readiness probe failed: HTTP probe failed with statuscode: 404/);
    expect(elapsedMs).toBeGreaterThanOrEqual(12_000);
  });

  it("a ConfigMap volume that does not exist: sandbox (volumes), FailedMount", async () => {
    const { code, t, elapsedMs } = await trace("missing-configmap", "--timeout", "120s");
    expect(code).toBe(1);
    expect(t.verdict.phase).toBe("sandbox");
    expect(t.verdict.summary).toMatch(/FailedMount/);
    expect(t.verdict.causes.join("\n")).toMatch(/configmap "podtrace-no-such-configmap" not found/);
    expect(elapsedMs).toBeLessThan(90_000);
  });

  it("an invalid pod spec rejected by the API: admission, exit 2, the API's words", async () => {
    const { code, t } = await trace("invalid-spec");
    expect(code).toBe(2);
    expect(t.verdict.outcome).toBe("rejected");
    expect(t.verdict.phase).toBe("admission");
    expect(t.verdict.summary).toMatch(/Invalid value: "Main_Container"/);
  });

  it("a threshold that a healthy pod exceeds: exit 4, Ready but over the limit, JUnit failure", async () => {
    const { code, t } = await trace("init-containers", "--max", "init-run=500ms", "--max", "total=1s");
    expect(code).toBe(4);
    expect(t.verdict.outcome).toBe("ready");
    expect(t.verdict.thresholds?.map((v) => v.phase).sort()).toEqual(["init-run:migrate", "init-run:seed", "total"]);
    const junit = await podtrace(["run", "test/fixtures/manifests/one-container.yaml", "-n", ns, "-o", "junit", "--max", "total=1ms"]);
    expect(junit.code).toBe(4);
    expect(junit.stdout).toMatch(/^<\?xml/);
    // Well-formed, and shaped as JUnit viewers read it: testsuites > testsuite > testcase.
    const doc = create(junit.stdout).end({ format: "object" }) as unknown as JunitDoc;
    const suite = doc.testsuites.testsuite;
    expect(Number(suite["@tests"])).toBe(suite.testcase.length);
    expect(Number(suite["@failures"])).toBe(1);
    expect(suite.testcase.filter((tc) => tc.failure).map((tc) => tc["@name"])).toEqual(["ready"]);
    expect(junit.stdout).toMatch(/<testcase [^>]*name="ready"[^>]*>\s*<failure [^>]*type="threshold"/);
    expect(await leftovers(ns)).toEqual([]);
  });
});
