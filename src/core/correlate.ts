/**
 * correlate: the observed stream of one run -> its phase timeline. Pure: no I/O, no clock;
 * the same recording always gives the same timeline.
 *
 * Boundaries form one causal chain, in the order the kubelet works through a pod:
 *   submit -> created -> scheduled -> sandbox ready -> for each container in start order:
 *   pull start -> pulled -> created -> started [-> finished (init) | startup done (sidecar)]
 *   -> Ready -> endpoints published.
 * Each boundary is placed from every signal about it (window.ts), never before the one
 * before it, so phases never come out negative.
 */
import { estimateClockOffset } from "./clock-offset.ts";
import type { Observation, RawObject } from "./observation.ts";
import { asArray, asRecord, indexObservations, isAboutPod, str, type ObservedRun, type SeenEvent } from "./observed-run.ts";
import {
  condition,
  containerStatus,
  containersInStartOrder,
  firstSnapshot,
  lastSnapshot,
  nodeName,
  podIP,
  podPhase,
  restartCount,
  runsToCompletion,
  terminatedState,
  type ContainerSpec,
} from "./pod-status.ts";
import { parsePulledMessage } from "./pulled-message.ts";
import type { Boundary, ClockEstimate, Phase, PhaseKind, Timeline } from "./timeline.ts";
import { diagnose } from "./verdict.ts";
import { arrivalSignal, notBefore, parseServerTime, place, stampSignal, type Placement, type Signal } from "./window.ts";

/** A placed boundary before it is expressed relative to submit; settled in place. */
type Mark = Placement;

/** A phase whose boundaries are still marks: turned into a Phase once the chain settled. */
interface DraftPhase {
  phase: Phase;
  start: Mark | null;
  end: Mark | null;
}

export function correlate(observations: readonly Observation[]): Timeline {
  const run = indexObservations(observations);
  const clock = estimateClockOffset(run);
  return new Correlation(run, clock).timeline();
}

class Correlation {
  private readonly warnings: string[] = [];
  /** Every mark in causal order, for settle(). */
  private readonly sequence: Mark[] = [];
  private readonly submit: number | null;
  private readonly podObject: RawObject;
  private readonly podName: string;
  private readonly podUid: string;

  private readonly run: ObservedRun;
  private readonly clock: ClockEstimate;
  /** The pod's containers run to completion (restartPolicy Never or OnFailure, as in a Job). */
  private readonly runsToCompletion: boolean;

  constructor(run: ObservedRun, clock: ClockEstimate) {
    this.run = run;
    this.clock = clock;
    // What podtrace sent: the pod's create request, or the controller's that makes the pod.
    this.submit = (run.podCreate ?? run.controllerCreate)?.sentAt ?? null;
    const latest = lastSnapshot(run.pods)?.pod;
    this.podObject = latest ?? (run.podCreate?.status && run.podCreate.status < 300 ? run.podCreate.object : {});
    const meta = asRecord(this.podObject["metadata"]);
    this.podName = str(meta["name"]) || (run.podCreate ?? run.controllerCreate)?.name || "";
    this.podUid = str(meta["uid"]);
    this.runsToCompletion = runsToCompletion(this.podObject);
    if (!clock.consistent) {
      this.warnings.push(
        `server timestamps contradict each other by up to ${Math.round((clock.lowerMs ?? 0) - (clock.upperMs ?? 0))} ms: clocks of the apiserver, scheduler and nodes differ`,
      );
    }
  }

  timeline(): Timeline {
    const phases: DraftPhase[] = [];
    const create = this.run.podCreate ?? this.run.controllerCreate;
    const byController = !this.run.podCreate && this.run.controllerCreate !== null;
    const submitted = this.submit;
    const podSpec = this.run.podCreate?.status && this.run.podCreate.status < 300 ? this.run.podCreate.object : this.podObject;
    const containers = containersInStartOrder(podSpec);

    // submit -> created: the create round trip, measured on the client.
    const created: Mark | null =
      create && create.status < 300
        ? this.chain([
            notBefore("create request sent", create.sentAt),
            arrivalSignal("create response received", create.receivedAt),
            ...this.stamp("creationTimestamp", asRecord(create.object["metadata"])["creationTimestamp"]),
          ])
        : null;
    const submitMark: Mark | null =
      submitted !== null
        ? { at: submitted, earliest: submitted, latest: submitted, sources: ["create request sent"], inconsistent: false }
        : null;
    phases.push(this.phase("admission", "admission", submitMark, created));

    // A Deployment, ReplicaSet or Job: the controller admitted -> it created the pod (a
    // Deployment through its ReplicaSet). The pod's own creation ends the phase.
    let podCreated = created;
    if (byController) {
      const first = this.run.pods.find((p) => p.type !== "DELETED");
      podCreated = first
        ? this.chain([
            ...this.stamp("pod creationTimestamp", asRecord(first.pod["metadata"])["creationTimestamp"]),
            arrivalSignal("arrival of the pod", first.arrivedAt),
          ])
        : null;
      phases.push(this.phase("controller", "controller", created, podCreated, { controller: str(create?.object["kind"]) }));
    }

    // created -> scheduled.
    const scheduledEvent = this.podEvent("Scheduled");
    const scheduledSnapshot = firstSnapshot(this.run.pods, (p) => nodeName(p) !== "");
    // The scheduler records its Scheduled event after the binding went through, so even
    // its microsecond eventTime only bounds the binding from above.
    const scheduled = this.chain([
      ...this.eventSignals(scheduledEvent).map((s) => ({ ...s, earliest: -Infinity, tightUpper: true })),
      ...this.conditionSignals("PodScheduled", (p) => str(condition(p, "PodScheduled")?.["status"]) === "True"),
      ...(scheduledSnapshot ? [arrivalSignal("arrival of pod update with spec.nodeName", scheduledSnapshot.arrivedAt)] : []),
    ]);
    phases.push(this.phase("scheduling", "scheduling", podCreated, scheduled, { node: nodeName(this.podObject) }));

    // scheduled -> sandbox ready (volumes mounted, sandbox created, CNI gave an IP). No
    // event marks it and the status update that shows it often lags the first container
    // event; settle() bounds it by that event.
    const ipSnapshot = firstSnapshot(this.run.pods, (p) => podIP(p) !== "");
    const readyToStart = this.conditionSignals(
      "PodReadyToStartContainers",
      (p) => str(condition(p, "PodReadyToStartContainers")?.["status"]) === "True",
      true,
    );
    const sandboxSignals: Signal[] = [
      ...readyToStart,
      ...(readyToStart.length === 0
        ? this.conditionSignals("PodHasNetwork", (p) => str(condition(p, "PodHasNetwork")?.["status"]) === "True", true)
        : []),
      ...(ipSnapshot ? [arrivalSignal("arrival of pod update with status.podIP", ipSnapshot.arrivedAt)] : []),
    ];
    const sandbox = this.chain(sandboxSignals);
    const sandboxEvents = this.warningEvents(["FailedMount", "FailedCreatePodSandBox", "FailedAttachVolume"], "");
    phases.push(
      this.phase("sandbox", "sandbox", scheduled, sandbox, {
        podIP: podIP(this.podObject),
        ...(sandboxEvents.length ? { warnings: sandboxEvents.length } : {}),
      }),
    );

    // Each container in the kubelet's start order.
    const appStarted: (Mark | null)[] = [];
    for (const c of containers) {
      const result = this.containerPhases(c);
      phases.push(...result.phases);
      if (c.type === "app") appStarted.push(result.started);
    }

    // Last app container started -> Ready.
    const allStarted = appStarted.every((m) => m !== null) && appStarted.length > 0;
    const lastStarted = allStarted ? appStarted.reduce<Mark | null>((a, b) => (a && b && a.at > b.at ? a : b), null) : null;
    const ready = this.chain(this.conditionSignals("Ready", (p) => str(condition(p, "Ready")?.["status"]) === "True"));
    const unhealthy = this.run.events.filter((e) => this.isOurs(e) && e.reason === "Unhealthy");
    const probeFailures = unhealthy.reduce((n, e) => n + e.count, 0);
    phases.push(this.phase("readiness", "readiness", lastStarted, ready, probeFailures ? { probeFailures } : {}));

    // Ready -> the pod IP ready in each selecting Service's EndpointSlices.
    const services = this.services();
    const endpoints = services.length ? this.endpointsPublished(services) : null;
    const endpointsPhase = this.phase("endpoints", "endpoints", ready, endpoints, services.length ? { services: services.join(", ") } : {});
    if (!services.length) endpointsPhase.phase.status = "not-applicable";
    // A pod that completed without being seen Ready: readiness and endpoints do not apply.
    if (podPhase(this.podObject) === "Succeeded" && !ready) {
      for (const d of phases) if (d.phase.kind === "readiness") d.phase.status = "not-applicable";
      endpointsPhase.phase.status = "not-applicable";
    }
    phases.push(endpointsPhase);

    this.settle();
    const offset = (m: Mark | null) => (m && submitted !== null ? round(m.at - submitted) : null);
    const timeline: Timeline = {
      schemaVersion: 1,
      pod: {
        name: this.podName,
        namespace: str(asRecord(this.podObject["metadata"])["namespace"]) || create?.namespace || "",
        uid: this.podUid || null,
        node: nodeName(this.podObject) || null,
        podIP: podIP(this.podObject) || null,
        services,
      },
      submittedAt: submitted !== null ? new Date(submitted).toISOString() : null,
      clock: this.clock,
      phases: phases.map((d) => this.finish(d)),
      readyAfterMs: offset(ready),
      endpointsAfterMs: offset(endpoints),
      verdict: { outcome: "running", phase: null, summary: "", causes: [], next: [] },
      warnings: this.warnings,
    };
    timeline.verdict = diagnose(this.run, timeline);
    markFailedPhase(timeline);
    return timeline;
  }

  private containerPhases(c: ContainerSpec): { phases: DraftPhase[]; started: Mark | null } {
    const phases: DraftPhase[] = [];
    const pulling = this.containerEvent(c, "Pulling");
    const pulledEvent = this.containerEvent(c, "Pulled");
    const pulled = pulledEvent ? parsePulledMessage(pulledEvent.message) : null;
    const pullStart = pulling ? this.chain(this.eventSignals(pulling)) : null;
    const pullEnd = pulledEvent ? this.chain(this.eventSignals(pulledEvent)) : null;
    const details: Phase["details"] = { image: c.image };
    if (pulled?.alreadyPresent) details["alreadyPresent"] = true;
    if (pulled?.pullMs != null) details["kubeletPullMs"] = round(pulled.pullMs);
    if (pulled?.totalMs != null) details["kubeletPullWithWaitingMs"] = round(pulled.totalMs);
    if (pulled?.imageSizeBytes != null) details["imageSizeBytes"] = pulled.imageSizeBytes;
    const pullFailures = this.warningEvents(["Failed", "BackOff", "ErrImageNeverPull", "InspectFailed"], c.fieldPath).filter((e) =>
      /pull|image/i.test(e.message),
    );
    if (pullFailures.length) details["pullFailures"] = pullFailures.reduce((n, e) => n + e.count, 0);
    // Image already present: a zero-length pull at the Pulled event.
    phases.push(
      this.containerPhase("image-pull", `image pull`, c, pullStart ?? (pulled?.alreadyPresent ? pullEnd : pullStart), pullEnd, details),
    );

    const createdEvent = this.containerEvent(c, "Created");
    const created = createdEvent ? this.chain(this.eventSignals(createdEvent)) : null;
    phases.push(this.containerPhase("container-create", "create", c, pullEnd, created, {}));

    const startedEvent = this.containerEvent(c, "Started");
    const runningSnapshot = firstSnapshot(this.run.pods, (p) => {
      const state = asRecord(containerStatus(p, c)?.["state"]);
      return state["running"] !== undefined || state["terminated"] !== undefined;
    });
    const firstState = runningSnapshot ? asRecord(containerStatus(runningSnapshot.pod, c)?.["state"]) : {};
    const startedAtStamp = asRecord(firstState["running"] ?? firstState["terminated"])["startedAt"];
    const startedSignals = [
      ...(startedEvent ? this.eventSignals(startedEvent) : []),
      ...this.stamp(`${c.name} state startedAt`, startedAtStamp),
      ...(runningSnapshot ? [arrivalSignal(`arrival of pod update with ${c.name} running`, runningSnapshot.arrivedAt)] : []),
    ];
    const started = startedEvent || runningSnapshot ? this.chain(startedSignals) : null;
    const status = containerStatus(this.podObject, c);
    const restarts = restartCount(status);
    phases.push(this.containerPhase("container-start", "start", c, created, started, restarts ? { restarts } : {}));

    if (c.type === "init") {
      // Init containers run one after another: each one's end is part of the chain.
      const signals = this.terminatedSignals(c, true);
      const finished = signals ? this.chain(signals) : null;
      phases.push(this.containerPhase("init-run", "run", c, started, finished, {}));
      return { phases, started };
    }
    if (c.type === "app" && this.runsToCompletion) {
      // A pod that runs to completion (a Job's): how long each container ran. App
      // containers run side by side, so their ends are not part of the chain.
      const signals = this.terminatedSignals(c, false);
      const placed = signals ? this.placeMark(signals) : null;
      const finished = placed && started && placed.at < started.at ? { ...placed, at: started.at } : placed;
      const exitCode = terminatedState(this.podObject, c)["exitCode"];
      phases.push(this.containerPhase("container-run", "run", c, started, finished, typeof exitCode === "number" ? { exitCode } : {}));
    }
    if (c.type === "sidecar") {
      // A sidecar lets the next container start once it has started (and its startup
      // probe, if any, passed): status.started turns true.
      const startedTrue = firstSnapshot(this.run.pods, (p) => containerStatus(p, c)?.["started"] === true);
      const startupDone = startedTrue
        ? this.chain([arrivalSignal(`arrival of pod update with ${c.name} started`, startedTrue.arrivedAt)])
        : null;
      if (c.hasStartupProbe) phases.push(this.containerPhase("sidecar-startup", "startup", c, started, startupDone, {}));
      return { phases, started };
    }
    return { phases, started };
  }

  /** A container's end: its finishedAt and the arrival of the first update showing it (exit 0 only, when asked). */
  private terminatedSignals(c: ContainerSpec, successOnly: boolean): Signal[] | null {
    const snapshot = firstSnapshot(this.run.pods, (p) => {
      const exitCode = terminatedState(p, c)["exitCode"];
      return typeof exitCode === "number" && (!successOnly || exitCode === 0);
    });
    if (!snapshot) return null;
    const terminated = terminatedState(snapshot.pod, c);
    return [
      ...this.stamp(`${c.name} state finishedAt`, terminated["finishedAt"]),
      arrivalSignal(`arrival of pod update with ${c.name} terminated`, snapshot.arrivedAt),
    ];
  }

  // --- signals -------------------------------------------------------------------------

  private stamp(source: string, value: unknown): Signal[] {
    const t = parseServerTime(value);
    return t ? [stampSignal(source, t, this.clock.serverMinusClientMs)] : [];
  }

  /** An Event's first occurrence: its stamps and the arrival of its first sighting. */
  private eventSignals(e: SeenEvent | null): Signal[] {
    if (!e) return [];
    const label = `event ${e.reason}`;
    const precise = parseServerTime(e.eventTime);
    return [
      ...(precise ? this.stamp(`${label} eventTime`, e.eventTime) : this.stamp(`${label} firstTimestamp`, e.firstTimestamp)),
      // A repeated event's first sighting may be long after its first occurrence; only a
      // fresh one bounds it tightly.
      ...(e.firstCount <= 1 ? [arrivalSignal(`arrival of ${label}`, e.firstArrivedAt)] : []),
    ];
  }

  /**
   * A pod condition: its lastTransitionTime, and the arrival of the first snapshot showing
   * it. `reportedLater`: the kubelet stamps the condition when it next reports status, which
   * can be after the moment itself (PodReadyToStartContainers is reported after the first
   * container was already pulled), so the stamp only bounds it from above.
   */
  private conditionSignals(type: string, holds: (pod: RawObject) => boolean, reportedLater = false): Signal[] {
    const snap = firstSnapshot(this.run.pods, holds);
    if (!snap) return [];
    const stamp = this.stamp(`${type} lastTransitionTime`, condition(snap.pod, type)?.["lastTransitionTime"]).map((s) =>
      reportedLater ? { ...s, earliest: -Infinity, tightUpper: false } : s,
    );
    return [...stamp, arrivalSignal(`arrival of pod update with ${type}=True`, snap.arrivedAt)];
  }

  /**
   * Place the next boundary of the causal chain from its own signals; settle() later
   * orders it against its neighbours. Call in causal order.
   */
  private chain(signals: Signal[]): Mark | null {
    if (signals.length === 0) return null;
    const m = this.placeMark(signals);
    if (m) this.sequence.push(m);
    return m;
  }

  /**
   * Order the chain: a boundary is no later than its successor's latest possible instant
   * (the kubelet pulls the next image only after the previous container started), then no
   * earlier than its predecessor. Phases therefore never come out negative, and a status
   * update that arrived late does not push a boundary past the next event.
   */
  private settle(): void {
    const seq = this.sequence;
    for (let i = seq.length - 2; i >= 0; i--) {
      const cur = seq[i]!;
      const next = seq[i + 1]!;
      if (next.latest < cur.latest) {
        // The successor was seen by then: trust that over a stamp that says otherwise.
        cur.latest = next.latest;
        cur.earliest = Math.min(cur.earliest, cur.latest);
        if (cur.at > cur.latest) {
          cur.at = cur.latest;
          cur.sources = [...cur.sources, "before the next boundary"];
        }
      }
    }
    for (let i = 1; i < seq.length; i++) {
      const prev = seq[i - 1]!;
      const cur = seq[i]!;
      // The instant cannot precede the earliest its predecessor could have been.
      cur.earliest = Math.max(cur.earliest, prev.earliest);
      if (cur.at < prev.at) {
        cur.at = prev.at;
        cur.earliest = Math.max(cur.earliest, prev.earliest);
        cur.latest = Math.max(cur.latest, cur.at);
        cur.sources = [...cur.sources, "not before the previous boundary"];
      }
    }
  }

  private placeMark(signals: Signal[]): Mark | null {
    const m = place(signals);
    if (m?.inconsistent) this.warnings.push(`signals disagree (${m.sources.join(" vs ")}): placed at the earliest upper bound`);
    return m;
  }

  // --- events --------------------------------------------------------------------------

  private isOurs(e: SeenEvent): boolean {
    return isAboutPod(e, this.podName, this.podUid);
  }

  private podEvent(reason: string): SeenEvent | null {
    return this.run.events.find((e) => this.isOurs(e) && e.reason === reason) ?? null;
  }

  private containerEvent(c: ContainerSpec, reason: string): SeenEvent | null {
    return this.run.events.find((e) => this.isOurs(e) && e.reason === reason && e.fieldPath === c.fieldPath) ?? null;
  }

  private warningEvents(reasons: string[], fieldPath: string): SeenEvent[] {
    return this.run.events.filter(
      (e) => this.isOurs(e) && e.type === "Warning" && reasons.includes(e.reason) && (fieldPath === "" || e.fieldPath === fieldPath),
    );
  }

  // --- services and endpoints ----------------------------------------------------------

  private services(): string[] {
    const names = new Set<string>();
    for (const c of this.run.serviceCreates) {
      const name = str(asRecord(c.object["metadata"])["name"]);
      if (c.status < 300 && name) names.add(name);
    }
    for (const s of this.run.endpointSlices) {
      const name = str(asRecord(asRecord(s.slice["metadata"])["labels"])["kubernetes.io/service-name"]);
      if (name) names.add(name);
    }
    return [...names].sort();
  }

  private endpointsPublished(services: string[]): Mark | null {
    const ip = podIP(this.podObject);
    if (!ip) return null;
    let latest: Mark | null = null;
    for (const service of services) {
      const change = this.run.endpointSlices.find(
        (s) =>
          s.type !== "DELETED" &&
          str(asRecord(asRecord(s.slice["metadata"])["labels"])["kubernetes.io/service-name"]) === service &&
          asArray(s.slice["endpoints"]).some((ep) => {
            const addresses: unknown[] = Array.isArray(ep["addresses"]) ? ep["addresses"] : [];
            // ready: nil means unknown, which consumers treat as ready (discovery.k8s.io/v1).
            return addresses.includes(ip) && asRecord(ep["conditions"])["ready"] !== false;
          }),
      );
      if (!change) return null;
      // Services publish independently: only the last publication joins the chain.
      const m = this.placeMark([arrivalSignal(`arrival of EndpointSlice update for Service ${service}`, change.arrivedAt)]);
      if (m && (!latest || m.at > latest.at)) latest = m;
    }
    if (latest) this.sequence.push(latest);
    return latest;
  }

  // --- phases --------------------------------------------------------------------------

  private boundary(m: Mark | null): Boundary | null {
    if (!m || this.submit === null) return null;
    return {
      at: new Date(m.at).toISOString(),
      offsetMs: round(m.at - this.submit),
      sources: m.sources,
      uncertaintyMs: Number.isFinite(m.earliest) ? round(Math.max(0, m.latest - m.earliest)) : 0,
      ...(m.inconsistent ? { inconsistent: true } : {}),
      ...(m.approximate && m.latest - m.earliest > 100 ? { approximate: true } : {}),
    };
  }

  private phase(id: string, kind: PhaseKind, start: Mark | null, end: Mark | null, details: Phase["details"] = {}): DraftPhase {
    const clean: Phase["details"] = {};
    for (const [k, v] of Object.entries(details)) if (v !== "" && v !== undefined) clean[k] = v;
    const phase: Phase = {
      id,
      kind,
      label: LABELS[kind],
      status: end ? "done" : start ? "in-progress" : "not-reached",
      start: null,
      end: null,
      durationMs: null,
      details: clean,
    };
    return { phase, start, end };
  }

  private finish(d: DraftPhase): Phase {
    const { start, end } = d;
    return {
      ...d.phase,
      start: this.boundary(start),
      end: this.boundary(end),
      durationMs: start && end ? round(Math.max(0, end.at - start.at)) : null,
    };
  }

  private containerPhase(
    kind: PhaseKind,
    step: string,
    c: ContainerSpec,
    start: Mark | null,
    end: Mark | null,
    details: Phase["details"],
  ): DraftPhase {
    const d = this.phase(`${kind}:${c.name}`, kind, start, end, details);
    const p = d.phase;
    p.label = `${c.type === "app" ? "" : `${c.type} `}${c.name}: ${step}`;
    p.container = c.name;
    p.containerType = c.type;
    return d;
  }
}

const LABELS: Record<PhaseKind, string> = {
  admission: "admission",
  controller: "controller creates pod",
  scheduling: "scheduling",
  sandbox: "sandbox + network",
  "image-pull": "image pull",
  "container-create": "create",
  "container-start": "start",
  "init-run": "run",
  "container-run": "run",
  "sidecar-startup": "startup",
  readiness: "readiness",
  endpoints: "endpoints",
};

/** The phase the verdict names is failed, and nothing after it was reached. */
function markFailedPhase(t: Timeline): void {
  const v = t.verdict;
  if (v.outcome === "ready" || v.phase === null) return;
  // A container that started and then exited fails its start phase, done or not.
  const failed = t.phases.find((p) => p.kind === v.phase && (v.container === undefined || p.container === v.container));
  if (failed) failed.status = "failed";
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
