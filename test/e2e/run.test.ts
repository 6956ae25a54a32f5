/**
 * podtrace run against the real local cluster: the README's example traced end to end,
 * its JSON against the schema, replay against the live run, Ctrl-C cleanup and the exit
 * codes of bad input.
 */
import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Phase, Timeline } from "../../src/core/timeline.ts";
import { podtrace, start } from "../support/cli.ts";
import { createNamespace, deleteNamespace, kubectl, leftovers } from "../support/cluster.ts";
import { criticalSteps, expectTimelineInvariants, longestPossibleMs } from "../support/invariants.ts";
import { validateTimeline } from "../support/schema.ts";

let ns = "";
beforeAll(async () => {
  ns = await createNamespace("run-e2e");
});
afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

const validate = validateTimeline;

function phase(t: Timeline, id: string): Phase {
  const p = t.phases.find((x) => x.id === id);
  if (!p) throw new Error(`no phase ${id} in ${t.phases.map((x) => x.id).join(", ")}`);
  return p;
}

describe("podtrace run", () => {
  let live: Timeline;
  const recording = `/tmp/podtrace-e2e-${process.pid}.ndjson`;

  it("traces the example pod phase by phase, in order, and cleans up", async () => {
    const r = await podtrace(["run", "examples/web.yaml", "--service", "-n", ns, "-o", "json", "--record", recording, "--timeout", "120s"]);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    live = JSON.parse(r.stdout) as Timeline;
    expect(live.verdict.outcome).toBe("ready");

    // The critical path, gapless, from submit to Ready and on to endpoints.
    expect(criticalSteps(live).map((p) => p.id)).toEqual([
      "admission",
      "scheduling",
      "sandbox",
      "image-pull:warmup",
      "container-create:warmup",
      "container-start:warmup",
      "init-run:warmup",
      "kubelet-sync:web",
      "image-pull:web",
      "container-create:web",
      "container-start:web",
      "image-pull:logger",
      "container-create:logger",
      "container-start:logger",
      "status-report",
      "readiness:web",
      "endpoints",
    ]);
    for (const p of criticalSteps(live)) expect(p.status, p.id).toBe("done");
    expectTimelineInvariants(live);
    // The init container sleeps 2 s; its end is stamped to the second (finishedAt) when no
    // faster signal bounds it: the 2 s must lie within the boundaries' windows.
    expect(longestPossibleMs(phase(live, "init-run:warmup"))).toBeGreaterThanOrEqual(2000);
    expect(phase(live, "init-run:warmup").durationMs).toBeGreaterThanOrEqual(1000);
    // The kubelet notices the exit within a relist (1 s) and its write.
    expect(phase(live, "kubelet-sync:web").durationMs).toBeLessThan(1500);
    // The probe passes about 3 s after web started; its failures are the readiness probe's.
    const readiness = phase(live, "readiness:web");
    expect(readiness.end!.offsetMs - phase(live, "container-start:web").end!.offsetMs).toBeGreaterThanOrEqual(2500);
    expect(Number(readiness.details["probeFailures"])).toBeGreaterThan(0);
    expect(live.readyAfterMs).toBe(readiness.end!.offsetMs);
    expect(phase(live, "endpoints").start!.offsetMs).toBe(live.readyAfterMs);
    expect(live.endpointsAfterMs).toBeGreaterThanOrEqual(live.readyAfterMs!);
    expect(live.pod.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(live.pod.services).toEqual([live.pod.name]);
    // On one machine every clock is the same clock: 0 must be within the bounds.
    expect(live.clock.consistent).toBe(true);
    expect(live.clock.lowerMs!).toBeLessThanOrEqual(0);
    expect(live.clock.upperMs!).toBeGreaterThanOrEqual(0);

    expect(await leftovers(ns)).toEqual([]);
  });

  it("emits JSON that validates against the documented schema", () => {
    const ok = validate(live);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it("replays the recording to the same timeline", async () => {
    const r = await podtrace(["replay", recording, "-o", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(live);
    const table = await podtrace(["replay", recording]);
    expect(table.stdout).toContain("init warmup: run");
    expect(table.stdout).toMatch(/✓ Ready after \d+\.\d+s/);
  });

  it("cleans up everything when interrupted with SIGINT mid-run", async () => {
    const run = start(["run", "test/fixtures/manifests/never-ready.yaml", "--service", "-n", ns, "--timeout", "120s"]);
    await run.waitForStderr(/waiting for web: readiness probe/);
    expect((await leftovers(ns)).length).toBe(2);
    run.child.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/interrupted in readiness probe/);
    expect(await leftovers(ns)).toEqual([]);
  });

  it("traces many copies of a pod with a constant number of watches", async () => {
    const r = await podtrace([
      "run",
      "test/fixtures/manifests/five-replicas.yaml",
      "--replicas",
      "12",
      "--service",
      "-n",
      ns,
      "-o",
      "json",
      "--raw",
      "--timeout",
      "180s",
    ]);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const set = JSON.parse(r.stdout) as {
      replicas: number;
      ready: number;
      summary: { phase: string; count: number; p50Ms: number; p99Ms: number }[];
      pods: Timeline[];
      observations: { kind: string; status?: string; resource?: string }[];
    };
    expect(validate(set), JSON.stringify(validate.errors)).toBe(true);
    expect(set.replicas).toBe(12);
    expect(set.ready).toBe(12);
    expect(new Set(set.pods.map((t) => t.pod.name)).size).toBe(12);
    for (const t of set.pods) {
      expect(t.verdict.outcome).toBe("ready");
      expect(t.phases.find((p) => p.kind === "endpoints")?.status).toBe("done");
    }
    const ready = set.summary.find((s) => s.phase === "ready (from submit)")!;
    expect(ready.count).toBe(12);
    const readyTimes = set.pods.map((t) => t.readyAfterMs!).sort((a, b) => a - b);
    expect(ready.p50Ms).toBe(readyTimes[5]);
    expect(ready.p99Ms).toBe(readyTimes[11]);
    // One watch per kind of object (pods, two Events APIs, EndpointSlices), not per pod.
    const connected = set.observations.filter((o) => o.kind === "watch-status" && o.status === "connected");
    expect(connected.map((o) => o.resource).sort()).toEqual(["endpointslices", "events", "events.k8s.io", "pods"]);
    expect(await leftovers(ns)).toEqual([]);
  });

  it("traces the pods of a Deployment and removes the Deployment, its ReplicaSet and its pods", async () => {
    const r = await podtrace(["run", "test/fixtures/manifests/deployment.yaml", "--service", "-n", ns, "-o", "json", "--timeout", "180s"]);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const set = JSON.parse(r.stdout) as { replicas: number; ready: number; pods: Timeline[] };
    expect(validate(set), JSON.stringify(validate.errors)).toBe(true);
    expect(set.ready).toBe(3);
    for (const t of set.pods) expect(t.phases.find((p) => p.kind === "controller")?.status).toBe("done");
    expect(await leftovers(ns)).toEqual([]);
    expect((await kubectl("get", "deployments,replicasets", "-n", ns, "-l", "podtrace.dev/run", "-o", "name")).trim()).toBe("");
  });

  it("traces a Job until its pods complete, and removes it", async () => {
    const r = await podtrace(["run", "test/fixtures/manifests/job.yaml", "-n", ns, "-o", "json", "--timeout", "120s"]);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const set = JSON.parse(r.stdout) as { replicas: number; ready: number; pods: Timeline[] };
    expect(validate(set), JSON.stringify(validate.errors)).toBe(true);
    expect(set.pods.map((t) => t.verdict.outcome)).toEqual(["completed", "completed"]);
    expect(await leftovers(ns)).toEqual([]);
    expect((await kubectl("get", "jobs", "-n", ns, "-l", "podtrace.dev/run", "-o", "name")).trim()).toBe("");
  });

  it("keeps the pod with --keep and says how to delete it", async () => {
    const r = await podtrace(["run", "test/fixtures/manifests/one-container.yaml", "-n", ns, "--keep", "-q"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^✓ Ready after/);
    const kept = await leftovers(ns);
    expect(kept).toHaveLength(1);
    expect(r.stderr).toContain("kubectl delete pod,service");
    await kubectl("delete", "pod", "-n", ns, "-l", "podtrace.dev/run", "--grace-period=0", "--force", "--wait=true");
    expect(await leftovers(ns)).toEqual([]);
  });

  it("gives distinct exit codes and clear errors for bad input", async () => {
    const missing = await podtrace(["run", "no/such/file.yaml"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read no/such/file.yaml: no such file");

    const invalid = `/tmp/podtrace-invalid-${process.pid}.yaml`;
    await writeFile(invalid, "apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n");
    const yaml = await podtrace(["run", invalid]);
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(/invalid YAML/);

    const job = `/tmp/podtrace-job-${process.pid}.yaml`;
    await writeFile(job, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\n");
    const notPod = await podtrace(["run", job]);
    expect(notPod.code).toBe(2);
    expect(notPod.stderr).toContain("expected a v1 Pod, an apps/v1 Deployment or ReplicaSet, or a batch/v1 Job; found StatefulSet x");

    const two = `/tmp/podtrace-two-${process.pid}.yaml`;
    await writeFile(
      two,
      (await readFile("test/fixtures/manifests/one-container.yaml", "utf8")) +
        "\n---\n" +
        (await readFile("test/fixtures/manifests/two-app-containers.yaml", "utf8")),
    );
    const twoDocs = await podtrace(["run", two]);
    expect(twoDocs.code).toBe(2);
    expect(twoDocs.stderr).toContain("found 2 workloads (Pod one-container, Pod two-app-containers); podtrace traces one per run");

    const flag = await podtrace(["run", "examples/web.yaml", "--no-such-flag"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--no-such-flag'");

    const badTimeout = await podtrace(["run", "examples/web.yaml", "--timeout", "soon"]);
    expect(badTimeout.code).toBe(2);

    // Nothing listens on loopback port 1: the cluster is unreachable.
    const kubeconfig = `/tmp/podtrace-unreachable-${process.pid}.yaml`;
    await writeFile(
      kubeconfig,
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
    );
    const unreachable = await podtrace(["run", "examples/web.yaml", "--kubeconfig", kubeconfig]);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot reach the cluster at https:\/\/127\.0\.0\.1:1/);

    const context = await podtrace(["run", "examples/web.yaml", "--context", "no-such-context"]);
    expect(context.code).toBe(2);
    expect(context.stderr).toContain('context "no-such-context" is not in the kubeconfig');
    expect(await leftovers(ns)).toEqual([]);
  });
});
