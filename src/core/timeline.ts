/**
 * The timeline: what `correlate` makes of an observed run and what every renderer reads.
 * Its JSON form is the documented `-o json` schema (schema/timeline.schema.json), so
 * changes here are changes to a public contract: add fields, never rename or remove.
 */

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
  /** Signals contradicted each other; the boundary was placed at the upper bound. */
  inconsistent?: boolean;
  /** No signal bounds it tightly: placed in the middle of its window (uncertaintyMs wide). */
  approximate?: boolean;
}

export type PhaseKind =
  | "admission"
  | "controller"
  | "scheduling"
  | "sandbox"
  | "image-pull"
  | "container-create"
  | "container-start"
  | "init-run"
  | "container-run"
  | "sidecar-startup"
  | "readiness"
  | "endpoints";

export type PhaseStatus = "done" | "in-progress" | "failed" | "not-reached" | "not-applicable";

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
  start: Boundary | null;
  end: Boundary | null;
  durationMs: number | null;
  details: Record<string, string | number | boolean>;
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
    services: string[];
  };
  /** The create request's send time (ISO, client clock): offset 0 of every boundary. */
  submittedAt: string | null;
  clock: ClockEstimate;
  phases: Phase[];
  /** Submit -> Ready, ms; null when the pod never became Ready. */
  readyAfterMs: number | null;
  /** Submit -> pod IP ready in every selecting Service's EndpointSlices, ms. */
  endpointsAfterMs: number | null;
  verdict: Verdict;
  warnings: string[];
}
