/**
 * Placing an instant from signals of different precision and clocks.
 *
 * Every signal about a boundary bounds the true instant: a one-second server stamp says
 * "in [s, s+1 s)", a microsecond eventTime says "in [s, s+1 µs)", the arrival of the watch
 * event that first showed it says "no later than the arrival", the previous boundary of a
 * causal chain says "no earlier than that". Intersecting the windows places the boundary as
 * tightly as the signals allow; the estimate is the tight upper bound when one exists (an
 * arrival on loopback lags the change by milliseconds) and the window's middle otherwise.
 */

/** One signal about when a boundary happened, in the client's clock (epoch ms). */
export interface Signal {
  /** Human-readable origin, e.g. "event Scheduled eventTime" or "arrival of pod update". */
  source: string;
  /** Earliest possible instant (inclusive); -Infinity when the signal gives no lower bound. */
  earliest: number;
  /** Latest possible instant (inclusive); +Infinity when the signal gives no upper bound. */
  latest: number;
  /**
   * Whether `latest` is itself a likely value of the instant (an arrival, a precise stamp,
   * a causal successor) rather than only the end of a coarse stamp's window.
   */
  tightUpper: boolean;
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
}

export function place(signals: readonly Signal[]): Placement | null {
  const bounded = signals.filter((s) => Number.isFinite(s.earliest) || Number.isFinite(s.latest));
  if (bounded.length === 0) return null;
  let lower: Signal | undefined;
  let upper: Signal | undefined;
  for (const s of bounded) {
    if (Number.isFinite(s.earliest) && (!lower || s.earliest > lower.earliest)) lower = s;
    if (Number.isFinite(s.latest) && (!upper || s.latest < upper.latest)) upper = s;
  }
  const earliest = lower?.earliest ?? -Infinity;
  const latest = upper?.latest ?? Infinity;
  const sources = uniq([upper?.source, lower?.source]);
  if (earliest > latest) {
    // The signals disagree: a server stamp from the future of its own arrival. Trust the
    // upper bound (arrivals are on one monotonic clock) and say so.
    return { at: latest, earliest: latest, latest, sources, inconsistent: true };
  }
  if (!Number.isFinite(latest)) return { at: earliest, earliest, latest: earliest, sources, inconsistent: false };
  // No lower bound: the causal chain (the previous boundary) supplies one later.
  if (!Number.isFinite(earliest)) return { at: latest, earliest: -Infinity, latest, sources, inconsistent: false };
  if (upper?.tightUpper) return { at: latest, earliest, latest, sources, inconsistent: false };
  return {
    at: (earliest + latest) / 2,
    earliest,
    latest,
    sources,
    inconsistent: false,
    ...(latest - earliest > 100 ? { approximate: true } : {}),
  };
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

/** The signal a server timestamp gives, moved to the client's clock by the offset. */
export function stampSignal(source: string, stamp: ServerTime, serverMinusClientMs: number): Signal {
  const start = stamp.ms - serverMinusClientMs;
  return {
    source: `${source} (${precisionLabel(stamp.precisionMs)})`,
    earliest: start,
    latest: start + stamp.precisionMs,
    tightUpper: stamp.precisionMs <= 1,
  };
}

/** The signal an arrival gives: it happened no later than it was seen. */
export function arrivalSignal(source: string, arrivedAt: number): Signal {
  return { source, earliest: -Infinity, latest: arrivedAt, tightUpper: true };
}

/** A causal predecessor: the boundary cannot be earlier than it. */
export function notBefore(source: string, at: number): Signal {
  return { source, earliest: at, latest: Infinity, tightUpper: false };
}

export function precisionLabel(precisionMs: number): string {
  if (precisionMs >= 1000) return `${precisionMs / 1000} s`;
  if (precisionMs >= 1) return `${precisionMs} ms`;
  return `${Math.round(precisionMs * 1000)} µs`;
}
