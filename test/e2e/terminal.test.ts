/**
 * The table in a real terminal: podtrace runs inside tmux at 80, 100 and 200 columns (a
 * replay of every recording, and a live run of the README's example at 100), and the
 * captured screen keeps its frame: every line of the table has the same display width,
 * and no line is wider than the terminal. tmux comes from the set-up (hack/install-deps.sh);
 * without it these tests are skipped, saying so.
 */
import { execFile, execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import stringWidth from "string-width";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT } from "../support/cli.ts";
import { createNamespace, deleteNamespace, KUBECONFIG } from "../support/cluster.ts";

const exec = promisify(execFile);
/** Whether a command is installed (it answers its version flag). */
function installed(command: string, versionFlag: string): boolean {
  try {
    execFileSync(command, [versionFlag], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const hasTmux = installed("tmux", "-V");
/** A tmux server of our own, on a socket of our own, removed afterwards. */
const socket = join(tmpdir(), `podtrace-tmux-${process.pid}`);

/** Run a command in a detached tmux window of this size and return the screen (wrapped lines joined) once it ended. */
async function inTmux(columns: number, args: string[]): Promise<string> {
  const session = `w${columns}-${Math.random().toString(36).slice(2, 8)}`;
  const quoted = [BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  // Not CI (whose terminals podtrace does not trust for their width), no colour codes.
  const script = `cd '${ROOT}' && env -u CI NO_COLOR=1 KUBECONFIG='${KUBECONFIG}' ${quoted} 2>/dev/null; tmux -S ${socket} wait-for -S ${session}; sleep 600`;
  await exec("tmux", [
    "-S",
    socket,
    "-f",
    "/dev/null",
    "new-session",
    "-d",
    "-s",
    session,
    "-x",
    String(columns),
    "-y",
    "100",
    "sh",
    "-c",
    script,
  ]);
  try {
    await exec("tmux", ["-S", socket, "wait-for", session], { timeout: 180_000 });
    const { stdout } = await exec("tmux", ["-S", socket, "capture-pane", "-p", "-J", "-S", "-", "-t", session]);
    return stdout.replace(/\n+$/, "");
  } finally {
    await exec("tmux", ["-S", socket, "kill-session", "-t", session]).catch(() => undefined);
  }
}

/** The frame must hold: the table's lines all as wide as each other, nothing wider than the terminal. */
function checkFrame(screen: string, columns: number): number {
  const lines = screen.split("\n");
  for (const l of lines) expect(stringWidth(l.trimEnd()), `wider than ${columns}: ${l}`).toBeLessThanOrEqual(columns);
  const table = lines.filter((l) => /^[┌│└]/.test(l)).map((l) => l.trimEnd());
  expect(table.length).toBeGreaterThan(2);
  const widths = new Set(table.map((l) => stringWidth(l)));
  expect([...widths], table.join("\n")).toHaveLength(1);
  expect(table[0]).toMatch(/^┌─.*┐$/);
  expect(table.at(-1)).toMatch(/^└─.*┘$/);
  return [...widths][0]!;
}

const recordings = readdirSync(new URL("../fixtures/recordings/", import.meta.url)).filter((f) => f.endsWith(".ndjson"));

const title = hasTmux
  ? "the table in a terminal (tmux)"
  : "the table in a terminal (SKIPPED: tmux is not installed; bash hack/install-deps.sh installs it)";

describe.skipIf(!hasTmux)(title, () => {
  // One session lives for the whole file: a tmux server whose last session ends exits,
  // and would race with the next session being created.
  beforeAll(async () => {
    await exec("tmux", ["-S", socket, "-f", "/dev/null", "new-session", "-d", "-s", "keeper", "sleep", "3600"]);
  });
  afterAll(async () => {
    await exec("tmux", ["-S", socket, "kill-server"]).catch(() => undefined);
    await rm(socket, { force: true });
  });

  for (const columns of [80, 100, 200]) {
    it(`fits ${columns} columns: every recording replayed, the frame intact`, async () => {
      for (const name of recordings) {
        const screen = await inTmux(columns, ["replay", `test/fixtures/recordings/${name}`]);
        const width = checkFrame(screen, columns);
        // A timeline with an image pull's details is wider than 100 columns by nature: it
        // fills the terminal; below, the table shrinks to fit instead of wrapping.
        if (name === "image-pulled.ndjson" && columns <= 100) expect(width, name).toBe(columns);
      }
    });
  }

  it("-o wide ignores the width: every detail on its line", async () => {
    const screen = await inTmux(100, ["replay", "test/fixtures/recordings/image-pulled.ndjson", "-o", "wide"]);
    expect(screen).toMatch(/│ image 127\.0\.0\.1:5000\/bigimage:1, kubelet: pulled in \d+ ms, \d+ ms incl\. waiting, size [\d.]+ MiB │/);
  });

  describe("a live run", () => {
    let ns = "";
    beforeAll(async () => {
      ns = await createNamespace("terminal-e2e");
    });
    afterAll(async () => {
      if (ns) await deleteNamespace(ns);
    });

    it("traces the README's example at 100 columns within the terminal", async () => {
      const screen = await inTmux(100, ["run", "-f", "examples/web.yaml", "--service", "-n", ns, "--timeout", "120s"]);
      expect(screen).toMatch(/✓ Ready after/);
      expect(checkFrame(screen, 100)).toBe(100);
    });
  });
});

// script(1) (util-linux, in every Debian) runs the command on a pseudo-terminal; with its
// input not a terminal it never sizes it, so the terminal reports 0 columns.
const hasScript = installed("script", "--version");
describe.skipIf(!hasScript)(hasScript ? "a terminal of no size" : "a terminal of no size (skipped: no script(1))", () => {
  let ns = "";
  beforeAll(async () => {
    ns = await createNamespace("nosize-e2e");
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it("gets plain progress lines, and the run ends", async () => {
    const log = join(tmpdir(), `podtrace-nosize-${process.pid}.log`);
    const command = `env -u CI NO_COLOR=1 KUBECONFIG='${KUBECONFIG}' '${BIN}' run '${ROOT}test/fixtures/manifests/one-container.yaml' -n ${ns} --timeout 60s; echo "exit $?"`;
    try {
      await exec("script", ["-qfc", command, log], { timeout: 120_000, cwd: ROOT });
      const out = (await readFile(log, "utf8")).replace(/\r/g, "");
      expect(out).toMatch(/podtrace: creating pod/);
      expect(out).toMatch(/✓ Ready after/);
      expect(out).toMatch(/exit 0/);
    } finally {
      await rm(log, { force: true });
    }
  });
});
