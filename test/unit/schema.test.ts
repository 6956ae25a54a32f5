/**
 * The -o json contract: every recording's timeline (and pod set) validates against
 * schema/timeline.schema.json, and the schema's phase kinds are the core's one list.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { analyse } from "../../src/cli/commands/output.ts";
import { PHASE_KIND_NAMES, PHASE_KINDS } from "../../src/core/phase-kinds.ts";
import { loadRecording, recordingNames } from "../support/recordings.ts";
import { TIMELINE_SCHEMA, validateTimeline } from "../support/schema.ts";

const schema = TIMELINE_SCHEMA;
const validate = validateTimeline;

describe("timeline schema", () => {
  it("lists exactly the core's phase kinds (plus the one no longer produced)", () => {
    expect(schema.$defs.phaseKind.enum.filter((k) => k !== "sidecar-startup")).toEqual(PHASE_KIND_NAMES);
  });

  it.each(recordingNames())("validates the timeline of %s", (name) => {
    const { header, observations } = loadRecording(name);
    // What podtrace prints: one timeline, or a pod set (a controller whose pods were all
    // refused made none: then the one timeline says so).
    const traced = analyse(observations, header.replicas ?? 1, []);
    const output = traced.kind === "pod" ? traced.timeline : traced.set;
    const valid = validate(JSON.parse(JSON.stringify(output)));
    expect(validate.errors ?? [], name).toEqual([]);
    expect(valid).toBe(true);
  });
});

describe("README", () => {
  it("explains every phase kind in one line, as the core says it", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    for (const k of PHASE_KINDS)
      expect(readme, k.kind).toMatch(new RegExp(`\\| \`${k.kind}\` +\\| ${escape(k.label)} +\\| ${escape(k.means)} +\\|`));
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
