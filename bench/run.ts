/**
 * podtrace's benchmark against the local cluster: how close its timeline is to the
 * kubelet's own measure, how it compares with the three kubectl commands it replaces
 * (side by side, as ratios), how soon it sends the create request and prints its verdict,
 * how soon it says Ready compared with kubectl wait, how far its watches lag the scheduler,
 * how fast it starts, what many pods cost, and whether faults leave anything behind.
 * Prints a table of figures next to their goals and writes them as JSON. Never part of the
 * pass/fail tests: figures, not assertions.
 *
 *   npm run bench                         (KUBECONFIG defaults to the local cluster)
 *   BENCH_RUNS=5 BENCH_PAIRS=5 BENCH_SIGINT_RUNS=100 BENCH_OUT=bench/results.json npm run bench
 *   BENCH_ONLY=vsKubectl,pods100 npm run bench    (some sections; merged into BENCH_OUT)
 *   BENCH_TRUTH_RUNS=3                     (runs of each ground-truth scenario, per mode)
 *   KIND_KUBECONFIG=~/.kube/kind-podtrace  (the kind cluster of hack/kind.sh, for kindPods300)
 *
 * Whole-process CPU time and peak memory come from GNU time (/usr/bin/time, Debian's
 * "time" package): the operating system's accounting of each finished process, the
 * largest single process for a command that runs several.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { promisify } from "node:util";
import { indexObservations } from "../src/core/observed-run.ts";
import { kubeletSums, podtraceKubeletStyle, type StartupSeconds } from "../test/support/kubelet-measure.ts";
import type { Observation } from "../src/core/observation.ts";
import type { Timeline } from "../src/core/timeline.ts";
import { percentile, type PodSetTimeline } from "../src/core/pod-set.ts";
import { parseServerTime } from "../src/core/window.ts";
import { parseRecording } from "../src/trace/recording.ts";
import { KUBECTL as kubectlPath } from "../test/support/cluster.ts";
import { kubeconfigThrough, startDelayProxy } from "../test/support/delay-proxy.ts";
import { SPANS_FILE } from "../test/support/otel-spans.ts";
import { measureGroundTruth, summarise, TRUTH_SCENARIOS } from "./ground-truth.ts";

const exec = promisify(execFile);
const ROOT = new URL("../", import.meta.url).pathname;
const BIN = `${ROOT}bin/podtrace.js`;
const KUBECONFIG = process.env["KUBECONFIG"] ?? "/var/lib/podtrace-cluster/admin.kubeconfig";
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);
const SIGINT_RUNS = Number(process.env["BENCH_SIGINT_RUNS"] ?? 100);
/** Pairs of podtrace and the three kubectl commands, after one pair not counted. */
const PAIRS = Number(process.env["BENCH_PAIRS"] ?? 5);
const ONLY = process.env["BENCH_ONLY"]?.split(",").filter(Boolean) ?? null;
const OUT = process.env["BENCH_OUT"] ?? `${ROOT}bench/results.json`;
const NS = `podtrace-bench-${process.pid}`;
const KIND_KUBECONFIG = process.env["KIND_KUBECONFIG"] ?? `${homedir()}/.kube/kind-podtrace`;
const env = { ...process.env, KUBECONFIG, CI: "true", NO_COLOR: "1" };

// The kubectl built by hack/ (matching the cluster), found as the end-to-end tests find it.
const KUBECTL = kubectlPath;

async function kubectl(...args: string[]): Promise<string> {
  return (await exec(KUBECTL, ["--kubeconfig", KUBECONFIG, ...args], { maxBuffer: 64 << 20 })).stdout;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  startedAt: number;
  endedAt: number;
  peakRssKiB: number;
}

/** Run a command; sample its peak RSS (VmHWM) while it runs. */
function run(cmd: string, args: string[], options: { killAfterMs?: number; onStart?: (pid: number) => void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const startedAt = Date.now();
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let peakRssKiB = 0;
    // Decode as streams: a multi-byte character may be split across chunks.
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (stdout += d));
    child.stderr.on("data", (d: string) => (stderr += d));
    const sample = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) peakRssKiB = Math.max(peakRssKiB, Number(m[1]));
      } catch {
        // exited between samples
      }
    }, 50);
    if (options.killAfterMs !== undefined) setTimeout(() => child.kill("SIGINT"), options.killAfterMs);
    options.onStart?.(child.pid ?? 0);
    child.on("close", (code) => {
      clearInterval(sample);
      resolve({ code, stdout, stderr, startedAt, endedAt: Date.now(), peakRssKiB });
    });
  });
}

interface Timed {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** User plus system CPU seconds. */
  cpuS: number;
  /** Peak RSS of the largest process, MiB. */
  peakMiB: number;
}

/** Run a command under GNU time: wall time, CPU time and peak memory as the kernel counted them. */
async function timed(cmd: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Timed> {
  const report = `/tmp/podtrace-bench-time-${process.pid}`;
  const started = performance.now();
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn("/usr/bin/time", ["-o", report, "-f", "%U %S %M", cmd, ...args], {
      cwd: ROOT,
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (stdout += d));
    child.stderr.on("data", (d: string) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  const wallMs = performance.now() - started;
  // A command that exited non-zero makes GNU time add a line before the figures.
  const [user, system, maxKiB] = (readFileSync(report, "utf8").trim().split("\n").at(-1) ?? "").split(" ").map(Number);
  return { ...r, wallMs, cpuS: user! + system!, peakMiB: maxKiB! / 1024 };
}

/** PODTRACE_TIMING's lines: milestone -> ms since the process started. */
function milestones(stderr: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of stderr.matchAll(/^podtrace: timing (\S+) ([\d.]+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function podtrace(args: string[], options: { killAfterMs?: number } = {}): Promise<Run> {
  // The executable itself, as users run it (its #! line sets the Node options it runs with).
  return run(BIN, args, options);
}

const median = (values: number[]) => percentile(values, 50);

/** The raw observations of the accuracy runs, for the watch lag. */
const accuracyRuns: Observation[][] = [];

// --- accuracy against the kubelet -----------------------------------------------------------

async function metrics(node: string): Promise<StartupSeconds> {
  return kubeletSums(await kubectl("get", "--raw", `/api/v1/nodes/${node}/proxy/metrics`));
}

async function accuracy(node: string): Promise<Record<string, unknown>> {
  const rows: { manifest: string; kubeletTotal: number; podtraceTotal: number; kubeletSli: number; podtraceSli: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    for (const manifest of ["test/fixtures/manifests/one-container.yaml", "bench/manifests/pull-always.yaml"]) {
      // One pod's start on a quiet node: let the kubelet finish tearing down the last one
      // (its own watch lags while it works, and so would its measure).
      await new Promise((res) => setTimeout(res, 3000));
      const before = await metrics(node);
      const r = await podtrace(["run", manifest, "-n", NS, "-o", "json", "--raw"]);
      if (r.code !== 0) throw new Error(`podtrace run ${manifest} exited ${r.code}: ${r.stderr}`);
      // The kubelet records the measure as it observes the pod running: give it a moment.
      await new Promise((res) => setTimeout(res, 500));
      const after = await metrics(node);
      const out = JSON.parse(r.stdout) as Timeline & { observations: Observation[] };
      accuracyRuns.push(out.observations);
      const ours = podtraceKubeletStyle(out.observations, out);
      rows.push({
        manifest,
        kubeletTotal: after.total - before.total,
        podtraceTotal: ours.total,
        kubeletSli: after.sli - before.sli,
        podtraceSli: ours.sli,
      });
    }
  }
  const dTotal = rows.map((r) => Math.abs(r.podtraceTotal - r.kubeletTotal) * 1000);
  const dSli = rows.map((r) => Math.abs(r.podtraceSli - r.kubeletSli) * 1000);
  return {
    runs: rows,
    totalDiffMsMedian: median(dTotal),
    totalDiffMsMax: Math.max(...dTotal),
    sliDiffMsMedian: median(dSli),
    sliDiffMsMax: Math.max(...dSli),
  };
}

// --- verdict latency against kubectl wait ---------------------------------------------------

async function verdictLatency(): Promise<Record<string, unknown>> {
  const deltas: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const recording = `/tmp/podtrace-bench-${process.pid}-${i}.ndjson`;
    const traced = podtrace(["run", "test/fixtures/manifests/delayed-readiness.yaml", "-n", NS, "--record", recording, "-q"]);
    // The recording's header names the pod as soon as the run starts.
    let name = "";
    for (let tries = 0; tries < 200 && !name; tries++) {
      try {
        name = (JSON.parse(readFileSync(recording, "utf8").split("\n")[0] ?? "") as { pod: string }).pod;
      } catch {
        await new Promise((res) => setTimeout(res, 10));
      }
    }
    // Start kubectl wait once the pod exists (it fails on a pod that does not exist yet).
    for (let tries = 0; tries < 200; tries++) {
      if ((await kubectl("get", "pod", name, "-n", NS, "--ignore-not-found", "-o", "name")).trim()) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const waited = await run(KUBECTL, [
      "--kubeconfig",
      KUBECONFIG,
      "wait",
      "--for=condition=Ready",
      `pod/${name}`,
      "-n",
      NS,
      "--timeout=120s",
    ]);
    await traced;
    const { observations } = parseRecording(readFileSync(recording, "utf8"), recording);
    const end = observations.find((o) => o.kind === "end");
    if (waited.code === 0 && end?.kind === "end" && end.reason === "ready") deltas.push(end.arrivedAt - waited.endedAt);
  }
  return { podtraceMinusKubectlWaitMs: deltas, medianMs: median(deltas), maxMs: Math.max(...deltas) };
}

// --- side by side with the three kubectl commands it replaces --------------------------------

/**
 * One pod, as CI smoke checks run it: `podtrace run pod.yaml -q` against `kubectl apply -f
 * pod.yaml && kubectl wait --for=condition=Ready pod/x && kubectl delete pod x`, in turn
 * (podtrace, kubectl, podtrace, ...) so a drift of the machine's speed hits both, each pair
 * giving a ratio. podtrace's own milestones (PODTRACE_TIMING) give the time from process
 * start to the create request and from the Ready update's arrival to the printed verdict.
 */
async function vsKubectl(): Promise<Record<string, unknown>> {
  const manifest = "test/fixtures/manifests/one-container.yaml";
  const pod = "one-container";
  const k = `${KUBECTL} --kubeconfig ${KUBECONFIG}`;
  const script = `${k} apply -f ${manifest} -n ${NS} >/dev/null && ${k} wait --for=condition=Ready pod/${pod} -n ${NS} --timeout=120s >/dev/null && ${k} delete pod ${pod} -n ${NS} >/dev/null`;
  const pairs: { podtrace: Record<string, number>; kubectl: Record<string, number> }[] = [];
  // The first pair warms the caches (V8's compile cache, kubectl's pages) and is not counted.
  for (let i = 0; i <= PAIRS; i++) {
    const ours = await timed(BIN, ["run", manifest, "-n", NS, "-q"], { PODTRACE_TIMING: "1" });
    if (ours.code !== 0) throw new Error(`podtrace run exited ${ours.code}: ${ours.stderr}`);
    const theirs = await timed("sh", ["-c", script]);
    if (theirs.code !== 0) throw new Error(`the kubectl commands exited ${theirs.code}: ${theirs.stderr}`);
    const m = milestones(ours.stderr);
    if (i === 0) continue;
    pairs.push({
      podtrace: {
        wallMs: ours.wallMs,
        cpuS: ours.cpuS,
        peakMiB: ours.peakMiB,
        createSentMs: m["create-sent"]!,
        verdictAfterReadyMs: m["printed"]! - m["outcome-arrived"]!,
        cleanupAfterVerdictMs: m["cleaned-up"]! - m["printed"]!,
      },
      kubectl: { wallMs: theirs.wallMs, cpuS: theirs.cpuS, peakMiB: theirs.peakMiB },
    });
  }
  const of = (side: "podtrace" | "kubectl", key: string) => median(pairs.map((p) => p[side][key]!));
  const ratio = (key: string) => median(pairs.map((p) => p.podtrace[key]! / p.kubectl[key]!));
  return {
    pairs: pairs.length,
    runs: pairs,
    podtraceWallMs: of("podtrace", "wallMs"),
    kubectlWallMs: of("kubectl", "wallMs"),
    wallRatio: ratio("wallMs"),
    podtraceCpuS: of("podtrace", "cpuS"),
    kubectlCpuS: of("kubectl", "cpuS"),
    cpuRatio: ratio("cpuS"),
    podtracePeakMiB: of("podtrace", "peakMiB"),
    kubectlPeakMiB: of("kubectl", "peakMiB"),
    peakRatio: ratio("peakMiB"),
    createSentMsMedian: of("podtrace", "createSentMs"),
    createSentMsMax: Math.max(...pairs.map((p) => p.podtrace["createSentMs"]!)),
    verdictAfterReadyMsMedian: of("podtrace", "verdictAfterReadyMs"),
    verdictAfterReadyMsMax: Math.max(...pairs.map((p) => p.podtrace["verdictAfterReadyMs"]!)),
    cleanupAfterVerdictMsMedian: of("podtrace", "cleanupAfterVerdictMs"),
  };
}

// --- watch lag ------------------------------------------------------------------------------

/**
 * Arrival minus the scheduler's microsecond eventTime of its Scheduled events, over the
 * accuracy runs (nothing else runs then: the verdict-latency runs poll with kubectl and
 * load the two cores).
 */
function watchLag(runs: readonly Observation[][]): Record<string, unknown> {
  const lags: number[] = [];
  for (const observations of runs) {
    for (const e of indexObservations(observations).events) {
      const t = parseServerTime(e.eventTime);
      if (e.reason === "Scheduled" && t && t.precisionMs < 1) lags.push(e.firstArrivedAt - t.ms);
    }
  }
  return { samples: lags.length, p50Ms: percentile(lags, 50), p99Ms: percentile(lags, 99) };
}

// --- cold start -----------------------------------------------------------------------------

async function coldStart(): Promise<Record<string, unknown>> {
  const time = async (cmd: string, args: string[]) => {
    const walls: number[] = [];
    for (let i = 0; i < 11; i++) {
      const started = performance.now();
      await exec(cmd, args, { env });
      if (i > 0) walls.push(performance.now() - started);
    }
    return median(walls);
  };
  const version = await time(BIN, ["--version"]);
  const help = await time(BIN, ["--help"]);
  const kubectlVersion = await time(KUBECTL, ["version", "--client"]);
  return {
    podtraceVersionMs: version,
    podtraceHelpMs: help,
    kubectlVersionClientMs: kubectlVersion,
    ratioVersion: version / kubectlVersion,
    ratioHelp: help / kubectlVersion,
  };
}

// --- many pods ---------------------------------------------------------------------------

async function manyPods(replicas: number): Promise<Record<string, unknown>> {
  const r = await timed(BIN, [
    "run",
    "bench/manifests/replica.yaml",
    "--replicas",
    String(replicas),
    "-n",
    NS,
    "-o",
    "json",
    "--timeout",
    "10m",
  ]);
  const set = JSON.parse(r.stdout) as PodSetTimeline;
  // The summary must agree with the per-pod timelines it was made from.
  const ready = set.pods.map((t) => t.readyAfterMs).filter((v): v is number => v !== null);
  const row = set.summary.find((s) => s.phase === "ready (from submit)");
  const agrees =
    row !== undefined && row.p50Ms === percentile(ready, 50) && row.p99Ms === percentile(ready, 99) && row.count === ready.length;
  const phase = (id: string) => set.summary.find((s) => s.phase === id);
  return {
    ...podSetFigures(replicas, r, set),
    readyP90Ms: row?.p90Ms,
    schedulingP99Ms: phase("scheduling")?.p99Ms,
    sandboxP99Ms: phase("sandbox")?.p99Ms,
    summaryAgreesWithPods: agrees,
    leftovers: await leftovers(),
  };
}

/** What a run of many pods cost and how soon they were Ready. */
function podSetFigures(replicas: number, r: Timed, set: PodSetTimeline): Record<string, unknown> {
  const row = set.summary.find((s) => s.phase === "ready (from submit)");
  return {
    replicas,
    exitCode: r.code,
    ready: set.ready,
    wallMs: r.wallMs,
    cpuS: r.cpuS,
    peakRssMiB: r.peakMiB,
    readyP50Ms: row?.p50Ms,
    readyP99Ms: row?.p99Ms,
  };
}

/**
 * Many pods across the nodes of the kind cluster (hack/kind.sh up, KIND_KUBECONFIG), when it
 * runs: what podtrace costs for a run that a multi-node cluster spreads.
 */
async function kindPods(replicas: number): Promise<Record<string, unknown>> {
  const kind = (...args: string[]) => exec(KUBECTL, ["--kubeconfig", KIND_KUBECONFIG, ...args], { maxBuffer: 64 << 20 });
  const up =
    existsSync(KIND_KUBECONFIG) &&
    (await kind("get", "--raw", "/readyz").then(
      () => true,
      () => false,
    ));
  if (!up) return { skipped: `no kind cluster answers at ${KIND_KUBECONFIG} (bash hack/kind.sh up makes one)` };
  const nodes = (await kind("get", "nodes", "-o", "name")).stdout.split("\n").filter(Boolean).length;
  await kind("create", "namespace", NS);
  try {
    const r = await timed(
      BIN,
      ["run", "bench/manifests/replica-any-node.yaml", "--replicas", String(replicas), "-n", NS, "-o", "json", "--timeout", "15m"],
      { KUBECONFIG: KIND_KUBECONFIG },
    );
    const set = JSON.parse(r.stdout) as PodSetTimeline;
    return {
      ...podSetFigures(replicas, r, set),
      nodes,
      nodesUsed: new Set(set.pods.map((t) => t.pod.node).filter(Boolean)).size,
    };
  } finally {
    await kind("delete", "namespace", NS, "--wait=false");
  }
}

// --- faults ---------------------------------------------------------------------------------

async function apiserverRestart(): Promise<Record<string, unknown>> {
  const started = podtrace(["run", "test/e2e/manifests/slow-init.yaml", "--service", "-n", NS, "-o", "json", "--timeout", "180s"]);
  await new Promise((res) => setTimeout(res, 3000));
  await exec("bash", ["hack/restart-daemon.sh", "kube-apiserver", "1"], { cwd: ROOT });
  const r = await started;
  const t = JSON.parse(r.stdout) as Timeline;
  return {
    exitCode: r.code,
    phasesDone: t.phases.filter((p) => p.onCriticalPath && p.status === "done").length,
    phases: t.phases.filter((p) => p.onCriticalPath).length,
    leftovers: await leftovers(),
  };
}

async function leftovers(): Promise<number> {
  return (await kubectl("get", "pods,services", "-n", NS, "-l", "podtrace.dev/run", "-o", "name")).split("\n").filter(Boolean).length;
}

async function interrupts(): Promise<Record<string, unknown>> {
  const codes: Record<string, number> = {};
  let left = 0;
  for (let i = 0; i < SIGINT_RUNS; i++) {
    const r = await podtrace(["run", "examples/web.yaml", "--service", "-n", NS, "-q", "--timeout", "60s"], {
      killAfterMs: Math.floor(Math.random() * 7000),
    });
    codes[String(r.code)] = (codes[String(r.code)] ?? 0) + 1;
    left += await leftovers();
  }
  return { runs: SIGINT_RUNS, exitCodes: codes, objectsLeftBehind: left };
}

// --- ground truth --------------------------------------------------------------------------

const TRUTH_RUNS = Number(process.env["BENCH_TRUTH_RUNS"] ?? 3);

/**
 * Every boundary against the kubelet's and apiserver's spans (bench/ground-truth.ts): the
 * varied pods, run directly and through a proxy that adds 25 ms each way, as on a remote
 * cluster. Needs the local cluster's tracing (on unless PODTRACE_TRACING=0).
 */
async function groundTruth(): Promise<Record<string, unknown>> {
  if (!existsSync(SPANS_FILE))
    return { skipped: `no span file ${SPANS_FILE}: the local cluster runs without tracing (PODTRACE_TRACING=0)` };
  const forgetImage = async (image: string) => {
    await exec("ctr", ["--address", "/run/podtrace/containerd/containerd.sock", "-n", "k8s.io", "images", "rm", image]).catch(
      () => undefined,
    );
  };
  const trace = async (args: string[], kubeconfig: string) =>
    (await exec(BIN, args, { cwd: ROOT, env: { ...env, KUBECONFIG: kubeconfig }, maxBuffer: 64 << 20 }).catch((e: { stdout: string }) => e))
      .stdout;
  const common = { namespace: NS, runs: TRUTH_RUNS, forgetImage, podtrace: trace };
  const direct = await measureGroundTruth({ ...common, label: `${process.pid}-direct`, kubeconfig: KUBECONFIG, minOneWayMs: 0 });
  const proxy = await startDelayProxy({ delayMs: 25 });
  const delayed = `/tmp/podtrace-bench-${process.pid}-delayed.kubeconfig`;
  kubeconfigThrough(KUBECONFIG, proxy.port, delayed);
  let remote;
  try {
    remote = await measureGroundTruth({ ...common, label: `${process.pid}-delayed`, kubeconfig: delayed, minOneWayMs: 25 });
  } finally {
    await proxy.close();
  }
  const figures = (samples: typeof direct) => {
    const kinds = summarise(samples);
    const arrival = kinds.filter((k) => k.arrival);
    return {
      runs: TRUTH_RUNS * TRUTH_SCENARIOS.length,
      kinds,
      // Over the boundaries podtrace had a watch arrival for: the worst kind's p95.
      arrivalP95Ms: Math.max(...arrival.map((k) => k.p95Ms)),
      arrivalWorstKind: arrival.reduce((a, b) => (b.p95Ms > a.p95Ms ? b : a)).kind,
      insideShare: samples.filter((x) => x.inside).length / samples.length,
      samples: samples.length,
    };
  };
  return { direct: figures(direct), delayed25ms: figures(remote) };
}

// --- main -------------------------------------------------------------------------------------

/** The sections, in the order they run; BENCH_ONLY picks some by name. */
const SECTIONS: [string, string, (results: Record<string, unknown>, node: string) => Promise<void>][] = [
  ["coldStart", "cold start", async (r) => void (r["coldStart"] = await coldStart())],
  [
    "accuracy",
    "accuracy against the kubelet, and the watch lag of its runs",
    async (r, node) => {
      r["accuracy"] = await accuracy(node);
      r["watchLag"] = watchLag(accuracyRuns);
    },
  ],
  [
    "vsKubectl",
    `one pod, side by side with the three kubectl commands (${PAIRS} pairs)`,
    async (r) => void (r["vsKubectl"] = await vsKubectl()),
  ],
  ["verdictLatency", "verdict latency against kubectl wait", async (r) => void (r["verdictLatency"] = await verdictLatency())],
  ["pods50", "50 pods in one run", async (r) => void (r["pods50"] = await manyPods(50))],
  ["pods100", "100 pods in one run", async (r) => void (r["pods100"] = await manyPods(100))],
  [
    "kindPods300",
    "300 pods across the kind cluster's nodes",
    async (r) => {
      const k = await kindPods(300);
      // Without a kind cluster the figures stay as the file has them (or not measured).
      if ("skipped" in k) process.stderr.write(`bench: skipped: ${String(k["skipped"])}\n`);
      else r["kindPods300"] = k;
    },
  ],
  ["apiserverRestart", "kube-apiserver restart mid-run", async (r) => void (r["apiserverRestart"] = await apiserverRestart())],
  ["interrupts", `${SIGINT_RUNS} runs interrupted at random moments`, async (r) => void (r["interrupts"] = await interrupts())],
  [
    "groundTruth",
    `boundaries against the kubelet's and apiserver's spans (${TRUTH_RUNS} runs of ${TRUTH_SCENARIOS.length} pods, direct and 25 ms away)`,
    async (r) => void (r["groundTruth"] = await groundTruth()),
  ],
];

async function main(): Promise<void> {
  const unknown = ONLY?.filter((name) => !SECTIONS.some(([n]) => n === name)) ?? [];
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown sections ${unknown.join(", ")}; known: ${SECTIONS.map(([n]) => n).join(", ")}`);
  const node = (await kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")).trim();
  await kubectl("create", "namespace", NS);
  for (
    let i = 0;
    i < 100 && !(await kubectl("get", "serviceaccount", "default", "-n", NS, "--ignore-not-found", "-o", "name")).trim();
    i++
  ) {
    await new Promise((res) => setTimeout(res, 100));
  }
  // With BENCH_ONLY the other sections' figures stay as the file has them; each section
  // says when it was measured.
  const previous: Record<string, unknown> =
    ONLY && existsSync(OUT) ? (JSON.parse(readFileSync(OUT, "utf8")) as Record<string, unknown>) : {};
  const results: Record<string, unknown> = { ...previous, machine: machine(), node, startedAt: new Date().toISOString() };
  const measuredAt = (results["measuredAt"] ?? {}) as Record<string, string>;
  try {
    for (const [name, title, measure] of SECTIONS) {
      if (ONLY && !ONLY.includes(name)) continue;
      process.stderr.write(`bench: ${title}\n`);
      await measure(results, node);
      measuredAt[name] = new Date().toISOString();
    }
  } finally {
    await kubectl("delete", "namespace", NS, "--wait=false");
  }
  results["measuredAt"] = measuredAt;
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(table(results));
  process.stdout.write(truthTable(results["groundTruth"]));
  process.stdout.write(`\nfigures written to ${OUT}\n`);
}

function machine(): string {
  const cpus = readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm)?.length ?? 0;
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  return `${cpus} cores, ${Math.round(memKiB / 1048576)} GiB, Node ${process.version}`;
}

function table(r: Record<string, unknown>): string {
  const g = (path: string): number => path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], r) as number;
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const mib = (v: number) => `${v.toFixed(1)} MiB`;
  const x = (v: number) => `${v.toFixed(2)}x`;
  // [section, figure, measured, goal, met]; a section this run did not measure (nor an
  // earlier one in the same file) prints as such.
  const rows: [string, string, () => string, string, () => boolean][] = [
    [
      "accuracy",
      "accuracy: total vs kubelet (median / max |diff|)",
      () => `${ms(g("accuracy.totalDiffMsMedian"))} / ${ms(g("accuracy.totalDiffMsMax"))}`,
      "<= 100 ms",
      () => g("accuracy.totalDiffMsMax") <= 100,
    ],
    [
      "accuracy",
      "accuracy: SLI vs kubelet (median / max |diff|)",
      () => `${ms(g("accuracy.sliDiffMsMedian"))} / ${ms(g("accuracy.sliDiffMsMax"))}`,
      "<= 100 ms",
      () => g("accuracy.sliDiffMsMax") <= 100,
    ],
    [
      "vsKubectl",
      "one pod: wall, podtrace / the 3 kubectl commands",
      () => `${ms(g("vsKubectl.podtraceWallMs"))} / ${ms(g("vsKubectl.kubectlWallMs"))}, ratio ${x(g("vsKubectl.wallRatio"))}`,
      "<= 1.0x",
      () => g("vsKubectl.wallRatio") <= 1,
    ],
    [
      "vsKubectl",
      "one pod: CPU, podtrace / the 3 kubectl commands",
      () => `${g("vsKubectl.podtraceCpuS").toFixed(2)} s / ${g("vsKubectl.kubectlCpuS").toFixed(2)} s, ratio ${x(g("vsKubectl.cpuRatio"))}`,
      "(none)",
      () => true,
    ],
    [
      "vsKubectl",
      "one pod: peak RSS, podtrace / the largest kubectl",
      () => `${mib(g("vsKubectl.podtracePeakMiB"))} / ${mib(g("vsKubectl.kubectlPeakMiB"))}, ratio ${x(g("vsKubectl.peakRatio"))}`,
      "<= 70 MiB",
      () => g("vsKubectl.podtracePeakMiB") <= 70,
    ],
    [
      "vsKubectl",
      "create request sent after process start (median / max)",
      () => `${ms(g("vsKubectl.createSentMsMedian"))} / ${ms(g("vsKubectl.createSentMsMax"))}`,
      "<= 120 ms",
      () => g("vsKubectl.createSentMsMedian") <= 120,
    ],
    [
      "vsKubectl",
      "verdict printed after the Ready update (median / max)",
      () => `${ms(g("vsKubectl.verdictAfterReadyMsMedian"))} / ${ms(g("vsKubectl.verdictAfterReadyMsMax"))}`,
      "<= 10 ms",
      () => g("vsKubectl.verdictAfterReadyMsMedian") <= 10,
    ],
    [
      "verdictLatency",
      "verdict latency: podtrace - kubectl wait (median / max)",
      () => `${ms(g("verdictLatency.medianMs"))} / ${ms(g("verdictLatency.maxMs"))}`,
      "<= 50 ms",
      () => g("verdictLatency.maxMs") <= 50,
    ],
    [
      "accuracy",
      "watch lag, scheduler events (p50 / p99)",
      () => `${ms(g("watchLag.p50Ms"))} / ${ms(g("watchLag.p99Ms"))}`,
      "p50 <= 20 ms",
      () => g("watchLag.p50Ms") <= 20,
    ],
    [
      "coldStart",
      "cold start: --version / kubectl version --client",
      () => `${ms(g("coldStart.podtraceVersionMs"))} / ${ms(g("coldStart.kubectlVersionClientMs"))} = ${x(g("coldStart.ratioVersion"))}`,
      "<= 1.5x",
      () => g("coldStart.ratioVersion") <= 1.5,
    ],
    [
      "coldStart",
      "cold start: --help / kubectl version --client",
      () => `${ms(g("coldStart.podtraceHelpMs"))} = ${x(g("coldStart.ratioHelp"))}`,
      "<= 1.5x",
      () => g("coldStart.ratioHelp") <= 1.5,
    ],
    [
      "pods50",
      "50 pods: ready, p50/p99 to Ready, peak RSS",
      () => `${g("pods50.ready")}/50, ${ms(g("pods50.readyP50Ms"))} / ${ms(g("pods50.readyP99Ms"))}, ${mib(g("pods50.peakRssMiB"))}`,
      "all Ready",
      () => g("pods50.ready") === 50 && (r["pods50"] as Record<string, unknown>)["summaryAgreesWithPods"] === true,
    ],
    [
      "pods100",
      "100 pods: ready, p50/p99 to Ready, wall",
      () =>
        `${g("pods100.ready")}/100, ${ms(g("pods100.readyP50Ms"))} / ${ms(g("pods100.readyP99Ms"))}, ${(g("pods100.wallMs") / 1000).toFixed(1)} s`,
      "all Ready",
      () => g("pods100.ready") === 100 && (r["pods100"] as Record<string, unknown>)["summaryAgreesWithPods"] === true,
    ],
    ["pods100", "100 pods: peak RSS", () => mib(g("pods100.peakRssMiB")), "<= 100 MiB", () => g("pods100.peakRssMiB") <= 100],
    ["pods100", "100 pods: CPU", () => `${g("pods100.cpuS").toFixed(2)} s`, "<= 1.5 s", () => g("pods100.cpuS") <= 1.5],
    [
      "kindPods300",
      "300 pods on kind: ready, nodes, p50/p99, wall, peak RSS, CPU",
      () =>
        `${g("kindPods300.ready")}/300 on ${g("kindPods300.nodesUsed")} nodes, ${ms(g("kindPods300.readyP50Ms"))} / ${ms(g("kindPods300.readyP99Ms"))}, ${(g("kindPods300.wallMs") / 1000).toFixed(1)} s, ${mib(g("kindPods300.peakRssMiB"))}, ${g("kindPods300.cpuS").toFixed(2)} s`,
      "all Ready",
      () => g("kindPods300.ready") === 300,
    ],
    [
      "apiserverRestart",
      "kube-apiserver restart mid-run: exit, phases done",
      () =>
        `exit ${g("apiserverRestart.exitCode")}, ${g("apiserverRestart.phasesDone")}/${g("apiserverRestart.phases")}, ${g("apiserverRestart.leftovers")} left`,
      "exit 0, all done",
      () => g("apiserverRestart.exitCode") === 0 && g("apiserverRestart.phasesDone") === g("apiserverRestart.phases"),
    ],
    [
      "interrupts",
      "random SIGINT runs: objects left behind",
      () => `${g("interrupts.objectsLeftBehind")} after ${g("interrupts.runs")} runs`,
      "0",
      () => g("interrupts.objectsLeftBehind") === 0,
    ],
    [
      "groundTruth",
      "ground truth: p95 |error| of boundaries with a watch arrival",
      () => `${ms(g("groundTruth.direct.arrivalP95Ms"))} (worst: ${String(g("groundTruth.direct.arrivalWorstKind"))})`,
      "<= 20 ms",
      () => g("groundTruth.direct.arrivalP95Ms") <= 20,
    ],
    [
      "groundTruth",
      "ground truth, 25 ms each way: p95 |error| with an arrival",
      () => `${ms(g("groundTruth.delayed25ms.arrivalP95Ms"))} (worst: ${String(g("groundTruth.delayed25ms.arrivalWorstKind"))})`,
      "<= 20 ms",
      () => g("groundTruth.delayed25ms.arrivalP95Ms") <= 20,
    ],
    [
      "groundTruth",
      "ground truth: spans inside the reported window (direct / 25 ms)",
      () => `${(100 * g("groundTruth.direct.insideShare")).toFixed(1)}% / ${(100 * g("groundTruth.delayed25ms.insideShare")).toFixed(1)}%`,
      "100%",
      () => g("groundTruth.direct.insideShare") === 1 && g("groundTruth.delayed25ms.insideShare") === 1,
    ],
  ];
  const shown = rows.map(([section, name, value, goal, met]): [string, string, string, string] => {
    try {
      if (r[section] !== undefined) return [name, value(), goal, met() ? "met" : "NOT met"];
    } catch {
      // A figure the section's results (from an older benchmark) do not have.
    }
    return [name, "(not measured)", goal, ""];
  });
  const w = Math.max(...shown.map((row) => row[0].length));
  const v = Math.max(...shown.map((row) => row[1].length));
  return (
    [
      `podtrace benchmark on ${String(r["machine"])}`,
      ...shown.map(([name, value, goal, met]) => `${name.padEnd(w)}  ${value.padEnd(v)}  goal ${goal.padEnd(16)} ${met}`),
    ].join("\n") + "\n"
  );
}

/** The ground truth per kind of boundary: median and p95 of |podtrace - span|, share inside the window. */
function truthTable(truth: unknown): string {
  const t = truth as
    { direct?: { kinds: ReturnType<typeof summarise> }; delayed25ms?: { kinds: ReturnType<typeof summarise> } } | undefined;
  if (!t?.direct || !t.delayed25ms) return "";
  const remote = new Map(t.delayed25ms.kinds.map((k) => [k.kind, k]));
  const lines = ["", "ground truth per boundary (|podtrace - span|: median / p95, inside the window; * = with a watch arrival)"];
  lines.push(`${"boundary".padEnd(24)} ${"direct".padEnd(28)} 25 ms each way`);
  for (const k of t.direct.kinds) {
    const r = remote.get(k.kind);
    const cell = (x: typeof k | undefined) =>
      x ? `${x.medianMs.toFixed(1)} / ${x.p95Ms.toFixed(1)} ms, ${(100 * x.inside).toFixed(0)}% (n=${x.n})` : "-";
    lines.push(`${(k.kind + (k.arrival ? " *" : "")).padEnd(24)} ${cell(k).padEnd(28)} ${cell(r)}`);
  }
  return `${lines.join("\n")}\n`;
}

await main();
