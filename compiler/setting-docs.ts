// One line of documentation per setting of each block, for the language
// server's hover and completion (docs/language.md says the same at length;
// keep the two in step). Every key of settings.ts's SCHEMAS has an entry: a
// host test checks it.

export const SETTING_DOCS: Record<string, Record<string, string>> = {
  host: {
    memory: "The host's memory the policy may hand out (size). The budget check adds up guarantees against it.",
    reserve: "Memory kept back for the host itself: guarantees must fit in memory - reserve.",
  },
  class: {
    priority: "Scheduling level: high, normal or low. A higher level runs first; a starved lower level gets a short turn.",
    "cpu.weight": "CPU share within a level, 1..10000 (100 = neutral), as cgroup v2 cpu.weight.",
    latency: "Scheduling slice, the class's latency target (100us..1s).",
  },
  tenant: {
    "memory.guarantee": "Memory protected for the tenant's agents (memory.low of the tenant cgroup).",
    "memory.limit": "Hard memory limit of all the tenant's agents together (memory.max).",
    "cpu.weight": "The tenant's CPU share against other tenants (cpu.weight, 1..10000).",
    rank: "high, normal or low: the highest rank the tenant's agents have (memory actions and the OOM killer reach lower ranks first).",
  },
  agent: {
    "memory.guarantee": "Memory protected for each agent (memory.low of the agent cgroup).",
    "memory.limit": "Hard memory limit of each agent and all its tool calls (memory.max).",
    "cpu.weight": "Each agent's CPU share (cpu.weight, 1..10000).",
    max_agents: "Most agents of this profile at once; more are refused.",
    max_calls: "Most running tool calls of each such agent (default 64); more are refused.",
    "intent.excess": "What happens to a request above an intent bound: clamp (to the bound) or refuse (the call).",
    rank:
      "high, normal or low (default: the tenant's, else normal): the order in which ladders, " +
      "pressure throttles and the OOM killer reach the agents' calls.",
  },
  tool: {
    "memory.baseline": "memory.high while calm: usage above it bursts (with burst credit) or is throttled.",
    "memory.limit": "Hard limit of the tool call (memory.max): above it the OOM killer ends it.",
    "memory.guarantee": "Best-effort protection of the call's memory (memory.low).",
    "memory.min": "Hard protection of the call's memory (memory.min).",
    "memory.burst": "SIZE for DURATION, refill D | cooldown D: extra memory above the baseline while burst credit lasts.",
  },
  ladder: {
    ranks: "[low, normal]: the agents' ranks the ladder acts on, lowest first (default [low, normal]).",
    withdraw_burst: "P%: at this share of the domain's budget, the calls of those ranks lose their burst headroom.",
    freeze: "P% [for D]: their growth is frozen (one burst at a time proceeds); a freeze lasting D kills the lowest-ranked, youngest call.",
    kill:
      "P%: kill the lowest-ranked, youngest call (cgroup.kill) until usage is below P, before the kernel must; " +
      "a call too small to bring usage under the freeze mark is passed over for one that can.",
    kill_agent:
      "P% (opt-in, host or tenant ladders): kill a whole agent of those ranks, its own processes too: the lowest-ranked, " +
      "then the largest, until usage is below P. The last step before the kernel's OOM killer.",
    release: "P%: below it, everything the ladder did is undone, highest rank first (default: 10 points below the lowest step).",
  },
};

/** Statements other than `key = value` that a block accepts, with their docs. */
export const STATEMENT_DOCS: Record<string, Record<string, string>> = {
  tool: {
    match: "match EXPR: which calls this rule takes (tool, exe, path, argv, hint); first match wins.",
    class: "class NAME: the scheduling class of the rule's calls.",
    over_high: "over_high throttle MIN..MAX ramp D[, kill after D]: what happens over the baseline without burst credit.",
  },
  agent: {
    intent: "intent memory <= SIZE | intent class in [..] | intent cpu.weight <= N: what agents may ask for.",
    class:
      "class NAME: the scheduling class of the agents' own processes (their model loop, not their tool calls); " +
      "without it they run in the default rule's class.",
  },
};
