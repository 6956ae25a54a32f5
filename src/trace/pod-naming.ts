/**
 * Naming what a run creates: reruns of the same manifest must never collide, and every
 * object a run creates (pods, a Deployment or ReplicaSet and the pods it makes, the
 * Service) carries the run's label, so cleanup (and a person) can find it.
 */
import { randomBytes } from "node:crypto";
import { BadInputError } from "../errors.ts";
import type { RawObject } from "../core/observation.ts";
import { workloadKind } from "../kube/manifest.ts";

export const RUN_LABEL = "podtrace.dev/run";

/** A Deployment or ReplicaSet whose pods are traced. */
export interface NamedController {
  kind: "Deployment" | "ReplicaSet" | "Job";
  /** The API group and version the resource is served under: /apis/<apiVersion>/namespaces/<ns>/<resource>. */
  apiVersion: "apps/v1" | "batch/v1";
  resource: "deployments" | "replicasets" | "jobs";
  object: RawObject;
}

export interface NamedRun {
  /** The run's name, base-<runId>: the pod's or controller's name, or with --replicas the prefix of the pods' names. */
  name: string;
  namespace: string;
  runId: string;
  /** The pods podtrace creates itself, named and labelled (none when a controller creates them). */
  pods: { name: string; pod: RawObject }[];
  controller: NamedController | null;
  /** How many pods must become Ready. */
  expectedPods: number;
  /** The pods' template as a Pod (labels, namespace, containers), for the Service and Service matching. */
  template: RawObject;
}

/** A DNS-1123 suffix: 5 characters of [a-z0-9]. */
export function nameSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join("");
}

/** `runId`: the run's id when the caller chose it (to label other objects of the run alike); a new one otherwise. */
export function nameRun(
  manifest: RawObject,
  flagNamespace: string | undefined,
  defaultNamespace: string,
  replicas = 1,
  runId = nameSuffix(),
): NamedRun {
  const metadata = (manifest["metadata"] as RawObject | undefined) ?? {};
  const base = String(metadata["name"] ?? metadata["generateName"] ?? "podtrace").replace(/-+$/, "");
  const manifestNamespace = typeof metadata["namespace"] === "string" ? metadata["namespace"] : undefined;
  if (flagNamespace && manifestNamespace && flagNamespace !== manifestNamespace) {
    throw new BadInputError(
      `the manifest's namespace "${manifestNamespace}" does not match --namespace "${flagNamespace}"`,
      `pass --namespace ${manifestNamespace}, or remove metadata.namespace from the manifest`,
    );
  }
  const namespace = flagNamespace || manifestNamespace || defaultNamespace;
  // Leave room for the suffixes within the 63-character limit of Service names and labels.
  const name = `${base.slice(0, 40).replace(/-+$/, "")}-${runId}`;
  const kind = workloadKind(manifest);
  if (kind === "Pod") {
    const pods = Array.from({ length: replicas }, (_, i) => {
      const podName = replicas === 1 ? name : `${name}-${i}`;
      return { name: podName, pod: labelled(manifest, podName, namespace, runId) };
    });
    return { name, namespace, runId, pods, controller: null, expectedPods: replicas, template: pods[0]!.pod };
  }
  if (replicas !== 1) {
    throw new BadInputError(`--replicas does not apply to a ${kind}`, `set spec.replicas in the ${kind} instead`);
  }
  const object = labelled(manifest, name, namespace, runId);
  const spec = { ...((object["spec"] as RawObject | undefined) ?? {}) };
  const template = { ...((spec["template"] as RawObject | undefined) ?? {}) };
  const templateMeta = { ...((template["metadata"] as RawObject | undefined) ?? {}) };
  templateMeta["labels"] = { ...((templateMeta["labels"] as RawObject | undefined) ?? {}), [RUN_LABEL]: runId };
  template["metadata"] = templateMeta;
  spec["template"] = template;
  if (kind !== "Job") {
    // The selector must select the template's labels; with the run's label it selects
    // only this run's pods. (A Job makes its own selector.)
    const selector = { ...((spec["selector"] as RawObject | undefined) ?? {}) };
    selector["matchLabels"] = { ...((selector["matchLabels"] as RawObject | undefined) ?? {}), [RUN_LABEL]: runId };
    spec["selector"] = selector;
  }
  object["spec"] = spec;
  // A Deployment or ReplicaSet: its replicas must become Ready. A Job: its completions must
  // complete.
  const count = kind === "Job" ? (spec["completions"] ?? 1) : (spec["replicas"] ?? 1);
  const expectedPods = typeof count === "number" ? count : NaN;
  if (!Number.isInteger(expectedPods) || expectedPods < 1) {
    throw new BadInputError(`the ${kind} asks for ${String(count)} pods`, "podtrace needs at least one pod to trace");
  }
  return {
    name,
    namespace,
    runId,
    pods: [],
    controller: {
      kind,
      apiVersion: kind === "Job" ? "batch/v1" : "apps/v1",
      resource: kind === "Deployment" ? "deployments" : kind === "Job" ? "jobs" : "replicasets",
      object,
    },
    expectedPods,
    template: { apiVersion: "v1", kind: "Pod", metadata: { ...templateMeta, namespace }, spec: template["spec"] },
  };
}

function labelled(manifest: RawObject, name: string, namespace: string, runId: string): RawObject {
  const object = structuredClone(manifest);
  const metadata = { ...((object["metadata"] as RawObject | undefined) ?? {}) };
  delete metadata["generateName"];
  delete metadata["resourceVersion"];
  delete metadata["uid"];
  metadata["name"] = name;
  metadata["namespace"] = namespace;
  metadata["labels"] = { ...((metadata["labels"] as RawObject | undefined) ?? {}), [RUN_LABEL]: runId };
  object["metadata"] = metadata;
  delete object["status"];
  return object;
}
