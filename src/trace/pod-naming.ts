/**
 * Naming the traced pod: reruns of the same manifest must never collide, and every object
 * a run creates carries the run's label so cleanup (and a person) can find it.
 */
import { randomBytes } from "node:crypto";
import { BadInputError } from "../cli/errors.ts";
import type { RawObject } from "../core/observation.ts";

export const RUN_LABEL = "podtrace.dev/run";

export interface NamedPods {
  /** The run's name, base-<runId>: the pod's name, or with --replicas the prefix of the pods' names. */
  name: string;
  namespace: string;
  runId: string;
  /** The pods to create, named and labelled. */
  pods: { name: string; pod: RawObject }[];
}

/** A DNS-1123 suffix: 5 characters of [a-z0-9]. */
export function nameSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join("");
}

export function namePods(manifest: RawObject, flagNamespace: string | undefined, defaultNamespace: string, replicas = 1): NamedPods {
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
  const runId = nameSuffix();
  // Leave room for the suffixes within the 63-character limit of Service names and labels.
  const name = `${base.slice(0, 48).replace(/-+$/, "")}-${runId}`;
  const pods = Array.from({ length: replicas }, (_, i) => {
    const podName = replicas === 1 ? name : `${name}-${i}`;
    return { name: podName, pod: withName(manifest, podName, namespace, runId) };
  });
  return { name, namespace, runId, pods };
}

function withName(manifest: RawObject, name: string, namespace: string, runId: string): RawObject {
  const pod = structuredClone(manifest);
  const metadata = { ...((pod["metadata"] as RawObject | undefined) ?? {}) };
  delete metadata["generateName"];
  delete metadata["resourceVersion"];
  delete metadata["uid"];
  metadata["name"] = name;
  metadata["namespace"] = namespace;
  metadata["labels"] = { ...((metadata["labels"] as RawObject | undefined) ?? {}), [RUN_LABEL]: runId };
  pod["metadata"] = metadata;
  delete pod["status"];
  return pod;
}
