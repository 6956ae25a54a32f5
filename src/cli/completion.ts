/**
 * `podtrace completion bash|zsh|fish`: shell completion scripts generated from the command
 * definitions themselves, so every flag, choice and subcommand is completed and none can
 * drift out of date. Files complete where a file is expected (-f, --kubeconfig, --record,
 * a recording), -o and --pull their choices, --context and -n the kubeconfig's contexts and
 * the cluster's namespaces through kubectl, as kubectl's own completion does.
 */
import type { Command, Option } from "commander";
import { BadInputError } from "../errors.ts";

type ValueKind = "file" | "context" | "namespace" | "choices" | "text";

interface FlagSpec {
  short?: string;
  long?: string;
  description: string;
  /** null: a switch without a value. */
  value: ValueKind | null;
  choices: string[];
  repeatable: boolean;
}

interface CommandSpec {
  name: string;
  description: string;
  flags: FlagSpec[];
  /** What the command's operands are. */
  operands: "file" | "shell" | "none";
}

/** Options whose values are paths. */
const FILE_OPTIONS = new Set(["filename", "kubeconfig", "record", "certificateAuthority"]);
const SHELLS = ["bash", "zsh", "fish"];

export function completionScript(program: Command, shell: string): string {
  const commands = program.commands.map(specOf);
  switch (shell) {
    case "bash":
      return bash(commands);
    case "zsh":
      return zsh(commands);
    case "fish":
      return fish(commands);
    default:
      throw new BadInputError(`completion for "${shell}": unknown shell`, "use podtrace completion bash, zsh or fish");
  }
}

function specOf(cmd: Command): CommandSpec {
  const flags = cmd.options.map(flagOf);
  flags.push({ short: "-h", long: "--help", description: "show help", value: null, choices: [], repeatable: false });
  const operands = cmd.name() === "completion" ? "shell" : cmd.name() === "run" || cmd.name() === "replay" ? "file" : "none";
  return { name: cmd.name(), description: cmd.description(), flags, operands };
}

function flagOf(o: Option): FlagSpec {
  const takesValue = o.required || o.optional;
  const choices = o.argChoices ?? [];
  const name = o.attributeName();
  const value: ValueKind | null = !takesValue
    ? null
    : choices.length
      ? "choices"
      : FILE_OPTIONS.has(name)
        ? "file"
        : name === "context"
          ? "context"
          : name === "namespace"
            ? "namespace"
            : "text";
  return {
    ...(o.short ? { short: o.short } : {}),
    ...(o.long ? { long: o.long } : {}),
    description: o.description,
    value,
    choices,
    repeatable: Array.isArray(o.defaultValue),
  };
}

const CONTEXTS = "kubectl config get-contexts -o name 2>/dev/null";
const NAMESPACES = "kubectl get namespaces -o custom-columns=:metadata.name --no-headers --request-timeout=3s 2>/dev/null";

function names(f: FlagSpec): string[] {
  return [f.short, f.long].filter((n): n is string => Boolean(n));
}

function bash(commands: CommandSpec[]): string {
  const lines = [
    "# bash completion for podtrace: source <(podtrace completion bash)",
    "_podtrace() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" sub="" i',
    "  COMPREPLY=()",
    "  for ((i = 1; i < COMP_CWORD; i++)); do",
    '    case "${COMP_WORDS[i]}" in',
    `      ${commands.map((c) => c.name).join("|")}) sub="\${COMP_WORDS[i]}"; break ;;`,
    "    esac",
    "  done",
    '  case "${sub}" in',
    `    "") COMPREPLY=($(compgen -W "${commands.map((c) => c.name).join(" ")} --help --version" -- "\${cur}")); return ;;`,
  ];
  for (const c of commands) {
    lines.push(`    ${c.name})`);
    lines.push('      case "${prev}" in');
    for (const f of c.flags.filter((f) => f.value !== null)) {
      lines.push(`        ${names(f).join("|")}) ${bashValue(f)}; return ;;`);
    }
    lines.push("      esac");
    const all = c.flags.flatMap(names).join(" ");
    lines.push(`      if [[ "\${cur}" == -* ]]; then COMPREPLY=($(compgen -W "${all}" -- "\${cur}")); return; fi`);
    if (c.operands === "file") lines.push('      compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "${cur}"))');
    if (c.operands === "shell") lines.push(`      COMPREPLY=($(compgen -W "${SHELLS.join(" ")}" -- "\${cur}"))`);
    lines.push("      ;;");
  }
  lines.push("  esac", "}", "complete -F _podtrace podtrace", "");
  return lines.join("\n");
}

function bashValue(f: FlagSpec): string {
  switch (f.value) {
    case "file":
      return 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "${cur}"))';
    case "choices":
      return `COMPREPLY=($(compgen -W "${f.choices.join(" ")}" -- "\${cur}"))`;
    case "context":
      return `COMPREPLY=($(compgen -W "$(${CONTEXTS})" -- "\${cur}"))`;
    case "namespace":
      return `COMPREPLY=($(compgen -W "$(${NAMESPACES})" -- "\${cur}"))`;
    default:
      return "COMPREPLY=()";
  }
}

function zsh(commands: CommandSpec[]): string {
  const esc = (s: string) =>
    s.replace(/\\/g, "\\\\").replace(/'/g, "'\\''").replace(/\[/g, "\\[").replace(/\]/g, "\\]").replace(/:/g, "\\:");
  const lines = [
    "#compdef podtrace",
    "# zsh completion for podtrace: source <(podtrace completion zsh)",
    "_podtrace() {",
    "  local -a commands",
    `  commands=(${commands.map((c) => `'${c.name}:${esc(c.description.slice(0, 70))}'`).join(" ")})`,
    "  if (( CURRENT == 2 )); then",
    "    _describe 'command' commands",
    "    _arguments '--help[show help]' '--version[print the podtrace version]'",
    "    return",
    "  fi",
    "  case ${words[2]} in",
  ];
  for (const c of commands) {
    lines.push(`    ${c.name})`);
    const specs = c.flags.map((f) => {
      const all = names(f);
      const excl = f.repeatable ? "*" : all.length > 1 ? `(${all.join(" ")})` : "";
      const desc = `[${esc(f.description)}]`;
      const value = f.value === null ? "" : `:${f.value}:${zshAction(f)}`;
      const flag = all.length > 1 ? `{${all.join(",")}}` : all[0]!;
      return all.length > 1 ? `'${excl}'${flag}'${desc}${value}'` : `'${excl}${flag}${desc}${value}'`;
    });
    if (c.operands === "file") specs.push("'*:file:_files'");
    if (c.operands === "shell") specs.push(`'1:shell:(${SHELLS.join(" ")})'`);
    lines.push(`      _arguments -s -S \\\n        ${specs.join(" \\\n        ")}`);
    lines.push("      ;;");
  }
  lines.push("  esac", "}", 'if [ "$funcstack[1]" = "_podtrace" ]; then _podtrace "$@"; else compdef _podtrace podtrace; fi', "");
  return lines.join("\n");
}

function zshAction(f: FlagSpec): string {
  switch (f.value) {
    case "file":
      return "_files";
    case "choices":
      return `(${f.choices.join(" ")})`;
    case "context":
      return `{compadd -- \${(f)"$(${CONTEXTS})"}}`;
    case "namespace":
      return `{compadd -- \${(f)"$(${NAMESPACES})"}}`;
    default:
      return " ";
  }
}

function fish(commands: CommandSpec[]): string {
  const esc = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  const lines = ["# fish completion for podtrace: podtrace completion fish | source", "complete -c podtrace -f"];
  const subs = commands.map((c) => c.name).join(" ");
  for (const c of commands) {
    lines.push(`complete -c podtrace -n "not __fish_seen_subcommand_from ${subs}" -a ${c.name} -d ${esc(c.description.slice(0, 70))}`);
  }
  lines.push(`complete -c podtrace -n "not __fish_seen_subcommand_from ${subs}" -l version -d 'print the podtrace version'`);
  for (const c of commands) {
    const when = `-n "__fish_seen_subcommand_from ${c.name}"`;
    for (const f of c.flags) {
      const parts = ["complete -c podtrace", when];
      if (f.short) parts.push(`-s ${f.short.replace(/^-/, "")}`);
      if (f.long) parts.push(`-l ${f.long.replace(/^--/, "")}`);
      if (f.value === "file") parts.push("-r -F");
      else if (f.value === "choices") parts.push(`-x -a ${esc(f.choices.join(" "))}`);
      else if (f.value === "context") parts.push(`-x -a "(${CONTEXTS})"`);
      else if (f.value === "namespace") parts.push(`-x -a "(${NAMESPACES})"`);
      else if (f.value === "text") parts.push("-x");
      parts.push(`-d ${esc(f.description)}`);
      lines.push(parts.join(" "));
    }
    if (c.operands === "file") lines.push(`complete -c podtrace ${when} -F`);
    if (c.operands === "shell") lines.push(`complete -c podtrace ${when} -x -a '${SHELLS.join(" ")}'`);
  }
  return lines.join("\n") + "\n";
}
