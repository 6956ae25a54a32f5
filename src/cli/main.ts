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
  2    bad input: unreadable file, invalid YAML, not one workload, unknown flag, or a spec the
       API refused (validation, admission: PodSecurity, LimitRange, ResourceQuota, a policy or webhook)
  3    the cluster is unreachable or not configured, or access is forbidden (RBAC, credentials)
  4    the pod became Ready, but a --max threshold was exceeded
  130  interrupted (Ctrl-C); everything created was cleaned up`;

const RUN_EXAMPLES = `
Examples:
  podtrace run -f web.yaml                         a Pod, Deployment, ReplicaSet or Job, and the objects in the same file
  podtrace run -f app/ -f config.yaml --service    a directory's manifests plus a file; also create a Service
  kubectl create deploy web --image=IMAGE --dry-run=client -o yaml | podtrace run -f -
  podtrace run --image 127.0.0.1:5000/busybox:1 --pull always -- sleep 3600
  podtrace run -f smoke.yaml --timeout 2m --max total=30s -o junit > podtrace.xml`;

const OUTPUT_FORMATS = ["table", "wide", "json", "junit"];

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
  const run = program
    .command("run")
    .description(
      "create a pod (or a Deployment, ReplicaSet or Job, with the ConfigMaps, Secrets, Services... in its files), trace its pods' startup phase by phase, and clean up",
    )
    .usage("(-f FILE... | --image IMAGE [-- COMMAND ARGS...]) [flags]")
    .argument("[manifest]", "a manifest, as -f FILE")
    .argument("[command...]", "with --image, after --: the container's arguments (its command with --command)");
  const group = (heading: string, ...options: Option[]) => options.forEach((o) => run.addOption(o.helpGroup(heading)));
  group(
    "What to trace:",
    new Option("-f, --filename <file>", "a manifest file, a directory of them, or - for stdin (repeatable)").argParser(collect),
    new Option("--image <image>", "trace a one-container pod of this image, as kubectl run builds it"),
    new Option("--name <name>", "with --image: the pod's name (default: from the image)"),
    new Option("--command", "with --image: the words after -- are the command, not its arguments"),
    new Option("--node <name>", "pin the pods to this node (a required node affinity; the scheduler still places them)"),
    new Option("--pull <policy>", "every container's imagePullPolicy; always: a registry round trip every time").choices([
      "always",
      "missing",
      "never",
    ]),
    new Option("--service", "also create a Service selecting the pods, to trace endpoint publication"),
    new Option("--replicas <n>", "create n copies of the pod and report percentiles per phase").default("1"),
  );
  group(
    "How long and when to stop:",
    new Option("--timeout <duration>", "give up when not Ready after this long (e.g. 90s, 5m; 0: wait until Ready or failed)").default(
      "5m",
    ),
    new Option("--fail-fast", "end at the first sign of failure, unschedulable included"),
    new Option("--fail-after <n>", "end once a retried failure (pull, crash, mount, config) happened n times").default("3"),
    new Option("--max <phase=duration>", "fail (exit 4) when a phase, or total, is slower (repeatable)").argParser(collect),
    new Option("--keep", "leave what was created in place for inspection"),
  );
  group(
    "Output:",
    new Option("-o, --output <format>", "output format; table fits the terminal, wide shows every detail")
      .choices(OUTPUT_FORMATS)
      .default("table"),
    new Option("--record <file>", "save the raw observed stream for podtrace replay"),
    new Option("--raw", "with -o json: include the raw observations"),
    new Option("-q, --quiet", "print only the verdict line (no progress)"),
    new Option("-v, --verbose", "print error causes and watch diagnostics"),
    new Option("--no-color", "never colour the output"),
  );
  group(
    "Cluster (as kubectl):",
    new Option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"),
    new Option("--context <name>", "kubeconfig context to use"),
    new Option("-n, --namespace <ns>", "namespace (default: the manifest's, then the context's, then default)"),
    new Option("-s, --server <url>", "the API server's address"),
    new Option("--token <token>", "bearer token for the API server"),
    new Option("--as <user>", "impersonate this user"),
    new Option("--as-group <group>", "impersonate this group").argParser(collect),
    new Option("--certificate-authority <file>", "CA file for the API server's certificate"),
    new Option("--insecure-skip-tls-verify", "do not check the API server's certificate (insecure)"),
    new Option("--request-timeout <duration>", "limit on one API request (e.g. 10s; 0: none)").default("30s"),
  );
  run
    .addHelpText("after", RUN_EXAMPLES + "\n" + EXIT_CODES_HELP)
    .action(async (manifest: string | undefined, words: string[], opts: Record<string, unknown>) => {
      verbose = opts["verbose"] === true;
      const { run, checkOutput } = await import("./commands/run.ts");
      const { parseDurationFlag } = await import("../core/thresholds.ts");
      const duration = (flag: string, value: unknown): number => {
        const ms = parseDurationFlag(String(value));
        if (ms === null || ms < 0)
          throw new BadInputError(`${flag} ${String(value)}: not a duration`, "use e.g. 90s, 5m or 120; 0 for no limit");
        return ms;
      };
      // --timeout 0: no limit, as kubectl's --timeout 0 (wait until Ready or failed).
      const timeoutMs = duration("--timeout", opts["timeout"]) || Infinity;
      const replicas = Number(opts["replicas"]);
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > 1000)
        throw new BadInputError(`--replicas ${String(opts["replicas"])}: expected a whole number from 1 to 1000`);
      const repeats = Number(opts["failAfter"]);
      if (!Number.isInteger(repeats) || repeats < 1)
        throw new BadInputError(`--fail-after ${String(opts["failAfter"])}: expected a whole number >= 1`);
      // Operands: a manifest (kubectl takes only -f; a path alone is accepted too) and,
      // after --, the container's words for --image.
      const afterDashes = argv.includes("--") ? argv.slice(argv.indexOf("--") + 1) : [];
      const operands = [...(manifest === undefined ? [] : [manifest]), ...words];
      const files = [...operands.slice(0, operands.length - afterDashes.length), ...((opts["filename"] as string[] | undefined) ?? [])];
      const image = opts["image"] as string | undefined;
      if (image !== undefined && files.length)
        throw new BadInputError("--image builds the pod: pass it without -f or a manifest", "podtrace run --image IMAGE [-- COMMAND ARGS]");
      if (image === undefined && !files.length)
        throw new BadInputError("nothing to trace: pass -f FILE (a manifest, a directory, or - for stdin) or --image IMAGE");
      if (image === undefined && afterDashes.length)
        throw new BadInputError(`unexpected arguments after --: ${afterDashes.join(" ")}`, "the words after -- are for --image IMAGE");
      if (image === undefined && (opts["name"] !== undefined || opts["command"] === true))
        throw new BadInputError("--name and --command go with --image", "set the name in the manifest's metadata.name");
      code = await run(
        {
          files,
          image:
            image === undefined
              ? undefined
              : { image, name: opts["name"] as string | undefined, words: afterDashes, useCommand: opts["command"] === true },
          node: opts["node"] as string | undefined,
          pull: opts["pull"] as "always" | "missing" | "never" | undefined,
          cluster: {
            kubeconfig: opts["kubeconfig"] as string | undefined,
            context: opts["context"] as string | undefined,
            namespace: opts["namespace"] as string | undefined,
            server: opts["server"] as string | undefined,
            token: opts["token"] as string | undefined,
            as: opts["as"] as string | undefined,
            asGroups: (opts["asGroup"] as string[] | undefined) ?? [],
            certificateAuthority: opts["certificateAuthority"] as string | undefined,
            insecureSkipTlsVerify: opts["insecureSkipTlsVerify"] === true,
            requestTimeoutMs: duration("--request-timeout", opts["requestTimeout"]),
            env: io.env,
          },
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
          thresholds: await thresholds((opts["max"] as string[] | undefined) ?? []),
          version: VERSION,
          signal: interrupted,
        },
        io,
      );
    });

  program
    .command("replay")
    .description("render a recorded run (podtrace run --record) offline")
    .argument("<recording>", "file written by podtrace run --record, or - for stdin")
    .addOption(
      new Option("-o, --output <format>", "output format; table fits the terminal, wide shows every detail")
        .choices(OUTPUT_FORMATS)
        .default("table"),
    )
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
          thresholds: await thresholds((opts["max"] as string[] | undefined) ?? []),
          version: VERSION,
        },
        io,
      );
    });

  program
    .command("completion")
    .description("print a shell completion script: source <(podtrace completion bash)")
    .argument("<shell>", "bash, zsh or fish")
    .addHelpText(
      "after",
      `
Load it in the current shell:
  bash:  source <(podtrace completion bash)
  zsh:   source <(podtrace completion zsh)
  fish:  podtrace completion fish | source
or add that line to ~/.bashrc, ~/.zshrc or ~/.config/fish/config.fish.`,
    )
    .action(async (shell: string) => {
      const { completionScript } = await import("./completion.ts");
      io.stdout.write(completionScript(program, shell));
    });

  try {
    await program.parseAsync(["node", "podtrace", ...argv]);
    return code;
  } catch (err) {
    return report(err, io, verbose);
  }
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
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
