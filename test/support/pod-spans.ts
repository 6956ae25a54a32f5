/**
 * One pod's spans: what the kubelet did for it (each pod sync and the CRI calls made in
 * it), when it wrote the pod's status and its Events, and the apiserver's handling of the
 * pod's create request. The ground truth podtrace's boundaries are checked against.
 *
 * Which span marks which boundary, from the kubelet's source (v1.34, pkg/kubelet), with
 * figures (median, range) from 7 runs of test/fixtures/spans/startup-chain.yaml on the
 * local cluster: an init container, a native sidecar, an app container pulled with
 * imagePullPolicy Always, an exec postStart hook sleeping 2 s and a startupProbe.
 *
 * - syncPod (attributes k8s.pod.uid, k8s.pod.name, k8s.namespace.name,
 *   k8s.pod.update_type create|sync|update) is one run of Kubelet.SyncPod by the pod's
 *   worker; the first ("create") starts when the worker picks up the bound pod (2.5 ms
 *   after the scheduler made its Scheduled event, -8..113). SyncPod computes the pod's API
 *   status from the runtime state *at its start*, hands it to the status manager (which
 *   writes it asynchronously: the PATCH below), then does the runtime work. So a container
 *   started in one sync is reported by a later one, once the PLEG (relisting every 1 s)
 *   has seen it, and the gaps between syncs are the kubelet's waits ("kubelet sync"): the
 *   app container's sync began 900 ms (838-912) after the native sidecar's StartContainer
 *   ended. syncTerminatingPod / syncTerminatedPod follow at deletion.
 * - Volumes have no span: the first syncPod waits in WaitForAttachAndMount before
 *   RunPodSandbox, which started 307 ms (305-326) into it with only the service-account
 *   token volume.
 * - runtime.v1.RuntimeService/RunPodSandbox (in the "create" syncPod): the sandbox and its
 *   CNI set-up, "sandbox + network", 180 ms (113-225). It ends when the pod IP exists;
 *   PodReadyToStartContainers reaches the API with the next status write, 684 ms
 *   (265-910) after it ended.
 * - runtime.v1.ImageService/PullImage: the pull. The kubelet makes the Pulling event, asks
 *   the (serial) image puller, which may queue it ("including waiting" in the Pulled
 *   message), then PullImage, then ImageStatus for the size, then the Pulled event: so
 *   [Pulling, Pulled] contains PullImage, which started 0.05 ms (0.03-0.84) after Pulling
 *   and ended 0.6 ms (0.35-4.5) before Pulled. A present image (IfNotPresent) has no
 *   PullImage, only ImageStatus calls, and a Pulled "already present" event after them.
 * - runtime.v1.RuntimeService/CreateContainer: "create"; the Created event is made 0.11 ms
 *   (0.03-0.27) after it ends. StartContainer: "start"; the Started event 0.07 ms
 *   (0.05-0.42) after it ends.
 * - runtime.v1.RuntimeService/ExecSync in a syncPod right after a StartContainer: an exec
 *   postStart hook, run synchronously (the sync, and every later container of the pod,
 *   waits for it): 2045 ms (2026-2988) for the 2 s sleep. Its end is the hook's end; the
 *   status showing the container running was written 842 ms (762-880) later. httpGet and
 *   sleep hooks have no span: the hook then ends where the sync's next CRI call begins, or
 *   at the syncPod's end.
 * - Probes have no span tied to the pod: exec probes are root ExecSync spans without pod
 *   attributes (the prober runs outside any sync), httpGet and tcpSocket probes have none.
 *   A probe result that changes the status (started, ready) shows as a status write.
 * - The kubelet's API requests are otelhttp client spans ("HTTP PATCH", http.url):
 *   PATCH .../pods/NAME/status is each status write (after a GET of the pod), POST/PATCH
 *   .../events each Event write. The apiserver starts its own trace for them (the kubelet
 *   is not in system:masters) and links its span to the kubelet's; it received them 0.7 ms
 *   after they were sent, and podtrace's pods watch delivered a write 2.7 ms (0.3-70)
 *   after the apiserver stored it.
 * - Events: client-go names each Event "<object name>.<hex UnixNano of its creation>" by
 *   the emitting process's clock, so the kubelet's Pulling/Pulled/Created/Started carry a
 *   nanosecond stamp in metadata.name although their timestamps are whole seconds
 *   (eventNameTimeMs). Not for runs through hack/kubelet-skew.sh, which shifts the names.
 * - The apiserver's create request: one trace with the otelhttp server span "POST
 *   /api/v1/namespaces/{:namespace}/pods" (attributes audit-id, user_agent.original,
 *   http.status_code), the handler span "Create" with the events "About to store object in
 *   database" (decoding done; mutating admission, defaulting and validating admission
 *   follow, each webhook as a "Call mutating webhook"/"Call validating webhook" span) and
 *   "Write to database call succeeded", the storage span "Create etcd3" (key
 *   /pods/NAMESPACE/NAME; creationTimestamp is set just before it) and SerializeObject.
 *   Admission (from that event to the storage span) took 2.9 ms (0.8-6.6) here. The
 *   scheduler emits no spans in v1.34.
 */
import type { Span } from "./otel-spans.ts";

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

/** A CRI call the kubelet made inside one of the pod's syncs. */
export interface CriCall {
  /** The CRI method: RunPodSandbox, PullImage, ImageStatus, CreateContainer, StartContainer, ExecSync, ... */
  method: string;
  span: Span;
  /** The syncPod (or syncTerminatingPod ...) span it was made in. */
  sync: Span;
}

/** The apiserver's side of one request: the trace it started for it. */
export interface ServerRequest {
  /** The otelhttp server span ("POST /api/v1/namespaces/{:namespace}/pods", ...). */
  request: Span;
  /** Every apiserver span of the trace, by start. */
  spans: Span[];
  /** The storage write ("Create etcd3", "GuaranteedUpdate etcd3"), if any. */
  storage: Span | null;
  /** The earliest span of the trace: the request's arrival, as the apiserver's filters saw it. */
  receivedMs: number;
  /** The end of the server span: the response written. */
  respondedMs: number;
}

/** A request the kubelet sent about the pod, with the apiserver's side when it was traced. */
export interface KubeletRequest {
  client: Span;
  server: ServerRequest | null;
}

export interface EventWrite extends KubeletRequest {
  /** metadata.name of the Event ("<pod>.<hex>"), from the apiserver's storage key. */
  eventName: string;
  /** The Event's creation by the kubelet's clock, from its name (epoch ms). */
  createdMs: number | null;
}

export interface PodCreate extends ServerRequest {
  /** The handler span "Create". */
  handler: Span;
  auditId: string;
  /** From "About to store object in database" to the storage write's start: defaulting and admission. */
  admission: { startMs: number; endMs: number } | null;
  /** "Call mutating webhook" / "Call validating webhook" spans. */
  webhooks: Span[];
}

export interface PodSpans {
  pod: PodRef;
  /** syncPod, syncTerminatingPod and syncTerminatedPod spans of the pod, by start. */
  syncs: Span[];
  /** CRI calls made inside those syncs, by start. */
  cri: CriCall[];
  /** The kubelet's PATCH .../pods/NAME/status, by start. */
  statusWrites: KubeletRequest[];
  /** The kubelet's writes of Events about the pod (creates and aggregating patches), by start. */
  eventWrites: EventWrite[];
  /** The apiserver's handling of the create request, when traced. */
  create: PodCreate | null;
}

const SYNC_SPANS = new Set(["syncPod", "syncTerminatingPod", "syncTerminatedPod"]);
const byStart = (a: { startMs: number }, b: { startMs: number }) => a.startMs - b.startMs;

/** The time in an Event's name "<object>.<hex UnixNano>", in epoch ms, or null for another name. */
export function eventNameTimeMs(eventName: string, objectName?: string): number | null {
  const dot = eventName.lastIndexOf(".");
  if (dot < 0 || (objectName !== undefined && eventName.slice(0, dot) !== objectName)) return null;
  const hex = eventName.slice(dot + 1);
  if (!/^[0-9a-f]{1,16}$/.test(hex)) return null;
  const ns = BigInt(`0x${hex}`);
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

/** Lookups over one set of spans, built once. */
class SpanIndex {
  readonly children = new Map<string, Span[]>();
  readonly traces = new Map<string, Span[]>();
  /** Apiserver server spans by the client span they link to. */
  readonly linkedFrom = new Map<string, Span>();

  constructor(spans: readonly Span[]) {
    for (const s of spans) {
      if (s.parentSpanId) push(this.children, `${s.traceId}/${s.parentSpanId}`, s);
      push(this.traces, s.traceId, s);
      for (const l of s.links) this.linkedFrom.set(`${l.traceId}/${l.spanId}`, s);
    }
  }

  descendants(s: Span): Span[] {
    const out: Span[] = [];
    const stack = [s];
    while (stack.length) {
      const next = stack.pop()!;
      for (const c of this.children.get(`${next.traceId}/${next.spanId}`) ?? []) {
        out.push(c);
        stack.push(c);
      }
    }
    return out.sort(byStart);
  }

  serverRequest(traceId: string): ServerRequest | null {
    const spans = (this.traces.get(traceId) ?? []).filter((s) => s.service === "apiserver").sort(byStart);
    const request = spans.find((s) => s.kind === 2 && s.scope.endsWith("otelhttp"));
    if (!request) return null;
    return {
      request,
      spans,
      storage: spans.find((s) => s.name.endsWith(" etcd3") && typeof s.attributes["key"] === "string") ?? null,
      receivedMs: spans[0]!.startMs,
      respondedMs: request.endMs,
    };
  }

  /** The apiserver's trace for a client span, found through the link the apiserver made to it. */
  serverFor(client: Span): ServerRequest | null {
    const linked = this.linkedFrom.get(`${client.traceId}/${client.spanId}`);
    // A system:masters client's trace context is continued instead: then it is the same trace.
    return this.serverRequest(linked ? linked.traceId : client.traceId);
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** The path of a kubelet client span's URL, or "" when it has none. */
function urlPath(s: Span): string {
  const url = s.attributes["http.url"] ?? s.attributes["url.full"];
  if (typeof url !== "string") return "";
  try {
    return new URL(url).pathname;
  } catch {
    return "";
  }
}

function podCreate(index: SpanIndex, spans: readonly Span[], pod: PodRef, firstSync: Span | undefined): PodCreate | null {
  const key = `/pods/${pod.namespace}/${pod.name}`;
  // A name can be reused: the last create before the kubelet first saw this pod.
  const creates = spans
    .filter((s) => s.service === "apiserver" && s.name === "Create etcd3" && s.attributes["key"] === key)
    .filter((s) => !firstSync || s.endMs <= firstSync.startMs)
    .sort(byStart);
  const storage = creates.at(-1);
  if (!storage) return null;
  const request = index.serverRequest(storage.traceId);
  const handler = request?.spans.find((s) => s.name === "Create");
  if (!request || !handler) return null;
  const toStore = handler.events.find((e) => e.name === "About to store object in database");
  return {
    ...request,
    storage,
    handler,
    auditId: String(handler.attributes["audit-id"] ?? request.request.attributes["audit-id"] ?? ""),
    admission: toStore ? { startMs: toStore.timeMs, endMs: storage.startMs } : null,
    webhooks: request.spans.filter((s) => s.name === "Call mutating webhook" || s.name === "Call validating webhook"),
  };
}

/** The spans about one pod, out of everything the collector kept. */
export function podSpans(spans: readonly Span[], pod: PodRef): PodSpans {
  const index = new SpanIndex(spans);
  const kubelet = spans.filter((s) => s.service === "kubelet");

  const syncs = kubelet.filter((s) => SYNC_SPANS.has(s.name) && s.attributes["k8s.pod.uid"] === pod.uid).sort(byStart);
  const cri: CriCall[] = [];
  for (const sync of syncs) {
    for (const s of index.descendants(sync)) {
      const method = s.attributes["rpc.method"];
      if (s.attributes["rpc.system"] === "grpc" && typeof method === "string") cri.push({ method, span: s, sync });
    }
  }
  cri.sort((a, b) => byStart(a.span, b.span));

  const base = `/api/v1/namespaces/${pod.namespace}`;
  const statusWrites: KubeletRequest[] = [];
  const eventWrites: EventWrite[] = [];
  for (const s of kubelet) {
    if (s.kind !== 3) continue;
    const path = urlPath(s);
    const method = s.attributes["http.method"] ?? s.attributes["http.request.method"];
    if (method === "PATCH" && path === `${base}/pods/${pod.name}/status`) {
      statusWrites.push({ client: s, server: index.serverFor(s) });
    } else if ((method === "POST" && path === `${base}/events`) || (method === "PATCH" && path.startsWith(`${base}/events/`))) {
      // Which Event it was shows only on the apiserver's side, in the storage key.
      const server = index.serverFor(s);
      const key = server?.storage?.attributes["key"];
      const eventName = typeof key === "string" ? key.slice(key.lastIndexOf("/") + 1) : path.slice(path.lastIndexOf("/") + 1);
      const createdMs = eventNameTimeMs(eventName, pod.name);
      if (createdMs !== null) eventWrites.push({ client: s, server, eventName, createdMs });
    }
  }
  statusWrites.sort((a, b) => byStart(a.client, b.client));
  eventWrites.sort((a, b) => byStart(a.client, b.client));

  return { pod, syncs, cri, statusWrites, eventWrites, create: podCreate(index, spans, pod, syncs[0]) };
}

/** What containerSteps needs of an Event: its name (which carries its creation time), reason and container. */
export interface KubeletEvent {
  name: string;
  reason: string;
  /** involvedObject.fieldPath (core/v1) or regarding.fieldPath (events.k8s.io/v1): spec.containers{web}. */
  fieldPath: string;
}

/** The kubelet's steps for one container, each the CRI call that did it. */
export interface ContainerSteps {
  fieldPath: string;
  /** PullImage between the container's Pulling and Pulled events (none when the image was present). */
  pull?: CriCall;
  create?: CriCall;
  start?: CriCall;
  /** The ExecSync right after StartContainer in the same sync: an exec postStart hook. */
  postStartHook?: CriCall;
}

/** The calls of a method that ended by `ms` (with 1 ms for the event's own stamp), latest first. */
function endedBy(calls: CriCall[], method: string, ms: number): CriCall[] {
  return calls.filter((c) => c.method === method && c.span.endMs <= ms + 1).sort((a, b) => b.span.endMs - a.span.endMs);
}

/**
 * Which CRI call did which container's steps. CRI spans do not name the container; the
 * kubelet's Events do (fieldPath), and each Event's name carries the instant the kubelet
 * made it, right after the call: Created after CreateContainer, Started after
 * StartContainer, Pulling before and Pulled after PullImage. Matching needs Events and
 * spans stamped by the same clock: not for runs through hack/kubelet-skew.sh, which
 * shifts the Events' names.
 */
export function containerSteps(p: PodSpans, events: readonly KubeletEvent[]): ContainerSteps[] {
  const byContainer = new Map<string, ContainerSteps>();
  const used = new Set<CriCall>();
  const take = (calls: CriCall[]) => calls.find((c) => !used.has(c));
  const timed = events
    .map((e) => ({ ...e, ms: eventNameTimeMs(e.name, p.pod.name) }))
    .filter((e): e is KubeletEvent & { ms: number } => e.ms !== null && e.fieldPath !== "")
    .sort((a, b) => a.ms - b.ms);
  for (const e of timed) {
    let steps = byContainer.get(e.fieldPath);
    if (!steps) byContainer.set(e.fieldPath, (steps = { fieldPath: e.fieldPath }));
    let call: CriCall | undefined;
    if (e.reason === "Created") call = steps.create = take(endedBy(p.cri, "CreateContainer", e.ms));
    else if (e.reason === "Started") {
      call = steps.start = take(endedBy(p.cri, "StartContainer", e.ms));
      if (call) {
        const start = call;
        const next = p.cri.find((c) => c.sync === start.sync && c.span.startMs >= start.span.endMs && c !== start);
        if (next?.method === "ExecSync") used.add((steps.postStartHook = next));
      }
    } else if (e.reason === "Pulled") {
      const pulled = take(endedBy(p.cri, "PullImage", e.ms));
      const pulling = timed.find((x) => x.reason === "Pulling" && x.fieldPath === e.fieldPath && x.ms <= e.ms);
      // "already present" has no Pulling and no pull.
      if (pulled && pulling && pulled.span.startMs >= pulling.ms - 1) call = steps.pull = pulled;
    }
    if (call) used.add(call);
  }
  return [...byContainer.values()];
}
