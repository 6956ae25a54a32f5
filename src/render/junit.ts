/**
 * `-o junit`: JUnit XML that CI systems render, one test case per phase. A phase that
 * failed, was never reached after a failure, or broke a --max threshold is a failure.
 */
import { create } from "xmlbuilder2";
import { succeeded, type Timeline } from "../core/timeline.ts";
import { formatDuration } from "./format.ts";

/** JUnit XML for one or more pods' timelines: one test suite per pod. */
export function renderJunit(timelines: Timeline | readonly Timeline[]): string {
  const list = Array.isArray(timelines) ? timelines : [timelines as Timeline];
  const root = create({ version: "1.0", encoding: "UTF-8" }).ele("testsuites", { name: "podtrace" });
  let tests = 0;
  let failures = 0;
  for (const t of list) {
    const counts = addSuite(root, t);
    tests += counts.tests;
    failures += counts.failures;
  }
  root.att({ tests: String(tests), failures: String(failures) });
  return root.end({ prettyPrint: true }) + "\n";
}

function addSuite(root: ReturnType<ReturnType<typeof create>["ele"]>, t: Timeline): { tests: number; failures: number } {
  const suiteName = `podtrace ${t.pod.namespace}/${t.pod.name}`;
  const phases = t.phases.filter((p) => p.status !== "not-applicable");
  const over = new Map((t.verdict.thresholds ?? []).map((v) => [v.phase, v]));
  let failures = 0;
  let skipped = 0;
  const suite = root.ele("testsuite", {
    name: suiteName,
    timestamp: t.submittedAt ?? "",
    time: seconds(t.readyAfterMs ?? lastOffset(t)),
  });
  for (const p of phases) {
    const tc = suite.ele("testcase", { classname: suiteName, name: p.label, time: seconds(p.durationMs ?? 0) });
    const limit = over.get(p.id) ?? over.get(p.kind);
    if (p.status === "failed") {
      failures++;
      tc.ele("failure", { message: t.verdict.summary, type: t.verdict.outcome }).txt([t.verdict.summary, ...t.verdict.causes].join("\n"));
    } else if (limit) {
      failures++;
      tc.ele("failure", { message: `took ${formatDuration(limit.actualMs)}, limit ${formatDuration(limit.limitMs)}`, type: "threshold" });
    } else if (p.status !== "done") {
      if (succeeded(t.verdict.outcome)) continue;
      skipped++;
      tc.ele("skipped", { message: p.status === "in-progress" ? "did not finish" : "not reached" });
    }
  }
  const total = over.get("total");
  const totalCase = suite.ele("testcase", { classname: suiteName, name: "ready", time: seconds(t.readyAfterMs ?? 0) });
  if (!succeeded(t.verdict.outcome)) {
    failures++;
    totalCase
      .ele("failure", { message: t.verdict.summary, type: t.verdict.outcome })
      .txt([...t.verdict.causes, ...t.verdict.next.map((n) => `next: ${n}`)].join("\n"));
  } else if (total) {
    failures++;
    totalCase.ele("failure", {
      message: `ready after ${formatDuration(total.actualMs)}, limit ${formatDuration(total.limitMs)}`,
      type: "threshold",
    });
  }
  suite.att({ tests: String(phases.length + 1), failures: String(failures), errors: "0", skipped: String(skipped) });
  return { tests: phases.length + 1, failures };
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function lastOffset(t: Timeline): number {
  return Math.max(0, ...t.phases.map((p) => p.end?.offsetMs ?? p.start?.offsetMs ?? 0));
}
