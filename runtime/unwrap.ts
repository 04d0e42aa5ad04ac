// What a command line really runs. Coding agents run their shell tool as
// `bash -c 'cd repo && pytest -x'`, and people wrap commands in `env`,
// `timeout`, `nice`, `xargs`...: a rule written for `pytest` must match
// those too. `commandsOf` lists every command a command line runs, itself
// first, then (recursively) what each wrapper or `-c` script runs; the
// matcher tries each (runtime/matcher.ts), in `acg run`'s calls and in the
// exec classifier's user-space decision alike.
//
// This reads command lines, it does not evaluate them: a `-c` script is split
// into its simple commands at `;`, `&`, `&&`, `||`, `|`, newlines and
// parentheses, with shell quoting and backslashes honoured; variable
// assignments, redirections and reserved words (`if`, `then`, `do`, `!`...)
// in front of a command are skipped. Expansions ($VAR, $(...), globs) are
// left as written.

import { basename } from "node:path";

/** How deep wrappers nest before the rest is left alone (`env env env ...`). */
const MAX_DEPTH = 8;

/** A wrapper's options: those that take a value (in the next word, or attached), and those that mean "no command follows". */
interface WrapperSpec {
  /** Short options that take a value, e.g. "n" for `nice -n 5`. */
  shortWithValue?: string;
  /** Long options that take a value when not written as --opt=value. */
  longWithValue?: string[];
  /** Positional words before the command (timeout's DURATION, taskset's mask). */
  positionals?: number;
  /** Options after which no command follows (`command -v`, `ionice -p`). */
  noCommand?: string[];
}

const WRAPPERS: Record<string, WrapperSpec> = {
  env: { shortWithValue: "uCS", longWithValue: ["--unset", "--chdir", "--split-string"] },
  timeout: { shortWithValue: "sk", longWithValue: ["--signal", "--kill-after"], positionals: 1 },
  nice: { shortWithValue: "n", longWithValue: ["--adjustment"] },
  ionice: { shortWithValue: "cnp", longWithValue: ["--class", "--classdata", "--pid"], noCommand: ["-p", "--pid"] },
  nohup: {},
  setsid: {},
  stdbuf: { shortWithValue: "ioe", longWithValue: ["--input", "--output", "--error"] },
  xargs: {
    shortWithValue: "adEeIiLlnPs",
    longWithValue: [
      "--arg-file",
      "--delimiter",
      "--eof",
      "--replace",
      "--max-lines",
      "--max-args",
      "--max-procs",
      "--max-chars",
      "--process-slot-var",
    ],
  },
  time: { shortWithValue: "fo", longWithValue: ["--format", "--output"] },
  command: { noCommand: ["-v", "-V"] },
  exec: { shortWithValue: "a" },
  sudo: {
    shortWithValue: "uUgChpDrtT",
    longWithValue: ["--user", "--group", "--host", "--prompt", "--chdir", "--role", "--type", "--other-user", "--close-from"],
    noCommand: ["-l", "-v", "-k", "-K", "-e", "-s", "-i", "--list", "--validate", "--edit", "--shell", "--login"],
  },
  taskset: { shortWithValue: "", positionals: 1, noCommand: ["-p", "--pid"] },
  chrt: { positionals: 1, noCommand: ["-p", "--pid", "-m", "--max"] },
  doas: { shortWithValue: "uC" },
};

const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox-sh"]);
const RESERVED = new Set([
  "if",
  "then",
  "else",
  "elif",
  "fi",
  "do",
  "done",
  "while",
  "until",
  "for",
  "case",
  "esac",
  "in",
  "!",
  "{",
  "}",
  "function",
  "select",
  "coproc",
]);
const LOOP_HEADS = new Set(["for", "select", "case"]);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** Every command `argv` runs: argv itself first, then each wrapped or scripted command (depth first, in order). */
export function commandsOf(argv: readonly string[]): string[][] {
  const out: string[][] = [];
  collect([...argv], 0, out);
  return out;
}

function collect(argv: string[], depth: number, out: string[][]): void {
  if (argv.length === 0) return;
  out.push(argv);
  if (depth >= MAX_DEPTH) return;
  const name = basename(argv[0]!);
  if (SHELLS.has(name)) {
    const script = shellScript(argv);
    if (script !== null) for (const cmd of simpleCommands(script)) collect(cmd, depth + 1, out);
    return;
  }
  const spec = WRAPPERS[name];
  if (!spec) return;
  const inner = wrappedCommand(argv, spec, name);
  if (inner) collect(inner, depth + 1, out);
}

/** The script of `sh -c SCRIPT` (options such as -l, -e, -o OPT may come first, -c may be combined: -lc), or null. */
export function shellScript(argv: readonly string[]): string | null {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--" || (!a.startsWith("-") && !a.startsWith("+"))) return null; // a script file, not -c
    if (a === "-o" || a === "+o" || a === "-O" || a === "+O") {
      i++;
      continue;
    }
    if (!a.startsWith("--") && a.startsWith("-") && a.includes("c")) {
      const script = argv[i + 1];
      return script ?? null;
    }
  }
  return null;
}

/** The command a wrapper runs, or null when it runs none (`env` alone prints the environment). */
function wrappedCommand(argv: string[], spec: WrapperSpec, name: string): string[] | null {
  let positionals = spec.positionals ?? 0;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (spec.noCommand?.includes(a) || spec.noCommand?.some((o) => a.startsWith(`${o}=`))) return null;
    if (a === "--") return positionals === 0 ? argv.slice(i + 1) : skipPositionals(argv.slice(i + 1), positionals);
    if (a.startsWith("--")) {
      if (!a.includes("=") && spec.longWithValue?.includes(a)) i++;
      continue;
    }
    if (a.startsWith("-") && a.length > 1 && !(name === "nice" && /^-\d+$/.test(a))) {
      // Grouped short options: the first that takes a value takes the rest of the word, or the next word.
      const flags = a.slice(1);
      const k = [...flags].findIndex((f) => spec.shortWithValue?.includes(f));
      if (k >= 0 && k === flags.length - 1) i++;
      continue;
    }
    if (name === "nice" && /^-\d+$/.test(a)) continue;
    if (name === "env" && ASSIGNMENT.test(a)) continue;
    if (positionals > 0) {
      positionals--;
      continue;
    }
    return argv.slice(i);
  }
  return null;
}

function skipPositionals(words: string[], n: number): string[] | null {
  return words.length > n ? words.slice(n) : null;
}

/** Shell words of a script, with the operators that separate commands as their own tokens. */
type Token = { word: string } | { op: string };

function tokenize(script: string): Token[] {
  const out: Token[] = [];
  let word = "";
  let inWord = false;
  const flush = () => {
    if (inWord) out.push({ word });
    word = "";
    inWord = false;
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (c === "\\") {
      if (script[i + 1] === "\n") {
        i++;
        continue;
      }
      word += script[++i] ?? "";
      inWord = true;
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1);
      word += script.slice(i + 1, end < 0 ? script.length : end);
      i = end < 0 ? script.length : end;
      inWord = true;
    } else if (c === '"') {
      i++;
      for (; i < script.length && script[i] !== '"'; i++) {
        if (script[i] === "\\" && '"\\$`\n'.includes(script[i + 1] ?? "")) i++;
        word += script[i];
      }
      inWord = true;
    } else if (c === "#" && !inWord) {
      const nl = script.indexOf("\n", i);
      i = nl < 0 ? script.length : nl - 1;
    } else if (" \t".includes(c)) {
      flush();
    } else if ("\n;&|()".includes(c)) {
      flush();
      const two = script.slice(i, i + 2);
      if (two === "&&" || two === "||" || two === ";;" || two === "|&") i++;
      out.push({ op: c });
    } else if (c === ">" || c === "<") {
      // A redirection (>, >>, 2>&1, <<<, &>): neither it nor its target word is part of the command.
      if (/^\d+$/.test(word)) {
        word = "";
        inWord = false;
      }
      flush();
      let j = i + 1;
      while (j < script.length && ">&<|".includes(script[j]!)) j++;
      const dup = script[j - 1] === "&" && /[\d-]/.test(script[j] ?? "");
      if (dup) while (j < script.length && /[\d-]/.test(script[j]!)) j++;
      // `2>&1` names its target in the operator; `> file` takes the next word.
      if (!dup) out.push({ op: "redirect" });
      i = j - 1;
    } else {
      word += c;
      inWord = true;
    }
  }
  flush();
  return out;
}

/** The simple commands of a script, each without leading assignments, reserved words and redirections. */
export function simpleCommands(script: string): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let skipNext = false;
  const end = () => {
    // `for x in ...`, `case w in`: a loop or case head, not a command.
    if (LOOP_HEADS.has(cur[0] ?? "")) cur = [];
    while (cur.length && (RESERVED.has(cur[0]!) || ASSIGNMENT.test(cur[0]!))) cur.shift();
    if (cur.length) out.push(cur);
    cur = [];
  };
  for (const t of tokenize(script)) {
    if ("op" in t) {
      if (t.op === "redirect") skipNext = true;
      else {
        skipNext = false;
        end();
      }
      continue;
    }
    if (skipNext) {
      skipNext = false;
      continue;
    }
    cur.push(t.word);
  }
  end();
  return out;
}
