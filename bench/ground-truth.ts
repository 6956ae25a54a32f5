/**
 * Ground truth for the timeline's boundaries: the spans the local cluster's kubelet and
 * apiserver emit (OpenTelemetry, kept by hack/otel-collector.sh), against where podtrace
 * placed each boundary. Every process here shares one clock, so a span's instant and a
 * boundary's are directly comparable.
 *
 * Which span marks which boundary (see test/support/pod-spans.ts for why):
 * - admission end: the pod's write to etcd ("Create etcd3" in the create request's trace),
 *   committed (its etcd transaction's end: watchers hear of it from then on; so for every
 *   write below);
 * - scheduling end: the binding's write (the trace of the scheduler's POST .../binding);
 * - sandbox end: RunPodSandbox's end;
 * - a container's image pull end: the end of the ImageStatus that follows its PullImage, or
 *   of the one that found the image present; create end: CreateContainer's end; start
 *   end: StartContainer's;
 * - an exec postStart hook's end: the ExecSync the sync made right after the start;
 * - kubelet sync end: the start of the pod sync that started the next container;
 * - status report, startup probe, readiness probe, readiness gates (Ready): the status
 *   write (the apiserver's etcd write of PATCH .../status) that the update showing the
 *   boundary came from: the last one before that update arrived;
 * - endpoints: the last EndpointSlice write before the update showing the publication.
 * Init containers' exits have no span (the runtime's exit is not traced), nor has a
 * sidecar's passing startup probe (the next container starts before the status says so):
 * not compared.
 *
 * Per kind of boundary: the median and 95th percentile of |podtrace - span|, and how
 * often the span's instant is inside the window podtrace reported.
 */
import { readFileSync } from "node:fs";
import type { Observation, RawObject } from "../src/core/observation.ts";
import { percentile } from "../src/core/pod-set.ts";
import { containersInStartOrder } from "../src/core/pod-status.ts";
import type { Boundary, Phase, Timeline } from "../src/core/timeline.ts";
import { parseRecording } from "../src/trace/recording.ts";
import { markSpans, waitForSpans, type Span } from "../test/support/otel-spans.ts";
import { podSpans } from "../test/support/pod-spans.ts";

/** One boundary compared with its span. */
export interface TruthSample {
  scenario: string;
  /** The boundary's kind, e.g. "container-start end" or "status-report end". */
  kind: string;
  /** podtrace had the arrival of a watch event among the boundary's signals. */
  arrival: boolean;
  /** podtrace's instant minus the span's, ms. */
  errorMs: number;
  /** The span's instant lies inside the window podtrace reported. */
  inside: boolean;
}

export interface TracedRun {
  scenario: string;
  timeline: Timeline;
  observations: readonly Observation[];
}

/** Reads a run's recording into what the comparison needs. */
export function tracedRun(scenario: string, timeline: Timeline, recordingFile: string): TracedRun {
  return { scenario, timeline, observations: parseRecording(readFileSync(recordingFile, "utf8"), recordingFile).observations };
}

/** Waits until the spans of every run's pod have arrived (the kubelet exports every 5 s). */
export async function spansFor(mark: ReturnType<typeof markSpans>, runs: readonly TracedRun[]): Promise<Span[]> {
  const uids = runs.map((r) => r.timeline.pod.uid).filter((u): u is string => u !== null);
  // The pods were deleted after their runs: their syncTerminatedPod spans are the last.
  return waitForSpans(
    mark,
    (spans) => uids.every((uid) => spans.some((s) => s.name === "syncTerminatedPod" && s.attributes["k8s.pod.uid"] === uid)),
    { timeoutMs: 30_000 },
  );
}

/** Every boundary of the run that has a span, compared. */
/**
 * `minOneWayMs`: the least time a watch event takes to reach podtrace in this set-up (the
 * delaying proxy's delay): a write whose update arrived at A began before A minus that.
 */
export function compare(run: TracedRun, spans: readonly Span[], minOneWayMs = 0): TruthSample[] {
  const t = run.timeline;
  if (!t.pod.uid) return [];
  const create = run.observations.find((o) => o.kind === "create" && o.resource === "pods");
  if (!create || create.kind !== "create") return [];
  const submit = create.sentAt;
  const ps = podSpans(spans, { namespace: t.pod.namespace, name: t.pod.name, uid: t.pod.uid });
  const samples: TruthSample[] = [];
  /** `truth`: an instant, or for a write the interval of its etcd transaction (the commit is somewhere in it). */
  const add = (kind: string, b: Boundary | null | undefined, truth: number | readonly [number, number] | null | undefined) => {
    if (!b || truth === null || truth === undefined) return;
    const [lo, hi] = typeof truth === "number" ? [truth, truth] : truth;
    const at = submit + b.offsetMs;
    const window = b.windowMs ? [submit + b.windowMs[0], submit + b.windowMs[1]] : [at, at];
    samples.push({
      scenario: run.scenario,
      kind,
      arrival: b.sources.some((s) => s.startsWith("arrival")),
      errorMs: at < lo ? at - lo : at > hi ? at - hi : 0,
      // The window is rounded to the microsecond; the span to the nanosecond.
      inside: hi >= window[0]! - 0.01 && lo <= window[1]! + 0.01,
    });
  };
  const phase = (id: string): Phase | undefined => t.phases.find((p) => p.id === id && p.onCriticalPath);

  const commit = (storage: Span | null | undefined) => (storage ? committed(spans, storage) : null);
  add("admission end", phase("admission")?.end, commit(ps.create?.storage));
  add("scheduling end", (phase("volume-binding") ?? phase("scheduling"))?.end, bindingWrite(spans, t.pod.namespace, t.pod.name));
  add("sandbox end", phase("sandbox")?.end, ps.cri.find((c) => c.method === "RunPodSandbox")?.span.endMs);

  const pod = (run.observations.find((o) => o.kind === "create" && o.resource === "pods") as { object: RawObject }).object;
  const creates = ps.cri.filter((c) => c.method === "CreateContainer");
  const starts = ps.cri.filter((c) => c.method === "StartContainer");
  containersInStartOrder(pod).forEach((c, i) => {
    const create = creates[i];
    const start = starts[i];
    if (!create || !start) return;
    // The image calls for this container: after the previous container's start (or the
    // sandbox) and before its create. The Pulled event follows a pull's ImageStatus (for
    // the size), or the one ImageStatus that found the image present; the ImageStatus
    // calls after it (for the image's user, in making the container's config) are create's.
    const after = i === 0 ? (ps.cri.find((x) => x.method === "RunPodSandbox")?.span.endMs ?? 0) : (starts[i - 1]?.span.endMs ?? 0);
    const calls = ps.cri.filter(
      (x) => (x.method === "ImageStatus" || x.method === "PullImage") && x.span.startMs >= after && x.span.endMs <= create.span.startMs,
    );
    const pull = calls.findIndex((x) => x.method === "PullImage");
    const pulledAfter = pull >= 0 ? (calls.slice(pull + 1).find((x) => x.method === "ImageStatus") ?? calls[pull]) : calls[0];
    add("image-pull end", phase(`image-pull:${c.name}`)?.end, pulledAfter?.span.endMs);
    add("container-create end", phase(`container-create:${c.name}`)?.end, create.span.endMs);
    add("container-start end", phase(`container-start:${c.name}`)?.end, start.span.endMs);
    // The sync that started this container: a kubelet sync before it ended when it began.
    add("kubelet-sync end", phase(`kubelet-sync:${c.name}`)?.end, create.sync.startMs);
    if (c.hasPostStartHook) {
      const hook = ps.cri.find((x) => x.method === "ExecSync" && x.sync === start.sync && x.span.startMs >= start.span.endMs);
      add("post-start-hook end", phase(`post-start-hook:${c.name}`)?.end, hook?.span.endMs);
    }
  });

  // Status-borne boundaries: the status write whose update showed them.
  const writes = ps.statusWrites.map((w) => commit(w.server?.storage)).filter((x): x is [number, number] => x !== null);
  // The write whose update showed the boundary: the last that began before it was sent to
  // podtrace (its arrival less the set-up's least delay; else, 25 ms away, the next write,
  // begun while the update was on its way, would be taken for it).
  const writeBefore = (b: Boundary | null | undefined) => {
    if (!b?.windowMs) return null;
    const latest = submit + b.windowMs[1] - minOneWayMs;
    return writes.filter((w) => w[0] <= latest).at(-1) ?? null;
  };
  for (const p of t.phases.filter((x) => x.onCriticalPath)) {
    // A sidecar's passing startup probe makes the kubelet start the next container at once,
    // before the status saying so is written: no span marks the probe's result itself.
    if (p.kind === "startup-probe" && p.containerType === "sidecar") continue;
    if (["status-report", "startup-probe", "readiness", "readiness-gates"].includes(p.kind))
      add(`${p.kind} end`, p.end, writeBefore(p.end));
  }
  const endpoints = phase("endpoints");
  if (endpoints?.end?.windowMs) {
    const latest = submit + endpoints.end.windowMs[1] - minOneWayMs;
    const sliceWrites = endpointSliceWrites(spans, t.pod.namespace).filter((w) => w[0] <= latest);
    add("endpoints end", endpoints.end, sliceWrites.at(-1));
  }
  return samples;
}

/**
 * When a storage write was committed: during etcd's transaction inside it (its last one: a
 * conflict makes the apiserver try again). Watchers may hear of the change before the
 * transaction's response is back, while the apiserver's storage span goes on decoding: the
 * commit lies somewhere in the transaction.
 */
function committed(spans: readonly Span[], storage: Span): [number, number] {
  const txn = spans
    .filter(
      (s) => s.traceId === storage.traceId && s.name === "etcdserverpb.KV/Txn" && s.startMs >= storage.startMs && s.endMs <= storage.endMs,
    )
    .at(-1);
  return txn ? [txn.startMs, txn.endMs] : [storage.startMs, storage.endMs];
}

/** The etcd write of the pod's binding (the scheduler's POST .../pods/NAME/binding). */
function bindingWrite(spans: readonly Span[], namespace: string, name: string): [number, number] | null {
  const request = spans.find(
    (s) =>
      s.service === "apiserver" &&
      s.kind === 2 &&
      String(s.attributes["http.target"] ?? "").startsWith(`/api/v1/namespaces/${namespace}/pods/${name}/binding`),
  );
  if (!request) return null;
  const storage = spans.find((s) => s.traceId === request.traceId && s.name === "GuaranteedUpdate etcd3");
  return storage ? committed(spans, storage) : null;
}

/** The etcd writes of EndpointSlices in the namespace, in order. */
function endpointSliceWrites(spans: readonly Span[], namespace: string): [number, number][] {
  return spans
    .filter(
      (s) =>
        s.service === "apiserver" &&
        s.name.endsWith(" etcd3") &&
        String(s.attributes["key"] ?? "").includes(`/endpointslices/${namespace}/`),
    )
    .filter((s) => s.name.startsWith("Create") || s.name.startsWith("GuaranteedUpdate"))
    .map((s) => committed(spans, s))
    .sort((a, b) => a[0] - b[0]);
}

/** Per kind: how many, median and p95 of |error|, and the share inside the reported window. */
export function summarise(
  samples: readonly TruthSample[],
): { kind: string; n: number; medianMs: number; p95Ms: number; inside: number; arrival: boolean }[] {
  const kinds = [...new Set(samples.map((s) => s.kind))];
  return kinds.map((kind) => {
    const of = samples.filter((s) => s.kind === kind);
    const errors = of.map((s) => Math.abs(s.errorMs));
    return {
      kind,
      n: of.length,
      medianMs: round(percentile(errors, 50)),
      p95Ms: round(percentile(errors, 95)),
      inside: of.filter((s) => s.inside).length / of.length,
      arrival: of.every((s) => s.arrival),
    };
  });
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The pods the comparison runs: init containers, a sidecar, postStart hooks, probes, a real pull, a Service. */
export const TRUTH_SCENARIOS: { name: string; args: string[]; before?: () => Promise<void> }[] = [
  { name: "one-container", args: [] },
  { name: "init-containers", args: [] },
  { name: "native-sidecar", args: [] },
  { name: "post-start-hook", args: [] },
  { name: "startup-probe", args: [] },
  { name: "service-endpoints", args: ["--service"] },
  { name: "image-pulled", args: [] },
];

export interface GroundTruthOptions {
  /** Names this set of runs in the recordings' file names (/tmp/podtrace-truth-LABEL-...). */
  label: string;
  namespace: string;
  /** Runs of each scenario. */
  runs: number;
  /** The kubeconfig podtrace uses (the delaying proxy's, for the remote-cluster case). */
  kubeconfig: string;
  /** Before a run of a scenario that needs a real pull: make the node forget the image. */
  forgetImage: (image: string) => Promise<void>;
  /** The least one-way delay of a watch event in this set-up: the delaying proxy's, or 0. */
  minOneWayMs: number;
  /** Runs podtrace with these arguments and this kubeconfig; resolves with its stdout. */
  podtrace: (args: string[], kubeconfig: string) => Promise<string>;
}

/** Runs every scenario `runs` times, then compares each run's boundaries with the spans. */
export async function measureGroundTruth(options: GroundTruthOptions): Promise<TruthSample[]> {
  const mark = markSpans();
  const runs: TracedRun[] = [];
  for (let i = 0; i < options.runs; i++) {
    for (const scenario of TRUTH_SCENARIOS) {
      if (scenario.name === "image-pulled") await options.forgetImage("127.0.0.1:5000/bigimage:1");
      const recording = `/tmp/podtrace-truth-${options.label}-${scenario.name}-${i}.ndjson`;
      const stdout = await options.podtrace(
        [
          "run",
          `test/fixtures/manifests/${scenario.name}.yaml`,
          ...scenario.args,
          "-n",
          options.namespace,
          "-o",
          "json",
          "--record",
          recording,
        ],
        options.kubeconfig,
      );
      runs.push(tracedRun(scenario.name, JSON.parse(stdout) as Timeline, recording));
    }
  }
  const spans = await spansFor(mark, runs);
  return runs.flatMap((r) => compare(r, spans, options.minOneWayMs));
}
