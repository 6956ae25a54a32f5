/**
 * The other objects of the manifests (ConfigMaps, Secrets, ServiceAccounts, PVCs,
 * Services...): created before the workload, in dependency order, and deleted after the
 * run (on success, failure and interruption alike), each by its uid so that nothing but
 * what this run created is ever deleted. An object that already exists is reported and
 * left alone: never overwritten, never deleted. Namespaces are never created: deleting one
 * deletes everything in it, so a namespace in the files must exist already.
 */
import { BadInputError, ClusterAccessError } from "../errors.ts";
import { asRecord, str } from "../core/observed-run.ts";
import type { RawObject } from "../core/observation.ts";
import { describeRejection } from "../core/rejection.ts";
import { apiMessage, type KubeClient } from "../kube/client.ts";
import { clientNow } from "../kube/clock.ts";
import { Discovery } from "../kube/discovery.ts";
import { describe, inInstallOrder, type ManifestObject } from "../kube/manifest.ts";
import { RUN_LABEL } from "./pod-naming.ts";

/** An object this run created, enough to delete exactly it. */
export interface CreatedObject {
  kind: string;
  name: string;
  namespace: string | null;
  /** The object's API path: /api/v1/namespaces/ns/configmaps/name. */
  path: string;
  uid: string;
}

export interface CreateOptions {
  /** --namespace, when given. */
  namespace?: string | undefined;
  /** The context's namespace (or default). */
  defaultNamespace: string;
  /** The run's id: the objects created carry the run's label. */
  runId: string;
  signal: AbortSignal;
  progress?: (text: string) => void;
}

export interface CreateResult {
  /** Objects that already existed, left alone: "ConfigMap web-config in namespace x". */
  existing: string[];
  /** Interrupted before every object was created. */
  interrupted: boolean;
}

/**
 * Create the objects in install order. `created` is filled as they are created, so the
 * caller can delete them whatever happens next. A rejection throws (exit 2 for the spec,
 * 3 for access) after the objects before it were created: the caller deletes them.
 */
export async function createObjects(
  client: KubeClient,
  objects: readonly ManifestObject[],
  options: CreateOptions,
  created: CreatedObject[],
): Promise<CreateResult> {
  const discovery = new Discovery(client);
  const existing: string[] = [];
  // Resolve every object first (kinds the cluster serves, namespaces), so bad input is
  // reported before anything is created.
  const planned: { o: ManifestObject; listPath: string; namespace: string | null }[] = [];
  for (const o of inInstallOrder(objects)) {
    const apiVersion = String(o.object["apiVersion"]);
    const kind = String(o.object["kind"]);
    const mapping = await discovery.mapping(apiVersion, kind);
    const meta = asRecord(o.object["metadata"]);
    const own = str(meta["namespace"]) || undefined;
    if (mapping.namespaced && options.namespace && own && own !== options.namespace) {
      throw new BadInputError(
        `${o.source}: the ${describe(o.object)} is in namespace "${own}", not --namespace "${options.namespace}"`,
        `pass --namespace ${own}, or remove metadata.namespace from it`,
      );
    }
    const namespace = mapping.namespaced ? (own ?? options.namespace ?? options.defaultNamespace) : null;
    const listPath = `${mapping.groupVersionPath}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ""}/${mapping.resource}`;
    planned.push({ o, listPath, namespace });
  }
  for (const { o } of planned.filter((p) => p.o.object["kind"] === "Namespace" && p.o.object["apiVersion"] === "v1")) {
    const name = str(asRecord(o.object["metadata"])["name"]);
    const r = await client.request("GET", `/api/v1/namespaces/${encodeURIComponent(name)}`);
    client.checkAccess(r, `reading namespace ${name}`);
    if (r.status === 404) {
      throw new BadInputError(
        `${o.source}: namespace ${name} does not exist, and podtrace does not create namespaces`,
        `create it first (kubectl create namespace ${name}), or leave it out of the files`,
      );
    }
    existing.push(`Namespace ${name}`);
  }

  for (const { o, listPath, namespace } of planned) {
    if (o.object["kind"] === "Namespace" && o.object["apiVersion"] === "v1") continue;
    if (options.signal.aborted) return { existing, interrupted: true };
    const what = `${describe(o.object)}${namespace ? ` in namespace ${namespace}` : ""}`;
    options.progress?.(`creating ${describe(o.object)}`);
    const body = forCreate(o.object, namespace, options.runId);
    const name = str(asRecord(body["metadata"])["name"]);
    // Not cut short by Ctrl-C: a request cut off may still have created the object, which
    // then would be nobody's to delete. Ctrl-C is looked at between objects.
    const r = await client.request("POST", listPath, body);
    if (r.status === 409 && r.body["reason"] === "AlreadyExists") {
      existing.push(what);
      continue;
    }
    if (r.status >= 300) {
      const rejection = describeRejection(r.status, r.body, namespace ?? "");
      const message = `${o.source}: creating ${what}: rejected by ${rejection.by}: ${rejection.message}`;
      const hint = rejection.next.join("; ");
      throw rejection.cause === "input" ? new BadInputError(message, hint) : new ClusterAccessError(message, hint);
    }
    const createdName = str(asRecord(r.body["metadata"])["name"]) || name;
    created.push({
      kind: String(o.object["kind"]),
      name: createdName,
      namespace,
      path: `${listPath}/${encodeURIComponent(createdName)}`,
      uid: str(asRecord(r.body["metadata"])["uid"]),
    });
  }
  return { existing, interrupted: false };
}

/**
 * Delete what this run created, the last created first, and wait until each is gone (30 s
 * at most). Returns what could not be removed, with the command that removes it.
 */
export async function deleteObjects(client: KubeClient, created: readonly CreatedObject[]): Promise<string[]> {
  const leftovers: string[] = [];
  const gone = async (o: CreatedObject): Promise<boolean> => {
    const r = await client.request("GET", o.path).catch(() => null);
    // Gone, or a new object of the same name that someone else created: not ours.
    return r?.status === 404 || (r?.status === 200 && str(asRecord(r.body["metadata"])["uid"]) !== o.uid);
  };
  for (const o of [...created].reverse()) {
    // The uid precondition: only the object this run created is deleted.
    const body = { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background", preconditions: { uid: o.uid } };
    const r = await client.request("DELETE", o.path, body).catch((err: Error) => err);
    if (r instanceof Error || (r.status >= 300 && r.status !== 404 && r.status !== 409)) {
      leftovers.push(
        `${o.kind} ${o.name}${o.namespace ? ` in namespace ${o.namespace}` : ""}: delete failed (${r instanceof Error ? r.message : apiMessage(r)}); ${deleteCommand([o])}`,
      );
    }
  }
  const until = clientNow() + 30_000;
  let waiting = [...created];
  while (waiting.length && clientNow() < until) {
    const still = await Promise.all(waiting.map(async (o) => ((await gone(o)) ? null : o)));
    waiting = still.filter((o): o is CreatedObject => o !== null);
    if (waiting.length) await new Promise((r) => setTimeout(r, 200));
  }
  for (const o of waiting) {
    if (!leftovers.some((l) => l.startsWith(`${o.kind} ${o.name}`))) {
      leftovers.push(
        `${o.kind} ${o.name}${o.namespace ? ` in namespace ${o.namespace}` : ""} still present 30s after deletion; ${deleteCommand([o])}`,
      );
    }
  }
  return leftovers;
}

/** The kubectl command that deletes these objects: "kubectl delete configmap/a service/b -n ns". */
export function deleteCommand(objects: readonly CreatedObject[]): string {
  const byNamespace = new Map<string, string[]>();
  for (const o of objects) {
    const key = o.namespace ?? "";
    byNamespace.set(key, [...(byNamespace.get(key) ?? []), `${o.kind.toLowerCase()}/${o.name}`]);
  }
  return [...byNamespace].map(([ns, names]) => `kubectl delete ${names.join(" ")}${ns ? ` -n ${ns}` : ""}`).join("; ");
}

/** The object as sent to create: in its namespace, with the run's label, without what only the server sets. */
function forCreate(object: RawObject, namespace: string | null, runId: string): RawObject {
  const copy = structuredClone(object);
  const meta = { ...asRecord(copy["metadata"]) };
  for (const k of ["resourceVersion", "uid", "creationTimestamp", "managedFields", "selfLink", "generation"]) delete meta[k];
  if (namespace) meta["namespace"] = namespace;
  else delete meta["namespace"];
  meta["labels"] = { ...asRecord(meta["labels"]), [RUN_LABEL]: runId };
  copy["metadata"] = meta;
  delete copy["status"];
  return copy;
}
