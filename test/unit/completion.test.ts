/**
 * podtrace completion bash|zsh|fish: each script loads in its real shell and completes the
 * subcommands, flags and their values; the scripts are generated from the commands, so
 * every flag of `podtrace run --help` is in them. Shells that are not installed are
 * skipped, saying so (bash hack/install-deps.sh installs zsh and fish).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.ts";
import type { IOStreams } from "../../src/cli/io.ts";
import { Readable, Writable } from "node:stream";

async function podtrace(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        append(chunk.toString());
        done();
      },
    });
  const io: IOStreams = {
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    stdin: Readable.from([]),
    env: {},
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

const has = (shell: string) => {
  try {
    execFileSync(shell, ["-c", "exit 0"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const dir = mkdtempSync(join(tmpdir(), "podtrace-completion-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
async function script(shell: string): Promise<string> {
  const r = await podtrace("completion", shell);
  expect(r.code).toBe(0);
  const file = join(dir, `podtrace.${shell}`);
  writeFileSync(file, r.stdout);
  return file;
}

describe("bash", () => {
  /** What bash offers for the words typed so far (the last one being completed). */
  async function complete(...words: string[]): Promise<string[]> {
    const file = await script("bash");
    const line = `source '${file}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _podtrace; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return execFileSync("bash", ["-c", line], { cwd: dir, encoding: "utf8" }).split("\n").filter(Boolean);
  }

  it("completes subcommands, flags and their values", async () => {
    expect(await complete("podtrace", "r")).toEqual(["run", "replay"]);
    expect(await complete("podtrace", "run", "--ou")).toEqual(["--output"]);
    expect(await complete("podtrace", "run", "-o", "")).toEqual(["table", "wide", "json", "junit"]);
    expect(await complete("podtrace", "run", "--pull", "")).toEqual(["always", "missing", "never"]);
    expect(await complete("podtrace", "completion", "")).toEqual(["bash", "zsh", "fish"]);
    expect(await complete("podtrace", "run", "--insecure")).toEqual(["--insecure-skip-tls-verify"]);
  });

  it("completes files where a file is expected", async () => {
    writeFileSync(join(dir, "web.yaml"), "");
    expect(await complete("podtrace", "run", "-f", "we")).toEqual(["web.yaml"]);
    expect(await complete("podtrace", "replay", "we")).toEqual(["web.yaml"]);
  });

  it("knows every flag of podtrace run", async () => {
    const help = (await podtrace("run", "--help")).stdout;
    // The option lines of the help: "  -f, --filename <file>  ..." or "  --image <image>  ...".
    const flags = [...help.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!);
    expect(flags.length).toBeGreaterThan(25);
    const offered = await complete("podtrace", "run", "-");
    for (const f of new Set(flags)) expect(offered, f).toContain(f);
  });
});

describe.skipIf(!has("zsh"))(has("zsh") ? "zsh" : "zsh (SKIPPED: zsh is not installed)", () => {
  it("loads in zsh's completion system", async () => {
    const file = await script("zsh");
    const out = execFileSync(
      "zsh",
      ["-f", "-c", `autoload -U compinit && compinit -D -u && source '${file}' && print -r -- \${_comps[podtrace]}`],
      {
        encoding: "utf8",
      },
    );
    expect(out.trim()).toBe("_podtrace");
  });
});

describe.skipIf(!has("fish"))(has("fish") ? "fish" : "fish (SKIPPED: fish is not installed)", () => {
  it("completes subcommands, flags and values", async () => {
    const file = await script("fish");
    const complete = (line: string) =>
      execFileSync("fish", ["--no-config", "-c", `source '${file}'; complete -C '${line}'`], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t")[0]);
    expect(complete("podtrace ")).toEqual(expect.arrayContaining(["run", "replay", "completion"]));
    expect(complete("podtrace run --ou")).toEqual(["--output"]);
    expect(complete("podtrace run -o ").sort()).toEqual(["json", "junit", "table", "wide"]);
  });
});

it("refuses a shell it does not know", async () => {
  const r = await podtrace("completion", "powershell");
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('completion for "powershell": unknown shell');
});
