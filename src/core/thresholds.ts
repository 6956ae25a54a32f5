/**
 * --max thresholds: a slow but successful start becomes a failure CI can gate on.
 * A threshold names a phase kind (every container's phase of that kind is checked), a
 * phase id such as image-pull:web, or "total" (submit -> Ready).
 */
import { succeeded, type Timeline } from "./timeline.ts";
import { parseGoDuration } from "./go-duration.ts";
import { isPhaseKind, PHASE_KIND_NAMES } from "./phase-kinds.ts";

export interface Threshold {
  phase: string;
  limitMs: number;
}

/** Parse "scheduling=2s"; returns an error message for bad input. */
export function parseThreshold(text: string): Threshold | string {
  const m = /^([a-z-]+(?::[A-Za-z0-9._-]+)?)=(.+)$/.exec(text.trim());
  if (!m) return `--max ${text}: expected <phase>=<duration>, e.g. scheduling=2s or total=30s`;
  const phase = m[1] ?? "";
  const kind = phase.split(":")[0] ?? "";
  if (phase !== "total" && !isPhaseKind(kind)) {
    return `--max ${text}: unknown phase "${phase}"; phases are total, ${PHASE_KIND_NAMES.join(", ")}`;
  }
  const limitMs = parseDurationFlag(m[2] ?? "");
  if (limitMs === null) return `--max ${text}: "${m[2]}" is not a duration (e.g. 500ms, 2s, 1m30s)`;
  return { phase, limitMs };
}

/** A duration flag: Go-style ("1m30s", "500ms") or a plain number of seconds. */
export function parseDurationFlag(text: string): number | null {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  return parseGoDuration(text);
}

/** Add threshold violations to the verdict of a ready pod; returns the timeline. */
export function applyThresholds(t: Timeline, thresholds: readonly Threshold[]): Timeline {
  if (thresholds.length === 0) return t;
  const violations: NonNullable<Timeline["verdict"]["thresholds"]> = [];
  for (const th of thresholds) {
    if (th.phase === "total") {
      // Submit -> Ready, or -> completed for a pod that runs to completion.
      const total = t.readyAfterMs ?? t.completedAfterMs;
      if (total !== null && total > th.limitMs) violations.push({ phase: "total", limitMs: th.limitMs, actualMs: total });
      continue;
    }
    for (const p of t.phases) {
      if ((p.id === th.phase || p.kind === th.phase) && p.durationMs !== null && p.durationMs > th.limitMs) {
        violations.push({ phase: p.id, limitMs: th.limitMs, actualMs: p.durationMs });
      }
    }
  }
  if (violations.length === 0) return t;
  const verdict = { ...t.verdict, thresholds: violations };
  if (succeeded(verdict.outcome)) {
    verdict.summary = `${t.verdict.summary}, but over threshold: ${violations.map((v) => `${v.phase} ${Math.round(v.actualMs)}ms > ${Math.round(v.limitMs)}ms`).join("; ")}`;
  }
  return { ...t, verdict };
}
