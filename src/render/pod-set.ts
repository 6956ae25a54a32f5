/**
 * The table for a run of many pods (--replicas): percentiles per phase over the pods, then
 * one line per pod that did not become Ready, with its verdict.
 */
import Table from "cli-table3";
import pc from "picocolors";
import type { PodSetTimeline } from "../core/pod-set.ts";
import { succeeded } from "../core/timeline.ts";
import { verdictLine } from "./table.ts";
import { formatDuration } from "./format.ts";

export function renderPodSetTable(set: PodSetTimeline, options: { color: boolean }): string {
  const c = options.color ? pc : pc.createColors(false);
  const table = new Table({
    head: ["phase", "pods", "p50", "p90", "p99", "max"],
    style: { head: options.color ? ["bold"] : [], border: options.color ? ["grey"] : [], compact: true },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const s of set.summary) {
    table.push([
      s.phase,
      String(s.count),
      formatDuration(s.p50Ms),
      formatDuration(s.p90Ms),
      formatDuration(s.p99Ms),
      formatDuration(s.maxMs),
    ]);
  }
  const notReady = set.pods.filter((t) => !succeeded(t.verdict.outcome) || t.verdict.thresholds?.length);
  const first = set.pods[0];
  const lines = [
    `${set.replicas} pods ${first ? `${first.pod.namespace}/${commonPrefix(set.pods.map((t) => t.pod.name))}*` : ""}`,
    table.toString(),
    (set.ready === set.replicas ? c.green("✓ ") : c.red("✗ ")) + `${set.ready}/${set.replicas} pods ${doneWord(set)}`,
    ...notReady.slice(0, 20).map((t) => `  ${t.pod.name}: ${verdictLine(t, c)}`),
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
