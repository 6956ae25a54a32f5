/**
 * Pod specs podtrace builds or adjusts for its flags: the one-container pod of
 * `podtrace run --image` (as `kubectl run` builds it), pinning to a node (--node), and the
 * image pull policy (--pull). Pure: each returns a new object.
 */
import { BadInputError } from "../errors.ts";
import type { RawObject } from "../core/observation.ts";
import { podSpecOf } from "./manifest.ts";

export interface ImageRun {
  image: string;
  /** The pod's (and container's) name; derived from the image when absent. */
  name?: string | undefined;
  /** The words after --. */
  words: string[];
  /** --command: the words are the command (entrypoint) instead of its arguments, as with kubectl run --command. */
  useCommand: boolean;
}

/** The pod `kubectl run NAME --image IMAGE [--command] -- WORDS` would create. */
export function podForImage(run: ImageRun): RawObject {
  const image = run.image.trim();
  if (!image || /\s/.test(image)) throw new BadInputError(`--image "${run.image}": not an image reference`);
  const name = run.name ?? nameFromImage(image);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
    throw new BadInputError(`--name "${name}": not a valid pod name`, "use lower-case letters, digits and '-' (at most 63)");
  }
  const container: RawObject = { name, image };
  if (run.words.length) container[run.useCommand ? "command" : "args"] = run.words;
  return {
    apiVersion: "v1",
    kind: "Pod",
    // kubectl run labels its pods run=NAME.
    metadata: { name, labels: { run: name } },
    spec: { containers: [container], restartPolicy: "Always", terminationGracePeriodSeconds: 1 },
  };
}

/** "registry:5000/team/web-server:1.2@sha256:..." -> "web-server". */
export function nameFromImage(image: string): string {
  const last = image.split("@")[0]!.split("/").at(-1) ?? "";
  const repo = last.split(":")[0] ?? "";
  const name = repo
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  return name || "podtrace";
}

/**
 * Pin the workload's pods to one node with a required node affinity on the node's name
 * (what the DaemonSet controller does), so the scheduler still places the pod and the
 * scheduling phase stays real; spec.nodeName would bypass the scheduler.
 */
export function pinToNode(workload: RawObject, node: string): RawObject {
  const object = structuredClone(workload);
  const spec = podSpecOf(object);
  if (!spec) return object;
  if (typeof spec["nodeName"] === "string" && spec["nodeName"] && spec["nodeName"] !== node) {
    throw new BadInputError(`--node ${node}: the manifest already sets spec.nodeName ${spec["nodeName"]}`);
  }
  const affinity = record(spec, "affinity");
  const nodeAffinity = record(affinity, "nodeAffinity");
  const required = record(nodeAffinity, "requiredDuringSchedulingIgnoredDuringExecution");
  const byName = { key: "metadata.name", operator: "In", values: [node] };
  const terms = Array.isArray(required["nodeSelectorTerms"]) ? (required["nodeSelectorTerms"] as RawObject[]) : [];
  // Terms are ORed: the node's name must hold in each of them.
  required["nodeSelectorTerms"] = terms.length
    ? terms.map((t) => ({ ...t, matchFields: [...(Array.isArray(t["matchFields"]) ? (t["matchFields"] as unknown[]) : []), byName] }))
    : [{ matchFields: [byName] }];
  return object;
}

export type PullFlag = "always" | "missing" | "never";

const PULL_POLICIES: Record<PullFlag, string> = { always: "Always", missing: "IfNotPresent", never: "Never" };

/** --pull: the imagePullPolicy of every container, init containers included. always: a registry round trip every time. */
export function withPullPolicy(workload: RawObject, pull: PullFlag): RawObject {
  const object = structuredClone(workload);
  const spec = podSpecOf(object);
  for (const list of ["initContainers", "containers"]) {
    const containers = spec?.[list];
    if (!Array.isArray(containers)) continue;
    for (const c of containers as RawObject[]) c["imagePullPolicy"] = PULL_POLICIES[pull];
  }
  return object;
}

export function checkPullFlag(value: string): PullFlag {
  if (value === "always" || value === "missing" || value === "never") return value;
  throw new BadInputError(`--pull ${value}: expected always, missing or never`);
}

/** The object under `key`, created if absent. */
function record(parent: RawObject, key: string): RawObject {
  const v = parent[key];
  if (v !== null && typeof v === "object" && !Array.isArray(v)) return v as RawObject;
  const created: RawObject = {};
  parent[key] = created;
  return created;
}
