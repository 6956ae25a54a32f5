/**
 * Container phases: what the kubelet does for each container, in its start order, and the
 * waits between containers.
 *
 * In one pod sync the kubelet takes a container through image pull (Pulling, Pulled),
 * create (Created), start (Started) and its postStart hook, which it waits for before it
 * goes on. App containers are started one after another in the same sync, so the next one
 * begins when the previous one's hook ended (at once without a hook). An init container
 * must exit, and a sidecar (an init container with restartPolicy Always) must be seen
 * running and, with a startupProbe, started, before the next container begins: the kubelet
 * notices that only in a later sync, after its PLEG relist (1 s by default) or the probe's
 * result. That wait is the "kubelet sync" phase, ending at the next container's first
 * event.
 *
 * When the kubelet's event rate limit (a burst of 25 per pod, then one per 5 min) drops a
 * container's events, its start is placed from the pod's status alone (startedAt, and the
 * arrival of the update that showed it running) and the phases whose ends no signal marks
 * are unobserved.
 */
import type { BoundaryChain, Mark, PhaseDraft } from "./chain.ts";
import { asRecord, type SeenEvent } from "./observed-run.ts";
import type { RawObject } from "./observation.ts";
import { phaseLabel, type PhaseKind } from "./phase-kinds.ts";
import { containerStatus, hasRun, lastSnapshot, restartCount, terminatedState, type ContainerSpec } from "./pod-status.ts";
import { parsePulledMessage } from "./pulled-message.ts";
import type { PodSignals } from "./signals.ts";
import { notBefore, place, type Signal } from "./window.ts";

/**
 * How long after a sync that started a container the kubelet's next sync of the pod can
 * begin: the PLEG relist period (1 s by default), the relist itself and the writing of
 * what it found. The next sync waits for a relist newer than the end of the previous one.
 */
export const KUBELET_RESYNC_BOUND_MS = 1200;

/** A start of a container after its first: the exit before it, and its own pull, create and start. */
export interface RestartAttempt {
  /** 2 for the first restart. */
  attempt: number;
  /** The exit of the attempt before, and its code. */
  previousExit: Mark | null;
  previousExitCode: number | null;
  pulled: Mark | null;
  created: Mark | null;
  started: Mark | null;
}

/** The marks of one container, placed from its own signals. */
export interface ContainerMarks {
  spec: ContainerSpec;
  /** Its first event: Pulling, or Pulled when the image was already present. */
  entry: Mark | null;
  pulled: Mark | null;
  created: Mark | null;
  started: Mark | null;
  /** Started is known only from the pod's status (its events were dropped). */
  startedFromStatus: boolean;
  /** The starts after the first, when it exited and was started again. */
  restarts: RestartAttempt[];
  /** The arrival of the first update showing its last attempt running (or already terminated). */
  runningReported: Mark | null;
  /** status.started turned true in its last attempt (its startupProbe passed, or at once without one). */
  startupDone: Mark | null;
  /** status.ready turned true in its last attempt. */
  ready: Mark | null;
  /** The exit of its last attempt: exit code 0 for an init container, any for one that runs to completion. */
  exited: Mark | null;
  /** The exit code seen, if it exited. */
  exitCode: number | null;
}

export class ContainerReader {
  private readonly signals: PodSignals;
  private readonly placeMark: (signals: Signal[]) => Mark | null;

  constructor(signals: PodSignals, placeMark: (signals: Signal[]) => Mark | null) {
    this.signals = signals;
    this.placeMark = placeMark;
  }

  marks(c: ContainerSpec): ContainerMarks {
    const s = this.signals;
    const pulling = s.containerEvent(c, "Pulling");
    const pulledEvent = s.containerEvent(c, "Pulled");
    const pulledMessage = pulledEvent ? parsePulledMessage(pulledEvent.message) : null;
    const pulled = pulledEvent ? this.placeMark(s.eventSignals(pulledEvent)) : null;
    const entry = pulling ? this.placeMark(s.eventSignals(pulling)) : pulledMessage?.alreadyPresent ? pulled : null;
    const createdEvent = s.containerEvent(c, "Created");
    const created = createdEvent ? this.placeMark(s.eventSignals(createdEvent)) : null;

    const startedEvent = s.containerEvent(c, "Started");
    const running = s.snapshotArrival(`arrival of pod update with ${c.name} running`, (p) => hasRun(p, c));
    const firstState = running ? asState(containerStatus(running.snapshot.pod, c)) : {};
    const startedAt = (firstState["running"] ?? firstState["terminated"] ?? {})["startedAt"];
    const startedSignals = [
      ...s.eventSignals(startedEvent),
      // The runtime's record of the process starting: the start call returns, and the
      // kubelet moves on, up to tens of milliseconds later (seen: 60 ms after the end of
      // the second startedAt names), so it bounds the end of the start only from below.
      ...s.nodeStamp(`${c.name} state startedAt`, startedAt).map(lowerBoundOnly),
      // The kubelet reports a container's state only after its next relist: the update
      // bounds the start from above but says little about when it was.
      ...(running ? [upperBoundOnly(running.signal)] : []),
    ];
    const started = startedEvent || running ? this.placeMark(startedSignals) : null;

    // Restarts: the kubelet counts each start's Pulled, Created and Started on the same
    // Events, and the status says how many times the container was restarted.
    const latestStatus = containerStatus(lastSnapshot(s.run.pods)?.pod ?? {}, c);
    const attempts = Math.max(1, startedEvent?.count ?? 0, restartCount(latestStatus) + 1);
    const restarts: RestartAttempt[] = [];
    for (let k = 2; k <= attempts; k++) {
      const exit = this.exitSignals(c, k - 1);
      restarts.push({
        attempt: k,
        previousExit: exit ? this.placeMark(exit.signals) : null,
        previousExitCode: exit?.exitCode ?? null,
        pulled: this.placeMark(s.occurrenceSignals(pulledEvent, k)),
        created: this.placeMark(s.occurrenceSignals(createdEvent, k)),
        started: this.placeMark(s.occurrenceSignals(startedEvent, k)),
      });
    }
    // What follows the last start is read from the updates after it.
    const lastStart = restarts.at(-1)?.started ?? (restarts.length ? null : started);
    const after = restarts.length ? (lastStart?.latest ?? Infinity) : -Infinity;
    const lastRunning = restarts.length
      ? s.snapshotArrival(
          `arrival of pod update with ${c.name} running again`,
          (p) => hasRun(p, c) && restartCount(containerStatus(p, c)) === attempts - 1,
          after,
        )
      : running;
    const startupDone = s.snapshotArrival(
      `arrival of pod update with ${c.name} started`,
      (p) => containerStatus(p, c)?.["started"] === true,
      after,
    );
    const ready = s.snapshotArrival(`arrival of pod update with ${c.name} ready`, (p) => containerStatus(p, c)?.["ready"] === true, after);
    const exit = this.exitSignals(c, attempts);
    return {
      spec: c,
      entry,
      pulled,
      created,
      started,
      startedFromStatus: !startedEvent && started !== null,
      restarts,
      runningReported: lastRunning ? this.placeMark([lastRunning.signal]) : null,
      startupDone: startupDone ? this.placeMark([startupDone.signal]) : null,
      ready: ready ? this.placeMark([ready.signal]) : null,
      exited: exit && (c.type !== "init" || exit.exitCode === 0) ? this.placeMark(exit.signals) : null,
      exitCode: exit?.exitCode ?? null,
    };
  }

  /**
   * The exit of one attempt (1 for the first start): its finishedAt, and the first update
   * showing it (as the current state while the container had been restarted attempt-1
   * times, or as its last state once restarted again), which the kubelet writes after the
   * relist that noticed the exit, so no more than one relist (and the write) after it.
   */
  private exitSignals(c: ContainerSpec, attempt: number): { signals: Signal[]; exitCode: number } | null {
    const terminatedOf = (p: RawObject): RawObject | null => {
      const status = containerStatus(p, c);
      const restarts = restartCount(status);
      const current = terminatedState(p, c);
      if (restarts === attempt - 1 && typeof current["exitCode"] === "number") return current;
      const previous = asRecord(asRecord(status?.["lastState"])["terminated"]);
      if (restarts === attempt && typeof previous["exitCode"] === "number") return previous;
      return null;
    };
    const snapshot = this.signals.snapshotArrival(`arrival of pod update with ${c.name} terminated`, (p) => terminatedOf(p) !== null);
    if (!snapshot) return null;
    const terminated = terminatedOf(snapshot.snapshot.pod)!;
    const arrived = snapshot.snapshot.arrivedAt;
    return {
      signals: [
        ...this.signals.nodeStamp(`${c.name} state finishedAt`, terminated["finishedAt"]),
        upperBoundOnly(snapshot.signal),
        notBefore(`the kubelet's relist that noticed the exit`, arrived - KUBELET_RESYNC_BOUND_MS),
      ],
      exitCode: terminated["exitCode"] as number,
    };
  }

  /** The pull's details: the image, and the kubelet's own figures from its Pulled message. */
  pullDetails(c: ContainerSpec): PhaseDraft["details"] {
    const s = this.signals;
    const pulledEvent = s.containerEvent(c, "Pulled");
    const pulled = pulledEvent ? parsePulledMessage(pulledEvent.message) : null;
    const details: PhaseDraft["details"] = { image: c.image };
    if (pulled?.alreadyPresent) details["alreadyPresent"] = true;
    if (pulled?.pullMs != null) details["kubeletPullMs"] = round(pulled.pullMs);
    if (pulled?.totalMs != null) details["kubeletPullWithWaitingMs"] = round(pulled.totalMs);
    if (pulled?.imageSizeBytes != null) details["imageSizeBytes"] = pulled.imageSizeBytes;
    const failures = s
      .warningEvents(["Failed", "BackOff", "ErrImageNeverPull", "InspectFailed"], c.fieldPath)
      .filter((e) => /pull|image/i.test(e.message));
    if (failures.length) details["pullFailures"] = sumCounts(failures);
    return details;
  }

  /** Unhealthy events of one container by probe, e.g. "Startup probe failed: ...". */
  probeFailures(c: ContainerSpec, probe: "Startup" | "Readiness" | "Liveness"): number {
    return sumCounts(
      this.signals.run.events.filter(
        (e) => this.signals.isOurs(e) && e.reason === "Unhealthy" && e.fieldPath === c.fieldPath && e.message.startsWith(`${probe} probe`),
      ),
    );
  }

  /**
   * The end of a postStart hook that no event marks: no earlier than the container's start,
   * no later than `upper` (the first thing the kubelet did after it), and, since the next
   * sync waits at most one relist after the hook's sync ended, no earlier than `upper`
   * less that wait. Placed in the middle of what remains.
   */
  hookEnd(started: Mark | null, upper: Mark | null): Mark | null {
    if (!started || !upper) return null;
    const lower = Math.max(started.at, upper.latest - KUBELET_RESYNC_BOUND_MS);
    const m = place([
      notBefore(`${started.sources[0] ?? "start"}, then the hook`, lower),
      { source: `${upper.sources[0] ?? "next step"}, after the hook`, earliest: -Infinity, latest: upper.latest },
    ]);
    return m && { ...m, at: (m.earliest + m.latest) / 2, approximate: true };
  }
}

/** A phase draft for one container's step, labelled "init migrate: run", "web: image pull". */
export function containerDraft(
  kind: PhaseKind,
  c: ContainerSpec,
  details: PhaseDraft["details"] = {},
  step = phaseLabel(kind),
): PhaseDraft {
  return {
    id: `${kind}:${c.name}`,
    kind,
    label: `${c.type === "app" ? "" : `${c.type} `}${c.name}: ${step}`,
    container: c.name,
    containerType: c.type,
    details,
  };
}

/**
 * The steps of every container on the critical path, in the kubelet's start order, with
 * the waits between them. Returns the marks of each container, for the tail of the path.
 */
export function containerSteps(chain: BoundaryChain, reader: ContainerReader, containers: readonly ContainerSpec[]): ContainerMarks[] {
  const all = containers.map((c) => reader.marks(c));
  all.forEach((m, i) => {
    const c = m.spec;
    const prev = all[i - 1];
    // The wait before this container's first event.
    if (prev?.spec.type === "init" || prev?.spec.type === "sidecar") {
      const after =
        prev.spec.type === "init" ? `${prev.spec.name} exited` : `${prev.spec.name} ${prev.spec.hasStartupProbe ? "started" : "running"}`;
      chain.step({ ...containerDraft("kubelet-sync", c, { after }), label: `kubelet sync → ${c.name}` }, m.entry);
    } else if (prev?.spec.hasPostStartHook) {
      chain.step(containerDraft("post-start-hook", prev.spec), m.entry);
    } else {
      chain.waypoint(m.entry);
    }
    const fromStatus = m.startedFromStatus ? { placedFromStatus: true } : {};
    chain.step({ ...containerDraft("image-pull", c, reader.pullDetails(c)), ...fromStatus }, m.pulled);
    chain.step({ ...containerDraft("container-create", c), ...fromStatus }, m.created);
    chain.step({ ...containerDraft("container-start", c), ...fromStatus }, m.started);
    // An init container is started again until it succeeds, before anything after it.
    if (c.type !== "app") restartSteps(chain, m);
    if (c.type === "init") {
      chain.step(containerDraft("init-run", c), m.exited);
    } else if (c.type === "sidecar") {
      const next = all[i + 1];
      if (c.hasPostStartHook) {
        chain.step(
          containerDraft("post-start-hook", c),
          reader.hookEnd(m.restarts.at(-1)?.started ?? m.started, c.hasStartupProbe ? m.startupDone : (next?.entry ?? null)),
        );
      }
      if (c.hasStartupProbe) {
        const failures = reader.probeFailures(c, "Startup");
        chain.step(containerDraft("startup-probe", c, failures ? { startupProbeFailures: failures } : {}), m.startupDone);
      }
    }
  });
  // App containers that exited were started again in later syncs, after every container's
  // first start: in the order they exited.
  const restarted = all.filter((m) => m.spec.type === "app" && m.restarts.length > 0);
  for (const m of restarted.sort((a, b) => (a.restarts[0]?.previousExit?.at ?? Infinity) - (b.restarts[0]?.previousExit?.at ?? Infinity))) {
    restartSteps(chain, m);
  }
  return all;
}

/**
 * A container's starts after the first: each attempt ran until it exited, the kubelet
 * waited (its CrashLoopBackOff, and the relist that noticed the exit), then made sure of
 * the image, created and started it again.
 */
function restartSteps(chain: BoundaryChain, m: ContainerMarks): void {
  const c = m.spec;
  for (const r of m.restarts) {
    const before = r.attempt - 1;
    const exitCode: PhaseDraft["details"] = r.previousExitCode !== null ? { exitCode: r.previousExitCode } : {};
    chain.step(attemptDraft(c.type === "init" ? "init-run" : "container-run", c, before, exitCode), r.previousExit);
    chain.step(attemptDraft("restart-backoff", c, r.attempt), r.pulled);
    chain.step(attemptDraft("image-pull", c, r.attempt), r.pulled);
    chain.step(attemptDraft("container-create", c, r.attempt), r.created);
    chain.step(attemptDraft("container-start", c, r.attempt, r === m.restarts.at(-1) ? { restarts: m.restarts.length } : {}), r.started);
  }
}

/** A phase of one attempt of a container that was started more than once: "app: start (attempt 2)". */
function attemptDraft(kind: PhaseKind, c: ContainerSpec, attempt: number, details: PhaseDraft["details"] = {}): PhaseDraft {
  const d = containerDraft(kind, c, details);
  return { ...d, id: `${d.id}#${attempt}`, label: `${d.label} (attempt ${attempt})` };
}

/** A signal that bounds from above but whose own instant is no estimate of the boundary. */
function upperBoundOnly(signal: Signal): Signal {
  return { source: signal.source, earliest: signal.earliest, latest: signal.latest };
}

/** A signal that says "not before": its estimate stays, its upper bound goes. */
function lowerBoundOnly(signal: Signal): Signal {
  return { ...signal, latest: Infinity };
}

function asState(status: RawObject | null): Record<string, RawObject | undefined> {
  const state = status?.["state"];
  return state !== null && typeof state === "object" ? (state as Record<string, RawObject | undefined>) : {};
}

function sumCounts(events: readonly SeenEvent[]): number {
  return events.reduce((n, e) => n + e.count, 0);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
