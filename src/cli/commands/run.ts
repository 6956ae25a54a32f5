/**
 * `podtrace run <pod.yaml>`: trace one pod's startup on the cluster and print its timeline.
 */
import { ExitCode, BadInputError } from "../errors.ts";
import type { IOStreams } from "../io.ts";
import { useColor } from "../io.ts";
import { createStatus } from "../status.ts";
import { applyThresholds, type Threshold } from "../../core/thresholds.ts";
import type { FailFastPolicy } from "../../core/fail-fast.ts";
import type { Timeline } from "../../core/timeline.ts";
import type { Observation } from "../../core/observation.ts";
import { KubeClient } from "../../kube/client.ts";
import { readPodManifest } from "../../kube/manifest.ts";
import { tracePod } from "../../trace/run-pod.ts";
import { RecordingWriter } from "../../trace/recording.ts";
import { render, type OutputFormat } from "./output.ts";

export interface RunOptions {
  file: string;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
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
  const manifest = await readPodManifest(options.file, io.stdin);
  const client = KubeClient.load({ kubeconfig: options.kubeconfig, context: options.context, namespace: options.namespace });
  const recorder = options.record ? new RecordingWriter(options.record) : undefined;
  const status = await createStatus(io, options.quiet);
  let result;
  try {
    result = await tracePod({
      client,
      manifest,
      namespace: options.namespace,
      timeoutMs: options.timeoutMs,
      keep: options.keep,
      service: options.service,
      failFast: options.failFast,
      signal: options.signal,
      recorder,
      progress: (text) => status.update(text),
      version: options.version,
    });
  } finally {
    status.stop();
    await recorder?.close();
  }
  const timeline = applyThresholds(result.timeline, options.thresholds);
  io.stdout.write(render(timeline, options.output, { color: useColor(io, options.color), kept: result.kept, quiet: options.quiet, observations: options.raw ? result.observations : undefined }));
  if (result.kept) io.stderr.write(`podtrace: kept pod ${result.namespace}/${result.name}${options.service ? " and its Service" : ""} (--keep); delete with: kubectl delete pod,service -n ${result.namespace} -l podtrace.dev/run=${result.name.split("-").at(-1)}\n`);
  for (const l of result.leftovers) io.stderr.write(`podtrace: WARNING: not cleaned up: ${l}\n`);
  if (options.record) io.stderr.write(`podtrace: recorded the run to ${options.record} (replay with: podtrace replay ${options.record})\n`);
  return exitCodeFor(timeline, result.observations);
}

export function exitCodeFor(t: Timeline, observations: readonly Observation[]): number {
  const v = t.verdict;
  if (v.outcome === "ready") return v.thresholds?.length ? ExitCode.ThresholdExceeded : ExitCode.Ready;
  if (v.outcome === "interrupted") return ExitCode.Interrupted;
  if (v.outcome === "rejected") {
    const create = observations.find((o) => o.kind === "create" && o.resource === "pods");
    const status = create?.kind === "create" ? create.status : 0;
    const message = v.causes.join(" ");
    // Forbidden by RBAC is a matter of access; invalid fields, a missing namespace or an
    // exhausted quota are matters of the input.
    if ((status === 401 || status === 403) && !/exceeded quota|quota/i.test(message)) return ExitCode.ClusterAccess;
    return ExitCode.BadInput;
  }
  return ExitCode.NotReady;
}

export function checkOutput(value: string): OutputFormat {
  if (value === "table" || value === "json" || value === "junit") return value;
  throw new BadInputError(`unknown output format "${value}"`, "use -o table, -o json or -o junit");
}
