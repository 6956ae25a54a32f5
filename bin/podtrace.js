#!/usr/bin/env node
// The podtrace executable: checks the Node version, wires signals to cleanup, runs the
// bundled CLI and is the only place that exits the process. It runs with Node's default
// V8 settings: with a 1 MiB young generation (--max-semi-space-size=1, which kept 100 pods
// near 125 MB) one run in a few hundred hung at exit, V8 worker threads waiting for a
// garbage collection the exiting main thread never ran.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `ERROR: podtrace needs Node.js 22.19 or newer; this is ${process.version}\n  install Node 24 LTS, or run bash hack/install-deps.sh and put its Node first on PATH\n`,
  );
  process.exit(2);
}

// Signals first, before anything is loaded: an interrupt at any moment ends the run
// through its cleanup, never by killing the process halfway.
const interrupt = new AbortController();
let signals = 0;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`podtrace: ${signal} again: exiting now; objects may be left behind (label podtrace.dev/run)\n`);
      process.exit(130);
    }
    process.stderr.write(`podtrace: ${signal}: stopping and cleaning up (press Ctrl-C again to exit at once)\n`);
    interrupt.abort();
  });
}

// A reader that stops early (podtrace run --help | head) closes the pipe: not an error.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

// V8's compiled code for the bundle, kept between runs (in the system's temporary
// directory, or NODE_COMPILE_CACHE): a run starts some 15 ms sooner when it need not
// compile 1.5 MB of JavaScript again. Node checks the cache against the source itself.
const { enableCompileCache } = await import("node:module");
enableCompileCache?.();

const { main } = await import("../dist/podtrace.js");
const code = await main(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env },
  interrupt.signal,
);
// Output to a pipe may still be queued: let it drain before the process ends.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write("", resolve))));
process.exit(code);
