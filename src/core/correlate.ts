/**
 * correlate: the observed stream of one run -> its phase timeline. Pure: no I/O, no clock;
 * the same recording always gives the same timeline.
 *
 * The critical path is one chain of boundaries (chain.ts), in the order the kubelet works
 * through a pod: submit -> created -> [controller creates pod] -> scheduled [-> volumes
 * bound] -> sandbox ready -> each container's pull, create, start, hook, run or startup,
 * with the kubelet's syncs between them (containers.ts) -> the status report, probes and
 * readiness gates (readiness.ts), or the run to completion -> Ready -> endpoints published
 * (endpoints.ts). Each boundary is placed from every signal about it (window.ts), with each
 * server stamp read through its writer's clock (clock-offset.ts) and each arrival less the
 * watch latency (latency.ts), then settled against its neighbours, so phases tile the time
 * from submit to Ready with no hole, no overlap and nothing negative.
 */
import { BoundaryChain, round, toBoundary, type Mark, type PhaseDraft } from "./chain.ts";
import { clockWarnings, estimateClocks, type Clocks } from "./clock-offset.ts";
import { ContainerReader, containerSteps, type ContainerMarks } from "./containers.ts";
import { publication, selectingServices } from "./endpoints.ts";
import { estimateLatency } from "./latency.ts";
import { claimProgress, latestOf, podClaims } from "./volumes.ts";
import type { Observation, RawObject } from "./observation.ts";
import { asRecord, indexObservations, str, type ObservedRun } from "./observed-run.ts";
import { phaseLabel, type PhaseKind } from "./phase-kinds.ts";
import {
  containersInStartOrder,
  firstSnapshot,
  hostNetwork,
  lastSnapshot,
  nodeName,
  podIP,
  podIPs,
  podPhase,
  readinessGates,
  runsToCompletion,
} from "./pod-status.ts";
import { completionSteps, readinessSteps, tailMarks } from "./readiness.ts";
import { PodSignals } from "./signals.ts";
import type { Phase, Timeline } from "./timeline.ts";
import { diagnose } from "./verdict.ts";
import { clientInstant, notBefore, place, type Signal } from "./window.ts";

export function correlate(observations: readonly Observation[]): Timeline {
  const run = indexObservations(observations);
  return new Correlation(run, estimateClocks(run, estimateLatency(run).oneWayMs)).timeline();
}

function draft(kind: PhaseKind, details: Phase["details"] = {}): PhaseDraft {
  const clean: Phase["details"] = {};
  for (const [k, v] of Object.entries(details)) if (v !== "" && v !== undefined) clean[k] = v;
  return { id: kind, kind, label: phaseLabel(kind), details: clean };
}

class Correlation {
  private readonly warnings: string[] = [];
  private readonly run: ObservedRun;
  private readonly clocks: Clocks;
  private readonly latency: Timeline["latency"];
  private readonly submit: number | null;
  /** The latest pod object seen (spec and status), or what the create request returned. */
  private readonly podObject: RawObject;
  private readonly podName: string;
  private readonly signals: PodSignals;

  constructor(run: ObservedRun, clocks: Clocks) {
    this.run = run;
    this.clocks = clocks;
    this.latency = estimateLatency(run);
    // What podtrace sent: the pod's create request, or the controller's that makes the pod.
    this.submit = (run.podCreate ?? run.controllerCreate)?.sentAt ?? null;
    const latest = lastSnapshot(run.pods)?.pod;
    this.podObject = latest ?? (run.podCreate?.status && run.podCreate.status < 300 ? run.podCreate.object : {});
    const meta = asRecord(this.podObject["metadata"]);
    this.podName = str(meta["name"]) || (run.podCreate ?? run.controllerCreate)?.name || "";
    this.signals = new PodSignals(run, clocks, this.latency.oneWayMs, {
      name: this.podName,
      uid: str(meta["uid"]),
      object: this.podObject,
    });
    this.warnings.push(...clockWarnings(clocks));
  }

  timeline(): Timeline {
    const s = this.signals;
    const create = this.run.podCreate ?? this.run.controllerCreate;
    const byController = !this.run.podCreate && this.run.controllerCreate !== null;
    const submitted = this.submit;
    const podSpec = this.run.podCreate?.status && this.run.podCreate.status < 300 ? this.run.podCreate.object : this.podObject;
    const containers = containersInStartOrder(podSpec);
    const chain = new BoundaryChain(
      submitted !== null
        ? this.placeMark([clientInstant("create request sent", submitted)])!
        : { at: 0, earliest: 0, latest: 0, sources: [], inconsistent: false, quality: "bound" },
    );

    // submit -> created: the create round trip, measured on the client.
    const created =
      create && create.status < 300
        ? this.placeMark([
            notBefore("create request sent", create.sentAt),
            // The apiserver answered once the pod was stored: its response, less the way
            // back, is a client measurement of that.
            { ...s.arrival("create response received", create.receivedAt), quality: "exact" },
            ...s.apiserverStamp("creationTimestamp", asRecord(create.object["metadata"])["creationTimestamp"]),
          ])
        : null;
    chain.step(draft("admission"), created);

    // A Deployment, ReplicaSet or Job: the controller admitted -> it created the pod (a
    // Deployment through its ReplicaSet). The pod's own creation ends the phase.
    if (byController) {
      const first = this.run.pods.find((p) => p.type !== "DELETED");
      const podCreated = first
        ? this.placeMark([
            ...s.apiserverStamp("pod creationTimestamp", asRecord(first.pod["metadata"])["creationTimestamp"]),
            s.arrival("arrival of the pod", first.arrivedAt),
          ])
        : null;
      chain.step(draft("controller", { controller: str(create?.object["kind"]) }), podCreated);
    }

    // created -> scheduled. The scheduler records its Scheduled event after the binding
    // went through, so even its microsecond eventTime only bounds the binding from above.
    const scheduledSnapshot = firstSnapshot(this.run.pods, (p) => nodeName(p) !== "");
    const scheduled = this.placeMark([
      // The event is made after the binding's response came back to the scheduler: an upper
      // bound; the watch's delivery of the binding itself is the closer estimate.
      ...s.eventSignals(s.podEvent("Scheduled")).map((x): Signal => ({ source: x.source, earliest: -Infinity, latest: x.latest })),
      ...s.conditionSignals("PodScheduled"),
      ...(scheduledSnapshot ? [s.arrival("arrival of pod update with spec.nodeName", scheduledSnapshot.arrivedAt)] : []),
    ]);
    const schedulingDraft = draft("scheduling", { node: nodeName(this.podObject) });
    // Claims not yet bound hold the binding of the pod back (volumes.ts).
    const claims = claimProgress(this.run, s, this.podObject, (signals) => this.placeMark(signals)).filter((c) => !c.boundBefore);
    const bindingDraft = draft("volume-binding", {
      claims: claims.map((c) => c.name).join(", "),
      provisioner: [...new Set(claims.map((c) => c.provisioner).filter(Boolean))].join(", "),
    });
    const immediate = s.run.events.some(
      (e) => e.reason === "FailedScheduling" && /unbound immediate PersistentVolumeClaims/.test(e.message),
    );
    if (claims.length === 0) {
      chain.step(schedulingDraft, scheduled);
    } else if (!immediate && !claims.some((c) => c.bound && !c.nodeSelected)) {
      // WaitForFirstConsumer: the node is chosen first, then the claims bound there.
      chain.step(schedulingDraft, latestOf(claims.filter((c) => c.nodeSelected || !c.bound).map((c) => c.nodeSelected)));
      chain.step(bindingDraft, scheduled);
    } else {
      chain.step(bindingDraft, latestOf(claims.map((c) => c.bound)));
      chain.step(schedulingDraft, scheduled);
    }

    // scheduled -> volumes attached to the node, when the pod has volumes that attach (a
    // cloud disk, a CSI driver with an attacher): the attach/detach controller's events.
    const attached = this.run.events.filter((e) => s.isOurs(e) && e.reason === "SuccessfulAttachVolume");
    if (attached.length || s.warningEvents(["FailedAttachVolume"], "").length) {
      const ends = attached.map((e) => this.placeMark(s.eventSignals(e)));
      chain.step(draft("volume-attach", { volumes: attached.length }), attached.length ? latestOf(ends) : null);
    }

    // scheduled -> sandbox ready (volumes mounted, sandbox created, CNI gave an IP). No
    // event marks it, and the status update that shows it often lags the first container
    // event; settling bounds it by that event. A hostNetwork pod's IP is its node's, known
    // before any sandbox exists: it says nothing here.
    const ipSnapshot = hostNetwork(podSpec) ? null : firstSnapshot(this.run.pods, (p) => podIP(p) !== "");
    // Both families' on a dual-stack cluster: podIP alone is only the first.
    const ips = podIPs(this.podObject);
    const readyToStart = s.conditionSignals("PodReadyToStartContainers", true);
    const sandbox = this.placeMark([
      ...readyToStart,
      ...(readyToStart.length === 0 ? s.conditionSignals("PodHasNetwork", true) : []),
      ...(ipSnapshot ? [s.arrival("arrival of pod update with status.podIP", ipSnapshot.arrivedAt)] : []),
    ]);
    const sandboxWarnings = s.warningEvents(["FailedMount", "FailedCreatePodSandBox", "FailedAttachVolume"], "");
    chain.step(
      {
        ...draft("sandbox", {
          ...(ips.length > 1 ? { podIPs: ips.join(", ") } : { podIP: podIP(this.podObject) }),
          volumes: podClaims(this.podObject).join(", "),
          ...(hostNetwork(podSpec) ? { hostNetwork: true } : {}),
          ...(sandboxWarnings.length ? { warnings: sandboxWarnings.length } : {}),
        }),
        // The kubelet mounts the claims' volumes (attached first when they need it) before
        // it makes the sandbox; no event marks the end of the mounts.
        ...(podClaims(this.podObject).length ? { label: "volume mount + sandbox + network" } : {}),
      },
      sandbox,
    );

    // Each container in the kubelet's start order, then what the pod waited for.
    const reader = new ContainerReader(s, (signals) => this.placeMark(signals));
    const marks = containerSteps(chain, reader, containers);
    this.warnDroppedEvents(marks);
    const tail = tailMarks(s, (signals) => this.placeMark(signals), marks);
    const toCompletion = runsToCompletion(podSpec);
    if (toCompletion) completionSteps(chain, reader, marks, tail);
    else readinessSteps(chain, reader, marks, tail, readinessGates(podSpec));

    // Ready -> the pod's IPs ready in each selecting Service's EndpointSlices. A Service
    // that publishes not-ready addresses lists the pod before it is Ready: a lane, not a
    // step after Ready.
    const services = selectingServices(this.run);
    const changes = new Map(services.map((x) => [x.name, publication(this.run, x, ips)]));
    const afterReady = services.filter((x) => !x.publishNotReadyAddresses);
    const notReady = services.filter((x) => x.publishNotReadyAddresses);
    let published: Mark | null = null;
    if (afterReady.length && !toCompletion) {
      const last = afterReady.every((x) => changes.get(x.name))
        ? afterReady
            .map((x) => ({ name: x.name, change: changes.get(x.name)! }))
            .reduce((a, b) => (b.change.arrivedAt > a.change.arrivedAt ? b : a))
        : null;
      published = last
        ? this.placeMark([s.arrival(`arrival of EndpointSlice update for Service ${last.name}`, last.change.arrivedAt)])
        : null;
      chain.step(draft("endpoints", { services: afterReady.map((x) => x.name).join(", ") }), published);
    } else {
      chain.lane(draft("endpoints"), null, null, "not-applicable");
    }
    for (const service of notReady) {
      const change = changes.get(service.name);
      const at = change
        ? this.placeMark([s.arrival(`arrival of EndpointSlice update for Service ${service.name}`, change.arrivedAt)])
        : null;
      chain.lane(
        { ...draft("endpoints", { services: service.name, publishNotReadyAddresses: true }), id: `endpoints:${service.name}` },
        sandbox,
        at,
      );
    }
    if (notReady.length && !afterReady.length) {
      this.warnings.push(
        `only Services that publish not-ready addresses select the pod (${notReady.map((x) => x.name).join(", ")}): their EndpointSlices list it before or regardless of Ready, so there is no publication after Ready to wait for`,
      );
    }

    chain.settle();
    const offset = (m: Mark | null) => (m && submitted !== null ? round(m.at - submitted) : null);
    const phases = chain.phases().map((p): Phase => {
      const start = toBoundary(p.start, submitted);
      const end = toBoundary(p.end, submitted);
      return {
        id: p.draft.id,
        kind: p.draft.kind,
        label: p.draft.label,
        ...(p.draft.container !== undefined ? { container: p.draft.container } : {}),
        ...(p.draft.containerType !== undefined ? { containerType: p.draft.containerType } : {}),
        status: p.status,
        onCriticalPath: p.onCriticalPath,
        ...(p.draft.placedFromStatus ? { placedFromStatus: true } : {}),
        start,
        end,
        durationMs: p.start && p.end ? round(Math.max(0, p.end.at - p.start.at)) : null,
        details: p.draft.details,
      };
    });
    const ready = tail.ready;
    const timeline: Timeline = {
      schemaVersion: 1,
      pod: {
        name: this.podName,
        namespace: str(asRecord(this.podObject["metadata"])["namespace"]) || create?.namespace || "",
        uid: this.signals.podUid || null,
        node: nodeName(this.podObject) || null,
        podIP: podIP(this.podObject) || null,
        podIPs: ips,
        services: services.map((x) => x.name),
      },
      submittedAt: submitted !== null ? new Date(submitted).toISOString() : null,
      clock: this.clocks.apiserver,
      clocks: this.clocks.sources,
      latency: this.latency,
      phases,
      readyAfterMs: offset(ready),
      completedAfterMs: podPhase(this.podObject) === "Succeeded" ? offset(tail.completed) : null,
      endpointsAfterMs: offset(published),
      verdict: { outcome: "running", phase: null, summary: "", causes: [], next: [] },
      warnings: this.warnings,
    };
    timeline.verdict = diagnose(this.run, timeline);
    markFailedPhase(timeline);
    return timeline;
  }

  /** Say which containers' events the kubelet's rate limit dropped. */
  private warnDroppedEvents(marks: readonly ContainerMarks[]): void {
    const fromStatus = marks.filter((m) => m.startedFromStatus).map((m) => m.spec.name);
    if (fromStatus.length === 0) return;
    this.warnings.push(
      `the kubelet's events for ${fromStatus.join(", ")} are missing (its event rate limit lets 25 through per pod, then 1 per 5 min): their start is placed from the pod's status only, and their image pull and create are not observed`,
    );
  }

  private placeMark(signals: Signal[]): Mark | null {
    const m = place(signals);
    if (m?.inconsistent) this.warnings.push(`signals disagree (${m.sources.join(" vs ")}): placed at the earliest upper bound`);
    return m;
  }
}

/** The phase the verdict names is failed, and nothing after it was reached. */
function markFailedPhase(t: Timeline): void {
  const v = t.verdict;
  // While the run goes on, nothing has failed yet: the phase is only waited on.
  if (v.outcome === "ready" || v.outcome === "completed" || v.outcome === "running" || v.phase === null) return;
  // A container that started and then exited fails its start phase, done or not.
  const failed =
    t.phases.find((p) => p.kind === v.phase && (v.container === undefined || p.container === v.container) && p.onCriticalPath) ??
    t.phases.find((p) => p.kind === v.phase && (v.container === undefined || p.container === v.container));
  if (failed) failed.status = "failed";
}
