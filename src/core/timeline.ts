/**
 * The timeline: what `correlate` makes of an observed run and what every renderer reads.
 * Its JSON form is the documented `-o json` schema (schema/timeline.schema.json), so
 * changes here are changes to a public contract: add fields, never rename or remove.
 */
import type { PhaseKind } from "./phase-kinds.ts";

export type { PhaseKind } from "./phase-kinds.ts";

/** Where a phase boundary was placed and what placed it. */
export interface Boundary {
  /** ISO 8601 time on the client's clock, to the millisecond. */
  at: string;
  /** Milliseconds since the create request was sent. */
  offsetMs: number;
  /** The signals that bound it, most decisive first (e.g. "event Scheduled eventTime (1 µs)"). */
  sources: string[];
  /** Width of the window the signals allow, in ms (0 for an exact client measurement). */
  uncertaintyMs: number;
  /** That window, as offsets from submit: the boundary lies within [earliest, latest]. */
  windowMs?: [number, number];
  /** Signals contradicted each other; the boundary was placed at the upper bound. */
  inconsistent?: boolean;
  /** No signal bounds it tightly: placed in the middle of its window (uncertaintyMs wide). */
  approximate?: boolean;
}

/**
 * unobserved: the phase happened (a later boundary shows it) but no signal marks its own
 * end, e.g. when the kubelet's event rate limit dropped its events; its time is inside the
 * next observed phase on the critical path.
 */
export type PhaseStatus = "done" | "in-progress" | "failed" | "not-reached" | "not-applicable" | "unobserved";

export interface Phase {
  /** Stable id: the kind, plus ":<container>" for per-container phases. */
  id: string;
  kind: PhaseKind;
  /** Short label for people, e.g. "image pull web". */
  label: string;
  container?: string;
  /** "init", "sidecar" or "app" for per-container phases. */
  containerType?: "init" | "sidecar" | "app";
  status: PhaseStatus;
  /**
   * On the critical path from submit to Ready (or completion) and on to endpoints: these
   * phases tile that time with no hole and no overlap, so their durations add up to the
   * total. Other phases are parallel lanes (a probe of a container that was not the last
   * to become ready, a publication of not-ready addresses).
   */
  onCriticalPath: boolean;
  /** Its boundaries come from the pod's status alone: the Events that mark it were missing. */
  placedFromStatus?: boolean;
  start: Boundary | null;
  end: Boundary | null;
  durationMs: number | null;
  details: Record<string, string | number | boolean>;
}

/** One writer of timestamps (the apiserver, the scheduler, a node) and its clock against the client's. */
export interface ClockSource {
  /** "apiserver", "scheduler", "controller-manager" or "node <name>". */
  source: string;
  /** Estimated offset, source clock minus client clock, ms. */
  offsetMs: number;
  /** The offset lies within [lowerMs, upperMs] (null: unbounded on that side). */
  lowerMs: number | null;
  upperMs: number | null;
  /** Its stamps agree with each other. */
  consistent: boolean;
  /** How many stamps bounded it. */
  stamps: number;
}

export interface ClockEstimate {
  /** Estimated apiserver clock minus client clock, ms; server stamps are shifted by it. */
  serverMinusClientMs: number;
  /** What the observations allow: the offset lies within [lowerMs, upperMs]. */
  lowerMs: number | null;
  upperMs: number | null;
  /** The observations contradict each other (e.g. node clocks far from the apiserver's). */
  consistent: boolean;
}

/** completed: a pod that runs to completion (a Job's) exited successfully. */
export type Outcome = "ready" | "completed" | "failed" | "timeout" | "interrupted" | "rejected" | "running";

/** The outcomes a run is glad of: Ready, or (for a Job's pod) completed. */
export function succeeded(outcome: Outcome): boolean {
  return outcome === "ready" || outcome === "completed";
}

export interface Verdict {
  outcome: Outcome;
  /** The phase the pod is stuck in or failed at (phase kind), when not ready. */
  phase: PhaseKind | null;
  container?: string;
  /** One line a person reads first. */
  summary: string;
  /** The cluster's own words: event messages, Status messages, waiting reasons. */
  causes: string[];
  /** For FailedScheduling: node counts per cause. */
  unschedulable?: { nodes: number | null; reasons: { reason: string; nodes: number }[] };
  /** Container exit details when a container stopped. */
  exit?: { container: string; exitCode: number; reason: string; restarts: number; logTail?: string };
  /** Commands worth running next, with names filled in. */
  next: string[];
  /** Threshold violations (--max), when the pod became ready but too slowly. */
  thresholds?: { phase: string; limitMs: number; actualMs: number }[];
}

export interface Timeline {
  schemaVersion: 1;
  pod: {
    name: string;
    namespace: string;
    uid: string | null;
    node: string | null;
    podIP: string | null;
    /** Every IP of the pod (status.podIPs): one per family on a dual-stack cluster, podIP first. */
    podIPs: string[];
    services: string[];
  };
  /** The create request's send time (ISO, client clock): offset 0 of every boundary. */
  submittedAt: string | null;
  clock: ClockEstimate;
  /** Every clock whose stamps were used, the apiserver's first. */
  clocks: ClockSource[];
  /**
   * The one-way latency of the watches, estimated as half the quickest plain request's
   * round trip: arrivals are that much after what they show.
   */
  latency: { oneWayMs: number; roundTripMs: number | null };
  phases: Phase[];
  /** Submit -> Ready, ms; null when the pod never became Ready. */
  readyAfterMs: number | null;
  /** Submit -> the pod completed (phase Succeeded), for pods that run to completion. */
  completedAfterMs: number | null;
  /** Submit -> pod IP ready in every selecting Service's EndpointSlices, ms. */
  endpointsAfterMs: number | null;
  verdict: Verdict;
  warnings: string[];
}
