/**
 * Placing an instant from signals of different precision and clocks.
 *
 * Every signal about a boundary bounds the true instant: a one-second server stamp says
 * "in [s, s+1 s)" (widened by how far that server's clock may be from ours), a microsecond
 * eventTime says "in [s, s+1 µs)" (widened the same way), the arrival of the watch event
 * that first showed it says "no later than the arrival", the previous boundary of a causal
 * chain says "no earlier than that". Intersecting the windows bounds the boundary as
 * tightly as the signals allow. Inside that window it is placed at the best estimate a
 * signal offers: an exact one (a microsecond stamp moved by the estimated offset, a client
 * measurement), else an arrival less the watch's estimated one-way latency, else the middle
 * of a coarse stamp's window (then marked approximate when the window is wide).
 */

/** How much a signal's own estimate is worth: exact beats arrival beats coarse. */
export type EstimateQuality = "exact" | "arrival" | "coarse";

/** One signal about when a boundary happened, in the client's clock (epoch ms). */
export interface Signal {
  /** Human-readable origin, e.g. "event Scheduled eventTime" or "arrival of pod update". */
  source: string;
  /** Earliest possible instant (inclusive); -Infinity when the signal gives no lower bound. */
  earliest: number;
  /** Latest possible instant (inclusive); +Infinity when the signal gives no upper bound. */
  latest: number;
  /** The signal's own most likely instant, when it has one. */
  estimate?: number;
  quality?: EstimateQuality;
}

/** Where a boundary was placed, and why. */
export interface Placement {
  at: number;
  earliest: number;
  latest: number;
  /** The signals that bound it, most decisive first. */
  sources: string[];
  /** Signals contradicted each other (clock skew beyond the estimated offset). */
  inconsistent: boolean;
  /** Placed in the middle of a window wider than 100 ms: no signal bounds it tightly. */
  approximate?: boolean;
  /** What `at` rests on: a signal's estimate of that quality, or only a bound of the window. */
  quality: EstimateQuality | "bound";
}

/** Windows wider than this, with no better estimate than their middle, are approximate. */
export const APPROXIMATE_WIDER_THAN_MS = 100;

const QUALITY_RANK: Record<EstimateQuality | "bound", number> = { exact: 0, arrival: 1, coarse: 2, bound: 3 };

/** Whether an estimate of quality `a` is no better than one of quality `b`. */
export function noBetter(a: EstimateQuality | "bound", b: EstimateQuality | "bound"): boolean {
  return QUALITY_RANK[a] >= QUALITY_RANK[b];
}

export function place(signals: readonly Signal[]): Placement | null {
  const bounded = signals.filter((s) => Number.isFinite(s.earliest) || Number.isFinite(s.latest));
  if (bounded.length === 0) return null;
  let lower: Signal | undefined;
  let upper: Signal | undefined;
  let best: Signal | undefined;
  for (const s of bounded) {
    if (Number.isFinite(s.earliest) && (!lower || s.earliest > lower.earliest)) lower = s;
    if (Number.isFinite(s.latest) && (!upper || s.latest < upper.latest)) upper = s;
    if (s.estimate !== undefined && s.quality !== undefined && betterEstimate(s, best)) best = s;
  }
  const earliest = lower?.earliest ?? -Infinity;
  const latest = upper?.latest ?? Infinity;
  const sources = uniq([best?.source, upper?.source, lower?.source]);
  if (earliest > latest) {
    // The signals disagree: a server stamp from the future of its own arrival, beyond what
    // the clock estimate allows. Trust the upper bound (arrivals are on one monotonic
    // clock) and say so.
    return { at: latest, earliest: latest, latest, sources, inconsistent: true, quality: "bound" };
  }
  if (best && best.quality !== "coarse") {
    return { at: clamp(best.estimate!, earliest, latest), earliest, latest, sources, inconsistent: false, quality: best.quality! };
  }
  if (!Number.isFinite(latest)) return { at: earliest, earliest, latest: earliest, sources, inconsistent: false, quality: "bound" };
  // No lower bound: the causal chain (the previous boundary) supplies one later.
  if (!Number.isFinite(earliest)) return { at: latest, earliest: -Infinity, latest, sources, inconsistent: false, quality: "bound" };
  const at = best ? clamp(best.estimate!, earliest, latest) : (earliest + latest) / 2;
  return {
    at,
    earliest,
    latest,
    sources,
    inconsistent: false,
    quality: "coarse",
    ...(latest - earliest > APPROXIMATE_WIDER_THAN_MS ? { approximate: true } : {}),
  };
}

/** Exact beats arrival beats coarse; among arrivals the earliest is the tightest. */
function betterEstimate(s: Signal, best: Signal | undefined): boolean {
  if (!best) return true;
  const rank = QUALITY_RANK[s.quality!] - QUALITY_RANK[best.quality!];
  if (rank !== 0) return rank < 0;
  return s.quality === "arrival" ? s.estimate! < best.estimate! : s.latest - s.earliest < best.latest - best.earliest;
}

export function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}

function uniq(values: (string | undefined)[]): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined))];
}

/** Parsed server timestamp: RFC 3339 with an optional fraction that sets its precision. */
export interface ServerTime {
  ms: number;
  precisionMs: number;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;

export function parseServerTime(value: unknown): ServerTime | null {
  if (typeof value !== "string") return null;
  const m = RFC3339.exec(value);
  if (!m) return null;
  const whole = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(whole)) return null;
  const fraction = m[2] ?? "";
  const fractionMs = fraction ? Number(`0.${fraction}`) * 1000 : 0;
  return { ms: whole + fractionMs, precisionMs: fraction ? 1000 / 10 ** fraction.length : 1000 };
}

/** Parse an HTTP Date header (one-second precision). */
export function parseHttpDate(value: string | null | undefined): ServerTime | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : { ms, precisionMs: 1000 };
}

/** What is known of one clock against the client's: its offset lies in [lowerMs, upperMs]. */
export interface OffsetInterval {
  /** Estimated server clock minus client clock, ms. */
  estimateMs: number;
  lowerMs: number;
  upperMs: number;
}

/** A clock known to agree with the client's: for stamps whose writer is unknown in a test. */
export const SAME_CLOCK: OffsetInterval = { estimateMs: 0, lowerMs: 0, upperMs: 0 };

/**
 * The signal a server timestamp gives, on the client's clock: its precision window widened
 * by what is known of its writer's clock offset, with the middle of the window shifted by
 * the estimated offset as its estimate (exact for sub-millisecond stamps).
 */
export function stampSignal(source: string, stamp: ServerTime, clock: OffsetInterval): Signal {
  const exact = stamp.precisionMs <= 1;
  return {
    source: `${source} (${precisionLabel(stamp.precisionMs)})`,
    earliest: stamp.ms - clock.upperMs,
    latest: stamp.ms + stamp.precisionMs - clock.lowerMs,
    estimate: stamp.ms - clock.estimateMs + (exact ? 0 : stamp.precisionMs / 2),
    quality: exact ? "exact" : "coarse",
  };
}

/**
 * The signal an arrival gives: it happened no later than it was seen, most likely one
 * one-way latency of the watch earlier.
 */
export function arrivalSignal(source: string, arrivedAt: number, latencyMs = 0): Signal {
  return { source, earliest: -Infinity, latest: arrivedAt, estimate: arrivedAt - latencyMs, quality: "arrival" };
}

/** A causal predecessor: the boundary cannot be earlier than it. */
export function notBefore(source: string, at: number): Signal {
  return { source, earliest: at, latest: Infinity };
}

/** A client-side measurement (the create request sent): exact. */
export function clientInstant(source: string, at: number): Signal {
  return { source, earliest: at, latest: at, estimate: at, quality: "exact" };
}

export function precisionLabel(precisionMs: number): string {
  if (precisionMs >= 1000) return `${precisionMs / 1000} s`;
  if (precisionMs >= 1) return `${precisionMs} ms`;
  return `${Math.round(precisionMs * 1000)} µs`;
}
