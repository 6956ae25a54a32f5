/**
 * Reading the spans the local cluster's OpenTelemetry collector kept (hack/otel-collector.sh):
 * one OTLP JSON line per export request ({"resourceSpans": [...]}, the format of the
 * OpenTelemetry file exporter), appended by hack/tools/otlp-sink to SPANS_FILE and rotated
 * to SPANS_FILE.1 when it grows large.
 *
 * Times are kept exact (nanoseconds since the epoch, as bigint) and as epoch milliseconds
 * with the sub-millisecond fraction (a double holds them to about 0.2 µs), the unit
 * podtrace's observations use. Every span carries its resource's service.name ("kubelet",
 * "apiserver"), its scope (which instrumentation made it: otelgrpc for CRI calls, otelhttp
 * for API requests, the kubelet itself for syncPod) and its links: the apiserver starts a
 * new trace for requests of clients outside system:masters and links it to the client's
 * span instead of continuing the client's trace.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";

export const SPANS_FILE = process.env["PODTRACE_SPANS_FILE"] ?? "/var/lib/podtrace-cluster/otel/spans.jsonl";

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export interface SpanEvent {
  name: string;
  timeNs: bigint;
  timeMs: number;
  attributes: Attributes;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
}

export interface Span {
  /** service.name of the emitting process: "kubelet", "apiserver". */
  service: string;
  resource: Attributes;
  /** The instrumentation scope's name. */
  scope: string;
  traceId: string;
  spanId: string;
  /** null for a trace's root span. */
  parentSpanId: string | null;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  /** Epoch milliseconds with the sub-millisecond fraction. */
  startMs: number;
  endMs: number;
  durationMs: number;
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
}

// --- OTLP JSON -----------------------------------------------------------------------------

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  bytesValue?: string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpKeyValue[];
  events?: { name: string; timeUnixNano: string | number; attributes?: OtlpKeyValue[] }[];
  links?: { traceId: string; spanId: string }[];
  status?: { code?: number; message?: string };
}
interface OtlpExportTraceRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[];
  }[];
}

function anyValue(v: OtlpAnyValue | undefined): AttributeValue {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  // int64 travels as a decimal string in OTLP JSON; every attribute the cluster sets fits a double.
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attributes(v.kvlistValue.values);
  return null;
}

function attributes(kvs: OtlpKeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

/** Nanoseconds since the epoch to epoch milliseconds, keeping the fraction. */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

function spansOf(request: OtlpExportTraceRequest): Span[] {
  const out: Span[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    const service = typeof resource["service.name"] === "string" ? resource["service.name"] : "";
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const startNs = BigInt(s.startTimeUnixNano);
        const endNs = BigInt(s.endTimeUnixNano);
        const startMs = nsToMs(startNs);
        const endMs = nsToMs(endNs);
        out.push({
          service,
          resource,
          scope: ss.scope?.name ?? "",
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ? s.parentSpanId : null,
          name: s.name,
          kind: s.kind ?? 0,
          startNs,
          endNs,
          startMs,
          endMs,
          durationMs: nsToMs(endNs - startNs),
          attributes: attributes(s.attributes),
          events: (s.events ?? []).map((e) => {
            const timeNs = BigInt(e.timeUnixNano);
            return { name: e.name, timeNs, timeMs: nsToMs(timeNs), attributes: attributes(e.attributes) };
          }),
          links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
          statusCode: s.status?.code ?? 0,
          statusMessage: s.status?.message ?? "",
        });
      }
    }
  }
  return out;
}

/**
 * Every span in OTLP JSON lines, in file order. A last line without its newline is still
 * being written and is left out; any other line that is not an export request is an error
 * naming its line number.
 */
export function parseSpanLines(text: string, source = "spans"): Span[] {
  const lines = text.split("\n");
  // The text after the last newline: a line the sink has not finished writing.
  lines.pop();
  const out: Span[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let request: OtlpExportTraceRequest;
    try {
      request = JSON.parse(line) as OtlpExportTraceRequest;
    } catch (e) {
      throw new Error(`${source}:${i + 1}: not JSON: ${(e as Error).message}`, { cause: e });
    }
    if (typeof request !== "object" || request === null || !Array.isArray(request.resourceSpans)) {
      throw new Error(`${source}:${i + 1}: not an OTLP export request (no resourceSpans)`);
    }
    out.push(...spansOf(request));
  });
  return out;
}

// --- the span file -------------------------------------------------------------------------

/** A position in the span file: its inode (to notice a rotation) and its size then. */
export interface SpanMark {
  path: string;
  ino: number;
  size: number;
}

/** Where the span file ends now; spansSince(mark) returns what was appended after it. */
export function markSpans(path = SPANS_FILE): SpanMark {
  try {
    const st = statSync(path);
    return { path, ino: st.ino, size: st.size };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { path, ino: 0, size: 0 };
    throw e;
  }
}

function readFrom(path: string, offset: number): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw e;
  }
  try {
    const size = statSync(path).size;
    if (size <= offset) return "";
    const buf = Buffer.alloc(size - offset);
    let read = 0;
    while (read < buf.length) {
      const n = readSync(fd, buf, read, buf.length - read, offset + read);
      if (n === 0) break;
      read += n;
    }
    return buf.subarray(0, read).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** Complete lines only: up to and including the last newline. */
function completeLines(text: string): string {
  return text.slice(0, text.lastIndexOf("\n") + 1);
}

/**
 * The spans appended since the mark, following one rotation (the marked file is then
 * FILE.1). A line being written as this reads is left for the next call.
 */
export function spansSince(mark: SpanMark): Span[] {
  const now = markSpans(mark.path);
  if (mark.ino === 0 || now.ino === mark.ino) {
    return parseSpanLines(completeLines(readFrom(mark.path, mark.ino === 0 ? 0 : mark.size)), mark.path);
  }
  // Rotated since the mark: the rest of the old file, then the new one from its start.
  const rotated = `${mark.path}.1`;
  let old = "";
  try {
    if (statSync(rotated).ino === mark.ino) old = completeLines(readFrom(rotated, mark.size));
  } catch {
    // rotated twice (or removed): what was in between is gone
  }
  return [...parseSpanLines(old, rotated), ...parseSpanLines(completeLines(readFrom(mark.path, 0)), mark.path)];
}

/** Every span in the file (and its rotated predecessor, first). */
export function readSpans(path = SPANS_FILE): Span[] {
  return [
    ...parseSpanLines(completeLines(readFrom(`${path}.1`, 0)), `${path}.1`),
    ...parseSpanLines(completeLines(readFrom(path, 0)), path),
  ];
}

/**
 * Polls the span file until `done` accepts what arrived since the mark, or the timeout
 * passes (then it returns what there is). The kubelet and the apiserver export in batches
 * every 5 s, so a span shows up here up to ~5 s after it ended.
 */
export async function waitForSpans(
  mark: SpanMark,
  done: (spans: Span[]) => boolean,
  { timeoutMs = 15_000, pollMs = 250 } = {},
): Promise<Span[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = spansSince(mark);
    if (done(spans) || Date.now() >= deadline) return spans;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
