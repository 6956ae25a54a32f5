// Bundles the CLI into dist/ with esbuild: one file to load at start-up (plus lazily
// loaded chunks for the commands) keeps `podtrace --version` close to kubectl's start time.
import { build } from "esbuild";

/**
 * @kubernetes/client-node's generated API clients and models (tens of MiB of source)
 * have no side effects, but the package does not say so, so a bundler keeps them all.
 * podtrace uses only its kubeconfig and authentication: saying so lets esbuild drop the
 * rest, which keeps start-up fast and memory small.
 */
const clientNodeGeneratedCodeIsPure = {
  name: "client-node-generated-code-is-pure",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === "resolving" || !/@kubernetes[\\/]client-node[\\/]/.test(args.importer)) return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: "resolving",
      });
      if (resolved.errors.length || !/client-node[\\/]dist[\\/]gen[\\/]/.test(resolved.path)) return undefined;
      return { ...resolved, sideEffects: false };
    });
  },
};

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
  plugins: [clientNodeGeneratedCodeIsPure],
  // Some dependencies are CommonJS and call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __podtraceCreateRequire } from 'node:module'; const require = __podtraceCreateRequire(import.meta.url);",
  },
});
