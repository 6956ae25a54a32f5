/**
 * Reading the manifest a user hands to `podtrace run`: one YAML or JSON document, a v1
 * Pod, an apps/v1 Deployment or ReplicaSet, or a batch/v1 Job (whose pods are traced). Anything else is bad
 * input (exit 2) with a message that says what was found.
 */
import { readFile } from "node:fs/promises";
import { parseAllDocuments } from "yaml";
import { BadInputError } from "../errors.ts";
import type { RawObject } from "../core/observation.ts";

export async function readManifest(file: string, stdin?: NodeJS.ReadableStream): Promise<RawObject> {
  let text: string;
  try {
    text = file === "-" && stdin ? await readAll(stdin) : await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory"
          : code === "EACCES"
            ? "permission denied"
            : (err as Error).message;
    throw new BadInputError(
      `cannot read ${file}: ${why}`,
      "pass the path of a Pod, Deployment, ReplicaSet or Job manifest (YAML or JSON)",
      {
        cause: err,
      },
    );
  }
  return parseManifest(text, file);
}

export function parseManifest(text: string, source: string): RawObject {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new BadInputError(`${source}: not a YAML document`);
  const nonEmpty = docs.filter((d) => d.contents !== null || d.errors.length > 0);
  for (const d of nonEmpty) {
    const first = d.errors[0];
    if (first) {
      const line = first.linePos?.[0];
      throw new BadInputError(`${source}${line ? `:${line.line}:${line.col}` : ""}: invalid YAML: ${first.message.split("\n")[0]}`);
    }
  }
  if (nonEmpty.length === 0)
    throw new BadInputError(`${source}: the file is empty`, "it must contain one Pod, Deployment, ReplicaSet or Job");
  if (nonEmpty.length > 1)
    throw new BadInputError(`${source}: found ${nonEmpty.length} documents`, "podtrace run traces one object: put it alone in the file");
  const value: unknown = nonEmpty[0]!.toJS();
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new BadInputError(`${source}: expected a Kubernetes object, found ${Array.isArray(value) ? "a list" : typeof value}`);
  }
  const obj = value as RawObject;
  const kind = WORKLOAD_KINDS[`${String(obj["apiVersion"])}/${String(obj["kind"])}`];
  if (!kind) {
    const found = `${String(obj["apiVersion"] ?? "?")} ${String(obj["kind"] ?? "?")}`;
    throw new BadInputError(
      `${source}: expected a v1 Pod, an apps/v1 Deployment or ReplicaSet, or a batch/v1 Job; found ${found}`,
      "podtrace run traces a Pod, or the pods a Deployment, ReplicaSet or Job creates",
    );
  }
  const podSpec = kind === "Pod" ? obj["spec"] : asRecord(asRecord(obj["spec"])["template"])["spec"];
  if (podSpec === null || typeof podSpec !== "object" || !Array.isArray((podSpec as RawObject)["containers"])) {
    throw new BadInputError(`${source}: the ${kind} has no ${kind === "Pod" ? "spec.containers" : "spec.template.spec.containers"}`);
  }
  return obj;
}

export type WorkloadKind = "Pod" | "Deployment" | "ReplicaSet" | "Job";

/** What podtrace run accepts, by apiVersion/kind. */
const WORKLOAD_KINDS: Record<string, WorkloadKind> = {
  "v1/Pod": "Pod",
  "apps/v1/Deployment": "Deployment",
  "apps/v1/ReplicaSet": "ReplicaSet",
  "batch/v1/Job": "Job",
};

export function workloadKind(manifest: RawObject): WorkloadKind {
  return WORKLOAD_KINDS[`${String(manifest["apiVersion"])}/${String(manifest["kind"])}`] ?? "Pod";
}

function asRecord(value: unknown): RawObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as RawObject) : {};
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString("utf8");
}
