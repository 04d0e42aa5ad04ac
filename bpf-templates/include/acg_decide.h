/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AgentCgroup's decision logic: pure integer functions shared by the BPF
 * programs and the host test binary, and mirrored by compiler/decide.ts (the
 * cgroup-v2 fallback). No kernel types and no helpers here, so that the same
 * source runs in the kernel, under gcc, and is checked against the TypeScript
 * model on random vectors (test/decide).
 *
 * Time is in nanoseconds on one monotonic clock; 0 means "never".
 */
#ifndef ACG_DECIDE_H
#define ACG_DECIDE_H

#define ACG_INLINE static inline __attribute__((always_inline))

typedef unsigned long long acg_u64;
typedef long long acg_s64;
typedef unsigned int acg_u32;

/* "No id": no rule, no class override, undecided exec. */
#define ACG_NONE 0xffffffffu
/* A byte count that means "no bound". */
#define ACG_UNLIMITED 0xffffffffffffffffull

#define ACG_LEVELS 3
#define ACG_LEVEL_LOWEST (ACG_LEVELS - 1)
/* cpu.weight that charges virtual time 1:1. */
#define ACG_WEIGHT_NEUTRAL 100
/* Longest run charged at once; a longer one is a clock glitch, not work. */
#define ACG_MAX_CHARGE_NS (1ull << 40)

/*
 * x * num / den for num <= den, without overflowing 64 bits. While den needs
 * more than 32 bits both num and den lose low bits (a deterministic rounding
 * the TypeScript model repeats); then x = q*den + r gives the exact floor
 * q*num + r*num/den with every product below 2^64.
 */
ACG_INLINE acg_u64 acg_scale(acg_u64 x, acg_u64 num, acg_u64 den)
{
	int i;

	for (i = 0; i < 32 && den > 0xffffffffull; i++) {
		num >>= 1;
		den >>= 1;
	}
	if (den == 0 || num >= den)
		return x;
	return (x / den) * num + ((x % den) * num) / den;
}

/* ---- burst credit and throttling ---------------------------------------- */

enum acg_burst_mode {
	ACG_BURST_NONE = 0,
	/* credit comes back linearly while at or below the baseline */
	ACG_BURST_REFILL = 1,
	/* once spent, nothing until refill_ns has passed, then all of it */
	ACG_BURST_COOLDOWN = 2,
};

enum acg_mem_verdict {
	ACG_MEM_CALM = 0,      /* at or below the baseline */
	ACG_MEM_BURSTING = 1,  /* over the baseline, paid from burst credit */
	ACG_MEM_THROTTLED = 2, /* over the baseline with no credit, or over baseline + burst */
};

struct acg_burst_params {
	acg_u64 duration_ns;
	acg_u64 refill_ns;
	acg_u32 mode;
};

struct acg_burst_clock {
	acg_u64 credit_ns;
	acg_u64 updated_ns;
	/* start of the current continuous overage, 0 while calm */
	acg_u64 over_since_ns;
	/* when the credit last ran out, 0 while some is left */
	acg_u64 exhausted_at_ns;
};

ACG_INLINE void acg_burst_init(struct acg_burst_clock *c, const struct acg_burst_params *bp, acg_u64 now)
{
	c->credit_ns = bp->mode == ACG_BURST_NONE ? 0 : bp->duration_ns;
	c->updated_ns = now;
	c->over_since_ns = 0;
	c->exhausted_at_ns = 0;
}

/*
 * Advance the clock to `now` given the usage sampled now. The interval since
 * the last update is charged in the state recorded then (over or calm): the
 * samples are all we know.
 */
ACG_INLINE acg_u32 acg_burst_update(struct acg_burst_clock *c, const struct acg_burst_params *bp, acg_u64 now,
				    acg_u64 usage, acg_u64 baseline, acg_u64 burst_bytes)
{
	acg_u64 elapsed, ceiling;
	int over = usage > baseline;

	if (now < c->updated_ns)
		now = c->updated_ns;
	elapsed = now - c->updated_ns;
	c->updated_ns = now;

	if (bp->mode == ACG_BURST_NONE) {
		c->credit_ns = 0;
	} else if (c->over_since_ns) {
		c->credit_ns = c->credit_ns > elapsed ? c->credit_ns - elapsed : 0;
		if (c->credit_ns == 0 && c->exhausted_at_ns == 0)
			c->exhausted_at_ns = now;
	} else if (bp->mode == ACG_BURST_REFILL) {
		acg_u64 gain =
			elapsed >= bp->refill_ns ? bp->duration_ns : acg_scale(bp->duration_ns, elapsed, bp->refill_ns);
		acg_u64 room = bp->duration_ns - (c->credit_ns < bp->duration_ns ? c->credit_ns : bp->duration_ns);

		c->credit_ns += gain < room ? gain : room;
	}
	if (bp->mode == ACG_BURST_COOLDOWN && c->credit_ns == 0 && c->exhausted_at_ns &&
	    now - c->exhausted_at_ns >= bp->refill_ns)
		c->credit_ns = bp->duration_ns;
	if (c->credit_ns)
		c->exhausted_at_ns = 0;

	if (!over) {
		c->over_since_ns = 0;
		return ACG_MEM_CALM;
	}
	if (c->over_since_ns == 0)
		c->over_since_ns = now;
	if (c->credit_ns == 0 && c->exhausted_at_ns == 0)
		c->exhausted_at_ns = now;
	ceiling = baseline + burst_bytes < baseline ? ACG_UNLIMITED : baseline + burst_bytes;
	if (usage > ceiling || c->credit_ns == 0)
		return ACG_MEM_THROTTLED;
	return ACG_MEM_BURSTING;
}

/*
 * memory.high delay for a throttled tool call: min_ms when throttling starts,
 * max_ms after ramp_ns of it. Throttling starts when the credit ran out, or
 * with the overage itself when usage went past baseline + burst.
 */
ACG_INLINE acg_u32 acg_throttle_delay_ms(const struct acg_burst_clock *c, acg_u32 verdict, acg_u64 now, acg_u32 min_ms,
					 acg_u32 max_ms, acg_u64 ramp_ns)
{
	acg_u64 since, t;

	if (verdict != ACG_MEM_THROTTLED)
		return 0;
	if (max_ms < min_ms)
		max_ms = min_ms;
	since = c->exhausted_at_ns > c->over_since_ns ? c->exhausted_at_ns : c->over_since_ns;
	t = now > since ? now - since : 0;
	if (ramp_ns == 0 || t >= ramp_ns)
		return max_ms;
	return min_ms + (acg_u32)acg_scale(max_ms - min_ms, t, ramp_ns);
}

/* A tool call over its baseline with its burst spent runs at the lowest level. */
ACG_INLINE int acg_mem_demotes(acg_u32 verdict)
{
	return verdict == ACG_MEM_THROTTLED;
}

/* ---- classes, levels, virtual time -------------------------------------- */

/* A task's rule: its tool-call cgroup's, else its exec classification, else the default. */
ACG_INLINE acg_u32 acg_choose_rule(acg_u32 cgroup_rule, acg_u32 exec_rule, acg_u32 default_rule, acg_u32 nr_rules)
{
	if (cgroup_rule < nr_rules)
		return cgroup_rule;
	if (exec_rule < nr_rules)
		return exec_rule;
	return default_rule;
}

/* An agent's granted class request overrides the rule's class. */
ACG_INLINE acg_u32 acg_choose_class(acg_u32 rule_class, acg_u32 override_class, acg_u32 nr_classes)
{
	if (override_class < nr_classes)
		return override_class;
	return rule_class < nr_classes ? rule_class : 0;
}

ACG_INLINE acg_u32 acg_effective_level(acg_u32 priority, int demoted)
{
	if (demoted || priority > ACG_LEVEL_LOWEST)
		return ACG_LEVEL_LOWEST;
	return priority;
}

/* Virtual time for used_ns of CPU at cpu.weight `weight` (1..10000). */
ACG_INLINE acg_u64 acg_vtime_charge(acg_u64 used_ns, acg_u32 weight)
{
	if (used_ns > ACG_MAX_CHARGE_NS)
		used_ns = ACG_MAX_CHARGE_NS;
	if (weight == 0)
		weight = 1;
	return used_ns * ACG_WEIGHT_NEUTRAL / weight;
}

/* Virtual clocks wrap; compare them by signed distance. */
ACG_INLINE int acg_vtime_before(acg_u64 a, acg_u64 b)
{
	return (acg_s64)(a - b) < 0;
}

/*
 * A sleeper comes back at most lag_ns of virtual time behind the clock it
 * rejoins, so an idle period banks bounded credit, not a monopoly.
 */
ACG_INLINE acg_u64 acg_vtime_floor(acg_u64 vtime, acg_u64 clock, acg_u64 lag_ns)
{
	if (acg_vtime_before(vtime + lag_ns, clock))
		return clock - lag_ns;
	return vtime;
}

/* What dispatch knows of one class queue. */
struct acg_queue_view {
	acg_u32 level;
	acg_u32 nonempty;
	acg_u64 vtime;
	/* since when it has work and has not been served, 0 when unknown */
	acg_u64 waiting_since_ns;
};

ACG_INLINE int acg_queue_starved(const struct acg_queue_view *q, acg_u64 now, acg_u64 bound_ns)
{
	return q->nonempty && q->waiting_since_ns && now > q->waiting_since_ns && now - q->waiting_since_ns > bound_ns;
}

/*
 * Does queue a go before queue b? Starved queues first (longest waiting
 * first), so no level starves past the bound; then strict level order; then
 * the smaller class virtual time, which shares a level by cpu weight.
 */
ACG_INLINE int acg_queue_before(const struct acg_queue_view *a, const struct acg_queue_view *b, acg_u64 now,
				acg_u64 bound_ns)
{
	int sa, sb;

	if (!a->nonempty)
		return 0;
	if (!b->nonempty)
		return 1;
	sa = acg_queue_starved(a, now, bound_ns);
	sb = acg_queue_starved(b, now, bound_ns);
	if (sa != sb)
		return sa;
	if (sa)
		return a->waiting_since_ns < b->waiting_since_ns;
	if (a->level != b->level)
		return a->level < b->level;
	return acg_vtime_before(a->vtime, b->vtime);
}

/* ---- exec classification ------------------------------------------------ */

/* Kleene truth values. */
enum acg_tri {
	ACG_FALSE = 0,
	ACG_TRUE = 1,
	ACG_UNKNOWN = 2,
};

/* Postfix matcher ops (acg_kop.op). */
enum acg_kop_code {
	ACG_KOP_TRUE = 0,
	ACG_KOP_UNKNOWN = 1,
	ACG_KOP_PATTERN = 2,
	ACG_KOP_AND = 3,
	ACG_KOP_OR = 4,
	ACG_KOP_NOT = 5,
};

/* Evaluation stack: 2 bits per value, so 32 values in one register. */
#define ACG_KLEENE_DEPTH 32

struct acg_kleene {
	acg_u64 bits;
	acg_u32 depth;
	acg_u32 broken;
};

ACG_INLINE acg_u32 acg_tri_and(acg_u32 a, acg_u32 b)
{
	if (a == ACG_FALSE || b == ACG_FALSE)
		return ACG_FALSE;
	return a == ACG_TRUE && b == ACG_TRUE ? ACG_TRUE : ACG_UNKNOWN;
}

ACG_INLINE acg_u32 acg_tri_or(acg_u32 a, acg_u32 b)
{
	if (a == ACG_TRUE || b == ACG_TRUE)
		return ACG_TRUE;
	return a == ACG_FALSE && b == ACG_FALSE ? ACG_FALSE : ACG_UNKNOWN;
}

ACG_INLINE acg_u32 acg_tri_not(acg_u32 a)
{
	return a == ACG_UNKNOWN ? ACG_UNKNOWN : (a == ACG_TRUE ? ACG_FALSE : ACG_TRUE);
}

ACG_INLINE void acg_kleene_push(struct acg_kleene *k, acg_u32 v)
{
	if (k->depth >= ACG_KLEENE_DEPTH) {
		k->broken = 1;
		return;
	}
	k->bits &= ~(3ull << (2 * k->depth));
	k->bits |= (acg_u64)(v & 3) << (2 * k->depth);
	k->depth++;
}

ACG_INLINE acg_u32 acg_kleene_pop(struct acg_kleene *k)
{
	if (k->depth == 0) {
		k->broken = 1;
		return ACG_UNKNOWN;
	}
	k->depth--;
	return (k->bits >> (2 * k->depth)) & 3;
}

/* One postfix op; pattern_hit is the truth of the referenced pattern (for ACG_KOP_PATTERN). */
ACG_INLINE void acg_kleene_step(struct acg_kleene *k, acg_u32 op, acg_u32 pattern_hit)
{
	acg_u32 a, b;

	switch (op) {
	case ACG_KOP_TRUE:
		acg_kleene_push(k, ACG_TRUE);
		break;
	case ACG_KOP_UNKNOWN:
		acg_kleene_push(k, ACG_UNKNOWN);
		break;
	case ACG_KOP_PATTERN:
		acg_kleene_push(k, pattern_hit ? ACG_TRUE : ACG_FALSE);
		break;
	case ACG_KOP_AND:
		b = acg_kleene_pop(k);
		a = acg_kleene_pop(k);
		acg_kleene_push(k, acg_tri_and(a, b));
		break;
	case ACG_KOP_OR:
		b = acg_kleene_pop(k);
		a = acg_kleene_pop(k);
		acg_kleene_push(k, acg_tri_or(a, b));
		break;
	case ACG_KOP_NOT:
		acg_kleene_push(k, acg_tri_not(acg_kleene_pop(k)));
		break;
	default:
		k->broken = 1;
	}
}

/* A malformed program decides nothing: user space gets the exec. */
ACG_INLINE acg_u32 acg_kleene_result(const struct acg_kleene *k)
{
	if (k->broken || k->depth != 1)
		return ACG_UNKNOWN;
	return k->bits & 3;
}

/*
 * Glob matching (`*` any run, `?` one byte; exact patterns take both
 * literally), one step at a time so that the kernel can drive it from
 * bpf_loop(). Greedy with one backtrack point: at most
 * (len(str) + 1) * (len(pat) + 1) steps. The includer defines the buffer
 * capacities ACG_PATTERN_LEN and ACG_PATH_LEN (powers of two); indexes are
 * masked with them so the verifier sees every access in bounds.
 */
#if !defined(ACG_PATTERN_LEN) || !defined(ACG_PATH_LEN)
#error "define ACG_PATTERN_LEN and ACG_PATH_LEN before including acg_decide.h"
#endif

enum acg_glob_state {
	ACG_GLOB_RUNNING = 0,
	ACG_GLOB_MATCH = 1,
	ACG_GLOB_MISMATCH = 2,
};

struct acg_glob {
	acg_u32 s, p;
	/* pattern index after the last `*` + 1 (0: none yet) and where it resumes in str */
	acg_u32 star, mark;
	acg_u32 slen, plen;
	acg_u32 exact;
	acg_u32 state;
};

ACG_INLINE void acg_glob_start(struct acg_glob *g, acg_u32 slen, acg_u32 plen, int exact)
{
	g->s = 0;
	g->p = 0;
	g->star = 0;
	g->mark = 0;
	g->slen = slen < ACG_PATH_LEN ? slen : ACG_PATH_LEN;
	g->plen = plen < ACG_PATTERN_LEN ? plen : ACG_PATTERN_LEN;
	g->exact = exact;
	g->state = ACG_GLOB_RUNNING;
}

ACG_INLINE acg_u32 acg_glob_step(struct acg_glob *g, const char *pat, const char *str)
{
	char pc, sc;

	if (g->state != ACG_GLOB_RUNNING)
		return g->state;
	pc = g->p < g->plen ? pat[g->p & (ACG_PATTERN_LEN - 1)] : 0;
	if (g->s >= g->slen) {
		/* str consumed: only trailing stars may remain */
		if (g->p < g->plen && pc == '*' && !g->exact) {
			g->p++;
			return ACG_GLOB_RUNNING;
		}
		g->state = g->p >= g->plen ? ACG_GLOB_MATCH : ACG_GLOB_MISMATCH;
		return g->state;
	}
	sc = str[g->s & (ACG_PATH_LEN - 1)];
	if (g->p < g->plen && !g->exact && pc == '*') {
		g->p++;
		g->star = g->p;
		g->mark = g->s;
	} else if (g->p < g->plen && (pc == sc || (!g->exact && pc == '?'))) {
		g->p++;
		g->s++;
	} else if (g->star) {
		g->p = g->star;
		g->mark++;
		g->s = g->mark;
	} else {
		g->state = ACG_GLOB_MISMATCH;
	}
	return g->state;
}

/* Worst-case steps of one match, for bpf_loop's bound. */
#define ACG_GLOB_MAX_STEPS ((ACG_PATH_LEN + 1) * (ACG_PATTERN_LEN + 1) + ACG_PATTERN_LEN)

#endif /* ACG_DECIDE_H */
