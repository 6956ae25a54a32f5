/**
 * What the end-to-end tests need of the real cluster: its kubeconfig, kubectl (an
 * independent witness of what podtrace created and removed), and a namespace per test
 * file so "nothing left behind" can be checked exactly.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";

const exec = promisify(execFile);

export const KUBECONFIG =
  process.env["PODTRACE_E2E_KUBECONFIG"] ?? process.env["KUBECONFIG"] ?? "/var/lib/podtrace-cluster/admin.kubeconfig";

/** The kubectl built by hack/ (matching the cluster), else whatever is on PATH. */
export const KUBECTL = (() => {
  if (process.env["KUBECTL"]) return process.env["KUBECTL"];
  const cache = process.env["PODTRACE_CACHE"] ?? "/var/cache/podtrace";
  if (existsSync(cache)) {
    for (const d of readdirSync(cache)
      .filter((n) => n.startsWith("kube-"))
      .sort()
      .reverse()) {
      const candidate = `${cache}/${d}/bin/kubectl`;
      if (existsSync(candidate)) return candidate;
    }
  }
  return "kubectl";
})();

export async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await exec(KUBECTL, ["--kubeconfig", KUBECONFIG, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

export async function kubectlJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await kubectl(...args, "-o", "json")) as T;
}

/** A fresh namespace for one test file; delete it with deleteNamespace. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await kubectl("create", "namespace", name);
  // The ServiceAccount admission plugin rejects pods until the default ServiceAccount exists.
  for (let i = 0; i < 100; i++) {
    const out = await kubectl("get", "serviceaccount", "default", "-n", name, "--ignore-not-found", "-o", "name");
    if (out.trim()) return name;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the default ServiceAccount of namespace ${name} never appeared`);
}

export async function deleteNamespace(name: string): Promise<void> {
  await kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found");
}

/** Pods and Services a podtrace run left in the namespace (it should leave none). */
export async function leftovers(namespace: string): Promise<string[]> {
  const out = await kubectl("get", "pods,services", "-n", namespace, "-l", "podtrace.dev/run", "-o", "name");
  return out.split("\n").filter(Boolean);
}

interface NodeItem {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

/**
 * The nodes an ordinary pod can land on: Ready, not cordoned, no NoSchedule or NoExecute
 * taint (kind's control-plane node has one). The scheduler's "N node(s) ..." counts in
 * FailedScheduling are over these.
 */
export async function schedulableNodes(): Promise<string[]> {
  const nodes = await kubectlJson<{ items: NodeItem[] }>("get", "nodes");
  return nodes.items
    .filter((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
    .filter((n) => !n.spec?.unschedulable)
    .filter((n) => !(n.spec?.taints ?? []).some((t) => t.effect === "NoSchedule" || t.effect === "NoExecute"))
    .map((n) => n.metadata.name)
    .sort();
}

/**
 * Whether the cluster's apiserver listens on this host's loopback (the local cluster): only
 * then can a loopback proxy stand before it, or the apiserver call a webhook the test
 * serves on loopback. kind's apiserver is in a podman network, so those tests skip there.
 */
export const APISERVER_ON_LOOPBACK: boolean = (() => {
  try {
    const config = new KubeConfig();
    config.loadFromFile(KUBECONFIG);
    const server = config.getCurrentCluster()?.server;
    const host = server ? new URL(server).hostname : "";
    return host === "127.0.0.1" || host === "localhost";
  } catch {
    return false;
  }
})();

/**
 * Whether the cluster is dual-stack: its default ServiceCIDR (networking.k8s.io/v1, the
 * apiserver's --service-cluster-ip-range) has a range of each family. The local cluster is
 * when its host has IPv6 (hack/lib/common.sh); kind's is IPv4 only. Asked of the cluster
 * by the tests that need to know, not by every importer.
 */
export function isDualStack(): boolean {
  try {
    const out = execFileSync(KUBECTL, ["--kubeconfig", KUBECONFIG, "get", "servicecidr", "kubernetes", "-o", "jsonpath={.spec.cidrs}"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 20_000,
    });
    const cidrs = JSON.parse(out || "[]") as string[];
    return cidrs.some((c) => c.includes(":")) && cidrs.some((c) => !c.includes(":"));
  } catch {
    return false;
  }
}

/** Whether the cluster has this StorageClass (the local cluster's podtrace-csi, whose volumes are attached). */
export function hasStorageClass(name: string): boolean {
  try {
    execFileSync(KUBECTL, ["--kubeconfig", KUBECONFIG, "get", "storageclass", name, "-o", "name"], {
      stdio: ["ignore", "ignore", "ignore"],
      timeout: 20_000,
    });
    return true;
  } catch {
    return false;
  }
}
