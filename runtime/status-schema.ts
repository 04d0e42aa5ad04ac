// The schema of acgd's `status` result (`acgc status --json`), as JSON
// Schema (draft-07), checked with ajv: by the host tests against a real
// daemon, and by `acgc status --json`, which warns when an acgd answers in
// another shape. A change that removes or retypes a field raises
// STATUS_SCHEMA_VERSION; adding a field does not. docs/observability.md
// describes the fields.

export const STATUS_SCHEMA_VERSION = 1;

const bytesOrNull = { type: ["integer", "null"], minimum: 0 } as const;
const strings = { type: "array", items: { type: "string" } } as const;
const stringMap = { type: "object", additionalProperties: { type: "string" } } as const;

export const STATUS_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "agentcgroup/status/v1",
  title: "acgd status",
  type: "object",
  required: [
    "schemaVersion",
    "policy",
    "cgroupRoot",
    "cgroupfs",
    "controllers",
    "enforcement",
    "kernel",
    "unenforcedKnobs",
    "agents",
    "calls",
  ],
  properties: {
    schemaVersion: { const: STATUS_SCHEMA_VERSION },
    policy: {
      type: "object",
      required: ["name", "sourceHash"],
      properties: { name: { type: "string" }, sourceHash: { type: "string", pattern: "^[0-9a-f]{64}$" } },
    },
    cgroupRoot: { type: "string", description: "the agent cgroup tree's root directory" },
    cgroupfs: { type: "boolean", description: "true on a real cgroup v2 file system, false on a stand-in directory" },
    controllers: { ...strings, description: "controllers enabled below the root (memory, cpu, pids)" },
    enforcement: { ...stringMap, description: "mechanism (memory, cpu, pressure, classifier, ...) → what enforces it on this kernel" },
    kernel: {
      oneOf: [
        {
          type: "object",
          required: ["schedExt", "memcgBpfOps", "btf"],
          properties: { schedExt: { type: "boolean" }, memcgBpfOps: { type: "boolean" }, btf: { type: "boolean" } },
        },
        { type: "string", description: "why the kernel's features are unknown" },
      ],
    },
    unenforcedKnobs: { ...stringMap, description: "cgroup file → why it cannot be written here" },
    ladders: {
      type: "array",
      description: "each memory domain a pressure ladder watches: its budget, its usage now and the step engaged",
      items: {
        type: "object",
        required: ["key", "budgetBytes", "usageBytes", "step", "capped"],
        properties: {
          key: { type: "string", description: "host, tenant NAME or agent TENANT/AGENT" },
          budgetBytes: { type: "integer", minimum: 0 },
          usageBytes: bytesOrNull,
          step: { enum: ["idle", "burst withdrawn", "freeze"] },
          capped: { type: "integer", minimum: 0, description: "calls whose memory.high the ladder capped" },
        },
      },
    },
    agents: {
      type: "array",
      items: {
        type: "object",
        required: ["agent", "profile", "calls"],
        properties: {
          agent: { type: "string" },
          profile: { type: "integer" },
          calls: { type: "integer", minimum: 0 },
          spares: { type: "integer", minimum: 0, description: "empty call cgroups made ahead of time for its next calls" },
        },
      },
    },
    calls: {
      type: "array",
      items: {
        type: "object",
        required: ["call", "agent", "cgroup", "rule", "class", "limits", "intentLog", "events"],
        properties: {
          call: { type: "string" },
          agent: { type: "string", description: "tenant/agent" },
          cgroup: { type: "string" },
          rule: { type: "string" },
          class: { type: "string" },
          limits: {
            type: "object",
            required: ["baselineBytes", "limitBytes", "lowBytes", "minBytes", "cpuWeight"],
            properties: {
              baselineBytes: bytesOrNull,
              limitBytes: bytesOrNull,
              lowBytes: { type: "integer" },
              minBytes: { type: "integer" },
              cpuWeight: { type: "integer" },
            },
          },
          intentLog: strings,
          events: { ...strings, description: "the call's enforcement decisions so far, in order" },
        },
      },
    },
  },
} as const;

/** What is wrong with a status result against this schema: empty when it conforms. */
export async function statusProblems(status: unknown): Promise<string[]> {
  // Loaded here, not at startup: acgd imports this file for the version only.
  const { Ajv } = await import("ajv");
  const validator = new Ajv({ allErrors: true }).compile(STATUS_SCHEMA);
  if (validator(status)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || "(top)"} ${e.message ?? "is invalid"}`);
}
