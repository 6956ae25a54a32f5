/**
 * The client's clock: epoch milliseconds with a sub-millisecond fraction, from a monotonic
 * source, so arrival times never go backwards within a run even if the wall clock is
 * stepped. Every time podtrace records itself comes from here.
 *
 * It is anchored to the wall clock at the edge of one of its millisecond ticks: Node's
 * performance.timeOrigin can be several milliseconds off the wall clock, and the servers'
 * stamps (and, on one machine, the kubelet's and the apiserver's spans) are wall-clock
 * times. Waiting for the tick costs at most a millisecond, once.
 */
let anchor: number | null = null;

export function clientNow(): number {
  anchor ??= wallClockAnchor();
  return anchor + performance.now();
}

/** Epoch ms minus performance.now(), measured at the moment Date.now() ticks. */
function wallClockAnchor(): number {
  const start = Date.now();
  let now = start;
  let mono = performance.now();
  // Spin until the millisecond changes (at most ~1 ms), or give up after 5 ms.
  const limit = mono + 5;
  while (now === start && mono < limit) {
    mono = performance.now();
    now = Date.now();
  }
  return now === start ? performance.timeOrigin : now - mono;
}
