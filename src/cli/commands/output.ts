/** Choosing the renderer for -o, and --quiet's single verdict line. */
import type { Observation } from "../../core/observation.ts";
import type { Timeline } from "../../core/timeline.ts";
import { renderJson } from "../../render/json.ts";
import { renderJunit } from "../../render/junit.ts";
import { renderTable, verdictLine } from "../../render/table.ts";
import pc from "picocolors";

export type OutputFormat = "table" | "json" | "junit";

export interface RenderOptions {
  color: boolean;
  kept: boolean;
  quiet: boolean;
  observations?: readonly Observation[] | undefined;
}

export function render(t: Timeline, format: OutputFormat, options: RenderOptions): string {
  switch (format) {
    case "json":
      return renderJson(t, options.observations);
    case "junit":
      return renderJunit(t);
    case "table":
      return options.quiet ? `${verdictLine(t, pc.createColors(options.color))}\n` : renderTable(t, { color: options.color, kept: options.kept });
  }
}
