/**
 * The human timeline: one row per phase and container step, with the offset from submit,
 * the duration, a waterfall bar and the details that explain it, then the verdict.
 */
import Table from "cli-table3";
import pc from "picocolors";
import { succeeded, type Phase, type Timeline } from "../core/timeline.ts";
import { formatBytes, formatDuration, formatOffset } from "./format.ts";

export interface TableOptions {
  color: boolean;
  /** Width of the waterfall column in characters. */
  barWidth?: number;
  /** Whether the traced objects were kept (changes the advice). */
  kept?: boolean;
}

export function renderTable(t: Timeline, options: TableOptions): string {
  const c = options.color ? pc : pc.createColors(false);
  const barWidth = options.barWidth ?? 30;
  // After a rejection nothing else happened: show only admission.
  const rows = t.phases.filter((p) => p.status !== "not-applicable" && !(t.verdict.outcome === "rejected" && p.status === "not-reached"));
  const span = Math.max(1, ...rows.map((p) => p.end?.offsetMs ?? p.start?.offsetMs ?? 0));
  const table = new Table({
    head: ["phase", "start", "duration", "waterfall", "details"],
    style: { head: options.color ? ["bold"] : [], border: options.color ? ["grey"] : [], compact: true },
    // No rules between rows: a timeline reads top to bottom.
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const p of rows) {
    table.push([
      statusMark(p, c) + " " + p.label,
      formatOffset(p.start?.offsetMs ?? null),
      // ≈: a boundary with no tight signal, placed in the middle of its window.
      (p.start?.approximate || p.end?.approximate ? "≈" : "") + formatDuration(p.durationMs),
      bar(p, span, barWidth, c),
      details(p),
    ]);
  }
  const lines = [
    `pod ${t.pod.namespace}/${t.pod.name}${t.pod.node ? ` on ${t.pod.node}` : ""}${t.pod.podIP ? `, IP ${t.pod.podIP}` : ""}`,
    table.toString(),
    verdictLine(t, c),
    ...t.verdict.causes.slice(0, 5).map((m) => `  cluster says: ${m}`),
    ...(t.verdict.exit?.logTail
      ? [
          "  last log lines:",
          ...t.verdict.exit.logTail
            .trimEnd()
            .split("\n")
            .slice(-10)
            .map((l) => `    ${l}`),
        ]
      : []),
    ...(t.verdict.thresholds ?? []).map(
      (v) => `  over threshold: ${v.phase} took ${formatDuration(v.actualMs)} > ${formatDuration(v.limitMs)}`,
    ),
    ...nextLines(t, options.kept ?? false),
    clockLine(t),
    ...t.warnings.map((w) => c.yellow(`warning: ${w}`)),
  ];
  return lines.join("\n") + "\n";
}

export function verdictLine(t: Timeline, c = pc.createColors(false)): string {
  const v = t.verdict;
  if (succeeded(v.outcome) && !v.thresholds?.length) return c.green(`✓ ${v.summary}`);
  return c.red(`✗ ${v.summary}`);
}

function nextLines(t: Timeline, kept: boolean): string[] {
  if (!t.verdict.next.length) return [];
  const lines = ["next:"];
  if (!kept && t.verdict.outcome !== "rejected")
    lines.push("  podtrace run --keep ...   (the pod was deleted; --keep leaves it for these)");
  for (const n of t.verdict.next) lines.push(`  ${n}`);
  return lines;
}

function clockLine(t: Timeline): string {
  const k = t.clock;
  const bounds = k.lowerMs !== null || k.upperMs !== null ? ` (observations allow ${fmt(k.lowerMs)} .. ${fmt(k.upperMs)} ms)` : "";
  return `clock offset apiserver-client: ${k.serverMinusClientMs.toFixed(0)} ms${bounds}${k.consistent ? "" : ", inconsistent"}`;
}

function fmt(ms: number | null): string {
  return ms === null ? "?" : ms.toFixed(0);
}

function statusMark(p: Phase, c: ReturnType<typeof pc.createColors>): string {
  switch (p.status) {
    case "done":
      return c.green("✓");
    case "failed":
      return c.red("✗");
    case "in-progress":
      return c.yellow("…");
    default:
      return c.dim("·");
  }
}

function bar(p: Phase, span: number, width: number, c: ReturnType<typeof pc.createColors>): string {
  const start = p.start?.offsetMs;
  if (start === undefined) return "";
  const from = Math.min(width - 1, Math.floor((start / span) * width));
  const end = p.end?.offsetMs ?? start;
  const to = Math.min(width, Math.max(from + 1, Math.round((end / span) * width)));
  const body = "█".repeat(to - from);
  const colored = p.status === "failed" ? c.red(body) : p.status === "in-progress" ? c.yellow(body) : c.cyan(body);
  return " ".repeat(from) + colored;
}

function details(p: Phase): string {
  const d = p.details;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (k === "imageSizeBytes" && typeof v === "number") parts.push(`size ${formatBytes(v)}`);
    else if (k === "kubeletPullMs" && typeof v === "number") parts.push(`kubelet: pulled in ${formatDuration(v)}`);
    else if (k === "kubeletPullWithWaitingMs" && typeof v === "number") parts.push(`${formatDuration(v)} incl. waiting`);
    else if (k === "alreadyPresent") parts.push("already present");
    else if (k === "image" && p.kind !== "image-pull") continue;
    else parts.push(`${k} ${String(v)}`);
  }
  return parts.join(", ");
}
