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
import { analyse, exitCodeFor, render, type OutputFormat } from "./output.ts";
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
  const { workload, others } = await readWorkload(options, io);
  let manifest = workload.object;
  if (options.node) manifest = pinToNode(manifest, options.node);
  if (options.pull) manifest = withPullPolicy(manifest, options.pull);
  const client = KubeClient.load(options.cluster);
  // One id for everything the run creates: the workload's pods and the other objects.
  const runId = nameSuffix();
  // What the run would be named and create: bad input (--replicas with a Deployment, a
  // namespace that contradicts -n) is refused here, before any object is created.
  nameRun(manifest, options.cluster.namespace, client.namespace, options.replicas, runId);
  const status = await createStatus(io, options.quiet);
  const note = (text: string) => io.stderr.write(`podtrace: ${text}\n`);
  const created: CreatedObject[] = [];
  let result: TraceResult | undefined;
  let recorder: RecordingWriter | undefined;
  let leftovers: string[] = [];
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
        return ExitCode.Interrupted;
      }
    }
    recorder = options.record ? new RecordingWriter(options.record) : undefined;
    try {
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
        version: options.version,
      });
    } finally {
      await recorder?.close();
    }
  } finally {
    if (created.length && !options.keep) {
      status.update("deleting the objects created from the files");
      leftovers = await deleteObjects(client, created);
    }
    status.stop();
  }
  if (!result) throw new Error("the run ended without a result");
  const traced = analyse(result.observations, result.expectedPods, options.thresholds);
  io.stdout.write(
    render(traced, options.output, {
      color: useColor(io, options.color),
      kept: result.kept,
      quiet: options.quiet,
      observations: options.raw ? result.observations : undefined,
      width: outputWidth(io),
      versions: { podtraceVersion: options.version, serverVersion: result.serverVersion },
    }),
  );
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
  for (const l of [...result.leftovers, ...leftovers]) note(`WARNING: not cleaned up: ${l}`);
  if (options.record) note(`recorded the run to ${options.record} (replay with: podtrace replay ${options.record})`);
  return exitCodeFor(traced, result.observations);
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
