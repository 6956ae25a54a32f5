/**
 * Reading the Pod manifest a user hands to `podtrace run`: one YAML or JSON document, a
 * v1 Pod. Anything else is bad input (exit 2) with a message that says what was found.
 */
import { readFile } from "node:fs/promises";
import { parseAllDocuments } from "yaml";
import { BadInputError } from "../cli/errors.ts";
import type { RawObject } from "../core/observation.ts";

export async function readPodManifest(file: string, stdin?: NodeJS.ReadableStream): Promise<RawObject> {
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
    throw new BadInputError(`cannot read ${file}: ${why}`, "pass the path of a Pod manifest (YAML or JSON)", { cause: err });
  }
  return parsePodManifest(text, file);
}

export function parsePodManifest(text: string, source: string): RawObject {
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
  if (nonEmpty.length === 0) throw new BadInputError(`${source}: the file is empty`, "it must contain one Pod");
  if (nonEmpty.length > 1)
    throw new BadInputError(`${source}: found ${nonEmpty.length} documents`, "podtrace run traces a single Pod: put it alone in the file");
  const value: unknown = nonEmpty[0]!.toJS();
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new BadInputError(`${source}: expected a Pod object, found ${Array.isArray(value) ? "a list" : typeof value}`);
  }
  const obj = value as RawObject;
  if (obj["kind"] !== "Pod" || obj["apiVersion"] !== "v1") {
    const found = `${String(obj["apiVersion"] ?? "?")} ${String(obj["kind"] ?? "?")}`;
    throw new BadInputError(`${source}: expected apiVersion v1, kind Pod; found ${found}`, "podtrace run traces a single Pod");
  }
  const spec = obj["spec"];
  if (spec === null || typeof spec !== "object" || !Array.isArray((spec as RawObject)["containers"])) {
    throw new BadInputError(`${source}: the Pod has no spec.containers`);
  }
  return obj;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString("utf8");
}
