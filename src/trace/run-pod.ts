/**
 * One traced run: create the pod (and its Service), watch it, its Events and its
 * EndpointSlices until it is Ready, fails, times out or is interrupted, then read what
 * would be lost and clean up everything created. The observed stream is the result; the
 * timeline is computed from it by the pure core.
 */
import { BadInputError, ClusterAccessError } from "../cli/errors.ts";
import { correlate } from "../core/correlate.ts";
import { failFastReason, type FailFastPolicy } from "../core/fail-fast.ts";
import { asRecord, indexObservations, str } from "../core/observed-run.ts";
import type { EndObservation, Observation, RawObject, WatchedResource } from "../core/observation.ts";
import { containerStatus, containersInStartOrder, lastSnapshot } from "../core/pod-status.ts";
import type { Timeline } from "../core/timeline.ts";
import { apiMessage, KubeClient, watchTransport, type ApiResponse } from "../kube/client.ts";
import { watch, type WatchItem } from "../kube/watch.ts";
import { clientNow } from "./clock.ts";
import { namePod } from "./pod-naming.ts";
import type { RecordingWriter } from "./recording.ts";
import { selects, serviceFor } from "./services.ts";

export interface TraceOptions {
  client: KubeClient;
  manifest: RawObject;
  /** --namespace, when given. */
  namespace?: string | undefined;
  timeoutMs: number;
  keep: boolean;
  service: boolean;
  failFast: FailFastPolicy;
  /** Aborted on SIGINT/SIGTERM: the run ends as interrupted and still cleans up. */
  signal: AbortSignal;
  recorder?: RecordingWriter | undefined;
  /** Called with what is being waited on, for the spinner. */
  progress?: (text: string) => void;
  /** Called for diagnostics (-v). */
  debug?: (text: string) => void;
  version: string;
}

export interface TraceResult {
  name: string;
  namespace: string;
  observations: Observation[];
  timeline: Timeline;
  /** What could not be cleaned up, for the user to remove by hand. */
  leftovers: string[];
  kept: boolean;
}

export async function tracePod(options: TraceOptions): Promise<TraceResult> {
  const { client } = options;
  const named = namePod(options.manifest, options.namespace, client.namespace);
  const { name, namespace, pod } = named;
  const ns = encodeURIComponent(namespace);
  const serverVersion = await getServerVersion(client);
  const podLabels = asRecord(asRecord(pod["metadata"])["labels"]);

  // Services that already select the pod, plus the one --service creates.
  const serviceList = await client.request("GET", `/api/v1/namespaces/${ns}/services`);
  client.checkAccess(serviceList, `listing Services in namespace ${namespace}`);
  const selecting = serviceList.status === 200 ? asArrayOf(serviceList.body["items"]).filter((s) => selects(s, podLabels)) : [];
  const serviceNames = selecting.map((s) => str(asRecord(s["metadata"])["name"]));
  const ownService = options.service ? serviceFor(pod, name, named.runId) : null;
  if (ownService) serviceNames.push(name);

  const observations: Observation[] = [];
  let changed: () => void = () => undefined;
  let changedPromise = new Promise<void>((r) => (changed = r));
  const record = (o: Observation) => {
    observations.push(o);
    options.recorder?.write(o);
    changed();
    changedPromise = new Promise<void>((r) => (changed = r));
  };
  options.recorder?.writeHeader({
    format: "podtrace-recording/v1",
    podtraceVersion: options.version,
    recordedAt: new Date().toISOString(),
    server: client.server,
    serverVersion,
    namespace,
    pod: name,
    manifest: pod,
  });

  const watches = new AbortController();
  const connected = new Map<WatchedResource, Promise<void>>();
  const watchers: Promise<void>[] = [];
  const startWatch = (resource: WatchedResource, path: string, params: Record<string, string>) => {
    let markConnected: () => void = () => undefined;
    connected.set(resource, new Promise<void>((r) => (markConnected = r)));
    const stream = watch({ transport: watchTransport(client), path, params, signal: watches.signal });
    watchers.push(
      (async () => {
        for await (const item of stream) {
          if (item.type === "status" && item.status === "connected") markConnected();
          if (item.type === "status" && item.status === "error" && /HTTP 400/.test(item.detail)) {
            // This cluster does not support the selector (or the API): the other Events
            // API still covers every event.
            record({ kind: "watch-status", resource, status: "error", arrivedAt: item.arrivedAt, detail: item.detail });
            markConnected();
            return;
          }
          recordItem(record, resource, item);
        }
      })(),
    );
  };
  startWatch("pods", `/api/v1/namespaces/${ns}/pods`, { fieldSelector: `metadata.name=${name}` });
  startWatch("events", `/api/v1/namespaces/${ns}/events`, { fieldSelector: `involvedObject.name=${name}` });
  startWatch("events.k8s.io", `/apis/events.k8s.io/v1/namespaces/${ns}/events`, { fieldSelector: `regarding.name=${name}` });
  if (serviceNames.length) {
    startWatch("endpointslices", `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
      labelSelector: `kubernetes.io/service-name in (${serviceNames.join(",")})`,
    });
  }
  // Watches start from their list's resourceVersion, so nothing is missed either way;
  // waiting for the streams to be open keeps the first arrivals prompt.
  await Promise.race([Promise.all(connected.values()), delay(10_000)]);

  const leftovers: string[] = [];
  let podCreateSent = false;
  let serviceCreated = false;
  let end: EndObservation["reason"] = "error";
  let endDetail = "";
  try {
    if (ownService) {
      const r = await client.request("POST", `/api/v1/namespaces/${ns}/services`, ownService);
      record(createObservation("services", namespace, name, r));
      client.checkAccess(r, `creating Service ${name}`);
      if (r.status >= 300) throw new BadInputError(`creating Service ${name}: ${apiMessage(r)}`, "fix the Service fields podtrace derives from the pod's container ports");
      serviceCreated = true;
    }
    if (options.signal.aborted) throw new Error("interrupted before the pod was created");
    options.progress?.("creating pod");
    // From here the pod may exist even if the response never arrives: clean up by name.
    podCreateSent = true;
    const created = await client.request("POST", `/api/v1/namespaces/${ns}/pods`, pod, AbortSignal.any([options.signal, AbortSignal.timeout(30_000)]));
    record(createObservation("pods", namespace, name, created));
    if (created.status === 401) client.checkAccess(created, `creating pod ${name}`);
    if (created.status >= 300) {
      // Rejected: the verdict carries the API's words; nothing was created.
      podCreateSent = created.status === 409 || created.status >= 500;
      end = "failed";
      endDetail = `rejected: ${apiMessage(created)}`;
    } else {
      ({ end, endDetail } = await waitForOutcome(options, observations, () => changedPromise));
      await readBeforeDeletion(client, namespace, name, observations, record);
    }
  } catch (err) {
    end = options.signal.aborted ? "interrupted" : "error";
    endDetail = (err as Error).message;
    if (!options.signal.aborted) {
      record({ kind: "end", arrivedAt: clientNow(), reason: end, detail: endDetail });
      await cleanup();
      throw err;
    }
  }
  record({ kind: "end", arrivedAt: clientNow(), reason: end, ...(endDetail ? { detail: endDetail } : {}) });
  await cleanup();
  return { name, namespace, observations, timeline: correlate(observations), leftovers, kept: options.keep };

  async function cleanup(): Promise<void> {
    try {
      if (!options.keep) {
        options.progress?.("cleaning up");
        if (podCreateSent) await deleteAndConfirm(client, `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}`, `pod ${namespace}/${name}`, leftovers, observations);
        if (serviceCreated) await deleteAndConfirm(client, `/api/v1/namespaces/${ns}/services/${encodeURIComponent(name)}`, `service ${namespace}/${name}`, leftovers, observations);
      }
    } finally {
      watches.abort();
      await Promise.allSettled(watchers);
    }
  }
}

async function waitForOutcome(
  options: TraceOptions,
  observations: Observation[],
  nextChange: () => Promise<void>,
): Promise<{ end: EndObservation["reason"]; endDetail: string }> {
  const deadline = clientNow() + options.timeoutMs;
  const aborted = new Promise<void>((resolve) => {
    if (options.signal.aborted) resolve();
    options.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  let lastProgress = "";
  for (;;) {
    const t = correlate(observations);
    if (t.verdict.outcome === "ready") return { end: "ready", endDetail: "" };
    const reason = failFastReason(indexObservations(observations), options.failFast);
    if (reason) return { end: "failed", endDetail: reason };
    const waiting = t.phases.find((p) => p.status !== "done" && p.status !== "not-applicable");
    const progress = waiting ? `waiting for ${waiting.label}` : "waiting";
    if (progress !== lastProgress) options.progress?.(progress);
    lastProgress = progress;
    if (options.signal.aborted) return { end: "interrupted", endDetail: "interrupted" };
    const remaining = deadline - clientNow();
    if (remaining <= 0) return { end: "timeout", endDetail: `not Ready within ${Math.round(options.timeoutMs / 1000)}s` };
    await Promise.race([nextChange(), delay(Math.min(remaining, 1000)), aborted]);
  }
}

/**
 * Read what deletion would lose: every Event of the pod as stored now (a watch may not
 * have delivered the newest yet), and the log tail of containers that stopped.
 */
async function readBeforeDeletion(client: KubeClient, namespace: string, name: string, observations: Observation[], record: (o: Observation) => void): Promise<void> {
  const ns = encodeURIComponent(namespace);
  const events = await client.request("GET", `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`).catch(() => null);
  if (events?.status === 200) {
    const arrivedAt = clientNow();
    for (const e of asArrayOf(events.body["items"])) record({ kind: "watch", resource: "events", type: "SYNC", arrivedAt, object: withoutManagedFields(e) });
  }
  const pod = lastSnapshot(indexObservations(observations).pods)?.pod;
  if (!pod) return;
  for (const c of containersInStartOrder(pod)) {
    const status = containerStatus(pod, c);
    const state = asRecord(status?.["state"]);
    const terminated = asRecord(state["terminated"]);
    const restarted = typeof status?.["restartCount"] === "number" && (status["restartCount"] as number) > 0;
    const failedNow = typeof terminated["exitCode"] === "number" && terminated["exitCode"] !== 0;
    if (!failedNow && !restarted) continue;
    const previous = !failedNow && restarted;
    const path = `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}/log?container=${encodeURIComponent(c.name)}&tailLines=20${previous ? "&previous=true" : ""}`;
    const log = await client.request("GET", path).catch(() => null);
    if (log?.status === 200) record({ kind: "log", arrivedAt: clientNow(), pod: name, container: c.name, previous, text: log.text });
  }
}

/** Delete an object and wait until it is gone; what stays is reported, never hidden. */
async function deleteAndConfirm(client: KubeClient, path: string, what: string, leftovers: string[], observations: Observation[]): Promise<void> {
  // Grace period 0: the object is ours, created seconds ago; waiting for a graceful stop
  // would only make every run slower.
  const body = { kind: "DeleteOptions", apiVersion: "v1", gracePeriodSeconds: 0, propagationPolicy: "Background" };
  let r: ApiResponse;
  try {
    r = await client.request("DELETE", path, body);
  } catch (err) {
    leftovers.push(`${what}: delete failed (${(err as Error).message}); remove it with: kubectl delete ${what.split(" ")[0]} ${what.split(" ")[1]?.split("/")[1]} -n ${what.split(" ")[1]?.split("/")[0]}`);
    return;
  }
  if (r.status === 404) return;
  if (r.status >= 300) {
    leftovers.push(`${what}: delete failed (${apiMessage(r)})`);
    return;
  }
  const until = clientNow() + 30_000;
  while (clientNow() < until) {
    const check = await client.request("GET", path).catch(() => null);
    if (check?.status === 404) return;
    await delay(200);
  }
  leftovers.push(`${what}: still present 30s after deletion`);
  void observations;
}

function recordItem(record: (o: Observation) => void, resource: WatchedResource, item: WatchItem): void {
  switch (item.type) {
    case "event":
      record({ kind: "watch", resource, type: item.event, arrivedAt: item.arrivedAt, object: withoutManagedFields(item.object) });
      break;
    case "sync":
      for (const object of item.objects) record({ kind: "watch", resource, type: "SYNC", arrivedAt: item.arrivedAt, object: withoutManagedFields(object) });
      if (!item.initial) record({ kind: "watch-status", resource, status: "gone", arrivedAt: item.arrivedAt, detail: `relisted ${item.objects.length} objects` });
      break;
    case "status":
      record({ kind: "watch-status", resource, status: item.status, arrivedAt: item.arrivedAt, detail: item.detail });
      break;
  }
}

/** managedFields say who last wrote which field: large, and no part of startup. */
function withoutManagedFields(object: RawObject): RawObject {
  const metadata = asRecord(object["metadata"]);
  if (!("managedFields" in metadata)) return object;
  const { managedFields: _, ...rest } = metadata;
  return { ...object, metadata: rest };
}

function createObservation(resource: "pods" | "services", namespace: string, name: string, r: ApiResponse): Observation {
  return { kind: "create", resource, namespace, name, sentAt: r.sentAt, receivedAt: r.receivedAt, serverDate: r.date, status: r.status, object: withoutManagedFields(r.body) };
}

async function getServerVersion(client: KubeClient): Promise<string | null> {
  const r = await client.request("GET", "/version");
  client.checkAccess(r, "reading the server version");
  if (r.status !== 200) throw new ClusterAccessError(`the API server at ${client.server} answered /version with HTTP ${r.status}`, "is this a Kubernetes API server? try: kubectl version");
  return str(r.body["gitVersion"]) || null;
}

function asArrayOf(value: unknown): RawObject[] {
  return Array.isArray(value) ? (value as RawObject[]) : [];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
