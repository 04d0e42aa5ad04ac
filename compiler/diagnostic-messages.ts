// Every diagnostic acgc reports, in one table: each code with its severity, the
// line docs/diagnostics.md gives it, and the text of every message that carries
// it. Passes report by message key with typed arguments,
//   bag.report(M.UnknownClass, id.span, { name: id.name, help: "didYouMean", hint })
// so a code has exactly one severity, no message text is written at a call
// site, and the documentation is generated from here
// (scripts/diagnostics-doc.ts; a test fails when docs/diagnostics.md is stale).
//
// A template names its arguments in braces, `{name}` (letters, digits and `_`
// only, so a literal `{ ... }` of the language stays literal). Arguments fill
// in what the source says (names, sizes, values and tokens as the message
// describes them); the sentences around them live here. A message whose help
// depends on what is known lists its helps by name, and the report picks one
// (`help: "didYouMean"`) or none. A message with a `note` points at a second
// location (the earlier definition, the setting it conflicts with).

import type { Span } from "./source.js";

/** A note says what the compiler will do (e.g. a test left to user space); it never fails a check. */
export type Severity = "error" | "warning" | "note";

const DID_YOU_MEAN = "did you mean '{hint}'?";

/** The helps a syntax error may carry, chosen from what the parser saw. */
const SYNTAX_HELP = {
  unclosedBlock: "a block is not closed: add the missing `}`",
  versionTwice: "the version line comes once, first in the file",
  settingForm: "settings are written `name = value`",
  unitSpace: "write the unit right after the number, without a space: `512MiB`",
} as const;

const USER_SPACE_HELP =
  "acgd matches it on the exec's command line when the exec is reported (and `acg run` " +
  "before the call starts); only exact names and `*`/`?` globs on exe and path, and " +
  "`/^literal$/` regexes, are decided in the kernel";

const NO_BUDGET_HELP = "give the agent profile a `memory.limit`";

const TABLE = defineTable({
  // Reading the file (compiler/read-source.ts).
  E0001: {
    severity: "error",
    doc: "the path cannot be read: missing, a directory, not a regular file, no permission",
    messages: {
      FileNotFound: { text: "no such file", help: "check the path" },
      PermissionDenied: { text: "permission denied", help: "make the file readable or run with more privileges" },
      CannotRead: { text: "cannot read: {reason}" },
      IsDirectory: { text: "is a directory, not a policy file", help: "to check every policy in it: acgc check {dir}/*.acg" },
      NotRegularFile: { text: "is not a regular file" },
    },
  },
  E0002: {
    severity: "error",
    doc: "the file is not valid UTF-8 (the first bad byte is located)",
    messages: { InvalidUtf8: { text: "invalid UTF-8 (byte 0x{byte} at offset {offset})", help: "save the file as UTF-8" } },
  },
  E0003: {
    severity: "error",
    doc: "the file is larger than 1 MiB",
    messages: {
      FileTooLarge: {
        text: "file is too large ({mib} MiB; policies are at most 1 MiB)",
        help: "is this the right file? policies are hand-written text",
      },
    },
  },
  E0004: {
    severity: "error",
    doc: "the file holds binary data (a NUL byte)",
    messages: {
      BinaryFile: {
        text: "binary data (a NUL byte) in a policy file",
        help: "policies are UTF-8 text; is this the right file?",
      },
    },
  },
  E0005: {
    severity: "error",
    doc: "the file is empty",
    messages: {
      EmptyFile: {
        text: "empty policy file",
        help: "start with `version 1` and a `policy NAME { ... }` block; see policies/minimal.acg",
      },
    },
  },

  // Lexing and parsing (compiler/lexer.ts, compiler/parser.ts).
  E0101: {
    severity: "error",
    doc:
      "syntax error: an unexpected character or token, an unterminated string or comment, text " +
      "after the policy, a space between a number and its unit (`512 MiB`)",
    messages: {
      UnexpectedCharacter: {
        text: "unexpected character {char}",
        help: {
          hash: "comments start with `//` or are enclosed in `/* */`",
          singleQuote: 'strings are written in double quotes: "..."',
          colon: "settings are written `name = value`",
          comparison: "comparisons in `when` use `>` or `>=`; intent bounds use `<=`",
          logic: "combine matchers with `and`, `or`, `not`",
        },
      },
      UnterminatedString: { text: "unterminated string", help: 'close the string with `"` on the same line' },
      UnterminatedComment: { text: "unterminated block comment", help: "close the comment with `*/`" },
      SpacedUnit: { text: "a space between '{number}' and its unit '{unit}'", help: "write {number}{unit}, without the space" },
      TrailingInput: {
        text: "unexpected {found} after the end of the policy",
        help: "a file holds exactly one `policy NAME { ... }` block",
      },
      ExpectedToken: { text: "expected {token}, found {found}", help: SYNTAX_HELP },
      ExpectedValue: { text: "expected a value, found {found}", help: SYNTAX_HELP },
      ExpectedMatcher: { text: 'expected a matcher (e.g. `exe == "git"`), found {found}', help: SYNTAX_HELP },
      ExpectedOneOf: { text: "expected one of {tokens}, found {found}", help: SYNTAX_HELP },
      Unexpected: { text: "unexpected {found}", help: SYNTAX_HELP },
    },
  },
  E0102: {
    severity: "error",
    doc:
      "expressions or lists nested deeper than 64 levels (brackets, parentheses and `not`s " +
      "together); refused before parsing, so any depth costs linear time",
    messages: {
      NestedTooDeep: {
        text: "expressions and lists nest deeper than {max} levels",
        help: "split the matcher into simpler rules",
      },
    },
  },

  // What the file declares (compiler/passes/structure.ts).
  E0110: {
    severity: "error",
    doc: "no `version` line",
    messages: { MissingVersion: { text: "missing version line", help: "start the file with `version 1`" } },
  },
  E0111: {
    severity: "error",
    doc: "a language version this acgc does not know",
    messages: {
      UnsupportedVersion: {
        text: "unsupported language version '{version}'",
        help: "this acgc understands version {supported}",
      },
    },
  },
  E0112: {
    severity: "error",
    doc: "no `policy` block",
    messages: { NoPolicy: { text: "no policy in this file", help: "write `policy NAME { ... }` after the version line" } },
  },

  // Settings and their values (compiler/passes/settings.ts, memory.ts).
  E0201: {
    severity: "error",
    doc: "unknown setting or intent subject (with the closest known one)",
    messages: {
      UnknownSetting: {
        text: "unknown setting '{key}' in a {block} block",
        help: { didYouMean: DID_YOU_MEAN, known: "a {block} block accepts: {keys}" },
      },
      UnknownIntentSubject: {
        text: "agents cannot declare an intent about '{subject}'",
        help: { didYouMean: DID_YOU_MEAN, known: "intents bound `memory`, `cpu.weight`, `class` and `rank`" },
      },
    },
  },
  E0202: {
    severity: "error",
    doc: "a setting, intent or action given twice",
    messages: {
      SettingTwice: { text: "'{key}' is set twice", help: "remove one of the two", note: "first set here" },
      IntentTwice: { text: "intent bound on '{subject}' is given twice", help: "keep one bound per resource" },
      BurstDurationTwice: { text: "the burst duration is given twice" },
      BurstModeTwice: {
        text: "a burst takes either `refill` or `cooldown`, once",
        help: "`refill D`: credit comes back gradually; `cooldown D`: no new burst until D has passed",
      },
      OverHighActionTwice: { text: "'{action}' appears twice in over_high" },
    },
  },
  E0203: {
    severity: "error",
    doc: "a value of the wrong type (a size where a duration is expected, a number without unit, …)",
    messages: {
      WrongKind: {
        text: "'{what}' takes {expected}; found {found}",
        help: {
          sizeWithUnit: "write the size with its unit, e.g. 512MiB",
          addSizeUnit: "add a unit: {number}MiB or {number}GiB",
          addDurationUnit: "add a unit: {number}ms or {number}s",
          dropUnit: "write a plain number, without unit",
        },
      },
      WordExpected: { text: "'{key}' takes one of {words}; found {found}" },
      WordListExpected: { text: "'{key}' takes a non-empty list of {words}; found {found}", help: "write `{key} = [low, normal]`" },
      ClassNameExpected: { text: "expected a class name, found {found}" },
      ThrottleRangeExpected: {
        text: "throttle takes a delay range; found {found}",
        help: "write `throttle 20ms..2s`: the delay starts at the first value and ramps to the second",
      },
    },
  },
  E0204: {
    severity: "error",
    doc: "unknown unit (`MB` → `MiB`)",
    messages: {
      UnknownUnit: {
        text: "unknown unit '{unit}'",
        help: {
          suggest: "write {suggestion}: sizes use binary units (B, KiB, MiB, GiB, TiB), durations us, ms, s",
          list: "sizes use B, KiB, MiB, GiB, TiB; durations us, ms, s; shares %",
        },
      },
    },
  },
  E0205: {
    severity: "error",
    doc: "a value out of range, or negative",
    messages: {
      Negative: { text: "'{what}' cannot be negative" },
      OutOfRange: {
        text: "{quantity} is out of range for '{what}'",
        help: { atLeast: "'{what}' is at least {min}", between: "'{what}' is from {min} to {max}" },
      },
    },
  },
  E0206: {
    severity: "error",
    doc: "a word that is not one of the allowed ones (`priority = urgent`)",
    messages: {
      NotAllowedWord: {
        text: "'{word}' is not a valid {key}",
        help: { didYouMean: "did you mean '{hint}'? ({words})", allowed: "use one of {words}" },
      },
    },
  },
  E0207: {
    severity: "error",
    doc: "`for`/`refill`/`cooldown` on a setting other than `memory.burst`",
    messages: {
      ModifierNotApplicable: {
        text: "'{modifier}' does not apply to '{key}'",
        help: "only `memory.burst` takes `for`, `refill` and `cooldown`, and a ladder's `freeze` one `for`",
      },
    },
  },
  E0208: {
    severity: "error",
    doc: "a required setting is missing (host `memory`, a burst's duration)",
    messages: {
      HostMemoryMissing: {
        text: "the host block does not say how much memory the policy may hand out",
        help: "add `memory = 64GiB` (the host's memory available to agents)",
      },
      BurstWithoutDuration: { text: "a burst needs a duration", help: "write `memory.burst = {size} for 30s`" },
    },
  },
  E0209: {
    severity: "error",
    doc: "a fraction where a whole number is needed (`cpu.weight = 100.5`, `max_agents = 2.5`: never rounded)",
    messages: { NotWholeNumber: { text: "'{what}' must be a whole number" } },
  },
  E0210: {
    severity: "error",
    doc: "a number too large to be exact (sizes and durations below 2^53 bytes or nanoseconds)",
    messages: {
      NumberTooLarge: {
        text: "{quantity} is too large",
        help: "sizes and durations must stay below 2^53 bytes or nanoseconds (8 PiB, 104 days)",
      },
    },
  },

  // Declarations and names (compiler/passes/structure.ts, names.ts).
  E0301: {
    severity: "error",
    doc: "two classes, tenants or tools with the same name",
    messages: {
      DefinedTwice: {
        text: "{kind} '{name}' is defined twice",
        help: "rename one of them; {kind} names are unique in a policy",
        note: "first defined here",
      },
    },
  },
  E0302: {
    severity: "error",
    doc: "more than one `host` block",
    messages: {
      SecondHostBlock: {
        text: "more than one host block",
        help: "merge the settings into one `host { ... }` block",
        note: "first host block",
      },
    },
  },
  E0303: {
    severity: "error",
    doc: "no `host` block",
    messages: {
      NoHostBlock: {
        text: "the policy has no host block",
        help: "add `host { memory = 64GiB; reserve = 4GiB }`: the checker needs the host's memory to check the budget",
      },
    },
  },
  E0304: {
    severity: "error",
    doc: "no `tool default`",
    messages: {
      NoDefaultRule: {
        text: "the policy has no default tool rule",
        help: "add `tool default { class NAME }`: it applies to every tool call no other rule matches",
      },
    },
  },
  E0305: {
    severity: "error",
    doc: "unknown class",
    messages: {
      UnknownClass: {
        text: "unknown class '{name}'",
        help: {
          didYouMean: DID_YOU_MEAN,
          defined: "the policy defines: {classes}",
          define: "define it: `class {name} { priority = normal; cpu.weight = 100 }`",
        },
      },
    },
  },
  E0306: {
    severity: "error",
    doc: "unknown tenant",
    messages: {
      UnknownTenant: {
        text: "unknown tenant '{name}'",
        help: { didYouMean: DID_YOU_MEAN, define: "write `tenant` alone to watch every tenant, or define the tenant" },
      },
    },
  },
  E0307: {
    severity: "error",
    doc: "the default rule names no class",
    messages: {
      DefaultWithoutClass: {
        text: "the default rule has no class",
        help: "add `class NAME`: tool calls that name no class fall back to the default rule's class",
      },
    },
  },
  E0308: {
    severity: "error",
    doc: "a tool rule with two `match`, `class` or `over_high` statements, or an agent block with two `class` statements",
    messages: {
      TwoMatchStatements: {
        text: "tool '{tool}' has more than one match statement",
        help: "combine the conditions with `or` / `and` in one `match`",
      },
      TwoClassStatements: { text: "tool '{tool}' has more than one class statement", help: "a tool call belongs to exactly one class" },
      TwoAgentClassStatements: {
        text: "an agent block has more than one class statement",
        help: "the agent's own processes run in exactly one class",
      },
      TwoOverHighStatements: {
        text: "tool '{tool}' has more than one over_high statement",
        help: "list the actions in one statement: `over_high throttle 20ms..2s, kill after 60s`",
      },
    },
  },
  E0309: {
    severity: "error",
    doc: "the default rule has a `match`",
    messages: {
      DefaultWithMatch: {
        text: "the default rule cannot have a match statement",
        help: "the default rule applies to every tool call no other rule matches; move the matcher into a rule of its own",
      },
    },
  },
  E0310: {
    severity: "error",
    doc: "a tool rule other than the default has no `match`",
    messages: {
      RuleWithoutMatch: {
        text: "tool '{tool}' has no match statement",
        help: 'add e.g. `match exe == "git"`; only `tool default` matches everything',
      },
    },
  },
  E0311: {
    severity: "error",
    doc: "more than one `agent` block at the same level",
    messages: {
      SecondAgentBlock: {
        text: "more than one top-level agent block",
        help: "put per-tenant agent settings inside `tenant NAME { agent { ... } }`",
        note: "first agent block",
      },
      SecondTenantAgentBlock: { text: "tenant '{tenant}' has more than one agent block", help: "merge them into one `agent { ... }`" },
    },
  },

  // Matchers (compiler/passes/matchers.ts; intents in settings.ts).
  E0401: {
    severity: "error",
    doc: "invalid regex or regex flag",
    messages: {
      RegexFlag: { text: "unsupported regex flag '{flag}'", help: "the only flag is `i` (case-insensitive)" },
      InvalidRegex: { text: "invalid regex: {reason}", help: "regexes use JavaScript syntax; escape `/` as `\\/`" },
    },
  },
  E0402: {
    severity: "error",
    doc: "unknown match subject",
    messages: {
      UnknownSubject: { text: "unknown match subject '{subject}'", help: { didYouMean: DID_YOU_MEAN, known: "match on {subjects}" } },
    },
  },
  E0403: {
    severity: "error",
    doc: "an operator given the wrong kind of value (`exe == [...]`)",
    messages: {
      CompareTakesString: {
        text: "'{op}' takes a string; found {found}",
        help: { list: "to test membership write `{subject} in [...]`", regex: "to match a regex write `{subject} ~ /.../`" },
      },
      InTakesList: { text: '\'in\' takes a list of strings, e.g. ["pytest", "tox"]; found {found}' },
      MatchesTakesGlob: { text: "'matches' takes a glob string, e.g. \"py*\", or a list of them; found {found}" },
      TildeTakesRegex: {
        text: "'~' takes a regex, e.g. /-m pytest/; found {found}",
        help: { slashes: "write the regex between slashes: /{source}/" },
      },
      StringExpected: { text: "expected a string, found {found}", help: { quote: 'quote it: "{word}"' } },
      IntentBoundOperator: { text: "an intent bound on '{subject}' is written with '<='", help: "write `intent {subject} <= {example}`" },
      IntentRankForm: {
        text: "an intent bound on 'rank' names the highest rank an agent may ask for",
        help: "write `intent rank <= high`",
      },
      IntentClassForm: {
        text: "an intent bound on 'class' lists the classes an agent may ask for",
        help: "write `intent class in [build, background]`",
      },
    },
  },
  E0404: {
    severity: "error",
    doc: "an empty or malformed glob",
    messages: {
      EmptyGlob: { text: "empty glob matches only an empty value", help: 'use "*" to match anything' },
      UnclosedGlobClass: { text: "unclosed '[' in glob \"{glob}\"", help: "close the character class with `]`" },
    },
  },
  E0405: {
    severity: "error",
    doc: "an empty list after `in`/`matches`",
    messages: { EmptyList: { text: "empty list after '{op}' can never match", help: "list at least one value" } },
  },

  // Memory settings against each other (compiler/passes/memory.ts).
  E0501: {
    severity: "error",
    doc: "a baseline above the limit; an agent limit above its tenant's",
    messages: {
      AgentLimitAboveTenant: {
        text: "the agent limit ({limit}) is above tenant '{tenant}''s limit ({tenantLimit})",
        help: "lower it to at most {tenantLimit}",
      },
      BaselineAboveLimit: {
        text: "tool '{tool}': baseline {baseline} is above its limit {limit}",
        help: "the baseline (memory.high) must not exceed the hard limit (memory.max)",
        note: "limit set here",
      },
    },
  },
  E0502: {
    severity: "error",
    doc: "baseline + burst above the limit",
    messages: {
      BurstAboveLimit: {
        text: "tool '{tool}': baseline + burst ({total}) is above its limit {limit}",
        help: "lower the burst to at most {room}, or raise memory.limit to {total}",
        note: "limit set here",
      },
    },
  },
  E0503: {
    severity: "error",
    doc: "a guarantee above the limit (or `memory.min` above `memory.guarantee`)",
    messages: {
      TenantGuaranteeAboveLimit: {
        text: "the tenant's guarantee is above its limit ({low} > {high})",
        help: "lower 'memory.guarantee' to at most {high} or raise 'memory.limit'",
        note: "'memory.limit' is set here",
      },
      AgentGuaranteeAboveLimit: {
        text: "the agent's guarantee is above its limit ({low} > {high})",
        help: "lower 'memory.guarantee' to at most {high} or raise 'memory.limit'",
        note: "'memory.limit' is set here",
      },
      MinAboveGuarantee: {
        text: "tool '{tool}': memory.min is above memory.guarantee ({low} > {high})",
        help: "lower 'memory.min' to at most {high} or raise 'memory.guarantee'",
        note: "'memory.guarantee' is set here",
      },
      GuaranteeAboveUse: {
        text: "tool '{tool}': guarantee {guarantee} is above what it may use ({ceiling})",
        help: "a guarantee above the limit protects memory the call can never use",
      },
    },
  },
  E0504: {
    severity: "error",
    doc: "a throttle range written largest first",
    messages: { ReversedThrottle: { text: "throttle range is reversed", help: "write the smaller delay first: `throttle MIN..MAX`" } },
  },
  E0506: {
    severity: "error",
    doc: "a burst without a baseline",
    messages: {
      BurstWithoutBaseline: {
        text: "tool '{tool}' has a burst but no baseline to burst above",
        help: "add `memory.baseline = SIZE`: the burst is extra memory above it",
      },
    },
  },
  E0507: {
    severity: "error",
    doc: "an agent's `intent memory <= SIZE` above its own `memory.limit` (acgd also never gives a call more than its agent's limit)",
    messages: {
      IntentAboveAgentLimit: {
        text: "the intent bound on memory ({bound}) is above the agent's limit ({limit})",
        help: "lower it to at most {limit}: a tool call cannot use more than its agent",
        note: "the agent's limit is set here",
      },
    },
  },

  // The host budget (compiler/passes/budget.ts).
  E0601: {
    severity: "error",
    doc: "the guarantees oversubscribe the host's memory less its reserve",
    messages: {
      Oversubscribed: {
        text: "guarantees oversubscribe the host: {total} guaranteed, {budget} available ({memory} − {reserve} reserve)",
        help: "guaranteed: {parts}; lower them or raise the host memory",
      },
    },
  },
  E0602: {
    severity: "error",
    doc: "the host reserve is not smaller than its memory",
    messages: {
      ReserveTooLarge: {
        text: "the host reserve ({reserve}) leaves nothing of its {memory} for agents",
        help: "the reserve is memory kept for the system; make it smaller than `memory`",
      },
    },
  },
  E0603: {
    severity: "error",
    doc: "a tenant's agents are guaranteed more than the tenant",
    messages: {
      TenantOverGuaranteed: {
        text: "{count} agents × {guarantee} guaranteed ({total}) is more than tenant '{tenant}' is guaranteed ({tenantGuarantee})",
        help: "lower the agent guarantee to {fitGuarantee} or max_agents to {fitCount}",
      },
    },
  },
  E0604: {
    severity: "error",
    doc: "an agent guarantee without `max_agents`",
    messages: {
      GuaranteeWithoutMaxAgents: {
        text: "an agent guarantee needs max_agents to be checked against the host budget",
        help: "add `max_agents = N`: how many such agents may run at once",
      },
    },
  },

  // Pressure rules (compiler/passes/pressure.ts).
  E0701: {
    severity: "error",
    doc: "unknown pressure metric",
    messages: {
      UnknownMetric: { text: "unknown pressure metric '{metric}'", help: { didYouMean: DID_YOU_MEAN, known: "rules watch {metrics}" } },
    },
  },
  E0702: {
    severity: "error",
    doc: "a pressure rule with no action",
    messages: {
      PressureRuleEmpty: {
        text: "this pressure rule does nothing",
        help: "add `protect CLASS` or `throttle CLASS 200ms` inside the braces",
      },
    },
  },

  // Ladders (compiler/passes/ladder.ts).
  E0801: {
    severity: "error",
    doc: "two ladders watch the same domain",
    messages: { TwoLadders: { text: "two ladders watch {domain}", help: "merge their steps into one ladder", note: "first ladder here" } },
  },
  E0802: {
    severity: "error",
    doc: "a ladder with no step (`withdraw_burst`, `freeze`, `kill`, `kill_agent`)",
    messages: {
      LadderEmpty: { text: "this ladder does nothing", help: "add a step: `withdraw_burst = 70%`, `freeze = 80% for 10s` or `kill = 92%`" },
    },
  },
  E0803: {
    severity: "error",
    doc: "a ladder's watermarks do not climb (withdraw_burst < freeze < kill < kill_agent), or `release` is not below them",
    messages: {
      StepNotAbove: {
        text: "'{step}' ({value}%) must be above '{below}' ({belowValue}%)",
        help: "a ladder's steps climb: withdraw_burst < freeze < kill < kill_agent",
        note: "'{below}' is set here",
      },
      ReleaseNotBelow: {
        text: "'release' ({release}%) must be below the lowest step, '{step}' ({value}%)",
        help: "the ladder lets go below `release`; set it a few points under its first step",
        note: "'{step}' is set here",
      },
    },
  },
  E0804: {
    severity: "error",
    doc: "`kill_agent` in an `agent` ladder (its domain is one agent: there is no other agent to keep alive)",
    messages: {
      KillAgentInAgentLadder: {
        text: "'kill_agent' kills one agent to keep the others of its domain alive; an agent ladder's domain is a single agent",
        help: "move `kill_agent` to a `host` or `tenant` ladder, or use `kill` to kill this agent's calls",
      },
    },
  },

  W0101: {
    severity: "warning",
    doc: "a class no rule, intent or pressure rule uses",
    messages: { UnusedClass: { text: "class '{name}' is never used", help: "assign it to a tool rule with `class {name}`, or remove it" } },
  },
  W0401: {
    severity: "warning",
    doc:
      "a tool rule that can never match: earlier rules take every call it matches (including an " +
      'earlier always-true matcher: `path matches "*"`, `argv ~ /.*/`); in JSON, `related` gives ' +
      "the earlier rule's location",
    messages: {
      ShadowedRule: {
        text: "tool '{tool}' can never match: every call it matches is matched first by '{by}'",
        help: "first match wins: move this rule above the broader one, or narrow the earlier rule",
        note: "'{by}' is here",
      },
    },
  },
  W0402: {
    severity: "warning",
    doc: "a tool rule whose conditions contradict each other",
    messages: {
      ContradictoryRule: {
        text: "tool '{tool}' can never match: its conditions contradict each other",
        help: "a single-valued subject cannot equal two different values at once; did you mean `or`?",
      },
    },
  },
  W0403: {
    severity: "warning",
    doc: "`in` with a glob character, which `in` compares literally",
    messages: {
      GlobInList: {
        text: "'in' compares exactly, so \"{value}\" only matches those characters literally",
        help: 'to match a pattern write `{subject} matches "{value}"`',
      },
    },
  },
  W0405: {
    severity: "warning",
    doc: "a regex with nested quantifiers (exponential backtracking on crafted input)",
    messages: {
      NestedQuantifier: {
        text: "regex has a nested quantifier and may backtrack exponentially on crafted input",
        help: "rewrite it without repeating a repeated group, e.g. (ab)+ instead of (a+b?)+",
      },
    },
  },
  W0406: {
    severity: "warning",
    doc: "a `tenant` predicate names a tenant the policy does not define",
    messages: {
      NoSuchTenantInMatch: {
        text: "the policy has no tenant '{name}'",
        help: { didYouMean: DID_YOU_MEAN, known: "its tenants: {tenants}" },
      },
    },
  },
  W0501: {
    severity: "warning",
    doc: "a tool may use more memory than any agent's limit",
    messages: {
      ToolAboveAgentLimit: {
        text: "tool '{tool}' may use {size}, more than any agent's limit ({agentLimit})",
        help: "the agent's limit caps it first; lower the tool's numbers to what an agent can give",
      },
    },
  },
  W0602: {
    severity: "warning",
    doc: "a tool's `memory.limit` is above the host's memory less its reserve",
    messages: {
      ToolAboveHostBudget: {
        text: "tool '{tool}' may use {limit}, more than the host has for agents ({budget})",
        help: "a call this large would be stopped by the host's budget, not by its rule: lower the limit or raise the host memory",
      },
    },
  },
  W0801: {
    severity: "warning",
    doc: "a ladder's domain has no budget (a tenant or agent profile without `memory.limit`), or no tenant to watch",
    messages: {
      NoTenantsToWatch: { text: "this ladder watches tenants, but the policy has none", help: "watch `host` instead, or declare tenants" },
      TenantWithoutBudget: {
        text: "tenant '{tenant}' has no memory.limit, so this ladder has no budget to watch there",
        help: "give tenant '{tenant}' a `memory.limit`",
      },
      TenantAgentsWithoutBudget: {
        text: "tenant '{tenant}''s agents have no memory.limit, so this ladder has no budget to watch for them",
        help: NO_BUDGET_HELP,
      },
      AgentsWithoutBudget: { text: "agents have no memory.limit, so this ladder has no budget to watch for them", help: NO_BUDGET_HELP },
    },
  },
  W0802: {
    severity: "warning",
    doc: "a ladder may act on every rank, `high` included",
    messages: {
      LadderOnEveryRank: {
        text: "this ladder may act on every rank, high included",
        help: "leave `high` out so the highest-ranked agents are never frozen or killed by it",
      },
    },
  },
  N0401: {
    severity: "note",
    doc:
      "a note, never a failure: a rule's argv, tool, hint or tenant test (or a regex on " +
      "exe/path other than `/^literal$/`) is decided in user space, not by the kernel's exec " +
      "classifier (`acgc compile` lists those rules too)",
    messages: {
      RegexInUserSpace: {
        text: "tool '{tool}': its regex on {subject} is decided in user space, not by the kernel's exec classifier",
        help: USER_SPACE_HELP,
      },
      TestInUserSpace: {
        text: "tool '{tool}': its {subject} test is decided in user space, not by the kernel's exec classifier",
        help: USER_SPACE_HELP,
      },
    },
  },

  // The back end (compiler/compile.ts, compiler/build.ts): against the generated C, not the policy.
  E9001: {
    severity: "error",
    doc: "`acgc compile`: clang not found, or the one found does not run (exit status 2)",
    messages: {
      ClangNotFound: {
        text: "clang not found (tried $ACG_CLANG, clang-19, clang)",
        help: "run scripts/setup-system.sh (installs clang-19 and libbpf-dev), or set ACG_CLANG",
      },
      ClangDoesNotRun: {
        text: "clang at {path} does not run: {error}",
        help: "run scripts/setup-system.sh (installs clang-19), or set ACG_CLANG to a clang that runs",
      },
    },
  },
  E9002: {
    severity: "error",
    doc: "`acgc compile`: clang refused the generated C (its file, line and column; the full log is in `<obj>.clang.log`)",
    messages: {
      ClangError: { text: "{message}" },
      ClangFailed: { text: "clang failed on {file}: {output}" },
    },
  },
  W9002: {
    severity: "warning",
    doc: "`acgc compile`: a clang warning on the generated C that `-Werror` did not make an error",
    messages: { ClangWarning: { text: "{message}" } },
  },
  N9002: {
    severity: "note",
    doc: "`acgc compile`: clang's note on the error or warning before it",
    messages: { ClangNote: { text: "{message}" } },
  },
  E9003: {
    severity: "error",
    doc: "`acgc compile`: the policy exceeds a capacity compiled into the BPF programs (classes, rules, patterns, pressure rules)",
    messages: {
      OverCapacity: { text: 'policy "{policy}": {problem}', help: "split the policy or raise the capacity in compiler/abi.ts (CAPACITY)" },
    },
  },
});

// ---- The shape of the table, and what it gives the rest of the compiler ----

/** A message: its text, and its help and note where it has them. */
interface MessageSpec {
  readonly text: string;
  /** One help, or helps by name of which the report picks one (or none). */
  readonly help?: string | { readonly [variant: string]: string };
  /** The text at the diagnostic's second location; the report then gives that location. */
  readonly note?: string;
}

interface CodeSpec {
  readonly severity: Severity;
  /** The code's line in docs/diagnostics.md. */
  readonly doc: string;
  readonly messages: { readonly [key: string]: MessageSpec };
}

/** E codes are errors, W warnings, N notes: the letter a reader sees agrees with the severity. */
type SeverityOfCode<C> = C extends `E${string}` ? "error" : C extends `W${string}` ? "warning" : C extends `N${string}` ? "note" : never;

/** Keeps the literal types of the table (for typed arguments) and checks each code's letter against its severity. */
function defineTable<const T extends { readonly [C in keyof T]: CodeSpec & { readonly severity: SeverityOfCode<C> } }>(table: T): T {
  return table;
}

type Table = typeof TABLE;
export type Code = keyof Table;
type MessageKey = { [C in Code]: keyof Table[C]["messages"] & string }[Code];
type CodeOfKey<K> = { [C in Code]: K extends keyof Table[C]["messages"] ? C : never }[Code];
type SpecOfKey<K> = { [C in Code]: K extends keyof Table[C]["messages"] ? Table[C]["messages"][K] : never }[Code];

/** A message of the table with its code and severity, as passes report it. */
export type Message = MessageSpec & { readonly code: Code; readonly severity: Severity };

/** Every message by key: `M.UnknownClass`. */
export const M = flatten(TABLE) as {
  readonly [K in MessageKey]: SpecOfKey<K> & { readonly code: CodeOfKey<K>; readonly severity: Table[CodeOfKey<K>]["severity"] };
};

/** Every code with its severity and documentation line, in table order (docs/diagnostics.md is generated from it). */
export const CODES: readonly { code: Code; severity: Severity; doc: string }[] = (Object.keys(TABLE) as Code[]).map((code) => ({
  code,
  severity: TABLE[code].severity,
  doc: TABLE[code].doc,
}));

function flatten(table: { readonly [code: string]: CodeSpec }): Record<string, Message> {
  const out: Record<string, Message> = {};
  for (const [code, spec] of Object.entries(table)) {
    for (const [key, message] of Object.entries(spec.messages)) {
      // Keys are how passes name messages: one key under two codes would make one of them unreachable.
      if (key in out) throw new Error(`diagnostic-messages: message key ${key} is used under ${out[key]!.code} and ${code}`);
      out[key] = { ...message, code: code as Code, severity: spec.severity };
    }
  }
  return out;
}

// ---- Typed arguments: the placeholders of a message's templates ----

/** A placeholder: `{` name `}` with a name of letters, digits and `_` (the type-level Placeholders below agrees). */
export const PLACEHOLDER = /\{([A-Za-z0-9_]+)\}/g;

type Lower =
  | "a"
  | "b"
  | "c"
  | "d"
  | "e"
  | "f"
  | "g"
  | "h"
  | "i"
  | "j"
  | "k"
  | "l"
  | "m"
  | "n"
  | "o"
  | "p"
  | "q"
  | "r"
  | "s"
  | "t"
  | "u"
  | "v"
  | "w"
  | "x"
  | "y"
  | "z";
type NameChar = Lower | Uppercase<Lower> | "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "_";
type IsName<S extends string> = S extends `${NameChar}${infer Rest}` ? (Rest extends "" ? true : IsName<Rest>) : false;
/** The names of the placeholders in a template: scanning from each `{` as PLACEHOLDER does. */
type Placeholders<S extends string> = S extends `${string}{${infer Name}}${infer Rest}`
  ? IsName<Name> extends true
    ? Name | Placeholders<Rest>
    : Placeholders<`${Name}}${Rest}`>
  : never;

/** The arguments one template needs. */
type Vars<S> = S extends string ? { readonly [P in Placeholders<S>]: string | number } : unknown;
/** A single help's arguments; for helps by name, the chosen name (or none) with that help's arguments. */
type HelpVars<H> = H extends string
  ? Vars<H>
  : H extends { readonly [variant: string]: string }
    ? { [V in keyof H & string]: { readonly help: V } & Vars<H[V]> }[keyof H & string] | { readonly help?: undefined }
    : unknown;

/** What a report of message `D` passes: the arguments of its text, help and note. */
export type ArgsOf<D extends MessageSpec> = Vars<D["text"]> &
  (D extends { readonly help: infer H } ? HelpVars<H> : unknown) &
  (D extends { readonly note: infer N } ? Vars<N> : unknown);

/** The arguments after the span: none when the message takes none; the note's location after them when it has a note. */
export type ReportArgs<D extends MessageSpec> = D extends { readonly note: string }
  ? [args: ArgsOf<D>, noteAt: Span]
  : [keyof ArgsOf<D>] extends [never]
    ? []
    : [args: ArgsOf<D>];
