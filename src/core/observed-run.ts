/**
 * The observed stream of one run, indexed for correlation: pod snapshots in arrival
 * order, Events deduplicated across the two Events APIs, EndpointSlice changes.
 */
import type { CreateObservation, LogObservation, Observation, RawObject, RequestObservation, WatchObservation } from "./observation.ts";

/** A Pod as the API server sent it, and when it arrived. */
export interface PodSnapshot {
  arrivedAt: number;
  type: WatchObservation["type"];
  pod: RawObject;
}

/** One sighting of an Event with a count not seen before: an occurrence, as far as it can be told. */
export interface EventOccurrence {
  count: number;
  /** lastTimestamp (or the series' lastObservedTime) of this sighting, as the server wrote it. */
  lastTimestamp: string | null;
  arrivedAt: number;
}

/**
 * One Event object as last seen, with the arrival of its first sighting: the first
 * occurrence is what a phase needs, later updates (count, series) matter for back-offs.
 */
export interface SeenEvent {
  uid: string;
  firstArrivedAt: number;
  reason: string;
  /** Event type: Normal or Warning. */
  type: string;
  message: string;
  /** involvedObject (core/v1) or regarding (events.k8s.io/v1). */
  involvedName: string;
  involvedUid: string;
  involvedKind: string;
  fieldPath: string;
  /** Raw time strings of the first occurrence as the server wrote them. */
  eventTime: string | null;
  firstTimestamp: string | null;
  lastTimestamp: string | null;
  count: number;
  /** count when first seen: an event first seen already repeated was not seen as it happened. */
  firstCount: number;
  reportingComponent: string;
  /** The node a kubelet's event came from (source.host or reportingInstance), when it says. */
  host: string;
  /**
   * When its writer made the Event, to the nanosecond, by the writer's clock (epoch ms):
   * client-go names every Event "<object>.<hex UnixNano of its creation>", so the
   * kubelet's Pulled, Created and Started carry a precise stamp their one-second
   * timestamps lack. Null when the name is not of that form.
   */
  nameTime: number | null;
  /** Each new count seen, in arrival order (the first is the first sighting). */
  occurrences: EventOccurrence[];
}

export interface EndpointSliceChange {
  arrivedAt: number;
  type: WatchObservation["type"];
  slice: RawObject;
}

export interface ObservedRun {
  podCreate: CreateObservation | null;
  /** The Deployment or ReplicaSet whose pods are traced, when podtrace did not create the pod itself. */
  controllerCreate: CreateObservation | null;
  serviceCreates: CreateObservation[];
  pods: PodSnapshot[];
  events: SeenEvent[];
  endpointSlices: EndpointSliceChange[];
  /** The Services that selected the pod when the run started, as listed then. */
  services: RawObject[];
  /** The PersistentVolumeClaims the pod uses, in arrival order (the list before the pod, then the watch). */
  claims: { arrivedAt: number; type: WatchObservation["type"]; claim: RawObject }[];
  /** Round trips of plain requests (lists, the server version). */
  requests: RequestObservation[];
  logs: LogObservation[];
  end: Extract<Observation, { kind: "end" }> | null;
}

export function indexObservations(observations: readonly Observation[]): ObservedRun {
  const run: ObservedRun = {
    podCreate: null,
    controllerCreate: null,
    serviceCreates: [],
    pods: [],
    events: [],
    endpointSlices: [],
    services: [],
    claims: [],
    requests: [],
    logs: [],
    end: null,
  };
  const events = new Map<string, SeenEvent>();
  for (const o of observations) {
    // What comes after the end is cleanup (deletion, containers killed): not startup.
    if (run.end) break;
    switch (o.kind) {
      case "create":
        if (o.resource === "pods") run.podCreate ??= o;
        else if (o.resource === "services") run.serviceCreates.push(o);
        else run.controllerCreate ??= o;
        break;
      case "watch":
        if (o.resource === "pods") run.pods.push({ arrivedAt: o.arrivedAt, type: o.type, pod: o.object });
        else if (o.resource === "endpointslices") run.endpointSlices.push({ arrivedAt: o.arrivedAt, type: o.type, slice: o.object });
        else if (o.resource === "services") run.services.push(o.object);
        else if (o.resource === "persistentvolumeclaims") run.claims.push({ arrivedAt: o.arrivedAt, type: o.type, claim: o.object });
        else if (o.type !== "DELETED") mergeEvent(events, o);
        break;
      case "request":
        run.requests.push(o);
        break;
      case "log":
        run.logs.push(o);
        break;
      case "end":
        run.end = o;
        break;
      case "watch-status":
        break;
    }
  }
  run.events = [...events.values()].sort((a, b) => a.firstArrivedAt - b.firstArrivedAt);
  return run;
}

function mergeEvent(events: Map<string, SeenEvent>, o: WatchObservation): void {
  const e = toSeenEvent(o);
  if (!e) return;
  const known = events.get(e.uid);
  if (!known) {
    events.set(e.uid, e);
    return;
  }
  // Keep the first sighting's arrival and first-occurrence times, take the rest from the
  // newest copy (count and message grow as the event repeats).
  if (e.count > known.count) known.occurrences.push(...e.occurrences);
  known.count = Math.max(known.count, e.count);
  known.message = e.message || known.message;
  known.lastTimestamp = e.lastTimestamp ?? known.lastTimestamp;
  known.eventTime ??= e.eventTime;
  known.firstTimestamp ??= e.firstTimestamp;
}

/** Normalise a core/v1 or events.k8s.io/v1 Event to one shape. */
export function toSeenEvent(o: WatchObservation): SeenEvent | null {
  const ev = o.object;
  const meta = asRecord(ev["metadata"]);
  const uid = str(meta["uid"]);
  if (!uid) return null;
  const isEventsApi = o.resource === "events.k8s.io";
  const involved = asRecord(isEventsApi ? ev["regarding"] : ev["involvedObject"]);
  const series = asRecord(ev["series"]);
  const source = asRecord(ev["source"]);
  const seriesCount = typeof series["count"] === "number" ? series["count"] : 0;
  // core/v1 says count; events.k8s.io/v1 says deprecatedCount for the same number (the
  // kubelet still writes the old API) and series.count for events written as a series.
  const legacyCount = ev[isEventsApi ? "deprecatedCount" : "count"];
  const count = Math.max(1, typeof legacyCount === "number" ? legacyCount : 0, seriesCount);
  return {
    uid,
    firstArrivedAt: o.arrivedAt,
    reason: str(ev["reason"]),
    type: str(ev["type"]),
    message: str(isEventsApi ? ev["note"] : ev["message"]),
    involvedName: str(involved["name"]),
    involvedUid: str(involved["uid"]),
    involvedKind: str(involved["kind"]),
    fieldPath: str(involved["fieldPath"]),
    eventTime: strOrNull(ev["eventTime"]),
    firstTimestamp: strOrNull(isEventsApi ? ev["deprecatedFirstTimestamp"] : ev["firstTimestamp"]),
    lastTimestamp: strOrNull(isEventsApi ? ev["deprecatedLastTimestamp"] : ev["lastTimestamp"]),
    count,
    firstCount: count,
    reportingComponent: str(ev["reportingController"] ?? ev["reportingComponent"] ?? source["component"]),
    host: str(source["host"]) || str(ev["reportingInstance"]),
    nameTime: eventNameTime(
      str(meta["name"]),
      str(involved["name"]),
      strOrNull(isEventsApi ? ev["deprecatedFirstTimestamp"] : ev["firstTimestamp"]) ?? strOrNull(ev["eventTime"]),
    ),
    occurrences: [
      {
        count,
        lastTimestamp: strOrNull(
          isEventsApi ? (asRecord(ev["series"])["lastObservedTime"] ?? ev["deprecatedLastTimestamp"]) : ev["lastTimestamp"],
        ),
        arrivedAt: o.arrivedAt,
      },
    ],
  };
}

/**
 * The creation time client-go writes into an Event's name ("<object>.<hex UnixNano>"), when
 * the name has that form and the time agrees with the Event's own stamp to within a day
 * (another writer could name Events otherwise).
 */
export function eventNameTime(name: string, involvedName: string, stamp: string | null): number | null {
  if (!name.startsWith(`${involvedName}.`)) return null;
  const hex = name.slice(involvedName.length + 1);
  if (!/^[0-9a-f]{12,16}$/.test(hex)) return null;
  const ms = Number(BigInt(`0x${hex}`) / 1000n) / 1000;
  const written = stamp ? Date.parse(stamp) : NaN;
  return Number.isFinite(written) && Math.abs(ms - written) < 86_400_000 ? ms : null;
}

/** Whether an Event is about the pod: by uid when both have one, else by name. */
export function isAboutPod(e: SeenEvent, name: string, uid: string): boolean {
  if (e.involvedKind && e.involvedKind !== "Pod") return false;
  if (uid && e.involvedUid) return e.involvedUid === uid;
  return e.involvedName === name;
}

export function asRecord(value: unknown): RawObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as RawObject) : {};
}

export function asArray(value: unknown): RawObject[] {
  return Array.isArray(value) ? value.map(asRecord) : [];
}

export function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function strOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}
