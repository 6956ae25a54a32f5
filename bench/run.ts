/**
 * podtrace's benchmark against the local cluster: how close its timeline is to the
 * kubelet's own measure, how soon it says Ready compared with kubectl wait, how far its
 * watches lag the scheduler, how fast it starts, and whether faults leave anything behind.
 * Prints a table of figures next to their goals and writes them as JSON. Never part of the
 * pass/fail tests: figures, not assertions.
 *
 *   npm run bench                         (KUBECONFIG defaults to the local cluster)
 *   BENCH_RUNS=5 BENCH_SIGINT_RUNS=100 BENCH_OUT=bench/results.json npm run bench
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { indexObservations } from "../src/core/observed-run.ts";
import { kubeletSums, podtraceKubeletStyle, type StartupSeconds } from "../test/support/kubelet-measure.ts";
import type { Observation } from "../src/core/observation.ts";
import type { Timeline } from "../src/core/timeline.ts";
import { percentile, type PodSetTimeline } from "../src/core/pod-set.ts";
import { parseServerTime } from "../src/core/window.ts";
import { parseRecording } from "../src/trace/recording.ts";
import { KUBECTL as kubectlPath } from "../test/support/cluster.ts";

const exec = promisify(execFile);
const ROOT = new URL("../", import.meta.url).pathname;
const BIN = `${ROOT}bin/podtrace.js`;
const KUBECONFIG = process.env["KUBECONFIG"] ?? "/var/lib/podtrace-cluster/admin.kubeconfig";
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);
const SIGINT_RUNS = Number(process.env["BENCH_SIGINT_RUNS"] ?? 100);
const OUT = process.env["BENCH_OUT"] ?? `${ROOT}bench/results.json`;
const NS = `podtrace-bench-${process.pid}`;
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
  const r = await podtrace([
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
    replicas,
    exitCode: r.code,
    ready: set.ready,
    wallMs: r.endedAt - r.startedAt,
    peakRssMiB: r.peakRssKiB / 1024,
    readyP50Ms: row?.p50Ms,
    readyP90Ms: row?.p90Ms,
    readyP99Ms: row?.p99Ms,
    schedulingP99Ms: phase("scheduling")?.p99Ms,
    sandboxP99Ms: phase("sandbox")?.p99Ms,
    summaryAgreesWithPods: agrees,
    leftovers: await leftovers(),
  };
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

// --- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const node = (await kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")).trim();
  await kubectl("create", "namespace", NS);
  for (
    let i = 0;
    i < 100 && !(await kubectl("get", "serviceaccount", "default", "-n", NS, "--ignore-not-found", "-o", "name")).trim();
    i++
  ) {
    await new Promise((res) => setTimeout(res, 100));
  }
  const results: Record<string, unknown> = { machine: machine(), node, startedAt: new Date().toISOString() };
  try {
    process.stderr.write("bench: cold start\n");
    results["coldStart"] = await coldStart();
    process.stderr.write("bench: accuracy against the kubelet\n");
    results["accuracy"] = await accuracy(node);
    process.stderr.write("bench: verdict latency against kubectl wait\n");
    results["verdictLatency"] = await verdictLatency();
    results["watchLag"] = watchLag(accuracyRuns);
    for (const n of [50, 100]) {
      process.stderr.write(`bench: ${n} pods in one run\n`);
      results[`pods${n}`] = await manyPods(n);
    }
    process.stderr.write("bench: kube-apiserver restart mid-run\n");
    results["apiserverRestart"] = await apiserverRestart();
    process.stderr.write(`bench: ${SIGINT_RUNS} runs interrupted at random moments\n`);
    results["interrupts"] = await interrupts();
  } finally {
    await kubectl("delete", "namespace", NS, "--wait=false");
  }
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(table(results));
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
  const rows: [string, string, string, boolean][] = [
    [
      "accuracy: total vs kubelet (median / max |diff|)",
      `${ms(g("accuracy.totalDiffMsMedian"))} / ${ms(g("accuracy.totalDiffMsMax"))}`,
      "<= 100 ms",
      g("accuracy.totalDiffMsMax") <= 100,
    ],
    [
      "accuracy: SLI vs kubelet (median / max |diff|)",
      `${ms(g("accuracy.sliDiffMsMedian"))} / ${ms(g("accuracy.sliDiffMsMax"))}`,
      "<= 100 ms",
      g("accuracy.sliDiffMsMax") <= 100,
    ],
    [
      "verdict latency: podtrace - kubectl wait (median / max)",
      `${ms(g("verdictLatency.medianMs"))} / ${ms(g("verdictLatency.maxMs"))}`,
      "<= 50 ms",
      g("verdictLatency.maxMs") <= 50,
    ],
    [
      "watch lag, scheduler events (p50 / p99)",
      `${ms(g("watchLag.p50Ms"))} / ${ms(g("watchLag.p99Ms"))}`,
      "p50 <= 20 ms",
      g("watchLag.p50Ms") <= 20,
    ],
    [
      "cold start: --version / kubectl version --client",
      `${ms(g("coldStart.podtraceVersionMs"))} / ${ms(g("coldStart.kubectlVersionClientMs"))} = ${g("coldStart.ratioVersion").toFixed(2)}x`,
      "<= 1.5x",
      g("coldStart.ratioVersion") <= 1.5,
    ],
    [
      "cold start: --help / kubectl version --client",
      `${ms(g("coldStart.podtraceHelpMs"))} = ${g("coldStart.ratioHelp").toFixed(2)}x`,
      "<= 1.5x",
      g("coldStart.ratioHelp") <= 1.5,
    ],
    [
      "50 pods: ready, p50/p99 to Ready, peak RSS",
      `${g("pods50.ready")}/50, ${ms(g("pods50.readyP50Ms"))} / ${ms(g("pods50.readyP99Ms"))}, ${g("pods50.peakRssMiB").toFixed(0)} MiB`,
      "RSS < 150 MB",
      g("pods50.ready") === 50 &&
        g("pods50.peakRssMiB") * 1.048576 < 150 &&
        r["pods50"] !== undefined &&
        (r["pods50"] as Record<string, unknown>)["summaryAgreesWithPods"] === true,
    ],
    [
      "100 pods: ready, p50/p99 to Ready, peak RSS",
      `${g("pods100.ready")}/100, ${ms(g("pods100.readyP50Ms"))} / ${ms(g("pods100.readyP99Ms"))}, ${g("pods100.peakRssMiB").toFixed(0)} MiB`,
      "RSS < 150 MB",
      g("pods100.ready") === 100 &&
        g("pods100.peakRssMiB") * 1.048576 < 150 &&
        (r["pods100"] as Record<string, unknown>)["summaryAgreesWithPods"] === true,
    ],
    [
      "kube-apiserver restart mid-run: exit, phases done",
      `exit ${g("apiserverRestart.exitCode")}, ${g("apiserverRestart.phasesDone")}/${g("apiserverRestart.phases")}, ${g("apiserverRestart.leftovers")} left`,
      "exit 0, all done",
      g("apiserverRestart.exitCode") === 0 && g("apiserverRestart.phasesDone") === g("apiserverRestart.phases"),
    ],
    [
      "random SIGINT runs: objects left behind",
      `${g("interrupts.objectsLeftBehind")} after ${g("interrupts.runs")} runs`,
      "0",
      g("interrupts.objectsLeftBehind") === 0,
    ],
  ];
  const w = Math.max(...rows.map((x) => x[0].length));
  const v = Math.max(...rows.map((x) => x[1].length));
  return (
    [
      `podtrace benchmark on ${String(r["machine"])}`,
      ...rows.map(
        ([name, value, goal, met]) => `${name.padEnd(w)}  ${value.padEnd(v)}  goal ${goal.padEnd(16)} ${met ? "met" : "NOT met"}`,
      ),
    ].join("\n") + "\n"
  );
}

await main();
