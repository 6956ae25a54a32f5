/**
 * The boundary chain (chain.ts) on its own: settling orders marks placed from
 * contradicting signals, and the phases tile the time between observed ends. Pure
 * arithmetic on placed instants, so the inputs are numbers.
 */
import { describe, expect, it } from "vitest";
import { BoundaryChain, type Mark, type PhaseDraft } from "../../src/core/chain.ts";

function mark(at: number, earliest: number, latest: number, quality: Mark["quality"] = "arrival"): Mark {
  return { at, earliest, latest, sources: [`mark at ${at}`], inconsistent: false, quality };
}

const step = (id: string): PhaseDraft => ({ id, kind: "container-start", label: id, details: {} });

describe("boundary chain", () => {
  it("tiles the steps end to end from the submit mark", () => {
    const chain = new BoundaryChain(mark(0, 0, 0, "exact"));
    chain.step(step("a"), mark(10, 0, 10));
    chain.step(step("b"), mark(25, 0, 25));
    chain.settle();
    const phases = chain.phases();
    expect(phases.map((p) => [p.draft.id, p.start?.at, p.end?.at, p.status])).toEqual([
      ["a", 0, 10, "done"],
      ["b", 10, 25, "done"],
    ]);
  });

  it("pulls a boundary known only by a bound back to its successor's estimate", () => {
    const chain = new BoundaryChain(mark(0, 0, 0, "exact"));
    const sandbox = mark(900, -Infinity, 900, "bound");
    const pulled = mark(430, -Infinity, 440);
    chain.step(step("sandbox"), sandbox);
    chain.step(step("pull"), pulled);
    chain.settle();
    expect(sandbox.at).toBe(430);
    expect(sandbox.latest).toBe(440);
    expect(sandbox.earliest).toBe(0);
  });

  it("pushes a better-known predecessor's successor up instead, and says so", () => {
    const chain = new BoundaryChain(mark(0, 0, 0, "exact"));
    const created = mark(29, 0, 29, "exact");
    const scheduled = mark(20, -Infinity, 38);
    chain.step(step("admission"), created);
    chain.step(step("scheduling"), scheduled);
    chain.settle();
    expect(created.at).toBe(29);
    expect(scheduled.at).toBe(29);
    expect(scheduled.sources).toContain("not before the previous boundary");
  });

  it("marks a step with no end before an observed one as unobserved, the first open one in progress", () => {
    const chain = new BoundaryChain(mark(0, 0, 0, "exact"));
    chain.step(step("pull"), null);
    chain.step(step("start"), mark(50, 0, 50));
    chain.step(step("run"), null);
    chain.step(step("ready"), null);
    chain.settle();
    expect(chain.phases().map((p) => [p.draft.id, p.status, p.start?.at ?? null])).toEqual([
      ["pull", "unobserved", null],
      ["start", "done", 0],
      ["run", "in-progress", 50],
      ["ready", "not-reached", null],
    ]);
  });

  it("never places a boundary before the create request", () => {
    const chain = new BoundaryChain(mark(100, 100, 100, "exact"));
    const early = mark(40, 0, 60, "coarse");
    chain.step(step("a"), early);
    chain.settle();
    expect(early.at).toBe(100);
    expect(early.earliest).toBe(100);
    expect(early.latest).toBeGreaterThanOrEqual(100);
  });
});
