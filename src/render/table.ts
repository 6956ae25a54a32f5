/**
 * The human timeline: one row per phase and container step, with the offset from submit,
 * the duration, a waterfall bar and the details that explain it, then the verdict.
 */
import Table from "cli-table3";
import pc from "picocolors";
import { succeeded, type Phase, type Timeline } from "../core/timeline.ts";
import { displayWidth, fitColumns, tableWidth, wrapCommand, wrapProse, wrapText, type ColumnSpec } from "./columns.ts";
import { formatBytes, formatDuration, formatOffset } from "./format.ts";

export interface TableOptions {
  color: boolean;
  /** Width of the waterfall column in characters (its natural width; it shrinks or grows to fit). */
  barWidth?: number;
  /** Whether the traced objects were kept (changes the advice). */
  kept?: boolean;
  /**
   * The width to fit, in terminal cells: the terminal's columns, a fixed width in pipes,
   * Infinity for -o wide (every detail on one line).
   */
  width?: number;
}

export function renderTable(t: Timeline, options: TableOptions): string {
  const c = options.color ? pc : pc.createColors(false);
  const width = options.width ?? Infinity;
  const rows = tableRows(t);
  const span = Math.max(1, ...rows.map((p) => p.end?.offsetMs ?? p.start?.offsetMs ?? 0));
  const head = ["phase", "start", "duration", "waterfall", "details"];
  const cells = rows.map((p) => ({
    // The status mark and a space lead the label; wrapped lines are indented past it. A
    // lane runs beside the critical path: set apart with ∥, its bar in a lighter shade.
    label: p.onCriticalPath ? p.label : `∥ ${p.label}`,
    start: formatOffset(p.start?.offsetMs ?? null),
    duration: duration(p),
    details: details(p),
  }));
  const widest = (values: string[]) => Math.max(0, ...values.map((v) => displayWidth(v)));
  const labelWidth = Math.max(head[0]!.length, 2 + widest(cells.map((r) => r.label)));
  const detailsWidth = Math.max(head[4]!.length, widest(cells.map((r) => r.details)));
  const barWidth = options.barWidth ?? 30;
  // As wide as the bars reach (a rejected pod's one bar is short), never narrower than its head.
  const barsReach = Math.max(head[3]!.length, ...rows.map((p) => displayWidth(bar(p, span, barWidth, pc.createColors(false)))));
  // Who gives up width first: the waterfall, then the details (which wrap), then the labels.
  const specs: ColumnSpec[] = [
    { natural: labelWidth, min: Math.min(labelWidth, 12), comfortable: Math.min(labelWidth, 24), shrinkOrder: 2 },
    { natural: Math.max(head[1]!.length, widest(cells.map((r) => r.start))), min: 0, shrinkOrder: 9 },
    { natural: Math.max(head[2]!.length, widest(cells.map((r) => r.duration))), min: 0, shrinkOrder: 9 },
    // Grows into spare width only when its bars span it (not a rejection's single mark).
    {
      natural: barsReach,
      min: head[3]!.length,
      comfortable: 16,
      max: Number.isFinite(width) && barsReach >= barWidth ? 60 : barsReach,
      shrinkOrder: 0,
      grow: true,
    },
    {
      natural: detailsWidth,
      min: Math.min(detailsWidth, Math.max(head[4]!.length, 12)),
      comfortable: Math.min(detailsWidth, 24),
      shrinkOrder: 1,
    },
  ];
  // Fixed columns never shrink below their content.
  specs[1]!.min = specs[1]!.natural;
  specs[2]!.min = specs[2]!.natural;
  let widths = fitColumns(specs, width);
  // Too narrow for every column even at its minimum: leave the waterfall out.
  const waterfall = tableWidth(widths) <= width;
  if (!waterfall)
    widths = fitColumns(
      specs.filter((_, i) => i !== 3),
      width,
    );
  const at = (i: number) => widths[waterfall || i < 3 ? i : i - 1]!;
  const table = new Table({
    head: waterfall ? head : head.filter((_, i) => i !== 3),
    colWidths: widths.map((w) => w + 2),
    style: { head: options.color ? ["bold"] : [], border: options.color ? ["grey"] : [], compact: true },
    // No rules between rows: a timeline reads top to bottom.
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const [i, p] of rows.entries()) {
    const r = cells[i]!;
    const shade = (l: string) => (p.onCriticalPath ? l : c.dim(l));
    const label = wrapText(r.label, at(0) - 2).map(shade);
    table.push([
      [`${statusMark(p, c)} ${label[0] ?? ""}`, ...label.slice(1).map((l) => `  ${l}`)].join("\n"),
      r.start,
      r.duration,
      ...(waterfall ? [bar(p, span, at(3), c)] : []),
      wrapText(r.details, at(4), { breakAfter: [", "], maxLines: Number.isFinite(width) ? 3 : Infinity }).join("\n"),
    ]);
  }
  const prose = (line: string) => wrapProse(line, width);
  const lines = [
    ...prose(`pod ${t.pod.namespace}/${t.pod.name}${t.pod.node ? ` on ${t.pod.node}` : ""}${podAddresses(t.pod)}`),
    table.toString(),
    ...wrapProse(verdictText(t), width).map((l) => (verdictOk(t) ? c.green(l) : c.red(l))),
    ...t.verdict.causes.slice(0, 5).flatMap((m) => prose(`  cluster says: ${m}`)),
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
    ...(t.verdict.thresholds ?? []).flatMap((v) =>
      prose(`  over threshold: ${v.phase} took ${formatDuration(v.actualMs)} > ${formatDuration(v.limitMs)}`),
    ),
    // Commands wrap with backslashes: they still paste into a shell as one command.
    ...nextLines(t, options.kept ?? false).flatMap((l) => wrapCommand(l, width)),
    ...clockLines(t).flatMap(prose),
    ...t.warnings.flatMap((w) => prose(`warning: ${w}`).map((l) => c.yellow(l))),
  ];
  return lines.join("\n") + "\n";
}

/**
 * The rows in time order: the critical path as it ran, each lane after the last step that
 * began before it. After a rejection nothing else happened: only admission.
 */
function tableRows(t: Timeline): Phase[] {
  const shown = t.phases.filter((p) => p.status !== "not-applicable" && !(t.verdict.outcome === "rejected" && p.status === "not-reached"));
  const rows = shown.filter((p) => p.onCriticalPath);
  for (const lane of shown.filter((p) => !p.onCriticalPath)) {
    const start = lane.start?.offsetMs ?? Infinity;
    let at = rows.length;
    for (let i = rows.length - 1; i >= 0; i--) {
      const s = rows[i]!.start?.offsetMs;
      if (s !== undefined && s <= start) break;
      at = i;
    }
    rows.splice(at, 0, lane);
  }
  return rows;
}

/**
 * The duration as far as it is known: "≈2.05 s" when a boundary sits in the middle of a
 * wide window, "≤38 ms" when settling pushed the end onto the start (the true length lies
 * between 0 and what the windows allow), "-" when unknown.
 */
function duration(p: Phase): string {
  if (p.status === "unobserved") return "?";
  if (p.start?.approximate || p.end?.approximate) return `≈${formatDuration(p.durationMs)}`;
  if (p.durationMs === 0 && p.start?.windowMs && p.end?.windowMs && p.end.sources.includes("not before the previous boundary")) {
    const most = p.end.windowMs[1] - p.start.windowMs[0];
    if (most > 1) return `≤${formatDuration(most)}`;
  }
  return formatDuration(p.durationMs);
}

export function verdictLine(t: Timeline, c = pc.createColors(false)): string {
  return verdictOk(t) ? c.green(verdictText(t)) : c.red(verdictText(t));
}

function verdictOk(t: Timeline): boolean {
  return succeeded(t.verdict.outcome) && !t.verdict.thresholds?.length;
}

function verdictText(t: Timeline): string {
  return `${verdictOk(t) ? "✓" : "✗"} ${t.verdict.summary}`;
}

function nextLines(t: Timeline, kept: boolean): string[] {
  if (!t.verdict.next.length) return [];
  const lines = ["next:"];
  if (!kept && t.verdict.outcome !== "rejected")
    lines.push("  podtrace run --keep ...   (the pod was deleted; --keep leaves it for these)");
  for (const n of t.verdict.next) lines.push(`  ${n}`);
  return lines;
}

/** Each clock's estimated offset from the client's, with what the observations allow; the watch latency when it was measured. */
function clockLines(t: Timeline): string[] {
  const clocks = t.clocks.length
    ? t.clocks
    : [
        {
          source: "apiserver",
          offsetMs: t.clock.serverMinusClientMs,
          lowerMs: t.clock.lowerMs,
          upperMs: t.clock.upperMs,
          consistent: t.clock.consistent,
        },
      ];
  const parts = clocks.map(
    (k) =>
      `${k.source} ${k.offsetMs.toFixed(0)} ms${k.lowerMs !== null || k.upperMs !== null ? ` (${fmt(k.lowerMs)}..${fmt(k.upperMs)})` : ""}${k.consistent ? "" : " inconsistent"}`,
  );
  const lines = [`clock offsets from this machine's: ${parts.join(", ")}`];
  if (t.latency.roundTripMs !== null) {
    lines.push(
      `apiserver round trip ${formatDuration(t.latency.roundTripMs)}: arrivals placed ${formatDuration(t.latency.oneWayMs)} earlier`,
    );
  }
  return lines;
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
    case "unobserved":
      return c.dim("?");
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
  const body = (p.onCriticalPath ? "█" : "░").repeat(to - from);
  const colored = p.status === "failed" ? c.red(body) : p.status === "in-progress" ? c.yellow(body) : c.cyan(body);
  return " ".repeat(from) + colored;
}

function details(p: Phase): string {
  const d = p.details;
  const parts: string[] = [];
  if (p.status === "unobserved") parts.push("not observed (its events are missing)");
  if (p.placedFromStatus) parts.push("from the pod status");
  for (const [k, v] of Object.entries(d)) {
    if (k === "imageSizeBytes" && typeof v === "number") parts.push(`size ${formatBytes(v)}`);
    else if (k === "kubeletPullMs" && typeof v === "number") parts.push(`kubelet: pulled in ${formatDuration(v)}`);
    else if (k === "kubeletPullWithWaitingMs" && typeof v === "number") parts.push(`${formatDuration(v)} incl. waiting`);
    else if (k === "alreadyPresent") parts.push("already present");
    else if (k === "publishNotReadyAddresses") parts.push("publishes not-ready addresses");
    else if (k === "hostNetwork") parts.push("host network");
    else if (k === "after") parts.push(String(v));
    else if (k === "image" && p.kind !== "image-pull") continue;
    else parts.push(`${k} ${String(v)}`);
  }
  return parts.join(", ");
}

/** ", IP a" or, on a dual-stack cluster, ", IPs a, b" (podIP first). */
function podAddresses(pod: Timeline["pod"]): string {
  const ips = pod.podIPs;
  return ips.length > 1 ? `, IPs ${ips.join(", ")}` : ips.length ? `, IP ${ips[0]!}` : "";
}
