/**
 * One traced run: create the pod (or --replicas copies of it, and a Service), watch the
 * pods, their Events and EndpointSlices until they are Ready, fail, time out or are
 * interrupted, then read what deletion would lose and clean up everything created. The
 * observed stream is the result; timelines are computed from it by the pure core.
 *
 * The number of watches is constant: one per kind of object, whatever the number of pods.
 */
import { BadInputError, ClusterAccessError } from "../errors.ts";
import { correlate } from "../core/correlate.ts";
import { failFastReason, type FailFastPolicy } from "../core/fail-fast.ts";
import { podsRefused } from "../core/rejection.ts";
import { asArray, asRecord, indexObservations, str } from "../core/observed-run.ts";
import type { CreateObservation, EndObservation, Observation, RawObject, WatchedResource } from "../core/observation.ts";
import { claimOf, podOf } from "../core/pod-set.ts";
import { containerStatus, containersInStartOrder, lastSnapshot, restartCount, terminatedState } from "../core/pod-status.ts";
import { apiMessage, KubeClient, watchTransport, type ApiResponse } from "../kube/client.ts";
import { watch, type WatchItem, type WatchTransport } from "../kube/watch.ts";
import { clientNow } from "../kube/clock.ts";
import { nameRun, RUN_LABEL, type NamedController } from "./pod-naming.ts";
import type { RecordingWriter } from "./recording.ts";
import { selects, serviceFor } from "./services.ts";

export interface TraceOptions {
  client: KubeClient;
  manifest: RawObject;
  /** --namespace, when given. */
  namespace?: string | undefined;
  /** How many copies of the pod to create (--replicas); 1 by default. */
  replicas?: number | undefined;
  timeoutMs: number;
  keep: boolean;
  service: boolean;
  failFast: FailFastPolicy;
  /** Aborted on SIGINT/SIGTERM: the run ends as interrupted and still cleans up. */
  signal: AbortSignal;
  recorder?: RecordingWriter | undefined;
  /** The run's id (the label value of everything the run creates); a new one when absent. */
  runId?: string | undefined;
  /** Called with what is being waited on, for the spinner. */
  progress?: (text: string) => void;
  /** Called with diagnostics for -v: the watches' health (closed, stalled, reconnected). */
  debug?: ((text: string) => void) | undefined;
  version: string;
}

export interface TraceResult {
  /** The run's name: the pod's, or the prefix of the pods' names with --replicas. */
  name: string;
  runId: string;
  namespace: string;
  pods: string[];
  /** How many pods the run waited for. */
  expectedPods: number;
  /** The controller the run created, if it traced a Deployment, ReplicaSet or Job. */
  controller: NamedController["kind"] | null;
  observations: Observation[];
  /** What could not be cleaned up, for the user to remove by hand. */
  leftovers: string[];
  kept: boolean;
  /** The API server's gitVersion, from /version. */
  serverVersion: string | null;
}

/** How many create requests are in flight at once with --replicas. */
const CREATE_CONCURRENCY = 8;

export async function tracePod(options: TraceOptions): Promise<TraceResult> {
  const { client } = options;
  const replicas = options.replicas ?? 1;
  const named = nameRun(options.manifest, options.namespace, client.namespace, replicas, options.runId);
  const { name, namespace, runId, controller, template } = named;
  // The pods of the run: known up front when podtrace creates them, learnt from the pod
  // watch (by the run's label) when a controller does.
  const podNames = new Set(named.pods.map((p) => p.name));
  const single = named.pods.length === 1 && !controller;
  const ns = encodeURIComponent(namespace);
  const versionResponse = await getServerVersion(client);
  const serverVersion = str(versionResponse.body["gitVersion"]) || null;
  const podLabels = asRecord(asRecord(template["metadata"])["labels"]);

  // Services that already select the pods, plus the one --service creates.
  const serviceList = await client.request("GET", `/api/v1/namespaces/${ns}/services`);
  client.checkAccess(serviceList, `listing Services in namespace ${namespace}`);
  const selecting = serviceList.status === 200 ? asArray(serviceList.body["items"]).filter((s) => selects(s, podLabels)) : [];
  const serviceNames = selecting.map((s) => str(asRecord(s["metadata"])["name"]));
  const ownService = options.service ? serviceFor(template, name, runId) : null;
  if (ownService) serviceNames.push(name);
  // The PersistentVolumeClaims the pods use: their binding, provisioning and events are
  // part of the startup.
  const claims = claimNames(template, controller ? [] : [...podNames]);
  const isOurClaim = (claim: string) =>
    claims.names.has(claim) || (controller !== null && claims.ephemeral && claim.startsWith(`${name}-`));
  // What was read before the run starts, recorded once the recording has its header: the
  // round trips bound the watches' latency, the Services' specs say how they publish.
  const early: Observation[] = [
    requestObservation("GET", "/version", versionResponse),
    requestObservation("GET", `/api/v1/namespaces/${ns}/services`, serviceList),
    ...selecting.map((s): Observation => ({
      kind: "watch",
      resource: "services",
      type: "SYNC",
      arrivedAt: serviceList.receivedAt,
      object: withoutManagedFields(s),
    })),
  ];

  const observations: Observation[] = [];
  // Each pod's own stream, kept as observations arrive, and which pods changed since the
  // last look: with many pods only those are correlated again.
  const streams = new Map<string, Observation[]>(named.pods.map((p) => [p.name, []]));
  const changedPods = new Set<string>(streams.keys());
  let changed: () => void = () => undefined;
  let changedPromise = new Promise<void>((r) => (changed = r));
  // Both Events APIs serve the same Event objects: the first copy of each version to
  // arrive is kept, later copies add nothing.
  const seenEvents = new Set<string>();
  const record = (o: Observation) => {
    // Claims and their events are shared by the pods that use them; others' are not ours.
    const claim = claimOf(o);
    if (claim !== null && !isOurClaim(claim)) return;
    // With many pods the Events watch sees the whole namespace: keep only ours.
    const pod = podOf(o);
    if (controller && pod !== null && !podNames.has(pod)) {
      if (o.kind === "watch" && o.resource === "pods") {
        // A pod the controller created: its stream starts with everything shared so far,
        // and with its Events if any came before the pod itself.
        podNames.add(pod);
        streams.set(
          pod,
          observations.filter((x) => {
            const of = podOf(x);
            return of === null || of === pod;
          }),
        );
        changedPods.add(pod);
      } else if (pod !== name && !pod.startsWith(`${name}-`)) {
        // Controller-made pods (and a Deployment's ReplicaSets) are named after the
        // controller; anything else is not ours.
        return;
      }
    }
    if (!controller && pod !== null && !podNames.has(pod)) return;
    if (o.kind === "watch" && (o.resource === "events" || o.resource === "events.k8s.io")) {
      const meta = asRecord(o.object["metadata"]);
      const key = `${str(meta["uid"])}/${str(meta["resourceVersion"])}/${o.type === "DELETED" ? "deleted" : ""}`;
      if (seenEvents.has(key)) return;
      seenEvents.add(key);
    }
    observations.push(o);
    if (o.kind === "watch-status") options.debug?.(`watch ${o.resource}: ${o.status}${o.detail ? ` (${o.detail})` : ""}`);
    for (const [podName, stream] of streams) {
      if (pod !== null && pod !== podName) continue;
      stream.push(o);
      changedPods.add(podName);
    }
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
    replicas: named.expectedPods,
    ...(controller ? { controller: controller.kind } : {}),
    manifest: controller?.object ?? template,
  });
  for (const o of early) record(o);

  const watches = new AbortController();
  const connected: Promise<void>[] = [];
  const watchers: Promise<void>[] = [];
  const transport = watchTransport(client);
  // Each list's round trip is recorded: the quickest bounds the watches' latency.
  const timedTransport: WatchTransport = {
    ...transport,
    list: async (path, signal) => {
      const sentAt = clientNow();
      const r = await transport.list(path, signal);
      record(requestObservation("GET", path, { status: r.status, sentAt, receivedAt: clientNow() }));
      return r;
    },
  };
  const startWatch = (
    resource: WatchedResource,
    path: string,
    params: Record<string, string>,
    initialList: "full" | "resourceVersionOnly" = "resourceVersionOnly",
  ) => {
    let markConnected: () => void = () => undefined;
    connected.push(new Promise<void>((r) => (markConnected = r)));
    // Nothing of this run exists yet (claims aside): the first list is only for its resourceVersion.
    const stream = watch({ transport: timedTransport, path, params, signal: watches.signal, initialList });
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
  // One pod: server-side selectors keep the streams to that pod. Many: one stream per kind,
  // filtered here, so the number of watches does not grow with the number of pods.
  startWatch(
    "pods",
    `/api/v1/namespaces/${ns}/pods`,
    single ? { fieldSelector: `metadata.name=${name}` } : { labelSelector: `${RUN_LABEL}=${runId}` },
  );
  // A pod with claims: the claims' events (provisioning, binding) matter too, so the
  // Events watches see the namespace and keep only ours.
  const podOnlyEvents = single && claims.names.size === 0 && !claims.ephemeral;
  startWatch("events", `/api/v1/namespaces/${ns}/events`, podOnlyEvents ? { fieldSelector: `involvedObject.name=${name}` } : {});
  startWatch(
    "events.k8s.io",
    `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    podOnlyEvents ? { fieldSelector: `regarding.name=${name}` } : {},
  );
  if (claims.names.size > 0 || claims.ephemeral) {
    // Listed in full: a claim that exists already may be bound, or waiting.
    startWatch(
      "persistentvolumeclaims",
      `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      claims.names.size === 1 && !controller ? { fieldSelector: `metadata.name=${[...claims.names][0]!}` } : {},
      "full",
    );
  }
  if (serviceNames.length) {
    startWatch("endpointslices", `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
      labelSelector: `kubernetes.io/service-name in (${serviceNames.join(",")})`,
    });
  }
  // Watches start from their list's resourceVersion, so nothing is missed either way;
  // waiting for the streams to be open keeps the first arrivals prompt.
  await Promise.race([Promise.all(connected), delay(10_000)]);

  const leftovers: string[] = [];
  let podCreateSent = false;
  let serviceCreated = false;
  let end: EndObservation["reason"];
  let endDetail: string;
  try {
    if (ownService) {
      const r = await client.request("POST", `/api/v1/namespaces/${ns}/services`, ownService);
      record(createObservation("services", namespace, name, r));
      client.checkAccess(r, `creating Service ${name}`);
      if (r.status >= 300)
        throw new BadInputError(
          `creating Service ${name}: ${apiMessage(r)}`,
          "fix the Service fields podtrace derives from the pod's container ports",
        );
      serviceCreated = true;
    }
    if (options.signal.aborted) throw new Error("interrupted before the pod was created");
    options.progress?.(controller ? `creating ${controller.kind} ${name}` : single ? "creating pod" : `creating ${replicas} pods`);
    // From here pods may exist even if a response never arrives: clean up by label.
    podCreateSent = true;
    const rejected = controller
      ? await createController(client, ns, namespace, name, controller, options.signal, record)
      : await createPods(client, ns, namespace, named.pods, options.signal, record);
    if (rejected) {
      // Rejected: the verdict carries the API's words.
      if (rejected.status === 401) client.checkAccess(rejected, `creating pod ${name}`);
      end = "failed";
      endDetail = `rejected: ${apiMessage(rejected)}`;
    } else {
      ({ end, endDetail } = await waitForOutcome(options, named.expectedPods, streams, changedPods, () => changedPromise, observations));
      await readBeforeDeletion(client, namespace, single ? name : null, streams, record);
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
  return {
    name,
    runId,
    namespace,
    pods: [...podNames],
    expectedPods: named.expectedPods,
    controller: controller?.kind ?? null,
    observations,
    leftovers,
    kept: options.keep,
    serverVersion,
  };

  async function cleanup(): Promise<void> {
    try {
      if (!options.keep) {
        options.progress?.("cleaning up");
        // The controller first, or it would make new pods as fast as they are deleted.
        if (podCreateSent && controller) await deleteController(client, namespace, name, runId, controller, leftovers);
        if (podCreateSent) await deletePods(client, namespace, runId, leftovers);
        if (serviceCreated) await deleteService(client, namespace, name, leftovers);
      }
    } finally {
      watches.abort();
      await Promise.allSettled(watchers);
    }
  }
}

/** Create the pods, a few at a time; the first rejection stops the rest. */
async function createPods(
  client: KubeClient,
  ns: string,
  namespace: string,
  pods: { name: string; pod: RawObject }[],
  signal: AbortSignal,
  record: (o: Observation) => void,
): Promise<ApiResponse | null> {
  let rejected: ApiResponse | null = null;
  let next = 0;
  const worker = async () => {
    while (next < pods.length && !rejected && !signal.aborted) {
      const { name, pod } = pods[next++]!;
      const r = await client.request("POST", `/api/v1/namespaces/${ns}/pods`, pod, AbortSignal.any([signal, AbortSignal.timeout(30_000)]));
      record(createObservation("pods", namespace, name, r));
      if (r.status >= 300) rejected ??= r;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, pods.length) }, worker));
  if (signal.aborted) throw new Error("interrupted while creating pods");
  return rejected;
}

/** Create the Deployment or ReplicaSet; returns its rejection, if any. */
async function createController(
  client: KubeClient,
  ns: string,
  namespace: string,
  name: string,
  controller: NamedController,
  signal: AbortSignal,
  record: (o: Observation) => void,
): Promise<ApiResponse | null> {
  const r = await client.request(
    "POST",
    `/apis/${controller.apiVersion}/namespaces/${ns}/${controller.resource}`,
    controller.object,
    AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
  );
  record(createObservation(controller.resource, namespace, name, r));
  return r.status >= 300 ? r : null;
}

async function waitForOutcome(
  options: TraceOptions,
  expectedPods: number,
  streams: ReadonlyMap<string, Observation[]>,
  changedPods: Set<string>,
  nextChange: () => Promise<void>,
  observations: readonly Observation[],
): Promise<{ end: EndObservation["reason"]; endDetail: string }> {
  const deadline = clientNow() + options.timeoutMs;
  const aborted = new Promise<void>((resolve) => {
    if (options.signal.aborted) resolve();
    options.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  const ready = new Set<string>();
  /** What each pod not yet Ready waits for. */
  const waiting = new Map<string, string>();
  for (;;) {
    for (const pod of changedPods) {
      const stream = streams.get(pod);
      // A pod once Ready stays counted as Ready: it is not looked at again.
      if (!stream || ready.has(pod)) continue;
      const t = correlate(stream);
      // A Job's pod is done when it has completed; any other pod when it is Ready.
      if (t.verdict.outcome === "ready" || t.verdict.outcome === "completed") {
        ready.add(pod);
        waiting.delete(pod);
        continue;
      }
      const reason = failFastReason(indexObservations(stream), options.failFast);
      if (reason) return { end: "failed", endDetail: expectedPods > 1 || streams.size > 1 ? `${pod}: ${reason}` : reason };
      waiting.set(pod, t.phases.find((p) => p.onCriticalPath && p.status === "in-progress")?.label ?? "startup");
    }
    changedPods.clear();
    if (ready.size >= expectedPods) return { end: "ready", endDetail: "" };
    // A controller whose pods admission refuses makes none: its own events say so.
    const refused =
      streams.size === 0
        ? podsRefused(indexObservations(observations).events, options.failFast.immediate ? 1 : options.failFast.repeats)
        : null;
    if (refused) return { end: "failed", endDetail: refused };
    const waitingFor = waiting.values().next().value ?? "the controller to create pods";
    options.progress?.(expectedPods > 1 ? `${ready.size}/${expectedPods} done, waiting for ${waitingFor}` : `waiting for ${waitingFor}`);
    if (options.signal.aborted) return { end: "interrupted", endDetail: "interrupted" };
    const remaining = deadline - clientNow();
    if (remaining <= 0) return { end: "timeout", endDetail: `not Ready within ${Math.round(options.timeoutMs / 1000)}s` };
    await Promise.race([nextChange(), delay(Math.min(remaining, 1000)), aborted]);
    // Let the sockets be read first: an arrival is stamped when its bytes are read, so
    // correlating before reading what has already come would make arrivals late.
    await new Promise((resolve) => setImmediate(resolve));
    // Many pods change often: look again at most every 250 ms, not at every event.
    if (expectedPods > 1) await delay(250);
  }
}

/**
 * Read what deletion would lose: every Event of the pods as stored now (a watch may not
 * have delivered the newest yet), and the log tail of containers that stopped.
 */
async function readBeforeDeletion(
  client: KubeClient,
  namespace: string,
  onlyPod: string | null,
  streams: ReadonlyMap<string, Observation[]>,
  record: (o: Observation) => void,
): Promise<void> {
  const ns = encodeURIComponent(namespace);
  // One pod: a field selector. Many: the namespace's Events in pages (a busy namespace
  // holds thousands), of which record() keeps those of our pods.
  const query = onlyPod ? `fieldSelector=${encodeURIComponent(`involvedObject.name=${onlyPod}`)}` : "limit=500";
  let page: string | undefined = "";
  while (page !== undefined) {
    const events: ApiResponse | null = await client
      .request("GET", `/api/v1/namespaces/${ns}/events?${query}${page ? `&continue=${encodeURIComponent(page)}` : ""}`)
      .catch(() => null);
    if (events?.status !== 200) break;
    const arrivedAt = clientNow();
    for (const e of asArray(events.body["items"]))
      record({ kind: "watch", resource: "events", type: "SYNC", arrivedAt, object: withoutManagedFields(e) });
    page = str(asRecord(events.body["metadata"])["continue"]) || undefined;
  }
  for (const [name, stream] of streams) {
    const pod = lastSnapshot(indexObservations(stream).pods)?.pod;
    if (!pod) continue;
    for (const c of containersInStartOrder(pod)) {
      const status = containerStatus(pod, c);
      const terminated = terminatedState(pod, c);
      const restarted = restartCount(status) > 0;
      const failedNow = typeof terminated["exitCode"] === "number" && terminated["exitCode"] !== 0;
      if (!failedNow && !restarted) continue;
      const previous = !failedNow && restarted;
      const path = `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}/log?container=${encodeURIComponent(c.name)}&tailLines=20${previous ? "&previous=true" : ""}`;
      const log = await client.request("GET", path).catch(() => null);
      if (log?.status === 200) record({ kind: "log", arrivedAt: clientNow(), pod: name, container: c.name, previous, text: log.text });
    }
  }
}

/**
 * Delete the run's pods (found by the run's label) and wait until they are gone; what
 * stays is reported, never hidden. Grace period 0: the pods are ours, created seconds
 * ago; waiting for a graceful stop would only make every run slower.
 */
async function deletePods(client: KubeClient, namespace: string, runId: string, leftovers: string[]): Promise<void> {
  const ns = encodeURIComponent(namespace);
  const selector = encodeURIComponent(`${RUN_LABEL}=${runId}`);
  const body = { kind: "DeleteOptions", apiVersion: "v1", gracePeriodSeconds: 0, propagationPolicy: "Background" };
  const failed = new Map<string, string>();
  const until = clientNow() + 30_000;
  while (clientNow() < until) {
    const names = await listNames(client, `/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`);
    if (names?.length === 0) return;
    let next = 0;
    const worker = async () => {
      while (names && next < names.length) {
        const name = names[next++]!;
        const r = await client
          .request("DELETE", `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}`, body)
          .catch((err: Error) => err);
        if (r instanceof Error) failed.set(name, r.message);
        else if (r.status >= 300 && r.status !== 404) failed.set(name, apiMessage(r));
      }
    };
    await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
    await delay(200);
  }
  const remaining = (await listNames(client, `/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`)) ?? ["(could not list)"];
  for (const [name, why] of failed) leftovers.push(`pod ${namespace}/${name}: delete failed (${why})`);
  if (remaining.length) {
    leftovers.push(
      `pods still present 30s after deletion: ${remaining.join(", ")}; remove them with: kubectl delete pods -n ${namespace} -l ${RUN_LABEL}=${runId}`,
    );
  }
}

/** Delete the Deployment, ReplicaSet or Job, and a Deployment's ReplicaSets, so nothing makes new pods. */
async function deleteController(
  client: KubeClient,
  namespace: string,
  name: string,
  runId: string,
  controller: NamedController,
  leftovers: string[],
): Promise<void> {
  const ns = encodeURIComponent(namespace);
  const body = { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background" };
  const r = await client
    .request("DELETE", `/apis/${controller.apiVersion}/namespaces/${ns}/${controller.resource}/${encodeURIComponent(name)}`, body)
    .catch((err: Error) => err);
  if (r instanceof Error || (r.status >= 300 && r.status !== 404)) {
    leftovers.push(
      `${controller.kind} ${namespace}/${name}: delete failed (${r instanceof Error ? r.message : apiMessage(r)}); remove it with: kubectl delete ${controller.resource} ${name} -n ${namespace}`,
    );
  }
  if (controller.kind !== "Deployment") return;
  // The ReplicaSets carry the pod template's labels, the run's label among them. The
  // garbage collector would remove them too, but later: remove them now.
  const selector = encodeURIComponent(`${RUN_LABEL}=${runId}`);
  await client.request("DELETE", `/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=${selector}`, body).catch(() => null);
  const remaining = await waitUntilGone(client, `/apis/apps/v1/namespaces/${ns}/replicasets`, `${RUN_LABEL}=${runId}`);
  if (remaining.length) leftovers.push(`replicasets still present 30s after deletion: ${remaining.join(", ")}`);
}

async function deleteService(client: KubeClient, namespace: string, name: string, leftovers: string[]): Promise<void> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
  const r = await client.request("DELETE", path).catch((err: Error) => err);
  if (r instanceof Error || (r.status >= 300 && r.status !== 404)) {
    leftovers.push(
      `service ${namespace}/${name}: delete failed (${r instanceof Error ? r.message : apiMessage(r)}); remove it with: kubectl delete service ${name} -n ${namespace}`,
    );
  }
}

/** Poll a list until it is empty (30 s at most); returns the names still there. */
async function waitUntilGone(client: KubeClient, listPath: string, labelSelector: string): Promise<string[]> {
  const selector = encodeURIComponent(labelSelector);
  const until = clientNow() + 30_000;
  while (clientNow() < until) {
    // One item is enough to know whether any is left.
    const r = await client.request("GET", `${listPath}?labelSelector=${selector}&limit=1`).catch(() => null);
    if (r?.status === 200 && asArray(r.body["items"]).length === 0) return [];
    await delay(200);
  }
  return (await listNames(client, `${listPath}?labelSelector=${selector}`)) ?? ["(could not list)"];
}

function recordItem(record: (o: Observation) => void, resource: WatchedResource, item: WatchItem): void {
  switch (item.type) {
    case "event":
      record({ kind: "watch", resource, type: item.event, arrivedAt: item.arrivedAt, object: withoutManagedFields(item.object) });
      break;
    case "sync":
      for (const object of item.objects)
        record({ kind: "watch", resource, type: "SYNC", arrivedAt: item.arrivedAt, object: withoutManagedFields(object) });
      if (!item.initial)
        record({
          kind: "watch-status",
          resource,
          status: "gone",
          arrivedAt: item.arrivedAt,
          detail: `relisted ${item.objects.length} objects`,
        });
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

function createObservation(resource: CreateObservation["resource"], namespace: string, name: string, r: ApiResponse): Observation {
  return {
    kind: "create",
    resource,
    namespace,
    name,
    sentAt: r.sentAt,
    receivedAt: r.receivedAt,
    serverDate: r.date,
    status: r.status,
    object: withoutManagedFields(r.body),
  };
}

async function getServerVersion(client: KubeClient): Promise<ApiResponse> {
  const r = await client.request("GET", "/version");
  client.checkAccess(r, "reading the server version");
  if (r.status !== 200)
    throw new ClusterAccessError(
      `the API server at ${client.server} answered /version with HTTP ${r.status}`,
      "is this a Kubernetes API server? try: kubectl version",
    );
  return r;
}

function requestObservation(method: string, path: string, r: { status: number; sentAt: number; receivedAt: number }): Observation {
  return { kind: "request", method, path: path.split("?")[0] ?? path, sentAt: r.sentAt, receivedAt: r.receivedAt, status: r.status };
}

/**
 * The claims the pods use: named ones (persistentVolumeClaim.claimName) and the ones the
 * ephemeral volume controller makes for generic ephemeral volumes, named <pod>-<volume>.
 */
function claimNames(template: RawObject, pods: readonly string[]): { names: Set<string>; ephemeral: boolean } {
  const names = new Set<string>();
  let ephemeral = false;
  for (const v of asArray(asRecord(template["spec"])["volumes"])) {
    const claim = str(asRecord(v["persistentVolumeClaim"])["claimName"]);
    if (claim) names.add(claim);
    if (v["ephemeral"] !== undefined) {
      ephemeral = true;
      for (const pod of pods) names.add(`${pod}-${str(v["name"])}`);
    }
  }
  return { names, ephemeral };
}

/** The names of the objects a list returns, or null when the list failed. */
async function listNames(client: KubeClient, path: string): Promise<string[] | null> {
  const r = await client.request("GET", path).catch(() => null);
  return r?.status === 200 ? asArray(r.body["items"]).map((o) => str(asRecord(o["metadata"])["name"])) : null;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
