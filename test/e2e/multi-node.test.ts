/**
 * What only a cluster with more than one schedulable node shows (the kind cluster of
 * hack/kind.sh: a control plane and two workers): a real cold pull on a node that never
 * had the image, pods spread over the nodes with --replicas, and a Service answering a pod
 * on another node through kube-proxy and cluster DNS. On a single-node cluster (the local
 * one) the whole file is skipped, and its name says why.
 */
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Phase, Timeline } from "../../src/core/timeline.ts";
import { podtrace } from "../support/cli.ts";
import { createNamespace, deleteNamespace, kubectl, leftovers, schedulableNodes } from "../support/cluster.ts";
import { nodeEngine, nodeHasImage, removeImageFromNode } from "../support/kind-node.ts";

const nodes = await schedulableNodes();
const title =
  nodes.length > 1
    ? `on ${nodes.length} schedulable nodes`
    : `on several nodes (skipped: this cluster has ${nodes.length} schedulable node; hack/kind.sh up makes one with 2)`;
// The reporter shows no names of a file whose tests are all skipped: say why here.
if (nodes.length < 2) console.warn(`multi-node tests ${title}`);

let ns = "";
beforeAll(async () => {
  if (nodes.length > 1) ns = await createNamespace("multi-node-e2e");
});
afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

const BUSYBOX = "127.0.0.1:5000/busybox:1";
const BIGIMAGE = "127.0.0.1:5000/bigimage:1";

/** Writes a one-container pod manifest and returns its path. */
async function podManifest(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): Promise<string> {
  const file = `/tmp/podtrace-${ns}-${name}.json`;
  const pod = { apiVersion: "v1", kind: "Pod", metadata: { name, labels }, spec: { terminationGracePeriodSeconds: 1, ...spec } };
  await writeFile(file, JSON.stringify(pod));
  return file;
}

function phase(t: Timeline, id: string): Phase {
  const p = t.phases.find((x) => x.id === id);
  if (!p) throw new Error(`no phase ${id} in ${t.phases.map((x) => x.id).join(", ")}`);
  return p;
}

/** A web server on NODE whose page names its pod, Ready once it serves. */
function webServer(node: string): Record<string, unknown> {
  return {
    nodeSelector: { "kubernetes.io/hostname": node },
    containers: [
      {
        name: "web",
        image: BUSYBOX,
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"],
        ports: [{ containerPort: 8080 }],
        readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
      },
    ],
  };
}

/** Runs a pod on NODE to completion; its phase (Succeeded or Failed) and log. */
async function runToCompletion(name: string, node: string, script: string): Promise<{ phase: string; log: string }> {
  const file = await podManifest(name, {
    nodeSelector: { "kubernetes.io/hostname": node },
    restartPolicy: "Never",
    containers: [{ name: "main", image: BUSYBOX, command: ["sh", "-c", script] }],
  });
  await kubectl("apply", "-n", ns, "-f", file);
  try {
    let phase = "";
    for (let i = 0; i < 300 && phase !== "Succeeded" && phase !== "Failed"; i++) {
      if (i) await new Promise((resolve) => setTimeout(resolve, 200));
      phase = (await kubectl("get", "pod", name, "-n", ns, "-o", "jsonpath={.status.phase}")).trim();
    }
    return { phase, log: await kubectl("logs", "-n", ns, name) };
  } finally {
    await kubectl("delete", "pod", "-n", ns, name, "--wait=false", "--ignore-not-found");
  }
}

describe.skipIf(nodes.length < 2)(title, () => {
  it("pulls the image for real on a node that never had it", async (ctx) => {
    const node = nodes[nodes.length - 1]!;
    const engine = await nodeEngine(node);
    if (!engine) return ctx.skip(`node ${node} is not a kind node on this machine: its images cannot be removed from here`);
    await removeImageFromNode(engine, node, BIGIMAGE);
    expect(await nodeHasImage(engine, node, BIGIMAGE)).toBe(false);

    const file = await podManifest("cold-pull", {
      nodeSelector: { "kubernetes.io/hostname": node },
      containers: [{ name: "main", image: BIGIMAGE, imagePullPolicy: "IfNotPresent", command: ["sh", "-c", "exec sleep 2147483647"] }],
    });
    const r = await podtrace(["run", file, "-n", ns, "-o", "json", "--timeout", "180s"]);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout) as Timeline;
    expect(t.pod.node).toBe(node);
    const pull = phase(t, "image-pull:main");
    expect(pull.status).toBe("done");
    expect(pull.details["alreadyPresent"]).toBeUndefined();
    // bigimage carries a 40 MiB incompressible layer.
    expect(Number(pull.details["imageSizeBytes"])).toBeGreaterThan(40 * 1024 * 1024);
    // The kubelet's own pull time lies within the phase, as far as its boundaries are known.
    const kubeletPullMs = Number(pull.details["kubeletPullMs"]);
    expect(kubeletPullMs).toBeGreaterThan(0);
    expect(pull.durationMs! + pull.start!.uncertaintyMs + pull.end!.uncertaintyMs).toBeGreaterThanOrEqual(kubeletPullMs);
    expect(await nodeHasImage(engine, node, BIGIMAGE)).toBe(true);
    expect(await leftovers(ns)).toEqual([]);
  });

  it("spreads --replicas over every schedulable node and names each pod's node", async () => {
    const replicas = 2 * nodes.length;
    const labels = { app: "spread-e2e" };
    const file = await podManifest(
      "spread",
      {
        // maxSkew 1 over 2N pods and N nodes: two on each. Honor: a tainted node (kind's
        // control plane) is no domain with zero pods, which would hold the skew at 2.
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: "kubernetes.io/hostname",
            whenUnsatisfiable: "DoNotSchedule",
            nodeTaintsPolicy: "Honor",
            labelSelector: { matchLabels: labels },
          },
        ],
        containers: [{ name: "main", image: BUSYBOX, command: ["sh", "-c", "exec sleep 2147483647"] }],
      },
      labels,
    );
    const r = await podtrace(["run", file, "--replicas", String(replicas), "-n", ns, "-o", "json", "--timeout", "180s"]);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const set = JSON.parse(r.stdout) as { ready: number; pods: Timeline[] };
    expect(set.ready).toBe(replicas);
    const perNode = new Map<string, number>();
    for (const t of set.pods) {
      expect(phase(t, "scheduling").details["node"]).toBe(t.pod.node);
      perNode.set(t.pod.node!, (perNode.get(t.pod.node!) ?? 0) + 1);
    }
    expect([...perNode.keys()].sort()).toEqual(nodes);
    expect([...perNode.values()]).toEqual(nodes.map(() => 2));
    expect(await leftovers(ns)).toEqual([]);
  });

  it("serves a Service's endpoint on one node to a pod on another, through kube-proxy and cluster DNS", async () => {
    const [serverNode, clientNode] = [nodes[0]!, nodes[1]!];
    const file = await podManifest("web", webServer(serverNode), { app: "web-e2e" });
    const r = await podtrace(["run", file, "--service", "--keep", "-n", ns, "-o", "json", "--timeout", "120s"]);
    try {
      expect(r.code).toBe(0);
      const t = JSON.parse(r.stdout) as Timeline;
      expect(t.pod.node).toBe(serverNode);
      expect(phase(t, "endpoints").status).toBe("done");
      const service = t.pod.services[0]!;
      const clusterIP = (await kubectl("get", "service", service, "-n", ns, "-o", "jsonpath={.spec.clusterIP}")).trim();

      const fqdn = `${service}.${ns}.svc.cluster.local`;
      // podtrace ends at the EndpointSlice; the kube-proxy on the client's node programs
      // its rules from it a little later (at most once a second here), and until then a
      // request finds no endpoint ("No route to host"): retry for up to 10 s.
      // podtrace's Service exposes the container's port, 8080.
      const script = `nslookup ${fqdn} && for i in $(seq 50); do wget -O- http://${fqdn}:8080/ && exit 0; sleep 0.2; done; exit 1`;
      const { phase: clientPhase, log } = await runToCompletion("client", clientNode, script);
      // CoreDNS answered with the ClusterIP, and kube-proxy's rules on the client's node
      // sent the request to the pod on the other node.
      expect(clientPhase, log).toBe("Succeeded");
      expect(log).toContain(clusterIP);
      expect(log).toContain(t.pod.name);
    } finally {
      await kubectl("delete", "pods,services", "-n", ns, "-l", "podtrace.dev/run", "--wait=true");
    }
    expect(await leftovers(ns)).toEqual([]);
  });
});

/** The network-programming histogram of the kube-proxy on NODE, or null when its metrics are not reachable. */
async function networkProgramming(node: string): Promise<{ count: number; sum: number } | null> {
  let metrics: string;
  try {
    // kube-proxy's metrics port (hack/kind.sh binds it to the node's address), through the apiserver.
    metrics = await kubectl("get", "--raw", `/api/v1/nodes/${node}:10249/proxy/metrics`);
  } catch {
    return null;
  }
  const value = (suffix: string) =>
    Number(new RegExp(`^kubeproxy_network_programming_duration_seconds_${suffix}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(metrics)?.[1] ?? NaN);
  return { count: value("count"), sum: value("sum") };
}

describe.skipIf(nodes.length < 2)(`kube-proxy ${title}`, () => {
  it("reports, on another node, that it programmed the new endpoint", async (ctx) => {
    const [serverNode, clientNode] = [nodes[0]!, nodes[1]!];
    const before = await networkProgramming(clientNode);
    if (!before) return ctx.skip(`kube-proxy's metrics on ${clientNode} are not reachable through the apiserver`);
    const file = await podManifest("programmed", webServer(serverNode), { app: "programmed-e2e" });
    // Kept until kube-proxy has programmed it: podtrace deletes the pod as soon as it is
    // Ready and published, and kube-proxy (minSyncPeriod 1 s) may then fold the endpoint's
    // arrival and departure into one sync that changes nothing.
    const r = await podtrace(["run", file, "--service", "--keep", "-n", ns, "-o", "json", "--timeout", "120s"]);
    try {
      expect(r.code).toBe(0);
      const t = JSON.parse(r.stdout) as Timeline;
      expect(phase(t, "endpoints").status).toBe("done");
      // kube-proxy observes the time from an EndpointSlice's change (its
      // last-change-trigger-time: here the pod turning Ready) to its rules being in place.
      let after = before;
      for (let i = 0; i < 50 && after.count === before.count; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        after = (await networkProgramming(clientNode)) ?? before;
      }
      expect(after.count).toBeGreaterThan(before.count);
      const meanSeconds = (after.sum - before.sum) / (after.count - before.count);
      expect(meanSeconds).toBeGreaterThan(0);
      expect(meanSeconds).toBeLessThan(30);
    } finally {
      await kubectl("delete", "pods,services", "-n", ns, "-l", "podtrace.dev/run", "--wait=true");
    }
    expect(await leftovers(ns)).toEqual([]);
  });
});
