/**
 * Live runs of the recorded scenarios on the real cluster: every timeline must tile the
 * critical path with no hole and keep every boundary inside its window, and each scenario
 * must show what its recording shows (test/support/scenarios.ts): postStart hooks, startup
 * and readiness probes, no probes at all, hostNetwork, the kubelet's event rate limit, a
 * pod that runs to completion, claims provisioned on first use or never bound, Services
 * that publish not-ready addresses.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Timeline } from "../../src/core/timeline.ts";
import { podtrace } from "../support/cli.ts";
import { createNamespace, deleteNamespace, hasStorageClass, isDualStack, KUBECONFIG, KUBECTL, kubectl } from "../support/cluster.ts";
import { expectTimelineInvariants } from "../support/invariants.ts";
import { validateTimeline } from "../support/schema.ts";
import { SCENARIOS } from "../support/scenarios.ts";

const MANIFESTS = "test/fixtures/manifests";
const execFileAsync = promisify(execFile);
const LIVE = [
  "one-container",
  "post-start-hook",
  "startup-probe",
  "sidecar-no-probe",
  "init-containers",
  "host-network",
  "many-containers",
  "restart-never",
  "pvc-ephemeral",
  "pvc-unbound",
  "publish-not-ready",
  "only-not-ready",
  "crash-restarts",
  "readiness-gates",
  "two-probes",
];

let ns = "";
beforeAll(async () => {
  ns = await createNamespace("timeline-e2e");
  // Objects some scenarios need beforehand (a Service that already selects the pod).
  for (const name of LIVE) {
    const setup = `${MANIFESTS}/${name}.setup.yaml`;
    if (
      await readFile(setup).then(
        () => true,
        () => false,
      )
    )
      await kubectl("apply", "-n", ns, "-f", setup);
  }
});
afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

async function args(name: string): Promise<string[]> {
  const first = (await readFile(`${MANIFESTS}/${name}.yaml`, "utf8")).split("\n")[0] ?? "";
  return first
    .replace(/^# podtrace-args:/, "")
    .trim()
    .split(/\s+/)
    .filter(Boolean);
}

/** Run a scenario's manifest live and check it as its recording is checked. */
async function traceScenario(name: string): Promise<void> {
  // What another controller does during the run (set a readiness gate).
  const during = `${MANIFESTS}/${name}.during.sh`;
  const helper = existsSync(during) ? execFileAsync(during, [KUBECTL, KUBECONFIG, ns]) : null;
  // The manifest's own flags come last: its --timeout wins.
  const r = await podtrace(["run", `${MANIFESTS}/${name}.yaml`, "-n", ns, "-o", "json", "--timeout", "90s", ...(await args(name))]);
  expect(r.stderr).not.toMatch(/ERROR/);
  const t = JSON.parse(r.stdout) as Timeline;
  expect(validateTimeline(t), JSON.stringify(validateTimeline.errors)).toBe(true);
  expectTimelineInvariants(t);
  await helper;
  SCENARIOS[name]!.check(t);
  expect(r.code).toBe(t.verdict.outcome === "ready" || t.verdict.outcome === "completed" ? 0 : 1);
}

describe.concurrent("live timelines", () => {
  it.each(LIVE)("%s", traceScenario);
});

// The reporter shows no names of a block whose tests are all skipped: its title says why.
const DUAL_STACK = isDualStack();
describe.skipIf(!DUAL_STACK)(
  DUAL_STACK ? "dual-stack" : "dual-stack (skipped: this cluster has one IP family; the local cluster has two on a host with IPv6)",
  () => {
    it("a Service asking for IPv6 and IPv4 publishes the pod once the slices of both list it", () => traceScenario("dual-stack"));
  },
);

const ATTACHING = hasStorageClass("podtrace-csi");
describe.skipIf(!ATTACHING)(
  ATTACHING
    ? "volumes that are attached"
    : "volumes that are attached (skipped: no StorageClass podtrace-csi; the local cluster's CSI driver, hack/tools/csi-hostpath, has it)",
  () => {
    it("a claim of a driver that attaches is provisioned, attached, then mounted", () => traceScenario("pvc-attach"));
    it("a volume that cannot be attached ends the run in volume attach", () => traceScenario("pvc-attach-fails"));
  },
);
