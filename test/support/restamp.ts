/**
 * Re-stamping a recorded run as if its node's clock had been off by a whole number of
 * seconds: every stamp the kubelet and the container runtime wrote (pod status times,
 * conditions other than the apiserver's PodScheduled, container start and finish times,
 * the kubelet's events, and the creation time client-go writes into their names) is
 * moved by that much. Whole seconds keep one-second stamps exact
 * (floor(t + n) = floor(t) + n); skews that are not whole seconds are recorded for real
 * through the kubelet clock-skew proxy instead.
 */
import type { Observation, RawObject } from "../../src/core/observation.ts";

export function restampNodeClock(observations: readonly Observation[], skewMs: number): Observation[] {
  if (skewMs % 1000 !== 0) throw new Error(`re-stamping keeps stamps exact only for whole seconds, not ${skewMs} ms`);
  return observations.map((o) => {
    if (o.kind !== "watch") return o;
    if (o.resource === "pods") return { ...o, object: restampPod(o.object, skewMs) };
    if ((o.resource === "events" || o.resource === "events.k8s.io") && isKubelets(o.object))
      return { ...o, object: restampEvent(o.object, skewMs) };
    return o;
  });
}

function isKubelets(event: RawObject): boolean {
  const source = (event["source"] ?? {}) as RawObject;
  return event["reportingController"] === "kubelet" || event["reportingComponent"] === "kubelet" || source["component"] === "kubelet";
}

function restampPod(pod: RawObject, skewMs: number): RawObject {
  const copy = structuredClone(pod);
  const status = (copy["status"] ?? {}) as RawObject;
  shift(status, "startTime", skewMs);
  for (const c of (status["conditions"] ?? []) as RawObject[]) {
    // The binding sets PodScheduled on the apiserver's clock.
    if (c["type"] === "PodScheduled") continue;
    shift(c, "lastTransitionTime", skewMs);
    shift(c, "lastProbeTime", skewMs);
  }
  for (const list of ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"]) {
    for (const c of (status[list] ?? []) as RawObject[]) {
      for (const which of ["state", "lastState"]) {
        const state = (c[which] ?? {}) as RawObject;
        for (const s of [state["running"], state["terminated"]] as (RawObject | undefined)[]) {
          if (!s) continue;
          shift(s, "startedAt", skewMs);
          shift(s, "finishedAt", skewMs);
        }
      }
    }
  }
  return copy;
}

function restampEvent(event: RawObject, skewMs: number): RawObject {
  const copy = structuredClone(event);
  // client-go names an Event after its creation time on the writer's clock: "<object>.<hex UnixNano>".
  const metadata = copy["metadata"] as RawObject;
  const name = String(metadata["name"] ?? "");
  const dot = name.lastIndexOf(".");
  if (dot > 0 && /^[0-9a-f]{12,16}$/.test(name.slice(dot + 1))) {
    metadata["name"] = `${name.slice(0, dot)}.${(BigInt(`0x${name.slice(dot + 1)}`) + BigInt(skewMs) * 1_000_000n).toString(16)}`;
  }
  for (const field of ["firstTimestamp", "lastTimestamp", "eventTime", "deprecatedFirstTimestamp", "deprecatedLastTimestamp"])
    shift(copy, field, skewMs);
  if (copy["series"]) shift(copy["series"] as RawObject, "lastObservedTime", skewMs);
  return copy;
}

function shift(object: RawObject, field: string, skewMs: number): void {
  const value = object[field];
  const m = typeof value === "string" ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(value) : null;
  if (!m) return;
  // Whole seconds: move the seconds, keep the fraction (an eventTime's microseconds) as written.
  object[field] = `${new Date(Date.parse(`${m[1]}Z`) + skewMs).toISOString().slice(0, 19)}${m[2] ?? ""}Z`;
}
