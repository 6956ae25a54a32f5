/**
 * From a run's observations to what is printed and the exit code: the correlation of one
 * pod or of many (--replicas), thresholds, the renderer chosen with -o, --quiet's single
 * verdict line. Shared by run and replay, so a replay prints exactly what the run did.
 */
import pc from "picocolors";
import { correlate } from "../../core/correlate.ts";
import type { Observation } from "../../core/observation.ts";
import { correlatePodSet, splitByPod, type PodSetTimeline } from "../../core/pod-set.ts";
import { applyThresholds, type Threshold } from "../../core/thresholds.ts";
import { succeeded, type Timeline } from "../../core/timeline.ts";
import { renderJson } from "../../render/json.ts";
import { renderPodSetTable } from "../../render/pod-set.ts";
import { renderTable, verdictLine } from "../../render/table.ts";
import { ExitCode } from "../../errors.ts";

export type OutputFormat = "table" | "json" | "junit";

export type Traced = { kind: "pod"; timeline: Timeline } | { kind: "set"; set: PodSetTimeline };

/** `expectedPods`: how many pods the run waited for (--replicas, or the controller's spec.replicas). */
export function analyse(observations: readonly Observation[], expectedPods: number, thresholds: readonly Threshold[]): Traced {
  // One pod (a controller may have replaced its pod: then there are several to show), or
  // none at all: a rejected request, a controller that made no pod; its verdict says why.
  const pods = splitByPod(observations).size;
  if (pods === 0 || (expectedPods <= 1 && pods === 1)) {
    return { kind: "pod", timeline: applyThresholds(correlate(observations), thresholds) };
  }
  const set = correlatePodSet(observations);
  return { kind: "set", set: { ...set, pods: set.pods.map((t) => applyThresholds(t, thresholds)) } };
}

export interface RenderOptions {
  color: boolean;
  kept: boolean;
  quiet: boolean;
  observations?: readonly Observation[] | undefined;
}

export async function render(traced: Traced, format: OutputFormat, options: RenderOptions): Promise<string> {
  const c = pc.createColors(options.color);
  if (traced.kind === "set") {
    const { set } = traced;
    switch (format) {
      case "json":
        return `${JSON.stringify(options.observations ? { ...set, observations: options.observations } : set, null, 2)}\n`;
      case "junit":
        return (await junit()).renderJunit(set.pods);
      case "table":
        return options.quiet
          ? `${set.ready === set.replicas ? c.green("✓") : c.red("✗")} ${set.ready}/${set.replicas} pods done\n`
          : renderPodSetTable(set, { color: options.color });
    }
  }
  const t = traced.timeline;
  switch (format) {
    case "json":
      return renderJson(t, options.observations);
    case "junit":
      return (await junit()).renderJunit(t);
    case "table":
      return options.quiet ? `${verdictLine(t, c)}\n` : renderTable(t, { color: options.color, kept: options.kept });
  }
}

/** The JUnit writer (and its XML library, the largest part of the output code) only for -o junit. */
function junit(): Promise<typeof import("../../render/junit.ts")> {
  return import("../../render/junit.ts");
}

export function exitCodeFor(traced: Traced, observations: readonly Observation[]): number {
  const timelines = traced.kind === "pod" ? [traced.timeline] : traced.set.pods;
  const codes = timelines.map((t) => exitCodeForPod(t, observations));
  // The most serious code wins: access, input, interrupted, not ready, slow, ready.
  for (const code of [ExitCode.ClusterAccess, ExitCode.BadInput, ExitCode.Interrupted, ExitCode.NotReady, ExitCode.ThresholdExceeded]) {
    if (codes.includes(code)) return code;
  }
  return timelines.length ? ExitCode.Ready : ExitCode.NotReady;
}

function exitCodeForPod(t: Timeline, observations: readonly Observation[]): number {
  const v = t.verdict;
  if (succeeded(v.outcome)) return v.thresholds?.length ? ExitCode.ThresholdExceeded : ExitCode.Ready;
  if (v.outcome === "interrupted") return ExitCode.Interrupted;
  if (v.outcome === "rejected") {
    const create = observations.find((o) => o.kind === "create" && o.resource === "pods" && o.name === t.pod.name);
    const status = create?.kind === "create" ? create.status : 0;
    // Forbidden by RBAC is a matter of access; invalid fields, a missing namespace or an
    // exhausted quota are matters of the input.
    if ((status === 401 || status === 403) && !/quota/i.test(v.causes.join(" "))) return ExitCode.ClusterAccess;
    return ExitCode.BadInput;
  }
  return ExitCode.NotReady;
}
