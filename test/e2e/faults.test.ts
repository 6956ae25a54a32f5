/**
 * Faults on the real local cluster: the kube-apiserver killed and restarted while a run
 * watches (the watches must resume and the timeline stay complete), and runs interrupted
 * with SIGINT at random moments (nothing may be left behind).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Timeline } from "../../src/core/timeline.ts";
import { parseRecording } from "../../src/trace/recording.ts";
import { ROOT, start } from "../support/cli.ts";
import { createNamespace, deleteNamespace, kubectl, leftovers } from "../support/cluster.ts";
import { expectTimelineInvariants, longestPossibleMs } from "../support/invariants.ts";
import { readFile } from "node:fs/promises";

const exec = promisify(execFile);
let ns = "";
beforeAll(async () => {
  ns = await createNamespace("faults-e2e");
});
afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

/** Only the local cluster's apiserver can be restarted from here. */
const localCluster =
  !process.env["PODTRACE_E2E_KUBECONFIG"] &&
  (process.env["KUBECONFIG"] ?? "/var/lib/podtrace-cluster/admin.kubeconfig").startsWith("/var/lib/podtrace-cluster/");

describe("faults", () => {
  it.runIf(localCluster)("survives a kube-apiserver restart in the middle of a run", async () => {
    const recording = `/tmp/podtrace-fault-${process.pid}.ndjson`;
    const run = start([
      "run",
      "test/e2e/manifests/slow-init.yaml",
      "--service",
      "-n",
      ns,
      "-o",
      "json",
      "--record",
      recording,
      "--timeout",
      "180s",
    ]);
    await run.waitForStderr(/waiting for init wait: run/);
    await exec("bash", ["hack/restart-daemon.sh", "kube-apiserver", "1"], { cwd: ROOT });
    const r = await run.done;
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout) as Timeline;
    for (const p of t.phases.filter((x) => x.onCriticalPath)) expect(p.status, p.id).toBe("done");
    expectTimelineInvariants(t);
    // The init container sleeps 10 s; its end is stamped to the second (finishedAt), and
    // with the apiserver down the status update that would tighten it came late.
    expect(longestPossibleMs(t.phases.find((p) => p.id === "init-run:wait")!)).toBeGreaterThanOrEqual(10_000);

    // The recording shows the watches breaking and resuming.
    const { observations } = parseRecording(await readFile(recording, "utf8"), recording);
    const statuses = observations.filter((o) => o.kind === "watch-status");
    expect(statuses.some((o) => o.kind === "watch-status" && (o.status === "error" || o.status === "closed"))).toBe(true);
    const reconnects = statuses.filter((o) => o.kind === "watch-status" && o.status === "connected");
    // Every watch connected once at the start and at least once more after the restart.
    expect(reconnects.length).toBeGreaterThanOrEqual(8);
    expect(await leftovers(ns)).toEqual([]);
    // The apiserver is healthy again for the tests after this one.
    expect((await kubectl("get", "--raw", "/readyz")).trim()).toBe("ok");
  });

  it("leaves nothing behind when interrupted at random moments", async () => {
    // A fixed seed: the moments differ from run to run of the loop, not between CI runs.
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const codes: (number | null)[] = [];
    for (let i = 0; i < 8; i++) {
      const run = start(["run", "examples/web.yaml", "--service", "-n", ns, "--timeout", "60s", "-q"]);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 4000)));
      run.child.kill("SIGINT");
      const r = await run.done;
      codes.push(r.code);
      expect([0, 130], r.stderr).toContain(r.code);
      expect(await leftovers(ns), `after run ${i}, interrupted with exit ${r.code}`).toEqual([]);
    }
    // Most runs were really interrupted (web.yaml needs about 6 s to become Ready).
    expect(codes.filter((c) => c === 130).length).toBeGreaterThanOrEqual(6);
  });
});
