/**
 * The scheduler's FailedScheduling message, e.g.
 *   "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node
 *    affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful..."
 * turned into node counts per cause. The preemption part is left out: it explains why
 * preemption did not help, not why the pod does not fit.
 */
export interface UnschedulableReasons {
  nodes: number | null;
  reasons: { reason: string; nodes: number }[];
}

export function parseFailedScheduling(message: string): UnschedulableReasons | null {
  const m = /(\d+)\/(\d+) nodes are available(?::\s*(.*?))?(?:\.\s*preemption:.*)?$/s.exec(message);
  if (!m) return null;
  const total = Number(m[2]);
  const list = (m[3] ?? "").replace(/\.\s*$/, "");
  const reasons: UnschedulableReasons["reasons"] = [];
  for (const part of splitTopLevel(list)) {
    const r = /^(\d+)\s+(.+)$/.exec(part.trim());
    if (r) reasons.push({ reason: (r[2] ?? "").trim(), nodes: Number(r[1]) });
  }
  return { nodes: Number.isFinite(total) ? total : null, reasons };
}

/** Split on ", " outside braces: taints print as {key: value}. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "{") depth++;
    if (ch === "}") depth = Math.max(0, depth - 1);
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
      continue;
    }
    current += ch;
  }
  if (current.trim()) parts.push(current);
  return parts;
}
