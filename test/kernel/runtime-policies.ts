// Policies of the runtime's guest tests (test/kernel/runtime.sh), and the
// compiled variants acgd's scheduler path is tested with.

export const GUEST_POLICY = `version 1
policy guest_runtime {
  host { memory = 1GiB; reserve = 64MiB }
  class interactive { priority = high; cpu.weight = 400; latency = 2ms }
  class build { priority = normal; cpu.weight = 100 }
  class background { priority = low; cpu.weight = 25 }
  agent {
    class interactive
    max_agents = 8
    memory.limit = 256MiB
    cpu.weight = 200
    intent memory <= 24MiB
    intent class in [build, background]
  }
  tool bursty {
    match exe == "acg-alloc" and hint == "burst"
    class build
    memory.baseline = 8MiB
    memory.limit = 48MiB
    memory.burst = 8MiB for 20s, cooldown 60s
    over_high throttle 50ms..2s ramp 2s
  }
  tool oomy {
    match hint == "oom"
    class build
    memory.baseline = 12MiB
    memory.limit = 12MiB
  }
  tool killy {
    match exe == "acg-alloc" and hint == "kill"
    class build
    memory.baseline = 8MiB
    memory.limit = 48MiB
    over_high throttle 10ms..100ms ramp 1s, kill after 2s
  }
  tool vcs {
    match exe == "git" or tool == "Read"
    class interactive
    memory.baseline = 8MiB
    memory.limit = 16MiB
    memory.guarantee = 1MiB
  }
  tool default {
    class background
    memory.baseline = 16MiB
    memory.limit = 32MiB
  }
  when memory.pressure(agent) > 20% for 1s { protect interactive; throttle background 100ms }
}
`;

/** Same code shape, other data (class weights): swapped in place. */
export const GUEST_POLICY_DATA_CHANGE = GUEST_POLICY.replace("policy guest_runtime {", "policy guest_runtime_v2 {").replace(
  "cpu.weight = 400; latency = 2ms",
  "cpu.weight = 300; latency = 2ms",
);

/** v2 with a rule for another exe, first: the same scheduler code, a new exec classifier program. */
export const GUEST_POLICY_MATCHER_CHANGE = GUEST_POLICY_DATA_CHANGE.replace(
  "policy guest_runtime_v2 {",
  "policy guest_runtime_v2m {",
).replace(
  "  tool bursty {",
  '  tool hg {\n    match exe == "hg"\n    class interactive\n    memory.baseline = 8MiB\n    memory.limit = 20MiB\n  }\n  tool bursty {',
);

/** Another code shape (no memory baselines: no memory demotion code): objects replaced. */
export const GUEST_POLICY_SHAPE_CHANGE = `version 1
policy guest_runtime_v3 {
  host { memory = 1GiB; reserve = 64MiB }
  class interactive { priority = high; cpu.weight = 400; latency = 2ms }
  class background { priority = low; cpu.weight = 25 }
  agent { class interactive; max_agents = 8; memory.limit = 256MiB }
  tool vcs { match exe == "git" or tool == "Read"; class interactive; memory.limit = 16MiB }
  tool default { class background; memory.limit = 32MiB }
}
`;

/** The pressure ladder's guest policy (test/kernel/ladder-guest.ts), as text and compiled by runtime-prepare.ts. */
export const LADDER_POLICY = `version 1
policy ladder_guest {
  host { memory = 1GiB }
  class interactive { priority = high }
  class background { priority = low }
  agent { max_agents = 8; intent rank <= high }
  tool hog { match exe == "acg-alloc"; class background; memory.baseline = 4MiB; memory.burst = 64MiB for 60s }
  tool default { class background }
  ladder host {
    ranks = [low, normal]
    withdraw_burst = 50%
    freeze = 60% for 60s
    kill = 80%
    release = 30%
  }
}
`;

/**
 * The ladder compiled for the scheduler's hold (test/kernel/runtime-prepare.ts): with a kill_agent step,
 * so that agents' own leaves are in its brake; its tests stay below that mark.
 */
export const HELD_LADDER_POLICY = LADDER_POLICY.replace("kill = 80%", "kill = 80%\n    kill_agent = 90%");
