/**
 * The raw observed stream of one traced run: everything podtrace saw, in the order it
 * arrived, with the cluster's objects kept exactly as the API server sent them (raw JSON,
 * so eventTime keeps its microseconds). Recordings are files of these; the correlation core
 * reads nothing else, so a replay renders exactly what the live run rendered.
 *
 * Times named `arrivedAt`, `sentAt`, `receivedAt` are the client's clock in epoch
 * milliseconds with sub-millisecond fraction, taken from a monotonic source
 * (src/kube/clock.ts: monotonic, anchored to the wall clock), so they never go backwards
 * within a run.
 */

/** A Kubernetes object as raw JSON. */
export type RawObject = Record<string, unknown>;

/**
 * The watched kinds of object. Services and PersistentVolumeClaims are also recorded as
 * SYNC items of the list read before the pod is created (the Services that select it, the
 * claims it uses), so the core knows their specs.
 */
export type WatchedResource = "pods" | "events" | "events.k8s.io" | "endpointslices" | "services" | "persistentvolumeclaims";

/** The create request of a traced object, timed on the client. */
export interface CreateObservation {
  kind: "create";
  /** What was created: a Pod, a Deployment or ReplicaSet whose pods are traced, or the Service created with --service. */
  resource: "pods" | "deployments" | "replicasets" | "jobs" | "services";
  /** What was asked for: the API's answer may be a Status without them. */
  namespace: string;
  name: string;
  sentAt: number;
  receivedAt: number;
  /** The response's Date header (one-second precision, the apiserver's clock). */
  serverDate: string | null;
  status: number;
  /** The created object, or the API's Status on failure. */
  object: RawObject;
}

/** One watch event (or a relist item) for a watched resource. */
export interface WatchObservation {
  kind: "watch";
  resource: WatchedResource;
  /** ADDED, MODIFIED, DELETED; SYNC for an object seen in a list (initial or after 410 Gone). */
  type: "ADDED" | "MODIFIED" | "DELETED" | "SYNC";
  arrivedAt: number;
  object: RawObject;
}

/**
 * A plain request's round trip (a list, the server version), timed on the client: the
 * quickest round trip bounds the one-way latency every watch arrival carries.
 */
export interface RequestObservation {
  kind: "request";
  method: string;
  /** The request path without the query. */
  path: string;
  sentAt: number;
  receivedAt: number;
  status: number;
}

/** A change in the health of a watch: kept so a replay can show gaps and resumptions. */
export interface WatchStatusObservation {
  kind: "watch-status";
  resource: WatchedResource;
  status: "connected" | "closed" | "stalled" | "gone" | "error";
  arrivedAt: number;
  detail?: string;
}

/** A container log tail, read when a container failed, to show in the verdict. */
export interface LogObservation {
  kind: "log";
  arrivedAt: number;
  pod: string;
  container: string;
  previous: boolean;
  text: string;
}

/** The end of observation: why the run stopped watching. */
export interface EndObservation {
  kind: "end";
  arrivedAt: number;
  reason: "ready" | "failed" | "timeout" | "interrupted" | "error";
  detail?: string;
}

export type Observation =
  CreateObservation | RequestObservation | WatchObservation | WatchStatusObservation | LogObservation | EndObservation;
