// Bundles the CLI into dist/ with esbuild: one file to load at start-up (plus lazily
// loaded chunks for the commands) keeps `podtrace --version` close to kubectl's start time.
import { build } from "esbuild";

await build({
  entryPoints: { podtrace: "src/cli/main.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  // Some dependencies are CommonJS and call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __podtraceCreateRequire } from 'node:module'; const require = __podtraceCreateRequire(import.meta.url);",
  },
});
