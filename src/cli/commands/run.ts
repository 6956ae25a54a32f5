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
import { tracePod, type TraceResult } from "../../trace/run-pod.ts";
import { RecordingWriter } from "../../trace/recording.ts";
import { RUN_LABEL } from "../../trace/pod-naming.ts";
import type { OutputFormat } from "./output.ts";

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
  const milestone = timing(io);
  const manifestRead = readManifest(options.file, io.stdin);
  let client: KubeClient;
  try {
    client = KubeClient.load({ kubeconfig: options.kubeconfig, context: options.context, namespace: options.namespace, env: io.env });
  } catch (err) {
    // A bad manifest is reported first.
    await manifestRead;
    throw err;
  }
  // Connect while the manifest is parsed and the run set up; the run reads the answer.
  client.serverVersion().catch(() => undefined);
  const manifest = await manifestRead;
  if (options.verbose && client.proxy.url)
    io.stderr.write(`podtrace: connecting through proxy ${client.proxy.url} (${client.proxy.from})\n`);
  const recorder = options.record ? new RecordingWriter(options.record) : undefined;
  const status = await createStatus(io, options.quiet);
  // What prints the result is loaded while the pod starts, once the create request is out.
  let output: Promise<typeof import("./output.ts")> | undefined;
  const loadOutput = () => (output ??= import("./output.ts"));
  let result: TraceResult;
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
      milestone: (name, at) => {
        if (name === "create-sent") void loadOutput();
        milestone?.(name, at);
      },
      version: options.version,
    });
  } catch (err) {
    status.stop();
    await recorder?.close().catch(() => undefined);
    await client.close();
    throw err;
  }
  // The outcome is decided: print it now; the cleanup goes on meanwhile, and the exit code
  // waits for it (also when printing fails: what was created is still deleted).
  status.stop();
  let code: number;
  let leftovers: string[];
  try {
    const { analyse, exitCodeFor, render } = await loadOutput();
    const traced = analyse(result.observations, result.expectedPods, options.thresholds);
    const text = await render(traced, options.output, {
      color: useColor(io, options.color),
      kept: result.kept,
      quiet: options.quiet,
      observations: options.raw ? result.observations : undefined,
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
      const kinds = result.controller ? "deployment,replicaset,pod,service" : "pod,service";
      io.stderr.write(
        `podtrace: kept ${what}${options.service ? " and the Service" : ""} (--keep); delete with: kubectl delete ${kinds} -n ${result.namespace} -l ${RUN_LABEL}=${result.runId}\n`,
      );
    }
  } finally {
    leftovers = await result.finished;
    await client.close();
    await recorder?.close();
  }
  for (const l of leftovers) io.stderr.write(`podtrace: WARNING: not cleaned up: ${l}\n`);
  if (options.record) io.stderr.write(`podtrace: recorded the run to ${options.record} (replay with: podtrace replay ${options.record})\n`);
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

export function checkOutput(value: string): OutputFormat {
  if (value === "table" || value === "json" || value === "junit") return value;
  throw new BadInputError(`unknown output format "${value}"`, "use -o table, -o json or -o junit");
}
