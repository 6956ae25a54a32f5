/**
 * Reading the collector's span file: OTLP JSON lines captured from the local cluster
 * (test/fixtures/spans), parsed exactly, with a line still being written left out and a
 * rotation followed.
 */
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { markSpans, nsToMs, parseSpanLines, readSpans, spansSince } from "../support/otel-spans.ts";
import { spanFixtureText } from "../support/span-fixtures.ts";

const text = spanFixtureText("startup-chain");
const lines = text.split("\n").filter(Boolean);

describe("parseSpanLines", () => {
  const spans = parseSpanLines(text);

  it("reads every span of every export request, with its service", () => {
    // Counted independently of the parser: every span object has a spanId and a startTimeUnixNano.
    expect(spans).toHaveLength(text.match(/"startTimeUnixNano"/g)!.length);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(["kubelet", "apiserver"]));
  });

  it("keeps nanoseconds exactly and milliseconds with their fraction", () => {
    const raw = JSON.parse(lines[0]!) as { resourceSpans: { scopeSpans: { spans: { startTimeUnixNano: string }[] }[] }[] };
    const ns = raw.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.startTimeUnixNano;
    const first = parseSpanLines(`${lines[0]}\n`)[0]!;
    expect(first.startNs).toBe(BigInt(ns));
    expect(first.startMs).toBeCloseTo(Number(ns.slice(0, -6)) + Number(ns.slice(-6)) / 1e6, 3);
    expect(nsToMs(1_795_465_678_751_731_234n) - 1_795_465_678_751).toBeCloseTo(0.731234, 3);
    for (const s of spans) {
      expect(s.endNs >= s.startNs, s.name).toBe(true);
      expect(s.durationMs).toBeCloseTo(s.endMs - s.startMs, 2);
    }
  });

  it("types attributes: strings, numbers from OTLP's string-encoded int64, booleans", () => {
    const sync = spans.find((s) => s.name === "syncPod")!;
    expect(typeof sync.attributes["k8s.pod.uid"]).toBe("string");
    const client = spans.find((s) => s.service === "kubelet" && s.name.startsWith("HTTP "))!;
    expect(typeof client.attributes["http.status_code"]).toBe("number");
    expect(spans.some((s) => s.links.length > 0)).toBe(true);
    expect(spans.filter((s) => s.parentSpanId === null).length).toBeGreaterThan(0);
  });

  it("leaves out a last line the sink is still writing", () => {
    const whole = parseSpanLines(`${lines[0]}\n`);
    expect(parseSpanLines(`${lines[0]}\n${lines[1]!.slice(0, 100)}`)).toEqual(whole);
  });

  it("names the line of anything that is not an export request", () => {
    expect(() => parseSpanLines(`${lines[0]}\n${lines[1]!.slice(0, 100)}\n`, "f")).toThrow(/^f:2: not JSON/);
    expect(() => parseSpanLines(`${lines[0]}\n{"x":1}\n`, "f")).toThrow(/^f:2: not an OTLP export request/);
  });
});

describe("the span file", () => {
  let dir = "";
  let file = "";
  beforeEach(() => {
    dir = mkdtempSync(`${tmpdir()}/otel-spans-`);
    file = `${dir}/spans.jsonl`;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const count = (l: string) => parseSpanLines(`${l}\n`).length;

  it("returns what was appended since a mark, complete lines only", () => {
    writeFileSync(file, `${lines[0]}\n`);
    const mark = markSpans(file);
    expect(spansSince(mark)).toEqual([]);
    appendFileSync(file, `${lines[1]}\n${lines[2]!.slice(0, 50)}`);
    expect(spansSince(mark)).toHaveLength(count(lines[1]!));
    expect(readSpans(file)).toHaveLength(count(lines[0]!) + count(lines[1]!));
  });

  it("follows a rotation to FILE.1", () => {
    writeFileSync(file, `${lines[0]}\n`);
    const mark = markSpans(file);
    appendFileSync(file, `${lines[1]}\n`);
    renameSync(file, `${file}.1`);
    writeFileSync(file, `${lines[2]}\n`);
    expect(spansSince(mark)).toHaveLength(count(lines[1]!) + count(lines[2]!));
    expect(readSpans(file)).toHaveLength(count(lines[0]!) + count(lines[1]!) + count(lines[2]!));
  });

  it("reads a file that did not exist at the mark from its start", () => {
    const mark = markSpans(file);
    expect(spansSince(mark)).toEqual([]);
    writeFileSync(file, `${lines[0]}\n`);
    expect(spansSince(mark)).toHaveLength(count(lines[0]!));
  });
});
