/**
 * Naming a run: reruns never collide, everything carries the run's label, a controller's
 * selector selects only this run's pods, and namespaces resolve as kubectl resolves them.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseManifests } from "../../src/kube/manifest.ts";
import { nameRun, nameSuffix, RUN_LABEL } from "../../src/trace/pod-naming.ts";

const manifest = async (name: string) =>
  parseManifests(await readFile(new URL(`../fixtures/manifests/${name}.yaml`, import.meta.url), "utf8"), name)[0]!.object;
const pod = await manifest("one-container");
const deployment = await manifest("deployment");
const job = await manifest("job");

describe("nameRun", () => {
  it("names a pod base-suffix, labels it with the run, and keeps the manifest untouched", () => {
    const run = nameRun(pod, undefined, "default", 1, "abcde");
    expect(run.name).toBe("one-container-abcde");
    expect(run.runId).toBe("abcde");
    expect(run.namespace).toBe("default");
    expect(run.pods).toHaveLength(1);
    const meta = run.pods[0]!.pod["metadata"] as { name: string; namespace: string; labels: Record<string, string> };
    expect(meta).toMatchObject({ name: "one-container-abcde", namespace: "default", labels: { [RUN_LABEL]: "abcde" } });
    expect((pod["metadata"] as Record<string, unknown>)["labels"]).toBeUndefined();
    expect(run.controller).toBeNull();
    expect(run.expectedPods).toBe(1);
  });

  it("gives each run a new suffix of DNS-safe characters, unless the caller chose one", () => {
    const ids = new Set(Array.from({ length: 50 }, () => nameRun(pod, undefined, "default").runId));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]{5}$/);
    expect(nameSuffix()).toMatch(/^[a-z0-9]{5}$/);
  });

  it("numbers --replicas copies name-0 ... name-N-1", () => {
    const run = nameRun(pod, undefined, "default", 3, "abcde");
    expect(run.pods.map((p) => p.name)).toEqual(["one-container-abcde-0", "one-container-abcde-1", "one-container-abcde-2"]);
    expect(run.expectedPods).toBe(3);
  });

  it("makes a Deployment's selector and template select only this run's pods", () => {
    const run = nameRun(deployment, undefined, "default", 1, "abcde");
    expect(run.controller?.kind).toBe("Deployment");
    const spec = run.controller!.object["spec"] as {
      selector: { matchLabels: Record<string, string> };
      template: { metadata: { labels: Record<string, string> } };
    };
    expect(spec.selector.matchLabels[RUN_LABEL]).toBe("abcde");
    expect(spec.template.metadata.labels[RUN_LABEL]).toBe("abcde");
    expect(spec.selector.matchLabels["app"]).toBe(spec.template.metadata.labels["app"]);
    expect(run.expectedPods).toBe(3);
    expect(() => nameRun(deployment, undefined, "default", 2)).toThrow("--replicas does not apply to a Deployment");
  });

  it("waits for a Job's completions and leaves its selector to the Job controller", () => {
    const run = nameRun(job, undefined, "default", 1, "abcde");
    expect(run.controller).toMatchObject({ kind: "Job", apiVersion: "batch/v1", resource: "jobs" });
    expect(run.expectedPods).toBe(2);
    expect((run.controller!.object["spec"] as Record<string, unknown>)["selector"]).toBeUndefined();
  });

  it("resolves the namespace: --namespace, then the manifest's, then the context's; refuses a contradiction", () => {
    expect(nameRun(pod, "flag-ns", "context-ns").namespace).toBe("flag-ns");
    expect(nameRun(pod, undefined, "context-ns").namespace).toBe("context-ns");
    const inNs = { ...pod, metadata: { ...(pod["metadata"] as object), namespace: "manifest-ns" } };
    expect(nameRun(inNs, undefined, "context-ns").namespace).toBe("manifest-ns");
    expect(nameRun(inNs, "manifest-ns", "context-ns").namespace).toBe("manifest-ns");
    expect(() => nameRun(inNs, "flag-ns", "context-ns")).toThrow(
      `the manifest's namespace "manifest-ns" does not match --namespace "flag-ns"`,
    );
  });

  it("keeps long names within the limits of Service names and labels", () => {
    const long = { ...pod, metadata: { name: "a".repeat(70) } };
    expect(nameRun(long, undefined, "default").name.length).toBeLessThanOrEqual(46);
  });
});
