/**
 * The podtrace command line. `main(argv, io)` returns the exit code; bin/podtrace.js is the
 * only place that calls process.exit. Commands import their heavy modules lazily so that
 * --help and --version stay fast.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import pkg from "../../package.json" with { type: "json" };
import { BadInputError, causeChain, ExitCode, PodtraceError } from "../errors.ts";
import type { IOStreams } from "./io.ts";
import type { Threshold } from "../core/thresholds.ts";

export const VERSION: string = pkg.version;

const EXIT_CODES_HELP = `
Exit codes:
  0    the pod became Ready (and its endpoints were published)
  1    the pod did not become Ready: failed, stuck, or timed out (the verdict names the phase)
  2    bad input: unreadable file, invalid YAML, not a single Pod, unknown flag, spec rejected by the API
  3    the cluster is unreachable, or access is forbidden
  4    the pod became Ready, but a --max threshold was exceeded
  130  interrupted (Ctrl-C); everything created was cleaned up`;

export async function main(argv: readonly string[], io: IOStreams, signal?: AbortSignal): Promise<number> {
  let verbose = false;
  const interrupted = signal ?? new AbortController().signal;
  const program = new Command("podtrace")
    .description("Trace real pod creation on a Kubernetes cluster as a phase timeline.")
    .version(VERSION, "--version", "print the podtrace version")
    .helpOption("-h, --help", "show help")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  let code: number = ExitCode.Ready;
  program
    .command("run")
    .description("create a pod (or a Deployment, ReplicaSet or Job), trace its pods' startup phase by phase, and clean up")
    .argument("<manifest>", "a Pod, Deployment, ReplicaSet or Job (YAML or JSON), or - for stdin")
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    .option("--context <name>", "kubeconfig context to use")
    .option("-n, --namespace <ns>", "namespace (default: the manifest's, then the context's, then default)")
    .option("--timeout <duration>", "give up when not Ready after this long (e.g. 90s, 5m)", "5m")
    .option("--replicas <n>", "create n copies of the pod and report percentiles per phase", "1")
    .addOption(new Option("-o, --output <format>", "output format").choices(["table", "json", "junit"]).default("table"))
    .option("--keep", "leave the pod (and Service) in place for inspection", false)
    .option("--record <file>", "save the raw observed stream for podtrace replay")
    .option("--service", "also create a ClusterIP Service selecting the pod, to trace endpoint publication", false)
    .option("--fail-fast", "end at the first sign of failure, unschedulable included", false)
    .option("--fail-after <n>", "end once a retried failure (pull, crash, mount, config) happened n times", "3")
    .option("--max <phase=duration>", "fail (exit 4) when a phase, or total, is slower (repeatable)", collect, [] as string[])
    .option("--raw", "with -o json: include the raw observations", false)
    .option("-q, --quiet", "print only the verdict line (no progress)", false)
    .option("-v, --verbose", "print error causes and watch diagnostics", false)
    .option("--no-color", "never colour the output")
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (file: string, opts: Record<string, unknown>) => {
      verbose = opts["verbose"] === true;
      const { run, checkOutput } = await import("./commands/run.ts");
      const { parseDurationFlag } = await import("../core/thresholds.ts");
      const timeoutMs = parseDurationFlag(String(opts["timeout"]));
      if (timeoutMs === null || timeoutMs <= 0)
        throw new BadInputError(`--timeout ${String(opts["timeout"])}: not a duration`, "use e.g. 90s, 5m or 120");
      const replicas = Number(opts["replicas"]);
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > 1000)
        throw new BadInputError(`--replicas ${String(opts["replicas"])}: expected a whole number from 1 to 1000`);
      const repeats = Number(opts["failAfter"]);
      if (!Number.isInteger(repeats) || repeats < 1)
        throw new BadInputError(`--fail-after ${String(opts["failAfter"])}: expected a whole number >= 1`);
      code = await run(
        {
          file,
          kubeconfig: opts["kubeconfig"] as string | undefined,
          context: opts["context"] as string | undefined,
          namespace: opts["namespace"] as string | undefined,
          replicas,
          timeoutMs,
          output: checkOutput(String(opts["output"])),
          keep: opts["keep"] === true,
          record: opts["record"] as string | undefined,
          service: opts["service"] === true,
          raw: opts["raw"] === true,
          quiet: opts["quiet"] === true,
          verbose,
          color: opts["color"] as boolean | undefined,
          failFast: { immediate: opts["failFast"] === true, repeats },
          thresholds: await thresholds(opts["max"] as string[]),
          version: VERSION,
          signal: interrupted,
        },
        io,
      );
    });

  program
    .command("replay")
    .description("render a recorded run (podtrace run --record) offline")
    .argument("<recording>", "file written by podtrace run --record")
    .addOption(new Option("-o, --output <format>", "output format").choices(["table", "json", "junit"]).default("table"))
    .option("--max <phase=duration>", "apply thresholds as podtrace run does (repeatable)", collect, [] as string[])
    .option("--raw", "with -o json: include the raw observations", false)
    .option("-q, --quiet", "print only the verdict line", false)
    .option("--no-color", "never colour the output")
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (file: string, opts: Record<string, unknown>) => {
      const { replay } = await import("./commands/replay.ts");
      const { checkOutput } = await import("./commands/run.ts");
      code = await replay(
        {
          file,
          output: checkOutput(String(opts["output"])),
          raw: opts["raw"] === true,
          quiet: opts["quiet"] === true,
          color: opts["color"] as boolean | undefined,
          thresholds: await thresholds(opts["max"] as string[]),
        },
        io,
      );
    });

  try {
    await program.parseAsync(["node", "podtrace", ...argv]);
    return code;
  } catch (err) {
    return report(err, io, verbose);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function thresholds(values: string[]): Promise<Threshold[]> {
  const { parseThreshold } = await import("../core/thresholds.ts");
  return values.map((v) => {
    const t = parseThreshold(v);
    if (typeof t === "string") throw new BadInputError(t);
    return t;
  });
}

/** One readable line per error (the cause chain with -v), and its exit code. */
function report(err: unknown, io: IOStreams, verbose: boolean): number {
  if (err instanceof CommanderError) {
    // --help and --version exit through here with code 0; usage errors are bad input.
    if (err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.version") return ExitCode.Ready;
    if (err.code === "commander.help") return ExitCode.Ready;
    return ExitCode.BadInput;
  }
  if (err instanceof InvalidArgumentError) {
    io.stderr.write(`ERROR: ${err.message}\n`);
    return ExitCode.BadInput;
  }
  if (err instanceof PodtraceError) {
    io.stderr.write(`ERROR: ${err.message}\n`);
    if (err.hint) io.stderr.write(`  ${err.hint}\n`);
    if (verbose) for (const c of causeChain(err).slice(1)) io.stderr.write(`  caused by: ${c}\n`);
    return err.exitCode;
  }
  io.stderr.write(`ERROR: internal error: ${(err as Error)?.message ?? String(err)}\n`);
  io.stderr.write(`  this is a bug in podtrace ${VERSION}; please report it with the output of -v\n`);
  if (verbose) io.stderr.write(`${(err as Error)?.stack ?? ""}\n`);
  return ExitCode.Internal;
}
