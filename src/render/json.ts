/**
 * `-o json`: the timeline as documented by schema/timeline.schema.json, optionally with
 * the raw observations (--raw) for tools that want to redo the correlation.
 */
import type { Observation } from "../core/observation.ts";
import type { Timeline } from "../core/timeline.ts";

export function renderJson(t: Timeline, observations?: readonly Observation[]): string {
  return `${JSON.stringify(observations ? { ...t, observations } : t, null, 2)}\n`;
}
