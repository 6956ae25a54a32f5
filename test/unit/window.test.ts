/**
 * Placing one instant from signals (window.ts): pure arithmetic on windows, so the inputs
 * are numbers, not cluster objects.
 */
import { describe, expect, it } from "vitest";
import { arrivalSignal, clientInstant, notBefore, parseServerTime, place, SAME_CLOCK, stampSignal } from "../../src/core/window.ts";

const second = (ms: number) => ({ ms, precisionMs: 1000 });

describe("place", () => {
  it("reads the precision of a server timestamp from its fraction", () => {
    expect(parseServerTime("2026-11-23T13:21:15Z")).toEqual({ ms: Date.parse("2026-11-23T13:21:15Z"), precisionMs: 1000 });
    expect(parseServerTime("2026-11-23T13:21:15.123456Z")?.precisionMs).toBeCloseTo(0.001);
    expect(parseServerTime(null)).toBeNull();
  });

  it("intersects a one-second stamp with an arrival, placed at the arrival less the latency", () => {
    const stamp = stampSignal("stamp", second(1000), SAME_CLOCK);
    expect(place([stamp, arrivalSignal("arrival", 1400, 3)])).toMatchObject({ at: 1397, earliest: 1000, latest: 1400 });
    // Without a tighter signal: the middle of the stamp's window, marked approximate.
    expect(place([stamp])).toMatchObject({ at: 1500, approximate: true });
  });

  it("trusts the arrival when a stamp claims to be from after it, and says so", () => {
    const stamp = stampSignal("stamp", second(1000), SAME_CLOCK);
    expect(place([stamp, arrivalSignal("arrival", 900)])).toMatchObject({ at: 900, inconsistent: true });
  });

  it("widens a stamp's window by its clock's offset interval and shifts its estimate by the estimate", () => {
    const clock = { estimateMs: -500, lowerMs: -700, upperMs: -300 };
    const s = stampSignal("stamp", second(1000), clock);
    expect(s).toMatchObject({ earliest: 1300, latest: 2700, estimate: 2000, quality: "coarse" });
    const precise = stampSignal("eventTime", { ms: 1000, precisionMs: 0.001 }, clock);
    expect(precise).toMatchObject({ estimate: 1500, quality: "exact" });
  });

  it("prefers an exact estimate over an arrival, within the window", () => {
    const precise = stampSignal("eventTime", { ms: 1010, precisionMs: 0.001 }, SAME_CLOCK);
    expect(place([precise, arrivalSignal("arrival", 1030)])?.at).toBe(1010);
    expect(place([clientInstant("sent", 5)])).toMatchObject({ at: 5, earliest: 5, latest: 5 });
  });

  it("places a signal with only an upper or only a lower bound at that bound", () => {
    expect(place([arrivalSignal("arrival", 5)])).toMatchObject({ at: 5, earliest: -Infinity });
    expect(place([notBefore("previous", 7)])).toMatchObject({ at: 7, latest: 7 });
    expect(place([])).toBeNull();
  });
});
