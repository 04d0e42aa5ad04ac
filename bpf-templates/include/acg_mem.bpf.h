/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Burst clocks of tool-call cgroups, shared by the scheduler (which demotes a
 * throttled tool call) and the memcg hooks (which delay it). Needs the
 * acg_cgroups and acg_memstate maps declared before inclusion.
 */
#ifndef ACG_MEM_BPF_H
#define ACG_MEM_BPF_H

#include "acg_policy.bpf.h"

struct acg_tool_call {
	const struct acg_cgroup_info *info;
	const struct acg_rule *rule;
	u64 baseline;
};

/* A task's cgroup, and the acg_cgroups entry of the tool call running in it (NULL in any other cgroup). */
struct acg_task_cgroup {
	u64 id;
	const struct acg_cgroup_info *call;
};

/* Looked up once per scheduler callback, for placement and acg_hold_may_apply(). */
static __always_inline struct acg_task_cgroup acg_cgroup_at(u64 cgid)
{
	struct acg_task_cgroup cg = { .id = cgid };

	cg.call = bpf_map_lookup_elem(&acg_cgroups, &cg.id);
	return cg;
}

static __always_inline struct acg_task_cgroup acg_task_cgroup_of(struct task_struct *p)
{
	return acg_cgroup_at(acg_task_cgroup_id(p));
}

/* The tool call whose acg_cgroups entry is `info` (NULL: none), under `pol`; false if there is none. */
static __always_inline bool acg_tool_call_at(const struct acg_policy *pol, const struct acg_cgroup_info *info,
					     struct acg_tool_call *tc)
{
	tc->info = info;
	if (!tc->info)
		return false;
	tc->rule = acg_rule_at(pol, tc->info->rule_id);
	if (!tc->rule)
		return false;
	tc->baseline = tc->info->baseline_bytes ? tc->info->baseline_bytes : tc->rule->baseline_bytes;
	return true;
}

/* The tool call running in cgroup `cgid` under `pol`, or false for any other cgroup. */
static __always_inline bool acg_tool_call_of(const struct acg_policy *pol, u64 cgid, struct acg_tool_call *tc)
{
	return acg_tool_call_at(pol, bpf_map_lookup_elem(&acg_cgroups, &cgid), tc);
}

static __always_inline void acg_burst_params_of(const struct acg_rule *rule, struct acg_burst_params *bp)
{
	bp->duration_ns = rule->burst_duration_ns;
	bp->refill_ns = rule->burst_refill_ns;
	bp->mode = rule->burst_mode;
}

/* The cgroup's burst clock, created full on first sight. */
static __always_inline struct acg_mem_state *acg_mem_state_of(u64 cgid, const struct acg_rule *rule, u32 gen, u64 now)
{
	struct acg_mem_state *ms, fresh = {};
	struct acg_burst_params bp;
	struct acg_burst_clock clock;

	ms = bpf_map_lookup_elem(&acg_memstate, &cgid);
	if (ms)
		return ms;
	acg_burst_params_of(rule, &bp);
	acg_burst_init(&clock, &bp, now);
	fresh.credit_ns = clock.credit_ns;
	fresh.updated_ns = clock.updated_ns;
	fresh.generation = gen;
	bpf_map_update_elem(&acg_memstate, &cgid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&acg_memstate, &cgid);
}

static __always_inline struct acg_burst_clock acg_mem_clock(const struct acg_mem_state *ms)
{
	struct acg_burst_clock clock = {
		.credit_ns = ms->credit_ns,
		.updated_ns = ms->updated_ns,
		.over_since_ns = ms->over_since_ns,
		.exhausted_at_ns = ms->exhausted_at_ns,
	};

	return clock;
}

/* Advance the burst clock with a usage sample; returns the verdict (enum acg_mem_verdict). */
static __always_inline u32 acg_mem_advance(struct acg_mem_state *ms, const struct acg_tool_call *tc, u32 gen, u64 now,
					   u64 usage)
{
	struct acg_burst_params bp;
	struct acg_burst_clock clock = acg_mem_clock(ms);
	u32 verdict;

	acg_burst_params_of(tc->rule, &bp);
	verdict = acg_burst_update(&clock, &bp, now, usage, tc->baseline, tc->rule->burst_bytes);
	ms->credit_ns = clock.credit_ns;
	ms->updated_ns = clock.updated_ns;
	ms->over_since_ns = clock.over_since_ns;
	ms->exhausted_at_ns = clock.exhausted_at_ns;
	ms->usage_bytes = usage;
	ms->verdict = verdict;
	ms->generation = gen;
	return verdict;
}

#endif /* ACG_MEM_BPF_H */
