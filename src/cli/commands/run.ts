/**
 * `podtrace run -f FILE... | --image IMAGE`: create the other objects of the manifests,
 * trace the workload's pods (or --replicas copies of a pod) on the cluster, print the
 * timeline, and delete everything the run created, whatever the outcome.
 */
import { BadInputError } from "../../errors.ts";
import type { IOStreams } from "../io.ts";
import { outputWidth, useColor } from "../io.ts";
import { createStatus } from "../status.ts";
import type { Threshold } from "../../core/thresholds.ts";
import type { FailFastPolicy } from "../../core/fail-fast.ts";
import { KubeClient, type ClientOptions } from "../../kube/client.ts";
import { readManifests, splitWorkload, type ManifestObject } from "../../kube/manifest.ts";
import { pinToNode, podForImage, withPullPolicy, type ImageRun, type PullFlag } from "../../kube/pod-spec.ts";
import { tracePod, type TraceResult } from "../../trace/run-pod.ts";
import { RecordingWriter } from "../../trace/recording.ts";
import { nameRun, nameSuffix, RUN_LABEL } from "../../trace/pod-naming.ts";
import { createObjects, deleteCommand, deleteObjects, type CreatedObject } from "../../trace/create-objects.ts";
import type { OutputFormat } from "./output.ts";
import { ExitCode } from "../../errors.ts";

export interface RunOptions {
  /** -f paths (and a positional manifest): files, directories, - for stdin. */
  files: string[];
  /** --image: trace a pod built from the image instead of manifests. */
  image?: ImageRun | undefined;
  node?: string | undefined;
  pull?: PullFlag | undefined;
  /** The kubeconfig and kubectl's global flags. */
  cluster: ClientOptions;
  replicas: number;
  /** Infinity with --timeout 0. */
  timeoutMs: number;
  output: OutputFormat;
  keep: boolean;
  record?: string | undefined;
  service: boolean;
  raw: boolean;
  quiet: boolean;
  verbose: boolean;
  color?: boolean | undefined;
  failFast: FailFastPolicy;
  thresholds: Threshold[];
  version: string;
  signal: AbortSignal;
}

export async function run(options: RunOptions, io: IOStreams): Promise<number> {
  const milestone = timing(io);
  // The connection first: it is being made while the manifests are read and the run set
  // up (the first request opens it; the run reads its answer).
  let client: KubeClient | undefined;
  let clientError: unknown;
  try {
    client = KubeClient.load({ ...options.cluster, env: io.env });
    client.serverVersion().catch(() => undefined);
  } catch (err) {
    clientError = err;
  }
  try {
    // A bad manifest is reported first.
    const workload = await readWorkload(options, io);
    if (!client) throw clientError;
    return await runWith(client, workload, options, io, milestone);
  } finally {
    await client?.close();
  }
}

async function runWith(
  client: KubeClient,
  { workload, others }: { workload: ManifestObject; others: ManifestObject[] },
  options: RunOptions,
  io: IOStreams,
  milestone: ((name: string, at?: number) => void) | undefined,
): Promise<number> {
  let manifest = workload.object;
  if (options.node) manifest = pinToNode(manifest, options.node);
  if (options.pull) manifest = withPullPolicy(manifest, options.pull);
  if (options.verbose && client.proxy.url)
    io.stderr.write(`podtrace: connecting through proxy ${client.proxy.url} (${client.proxy.from})\n`);
  // One id for everything the run creates: the workload's pods and the other objects.
  const runId = nameSuffix();
  // What the run would be named and create: bad input (--replicas with a Deployment, a
  // namespace that contradicts -n) is refused here, before any object is created.
  nameRun(manifest, options.cluster.namespace, client.namespace, options.replicas, runId);
  const status = await createStatus(io, options.quiet);
  const note = (text: string) => io.stderr.write(`podtrace: ${text}\n`);
  const created: CreatedObject[] = [];
  // Deletes what was created from the files (not with --keep); what could not be deleted.
  const deleteCreated = async (): Promise<string[]> => (created.length && !options.keep ? deleteObjects(client, created) : []);
  // What prints the result is loaded while the pod starts, once it is scheduled.
  let output: Promise<typeof import("./output.ts")> | undefined;
  const loadOutput = () => (output ??= import("./output.ts"));
  let result: TraceResult;
  let recorder: RecordingWriter | undefined;
  try {
    if (others.length) {
      const { existing, interrupted } = await createObjects(
        client,
        others,
        {
          namespace: options.cluster.namespace,
          defaultNamespace: client.namespace,
          runId,
          signal: options.signal,
          progress: (t) => status.update(t),
        },
        created,
      );
      for (const e of existing) note(`${e} already exists: left alone (not changed, not deleted); the run uses it as it is`);
      if (interrupted) {
        status.stop();
        note("interrupted before the workload was created");
        for (const l of await deleteCreated()) note(`WARNING: not cleaned up: ${l}`);
        return ExitCode.Interrupted;
      }
    }
    recorder = options.record ? new RecordingWriter(options.record) : undefined;
    result = await tracePod({
      client,
      manifest,
      namespace: options.cluster.namespace,
      replicas: options.replicas,
      timeoutMs: options.timeoutMs,
      keep: options.keep,
      service: options.service,
      failFast: options.failFast,
      signal: options.signal,
      recorder,
      runId,
      progress: (text) => status.update(text),
      debug: options.verbose ? (text) => io.stderr.write(`podtrace: ${text}\n`) : undefined,
      milestone: (name, at) => {
        // Once every pod is scheduled (run-pod.ts says why not sooner).
        if (name === "scheduled") void loadOutput();
        milestone?.(name, at);
      },
      version: options.version,
    });
  } catch (err) {
    status.stop();
    await recorder?.close().catch(() => undefined);
    for (const l of await deleteCreated()) note(`WARNING: not cleaned up: ${l}`);
    throw err;
  }
  // The outcome is decided: print it now; the cleanup goes on meanwhile, and the exit code
  // waits for it (also when printing fails: what was created is still deleted).
  status.stop();
  let code: number;
  const leftovers: string[] = [];
  try {
    const { analyse, exitCodeFor, render } = await loadOutput();
    const traced = analyse(result.observations, result.expectedPods, options.thresholds);
    const text = await render(traced, options.output, {
      color: useColor(io, options.color),
      kept: result.kept,
      quiet: options.quiet,
      observations: options.raw ? result.observations : undefined,
      width: outputWidth(io),
      versions: { podtraceVersion: options.version, serverVersion: result.serverVersion },
    });
    await new Promise<void>((resolve) => io.stdout.write(text, () => resolve()));
    milestone?.("printed");
    code = exitCodeFor(traced, result.observations);
    if (result.kept) {
      const what = result.controller
        ? `${result.controller} ${result.namespace}/${result.name} and its pods`
        : result.pods.length === 1
          ? `pod ${result.namespace}/${result.name}`
          : `${result.pods.length} pods ${result.namespace}/${result.name}-*`;
      const kinds = result.controller ? `${result.controller.toLowerCase()},replicaset,pod,service` : "pod,service";
      note(
        `kept ${what}${options.service ? " and the Service" : ""} (--keep); delete with: kubectl delete ${kinds} -n ${result.namespace} -l ${RUN_LABEL}=${result.runId}`,
      );
      if (created.length)
        note(`kept ${created.map((o) => `${o.kind} ${o.name}`).join(", ")} (--keep); delete with: ${deleteCommand(created)}`);
    }
  } finally {
    // The workload first (its pods use the other objects), then what came with the files.
    leftovers.push(...(await result.finished));
    leftovers.push(...(await deleteCreated()));
    await recorder?.close();
  }
  for (const l of leftovers) note(`WARNING: not cleaned up: ${l}`);
  if (options.record) note(`recorded the run to ${options.record} (replay with: podtrace replay ${options.record})`);
  return code;
}

/**
 * PODTRACE_TIMING=1: one stderr line per milestone of the run, in milliseconds since the
 * process started, for the benchmark ("podtrace: timing create-sent 84.2"). Off, it costs
 * nothing.
 */
function timing(io: IOStreams): ((name: string, at?: number) => void) | undefined {
  const on = io.env["PODTRACE_TIMING"];
  if (!on || on === "0") return undefined;
  return (name, at = performance.timeOrigin + performance.now()) =>
    io.stderr.write(`podtrace: timing ${name} ${(at - performance.timeOrigin).toFixed(1)}\n`);
}

/** The workload to trace and the other objects: from the files, or the pod --image builds. */
async function readWorkload(options: RunOptions, io: IOStreams): Promise<{ workload: ManifestObject; others: ManifestObject[] }> {
  if (options.image) return { workload: { object: podForImage(options.image), source: "--image" }, others: [] };
  const objects = await readManifests(options.files, io.stdin);
  return splitWorkload(objects, options.files.join(", "));
}

export function checkOutput(value: string): OutputFormat {
  if (value === "table" || value === "wide" || value === "json" || value === "junit") return value;
  throw new BadInputError(`unknown output format "${value}"`, "use -o table, -o wide, -o json or -o junit");
}
