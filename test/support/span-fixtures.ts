/**
 * The ground-truth fixtures (test/fixtures/spans, recorded by hack/record-spans.sh): a
 * podtrace recording of a real run and every span the local cluster's collector received
 * meanwhile.
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import type { RawObject, WatchObservation } from "../../src/core/observation.ts";
import { parseRecording, type Recording } from "../../src/trace/recording.ts";
import { parseSpanLines, type Span } from "./otel-spans.ts";
import type { KubeletEvent, PodRef } from "./pod-spans.ts";

export const SPANS_DIR = fileURLToPath(new URL("../fixtures/spans/", import.meta.url));

export interface SpanFixture {
  recording: Recording;
  spans: Span[];
  /** The traced pod, from the first watch event about it. */
  pod: PodRef;
  /** Every Event the run saw (either API), once each. */
  events: KubeletEvent[];
}

export function spanFixtureText(name: string): string {
  return gunzipSync(readFileSync(`${SPANS_DIR}${name}.spans.jsonl.gz`)).toString("utf8");
}

export function loadSpanFixture(name: string): SpanFixture {
  const recording = parseRecording(readFileSync(`${SPANS_DIR}${name}.ndjson`, "utf8"), name);
  const watched = recording.observations.filter((o): o is WatchObservation => o.kind === "watch");
  const podObject = watched.find((o) => o.resource === "pods")?.object;
  const meta = (podObject?.["metadata"] ?? {}) as RawObject;
  const pod = { namespace: String(meta["namespace"]), name: String(meta["name"]), uid: String(meta["uid"]) };
  const events = new Map<string, KubeletEvent>();
  for (const o of watched) {
    if (o.resource !== "events" && o.resource !== "events.k8s.io") continue;
    const name = String((o.object["metadata"] as RawObject)["name"]);
    const about = (o.object["involvedObject"] ?? o.object["regarding"] ?? {}) as RawObject;
    events.set(name, { name, reason: String(o.object["reason"]), fieldPath: String(about["fieldPath"] ?? "") });
  }
  return { recording, spans: parseSpanLines(spanFixtureText(name), name), pod, events: [...events.values()] };
}
