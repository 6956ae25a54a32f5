/**
 * The kubelet's own pod start-up measure, and podtrace's figure defined the same way, so
 * the two can be compared (the benchmark, and the accuracy end-to-end test).
 *
 * The kubelet's histograms kubelet_pod_start_total_duration_seconds and
 * kubelet_pod_start_sli_duration_seconds run from the pod's creationTimestamp (as stored,
 * whole seconds) to the moment the kubelet's own watch shows every container running; the
 * SLI leaves out the span from the first image pull's start to the last one's end. For one
 * pod started between two scrapes, the change of their _sum is that pod's value.
 */
import { indexObservations } from "../../src/core/observed-run.ts";
import type { Observation, RawObject } from "../../src/core/observation.ts";
import type { Timeline } from "../../src/core/timeline.ts";
import { parseServerTime } from "../../src/core/window.ts";

export interface StartupSeconds {
  sli: number;
  total: number;
}

/**
 * The two histograms' _sum from the kubelet's metrics text (Prometheus exposition format).
 * They are vectors: a kubelet that has started no pod yet (a fresh node) has no series, 0.
 */
export function kubeletSums(metrics: string): StartupSeconds {
  const sum = (name: string) => Number(new RegExp(`^${name}_sum(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(metrics)?.[1] ?? 0);
  return { sli: sum("kubelet_pod_start_sli_duration_seconds"), total: sum("kubelet_pod_start_total_duration_seconds") };
}

/** podtrace's figures, defined as the kubelet defines its own, from one run's observations and timeline. */
export function podtraceKubeletStyle(observations: readonly Observation[], t: Timeline): StartupSeconds {
  const run = indexObservations(observations);
  const created = parseServerTime((run.podCreate?.object["metadata"] as RawObject)["creationTimestamp"])!.ms;
  const running = run.pods.find((p) => {
    const statuses = ((p.pod["status"] as RawObject | undefined)?.["containerStatuses"] ?? []) as RawObject[];
    return statuses.length > 0 && statuses.every((s) => (s["state"] as RawObject | undefined)?.["running"] !== undefined);
  });
  if (!running) throw new Error("no pod update showed every container running");
  const total = (running.arrivedAt - created) / 1000;
  const pulls = t.phases.filter((p) => p.kind === "image-pull" && p.status === "done" && !p.details["alreadyPresent"]);
  const pulling = pulls.length
    ? (Math.max(...pulls.map((p) => p.end!.offsetMs)) - Math.min(...pulls.map((p) => p.start!.offsetMs))) / 1000
    : 0;
  return { sli: total - pulling, total };
}
