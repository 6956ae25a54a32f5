/**
 * Clocks that disagree: recorded runs re-stamped as if the node's clock ran whole seconds
 * behind or ahead of the apiserver's (test/support/restamp.ts). The node's offset is found
 * within its bounds, the timeline keeps its shape and its Ready, nothing lands before the
 * create request, and a skew beyond the stamps' precision is said.
 */
import { describe, expect, it } from "vitest";
import { estimateClocks, nodeClock } from "../../src/core/clock-offset.ts";
import { correlate } from "../../src/core/correlate.ts";
import { indexObservations } from "../../src/core/observed-run.ts";
import { expectTimelineInvariants } from "../support/invariants.ts";
import { loadRecording } from "../support/recordings.ts";
import { restampNodeClock } from "../support/restamp.ts";

const scenarios = ["one-container", "init-containers", "post-start-hook", "startup-probe", "service-endpoints"];

describe.each(scenarios)("%s with the node's clock off", (name) => {
  const { observations } = loadRecording(name);
  const original = correlate(observations);

  it.each([-2000, -1000, 1000, 2000])("by %i ms: same Ready, gapless, nothing before submit", (skew) => {
    const skewed = restampNodeClock(observations, skew);
    const t = correlate(skewed);
    expectTimelineInvariants(t);
    // Ready is placed by the arrival of the update that showed it: within the latency of
    // the original, however wrong the node's stamps.
    expect(Math.abs(t.readyAfterMs! - original.readyAfterMs!)).toBeLessThan(50);
    expect(t.phases.map((p) => p.id)).toEqual(original.phases.map((p) => p.id));
    // The node's offset interval holds the skew (less the time its stamps took to arrive).
    const node = t.clocks.find((k) => k.source === nodeClock(t.pod.node ?? ""))!;
    expect(node.consistent).toBe(true);
    expect(node.lowerMs!).toBeLessThanOrEqual(skew);
    expect(node.upperMs!).toBeGreaterThanOrEqual(skew);
    if (Math.abs(skew) >= 2000) {
      // Two seconds are beyond any one-second stamp's precision: it must be said.
      expect(t.warnings.join("\n")).toMatch(
        new RegExp(`the node ${t.pod.node} clock runs .* ${skew < 0 ? "behind" : "ahead of"} the apiserver's`),
      );
      expect(Math.sign(node.offsetMs)).toBe(Math.sign(skew));
    }
  });
});

describe("clock estimates", () => {
  it("on one machine every clock agrees: 0 is within every interval and no warning is given", () => {
    for (const name of scenarios) {
      const clocks = estimateClocks(indexObservations(loadRecording(name).observations));
      for (const k of clocks.sources) {
        expect(k.lowerMs!, `${name} ${k.source}`).toBeLessThanOrEqual(0);
        expect(k.upperMs!, `${name} ${k.source}`).toBeGreaterThanOrEqual(0);
        // Placed from precise stamps (the scheduler's eventTime, Events' name times): within
        // what the clocks may differ without a warning (the client clock of recordings made
        // before it was anchored to the wall clock was up to ~20 ms off).
        expect(Math.abs(k.offsetMs), `${name} ${k.source}`).toBeLessThan(50);
      }
      expect(correlate(loadRecording(name).observations).warnings.join("\n"), name).not.toMatch(/clock/);
    }
  });

  it("bounds the scheduler's clock tightly with its microsecond eventTime", () => {
    const clocks = estimateClocks(indexObservations(loadRecording("one-container").observations));
    const scheduler = clocks.sources.find((k) => k.source === "scheduler")!;
    expect(scheduler.upperMs! - scheduler.lowerMs!).toBeLessThan(100);
  });
});
