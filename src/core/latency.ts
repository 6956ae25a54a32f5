/**
 * The one-way latency between the apiserver and podtrace. A watch event arrives that long
 * after the change it shows; on loopback it is a fraction of a millisecond, on a remote
 * cluster tens of milliseconds, which would otherwise be counted in the phase before it.
 *
 * Half the quickest round trip of a plain request (a list with limit 1, the server
 * version: little work on the server) estimates it from above. Recordings without such
 * requests estimate nothing: 0.
 */
import type { ObservedRun } from "./observed-run.ts";
import type { Timeline } from "./timeline.ts";

export function estimateLatency(run: ObservedRun): Timeline["latency"] {
  let quickest = Infinity;
  for (const r of run.requests) if (r.status < 500) quickest = Math.min(quickest, r.receivedAt - r.sentAt);
  if (!Number.isFinite(quickest)) return { oneWayMs: 0, roundTripMs: null };
  return { oneWayMs: round(Math.max(0, quickest) / 2), roundTripMs: round(quickest) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
