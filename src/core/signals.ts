/**
 * The signals of one pod's run, read the same way everywhere: server stamps moved and
 * widened by their writer's clock, arrivals less the watch latency, Events by their first
 * occurrence, conditions by their first snapshot.
 */
import { APISERVER, eventClock, nodeClock, type Clocks } from "./clock-offset.ts";
import { isAboutPod, type ObservedRun, type PodSnapshot, type SeenEvent } from "./observed-run.ts";
import type { RawObject } from "./observation.ts";
import { condition, firstSnapshot, nodeName, type ContainerSpec } from "./pod-status.ts";
import { arrivalSignal, parseServerTime, stampSignal, type Signal } from "./window.ts";

/**
 * How long after the moment it reports an Event may be made: the kubelet records Pulled
 * after one more image status call, Created and Started as the runtime call returns
 * (measured against the kubelet's spans: 0.1 ms for those, up to 10 ms for Pulled).
 */
export const EVENT_MADE_AFTER_MS = 50;

export class PodSignals {
  readonly run: ObservedRun;
  readonly clocks: Clocks;
  readonly latencyMs: number;
  readonly podName: string;
  readonly podUid: string;
  readonly node: string;

  constructor(run: ObservedRun, clocks: Clocks, latencyMs: number, pod: { name: string; uid: string; object: RawObject }) {
    this.run = run;
    this.clocks = clocks;
    this.latencyMs = latencyMs;
    this.podName = pod.name;
    this.podUid = pod.uid;
    this.node = nodeName(pod.object);
  }

  /** A stamp written by the named clock. */
  stamp(clock: string, source: string, value: unknown): Signal[] {
    const t = parseServerTime(value);
    return t ? [stampSignal(source, t, this.clocks.interval(clock))] : [];
  }

  apiserverStamp(source: string, value: unknown): Signal[] {
    return this.stamp(APISERVER, source, value);
  }

  /** A stamp of the pod's node: the kubelet's conditions, the runtime's container times. */
  nodeStamp(source: string, value: unknown): Signal[] {
    return this.stamp(nodeClock(this.node), source, value);
  }

  arrival(source: string, arrivedAt: number): Signal {
    return arrivalSignal(source, arrivedAt, this.latencyMs);
  }

  /** The arrival of the first snapshot (arrived at `after` or later) for which `holds` is true. */
  snapshotArrival(source: string, holds: (pod: RawObject) => boolean, after = -Infinity): { signal: Signal; snapshot: PodSnapshot } | null {
    const snapshot = firstSnapshot(this.run.pods, holds, after);
    return snapshot ? { signal: this.arrival(source, snapshot.arrivedAt), snapshot } : null;
  }

  /**
   * One occurrence of a repeated Event (the kubelet counts a restarted container's Pulled,
   * Created and Started on one Event): the occurrence with that count, when it was seen as
   * it happened, by its lastTimestamp and arrival. The first is the Event's first occurrence.
   */
  occurrenceSignals(e: SeenEvent | null, count: number): Signal[] {
    if (!e) return [];
    if (count <= 1) return this.eventSignals(e);
    const seen = e.occurrences.find((o) => o.count === count);
    if (!seen) return [];
    const label = `event ${e.reason} #${count}`;
    return [
      ...this.stamp(eventClock(e, this.node), `${label} lastTimestamp`, seen.lastTimestamp),
      this.arrival(`arrival of ${label}`, seen.arrivedAt),
    ];
  }

  /**
   * An Event's first occurrence: its stamps and the arrival of its first sighting. An Event
   * is made just after what it reports (the Pulled event after the image's status was
   * read): its stamps say when it was made, so the moment itself may be a little earlier.
   */
  eventSignals(e: SeenEvent | null): Signal[] {
    if (!e) return [];
    const label = `event ${e.reason}`;
    const clock = eventClock(e, this.node);
    const precise = parseServerTime(e.eventTime);
    const madeAfter = (signal: Signal): Signal => ({ ...signal, earliest: signal.earliest - EVENT_MADE_AFTER_MS });
    return [
      ...(precise
        ? this.stamp(clock, `${label} eventTime`, e.eventTime)
        : this.stamp(clock, `${label} firstTimestamp`, e.firstTimestamp).map(madeAfter)),
      // The nanosecond creation time in its name, for its first occurrence.
      ...(e.nameTime !== null && !precise
        ? [madeAfter(stampSignal(`${label} name's creation time`, { ms: e.nameTime, precisionMs: 0.001 }, this.clocks.interval(clock)))]
        : []),
      // A repeated event's first sighting may be long after its first occurrence; only a
      // fresh one bounds it tightly.
      ...(e.firstCount <= 1 ? [this.arrival(`arrival of ${label}`, e.firstArrivedAt)] : []),
    ];
  }

  /**
   * A pod condition turning True: its lastTransitionTime, and the arrival of the first
   * snapshot showing it. `reportedLater`: the kubelet stamps the condition when it next
   * reports status, which can be after the moment itself (PodReadyToStartContainers is
   * reported after the first container was already pulled), so the stamp only bounds it
   * from above.
   */
  conditionSignals(type: string, reportedLater = false): Signal[] {
    const holds = (p: RawObject) => condition(p, type)?.["status"] === "True";
    const snap = firstSnapshot(this.run.pods, holds);
    if (!snap) return [];
    const clock = type === "PodScheduled" ? APISERVER : nodeClock(this.node);
    const stamp = this.stamp(clock, `${type} lastTransitionTime`, condition(snap.pod, type)?.["lastTransitionTime"]).map((s): Signal =>
      reportedLater ? { source: s.source, earliest: -Infinity, latest: s.latest } : s,
    );
    return [...stamp, this.arrival(`arrival of pod update with ${type}=True`, snap.arrivedAt)];
  }

  isOurs(e: SeenEvent): boolean {
    return isAboutPod(e, this.podName, this.podUid);
  }

  podEvent(reason: string): SeenEvent | null {
    return this.run.events.find((e) => this.isOurs(e) && e.reason === reason) ?? null;
  }

  containerEvent(c: ContainerSpec, reason: string): SeenEvent | null {
    return this.run.events.find((e) => this.isOurs(e) && e.reason === reason && e.fieldPath === c.fieldPath) ?? null;
  }

  /** Warning events of the pod with one of the reasons, for one container or (fieldPath "") any. */
  warningEvents(reasons: readonly string[], fieldPath: string): SeenEvent[] {
    return this.run.events.filter(
      (e) => this.isOurs(e) && e.type === "Warning" && reasons.includes(e.reason) && (fieldPath === "" || e.fieldPath === fieldPath),
    );
  }
}
