/**
 * Reading manifests as kubectl reads -f: several documents, Lists, directories, stdin; one
 * workload and the other objects in install order; the errors bad input gets. The inputs
 * are the repository's own manifests (the ones the e2e tests run on the cluster).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { BadInputError } from "../../src/errors.ts";
import { inInstallOrder, parseManifests, readManifests, splitWorkload, INSTALL_ORDER } from "../../src/kube/manifest.ts";

const webApp = await readFile(new URL("../e2e/manifests/web-app.yaml", import.meta.url), "utf8");
const onePod = await readFile(new URL("../fixtures/manifests/one-container.yaml", import.meta.url), "utf8");
const job = await readFile(new URL("../fixtures/manifests/job.yaml", import.meta.url), "utf8");

const kinds = (objects: { object: Record<string, unknown> }[]) =>
  objects.map((o) => `${String(o.object["kind"])}/${String((o.object["metadata"] as { name: string }).name)}`);

function badInput(fn: () => unknown): BadInputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    return err as BadInputError;
  }
  throw new Error("expected a BadInputError");
}

describe("parseManifests", () => {
  it("reads every document of a multi-document file, saying which document each came from", () => {
    const objects = parseManifests(webApp, "web-app.yaml");
    expect(kinds(objects)).toEqual(["Deployment/web-app", "Service/web-app", "ConfigMap/web-app-page", "Secret/web-app-secret"]);
    expect(objects.map((o) => o.source)).toEqual([1, 2, 3, 4].map((i) => `web-app.yaml (document ${i})`));
  });

  it("flattens kind: List and typed lists, also nested, and reads JSON", () => {
    const docs = parseManifests(webApp, "x").map((o) => o.object);
    const list = { apiVersion: "v1", kind: "List", items: [docs[0], { apiVersion: "v1", kind: "ConfigMapList", items: [docs[2]] }] };
    const objects = parseManifests(JSON.stringify(list), "list.json");
    expect(kinds(objects)).toEqual(["Deployment/web-app", "ConfigMap/web-app-page"]);
    expect(objects[1]!.source).toBe("list.json items[1] items[0]");
  });

  it("keeps dates as the strings the API wants, and merges merge keys as kubectl does", () => {
    const [cm] = parseManifests(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dates}\nx-defaults: &d {since: 2026-11-23}\ndata:\n  <<: *d\n  until: 2026-12-01\n",
      "cm.yaml",
    );
    expect(cm!.object["data"]).toEqual({ since: "2026-11-23", until: "2026-12-01" });
  });

  it("skips empty documents and comments", () => {
    expect(kinds(parseManifests(`---\n# nothing\n---\n${onePod}\n---\n`, "x"))).toEqual(["Pod/one-container"]);
  });

  it("says where YAML is invalid, and what is not a Kubernetes object", () => {
    expect(badInput(() => parseManifests("apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n", "bad.yaml")).message).toMatch(
      /^bad\.yaml:\d+:\d+: invalid YAML/,
    );
    expect(badInput(() => parseManifests("- a\n- b\n", "list.yaml")).message).toBe("list.yaml: expected a Kubernetes object, found a list");
    expect(badInput(() => parseManifests("kind: Pod\nmetadata: {name: x}\n", "x.yaml")).message).toContain(
      "apiVersion and kind are required",
    );
    expect(badInput(() => parseManifests("apiVersion: v1\nkind: ConfigMap\ndata: {}\n", "x.yaml")).message).toBe(
      "x.yaml: ConfigMap without metadata.name",
    );
  });
});

describe("splitWorkload", () => {
  it("takes the one workload out and keeps the rest", () => {
    const { workload, others } = splitWorkload(parseManifests(webApp, "web-app.yaml"), "web-app.yaml");
    expect(kinds([workload])).toEqual(["Deployment/web-app"]);
    expect(kinds(others)).toEqual(["Service/web-app", "ConfigMap/web-app-page", "Secret/web-app-secret"]);
  });

  it("refuses files with no workload, several workloads, or a workload without containers", () => {
    const config = parseManifests(webApp, "x").slice(2);
    expect(badInput(() => splitWorkload(config, "cm.yaml")).message).toBe(
      "cm.yaml: expected a v1 Pod, an apps/v1 Deployment or ReplicaSet, or a batch/v1 Job; found ConfigMap web-app-page, Secret web-app-secret",
    );
    const two = [...parseManifests(onePod, "pod.yaml"), ...parseManifests(job, "job.yaml")];
    expect(badInput(() => splitWorkload(two, "pod.yaml, job.yaml")).message).toBe(
      "pod.yaml, job.yaml: found 2 workloads (Pod one-container, Job job); podtrace traces one per run",
    );
    const empty = parseManifests("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n", "empty.yaml");
    expect(badInput(() => splitWorkload(empty, "empty.yaml")).message).toBe("empty.yaml: the Pod has no spec.containers");
    expect(badInput(() => splitWorkload([], "nothing.yaml")).message).toBe("nothing.yaml: no objects found");
  });

  it("does not take a StatefulSet or an extensions/v1beta1 Deployment for a workload it traces", () => {
    const sts = parseManifests("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n", "sts.yaml");
    expect(badInput(() => splitWorkload(sts, "sts.yaml")).message).toContain("found StatefulSet db");
    const old = parseManifests("apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\n", "old.yaml");
    expect(badInput(() => splitWorkload(old, "old.yaml")).message).toContain("found Deployment old");
  });
});

describe("inInstallOrder", () => {
  it("puts what pods depend on first and keeps the files' order within a kind", () => {
    const objects = [
      "Deployment",
      "Service",
      "ConfigMap",
      "Secret",
      "PersistentVolumeClaim",
      "ServiceAccount",
      "ConfigMap",
      "Widget",
      "ResourceQuota",
    ].map((kind, i) => ({ object: { apiVersion: "v1", kind, metadata: { name: `o${i}` } } }));
    expect(kinds(inInstallOrder(objects))).toEqual([
      "ResourceQuota/o8",
      "ServiceAccount/o5",
      "Secret/o3",
      "ConfigMap/o2",
      "ConfigMap/o6",
      "PersistentVolumeClaim/o4",
      "Service/o1",
      "Deployment/o0",
      // Kinds the order does not know (custom resources) come last.
      "Widget/o7",
    ]);
  });

  it("orders the dependencies of pods before the Service and the workloads", () => {
    const at = (k: string) => INSTALL_ORDER.indexOf(k);
    for (const dep of ["ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim", "LimitRange", "ResourceQuota"]) {
      expect(at(dep)).toBeLessThan(at("Service"));
      expect(at(dep)).toBeLessThan(at("Pod"));
    }
  });
});

describe("readManifests", () => {
  it("reads files, directories (their manifests in name order) and stdin, in the order given", async () => {
    const dir = await mkdtemp(join(tmpdir(), "podtrace-manifests-"));
    await writeFile(join(dir, "b.yaml"), onePod);
    await writeFile(join(dir, "a.json"), JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" } }));
    await writeFile(join(dir, "README.md"), "# not a manifest");
    const stdin = Readable.from([Buffer.from("apiVersion: v1\nkind: Secret\nmetadata: {name: from-stdin}\n")]);
    const objects = await readManifests([dir, "-", new URL("../fixtures/manifests/job.yaml", import.meta.url).pathname], stdin);
    await rm(dir, { recursive: true });
    expect(kinds(objects)).toEqual(["ConfigMap/a", "Pod/one-container", "Secret/from-stdin", "Job/job"]);
    expect(objects[2]!.source).toBe("stdin");
  });

  it("says which file cannot be read, and refuses stdin twice", async () => {
    await expect(readManifests(["no/such/file.yaml"])).rejects.toThrow("cannot read no/such/file.yaml: no such file");
    await expect(readManifests(["-", "-"], Readable.from([]))).rejects.toThrow("-f - given more than once");
    const empty = await mkdtemp(join(tmpdir(), "podtrace-empty-"));
    await expect(readManifests([empty])).rejects.toThrow("a directory without .yaml, .yml or .json files");
    await rm(empty, { recursive: true });
  });
});
