/**
 * The pods podtrace builds and adjusts: `--image` as kubectl run builds it, `--node` as a
 * required node affinity merged into the workload's own, `--pull` on every container.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { BadInputError } from "../../src/errors.ts";
import { parseManifests } from "../../src/kube/manifest.ts";
import { nameFromImage, pinToNode, podForImage, withPullPolicy } from "../../src/kube/pod-spec.ts";

const initPod = parseManifests(await readFile(new URL("../fixtures/manifests/init-containers.yaml", import.meta.url), "utf8"), "x")[0]!
  .object;
const deployment = parseManifests(await readFile(new URL("../fixtures/manifests/deployment.yaml", import.meta.url), "utf8"), "x")[0]!
  .object;
type Spec = {
  affinity?: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: Record<string, unknown>[] } } };
  containers: Record<string, unknown>[];
  initContainers?: Record<string, unknown>[];
  nodeName?: string;
};
const podSpec = (o: Record<string, unknown>) => o["spec"] as Spec;
const templateSpec = (o: Record<string, unknown>) => (o["spec"] as { template: { spec: Spec } }).template.spec;

describe("podForImage", () => {
  it("builds the pod kubectl run builds: one container named like the pod, label run=NAME", () => {
    expect(podForImage({ image: "127.0.0.1:5000/busybox:1", words: [], useCommand: false })).toEqual({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "busybox", labels: { run: "busybox" } },
      spec: {
        containers: [{ name: "busybox", image: "127.0.0.1:5000/busybox:1" }],
        restartPolicy: "Always",
        terminationGracePeriodSeconds: 1,
      },
    });
  });

  it("takes the words after -- as arguments, or with --command as the command", () => {
    const args = podForImage({ image: "busybox", name: "web", words: ["sleep", "60"], useCommand: false });
    expect(podSpec(args).containers[0]).toEqual({ name: "web", image: "busybox", args: ["sleep", "60"] });
    const command = podForImage({ image: "busybox", name: "web", words: ["sleep", "60"], useCommand: true });
    expect(podSpec(command).containers[0]).toEqual({ name: "web", image: "busybox", command: ["sleep", "60"] });
  });

  it("derives a valid name from any image reference, and refuses invalid names", () => {
    expect(nameFromImage("registry.example:5000/team/Web_Server:1.2@sha256:abc")).toBe("web-server");
    expect(nameFromImage("nginx")).toBe("nginx");
    expect(nameFromImage("localhost:5000/a.b.c")).toBe("a-b-c");
    expect(nameFromImage("@@@")).toBe("podtrace");
    expect(() => podForImage({ image: "busybox", name: "Not_Valid", words: [], useCommand: false })).toThrow(BadInputError);
    expect(() => podForImage({ image: "two words", words: [], useCommand: false })).toThrow(/not an image reference/);
  });
});

describe("pinToNode", () => {
  it("adds a required node affinity on the node's name, leaving the input alone", () => {
    const pinned = pinToNode(initPod, "node-a");
    expect(podSpec(pinned).affinity).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: ["node-a"] }] }],
        },
      },
    });
    expect(podSpec(initPod).affinity).toBeUndefined();
    expect(podSpec(pinned).nodeName).toBeUndefined();
  });

  it("adds the node's name to every term a workload's template already has (terms are ORed)", () => {
    const withTerms = structuredClone(deployment);
    templateSpec(withTerms).affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] },
            { matchExpressions: [{ key: "zone", operator: "In", values: ["b"] }] },
          ],
        },
      },
    };
    const terms = templateSpec(pinToNode(withTerms, "node-a")).affinity!.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
      .nodeSelectorTerms;
    expect(terms).toHaveLength(2);
    for (const t of terms) {
      expect(t["matchExpressions"]).toBeDefined();
      expect(t["matchFields"]).toEqual([{ key: "metadata.name", operator: "In", values: ["node-a"] }]);
    }
  });

  it("refuses a node other than the one spec.nodeName names", () => {
    const named = structuredClone(initPod);
    podSpec(named).nodeName = "node-b";
    expect(() => pinToNode(named, "node-a")).toThrow(/already sets spec.nodeName node-b/);
    expect(podSpec(pinToNode(named, "node-b")).nodeName).toBe("node-b");
  });
});

describe("withPullPolicy", () => {
  it("sets every container's policy, init containers included", () => {
    const always = withPullPolicy(initPod, "always");
    const all = [...(podSpec(always).initContainers ?? []), ...podSpec(always).containers];
    expect(all.length).toBeGreaterThan(1);
    for (const c of all) expect(c["imagePullPolicy"]).toBe("Always");
    expect(templateSpec(withPullPolicy(deployment, "missing")).containers[0]!["imagePullPolicy"]).toBe("IfNotPresent");
    expect(podSpec(withPullPolicy(initPod, "never")).containers[0]!["imagePullPolicy"]).toBe("Never");
    expect(podSpec(initPod).containers[0]!["imagePullPolicy"]).toBeUndefined();
  });
});
