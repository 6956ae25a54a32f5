/**
 * The scheduler's FailedScheduling message, e.g.
 *   "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node
 *    affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful..."
 * turned into node counts per cause; a reason about the pod itself ("pod has unbound
 * immediate PersistentVolumeClaims") counts for every node. What follows the reasons (since about 1.34 "no new
 * claims to deallocate, preemption: ...") is left out: it explains why the scheduler's
 * post-filters did not help, not why the pod does not fit.
 */
export interface UnschedulableReasons {
  nodes: number | null;
  reasons: { reason: string; nodes: number }[];
}

export function parseFailedScheduling(message: string): UnschedulableReasons | null {
  const m = /(\d+)\/(\d+) nodes are available(?::\s*)?/.exec(message);
  if (!m) return null;
  const total = Number(m[2]);
  // The reasons end at the first ". " outside braces; what follows (post-filter results
  // such as "no new claims to deallocate, preemption: ...") is not about fitting.
  const list = reasonsPart(message.slice(m.index + m[0].length));
  const reasons: UnschedulableReasons["reasons"] = [];
  for (const part of splitTopLevel(list)) {
    const r = /^(\d+)\s+(.+)$/.exec(part.trim());
    if (r) reasons.push({ reason: (r[2] ?? "").trim(), nodes: Number(r[1]) });
    // A reason about the pod itself, found before any node was tried (a PreFilter such as
    // "pod has unbound immediate PersistentVolumeClaims"), has no count: it held for all.
    else if (part.trim() && Number.isFinite(total)) reasons.push({ reason: part.trim(), nodes: total });
  }
  return { nodes: Number.isFinite(total) ? total : null, reasons };
}

function reasonsPart(text: string): string {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "{") depth++;
    else if (ch === "}") depth = Math.max(0, depth - 1);
    else if (ch === "." && depth === 0 && (i + 1 === text.length || /\s/.test(text[i + 1] ?? ""))) return text.slice(0, i);
  }
  return text;
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
