/**
 * The command line kubectl users expect, on the real cluster: a file with a Deployment and
 * the ConfigMap, Secret and Service it needs, created in order, traced and deleted (and a
 * ConfigMap that already existed left exactly as it was); manifests from stdin as a List
 * and from a directory; `--image` with `--pull always`, a command and a headless Service;
 * `--node`; `--timeout 0`; the versions in the JSON; `replay -`.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadAll } from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Timeline } from "../../src/core/timeline.ts";
import { BIN, podtrace, ROOT, start } from "../support/cli.ts";
import { createNamespace, deleteNamespace, kubectl, kubectlJson, KUBECONFIG } from "../support/cluster.ts";
import { validateTimeline as validate } from "../support/schema.ts";

const exec = promisify(execFile);

let ns = "";
let dir = "";
beforeAll(async () => {
  ns = await createNamespace("manifests-e2e");
  dir = await mkdtemp(join(tmpdir(), "podtrace-manifests-"));
});
afterAll(async () => {
  if (ns) await deleteNamespace(ns);
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface PodSet {
  podtraceVersion: string;
  serverVersion: string;
  ready: number;
  pods: Timeline[];
}

/** Everything of the web-app file that may be in the namespace, by kind/name. */
async function webAppObjects(): Promise<string[]> {
  const out = await kubectl("get", "deployments,replicasets,pods,services,configmaps,secrets", "-n", ns, "-o", "name");
  return out
    .split("\n")
    .filter((l) => /web-app|podtrace/.test(l))
    .sort();
}

/** podtrace with stdin from a string. */
async function podtraceWithStdin(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = exec(BIN, args, { cwd: ROOT, env: { ...process.env, KUBECONFIG, CI: "true", NO_COLOR: "1" } });
  child.child.stdin!.end(input);
  return child.then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

describe("a Deployment with its ConfigMap, Secret and Service in one file", () => {
  it("creates them first, traces the Deployment's pods through the file's Service, and deletes all of it", async () => {
    const r = await podtrace(["run", "-f", "test/e2e/manifests/web-app.yaml", "-n", ns, "-o", "json", "--timeout", "120s"]);
    expect(r.stderr).not.toMatch(/ERROR|WARNING/);
    expect(r.code).toBe(0);
    // Dependencies first: the Deployment (first in the file) is created last.
    const created = [...r.stderr.matchAll(/creating (\w+) (\S+)/g)].map((m) => m[1]);
    expect(created).toEqual(["Secret", "ConfigMap", "Service", "Deployment"]);
    const set = JSON.parse(r.stdout) as PodSet;
    expect(validate(set), JSON.stringify(validate.errors)).toBe(true);
    expect(set.ready).toBe(2);
    for (const t of set.pods) {
      expect(t.verdict.outcome).toBe("ready");
      // The file's Service selects the pods: their endpoints are traced.
      expect(t.pod.services).toEqual(["web-app"]);
      expect(t.phases.find((p) => p.kind === "endpoints")?.status).toBe("done");
    }
    expect(set.podtraceVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(set.serverVersion).toMatch(/^v\d+\.\d+\.\d+/);
    expect(await webAppObjects()).toEqual([]);
  });

  it("leaves a ConfigMap of the same name that already existed exactly as it was", async () => {
    await kubectl("create", "configmap", "web-app-page", "-n", ns, "--from-literal=index.html=already here");
    const before = await kubectlJson<{ metadata: { uid: string; resourceVersion: string }; data: Record<string, string> }>(
      "get",
      "configmap",
      "web-app-page",
      "-n",
      ns,
    );
    const r = await podtrace(["run", "-f", "test/e2e/manifests/web-app.yaml", "-n", ns, "-q", "--timeout", "120s"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`ConfigMap web-app-page in namespace ${ns} already exists: left alone`);
    const after = await kubectlJson<typeof before>("get", "configmap", "web-app-page", "-n", ns);
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.data).toEqual({ "index.html": "already here" });
    expect(await webAppObjects()).toEqual(["configmap/web-app-page"]);
    await kubectl("delete", "configmap", "web-app-page", "-n", ns);
  });

  it("cleans up what it created when the workload is refused", async () => {
    const docs = loadAll(await readFile("test/e2e/manifests/web-app.yaml", "utf8")) as Record<string, unknown>[];
    // A container name the API's validation refuses: the Deployment's create request fails.
    const deployment = docs.find((d) => d["kind"] === "Deployment") as { spec: { template: { spec: { containers: { name: string }[] } } } };
    deployment.spec.template.spec.containers[0]!.name = "Web_Server";
    const file = join(dir, "refused.json");
    await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
    const r = await podtrace(["run", "-f", file, "-n", ns, "-q"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/rejected by validation: .*Invalid value: "Web_Server"/);
    expect(await webAppObjects()).toEqual([]);
    // Bad input found without the cluster is refused before anything is created.
    const replicas = await podtrace(["run", "-f", "test/e2e/manifests/web-app.yaml", "-n", ns, "--replicas", "2"]);
    expect(replicas.code).toBe(2);
    expect(replicas.stderr).toContain("--replicas does not apply to a Deployment");
    expect(replicas.stderr).not.toContain("creating");
  });
});

describe("interrupted, or kept", () => {
  it("deletes the file's objects too when interrupted with SIGINT mid-run", async () => {
    const run = start(["run", "-f", "test/e2e/manifests/web-app.yaml", "-n", ns, "--timeout", "120s"]);
    await run.waitForStderr(/waiting for/);
    expect((await webAppObjects()).length).toBeGreaterThanOrEqual(4);
    run.child.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(await webAppObjects()).toEqual([]);
  });

  it("--keep leaves everything and says how to delete the file's objects", async () => {
    const r = await podtrace(["run", "-f", "test/e2e/manifests/web-app.yaml", "-n", ns, "-q", "--keep", "--timeout", "120s"]);
    expect(r.code).toBe(0);
    const command = /delete with: (kubectl delete secret\/web-app-secret configmap\/web-app-page service\/web-app -n \S+)/.exec(r.stderr);
    expect(command, r.stderr).not.toBeNull();
    expect(await webAppObjects()).toEqual(expect.arrayContaining(["configmap/web-app-page", "secret/web-app-secret", "service/web-app"]));
    await kubectl(...command![1]!.split(" ").slice(1), "--wait=true");
    await kubectl("delete", "deployment,replicaset,pod", "-n", ns, "-l", "podtrace.dev/run", "--grace-period=0", "--force", "--wait=true");
    expect(await webAppObjects()).toEqual([]);
  });
});

describe("where manifests come from", () => {
  it("-f - reads a List from stdin (what kubectl ... -o yaml pipes)", async () => {
    const pod = await readFile("test/fixtures/manifests/one-container.yaml", "utf8");
    const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "from-stdin" }, data: { a: "b" } };
    const list = { apiVersion: "v1", kind: "List", items: [loadAll(pod)[0], cm] };
    const r = await podtraceWithStdin(["run", "-f", "-", "-n", ns, "-o", "json"], JSON.stringify(list));
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("creating ConfigMap from-stdin");
    expect((JSON.parse(r.stdout) as Timeline).verdict.outcome).toBe("ready");
    expect(
      (await kubectl("get", "configmaps,pods", "-n", ns, "-o", "name")).split("\n").filter((l) => /from-stdin|one-container/.test(l)),
    ).toEqual([]);
  });

  it("a directory: its manifests, in name order, and one workload among them", async () => {
    const sub = await mkdtemp(join(dir, "app-"));
    await writeFile(join(sub, "a-pod.yaml"), await readFile("test/fixtures/manifests/one-container.yaml", "utf8"));
    await writeFile(join(sub, "b-config.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-dir}\ndata: {a: b}\n");
    await writeFile(join(sub, "notes.txt"), "not a manifest");
    const r = await podtrace(["run", "-f", sub, "-n", ns]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("creating ConfigMap from-dir");
    // Two workloads: refused before anything is created.
    await writeFile(join(sub, "c-job.yaml"), await readFile("test/fixtures/manifests/job.yaml", "utf8"));
    const two = await podtrace(["run", "-f", sub, "-n", ns, "-q"]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/found 2 workloads \(Pod one-container, Job job\); podtrace traces one per run/);
    expect((await kubectl("get", "configmaps", "-n", ns, "-o", "name")).includes("from-dir")).toBe(false);
  });

  it("a namespace in the files must exist: podtrace never creates one", async () => {
    const file = join(dir, "with-namespace.yaml");
    await writeFile(
      file,
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: podtrace-no-such-namespace}\n---\n${await readFile("test/fixtures/manifests/one-container.yaml", "utf8")}`,
    );
    const r = await podtrace(["run", "-f", file, "-n", ns]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("namespace podtrace-no-such-namespace does not exist, and podtrace does not create namespaces");
  });
});

describe("podtrace run --image", () => {
  it("builds a pod as kubectl run does; --pull always pulls; -- words are the arguments; --service without ports is headless", async () => {
    // A node pods may be scheduled to (kind's control plane is tainted NoSchedule).
    const nodes = JSON.parse(await kubectl("get", "nodes", "-o", "json")) as {
      items: { metadata: { name: string }; spec: { taints?: { effect: string }[] } }[];
    };
    const node = nodes.items.find((n) => !(n.spec.taints ?? []).some((t) => t.effect === "NoSchedule"))!.metadata.name;
    const r = await podtrace([
      "run",
      "--image",
      "127.0.0.1:5000/busybox:1",
      "--name",
      "quick",
      "--pull",
      "always",
      "--node",
      node,
      "--service",
      "-n",
      ns,
      "-o",
      "json",
      "--raw",
      "--timeout",
      "0",
      "--",
      "sh",
      "-c",
      "exec sleep 3600",
    ]);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout) as Timeline & { observations: { kind: string; resource?: string; object: Record<string, never> }[] };
    expect(t.verdict.outcome).toBe("ready");
    expect(t.pod.name).toMatch(/^quick-[a-z0-9]{5}$/);
    expect(t.pod.node).toBe(node);
    const create = t.observations.find((o) => o.kind === "create" && o.resource === "pods")!.object as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { containers: { image: string; args: string[]; imagePullPolicy: string }[]; affinity: unknown };
    };
    expect(create.metadata.labels["run"]).toBe("quick");
    expect(create.spec.containers[0]).toMatchObject({
      image: "127.0.0.1:5000/busybox:1",
      args: ["sh", "-c", "exec sleep 3600"],
      imagePullPolicy: "Always",
    });
    expect(create.spec.affinity).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: [node] }] }],
        },
      },
    });
    // Always: the kubelet went to the registry (a pull, not "already present").
    const pull = t.phases.find((p) => p.kind === "image-pull")!;
    expect(pull.status).toBe("done");
    expect(pull.details["alreadyPresent"]).toBeUndefined();
    // A headless Service (no ports to expose) still publishes the pod.
    const service = t.observations.find((o) => o.kind === "create" && o.resource === "services")!.object as unknown as {
      spec: { clusterIP: string; ports?: unknown };
    };
    expect(service.spec.clusterIP).toBe("None");
    expect(service.spec.ports).toBeUndefined();
    expect(t.phases.find((p) => p.kind === "endpoints")?.status).toBe("done");
    expect((await kubectl("get", "pods,services", "-n", ns, "-o", "name")).trim()).toBe("");
  });

  it("refuses words after -- without --image, and --image with a manifest", async () => {
    const words = await podtrace(["run", "-f", "examples/web.yaml", "--", "sleep", "1"]);
    expect(words.code).toBe(2);
    expect(words.stderr).toContain("unexpected arguments after --: sleep 1");
    const both = await podtrace(["run", "-f", "examples/web.yaml", "--image", "busybox"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--image builds the pod: pass it without -f or a manifest");
  });
});

describe("replay -", () => {
  it("reads the recording from stdin and renders what the run rendered", async () => {
    const recording = join(dir, "run.ndjson");
    const live = await podtrace(["run", "-f", "test/fixtures/manifests/one-container.yaml", "-n", ns, "-o", "json", "--record", recording]);
    expect(live.code).toBe(0);
    const replayed = await podtraceWithStdin(["replay", "-", "-o", "json"], await readFile(recording, "utf8"));
    expect(replayed.code).toBe(0);
    expect(JSON.parse(replayed.stdout)).toEqual(JSON.parse(live.stdout));
  });
});
