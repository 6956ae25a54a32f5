/**
 * The table for a run of many pods (--replicas): percentiles per phase over the pods, then
 * one line per pod that did not become Ready, with its verdict.
 */
import Table from "cli-table3";
import pc from "picocolors";
import type { PodSetTimeline } from "../core/pod-set.ts";
import { succeeded } from "../core/timeline.ts";
import { verdictLine } from "./table.ts";
import { displayWidth, fitColumns, wrapProse, wrapText } from "./columns.ts";
import { formatDuration } from "./format.ts";

/** `width`: the width to fit in terminal cells (Infinity: no limit). */
export function renderPodSetTable(set: PodSetTimeline, options: { color: boolean; width?: number }): string {
  const c = options.color ? pc : pc.createColors(false);
  const width = options.width ?? Infinity;
  const head = ["phase", "pods", "p50", "p90", "p99", "max"];
  const rows = set.summary.map((s) => [
    s.phase,
    String(s.count),
    formatDuration(s.p50Ms),
    formatDuration(s.p90Ms),
    formatDuration(s.p99Ms),
    formatDuration(s.maxMs),
  ]);
  // Only the phase names wrap; the figures keep their width.
  const widths = fitColumns(
    head.map((h, i) => {
      const natural = Math.max(h.length, ...rows.map((r) => displayWidth(r[i]!)));
      return { natural, min: i === 0 ? Math.min(natural, 12) : natural };
    }),
    width,
  );
  const table = new Table({
    head,
    colWidths: widths.map((w) => w + 2),
    style: { head: options.color ? ["bold"] : [], border: options.color ? ["grey"] : [], compact: true },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const r of rows) table.push([wrapText(r[0]!, widths[0]!).join("\n"), ...r.slice(1)]);
  const notReady = set.pods.filter((t) => !succeeded(t.verdict.outcome) || t.verdict.thresholds?.length);
  const first = set.pods[0];
  const lines = [
    `${set.replicas} pods ${first ? `${first.pod.namespace}/${commonPrefix(set.pods.map((t) => t.pod.name))}*` : ""}`,
    table.toString(),
    (set.ready === set.replicas ? c.green("✓ ") : c.red("✗ ")) + `${set.ready}/${set.replicas} pods ${doneWord(set)}`,
    ...notReady.slice(0, 20).flatMap((t) => wrapProse(`  ${t.pod.name}: ${verdictLine(t)}`, width).map((l) => c.red(l))),
    ...(notReady.length > 20 ? [`  ... and ${notReady.length - 20} more (see -o json)`] : []),
  ];
  return lines.join("\n") + "\n";
}

/** Ready, or completed for pods that run to completion (a Job's). */
function doneWord(set: PodSetTimeline): string {
  const completed = set.pods.filter((t) => t.verdict.outcome === "completed").length;
  return completed === 0 ? "Ready" : completed === set.ready ? "completed" : "Ready or completed";
}

/** The pods' shared name prefix, up to its last dash: "web-b2kkh-" for web-b2kkh-0, web-b2kkh-1. */
function commonPrefix(names: string[]): string {
  let prefix = names[0] ?? "";
  for (const n of names) while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix.slice(0, prefix.lastIndexOf("-") + 1);
}
