/**
 * The client's clock: epoch milliseconds with a sub-millisecond fraction, from a monotonic
 * source, so arrival times never go backwards within a run even if the wall clock is
 * stepped. Every time podtrace records itself comes from here.
 */
export function clientNow(): number {
  return performance.timeOrigin + performance.now();
}
