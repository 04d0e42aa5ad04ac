/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory holds: the scheduler's side of the pressure ladder (docs/bpf.md,
 * "Memory holds"). acgd writes up to ACG_MAX_HOLD_DOMAINS domains into
 * acg_hold_domains (a cgroup, a watermark in bytes, the agent ranks to hold)
 * and, in each call's acg_cgroups entry, its agent's effective rank and the
 * domains it lies in. While a domain's memory usage (the memcg kfuncs on the
 * domain's cgroup) is at or above its watermark, tasks of its calls whose
 * rank is in the mask are held off the CPU on the domain's held queue:
 *
 *  - enqueue() puts them there instead of their class queue, select_cpu()
 *    does not run them directly, tick() cuts a running one short, and the
 *    hold timer kicks every CPU once when a hold engages;
 *  - usage is read at most every sample_ns per CPU (acg_hold_samples): a
 *    decision sees usage at most sample_ns old;
 *  - a held task waits at most hold_max_ns, then its queue gets a turn (up to
 *    ACG_TURN_BATCH tasks, each capped at turn_ns), so
 *    nothing starves and the sched_ext watchdog (30 s) never fires;
 *  - when usage falls under the watermark the held queue drains to the CPUs
 *    (dispatch(), and the timer kicks idle CPUs to come and take it).
 *
 * Where the kernel lacks the memcg kfuncs, usage is unknown and nothing is
 * ever held: the runtime's userspace ladder (freeze, kill) still acts.
 *
 * Needs acg_cgroups, acg_hold_domains, acg_hold, acg_hold_samples,
 * acg_hold_timer, acg_stats and acg_tasks declared before inclusion.
 */
#ifndef ACG_HOLD_BPF_H
#define ACG_HOLD_BPF_H

/* Held queue of domain d: DSQ ACG_HOLD_DSQ_BASE + d. */
#define ACG_HOLD_DSQ_BASE 0x5000
/*
 * Tasks one dispatch() moves to its CPU on a bounded turn (a held queue's or
 * a starved class queue's) or on a hold's release.
 */
#define ACG_TURN_BATCH 8
/* The hold timer's period while no domain is set: it only notices new ones. */
#define ACG_HOLD_IDLE_PERIOD_NS 100000000ull
#define ACG_HOLD_NONE ACG_MAX_HOLD_DOMAINS
/* acg_cgroup_info.rank: 0 high, 1 normal, 2 low. */
#define ACG_RANK_LOWEST 2
#define ACG_CLOCK_MONOTONIC 1
/* CPUs the hold timer kicks (ids 0..ACG_MAX_CPUS-1). */
#define ACG_MAX_CPUS 64

/*
 * A global function: the verifier checks it once, on its own, with arguments
 * it knows nothing of, instead of at every call site: the per-domain loops
 * below, inlined into each callback, made select_cpu() alone exceed the
 * verifier's instruction budget. Arguments and results are plain integers,
 * as a global function's must be. Not hidden: libbpf loads a hidden function
 * as a static one, which the verifier walks again at every call, in its
 * caller's state (with it, swe-agents' dispatch() took 113,641 instructions
 * to verify, select_cpu() 20,068; global, 21,477 and 12,843).
 *
 * Every loop over the domains has the same shape: its body is one call of
 * such a function with the domain's index by value. The index then stays in
 * a callee-saved register, an exact constant at each pass; when a body took
 * its address for a map key, clang kept it in a 32-bit stack slot that the
 * verifier reloads as an unknown scalar, saw the same state at the back-edge
 * and refused the program ("infinite loop detected").
 */
#define ACG_SUBPROG __attribute__((noinline))

/* acg_hold_check() result bits. */
#define ACG_HOLD_OVER 1    /* usage at or above the watermark */
#define ACG_HOLD_ENGAGED 2 /* ... and this call saw the hold engage */

static __always_inline bool acg_hold_kfuncs(void)
{
	return bpf_ksym_exists(bpf_mem_cgroup_usage) && bpf_ksym_exists(bpf_get_mem_cgroup) &&
	       bpf_ksym_exists(bpf_put_mem_cgroup);
}

/*
 * This CPU's usage of domain d, read again when older than the domain's
 * sample_ns (or of another cgroup: the slot was rewritten). *fresh says
 * whether it was read now. False when usage cannot be read.
 */
static __always_inline bool acg_hold_usage(u32 d, const struct acg_hold_domain *dom, u64 now, u64 *usage, bool *fresh)
{
	struct acg_hold_sample *s = bpf_map_lookup_elem(&acg_hold_samples, &d);
	bool known;
	u64 u;

	*fresh = false;
	if (!s)
		return false;
	if (s->cgroup_id == dom->cgroup_id && s->sampled_ns && now - s->sampled_ns < dom->sample_ns) {
		*usage = s->usage_bytes;
		return true;
	}
	u = acg_cgroup_memory_usage(dom->cgroup_id, &known);
	if (!known)
		return false;
	s->usage_bytes = u;
	s->sampled_ns = now;
	s->cgroup_id = dom->cgroup_id;
	*usage = u;
	*fresh = true;
	return true;
}

/* The release edge: the first CPU to see a hold end records it. */
static __always_inline void acg_hold_let_go(struct acg_hold_state *st, u64 now)
{
	u64 since = READ_ONCE(st->holding_since_ns);

	if (since && __sync_val_compare_and_swap(&st->holding_since_ns, since, 0) == since) {
		__sync_fetch_and_add(&st->released, 1);
		st->last_released_ns = now;
	}
}

/*
 * Is domain d over its watermark? Keeps acg_hold's edges: the first CPU to
 * see usage cross up (or back down) records the engage (or release).
 */
ACG_SUBPROG u32 acg_hold_check(u32 d, u64 now)
{
	const struct acg_hold_domain *dom = bpf_map_lookup_elem(&acg_hold_domains, &d);
	struct acg_hold_state *st = bpf_map_lookup_elem(&acg_hold, &d);
	bool fresh;
	u64 usage, since;

	if (!dom || !st || !dom->cgroup_id || !acg_hold_usage(d, dom, now, &usage, &fresh))
		return 0;
	if (fresh) {
		st->usage_bytes = usage;
		st->sampled_ns = now;
	}
	since = READ_ONCE(st->holding_since_ns);
	if (usage >= dom->hold_bytes) {
		if (since)
			return ACG_HOLD_OVER;
		if (__sync_val_compare_and_swap(&st->holding_since_ns, 0, now) != 0)
			return ACG_HOLD_OVER;
		__sync_fetch_and_add(&st->engaged, 1);
		st->last_engaged_ns = now;
		return ACG_HOLD_OVER | ACG_HOLD_ENGAGED;
	}
	acg_hold_let_go(st, now);
	return 0;
}

/* Does domain d hold calls of this rank, and is it over its watermark? */
ACG_SUBPROG bool acg_hold_holds_rank(u32 d, u32 rank, u64 now)
{
	const struct acg_hold_domain *dom = bpf_map_lookup_elem(&acg_hold_domains, &d);

	if (!dom || rank > ACG_RANK_LOWEST || !((dom->rank_mask >> rank) & 1))
		return false;
	return acg_hold_check(d, now) & ACG_HOLD_OVER;
}

/* The domain holding the call in cgroup `cgid` now, or ACG_HOLD_NONE. */
ACG_SUBPROG u32 acg_hold_domain_of_cgroup(u64 cgid, u64 now)
{
	const struct acg_cgroup_info *info = bpf_map_lookup_elem(&acg_cgroups, &cgid);
	u32 d, rank, mask;

	if (!info || !info->hold_domains)
		return ACG_HOLD_NONE;
	rank = info->rank;
	mask = info->hold_domains;
	if (rank > ACG_RANK_LOWEST) {
		/* The runtime's encoder refuses such a rank: the map was written by something else. */
		acg_scx_error("acg_hold: call cgroup %llu has rank %llu (0..2)", cgid, rank);
		return ACG_HOLD_NONE;
	}
	for (d = 0; d < ACG_MAX_HOLD_DOMAINS; d++)
		if (((mask >> d) & 1) && acg_hold_holds_rank(d, rank, now))
			return d;
	return ACG_HOLD_NONE;
}

/*
 * Can a hold apply to a task in cgroup cg at all? A look at the entry the
 * caller already has, before acg_hold_domain_of() looks it up again: on
 * every wakeup of a task in no held call, that second look was a measurable
 * share of select_cpu()'s run time.
 */
static __always_inline bool acg_hold_may_apply(struct acg_task_cgroup cg)
{
	return cg.call && cg.call->hold_domains;
}

static __always_inline u32 acg_hold_domain_of(struct task_struct *p, u64 now)
{
	u32 d;

	if (!acg_hold_kfuncs() || acg_task_is_kthread(p))
		return ACG_HOLD_NONE;
	d = acg_hold_domain_of_cgroup(acg_task_cgroup_id(p), now);
	/*
	 * A killed call's tasks are never held: held, they would keep the
	 * memory their exit returns until a turn, while the domain they were
	 * killed to relieve fills up (the 2026-12-03 bench's last kernel OOM
	 * kill). Asked only where a hold applies: it costs three reads.
	 */
	if (d < ACG_MAX_HOLD_DOMAINS && acg_task_dying(p))
		return ACG_HOLD_NONE;
	return d;
}

static __always_inline void acg_hold_count(u32 class_id, bool preempted)
{
	struct acg_class_stats *stats = bpf_map_lookup_elem(&acg_stats, &class_id);

	if (!stats)
		return;
	if (preempted)
		stats->hold_preempted++;
	else
		stats->held++;
}

/* enqueue(): puts p on its domain's held queue if a hold applies to it; true if so. */
static __always_inline bool acg_hold_enqueue(struct acg_sched_state *sched, struct task_struct *p,
					     struct acg_task_ctx *tctx, u32 class_id, u64 slice_ns, u64 enq_flags)
{
	struct acg_hold_state *st;
	u64 now = bpf_ktime_get_ns();
	u32 d = acg_hold_domain_of(p, now);

	if (d >= ACG_MAX_HOLD_DOMAINS)
		return false;
	st = bpf_map_lookup_elem(&acg_hold, &d);
	if (!st)
		return false;
	/* dispatch() looks at the held queues ever used only. */
	acg_mask_set_once(&sched->hold_queues_used, d);
	/* An empty held queue starts waiting now, whatever a stale time says. */
	if (!st->waiting_since_ns || scx_bpf_dsq_nr_queued(ACG_HOLD_DSQ_BASE + d) <= 0)
		st->waiting_since_ns = now;
	tctx->class_id = class_id;
	scx_bpf_dsq_insert(p, ACG_HOLD_DSQ_BASE + d, slice_ns, enq_flags);
	acg_hold_count(class_id, false);
	return true;
}

/*
 * Moves the first task of DSQ `dsq` that may run on `cpu` to its local DSQ,
 * with at most `cap_ns` of slice: one task of a bounded turn, for a held
 * queue (`hold_turn`: tick() leaves it alone) or a starved class queue. True
 * if one moved. The iterator hands over the task, which
 * scx_bpf_dsq_move_to_local() does not: its slice is capped as it moves.
 * One task per call, no count across the walk: a count kept the verifier
 * from merging the loop's states, and doubled dispatch()'s instructions.
 */
ACG_SUBPROG bool acg_move_capped(u64 dsq, u64 cap_ns, bool hold_turn, u32 cpu)
{
	struct bpf_iter_scx_dsq it;
	struct acg_task_ctx *tctx;
	struct task_struct *p;
	bool moved = false;
	u64 slice;

	/* Kernels since 6.13 have them all (as scx_bpf_dsq_insert()); before, a task moves uncapped. */
	if (!bpf_ksym_exists(scx_bpf_dsq_move) || !bpf_ksym_exists(scx_bpf_dsq_move_set_slice) ||
	    !bpf_ksym_exists(scx_bpf_task_cpu))
		return scx_bpf_dsq_move_to_local(dsq);
	bpf_iter_scx_dsq_new(&it, dsq, 0);
	while ((p = bpf_iter_scx_dsq_next(&it))) {
		if (!acg_task_may_move_to(p, cpu))
			continue;
		slice = acg_task_slice(p);
		if (slice > cap_ns)
			slice = cap_ns;
		scx_bpf_dsq_move_set_slice(&it, slice);
		moved = scx_bpf_dsq_move(&it, p, SCX_DSQ_LOCAL, 0);
		if (!moved)
			continue;
		tctx = bpf_task_storage_get(&acg_tasks, p, 0, 0);
		if (tctx) {
			tctx->slice_ns = slice;
			tctx->hold_turn = hold_turn;
		}
		break;
	}
	bpf_iter_scx_dsq_destroy(&it);
	return moved;
}

/*
 * A bounded turn of up to ACG_TURN_BATCH tasks (acg_move_capped()); how many
 * moved. A function of its own: inlined, each count it can return went
 * through the rest of dispatch() as a state of its own.
 */
ACG_SUBPROG u32 acg_move_turn(u64 dsq, u64 cap_ns, bool hold_turn, u32 cpu)
{
	u32 moved;

	for (moved = 0; moved < ACG_TURN_BATCH; moved++)
		if (!acg_move_capped(dsq, cap_ns, hold_turn, cpu))
			break;
	return moved;
}

/*
 * dispatch() on `cpu`, while domain d holds: its held tasks killed after
 * they were queued leave the held queue. A kill wakes no task that is
 * already runnable, so enqueue() never saw them dying; held, they would
 * keep the memory their exit returns until the queue's next turn.
 *
 * One that may run here goes to this CPU's local DSQ and runs next. The
 * kernel ends a scheduler that moves a task to a CPU outside its affinity
 * (or with its migration disabled), so any other goes to the global DSQ,
 * which each CPU takes from (only what it may run) before it asks
 * dispatch(), and its last CPU is kicked if idle. True if one landed here.
 */
ACG_SUBPROG bool acg_hold_release_dying(u32 d, u32 cpu)
{
	struct bpf_iter_scx_dsq it;
	struct task_struct *p;
	bool here = false;

	if (!bpf_ksym_exists(scx_bpf_dsq_move) || !bpf_ksym_exists(scx_bpf_task_cpu))
		return false;
	bpf_iter_scx_dsq_new(&it, ACG_HOLD_DSQ_BASE + d, 0);
	while ((p = bpf_iter_scx_dsq_next(&it))) {
		if (!acg_task_dying(p))
			continue;
		if (acg_task_may_move_to(p, cpu)) {
			here |= scx_bpf_dsq_move(&it, p, SCX_DSQ_LOCAL, 0);
			continue;
		}
		if (scx_bpf_dsq_move(&it, p, SCX_DSQ_GLOBAL, 0))
			scx_bpf_kick_cpu(scx_bpf_task_cpu(p), SCX_KICK_IDLE);
	}
	bpf_iter_scx_dsq_destroy(&it);
	return here;
}

/*
 * dispatch(), for domain d: moves its held tasks to this CPU if the domain
 * released them (or was removed), or if they have waited hold_max_ns (a
 * turn); while it holds, only its dying tasks. True if it moved any to
 * this CPU.
 */
ACG_SUBPROG bool acg_hold_dispatch_domain(u32 d, u64 now, u32 cpu)
{
	const struct acg_hold_domain *dom;
	struct acg_hold_state *st;
	u64 waited;
	u32 moved;
	bool turn;

	if (d >= ACG_MAX_HOLD_DOMAINS || scx_bpf_dsq_nr_queued(ACG_HOLD_DSQ_BASE + d) <= 0)
		return false;
	dom = bpf_map_lookup_elem(&acg_hold_domains, &d);
	st = bpf_map_lookup_elem(&acg_hold, &d);
	if (!dom || !st)
		return false;
	turn = dom->cgroup_id && (acg_hold_check(d, now) & ACG_HOLD_OVER);
	waited = now - st->waiting_since_ns;
	if (turn && waited < dom->hold_max_ns)
		return acg_hold_release_dying(d, cpu);
	if (st->waiting_since_ns && waited > st->longest_wait_ns)
		st->longest_wait_ns = waited;
	/* A turn, while the domain is still over: capped at turn_ns, and not cut short by tick(). */
	if (turn) {
		moved = acg_move_turn(ACG_HOLD_DSQ_BASE + d, dom->turn_ns, true, cpu);
		if (moved)
			__sync_fetch_and_add(&st->turns, 1);
	} else {
		for (moved = 0; moved < ACG_TURN_BATCH; moved++)
			if (!scx_bpf_dsq_move_to_local(ACG_HOLD_DSQ_BASE + d))
				break;
	}
	st->waiting_since_ns = scx_bpf_dsq_nr_queued(ACG_HOLD_DSQ_BASE + d) > 0 ? now : 0;
	return moved > 0;
}

/*
 * dispatch(): held tasks some domain lets go, onto this CPU; true if any
 * moved. Only the held queues ever used are looked at: dispatch() runs each
 * time a CPU has nothing left to run, and most hosts hold nothing.
 */
static __always_inline bool acg_hold_dispatch(const struct acg_sched_state *sched, u64 now, u32 cpu)
{
	u64 used = READ_ONCE(sched->hold_queues_used);
	u32 d;

	for (d = 0; d < ACG_MAX_HOLD_DOMAINS; d++)
		if (((used >> d) & 1) && acg_hold_dispatch_domain(d, now, cpu))
			return true;
	return false;
}

/*
 * dispatch(): a runnable prev that a hold applies to must not keep the CPU.
 * A prev on a turn too: dispatch() sees a runnable prev only once its slice
 * has run out, so its turn is over. (Exempting turns here let a busy loop
 * keep the CPU for a whole class slice at each slice's end while its queue
 * ranked first: a held agent's loop got 21% of the CPU, not a turn's 2%.)
 */
static __always_inline bool acg_hold_applies(struct task_struct *p)
{
	/*
	 * dispatch()'s prev may be NULL (its caller tested it): keep clang from
	 * hoisting the CO-RE address arithmetic on p above that test, which
	 * the verifier refuses on a maybe-null pointer.
	 */
	asm volatile("" : "+r"(p));
	return acg_hold_domain_of(p, bpf_ktime_get_ns()) < ACG_MAX_HOLD_DOMAINS;
}

/* tick(): the running task's hold engaged: end its slice (it goes back through enqueue(), to its held queue). */
static __always_inline void acg_hold_tick(struct task_struct *p, struct acg_task_ctx *tctx)
{
	if (tctx->hold_turn)
		return;
	if (acg_hold_domain_of(p, bpf_ktime_get_ns()) >= ACG_MAX_HOLD_DOMAINS)
		return;
	acg_task_set_slice(p, 0);
	/* Not a cut that enqueue() gives the rest of the slice back for: p must go to its held queue. */
	tctx->slice_ns = 0;
	acg_hold_count(tctx->class_id, true);
}

/* acg_hold_timer_domain() result: bits for the timer, above them the domain's sample_ns. */
#define ACG_HOLD_TIMER_PREEMPT 1 /* the hold engaged: kick every CPU to preempt */
#define ACG_HOLD_TIMER_WAKE 2    /* held tasks are released or due a turn: wake idle CPUs */
#define ACG_HOLD_TIMER_SAMPLE_SHIFT 2

/* The hold timer's look at domain d (see acg_hold_timer_fire()); 0 if it is not set. */
ACG_SUBPROG u64 acg_hold_timer_domain(u32 d, u64 now)
{
	const struct acg_hold_domain *dom = bpf_map_lookup_elem(&acg_hold_domains, &d);
	struct acg_hold_state *st = bpf_map_lookup_elem(&acg_hold, &d);
	u64 bits = 0;
	u32 check;

	if (!dom || !st)
		return 0;
	/*
	 * A slot cleared while it held lets go here: otherwise the domain set
	 * in it next would start engaged, its engage neither counted nor
	 * kicking the CPUs.
	 */
	if (!dom->cgroup_id) {
		acg_hold_let_go(st, now);
		return 0;
	}
	check = acg_hold_check(d, now);
	if (check & ACG_HOLD_ENGAGED)
		bits |= ACG_HOLD_TIMER_PREEMPT;
	if (scx_bpf_dsq_nr_queued(ACG_HOLD_DSQ_BASE + d) > 0 &&
	    (!(check & ACG_HOLD_OVER) || now - st->waiting_since_ns >= dom->hold_max_ns))
		bits |= ACG_HOLD_TIMER_WAKE;
	return bits | (dom->sample_ns << ACG_HOLD_TIMER_SAMPLE_SHIFT);
}

/*
 * The hold timer, every sample_ns of the most eager domain: reads each
 * domain's usage even while no CPU schedules (an allocator alone on its CPU
 * meets tick() only every tick); when a hold engages it kicks every CPU
 * (their running task, if held, leaves through tick()'s path at once); when
 * a held queue is released or due a turn, it kicks idle CPUs to dispatch.
 */
static int acg_hold_timer_fire(void *map, int *key, struct acg_hold_timer *t)
{
	u64 now = bpf_ktime_get_ns(), period = ACG_HOLD_IDLE_PERIOD_NS, look, sample_ns;
	u32 d, ncpu = scx_bpf_nr_cpu_ids(), cpu;
	bool preempt = false, wake = false;

	for (d = 0; d < ACG_MAX_HOLD_DOMAINS; d++) {
		look = acg_hold_timer_domain(d, now);
		sample_ns = look >> ACG_HOLD_TIMER_SAMPLE_SHIFT;
		if (sample_ns && sample_ns < period)
			period = sample_ns;
		preempt |= !!(look & ACG_HOLD_TIMER_PREEMPT);
		wake |= !!(look & ACG_HOLD_TIMER_WAKE);
	}
	for (cpu = 0; cpu < ACG_MAX_CPUS && cpu < ncpu && (preempt || wake); cpu++)
		scx_bpf_kick_cpu(cpu, preempt ? SCX_KICK_PREEMPT : SCX_KICK_IDLE);
	bpf_timer_start(&t->timer, period, 0);
	return 0;
}

/* init(): the held queues and the hold timer. */
static __always_inline s32 acg_hold_init(void)
{
	struct acg_hold_timer *t;
	u32 zero = 0, d;
	s32 err;

	for (d = 0; d < ACG_MAX_HOLD_DOMAINS; d++) {
		err = scx_bpf_create_dsq(ACG_HOLD_DSQ_BASE + d, -1);
		if (err)
			return err;
	}
	t = bpf_map_lookup_elem(&acg_hold_timer, &zero);
	if (!t)
		return -2; /* -ENOENT: an array map always has its entry */
	err = bpf_timer_init(&t->timer, &acg_hold_timer, ACG_CLOCK_MONOTONIC);
	if (err)
		return err;
	err = bpf_timer_set_callback(&t->timer, acg_hold_timer_fire);
	if (err)
		return err;
	return bpf_timer_start(&t->timer, ACG_HOLD_IDLE_PERIOD_NS, 0);
}

#endif /* ACG_HOLD_BPF_H */
