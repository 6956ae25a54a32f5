/**
 * Parse a Go time.Duration string ("1.5s", "823.4ms", "1m2.5s", "350µs") to milliseconds:
 * the kubelet writes pull times this way in its Pulled events.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/gy;

export function parseGoDuration(text: string): number | null {
  if (text === "0") return 0;
  PART.lastIndex = 0;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = PART.exec(text)) !== null) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? NaN);
    matched = PART.lastIndex;
  }
  return matched === text.length && matched > 0 && Number.isFinite(total) ? total : null;
}
