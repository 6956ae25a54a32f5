/**
 * What every timeline must satisfy, whatever the pod: no negative phase, and done phases
 * form one ordered chain (apart from containers running to completion side by side).
 */
import { expect } from "vitest";
import type { Timeline } from "../../src/core/timeline.ts";

export function expectOrderedChain(t: Timeline): void {
  let previousEnd = 0;
  for (const p of t.phases) {
    if (p.durationMs !== null) expect(p.durationMs, p.id).toBeGreaterThanOrEqual(0);
    if (p.status !== "done") continue;
    expect(p.start, p.id).not.toBeNull();
    expect(p.end, p.id).not.toBeNull();
    expect(p.start!.offsetMs, p.id).toBeGreaterThanOrEqual(0);
    expect(p.end!.offsetMs, p.id).toBeGreaterThanOrEqual(p.start!.offsetMs);
    expect(p.end!.sources.length, p.id).toBeGreaterThan(0);
    // A completing container's run overlaps what follows it: it is not part of the chain.
    if (p.kind === "container-run") continue;
    expect(p.end!.offsetMs, p.id).toBeGreaterThanOrEqual(previousEnd - 0.001);
    previousEnd = p.end!.offsetMs;
  }
}
