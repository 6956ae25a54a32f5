/** The documented -o json schema, compiled once for the tests that check output against it. */
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

export const TIMELINE_SCHEMA = JSON.parse(readFileSync(new URL("../../schema/timeline.schema.json", import.meta.url), "utf8")) as {
  $defs: { phaseKind: { enum: string[] } };
};

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);

/** Validates a timeline or pod set; its `errors` say why not. */
export const validateTimeline = ajv.compile(TIMELINE_SCHEMA);
