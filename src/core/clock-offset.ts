/**
 * The clocks behind the stamps: one offset estimate per writer of timestamps (the
 * apiserver, the scheduler, each node's kubelet and runtime, the controller-manager),
 * against the client's clock.
 *
 * A stamp s of precision p written by clock X at true instant t (client clock) satisfies
 * s ≤ t + offset_X < s + p. Every stamp's instant is bounded on the client's clock: it
 * happened after the create request was sent (nothing of the pod exists before) and no
 * later than the arrival of the first observation that carried it. Each stamp therefore
 * bounds the offset to (s - arrival, s + p - sent); the intersection over all stamps of a
 * clock is what the observations allow. The create round trip bounds the apiserver from
 * both sides; a node's clock is bounded tightly from below (its stamps arrive soon after
 * they were written) and loosely from above (nothing the client does tells when the
 * kubelet began), so stamp windows are widened by that interval rather than shifted by one
 * point. The estimate is the apiserver's own for every clock whose interval allows it (a
 * cluster's clocks usually agree); otherwise the nearest bound, with a warning.
 */
import { asArray, asRecord, str, type ObservedRun, type SeenEvent } from "./observed-run.ts";
import type { RawObject } from "./observation.ts";
import { containerStatus, containersInStartOrder, nodeName } from "./pod-status.ts";
import type { ClockEstimate, ClockSource } from "./timeline.ts";
import { parseHttpDate, parseServerTime, type OffsetInterval, type ServerTime } from "./window.ts";

/** One stamp and the client-clock window its instant lies in. */
interface StampBound {
  clock: string;
  stamp: ServerTime;
  notBefore: number;
  notAfter: number;
}

export const APISERVER = "apiserver";
export const SCHEDULER = "scheduler";
export const CONTROLLER_MANAGER = "controller-manager";

/** The clock of a node's kubelet and container runtime. */
export function nodeClock(node: string): string {
  return `node ${node || "(unknown)"}`;
}

/** Which clock wrote an Event's stamps. */
export function eventClock(e: SeenEvent, podNode: string): string {
  if (e.reportingComponent === "kubelet") return nodeClock(e.host || podNode);
  if (e.reportingComponent === "default-scheduler" || /scheduler/.test(e.reportingComponent)) return SCHEDULER;
  return CONTROLLER_MANAGER;
}

/** The clock estimates of a run, by clock name. */
export interface Clocks {
  sources: ClockSource[];
  /** The apiserver's, in the timeline's long-standing shape. */
  apiserver: ClockEstimate;
  /** A clock's offset interval; an unknown clock gets the apiserver's estimate with no bound. */
  interval(clock: string): OffsetInterval;
}

/**
 * How long after its writer stamped it the quickest of a clock's precise stamps (an Event's
 * name time, the scheduler's eventTime) reaches podtrace, beyond the watch's one-way
 * latency: the tightest bound comes from that one, and on the local cluster the quickest
 * Event arrives within about half a millisecond (most take 3 to 10 ms, measured against the
 * kubelet's spans).
 */
export const PRECISE_STAMP_DELIVERY_MS = 0.5;

/**
 * `latencyMs`: the watch's estimated one-way latency. A clock with precise stamps is
 * placed from them: their tightest bound (the stamp that arrived soonest after it was
 * written) plus the usual delivery, which finds a node that runs half a second behind
 * although one-second stamps alone would allow it to agree.
 */
export function estimateClocks(run: ObservedRun, latencyMs = 0): Clocks {
  const bounds = collectStampBounds(run);
  const byClock = new Map<string, { lower: number; upper: number; stamps: number; preciseLower: number }>();
  for (const b of bounds) {
    const entry = byClock.get(b.clock) ?? { lower: -Infinity, upper: Infinity, stamps: 0, preciseLower: -Infinity };
    entry.lower = Math.max(entry.lower, b.stamp.ms - b.notAfter);
    entry.upper = Math.min(entry.upper, b.stamp.ms + b.stamp.precisionMs - b.notBefore);
    if (b.stamp.precisionMs < 1) entry.preciseLower = Math.max(entry.preciseLower, b.stamp.ms - b.notAfter);
    entry.stamps++;
    byClock.set(b.clock, entry);
  }
  const api = byClock.get(APISERVER) ?? { lower: -Infinity, upper: Infinity, stamps: 0 };
  // The client's clock is assumed to agree with the apiserver's when nothing says otherwise.
  const apiEstimate = estimateWithin(api.lower, api.upper, 0);
  const sources: ClockSource[] = [];
  for (const [clock, b] of [...byClock].sort(([a], [b]) => clockOrder(a) - clockOrder(b))) {
    const target =
      clock === APISERVER ? 0 : Number.isFinite(b.preciseLower) ? b.preciseLower + latencyMs + PRECISE_STAMP_DELIVERY_MS : apiEstimate;
    const estimate = estimateWithin(b.lower, b.upper, target);
    sources.push({
      source: clock,
      offsetMs: round(estimate),
      lowerMs: Number.isFinite(b.lower) ? round(b.lower) : null,
      upperMs: Number.isFinite(b.upper) ? round(b.upper) : null,
      consistent: b.lower <= b.upper,
      stamps: b.stamps,
    });
  }
  const apiSource = sources.find((s) => s.source === APISERVER);
  const apiserver: ClockEstimate = {
    serverMinusClientMs: apiSource?.offsetMs ?? 0,
    lowerMs: apiSource?.lowerMs ?? null,
    upperMs: apiSource?.upperMs ?? null,
    consistent: apiSource?.consistent ?? true,
  };
  const interval = (clock: string): OffsetInterval => {
    const s = sources.find((x) => x.source === clock);
    if (!s) return { estimateMs: apiserver.serverMinusClientMs, lowerMs: -Infinity, upperMs: Infinity };
    // Contradictory stamps: no interval holds them all; trust the estimate alone.
    if (!s.consistent) return { estimateMs: s.offsetMs, lowerMs: s.offsetMs, upperMs: s.offsetMs };
    return { estimateMs: s.offsetMs, lowerMs: s.lowerMs ?? -Infinity, upperMs: s.upperMs ?? Infinity };
  };
  return { sources, apiserver, interval };
}

/**
 * Warnings about clocks: a clock whose stamps contradict each other, or one estimated
 * further from the apiserver's than its stamps' precision and their delivery explain.
 */
export function clockWarnings(clocks: Clocks): string[] {
  const warnings: string[] = [];
  const api = clocks.apiserver.serverMinusClientMs;
  for (const s of clocks.sources) {
    if (!s.consistent) {
      warnings.push(
        `the ${s.source} clock's stamps contradict each other by ${Math.round((s.lowerMs ?? 0) - (s.upperMs ?? 0))} ms (a clock stepped during the run?): its stamps are placed at ${Math.round(s.offsetMs)} ms`,
      );
      continue;
    }
    if (s.source === APISERVER) continue;
    const delta = s.offsetMs - api;
    if (Math.abs(delta) > CLOCK_WARNING_MS) {
      const bounds = `${fmt((s.lowerMs ?? -Infinity) - api)} to ${fmt((s.upperMs ?? Infinity) - api)} ms`;
      warnings.push(
        `the ${s.source} clock runs about ${Math.round(Math.abs(delta))} ms ${delta < 0 ? "behind" : "ahead of"} the apiserver's (its stamps allow ${bounds}): its stamps are placed by that estimate and their windows widened by what they allow`,
      );
    }
  }
  return warnings;
}

/** Clocks closer than this to the apiserver's are taken to agree: delivery times vary by as much. */
const CLOCK_WARNING_MS = 50;

function fmt(ms: number): string {
  return Number.isFinite(ms) ? String(Math.round(ms)) : "?";
}

function estimateWithin(lower: number, upper: number, target: number): number {
  if (!Number.isFinite(lower) && !Number.isFinite(upper)) return target;
  if (lower > upper) return (lower + upper) / 2;
  return Math.min(Math.max(target, lower), upper);
}

function clockOrder(clock: string): number {
  return clock === APISERVER ? 0 : clock === SCHEDULER ? 1 : clock === CONTROLLER_MANAGER ? 3 : 2;
}

/** Every stamp of the run with the client-clock window its instant lies in. */
function collectStampBounds(run: ObservedRun): StampBound[] {
  const bounds: StampBound[] = [];
  const create = run.podCreate ?? run.controllerCreate;
  if (!create || create.status >= 300) return bounds;
  const sent = create.sentAt;
  const add = (clock: string, value: unknown, notAfter: number, parse: (v: string) => ServerTime | null = parseServerTime) => {
    const stamp = typeof value === "string" ? parse(value) : null;
    if (stamp) bounds.push({ clock, stamp, notBefore: sent, notAfter });
  };
  // The create request: stamped while it was in flight.
  add(APISERVER, create.serverDate, create.receivedAt, parseHttpDate);
  add(APISERVER, asRecord(create.object["metadata"])["creationTimestamp"], create.receivedAt);

  const seen = new Set<string>();
  const once = (key: string) => (seen.has(key) ? false : (seen.add(key), true));
  for (const snapshot of run.pods) {
    if (snapshot.type === "DELETED") continue;
    const pod = snapshot.pod;
    const node = nodeClock(nodeName(pod));
    const at = snapshot.arrivedAt;
    const created = asRecord(pod["metadata"])["creationTimestamp"];
    if (once(`created ${str(created)}`)) add(APISERVER, created, at);
    const status = asRecord(pod["status"]);
    if (once(`startTime ${str(status["startTime"])}`)) add(node, status["startTime"], at);
    for (const c of asArray(status["conditions"])) {
      const stamp = c["lastTransitionTime"];
      if (!once(`condition ${str(c["type"])} ${str(stamp)}`)) continue;
      // The binding stamps PodScheduled on the apiserver; the kubelet every other condition.
      add(str(c["type"]) === "PodScheduled" ? APISERVER : node, stamp, at);
    }
    for (const c of containersInStartOrder(pod)) {
      for (const state of containerStates(containerStatus(pod, c))) {
        for (const field of ["startedAt", "finishedAt"]) {
          const stamp = state[field];
          if (once(`${c.name} ${field} ${str(stamp)}`)) add(node, stamp, at);
        }
      }
    }
  }
  const podNode = nodeName(run.pods.at(-1)?.pod ?? {});
  for (const e of run.events) {
    const clock = eventClock(e, podNode);
    const precise = parseServerTime(e.eventTime);
    // A repeated event first seen late says nothing about when it first happened.
    if (precise) add(clock, e.eventTime, e.firstArrivedAt);
    else if (e.firstCount <= 1) add(clock, e.firstTimestamp, e.firstArrivedAt);
    // The nanosecond creation time in its name bounds its writer's clock as tightly.
    if (e.nameTime !== null && !precise && e.firstCount <= 1)
      bounds.push({ clock, stamp: { ms: e.nameTime, precisionMs: 0.001 }, notBefore: sent, notAfter: e.firstArrivedAt });
  }
  return bounds;
}

function containerStates(status: RawObject | null): RawObject[] {
  const state = asRecord(status?.["state"]);
  return [asRecord(state["running"]), asRecord(state["terminated"])];
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
