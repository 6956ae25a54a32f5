// Bundles the CLI into dist/ with esbuild: one file to load at start-up (plus lazily
// loaded chunks for the commands) keeps `podtrace --version` close to kubectl's start time,
// and what a run loads before its create request small. `node build.mjs --analyze` prints
// what each output file is made of.
import { rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeMetafile, build } from "esbuild";

/**
 * client-node's generated API client (every Kubernetes type's model and serializer) is
 * reached from its kubeconfig module only through makeApiClient, which podtrace never
 * calls: its modules have no side effects worth keeping, so esbuild may leave out what is
 * not used (about 600 kB that every run would parse).
 */
const generatedClientHasNoSideEffects = {
  name: "client-node-generated-without-side-effects",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.resolving || !/@kubernetes\/client-node\/dist\/gen(\/|$)/.test(`${args.resolveDir}/${args.path}`))
        return undefined;
      const resolved = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: { resolving: true } });
      return { ...resolved, sideEffects: false };
    });
  },
};

/**
 * Node's built-in modules through require(): an ESM import of node:http makes Node build an
 * ESM facade that reads every export, and one of them is a lazy getter that loads Node's
 * own copy of undici (some 15 ms and several MB at start-up).
 */
const builtinsThroughRequire = {
  name: "builtins-through-require",
  setup(b) {
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    b.onResolve({ filter: /^(node:)?[a-z_/0-9]+$/ }, (args) =>
      builtins.has(args.path) && args.kind === "import-statement" ? { path: args.path, namespace: "builtin" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
  },
};

/**
 * client-node's kubeconfig module imports the proxy agents it builds for a cluster with a
 * proxy-url (socks, socks-proxy-agent with ip-address, hpagent): some 10 ms of start-up
 * before the create request, in every run, for kubeconfigs that seldom have one. Each is
 * replaced by a module of getters that loads the real one when an export is first used.
 */
const LOADED_ON_FIRST_USE = new Set(["socks", "socks-proxy-agent", "hpagent"]);
const proxyAgentsOnFirstUse = {
  name: "proxy-agents-on-first-use",
  setup(b) {
    b.onResolve({ filter: /^(socks|socks-proxy-agent|hpagent)$/ }, async (args) => {
      if (args.pluginData?.resolving || !LOADED_ON_FIRST_USE.has(args.path)) return undefined;
      const real = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: { resolving: true } });
      if (real.errors.length > 0) return real;
      // Every export the real module has, so a name client-node starts to use is not undefined.
      const names = Object.keys(await import(real.path)).filter((n) => n !== "default" && n !== "module.exports");
      // A .cjs name: the stub is CommonJS (its getters are what makes it lazy), whatever the real one is.
      return { path: `${real.path}.on-first-use.cjs`, namespace: "on-first-use", pluginData: { real: real.path, names } };
    });
    b.onLoad({ filter: /.*/, namespace: "on-first-use" }, (args) => ({
      contents: [
        `let real;`,
        `const load = () => (real ??= require(${JSON.stringify(args.pluginData.real)}));`,
        `module.exports = {`,
        ...args.pluginData.names.map((n) => `  get ${n}() { return load().${n}; },`),
        `};`,
      ].join("\n"),
      resolveDir: dirname(args.pluginData.real),
      loader: "js",
    }));
  },
};

/** undici's dispatchers without its index (build/undici.cjs says why). */
const undiciWithoutIndex = {
  name: "undici-without-index",
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: fileURLToPath(new URL("build/undici.cjs", import.meta.url)) }));
  },
};

rmSync("dist", { recursive: true, force: true });
const result = await build({
  entryPoints: { podtrace: "src/cli/main.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  sourcemap: "linked",
  legalComments: "none",
  // Without whitespace and with shorter syntax, a run holds 3 MB less of its source in
  // memory; names stay as written, so stack traces (-v) still read.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
  metafile: process.argv.includes("--analyze"),
  plugins: [generatedClientHasNoSideEffects, builtinsThroughRequire, undiciWithoutIndex, proxyAgentsOnFirstUse],
  // Some dependencies are CommonJS and call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __podtraceCreateRequire } from 'node:module'; const require = __podtraceCreateRequire(import.meta.url);",
  },
});
if (result.metafile) process.stdout.write(await analyzeMetafile(result.metafile));
