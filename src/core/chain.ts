/**
 * The critical path as one chain of boundaries, and the settling that keeps it true.
 *
 * The critical path from submit to Ready (or completion) and on to endpoints is a list of
 * steps, each ending at a boundary, each starting where the step before it ended: the
 * phases tile the time by construction, with no hole and no overlap, and their durations
 * add up to the total. A step whose end no signal marks (an event the kubelet's rate limit
 * dropped) is unobserved; its time falls into the next observed step.
 *
 * Settling orders the chain: a boundary is no later than its successor's latest possible
 * instant (the kubelet pulls the next image only after the previous container started),
 * then no earlier than its predecessor, and never before the create request was sent.
 * Phases therefore never come out negative, and a status update that arrived late does not
 * push a boundary past the next event.
 *
 * Parallel work (a probe of a container that was not the last to become ready) is kept as
 * lanes beside the chain, with boundaries of their own.
 */
import type { PhaseKind } from "./phase-kinds.ts";
import type { Boundary, Phase, PhaseStatus } from "./timeline.ts";
import { APPROXIMATE_WIDER_THAN_MS, noBetter, type Placement } from "./window.ts";

/** A boundary placed from its signals, then settled against its neighbours in the chain. */
export type Mark = Placement;

/** What a phase is, before its boundaries are known. */
export interface PhaseDraft {
  id: string;
  kind: PhaseKind;
  label: string;
  container?: string;
  containerType?: Phase["containerType"];
  details: Phase["details"];
  placedFromStatus?: boolean;
}

interface Step {
  draft: PhaseDraft;
  end: Mark | null;
}

interface Lane {
  draft: PhaseDraft;
  start: Mark | null;
  end: Mark | null;
  status?: PhaseStatus;
}

/** A mark on the chain that ends no step but orders its neighbours (a Pulling event, say). */
interface Waypoint {
  mark: Mark;
}

export class BoundaryChain {
  private readonly items: (Step | Waypoint)[] = [];
  private readonly lanes: Lane[] = [];
  private readonly submit: Mark;

  constructor(submit: Mark) {
    this.submit = submit;
  }

  /** The next step of the critical path, ending at `end` (null: not observed or not reached). */
  step(draft: PhaseDraft, end: Mark | null): void {
    this.items.push({ draft, end });
  }

  /** A mark that must fall between its neighbours but ends no step of its own. */
  waypoint(mark: Mark | null): void {
    if (mark) this.items.push({ mark });
  }

  /** Parallel work off the critical path. */
  lane(draft: PhaseDraft, start: Mark | null, end: Mark | null, status?: PhaseStatus): void {
    this.lanes.push({ draft, start, end, ...(status ? { status } : {}) });
  }

  /** The end of the last observed step so far (the submit mark when there is none). */
  lastMark(): Mark {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i]!;
      const mark = "draft" in item ? item.end : item.mark;
      if (mark) return mark;
    }
    return this.submit;
  }

  /** Order the chain's marks: see the module comment. */
  settle(): void {
    const seq: Mark[] = [this.submit];
    for (const item of this.items) {
      const mark = "draft" in item ? item.end : item.mark;
      if (mark && !seq.includes(mark)) seq.push(mark);
    }
    // The create request's send is a client measurement: nothing moves it.
    for (let i = seq.length - 2; i >= 1; i--) {
      const cur = seq[i]!;
      const next = seq[i + 1]!;
      if (next.latest < cur.latest) {
        // The successor was seen by then: trust that over a stamp that says otherwise.
        cur.latest = next.latest;
        cur.earliest = Math.min(cur.earliest, cur.latest);
      }
      // A boundary no better known than its successor goes no later than the successor's
      // estimate (the sandbox, known only to precede the first container's first event).
      if (cur.at > Math.min(cur.latest, noBetter(cur.quality, next.quality) ? next.at : Infinity)) {
        cur.at = Math.min(cur.latest, noBetter(cur.quality, next.quality) ? next.at : Infinity);
        cur.sources = [...cur.sources, "before the next boundary"];
      }
    }
    for (let i = 1; i < seq.length; i++) {
      const prev = seq[i - 1]!;
      const cur = seq[i]!;
      // The instant cannot precede the earliest its predecessor could have been.
      cur.earliest = Math.max(cur.earliest, prev.earliest);
      if (cur.at < prev.at) {
        cur.at = prev.at;
        cur.sources = [...cur.sources, "not before the previous boundary"];
      }
      cur.latest = Math.max(cur.latest, cur.at);
    }
    // A lane starts no earlier than the create request and ends no earlier than it starts.
    for (const lane of this.lanes) {
      for (const m of [lane.start, lane.end]) {
        if (m && m.at < this.submit.at) {
          m.at = this.submit.at;
          m.earliest = Math.max(m.earliest, this.submit.earliest);
          m.latest = Math.max(m.latest, m.at);
        }
      }
      if (lane.start && lane.end && lane.end.at < lane.start.at && !seq.includes(lane.end)) lane.end.at = lane.start.at;
    }
  }

  /** The phases, critical steps first in chain order, then the lanes, each with its marks. */
  phases(): { draft: PhaseDraft; status: PhaseStatus; start: Mark | null; end: Mark | null; onCriticalPath: boolean }[] {
    const steps = this.items.filter((i): i is Step => "draft" in i);
    const lastKnown = steps.findLastIndex((s) => s.end !== null);
    const out: ReturnType<BoundaryChain["phases"]> = [];
    let previous: Mark = this.submit;
    let blockedAt = -1;
    steps.forEach((s, i) => {
      let status: PhaseStatus;
      let start: Mark | null = previous;
      if (s.end) status = "done";
      else if (i < lastKnown) {
        // Something after it was observed: it happened, unseen.
        status = "unobserved";
        start = null;
      } else if (blockedAt < 0) {
        status = "in-progress";
        blockedAt = i;
      } else {
        status = "not-reached";
        start = null;
      }
      out.push({ draft: s.draft, status, start, end: s.end, onCriticalPath: true });
      if (s.end) previous = s.end;
    });
    for (const lane of this.lanes) {
      const status = lane.status ?? (lane.end ? "done" : lane.start ? "in-progress" : "not-reached");
      out.push({ draft: lane.draft, status, start: lane.start, end: lane.end, onCriticalPath: false });
    }
    return out;
  }
}

/** A mark as a boundary of the timeline, relative to the create request. */
export function toBoundary(m: Mark | null, submit: number | null): Boundary | null {
  if (!m || submit === null) return null;
  const finite = Number.isFinite(m.earliest) && Number.isFinite(m.latest);
  return {
    at: new Date(m.at).toISOString(),
    offsetMs: round(m.at - submit),
    sources: m.sources,
    uncertaintyMs: finite ? round(Math.max(0, m.latest - m.earliest)) : 0,
    ...(finite ? { windowMs: [round(m.earliest - submit), round(m.latest - submit)] as [number, number] } : {}),
    ...(m.inconsistent ? { inconsistent: true } : {}),
    ...(m.approximate && m.latest - m.earliest > APPROXIMATE_WIDER_THAN_MS ? { approximate: true } : {}),
  };
}

export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
