/**
 * Fitting a table into a width: how wide each column may be, and how a cell's text wraps or
 * is abbreviated inside its column, measured in terminal cells (display width) exactly as
 * cli-table3 measures them, so the frame never breaks. Nothing here knows what the columns
 * hold: the renderers say which columns may shrink, wrap or grow.
 */
import stringWidth from "string-width";

/** Terminal cells a string takes (ANSI colour codes take none; wide characters take two). */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

export interface ColumnSpec {
  /** The widest content of the column, in cells. */
  natural: number;
  /** Never narrower than this (its content wraps or is abbreviated below natural). */
  min: number;
  /**
   * A width the column keeps until every other column is down to its own: the table first
   * shrinks every column to this, and only then below it, to min. Defaults to min.
   */
  comfortable?: number;
  /** Never wider than this, even with room to spare. */
  max?: number;
  /** The order in which columns give up width when the table is too wide: lower first. */
  shrinkOrder?: number;
  /** Takes spare width up to `max` when the table is narrower than the space (a waterfall). */
  grow?: boolean;
}

/** The whole table's width for these content widths, frame included. */
export function tableWidth(widths: readonly number[]): number {
  return sum(widths) + frameWidth(widths.length);
}

/** cli-table3's frame: one cell of padding either side of every column, a border between and around. */
export function frameWidth(columns: number): number {
  return columns * 2 + columns + 1;
}

/**
 * The content width of each column so the whole table (frame included) fits `available`
 * cells: columns keep their natural width when there is room, give up width in shrinkOrder
 * down to their minimum when there is not, and growing columns take what is left. When
 * even the minimums do not fit, the minimums are returned: the narrowest table possible.
 * `available` Infinity means no limit: every column at its natural width.
 */
export function fitColumns(specs: readonly ColumnSpec[], available: number): number[] {
  const widths = specs.map((s) => Math.max(s.min, Math.min(s.natural, s.max ?? Infinity)));
  if (!Number.isFinite(available)) return widths;
  const room = available - frameWidth(specs.length);
  let excess = sum(widths) - room;
  const byShrinkOrder = specs.map((s, i) => ({ s, i })).sort((a, b) => (a.s.shrinkOrder ?? 0) - (b.s.shrinkOrder ?? 0));
  // First down to the comfortable widths, then down to the minimums.
  for (const floor of [(s: ColumnSpec) => Math.max(s.min, s.comfortable ?? s.min), (s: ColumnSpec) => s.min]) {
    for (const { s, i } of byShrinkOrder) {
      if (excess <= 0) break;
      const give = Math.max(0, Math.min(excess, widths[i]! - floor(s)));
      widths[i]! -= give;
      excess -= give;
    }
  }
  if (excess < 0) {
    let spare = -excess;
    for (const [i, s] of specs.entries()) {
      if (!s.grow || spare <= 0) continue;
      const take = Math.min(spare, (s.max ?? Infinity) - widths[i]!);
      if (take > 0) {
        widths[i]! += take;
        spare -= take;
      }
    }
  }
  return widths;
}

export interface WrapOptions {
  /** At most this many lines; the last one ends in "…" when text was left out. */
  maxLines?: number;
  /** Break after these strings first (e.g. ", " between details), then at spaces. */
  breakAfter?: readonly string[];
}

/**
 * Wrap plain text (no colour codes) into lines of at most `width` cells: at the preferred
 * break points, else at spaces, else inside a word that is longer than the line.
 */
export function wrapText(text: string, width: number, options: WrapOptions = {}): string[] {
  const w = Math.max(1, width);
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let rest = paragraph;
    if (rest === "") lines.push("");
    while (rest !== "") {
      if (displayWidth(rest) <= w) {
        lines.push(rest);
        break;
      }
      const cut = breakPoint(rest, w, options.breakAfter ?? []);
      lines.push(rest.slice(0, cut).trimEnd());
      rest = rest.slice(cut).trimStart();
    }
  }
  const max = options.maxLines ?? Infinity;
  if (lines.length <= max) return lines;
  // Abbreviated: the last line kept ends in "…", cut at a word where one is near.
  return [...lines.slice(0, max - 1), truncate(lines.slice(max - 1).join(" "), w, true)];
}

/** Shorten to at most `width` cells, ending in "…" when anything was cut (at a space if `atWord` and one is near the end). */
export function truncate(text: string, width: number, atWord = false): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return "";
  let out = "";
  for (const ch of text) {
    if (displayWidth(out + ch) > width - 1) break;
    out += ch;
  }
  const space = out.lastIndexOf(" ");
  if (atWord && space >= out.length / 2 && text[out.length] !== " ") out = out.slice(0, space);
  return `${out.trimEnd().replace(/,$/, "")}…`;
}

/**
 * Wrap a line of prose to `width` with a hanging indent for its continuation lines (a
 * verdict's causes), so no line is wider than the terminal.
 */
export function wrapProse(line: string, width: number, indent = "    "): string[] {
  if (!Number.isFinite(width) || displayWidth(line) <= width) return [line];
  const lead = /^\s*/.exec(line)![0];
  const first = wrapText(line.slice(lead.length), width - lead.length);
  const head = `${lead}${first[0] ?? ""}`;
  const tail = first.slice(1).join(" ");
  const hang = lead + indent;
  return [head, ...(tail ? wrapText(tail, width - hang.length).map((l) => hang + l) : [])];
}

/**
 * Wrap a shell command to `width` with backslash continuations, so it still pastes into a
 * shell as one command. Words are never split.
 */
export function wrapCommand(line: string, width: number, indent = "    "): string[] {
  if (!Number.isFinite(width) || displayWidth(line) <= width) return [line];
  const lead = /^\s*/.exec(line)![0];
  const [first, ...words] = line.slice(lead.length).split(" ");
  const lines: string[] = [];
  let current = lead + first!;
  for (const word of words) {
    // Room for " word" and the " \\" that ends a continued line (every line has a word already).
    if (displayWidth(`${current} ${word} \\`) <= width) current += ` ${word}`;
    else {
      lines.push(`${current} \\`);
      current = `${lead}${indent}${word}`;
    }
  }
  lines.push(current);
  return lines;
}

/** Where to cut `text` so its head fits `width` cells: the last preferred break, else the last space, else at the width. */
function breakPoint(text: string, width: number, breakAfter: readonly string[]): number {
  // The longest prefix that fits, in UTF-16 units.
  let fits = 0;
  let cells = 0;
  for (const ch of text) {
    const cw = displayWidth(ch);
    if (cells + cw > width) break;
    cells += cw;
    fits += ch.length;
  }
  const head = text.slice(0, fits + 1);
  // A preferred break (between details) unless it would leave the line less than half full.
  for (const sep of breakAfter) {
    const at = head.lastIndexOf(sep);
    if (at > 0 && at + sep.trimEnd().length <= fits && at + sep.length >= width / 2) return at + sep.length;
  }
  const afterSpace = head.lastIndexOf(" ") + 1;
  // Inside a long word (an image reference, a node name): after a / - or : in it.
  const afterMark = Math.max(...["/", "-", ":"].map((c) => text.slice(0, fits).lastIndexOf(c))) + 1;
  if (afterSpace >= width / 2) return afterSpace;
  // A space early in the line would leave it mostly empty: break inside the next word.
  if (afterMark > afterSpace && afterMark >= width / 2) return afterMark;
  if (afterSpace > 0) return afterSpace;
  return Math.max(1, fits);
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
