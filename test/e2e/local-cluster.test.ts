/**
 * The local cluster does what podtrace depends on (issue: a real local Kubernetes
 * cluster): the node is Ready; a pod from the local registry with an httpGet readiness
 * probe becomes Ready with a pod IP; a Service selecting it gets an EndpointSlice with that
 * IP; the pod's events show Scheduled, Pulling, Pulled, Created, Started. Checked with
 * kubectl alone, so a podtrace bug cannot hide a cluster problem.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNamespace, deleteNamespace, kubectl, kubectlJson } from "../support/cluster.ts";

let ns = "";
beforeAll(async () => {
  ns = await createNamespace("cluster-e2e");
});
afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

interface Item {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[]; podIP?: string };
}

describe("local cluster", () => {
  it("has a Ready node", async () => {
    const nodes = await kubectlJson<{ items: Item[] }>("get", "nodes");
    expect(nodes.items.length).toBeGreaterThan(0);
    const ready = nodes.items.filter((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    expect(ready.map((n) => n.metadata.name)).toEqual(nodes.items.map((n) => n.metadata.name));
  });

  it("runs a pod from the local registry to Ready, publishes its endpoint and records its events", async () => {
    const manifest = {
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "probe", namespace: ns, labels: { app: "probe" } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: "httpd",
                image: "127.0.0.1:5000/busybox:1",
                // Always: so the events include a real Pulling/Pulled pair.
                imagePullPolicy: "Always",
                command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "probe", namespace: ns },
          spec: { selector: { app: "probe" }, ports: [{ port: 80, targetPort: 8080 }] },
        },
      ],
    };
    const { writeFile } = await import("node:fs/promises");
    const file = `/tmp/podtrace-cluster-e2e-${ns}.json`;
    await writeFile(file, JSON.stringify(manifest));
    await kubectl("apply", "-f", file);
    await kubectl("wait", "--for=condition=Ready", "pod/probe", "-n", ns, "--timeout=120s");

    const pod = await kubectlJson<Item>("get", "pod", "probe", "-n", ns);
    const ip = pod.status?.podIP ?? "";
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    let addresses: string[] = [];
    for (let i = 0; i < 100 && !addresses.includes(ip); i++) {
      const slices = await kubectlJson<{ items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] }>(
        "get",
        "endpointslices",
        "-n",
        ns,
        "-l",
        "kubernetes.io/service-name=probe",
      );
      addresses = slices.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses));
      if (!addresses.includes(ip)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(addresses).toContain(ip);

    const events = await kubectlJson<{ items: { reason: string }[] }>(
      "get",
      "events",
      "-n",
      ns,
      "--field-selector",
      "involvedObject.name=probe",
    );
    const reasons = new Set(events.items.map((e) => e.reason));
    for (const r of ["Scheduled", "Pulling", "Pulled", "Created", "Started"]) expect(reasons).toContain(r);
  });
});
