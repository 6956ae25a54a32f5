/** Small formatting helpers shared by the renderers. */

/** "0 ms", "412 ms", "3.25 s", "1m 02.5s". */
export function formatDuration(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m ${((ms % 60_000) / 1000).toFixed(1).padStart(4, "0")}s`;
}

/** "+1.234s": offset from submit. */
export function formatOffset(ms: number | null): string {
  if (ms === null) return "-";
  return `+${(ms / 1000).toFixed(3)}s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = bytes;
  let unit = "B";
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return `${v.toFixed(1)} ${unit}`;
}
