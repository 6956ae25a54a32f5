/**
 * Many pods in one run (--replicas): the stream is shared (one watch per kind of object,
 * whatever the number of pods), so each pod's own stream is cut out of it before the
 * single-pod correlation runs on it, and the per-pod timelines are summarised as
 * percentiles per phase.
 */
import { correlate } from "./correlate.ts";
import { asRecord, str } from "./observed-run.ts";
import type { Observation } from "./observation.ts";
import { succeeded, type Timeline } from "./timeline.ts";

/**
 * Which pod an observation is about; null when it concerns every pod (services, endpoints,
 * claims and their events, watch health, the end).
 */
export function podOf(o: Observation): string | null {
  switch (o.kind) {
    case "create":
      return o.resource === "pods" ? o.name : null;
    case "watch": {
      if (o.resource === "pods") return str(asRecord(o.object["metadata"])["name"]);
      if (o.resource === "events" || o.resource === "events.k8s.io") return claimOf(o) === null ? str(involved(o)["name"]) : null;
      return null;
    }
    case "log":
      return o.pod;
    default:
      return null;
  }
}

/** The PersistentVolumeClaim an observation is about (the claim itself, or an Event about it); null otherwise. */
export function claimOf(o: Observation): string | null {
  if (o.kind !== "watch") return null;
  if (o.resource === "persistentvolumeclaims") return str(asRecord(o.object["metadata"])["name"]);
  if (o.resource !== "events" && o.resource !== "events.k8s.io") return null;
  const object = involved(o);
  return str(object["kind"]) === "PersistentVolumeClaim" ? str(object["name"]) : null;
}

function involved(o: Extract<Observation, { kind: "watch" }>): Record<string, unknown> {
  return asRecord(o.resource === "events" ? o.object["involvedObject"] : o.object["regarding"]);
}

/** Each pod's stream, in the order the pods were created (or first seen). */
export function splitByPod(observations: readonly Observation[]): Map<string, Observation[]> {
  // The pods podtrace created, then those a controller created, as first seen.
  const names: string[] = [];
  for (const o of observations) if (o.kind === "create" && o.resource === "pods") names.push(o.name);
  for (const o of observations) {
    if (o.kind !== "watch" || o.resource !== "pods") continue;
    const name = podOf(o);
    if (name && !names.includes(name)) names.push(name);
  }
  const streams = new Map<string, Observation[]>(names.map((n) => [n, []]));
  for (const o of observations) {
    const pod = podOf(o);
    if (pod === null) for (const s of streams.values()) s.push(o);
    else streams.get(pod)?.push(o);
  }
  return streams;
}

export interface PhaseStats {
  /** Phase id, e.g. "scheduling" or "image-pull:web". */
  phase: string;
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface PodSetTimeline {
  schemaVersion: 1;
  replicas: number;
  ready: number;
  /** Percentiles per phase over the pods that finished it, plus "ready" and "endpoints" (from submit). */
  summary: PhaseStats[];
  pods: Timeline[];
}

export function correlatePodSet(observations: readonly Observation[]): PodSetTimeline {
  const pods = [...splitByPod(observations).values()].map((stream) => correlate(stream));
  const durations = new Map<string, number[]>();
  const add = (phase: string, ms: number | null) => {
    if (ms === null) return;
    if (!durations.has(phase)) durations.set(phase, []);
    durations.get(phase)!.push(ms);
  };
  for (const t of pods) {
    for (const p of t.phases) if (p.status === "done") add(p.id, p.durationMs);
    add("ready (from submit)", t.readyAfterMs);
    add("endpoints (from submit)", t.endpointsAfterMs);
  }
  const summary = [...durations].map(([phase, values]) => ({
    phase,
    count: values.length,
    p50Ms: percentile(values, 50),
    p90Ms: percentile(values, 90),
    p99Ms: percentile(values, 99),
    maxMs: Math.max(...values),
  }));
  return { schemaVersion: 1, replicas: pods.length, ready: pods.filter((t) => succeeded(t.verdict.outcome)).length, summary, pods };
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}
