/**
 * Fitting tables into a width: the generic column fitting and wrapping, then the timeline
 * and pod-set tables of every recording at terminal widths from 60 to 200 and unlimited
 * (-o wide): the frame holds (every table line as wide as the others, none wider than the
 * width) and nothing is lost except what is abbreviated with "…".
 */
import stringWidth from "string-width";
import { describe, expect, it } from "vitest";
import { analyse, render } from "../../src/cli/commands/output.ts";
import { fitColumns, frameWidth, tableWidth, truncate, wrapCommand, wrapProse, wrapText } from "../../src/render/columns.ts";
import { loadRecording, recordingNames } from "../support/recordings.ts";

describe("fitColumns", () => {
  const specs = [
    { natural: 20, min: 10, comfortable: 20, shrinkOrder: 2 },
    { natural: 8, min: 8, shrinkOrder: 9 },
    { natural: 30, min: 9, comfortable: 16, max: 60, shrinkOrder: 0, grow: true },
    { natural: 80, min: 12, comfortable: 24, shrinkOrder: 1 },
  ];

  it("keeps natural widths when they fit, and grows the growing column into spare room", () => {
    expect(fitColumns(specs, Infinity)).toEqual([20, 8, 30, 80]);
    // The waterfall grows to its maximum; the table need not fill the terminal.
    const wide = fitColumns(specs, 200);
    expect(wide).toEqual([20, 8, 60, 80]);
    expect(tableWidth(wide)).toBe(168 + frameWidth(4));
  });

  it("shrinks to comfortable widths first, in shrink order, then to the minimums", () => {
    const at100 = fitColumns(specs, 100);
    expect(tableWidth(at100)).toBe(100);
    // Room for 87 cells: the waterfall gives up 14 (to its comfortable 16), the details
    // the remaining 37; the label column, last in order, keeps its width.
    expect(at100).toEqual([20, 8, 16, 43]);
    const at70 = fitColumns(specs, 70);
    expect(tableWidth(at70)).toBe(70);
    // Room for 57: every column at its comfortable width (68) is too much: the waterfall
    // goes to its minimum (9), then the details (to 20).
    expect(at70).toEqual([20, 8, 9, 20]);
    for (const [i, w] of at100.entries()) expect(w).toBeGreaterThanOrEqual(specs[i]!.min);
  });

  it("returns the minimums when even they do not fit", () => {
    expect(fitColumns(specs, 20)).toEqual([10, 8, 9, 12]);
  });
});

describe("wrapping", () => {
  const details = "image 127.0.0.1:5000/bigimage:1, kubelet: pulled in 17 ms, 17 ms incl. waiting, size 41.0 MiB";

  it("wraps between details first, never past the width, and loses nothing", () => {
    for (const width of [12, 20, 30, 40, 60]) {
      const lines = wrapText(details, width, { breakAfter: [", "] });
      for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(width);
      expect(lines.join(" ").replace(/\s+/g, "")).toBe(details.replace(/\s+/g, ""));
    }
    expect(wrapText(details, 40, { breakAfter: [", "] })).toEqual([
      "image 127.0.0.1:5000/bigimage:1,",
      "kubelet: pulled in 17 ms,",
      "17 ms incl. waiting, size 41.0 MiB",
    ]);
  });

  it("abbreviates with … after maxLines", () => {
    const lines = wrapText(details, 24, { breakAfter: [", "], maxLines: 2 });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/…$/);
    expect(stringWidth(lines[1]!)).toBeLessThanOrEqual(24);
    expect(truncate("short", 10)).toBe("short");
    expect(truncate("a longer text", 8)).toBe("a longe…");
  });

  it("breaks words longer than the line after / - or :, else inside them", () => {
    expect(wrapText("127.0.0.1:5000/busybox:1", 16)).toEqual(["127.0.0.1:5000/", "busybox:1"]);
    expect(wrapText("aaaaaaaaaaaa", 5)).toEqual(["aaaaa", "aaaaa", "aa"]);
  });

  it("wraps prose with a hanging indent and commands with backslashes that still paste as one", () => {
    const prose = wrapProse("  cluster says: Failed to pull image: failed to resolve reference: connection refused", 40);
    expect(prose[0]).toMatch(/^ {2}cluster says:/);
    for (const l of prose.slice(1)) expect(l).toMatch(/^ {6}\S/);
    for (const l of prose) expect(stringWidth(l)).toBeLessThanOrEqual(40);
    const command = "  kubectl get events -n default --field-selector involvedObject.name=web-x7k2q --sort-by=.lastTimestamp";
    const lines = wrapCommand(command, 60);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines.slice(0, -1)) expect(l).toMatch(/ \\$/);
    for (const l of lines) expect(stringWidth(l)).toBeLessThanOrEqual(60);
    expect(lines.map((l) => l.replace(/ \\$/, "").trim()).join(" ")).toBe(command.trim());
  });
});

describe.each(recordingNames())("the table of recording %s", (name) => {
  const recording = loadRecording(name);
  const traced = analyse(recording.observations, recording.header.replicas ?? 1, []);
  const table = async (width: number, format: "table" | "wide" = "table") =>
    (await render(traced, format, { color: false, kept: true, quiet: false, width })).trimEnd().split("\n");

  it.each([60, 80, 100, 120, 200])("fits %i columns with its frame intact", async (width) => {
    const lines = await table(width);
    const frame = lines.filter((l) => /^[┌│└]/.test(l));
    expect(new Set(frame.map((l) => stringWidth(l))).size, frame.join("\n")).toBe(1);
    for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(width);
  });

  it("-o wide shows every detail on one line, whatever the width", async () => {
    const wide = await table(60, "wide");
    const frame = wide.filter((l) => /^[┌│└]/.test(l));
    expect(new Set(frame.map((l) => stringWidth(l))).size).toBe(1);
    // No row continues on a second line: every table line between head and foot has a phase.
    if (traced.kind === "pod") expect(frame.slice(2, -1).every((l) => /^│ [✓✗…·?] /.test(l))).toBe(true);
    // Nothing abbreviated: no cell ends in "…" (the in-progress mark "…" leads a label).
    expect(wide.join("\n")).not.toMatch(/…\s*│/);
  });
});
