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
import { describeRejection, refusedCreate } from "../../core/rejection.ts";

/** wide: the table with every detail on one line, whatever the terminal's width. */
export type OutputFormat = "table" | "wide" | "json" | "junit";

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
  /** The width the table fits, in terminal cells (Infinity: no limit). */
  width: number;
  /** Which podtrace and which API server produced the run, for the JSON. */
  versions?: { podtraceVersion: string; serverVersion: string | null } | undefined;
}

export async function render(traced: Traced, format: OutputFormat, options: RenderOptions): Promise<string> {
  const c = pc.createColors(options.color);
  if (traced.kind === "set") {
    const { set } = traced;
    switch (format) {
      case "json":
        return renderJson(set, options.observations, options.versions);
      case "junit":
        return (await junit()).renderJunit(set.pods);
      case "table":
      case "wide":
        return options.quiet
          ? `${set.ready === set.replicas ? c.green("✓") : c.red("✗")} ${set.ready}/${set.replicas} pods done\n`
          : renderPodSetTable(set, { color: options.color, width: format === "wide" ? Infinity : options.width });
    }
  }
  const t = traced.timeline;
  switch (format) {
    case "json":
      return renderJson(t, options.observations, options.versions);
    case "junit":
      return (await junit()).renderJunit(t);
    case "table":
    case "wide":
      return options.quiet
        ? `${verdictLine(t, c)}\n`
        : renderTable(t, { color: options.color, kept: options.kept, width: format === "wide" ? Infinity : options.width });
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
    // The create request the verdict is about: the pod's, or the controller's.
    const create = observations.find((o) => o.kind === "create" && o.resource !== "services" && o.status >= 300);
    if (create?.kind !== "create") return ExitCode.BadInput;
    // Forbidden by RBAC or unauthenticated is a matter of access, and so is a cluster that
    // could not decide (a webhook it cannot call); a refusal by admission or validation
    // (PodSecurity, LimitRange, quota, a policy or webhook, an invalid field) is the input's.
    const { cause } = describeRejection(create.status, create.object, create.namespace);
    return cause === "input" ? ExitCode.BadInput : ExitCode.ClusterAccess;
  }
  // A controller whose pods admission refuses (FailedCreate: "Error creating: pods ... is
  // forbidden: violates PodSecurity ...", maybe "(combined from similar events): " first):
  // the spec again, though the controller itself was admitted.
  if (v.phase === "controller" && v.causes.some((m) => refusedCreate(m) !== null)) return ExitCode.BadInput;
  return ExitCode.NotReady;
}
