/**
 * Reading the manifests a user hands to `podtrace run`, as kubectl reads `-f`: files,
 * directories (their .yaml, .yml and .json files, not recursively), `-` for stdin, YAML
 * with several documents, JSON, and `kind: List` (or any *List with items). Among the
 * objects there must be exactly one workload whose pods are traced (a v1 Pod, an apps/v1
 * Deployment or ReplicaSet, or a batch/v1 Job); the others (ConfigMaps, Secrets, Services,
 * PVCs and the like) are created before it. Anything else is bad input (exit 2) with a
 * message that says what was found, and where.
 */
// Synchronous reads, as kubectl reads its files: a few small local files, read while the
// connection to the API server is being made, without the turns of the event loop (and the
// loading of node:fs/promises) that asynchronous reads would put before the create.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CORE_SCHEMA, loadAll, mergeTag, Schema, YAMLException } from "js-yaml";
import { BadInputError } from "../errors.ts";
import type { RawObject } from "../core/observation.ts";

/** One object of the manifests and where it came from (for messages). */
export interface ManifestObject {
  object: RawObject;
  /** "web.yaml", "web.yaml (document 2)", "list.yaml (document 1, items[3])". */
  source: string;
}

export type WorkloadKind = "Pod" | "Deployment" | "ReplicaSet" | "Job";

/** What podtrace run traces, by apiVersion/kind. */
const WORKLOAD_KINDS: Record<string, WorkloadKind> = {
  "v1/Pod": "Pod",
  "apps/v1/Deployment": "Deployment",
  "apps/v1/ReplicaSet": "ReplicaSet",
  "batch/v1/Job": "Job",
};

const WORKLOADS_HINT = "podtrace run traces a Pod, or the pods a Deployment, ReplicaSet or Job creates";

/** Read every path (a file, a directory, or - for stdin) into objects, in the order given. */
export async function readManifests(paths: readonly string[], stdin?: NodeJS.ReadableStream): Promise<ManifestObject[]> {
  if (paths.filter((p) => p === "-").length > 1) throw new BadInputError("-f - given more than once: stdin can be read once");
  const objects: ManifestObject[] = [];
  for (const path of paths) {
    for (const file of expand(path)) {
      const text = file === "-" && stdin ? await readAll(stdin) : readText(file);
      objects.push(...parseManifests(text, file === "-" ? "stdin" : file));
    }
  }
  return objects;
}

/**
 * YAML 1.2's core schema, plus merge keys (`<<: *defaults`), which kubectl's parser takes
 * too. No timestamps: a date stays the string the API expects. js-yaml because client-node
 * reads the kubeconfig with it: one parser, loaded and warm when the manifest is read,
 * before the create request (a second YAML library cost some 15 ms there).
 */
const MANIFEST_SCHEMA = new Schema([...CORE_SCHEMA.tags, mergeTag]);

/** Every object in one file's text: YAML documents (or JSON), with Lists flattened. */
export function parseManifests(text: string, source: string): ManifestObject[] {
  let docs: unknown[];
  try {
    docs = loadAll(text, { schema: MANIFEST_SCHEMA, filename: source });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const at = err.mark ? `:${err.mark.line + 1}:${err.mark.column + 1}` : "";
    throw new BadInputError(`${source}${at}: invalid YAML: ${err.reason}`);
  }
  // A document of only comments, or an empty "---" section, holds no object.
  const values = docs.filter((v) => v !== null && v !== undefined);
  const objects: ManifestObject[] = [];
  for (const [i, value] of values.entries()) flatten(value, values.length > 1 ? `${source} (document ${i + 1})` : source, objects);
  return objects;
}

/** The workload to trace and the other objects, or a clear error when there is not exactly one workload. */
export function splitWorkload(objects: readonly ManifestObject[], sources: string): { workload: ManifestObject; others: ManifestObject[] } {
  if (objects.length === 0) {
    throw new BadInputError(`${sources}: no objects found`, "it must contain one Pod, Deployment, ReplicaSet or Job");
  }
  const workloads = objects.filter((o) => workloadKindOf(o.object) !== null);
  if (workloads.length === 0) {
    const found = objects.map((o) => describe(o.object)).join(", ");
    throw new BadInputError(
      `${sources}: expected a v1 Pod, an apps/v1 Deployment or ReplicaSet, or a batch/v1 Job; found ${found}`,
      WORKLOADS_HINT,
    );
  }
  if (workloads.length > 1) {
    // One run traces one workload: its timeline, its verdict, its exit code.
    throw new BadInputError(
      `${sources}: found ${workloads.length} workloads (${workloads.map((w) => describe(w.object)).join(", ")}); podtrace traces one per run`,
      "trace each in a run of its own; objects they share (ConfigMaps, Services...) may be in both files or created beforehand: podtrace leaves existing objects alone",
    );
  }
  const workload = workloads[0]!;
  checkWorkload(workload);
  return { workload, others: objects.filter((o) => o !== workload) };
}

/** The kind of workload this object is, if podtrace traces it. */
export function workloadKindOf(object: RawObject): WorkloadKind | null {
  return WORKLOAD_KINDS[`${String(object["apiVersion"])}/${String(object["kind"])}`] ?? null;
}

export function workloadKind(manifest: RawObject): WorkloadKind {
  return workloadKindOf(manifest) ?? "Pod";
}

/** The pod spec of a Pod, or of a workload's pod template. */
export function podSpecOf(object: RawObject): RawObject | null {
  const kind = workloadKindOf(object);
  const spec = kind === "Pod" ? object["spec"] : asRecord(asRecord(object["spec"])["template"])["spec"];
  return spec !== null && typeof spec === "object" && !Array.isArray(spec) ? (spec as RawObject) : null;
}

/**
 * The order objects are created in, dependencies first (Helm's install order): what
 * constrains pods (quotas, limits), what they mount or run as (ServiceAccounts, Secrets,
 * ConfigMaps, claims), what selects them (Services), then workloads. Kinds not listed
 * (custom resources) come after the listed ones; the traced workload comes last of all.
 */
export const INSTALL_ORDER: readonly string[] = [
  "PriorityClass",
  "Namespace",
  "NetworkPolicy",
  "ResourceQuota",
  "LimitRange",
  "PodDisruptionBudget",
  "ServiceAccount",
  "Secret",
  "ConfigMap",
  "StorageClass",
  "PersistentVolume",
  "PersistentVolumeClaim",
  "CustomResourceDefinition",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "Service",
  "DaemonSet",
  "Pod",
  "ReplicationController",
  "ReplicaSet",
  "Deployment",
  "HorizontalPodAutoscaler",
  "StatefulSet",
  "Job",
  "CronJob",
  "IngressClass",
  "Ingress",
  "APIService",
  "MutatingWebhookConfiguration",
  "ValidatingWebhookConfiguration",
];

/** The objects in creation order; the same kind keeps the order of the files. */
export function inInstallOrder<T extends { object: RawObject }>(objects: readonly T[]): T[] {
  const rank = (o: T) => {
    const i = INSTALL_ORDER.indexOf(String(o.object["kind"]));
    return i < 0 ? INSTALL_ORDER.length : i;
  };
  return objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i)
    .map(({ o }) => o);
}

/** "Deployment web", "ConfigMap (no name)". */
export function describe(object: RawObject): string {
  const meta = asRecord(object["metadata"]);
  const name = meta["name"] ?? meta["generateName"];
  return `${String(object["kind"] ?? "?")} ${typeof name === "string" && name ? name : "(no name)"}`;
}

function flatten(value: unknown, where: string, out: ManifestObject[]): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new BadInputError(`${where}: expected a Kubernetes object, found ${Array.isArray(value) ? "a list" : typeof value}`);
  }
  const obj = value as RawObject;
  // kind: List (v1), and typed lists (PodList, ConfigMapList...), as kubectl reads them.
  if (typeof obj["kind"] === "string" && obj["kind"].endsWith("List") && Array.isArray(obj["items"])) {
    (obj["items"] as unknown[]).forEach((item, i) => flatten(item, `${where} items[${i}]`, out));
    return;
  }
  if (typeof obj["apiVersion"] !== "string" || !obj["apiVersion"] || typeof obj["kind"] !== "string" || !obj["kind"]) {
    throw new BadInputError(`${where}: not a Kubernetes object: apiVersion and kind are required`);
  }
  const meta = asRecord(obj["metadata"]);
  if (typeof meta["name"] !== "string" && typeof meta["generateName"] !== "string") {
    throw new BadInputError(`${where}: ${String(obj["kind"])} without metadata.name`);
  }
  out.push({ object: obj, source: where });
}

function checkWorkload({ object, source }: ManifestObject): void {
  const kind = workloadKind(object);
  const podSpec = podSpecOf(object);
  if (!podSpec || !Array.isArray(podSpec["containers"])) {
    throw new BadInputError(`${source}: the ${kind} has no ${kind === "Pod" ? "spec.containers" : "spec.template.spec.containers"}`);
  }
}

/** A path's files: the file itself, or a directory's manifests in name order. */
function expand(path: string): string[] {
  if (path === "-") return [path];
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (err) {
    throw unreadable(path, err);
  }
  if (!isDirectory) return [path];
  const names = readdirSync(path)
    .filter((n) => /\.(ya?ml|json)$/i.test(n))
    .sort();
  if (names.length === 0) throw new BadInputError(`${path}: a directory without .yaml, .yml or .json files`);
  return names.map((n) => join(path, n));
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw unreadable(file, err);
  }
}

function unreadable(file: string, err: unknown): BadInputError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message;
  return new BadInputError(`cannot read ${file}: ${why}`, "pass the path of a Pod, Deployment, ReplicaSet or Job manifest (YAML or JSON)", {
    cause: err,
  });
}

function asRecord(value: unknown): RawObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as RawObject) : {};
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString("utf8");
}
