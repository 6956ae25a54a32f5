/**
 * `podtrace run <pod.yaml>`: trace one pod's startup (or --replicas copies) on the cluster
 * and print the timeline.
 */
import { BadInputError } from "../../errors.ts";
import type { IOStreams } from "../io.ts";
import { useColor } from "../io.ts";
import { createStatus } from "../status.ts";
import type { Threshold } from "../../core/thresholds.ts";
import type { FailFastPolicy } from "../../core/fail-fast.ts";
import { KubeClient } from "../../kube/client.ts";
import { readManifest } from "../../kube/manifest.ts";
import { tracePod } from "../../trace/run-pod.ts";
import { RecordingWriter } from "../../trace/recording.ts";
import { RUN_LABEL } from "../../trace/pod-naming.ts";
import { analyse, exitCodeFor, render, type OutputFormat } from "./output.ts";

export interface RunOptions {
  file: string;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  replicas: number;
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
  const manifest = await readManifest(options.file, io.stdin);
  const client = KubeClient.load({ kubeconfig: options.kubeconfig, context: options.context, namespace: options.namespace });
  const recorder = options.record ? new RecordingWriter(options.record) : undefined;
  const status = await createStatus(io, options.quiet);
  let result;
  try {
    result = await tracePod({
      client,
      manifest,
      namespace: options.namespace,
      replicas: options.replicas,
      timeoutMs: options.timeoutMs,
      keep: options.keep,
      service: options.service,
      failFast: options.failFast,
      signal: options.signal,
      recorder,
      progress: (text) => status.update(text),
      debug: options.verbose ? (text) => io.stderr.write(`podtrace: ${text}\n`) : undefined,
      version: options.version,
    });
  } finally {
    status.stop();
    await recorder?.close();
  }
  const traced = analyse(result.observations, result.expectedPods, options.thresholds);
  io.stdout.write(
    render(traced, options.output, {
      color: useColor(io, options.color),
      kept: result.kept,
      quiet: options.quiet,
      observations: options.raw ? result.observations : undefined,
    }),
  );
  if (result.kept) {
    const what = result.controller
      ? `${result.controller} ${result.namespace}/${result.name} and its pods`
      : result.pods.length === 1
        ? `pod ${result.namespace}/${result.name}`
        : `${result.pods.length} pods ${result.namespace}/${result.name}-*`;
    const kinds = result.controller ? "deployment,replicaset,pod,service" : "pod,service";
    io.stderr.write(
      `podtrace: kept ${what}${options.service ? " and the Service" : ""} (--keep); delete with: kubectl delete ${kinds} -n ${result.namespace} -l ${RUN_LABEL}=${result.runId}\n`,
    );
  }
  for (const l of result.leftovers) io.stderr.write(`podtrace: WARNING: not cleaned up: ${l}\n`);
  if (options.record) io.stderr.write(`podtrace: recorded the run to ${options.record} (replay with: podtrace replay ${options.record})\n`);
  return exitCodeFor(traced, result.observations);
}

export function checkOutput(value: string): OutputFormat {
  if (value === "table" || value === "json" || value === "junit") return value;
  throw new BadInputError(`unknown output format "${value}"`, "use -o table, -o json or -o junit");
}
