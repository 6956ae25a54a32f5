/**
 * One traced run: create the pod (or --replicas copies of it, and a Service), watch the
 * pods, their Events and EndpointSlices until they are Ready, fail, time out or are
 * interrupted, then read what deletion would lose and clean up everything created. The
 * observed stream is the result; timelines are computed from it by the pure core.
 *
 * The create request goes out as early as correctness and the timeline's truth allow. One
 * pod's watches need no list (they start from "any" resourceVersion, which begins with the
 * state as it is) and go with the run's first request, the server version; the create
 * follows its answer. Many pods' watches, and those of a pod with claims, start from lists
 * of one item taken before the create, which waits for them. The run's result is returned
 * as soon as its outcome is decided; cleanup goes on behind it (`finished`).
 *
 * The number of watches is constant: one per kind of object, whatever the number of pods.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { BadInputError, ClusterAccessError, RequestNotSentError } from "../errors.ts";
import { correlate } from "../core/correlate.ts";
import { failFastReason, type FailFastPolicy } from "../core/fail-fast.ts";
import { podsRefused } from "../core/rejection.ts";
import { asArray, asRecord, indexObservations, str, type ObservedRun } from "../core/observed-run.ts";
import type { CreateObservation, EndObservation, Observation, RawObject, WatchedResource } from "../core/observation.ts";
import { claimOf, podOf } from "../core/pod-set.ts";
import { condition, nodeName, podPhase } from "../core/pod-status.ts";
import type { Timeline } from "../core/timeline.ts";
import { apiMessage, KubeClient, METADATA_ONLY, watchTransport, type ApiResponse } from "../kube/client.ts";
import { watch, withQuery, type WatchItem } from "../kube/watch.ts";
import { clientNow } from "../kube/clock.ts";
import { allPlaced, readBeforeDeletion } from "./final-read.ts";
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
  /** Called at the run's milestones with their time on the client clock (PODTRACE_TIMING). */
  milestone?: ((name: Milestone, at: number) => void) | undefined;
  version: string;
}

/** The moments the benchmark times: the create request sent, the arrival that decided the outcome, the decision, cleanup done. */
export type Milestone = "create-sent" | "scheduled" | "outcome-arrived" | "decided" | "cleaned-up";

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
  /** The observed stream up to the run's end: what its timelines are made of. */
  observations: Observation[];
  kept: boolean;
  /** The API server's gitVersion, from /version. */
  serverVersion: string | null;
  /**
   * Settles when the run is over: the final read done (when it came after the verdict),
   * everything created deleted (unless kept) and the watches closed. Its value is what
   * could not be cleaned up, for the user to remove by hand. Never rejects.
   */
  finished: Promise<string[]>;
}

/** When, after the create request, to measure a round trip to the apiserver (ms). */
const LATENCY_PROBES_MS = [0, 150, 600];

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
  const podLabels = asRecord(asRecord(template["metadata"])["labels"]);
  // The PersistentVolumeClaims the pods use: their binding, provisioning and events are
  // part of the startup.
  const claims = claimNames(template, controller ? [] : [...podNames]);
  const isOurClaim = (claim: string) =>
    claims.names.has(claim) || (controller !== null && claims.ephemeral && claim.startsWith(`${name}-`));
  const hasClaims = claims.names.size > 0 || claims.ephemeral;

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
  // Pods the pod watch saw deleted: cleanup waits on these rather than polling.
  const deletedPods = new Set<string>();
  let podDeleted: () => void = () => undefined;
  let nextDeletion = new Promise<void>((r) => (podDeleted = r));
  const gone = { has: (pod: string) => deletedPods.has(pod), next: () => nextDeletion };
  /** Set once the run's end is recorded: what comes after goes to the recording only. */
  let ended = false;
  const record = (o: Observation) => {
    // Claims and their events are shared by the pods that use them; others' are not ours.
    const claim = claimOf(o);
    if (claim !== null && !isOurClaim(claim)) return;
    // With many pods the Events watch sees the whole namespace: keep only ours.
    const pod = podOf(o);
    if (controller && pod !== null && !podNames.has(pod)) {
      if (o.kind === "watch" && o.resource === "pods" && !ended) {
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
    if (o.kind === "watch") {
      const object = withoutManagedFields(o.object);
      if (object !== o.object) o = { ...o, object };
    }
    if (o.kind === "watch-status") options.debug?.(`watch ${o.resource}: ${o.status}${o.detail ? ` (${o.detail})` : ""}`);
    options.recorder?.write(o);
    // After the end (cleanup, the final read when it comes after the verdict) nothing is
    // correlated any more: the recording has it, memory need not.
    if (!ended) {
      observations.push(o);
      if (pod === null) {
        for (const [podName, stream] of streams) {
          stream.push(o);
          changedPods.add(podName);
        }
      } else if (streams.has(pod)) {
        streams.get(pod)!.push(o);
        changedPods.add(pod);
      }
      changed();
      changedPromise = new Promise<void>((r) => (changed = r));
    }
    if (o.kind === "watch" && o.resource === "pods" && o.type === "DELETED" && pod !== null) {
      deletedPods.add(pod);
      podDeleted();
      nextDeletion = new Promise<void>((r) => (podDeleted = r));
    }
  };

  // --- The create, and what goes with it. ---------------------------------------------
  // One pod: server-side selectors keep the streams to that pod. Many: one stream per kind,
  // filtered here, so the number of watches does not grow with the number of pods.
  const watched: { resource: WatchedResource; path: string; params: Record<string, string>; required: boolean }[] = [
    {
      resource: "pods",
      path: `/api/v1/namespaces/${ns}/pods`,
      params: single ? { fieldSelector: `metadata.name=${name}` } : { labelSelector: `${RUN_LABEL}=${runId}` },
      required: true,
    },
    {
      resource: "events",
      path: `/api/v1/namespaces/${ns}/events`,
      // A pod with claims: the claims' events (provisioning, binding) matter too, so the
      // Events watches see the namespace and keep only ours.
      params: single && !hasClaims ? { fieldSelector: `involvedObject.name=${name}` } : {},
      required: true,
    },
    {
      // The newer Events API serves the same events: a second source, not a requirement.
      resource: "events.k8s.io",
      path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
      params: single && !hasClaims ? { fieldSelector: `regarding.name=${name}` } : {},
      required: false,
    },
  ];
  const claimsPath = `/api/v1/namespaces/${ns}/persistentvolumeclaims`;
  const claimParams: Record<string, string> =
    claims.names.size === 1 && !controller ? { fieldSelector: `metadata.name=${[...claims.names][0]!}` } : {};
  const slicesPath = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
  const version = client.serverVersion();
  // The recording holds what is recorded until its header, which names the server version.
  const header = version.then((serverVersion) =>
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
    }),
  );
  const watches = new AbortController();
  const watchers: Promise<void>[] = [];
  // A watch the cluster refuses (401, 403) ends the run: it could never see the pod start.
  let refusal: Error | null = null;
  let reject: (err: Error) => void = () => undefined;
  const refused = new Promise<never>((_, r) => (reject = r));
  refused.catch(noop);
  const refuse = (err: Error) => reject((refusal ??= err));
  const startWatch = (
    resource: WatchedResource,
    path: string,
    params: Record<string, string>,
    resourceVersion: string,
    required = true,
  ) => {
    const stream = watch({ transport: watchTransport(client), path, params, signal: watches.signal, resourceVersion });
    watchers.push(
      (async () => {
        for await (const item of stream) {
          if (item.type === "status" && item.status === "error" && /HTTP 40[013]\b/.test(item.detail)) {
            record({ kind: "watch-status", resource, status: "error", arrivedAt: item.arrivedAt, detail: item.detail });
            // 400: this cluster does not support the selector (or the API); the other Events
            // API still covers every event.
            if (required && !/HTTP 400\b/.test(item.detail))
              refuse(
                new ClusterAccessError(
                  `watching ${resource} in namespace ${namespace}: ${item.detail.replace(/; retrying in \d+ ms$/, "")}`,
                  `check your permissions with: kubectl auth can-i --list -n ${namespace}`,
                ),
              );
            return;
          }
          recordItem(record, resource, item);
        }
      })(),
    );
  };

  // Each list's round trip is recorded: the quickest bounds the watches' latency.
  const timed = (r: ApiResponse, path: string) => record(requestObservation("GET", path, r));
  const leftovers: string[] = [];
  /** Whether pods may exist: from the create's sending on (a response may never come). */
  let podCreateSent = false;
  /**
   * Whether the watches need no list first. One pod's streams are selected by its name: a
   * watch of them from "any" resourceVersion (0) begins with the state as it is (the pod,
   * and each of its Events, as ADDED if it exists already) and goes on with every change, so
   * it misses nothing whenever it connects. So they go with the run's first requests, on the
   * connection the server version's request is opening, and the create follows once that
   * request is answered: no list and watch one after the other before it. It waits that
   * long although it need not, for the truth of the timeline: answers read while the create
   * and the binding are on their way would be stamped late by the work of reading them (the
   * first of their kind compile the code that reads them), and with them the pod's creation
   * and binding, by 5 to 30 ms on the local cluster (measured against the apiserver's
   * spans). It does not wait for the watches themselves: a watch held up on its way must
   * not hold up the create, and misses nothing by connecting late. The streams of many
   * pods, or of a claim's events, cover the namespace, whose state may be thousands of
   * Events: those watches start from lists of one item taken before the create, and the
   * create waits for them (and for --service's Service).
   */
  const fromAny = single && !hasClaims && !options.service;
  if (fromAny) for (const w of watched) startWatch(w.resource, w.path, w.params, "0", w.required);
  const versions = fromAny ? [] : watched.map((w) => listResourceVersion(client, w.path, timed));
  // Which Services select the pod: their EndpointSlices' resourceVersion is taken at the
  // same time, unfiltered, and the watch filters from it. The pod is published only once
  // it is Ready: one pod's lists wait until it is scheduled (waitForOutcome's first heavy
  // work), out of the way of the create and the binding; the others' go with their lists.
  let servicesListed: Promise<[ApiResponse, Listed]> | null = null;
  const listServices = () =>
    (servicesListed ??= Promise.all([client.request("GET", `/api/v1/namespaces/${ns}/services`), listResourceVersion(client, slicesPath)]));
  if (!fromAny) listServices().catch(noop);
  /** Records the Services that select the pod and watches their EndpointSlices. */
  const followServices = async () => {
    const [serviceList, slices] = await listServices();
    client.checkAccess(serviceList, `listing Services in namespace ${namespace}`);
    timed(serviceList, `/api/v1/namespaces/${ns}/services`);
    const selecting = serviceList.status === 200 ? asArray(serviceList.body["items"]).filter((s) => selects(s, podLabels)) : [];
    // The selecting Services' specs say how they publish.
    for (const s of selecting) record({ kind: "watch", resource: "services", type: "SYNC", arrivedAt: serviceList.receivedAt, object: s });
    const serviceNames = selecting.map((s) => str(asRecord(s["metadata"])["name"]));
    if (options.service) serviceNames.push(name);
    if (!serviceNames.length) return;
    if (!slices.ok) {
      if (slices.response) client.checkAccess(slices.response, `listing EndpointSlices in namespace ${namespace}`);
      throw new ClusterAccessError(`listing EndpointSlices in namespace ${namespace}: ${slices.detail}`);
    }
    const params = { labelSelector: `kubernetes.io/service-name in (${serviceNames.join(",")})` };
    startWatch("endpointslices", slicesPath, params, slices.resourceVersion);
  };
  // Claims are listed in full: one that exists already may be bound, or waiting.
  const claimList = hasClaims ? client.request("GET", withQuery(claimsPath, claimParams)) : null;
  // Each is awaited where it is needed; one the run ends before (a rejected create) is not
  // an error of its own.
  for (const p of [version, header, claimList, ...versions]) p?.catch(noop);

  let serviceCreated = false;
  const ownService = options.service ? serviceFor(template, name, runId) : null;
  try {
    if (fromAny) {
      // The server version's answer (the first request on the connection), then one turn:
      // the watches' answers, sent right behind it and as quick, have come and been read.
      await version;
      await nextTurn();
      if (refusal) throw refusal;
    }
    const listed = await Promise.all(versions);
    for (const [i, l] of listed.entries()) {
      const w = watched[i]!;
      if (l.ok) startWatch(w.resource, w.path, w.params, l.resourceVersion, w.required);
      else if (w.required) {
        if (l.response) client.checkAccess(l.response, `listing ${w.resource} in namespace ${namespace}`);
        throw new ClusterAccessError(
          `listing ${w.resource} in namespace ${namespace}: ${l.detail}`,
          "is the cluster healthy? try: kubectl get --raw /readyz",
        );
      } else record({ kind: "watch-status", resource: w.resource, status: "error", arrivedAt: clientNow(), detail: l.detail });
    }
    if (claimList) {
      const r = await claimList;
      client.checkAccess(r, `listing PersistentVolumeClaims in namespace ${namespace}`);
      timed(r, claimsPath);
      for (const c of asArray(r.body["items"]))
        record({ kind: "watch", resource: "persistentvolumeclaims", type: "SYNC", arrivedAt: r.receivedAt, object: c });
      if (r.status === 200)
        startWatch("persistentvolumeclaims", claimsPath, claimParams, str(asRecord(r.body["metadata"])["resourceVersion"]));
    }
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
  } catch (err) {
    // Nothing of the workload exists yet: only the watches to stop.
    watches.abort();
    await Promise.allSettled(watchers);
    throw err;
  }

  let end: EndObservation["reason"];
  let endDetail: string;
  /** Whether the final read of Events is still to come (after the verdict). */
  let readLater = false;
  try {
    if (options.signal.aborted) throw new Error("interrupted before the pod was created");
    options.progress?.(controller ? `creating ${controller.kind} ${name}` : single ? "creating pod" : `creating ${replicas} pods`);
    podCreateSent = true;
    const onSent = (at: number) => options.milestone?.("create-sent", at);
    let rejected: ApiResponse | null;
    try {
      rejected = controller
        ? await createController(client, ns, namespace, name, controller, options.signal, record, onSent)
        : await createPods(client, ns, namespace, named.pods, options.signal, record, onSent);
    } catch (err) {
      // A create that never left (no connection) created nothing.
      if (err instanceof RequestNotSentError && single) podCreateSent = false;
      throw err;
    }
    // One pod refused (4xx): nothing to clean up.
    if (rejected && single && rejected.status < 500) podCreateSent = false;
    // Round trips on the warm connection: the first requests paid for its set-up (a TLS
    // handshake), so only these say how far away the apiserver is. A few, spread out, as
    // one may wait behind another request.
    for (const after of LATENCY_PROBES_MS) {
      setTimeout(() => {
        if (ended) return;
        void client.request("GET", "/version").then(
          (r) => record(requestObservation("GET", "/version", r)),
          () => undefined,
        );
      }, after).unref();
    }
    await header;
    if (!rejected && !fromAny) await followServices();
    if (rejected) {
      // Rejected: the verdict carries the API's words.
      if (rejected.status === 401) client.checkAccess(rejected, `creating pod ${name}`);
      end = "failed";
      endDetail = `rejected: ${apiMessage(rejected)}`;
    } else {
      // A failure of the Services' lists fails the run as a refused watch does.
      const onWarm = fromAny ? () => void followServices().catch(refuse) : noop;
      ({ end, endDetail } = await Promise.race([
        waitForOutcome(options, named.expectedPods, streams, changedPods, () => changedPromise, observations, onWarm),
        refused,
      ]));
      options.milestone?.("outcome-arrived", lastArrival(streams));
      // A Ready verdict whose phases are all placed is printed first; any other needs what
      // the final read may bring (a late event, a failed container's log tail).
      readLater = end === "ready" && [...streams.values()].every((s) => allPlaced(s));
      if (!readLater) await readBeforeDeletion(client, namespace, single ? name : null, streams, record);
    }
  } catch (err) {
    end = options.signal.aborted ? "interrupted" : "error";
    endDetail = (err as Error).message;
    if (!options.signal.aborted) {
      record({ kind: "end", arrivedAt: clientNow(), reason: end, detail: endDetail });
      ended = true;
      await cleanup();
      throw err;
    }
  }
  record({ kind: "end", arrivedAt: clientNow(), reason: end, ...(endDetail ? { detail: endDetail } : {}) });
  ended = true;
  options.milestone?.("decided", clientNow());
  const finished = (async () => {
    // Recorded after the end, so a replay shows what was printed; the recording still has it.
    if (readLater) await readBeforeDeletion(client, namespace, single ? name : null, streams, record).catch(() => undefined);
    await cleanup();
    options.milestone?.("cleaned-up", clientNow());
    return leftovers;
  })().catch((err: Error) => [...leftovers, `cleanup failed: ${err.message}`]);
  return {
    name,
    runId,
    namespace,
    pods: [...podNames],
    expectedPods: named.expectedPods,
    controller: controller?.kind ?? null,
    observations,
    kept: options.keep,
    serverVersion: await version,
    finished,
  };

  async function cleanup(): Promise<void> {
    try {
      if (!options.keep) {
        options.progress?.("cleaning up");
        // The controller first, or it would make new pods as fast as they are deleted.
        if (podCreateSent && controller) await deleteController(client, namespace, name, runId, controller, leftovers);
        await Promise.all([
          podCreateSent ? deletePods(client, namespace, runId, leftovers, gone) : null,
          serviceCreated ? deleteService(client, namespace, name, leftovers) : null,
        ]);
      }
    } finally {
      watches.abort();
      await Promise.allSettled(watchers);
    }
  }
}

/** The latest arrival in the pods' streams: what the outcome was decided on. */
function lastArrival(streams: ReadonlyMap<string, readonly Observation[]>): number {
  let latest = 0;
  for (const stream of streams.values()) {
    const o = stream.at(-1);
    if (o && "arrivedAt" in o) latest = Math.max(latest, o.arrivedAt);
    else if (o?.kind === "create") latest = Math.max(latest, o.receivedAt);
  }
  return latest;
}

type Listed = { ok: true; resourceVersion: string } | { ok: false; detail: string; response: ApiResponse | null };

/**
 * The collection's current resourceVersion, from a list of at most one item: a watch from
 * it misses nothing created afterwards, and a busy namespace's thousands of Events are
 * never fetched. Without the watch's selector: with one, the API server reads the whole
 * collection from etcd to find one match (15 ms for 400 Events here, in proportion on a
 * busy cluster); without, one item, ~3 ms. The create waits for this answer.
 */
async function listResourceVersion(client: KubeClient, path: string, timed?: (r: ApiResponse, path: string) => void): Promise<Listed> {
  const r = await client.request("GET", withQuery(path, { limit: "1" }), undefined, undefined, METADATA_ONLY);
  timed?.(r, path);
  if (r.status !== 200) return { ok: false, detail: `list failed: HTTP ${r.status} ${apiMessage(r)}`, response: r };
  return { ok: true, resourceVersion: str(asRecord(r.body["metadata"])["resourceVersion"]) };
}

/** Create the pods, a few at a time; the first rejection stops the rest. */
async function createPods(
  client: KubeClient,
  ns: string,
  namespace: string,
  pods: { name: string; pod: RawObject }[],
  signal: AbortSignal,
  record: (o: Observation) => void,
  onSent: (at: number) => void,
): Promise<ApiResponse | null> {
  let rejected: ApiResponse | null = null;
  let next = 0;
  let firstSent = Infinity;
  const worker = async () => {
    while (next < pods.length && !rejected && !signal.aborted) {
      const { name, pod } = pods[next++]!;
      const r = await client.request("POST", `/api/v1/namespaces/${ns}/pods`, pod, AbortSignal.any([signal, AbortSignal.timeout(30_000)]));
      firstSent = Math.min(firstSent, r.sentAt);
      record(createObservation("pods", namespace, name, r));
      if (r.status >= 300) rejected ??= r;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, pods.length) }, worker));
  if (firstSent < Infinity) onSent(firstSent);
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
  onSent: (at: number) => void,
): Promise<ApiResponse | null> {
  const r = await client.request(
    "POST",
    `/apis/${controller.apiVersion}/namespaces/${ns}/${controller.resource}`,
    controller.object,
    AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
  );
  onSent(r.sentAt);
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
  onWarm: () => void,
): Promise<{ end: EndObservation["reason"]; endDetail: string }> {
  const deadline = clientNow() + options.timeoutMs;
  const aborted = new Promise<void>((resolve) => {
    if (options.signal.aborted) resolve();
    options.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  const ready = new Set<string>();
  /** The pods not yet done, in the order they were first looked at. */
  const waiting = new Set<string>();
  /** The pods seen bound to a node. */
  const scheduled = new Set<string>();
  /**
   * Whether the heavy work of the run's main thread has been done: the first correlation
   * (compiling the core) and loading the renderers, each some 5 to 30 ms during which no
   * arrival can be stamped. They wait until every pod is scheduled: right after the create,
   * the binding's arrival would be stamped that much late, and the kubelet's first news of
   * a pod comes a hundred milliseconds or more after its binding. One pod's Services are
   * listed then too (onWarm).
   */
  let warmed = false;
  for (;;) {
    /** What the pods correlated in this round wait for. */
    const labels = new Map<string, string>();
    for (const pod of changedPods) {
      const stream = streams.get(pod);
      // A pod once Ready stays counted as Ready: it is not looked at again.
      if (!stream || ready.has(pod)) continue;
      const run = indexObservations(stream);
      if (run.pods.some((s) => s.type !== "DELETED" && nodeName(s.pod) !== "")) scheduled.add(pod);
      // Only a pod that has reported Ready, or has run to completion, can be done: the
      // whole correlation runs for those alone (and for the progress line, once warm).
      const label = warmed && options.progress && expectedPods === 1;
      if (label || mayBeDone(run)) {
        const t = correlate(stream);
        // A Job's pod is done when it has completed; any other pod when it is Ready.
        if (t.verdict.outcome === "ready" || t.verdict.outcome === "completed") {
          ready.add(pod);
          waiting.delete(pod);
          continue;
        }
        labels.set(pod, waitingFor(t));
      }
      waiting.add(pod);
      const reason = failFastReason(run, options.failFast);
      if (reason) return { end: "failed", endDetail: expectedPods > 1 || streams.size > 1 ? `${pod}: ${reason}` : reason };
    }
    changedPods.clear();
    if (ready.size >= expectedPods) return { end: "ready", endDetail: "" };
    if (!warmed && scheduled.size >= expectedPods) {
      warmed = true;
      // After the arrivals that came with the binding have been read.
      await nextTurn();
      options.milestone?.("scheduled", clientNow());
      onWarm();
      const first = streams.get(scheduled.values().next().value!);
      if (first) correlate(first);
    }
    // A controller whose pods admission refuses makes none: its own events say so.
    const refused =
      streams.size === 0
        ? podsRefused(indexObservations(observations).events, options.failFast.immediate ? 1 : options.failFast.repeats)
        : null;
    if (refused) return { end: "failed", endDetail: refused };
    if (options.progress) {
      const first = waiting.values().next().value;
      const label =
        first === undefined
          ? "the controller to create pods"
          : (labels.get(first) ??
            (warmed ? waitingFor(correlate(streams.get(first)!)) : scheduled.has(first) ? "the pod to start" : "scheduling"));
      options.progress(expectedPods > 1 ? `${ready.size}/${expectedPods} done, waiting for ${label}` : `waiting for ${label}`);
    }
    if (options.signal.aborted) return { end: "interrupted", endDetail: "interrupted" };
    const remaining = deadline - clientNow();
    if (remaining <= 0) return { end: "timeout", endDetail: `not Ready within ${Math.round(options.timeoutMs / 1000)}s` };
    await Promise.race([nextChange(), delay(Math.min(remaining, 1000)), aborted]);
    // Let the sockets be read first: an arrival is stamped when its bytes are read, so
    // correlating before reading what has already come would make arrivals late.
    await nextTurn();
    // Many pods change often: look again at most every 250 ms, not at every event.
    if (expectedPods > 1) await delay(250);
  }
}

/** What the pod watch saw deleted, and the next deletion it will see. */
interface Deletions {
  has(pod: string): boolean;
  next(): Promise<void>;
}

/** The first phase a timeline still waits for, named for the progress line. */
function waitingFor(t: Timeline): string {
  return t.phases.find((p) => p.onCriticalPath && p.status === "in-progress")?.label ?? "startup";
}

/** Whether any of the pod's snapshots showed it Ready or run to completion: the only pods that can be done. */
function mayBeDone(run: ObservedRun): boolean {
  return run.pods.some(
    (s) => s.type !== "DELETED" && (str(condition(s.pod, "Ready")?.["status"]) === "True" || podPhase(s.pod) === "Succeeded"),
  );
}

/**
 * Delete the run's pods (found by the run's label) and wait until they are gone; what
 * stays is reported, never hidden. Grace period 0: the pods are ours, created seconds
 * ago; waiting for a graceful stop would only make every run slower. The pod watch says
 * when they are gone (a list confirms it), so the wait ends when the API server removes
 * the last pod, not at the next poll; polls only back it up.
 */
async function deletePods(client: KubeClient, namespace: string, runId: string, leftovers: string[], gone: Deletions): Promise<void> {
  const ns = encodeURIComponent(namespace);
  const list = `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`${RUN_LABEL}=${runId}`)}`;
  const body = { kind: "DeleteOptions", apiVersion: "v1", gracePeriodSeconds: 0, propagationPolicy: "Background" };
  const failed = new Map<string, string>();
  const asked = new Set<string>();
  const until = clientNow() + 30_000;
  let pause = 200;
  let names = await listNames(client, list);
  while (names?.length !== 0 && clientNow() < until) {
    // Each pod is asked once; a failed request is asked again on the next round.
    const toDelete = (names ?? []).filter((n) => !asked.has(n) || failed.has(n));
    let next = 0;
    const worker = async () => {
      while (next < toDelete.length) {
        const name = toDelete[next++]!;
        asked.add(name);
        const r = await client
          .request("DELETE", `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}`, body)
          .catch((err: Error) => err);
        if (r instanceof Error) failed.set(name, r.message);
        else if (r.status >= 300 && r.status !== 404) failed.set(name, apiMessage(r));
        else failed.delete(name);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, toDelete.length) }, worker));
    const waitUntil = Math.min(clientNow() + pause, until);
    if (names === null) await delay(waitUntil - clientNow());
    while (names?.some((n) => !gone.has(n)) && clientNow() < waitUntil) {
      await Promise.race([gone.next(), delay(waitUntil - clientNow())]);
    }
    pause = Math.min(pause * 2, 1000);
    names = await listNames(client, list);
  }
  if (names?.length === 0) return;
  for (const [name, why] of failed) leftovers.push(`pod ${namespace}/${name}: delete failed (${why})`);
  leftovers.push(
    `pods still present 30s after deletion: ${(names ?? ["(could not list)"]).join(", ")}; remove them with: kubectl delete pods -n ${namespace} -l ${RUN_LABEL}=${runId}`,
  );
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
    const r = await client
      .request("GET", `${listPath}?labelSelector=${selector}&limit=1`, undefined, undefined, METADATA_ONLY)
      .catch(() => null);
    if (r?.status === 200 && asArray(r.body["items"]).length === 0) return [];
    await delay(200);
  }
  return (await listNames(client, `${listPath}?labelSelector=${selector}`)) ?? ["(could not list)"];
}

function recordItem(record: (o: Observation) => void, resource: WatchedResource, item: WatchItem): void {
  switch (item.type) {
    case "event":
      record({ kind: "watch", resource, type: item.event, arrivedAt: item.arrivedAt, object: item.object });
      break;
    case "sync":
      for (const object of item.objects) record({ kind: "watch", resource, type: "SYNC", arrivedAt: item.arrivedAt, object });
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

/** The names of the objects a list returns, or null when the list failed. */
async function listNames(client: KubeClient, path: string): Promise<string[] | null> {
  const r = await client.request("GET", path, undefined, undefined, METADATA_ONLY).catch(() => null);
  return r?.status === 200 ? asArray(r.body["items"]).map((o) => str(asRecord(o["metadata"])["name"])) : null;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
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

function noop(): void {}
