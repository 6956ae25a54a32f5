/**
 * `-o json`: the timeline (or with --replicas and controllers the pod set) as documented by
 * schema/timeline.schema.json, with the versions that produced it and optionally the raw
 * observations (--raw) for tools that want to redo the correlation.
 */
import type { Observation } from "../core/observation.ts";
import type { PodSetTimeline } from "../core/pod-set.ts";
import type { Timeline } from "../core/timeline.ts";

export interface Versions {
  /** The podtrace that rendered the output. */
  podtraceVersion: string;
  /** The API server's gitVersion (from /version) when the run was traced; null if unknown. */
  serverVersion: string | null;
}

export function renderJson(t: Timeline | PodSetTimeline, observations?: readonly Observation[], versions?: Versions): string {
  // schemaVersion first, then the versions, then the rest in the timeline's own order.
  const { schemaVersion, ...rest } = t;
  const out = { schemaVersion, ...versions, ...rest, ...(observations ? { observations } : {}) };
  return `${JSON.stringify(out, null, 2)}\n`;
}
