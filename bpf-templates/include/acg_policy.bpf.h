/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading the policy generation. Every program reads the active generation
 * once per invocation and uses only that entry of acg_policy, so a hot swap
 * (runtime writes the idle entry, then flips acg_gen) is never seen half-done.
 * Needs the acg_policy and acg_gen maps declared before inclusion.
 */
#ifndef ACG_POLICY_BPF_H
#define ACG_POLICY_BPF_H

static __always_inline const struct acg_policy *acg_policy_now(u32 *gen)
{
	struct acg_active_gen *active;
	u32 zero = 0, g;

	active = bpf_map_lookup_elem(&acg_gen, &zero);
	g = active ? active->gen : 0;
	if (g >= ACG_GENERATIONS)
		g = 0;
	*gen = g;
	return bpf_map_lookup_elem(&acg_policy, &g);
}

static __always_inline const struct acg_rule *acg_rule_at(const struct acg_policy *pol, u32 id)
{
	if (id >= pol->hdr.nr_rules || id >= ACG_MAX_RULES)
		return 0;
	return &pol->rules[id];
}

static __always_inline const struct acg_class *acg_class_at(const struct acg_policy *pol, u32 id)
{
	if (id >= pol->hdr.nr_classes || id >= ACG_MAX_CLASSES)
		return 0;
	return &pol->classes[id];
}

#endif /* ACG_POLICY_BPF_H */
