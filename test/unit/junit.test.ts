/**
 * -o junit on recordings of real runs: well-formed XML shaped as CI viewers read it
 * (testsuites > testsuite > testcase), one case per phase plus "ready", failures where the
 * run failed or a threshold was broken, and names and messages escaped.
 */
import { create } from "xmlbuilder2";
import { describe, expect, it } from "vitest";
import { analyse } from "../../src/cli/commands/output.ts";
import { applyThresholds } from "../../src/core/thresholds.ts";
import type { Timeline } from "../../src/core/timeline.ts";
import { renderJunit } from "../../src/render/junit.ts";
import { loadRecording, recordingNames } from "../support/recordings.ts";

interface Case {
  "@name": string;
  "@time": string;
  failure?: { "@type": string; "@message": string };
  skipped?: unknown;
}
interface Suite {
  "@name": string;
  "@tests": string;
  "@failures": string;
  "@skipped": string;
  testcase: Case | Case[];
}
interface Doc {
  testsuites: { "@tests": string; "@failures": string; testsuite: Suite | Suite[] };
}

const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
/** xmlbuilder2's object form leaves entities in attribute values as written: decode them as an XML parser does. */
const attr = (v: string) =>
  v.replace(/&(quot|apos|lt|gt|amp);/g, (_, e: string) => ({ quot: '"', apos: "'", lt: "<", gt: ">", amp: "&" })[e as "quot"]);

function timelines(name: string): Timeline[] {
  const r = loadRecording(name);
  const traced = analyse(r.observations, r.header.replicas ?? 1, []);
  return traced.kind === "pod" ? [traced.timeline] : traced.set.pods;
}

describe.each(recordingNames())("-o junit of %s", (name) => {
  const ts = timelines(name);
  const xml = renderJunit(ts);
  const doc = create(xml).end({ format: "object" }) as unknown as Doc;

  it("has one suite per pod, one case per phase and one for ready, and counts that add up", () => {
    const suites = list(doc.testsuites.testsuite);
    expect(suites).toHaveLength(ts.length);
    let tests = 0;
    let failures = 0;
    for (const [i, suite] of suites.entries()) {
      const cases = list(suite.testcase);
      expect(Number(suite["@tests"])).toBe(cases.length);
      expect(cases.at(-1)!["@name"]).toBe("ready");
      expect(Number(suite["@failures"])).toBe(cases.filter((c) => c.failure).length);
      expect(Number(suite["@skipped"])).toBe(cases.filter((c) => c.skipped !== undefined).length);
      expect(suite["@name"]).toBe(`podtrace ${ts[i]!.pod.namespace}/${ts[i]!.pod.name}`);
      tests += cases.length;
      failures += Number(suite["@failures"]);
    }
    expect(Number(doc.testsuites["@tests"])).toBe(tests);
    expect(Number(doc.testsuites["@failures"])).toBe(failures);
  });

  it("fails the ready case exactly when the pod did not succeed", () => {
    for (const [i, suite] of list(doc.testsuites.testsuite).entries()) {
      const ready = list(suite.testcase).at(-1)!;
      const ok = ts[i]!.verdict.outcome === "ready" || ts[i]!.verdict.outcome === "completed";
      expect(Boolean(ready.failure), name).toBe(!ok);
      if (ready.failure) expect(attr(ready.failure["@message"])).toBe(ts[i]!.verdict.summary);
    }
  });
});

it("reports a broken threshold as a failure of its phase and of ready", () => {
  const t = applyThresholds(timelines("one-container")[0]!, [
    { phase: "sandbox", limitMs: 1 },
    { phase: "total", limitMs: 1 },
  ]);
  const doc = create(renderJunit(t)).end({ format: "object" }) as unknown as Doc;
  const cases = list(list(doc.testsuites.testsuite)[0]!.testcase);
  const failed = cases.filter((c) => c.failure);
  expect(failed.map((c) => c["@name"])).toEqual(["sandbox + network", "ready"]);
  for (const c of failed) expect(c.failure!["@type"]).toBe("threshold");
});

it("escapes what the cluster says (quotes, brackets, ampersands) into well-formed XML", () => {
  const t = timelines("invalid-spec")[0]!;
  expect(t.verdict.summary).toMatch(/["'[\]]/);
  const xml = renderJunit(t);
  const doc = create(xml).end({ format: "object" }) as unknown as Doc;
  const ready = list(list(doc.testsuites.testsuite)[0]!.testcase).at(-1)!;
  expect(xml).toContain("&quot;");
  expect(attr(ready.failure!["@message"])).toBe(t.verdict.summary);
});
