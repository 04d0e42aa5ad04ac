// The memory-hold ABI (acg_hold_domains, rank and domains per call) and the
// memcg_bpf_ops layout probe, on the host: encodings and refusals. The hold
// itself runs in the guest (test/kernel/hold.ts).
import { describe, expect, it } from "vitest";
import { CAPACITY, cgroupInfoStruct, holdDomainStruct, layoutOf } from "../../../compiler/abi.js";
import { HOLD_DEFAULTS, encodeCgroupValue, encodeHoldDomain } from "../../../compiler/abi-encode.js";
import { ACG_NONE } from "../../../compiler/decide.js";
import { memcgOpsLayout } from "../../../runtime/policy-objects.js";

const field = (l: ReturnType<typeof layoutOf>, name: string) => l.fields.find((f) => f.name === name)!;

describe("hold ABI", () => {
  it("writes a call's rank and hold domains into its acg_cgroups entry (default: normal, none)", () => {
    const l = layoutOf(cgroupInfoStruct);
    const v = encodeCgroupValue({ ruleId: 1, agentId: 2, rank: 2, holdDomains: [0, 3] });
    expect(v.readUInt8(field(l, "rank").offset)).toBe(2);
    expect(v.readUInt32LE(field(l, "hold_domains").offset)).toBe(0b1001);
    const d = encodeCgroupValue({ ruleId: 1, agentId: 2 });
    expect(d.readUInt8(field(l, "rank").offset)).toBe(1);
    expect(d.readUInt32LE(field(l, "hold_domains").offset)).toBe(0);
    // An agent's own leaf in a hold only: no rule (ACG_NONE), so the kernel takes it for no tool call.
    const own = encodeCgroupValue({ ruleId: null, agentId: 2, rank: 2, holdDomains: [1] });
    expect(own.readUInt32LE(field(l, "rule_id").offset)).toBe(ACG_NONE);
    expect(own.readUInt32LE(field(l, "hold_domains").offset)).toBe(0b10);
  });

  it("refuses a rank or domain out of range, naming it", () => {
    expect(() => encodeCgroupValue({ ruleId: 0, agentId: 0, rank: 3 })).toThrow(/rank 3 is not a rank/);
    expect(() => encodeCgroupValue({ ruleId: 0, agentId: 0, holdDomains: [CAPACITY.holdDomains] })).toThrow(
      /hold domain 8 is out of range/,
    );
  });

  it("encodes a hold domain with the documented defaults", () => {
    const l = layoutOf(holdDomainStruct);
    const v = encodeHoldDomain({ cgroupId: 42n, holdBytes: 64n << 20n, ranks: [1, 2] });
    expect(v.readBigUInt64LE(field(l, "cgroup_id").offset)).toBe(42n);
    expect(v.readBigUInt64LE(field(l, "hold_bytes").offset)).toBe(64n << 20n);
    expect(v.readUInt32LE(field(l, "rank_mask").offset)).toBe(0b110);
    expect(v.readBigUInt64LE(field(l, "hold_max_ns").offset)).toBe(HOLD_DEFAULTS.holdMaxNs);
    expect(v.readBigUInt64LE(field(l, "turn_ns").offset)).toBe(HOLD_DEFAULTS.turnNs);
    expect(v.readBigUInt64LE(field(l, "sample_ns").offset)).toBe(HOLD_DEFAULTS.sampleNs);
    expect(encodeHoldDomain(null).equals(Buffer.alloc(l.size))).toBe(true);
  });

  it("keeps the hold bound inside the sched_ext watchdog and the turn inside the bound", () => {
    expect(() => encodeHoldDomain({ cgroupId: 1, holdBytes: 1, ranks: [2], holdMaxNs: 5_000_000_000n })).toThrow(
      /holdMaxNs .*inside the sched_ext watchdog/,
    );
    expect(() => encodeHoldDomain({ cgroupId: 1, holdBytes: 1, ranks: [2], holdMaxNs: 10_000_000n, turnNs: 20_000_000n })).toThrow(
      /turnNs/,
    );
    expect(() => encodeHoldDomain({ cgroupId: 0, holdBytes: 1, ranks: [2] })).toThrow(/needs a cgroup id/);
    expect(() => encodeHoldDomain({ cgroupId: 1, holdBytes: 1, ranks: [5] })).toThrow(/held rank 5/);
  });
});

describe("memcg_bpf_ops layout probe (synthetic BTF descriptions)", () => {
  const v6 = [
    { name: "handle_cgroup_online", params: 1 },
    { name: "handle_cgroup_offline", params: 1 },
    { name: "below_low", params: 1 },
    { name: "below_min", params: 1 },
    { name: "get_high_delay_ms", params: 1 },
  ];
  const v7 = [
    { name: "handle_cgroup_online", params: 1 },
    { name: "handle_cgroup_offline", params: 1 },
    { name: "below_low", params: 3 },
    { name: "below_min", params: 3 },
    { name: "memcg_charged", params: 2 },
    { name: "memcg_uncharged", params: 2 },
  ];

  it("chooses v6 and v7 by their members and callback arities", () => {
    expect(memcgOpsLayout(v6)).toEqual({ layout: "v6" });
    expect(memcgOpsLayout(v7)).toEqual({ layout: "v7" });
  });

  it("refuses a kernel without the struct, and one of neither layout, saying which members it saw", () => {
    expect(memcgOpsLayout(null)).toEqual({ layout: null, reason: "kernel lacks memcg_bpf_ops" });
    // v7's charge hooks with v6's one-argument below_low: neither layout.
    const mixed = [...v7.filter((m) => !m.name.startsWith("below_")), { name: "below_low", params: 1 }, { name: "below_min", params: 1 }];
    const r = memcgOpsLayout(mixed);
    expect(r.layout).toBeNull();
    expect(r.layout === null && r.reason).toMatch(/neither RFC layout .*below_low\/1/);
    expect(memcgOpsLayout([{ name: "flags", params: null }]).layout).toBeNull();
  });
});
