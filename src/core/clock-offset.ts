/**
 * Estimating the apiserver's clock against the client's.
 *
 * The create round trip bounds it from both sides: the server stamped creationTimestamp
 * and the Date header while the request was in flight, between send and receive on the
 * client's clock, so offset ∈ [stamp - receivedAt, stamp + 1 s - sentAt). Every other
 * server stamp bounds it from below: what was stamped cannot arrive before it happened,
 * so offset ≥ stamp - arrivedAt. The estimate is 0 (synchronised clocks) when that is
 * consistent with every bound, otherwise the nearest bound; it is always shown.
 */
import type { ClockEstimate } from "./timeline.ts";
import type { ObservedRun } from "./observed-run.ts";
import { asRecord } from "./observed-run.ts";
import { parseHttpDate, parseServerTime, type ServerTime } from "./window.ts";

export function estimateClockOffset(run: ObservedRun): ClockEstimate {
  let lower = -Infinity;
  let upper = Infinity;
  // The request podtrace sent: the pod's, or the controller's that makes the pods.
  const create = run.podCreate ?? run.controllerCreate;
  if (create && create.status < 300) {
    const stamps: (ServerTime | null)[] = [
      parseHttpDate(create.serverDate),
      parseServerTime(asRecord(create.object["metadata"])["creationTimestamp"]),
    ];
    for (const s of stamps) {
      if (!s) continue;
      lower = Math.max(lower, s.ms - create.receivedAt);
      upper = Math.min(upper, s.ms + s.precisionMs - create.sentAt);
    }
  }
  // Only control-plane stamps with sub-second precision bound it usefully from below;
  // the scheduler's eventTime is the one every cluster writes.
  for (const e of run.events) {
    const t = parseServerTime(e.eventTime);
    if (t && t.precisionMs < 1000) lower = Math.max(lower, t.ms - e.firstArrivedAt);
  }
  const consistent = lower <= upper;
  let estimate: number;
  if (!Number.isFinite(lower) && !Number.isFinite(upper)) estimate = 0;
  else if (!consistent) estimate = (lower + upper) / 2;
  else estimate = Math.min(Math.max(0, lower), upper);
  return {
    serverMinusClientMs: round(estimate),
    lowerMs: Number.isFinite(lower) ? round(lower) : null,
    upperMs: Number.isFinite(upper) ? round(upper) : null,
    consistent,
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
