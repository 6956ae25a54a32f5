/**
 * Accuracy against the kubelet's own measure, on the real local cluster: podtrace's
 * figures, defined as the kubelet defines its pod start-up histograms, agree with the
 * change of their _sum across one pod's start. The benchmark measures the difference
 * (about 20 ms here); the bound below is loose enough never to flake on a busy machine and
 * tight enough to catch a boundary placed on the wrong side of a one-second stamp.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Observation } from "../../src/core/observation.ts";
import type { Timeline } from "../../src/core/timeline.ts";
import { kubeletSums, podtraceKubeletStyle } from "../support/kubelet-measure.ts";
import { podtrace } from "../support/cli.ts";
import { createNamespace, deleteNamespace, kubectl } from "../support/cluster.ts";

let ns = "";
let nodes: string[] = [];
beforeAll(async () => {
  ns = await createNamespace("accuracy-e2e");
  // Every node's: on a cluster of several, where the pod lands is known only afterwards.
  nodes = (await kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}")).trim().split(/\s+/);
});
afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

const BOUND_MS = 300;

describe("accuracy against the kubelet", () => {
  it.each(["test/fixtures/manifests/one-container.yaml", "bench/manifests/pull-always.yaml"])("%s", async (manifest) => {
    const sums = async (node: string) => kubeletSums(await kubectl("get", "--raw", `/api/v1/nodes/${node}/proxy/metrics`));
    const beforeByNode = new Map(await Promise.all(nodes.map(async (n) => [n, await sums(n)] as const)));
    const r = await podtrace(["run", manifest, "-n", ns, "-o", "json", "--raw"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Timeline & { observations: Observation[] };
    const node = out.pod.node!;
    const before = beforeByNode.get(node)!;
    // The kubelet records its measure when its own watch shows the pod running.
    let after = before;
    for (let i = 0; i < 50 && after.total === before.total; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await sums(node);
    }
    const ours = podtraceKubeletStyle(out.observations, out);
    expect(Math.abs(ours.total - (after.total - before.total)) * 1000).toBeLessThan(BOUND_MS);
    expect(Math.abs(ours.sli - (after.sli - before.sli)) * 1000).toBeLessThan(BOUND_MS);
  });
});
