/**
 * The tail of the critical path, after the kubelet started the last app container: what
 * the pod waited for until it was Ready (or, for a pod that runs to completion, until it
 * completed).
 *
 * After the last container's postStart hook the kubelet's sync ends; its next sync waits
 * for a PLEG relist, then writes the pod's status with the containers running ("status
 * report"). Without probes that status already says Ready. Probes only begin once the
 * kubelet's status shows a container running: a startupProbe until status.started turns
 * true, then a readinessProbe until status.ready does. The pod is Ready when every
 * container is (ContainersReady) and every readiness gate's condition is True.
 *
 * Containers' probes run side by side. The critical path follows the container that
 * became ready last, from the moment the others no longer held the pod back; every other
 * container's probes are parallel lanes.
 */
import type { BoundaryChain, Mark, PhaseDraft } from "./chain.ts";
import { containerDraft, type ContainerMarks, type ContainerReader } from "./containers.ts";
import { phaseLabel } from "./phase-kinds.ts";
import { condition, hasRun, podPhase } from "./pod-status.ts";
import type { PodSignals } from "./signals.ts";

export interface TailMarks {
  /** Every container reported running (the first status update after they started). */
  allRunning: Mark | null;
  containersReady: Mark | null;
  ready: Mark | null;
  /** For pods that run to completion: the update showing phase Succeeded. */
  completed: Mark | null;
  /** The update that showed every container running also showed the containers ready. */
  readyWithRunning: boolean;
}

function draft(kind: "status-report" | "readiness-gates", id: string, details: PhaseDraft["details"] = {}): PhaseDraft {
  return { id, kind, label: phaseLabel(kind), details };
}

/** The running-report, ContainersReady, Ready and completion marks of the pod. */
export function tailMarks(
  s: PodSignals,
  placeMark: (signals: ReturnType<PodSignals["conditionSignals"]>) => Mark | null,
  marks: readonly ContainerMarks[],
): TailMarks {
  const longRunning = marks.filter((m) => m.spec.type !== "init");
  // After containers were started again, what counts is what followed their last start.
  const after = Math.max(-Infinity, ...marks.filter((m) => m.restarts.length).map((m) => finalStart(m)?.latest ?? Infinity));
  const all = s.snapshotArrival(
    "arrival of pod update with every container running",
    (p) => longRunning.length > 0 && longRunning.every((m) => hasRun(p, m.spec)),
    after,
  );
  const completed = s.snapshotArrival("arrival of pod update with phase Succeeded", (p) => podPhase(p) === "Succeeded");
  const containersReady = s.snapshotArrival("", (p) => condition(p, "ContainersReady")?.["status"] === "True");
  return {
    allRunning: all ? placeMark([all.signal]) : null,
    containersReady: placeMark(s.conditionSignals("ContainersReady")),
    ready: placeMark(s.conditionSignals("Ready")),
    completed: completed ? placeMark([completed.signal]) : null,
    readyWithRunning: all !== null && containersReady?.snapshot === all.snapshot,
  };
}

/**
 * The steps from the last app container's start to Ready, and the lanes of the probes
 * that were not on that path.
 */
export function readinessSteps(
  chain: BoundaryChain,
  reader: ContainerReader,
  marks: readonly ContainerMarks[],
  tail: TailMarks,
  gates: readonly string[],
): void {
  const apps = marks.filter((m) => m.spec.type === "app");
  const last = apps.at(-1);
  // What counts for ContainersReady: app containers and sidecars.
  const counted = marks.filter((m) => m.spec.type !== "init");
  const waitedFor = lastReady(counted);
  // The pod-level mark that ends the containers' part: ContainersReady, or Ready itself.
  const containersEnd = gates.length ? tail.containersReady : tail.ready;

  if (last?.spec.hasPostStartHook)
    chain.step(containerDraft("post-start-hook", last.spec), reader.hookEnd(finalStart(last), tail.allRunning));
  const noProbes = !waitedFor || (!waitedFor.spec.hasStartupProbe && !waitedFor.spec.hasReadinessProbe);
  // Without probes the status that shows the containers running also says they are ready.
  chain.step(draft("status-report", "status-report"), noProbes && tail.readyWithRunning ? containersEnd : tail.allRunning);
  if (waitedFor && !noProbes) {
    const c = waitedFor.spec;
    if (c.hasStartupProbe) {
      const failures = reader.probeFailures(c, "Startup");
      const end = c.hasReadinessProbe ? waitedFor.startupDone : containersEnd;
      if (!c.hasReadinessProbe || !waitedFor.startupDone || !tail.allRunning || waitedFor.startupDone.latest > tail.allRunning.latest) {
        chain.step(containerDraft("startup-probe", c, failures ? { startupProbeFailures: failures } : {}), end);
      }
    }
    if (c.hasReadinessProbe) {
      const failures = reader.probeFailures(c, "Readiness");
      chain.step(containerDraft("readiness", c, failures ? { probeFailures: failures } : {}), containersEnd);
    }
  }
  if (gates.length) chain.step(draft("readiness-gates", "readiness-gates", { gates: gates.join(", ") }), tail.ready);

  // The probes of every other container ran beside the path.
  for (const m of counted) {
    if (m === waitedFor) continue;
    probeLanes(chain, reader, m);
  }
}

/** A pod that runs to completion: the last container to exit, then the kubelet reporting the pod Succeeded. */
export function completionSteps(chain: BoundaryChain, reader: ContainerReader, marks: readonly ContainerMarks[], tail: TailMarks): void {
  const apps = marks.filter((m) => m.spec.type === "app");
  const last = apps.at(-1);
  if (last?.spec.hasPostStartHook)
    chain.step(containerDraft("post-start-hook", last.spec), reader.hookEnd(finalStart(last), last.exited ?? tail.allRunning));
  // The container the pod waited for: the last to exit (the first still running, if any).
  const running = apps.find((m) => !m.exited);
  const waitedFor = running ?? [...apps].sort((a, b) => a.exited!.latest - b.exited!.latest).at(-1);
  if (waitedFor) {
    const exitCode = waitedFor.exitCode;
    chain.step(containerDraft("container-run", waitedFor.spec, exitCode !== null ? { exitCode } : {}), waitedFor.exited);
  }
  chain.step(draft("status-report", "status-report:completed", { reported: "Succeeded" }), tail.completed);
  for (const m of apps) {
    if (m === waitedFor || !m.started) continue;
    chain.lane(containerDraft("container-run", m.spec, m.exitCode !== null ? { exitCode: m.exitCode } : {}), m.started, m.exited);
  }
}

/** A container's probes as lanes: its startupProbe from the running report, then its readinessProbe. */
function probeLanes(chain: BoundaryChain, reader: ContainerReader, m: ContainerMarks): void {
  const c = m.spec;
  if (c.hasStartupProbe && c.type !== "sidecar") {
    const failures = reader.probeFailures(c, "Startup");
    chain.lane(containerDraft("startup-probe", c, failures ? { startupProbeFailures: failures } : {}), m.runningReported, m.startupDone);
  }
  if (c.hasReadinessProbe) {
    const failures = reader.probeFailures(c, "Readiness");
    chain.lane(
      containerDraft("readiness", c, failures ? { probeFailures: failures } : {}),
      c.hasStartupProbe ? m.startupDone : m.runningReported,
      m.ready,
    );
  }
}

/** The container that became ready last; while some are not ready, the first of those. */
function lastReady(counted: readonly ContainerMarks[]): ContainerMarks | undefined {
  const notReady = counted.filter((m) => !m.ready);
  if (notReady.length) return notReady.find((m) => m.spec.hasReadinessProbe || m.spec.hasStartupProbe) ?? notReady[0];
  // Ties (ready in the same update): the one with probes, else the later one in start order.
  return [...counted].sort((a, b) => a.ready!.latest - b.ready!.latest || probeRank(a) - probeRank(b)).at(-1);
}

/** The container's last start: its first, or that of its last restart. */
function finalStart(m: ContainerMarks): Mark | null {
  return m.restarts.at(-1)?.started ?? m.started;
}

function probeRank(m: ContainerMarks): number {
  return (m.spec.hasReadinessProbe ? 2 : 0) + (m.spec.hasStartupProbe ? 1 : 0);
}
