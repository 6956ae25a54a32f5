/**
 * Running the real podtrace executable as a user would: a child process with arguments,
 * no TTY, and its exit code, stdout and stderr.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { KUBECONFIG } from "./cluster.ts";

export const BIN = fileURLToPath(new URL("../../bin/podtrace.js", import.meta.url));
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time of the whole run, ms. */
  elapsedMs: number;
}

export interface Running {
  child: ChildProcess;
  /** Resolves when stderr has printed text matching the pattern. */
  waitForStderr(pattern: RegExp): Promise<void>;
  done: Promise<CliResult>;
}

export function start(args: string[], env: Record<string, string> = {}): Running {
  const started = performance.now();
  const child = spawn(BIN, args, {
    cwd: ROOT,
    env: { ...process.env, KUBECONFIG, CI: "true", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const watchers: { pattern: RegExp; resolve: () => void }[] = [];
  // Decode as streams: a multi-byte character may be split across chunks.
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => (stdout += d));
  child.stderr!.on("data", (d: string) => {
    stderr += d;
    for (const w of watchers.splice(0)) {
      if (w.pattern.test(stderr)) w.resolve();
      else watchers.push(w);
    }
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, elapsedMs: performance.now() - started }));
  });
  return {
    child,
    done,
    waitForStderr: (pattern) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(stderr)) return resolve();
        watchers.push({ pattern, resolve });
        void done.then(() => reject(new Error(`podtrace exited before printing ${pattern}; stderr:\n${stderr}`)));
      }),
  };
}

export function podtrace(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return start(args, env).done;
}
