/**
 * Reading a Pod's spec and status from raw snapshots: which containers it has in which
 * start order, and the first snapshot in which something became true.
 */
import { asArray, asRecord, str, type PodSnapshot } from "./observed-run.ts";
import type { RawObject } from "./observation.ts";

export type ContainerType = "init" | "sidecar" | "app";

export interface ContainerSpec {
  name: string;
  image: string;
  type: ContainerType;
  /** involvedObject.fieldPath the kubelet uses for this container's events. */
  fieldPath: string;
  hasReadinessProbe: boolean;
  hasStartupProbe: boolean;
  /** lifecycle.postStart: the kubelet runs it before it goes on to the next container. */
  hasPostStartHook: boolean;
}

/** Containers in the order the kubelet starts them: init containers (and sidecars), then app. */
export function containersInStartOrder(pod: RawObject): ContainerSpec[] {
  const spec = asRecord(pod["spec"]);
  const init = asArray(spec["initContainers"]).map((c): ContainerSpec => ({
    name: str(c["name"]),
    image: str(c["image"]),
    type: str(c["restartPolicy"]) === "Always" ? "sidecar" : "init",
    fieldPath: `spec.initContainers{${str(c["name"])}}`,
    hasReadinessProbe: c["readinessProbe"] !== undefined,
    hasStartupProbe: c["startupProbe"] !== undefined,
    hasPostStartHook: asRecord(c["lifecycle"])["postStart"] !== undefined,
  }));
  const app = asArray(spec["containers"]).map((c): ContainerSpec => ({
    name: str(c["name"]),
    image: str(c["image"]),
    type: "app",
    fieldPath: `spec.containers{${str(c["name"])}}`,
    hasReadinessProbe: c["readinessProbe"] !== undefined,
    hasStartupProbe: c["startupProbe"] !== undefined,
    hasPostStartHook: asRecord(c["lifecycle"])["postStart"] !== undefined,
  }));
  return [...init, ...app];
}

export function condition(pod: RawObject, type: string): RawObject | null {
  const conditions = asArray(asRecord(pod["status"])["conditions"]);
  return conditions.find((c) => str(c["type"]) === type) ?? null;
}

/** The container's status entry, from initContainerStatuses or containerStatuses. */
export function containerStatus(pod: RawObject, c: ContainerSpec): RawObject | null {
  const status = asRecord(pod["status"]);
  const list = asArray(c.type === "app" ? status["containerStatuses"] : status["initContainerStatuses"]);
  return list.find((s) => str(s["name"]) === c.name) ?? null;
}

/** The container's restartCount (0 when unknown). */
export function restartCount(status: RawObject | null): number {
  const n = status?.["restartCount"];
  return typeof n === "number" ? n : 0;
}

/** The container's state.terminated, or {} while it is not terminated. */
export function terminatedState(pod: RawObject, c: ContainerSpec): RawObject {
  return asRecord(asRecord(containerStatus(pod, c)?.["state"])["terminated"]);
}

/** The pod's containers run to completion (restartPolicy Never or OnFailure, as a Job's do). */
export function runsToCompletion(pod: RawObject): boolean {
  return ["Never", "OnFailure"].includes(str(asRecord(pod["spec"])["restartPolicy"]));
}

/** The first snapshot (arrived at `after` or later) for which the predicate holds. */
export function firstSnapshot(pods: readonly PodSnapshot[], predicate: (pod: RawObject) => boolean, after = -Infinity): PodSnapshot | null {
  return pods.find((p) => p.type !== "DELETED" && p.arrivedAt >= after && predicate(p.pod)) ?? null;
}

export function lastSnapshot(pods: readonly PodSnapshot[]): PodSnapshot | null {
  for (let i = pods.length - 1; i >= 0; i--) {
    const p = pods[i];
    if (p && p.type !== "DELETED") return p;
  }
  return null;
}

export function podIP(pod: RawObject): string {
  return str(asRecord(pod["status"])["podIP"]);
}

/** Every IP of the pod (status.podIPs: both families on dual-stack clusters), podIP first. */
export function podIPs(pod: RawObject): string[] {
  const ips = asArray(asRecord(pod["status"])["podIPs"]).map((p) => str(p["ip"]));
  return [...new Set([podIP(pod), ...ips].filter(Boolean))];
}

/** The pod shares its node's network namespace: its IP is the node's, known before any sandbox. */
export function hostNetwork(pod: RawObject): boolean {
  return asRecord(pod["spec"])["hostNetwork"] === true;
}

/** spec.readinessGates: condition types other controllers must set before the pod is Ready. */
export function readinessGates(pod: RawObject): string[] {
  return asArray(asRecord(pod["spec"])["readinessGates"])
    .map((g) => str(g["conditionType"]))
    .filter(Boolean);
}

/** The container is running, or has run (terminated). */
export function hasRun(pod: RawObject, c: ContainerSpec): boolean {
  const state = asRecord(containerStatus(pod, c)?.["state"]);
  return state["running"] !== undefined || state["terminated"] !== undefined;
}

export function nodeName(pod: RawObject): string {
  return str(asRecord(pod["spec"])["nodeName"]);
}

export function podPhase(pod: RawObject): string {
  return str(asRecord(pod["status"])["phase"]);
}

export function podName(pod: RawObject): string {
  return str(asRecord(pod["metadata"])["name"]);
}
