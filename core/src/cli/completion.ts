/** `qcap completion bash|zsh|fish`: a completion script made from the program's own commands and options. */
import type { Command } from "commander";
import { fail } from "../errors.js";

interface Spec {
  name: string;
  description: string;
  flags: string[];
}

function specs(p: Command): Spec[] {
  return p.commands.map((c) => ({
    name: c.name(),
    description: c.description().split("\n")[0] ?? "",
    flags: [
      ...c.options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined)),
      "--help",
    ],
  }));
}

/** Words inside single quotes for sh and fish: a quote is closed, escaped and reopened. */
const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const fishQuoted = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

function bash(cmds: Spec[]): string {
  const cases = cmds.map((c) => `    ${c.name}) opts=${quoted(c.flags.join(" "))} ;;`).join("\n");
  return `# qcap completion for bash: source <(qcap completion bash)
_qcap() {
  local cur=\${COMP_WORDS[COMP_CWORD]} opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${quoted(`${cmds.map((c) => c.name).join(" ")} --help --version`)} -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _qcap qcap
`;
}

function zsh(cmds: Spec[]): string {
  // zsh runs the bash function through its bash compatibility layer.
  return `#compdef qcap
# qcap completion for zsh: source <(qcap completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(cmds).split("\n").slice(1).join("\n")}`;
}

function fish(cmds: Spec[]): string {
  const lines = ["# qcap completion for fish: qcap completion fish | source", "complete -c qcap -f"];
  for (const c of cmds) {
    lines.push(`complete -c qcap -n __fish_use_subcommand -a ${c.name} -d ${fishQuoted(c.description)}`);
    for (const f of c.flags) {
      const flag = f.startsWith("--") ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`;
      lines.push(`complete -c qcap -n '__fish_seen_subcommand_from ${c.name}' ${flag} -F`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function registerCompletion(p: Command): void {
  p.command("completion")
    .description("print a shell completion script (bash: source <(qcap completion bash))")
    .argument("<shell>", "bash, zsh or fish")
    .action((shell: string) => {
      const make = { bash, zsh, fish }[shell];
      if (make === undefined) fail("usage", `unknown shell '${shell}': give bash, zsh or fish`);
      process.stdout.write(make(specs(p)));
    });
}
