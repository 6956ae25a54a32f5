/**
 * What every timeline must satisfy, whatever the pod, checked on every recording and on
 * every live end-to-end run:
 * - the critical path is gapless: each observed step starts where the previous observed
 *   step ended, from the create request on, so the durations add up to the total;
 * - Ready (or completion) and endpoints published are ends of critical steps;
 * - no boundary before the create request, no negative duration;
 * - every boundary inside the window it reports.
 */
import { expect } from "vitest";
import type { Phase, Timeline } from "../../src/core/timeline.ts";

/** The critical path's steps that were observed, in order. */
export function criticalSteps(t: Timeline): Phase[] {
  return t.phases.filter((p) => p.onCriticalPath && p.status !== "unobserved" && p.status !== "not-reached" && p.start !== null);
}

export function expectTimelineInvariants(t: Timeline): void {
  expectGaplessCriticalPath(t);
  expectBoundariesInsideWindows(t);
}

export function expectGaplessCriticalPath(t: Timeline): void {
  const steps = criticalSteps(t);
  let previousEnd = 0;
  let sum = 0;
  for (const p of steps) {
    expect(p.start, p.id).not.toBeNull();
    // Each step starts exactly where the last observed one ended: no hole, no overlap.
    expect(p.start!.offsetMs, `${p.id} starts where the step before it ended`).toBeCloseTo(previousEnd, 3);
    if (p.end === null) {
      // Only the step the pod is stuck in has no end, and it is the last one.
      expect(p, `${p.id} is the last observed step`).toBe(steps.at(-1));
      continue;
    }
    expect(p.durationMs, p.id).not.toBeNull();
    expect(p.durationMs!, p.id).toBeGreaterThanOrEqual(0);
    expect(p.durationMs!, `${p.id}: duration = end - start`).toBeCloseTo(p.end.offsetMs - p.start!.offsetMs, 2);
    sum += p.durationMs!;
    previousEnd = p.end.offsetMs;
  }
  // The sum of the durations is the total.
  expect(sum, "sum of critical durations").toBeCloseTo(previousEnd, 1);
  const ends = steps.filter((p) => p.end).map((p) => p.end!.offsetMs);
  for (const [what, total] of [
    ["ready", t.readyAfterMs],
    ["completed", t.completedAfterMs],
    ["endpoints", t.endpointsAfterMs],
  ] as const) {
    if (total === null || (what === "ready" && t.completedAfterMs !== null)) continue;
    expect(
      ends.some((e) => Math.abs(e - total) < 0.01),
      `${what} after ${total} ms is the end of a critical step`,
    ).toBe(true);
    const upTo = steps.filter((p) => p.end && p.end.offsetMs <= total + 0.01).reduce((n, p) => n + p.durationMs!, 0);
    expect(upTo, `the critical steps up to ${what} add up to it`).toBeCloseTo(total, 1);
  }
  // Unobserved steps lie between observed ones; nothing is in progress after a not-reached step.
  const statuses = t.phases.filter((p) => p.onCriticalPath).map((p) => p.status);
  const lastDone = statuses.lastIndexOf("done");
  statuses.forEach((s, i) => {
    if (s === "unobserved") expect(i, "an unobserved step precedes an observed one").toBeLessThan(lastDone);
  });
}

export function expectBoundariesInsideWindows(t: Timeline): void {
  for (const p of t.phases) {
    if (p.durationMs !== null) expect(p.durationMs, p.id).toBeGreaterThanOrEqual(0);
    for (const b of [p.start, p.end]) {
      if (!b) continue;
      expect(b.offsetMs, `${p.id}: no boundary before the create request`).toBeGreaterThanOrEqual(0);
      expect(b.sources.length, p.id).toBeGreaterThan(0);
      if (b.windowMs) {
        expect(b.offsetMs, `${p.id}: inside its window ${b.windowMs.join("..")}`).toBeGreaterThanOrEqual(b.windowMs[0] - 0.01);
        expect(b.offsetMs, `${p.id}: inside its window ${b.windowMs.join("..")}`).toBeLessThanOrEqual(b.windowMs[1] + 0.01);
        expect(b.uncertaintyMs).toBeCloseTo(b.windowMs[1] - b.windowMs[0], 1);
      }
    }
  }
}

/** The longest the phase can have taken, by the windows of its boundaries. */
export function longestPossibleMs(p: Phase): number {
  if (!p.start?.windowMs || !p.end?.windowMs) return p.durationMs ?? 0;
  return p.end.windowMs[1] - p.start.windowMs[0];
}
