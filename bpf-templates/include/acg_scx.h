/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sched_ext as AgentCgroup uses it: the ops table, the exit record, the DSQ
 * and enqueue constants, and the kfuncs, with a probe where the 7.x kernels
 * changed a call. See Documentation/scheduler/sched-ext.rst.
 */
#ifndef ACG_SCX_H
#define ACG_SCX_H

#include "acg_kernel.h"

struct sched_ext_entity {
	u32 flags; /* SCX_TASK_* */
	u64 slice;
} ACG_CORE;

/* p->scx.flags: the task is runnable (queued on the scheduler, or current and still wanting the CPU). */
#define SCX_TASK_QUEUED 1

struct task_struct___scx {
	struct sched_ext_entity scx;
} ACG_CORE;

/* Refill a task's slice: the kfunc where the kernel has it (7.x), a direct write before. */
bool scx_bpf_task_set_slice(struct task_struct *p, u64 slice) __ksym __weak;

static __always_inline void acg_task_set_slice(struct task_struct *p, u64 slice)
{
	if (bpf_ksym_exists(scx_bpf_task_set_slice))
		scx_bpf_task_set_slice(p, slice);
	else
		((struct task_struct___scx *)p)->scx.slice = slice;
}

/* What is left of the task's slice (direct, CO-RE relocated loads: p is trusted in sched_ext callbacks). */
static __always_inline u64 acg_task_slice(struct task_struct *p)
{
	return ((struct task_struct___scx *)p)->scx.slice;
}

/*
 * The task's CPU time, ns: sched_ext brings it up to date as the task stops
 * running, at each tick, and before dispatch() sees a still-running prev. Runs are charged by it
 * rather than by reading the clock where a run starts and stops: two clock
 * reads per wakeup were a measurable share of a pipe ping-pong's time in the
 * guest, and the slice left over cannot tell either (a preemption zeroes it).
 */
static __always_inline u64 acg_task_runtime(struct task_struct *p)
{
	return p->se.sum_exec_runtime;
}

/* A direct (CO-RE relocated) load: p is a trusted pointer in sched_ext callbacks. */
static __always_inline bool acg_task_runnable(struct task_struct *p)
{
	return ((struct task_struct___scx *)p)->scx.flags & SCX_TASK_QUEUED;
}

/* CO-RE matches field kinds: an enum field needs an enum here. Values live in the runtime. */
enum scx_exit_kind {
	SCX_EXIT_NONE = 0,
};

struct scx_exit_info {
	enum scx_exit_kind kind;
	s64 exit_code;
	const char *reason;
	char *msg;
} ACG_CORE;

/*
 * The ops table. libbpf matches members by name against the kernel's
 * struct sched_ext_ops, so this declares only what AgentCgroup fills in.
 */
/* exit_task()'s second argument: unused, so never defined here. */
struct scx_exit_task_args;

struct sched_ext_ops {
	s32 (*select_cpu)(struct task_struct *p, s32 prev_cpu, u64 wake_flags);
	void (*enqueue)(struct task_struct *p, u64 enq_flags);
	void (*dispatch)(s32 cpu, struct task_struct *prev);
	void (*tick)(struct task_struct *p);
	s32 (*init)(void);
	void (*exit_task)(struct task_struct *p, struct scx_exit_task_args *args);
	void (*exit)(struct scx_exit_info *info);
	u64 flags;
	u32 timeout_ms;
	char name[128];
};

/* A sched_ext callback; the _SLEEPABLE form for those that may sleep (init). */
#define ACG_STRUCT_OPS(name, args...) SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define ACG_STRUCT_OPS_SLEEPABLE(name, args...) SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

/* Built-in DSQ ids (include/linux/sched/ext.h: SCX_DSQ_FLAG_BUILTIN | n); stable ABI. */
#define SCX_DSQ_FLAG_BUILTIN (1ull << 63)
#define SCX_DSQ_GLOBAL (SCX_DSQ_FLAG_BUILTIN | 1)
#define SCX_DSQ_LOCAL (SCX_DSQ_FLAG_BUILTIN | 2)

/* enum scx_enq_flags (stable ABI): a wakeup; and insert at the head of the local DSQ, ending curr's slice. */
#define SCX_ENQ_WAKEUP 1ull
#define SCX_ENQ_PREEMPT (1ull << 32)
/* The task is the only one its CPU has (passed only with SCX_OPS_ENQ_LAST). */
#define SCX_ENQ_LAST (1ull << 41)

/* enum scx_wake_flags: the waker is about to sleep (WF_SYNC, kernel/sched/sched.h since 6.2). */
#define SCX_WAKE_SYNC 0x10ull

/* enum scx_ops_flags: a CPU's last runnable task goes through enqueue() when its slice ends. */
#define SCX_OPS_ENQ_LAST (1ull << 1)

/* enum scx_kick_flags: wake the CPU only if idle; or end its current task's slice. */
#define SCX_KICK_IDLE 1ull
#define SCX_KICK_PREEMPT 2ull

s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym;
s32 scx_bpf_dsq_nr_queued(u64 dsq_id) __ksym;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags, bool *is_idle) __ksym;
bool scx_bpf_test_and_clear_cpu_idle(s32 cpu) __ksym;
const struct cpumask *scx_bpf_get_idle_cpumask(void) __ksym;
const struct cpumask *scx_bpf_get_idle_smtmask(void) __ksym;
void scx_bpf_put_idle_cpumask(const struct cpumask *cpumask) __ksym;
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) __ksym;
u32 scx_bpf_nr_cpu_ids(void) __ksym;
void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym;

/*
 * Walking a DSQ and moving one of its tasks (6.13 and later): the iterator's
 * state is opaque, its size the kernel's (struct bpf_iter_scx_dsq).
 */
struct bpf_iter_scx_dsq {
	u64 __opaque[6];
} __attribute__((aligned(8)));

int bpf_iter_scx_dsq_new(struct bpf_iter_scx_dsq *it, u64 dsq_id, u64 flags) __ksym __weak;
struct task_struct *bpf_iter_scx_dsq_next(struct bpf_iter_scx_dsq *it) __ksym __weak;
void bpf_iter_scx_dsq_destroy(struct bpf_iter_scx_dsq *it) __ksym __weak;
bool scx_bpf_dsq_move(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p, u64 dsq_id,
		      u64 enq_flags) __ksym __weak;
s32 scx_bpf_task_cpu(const struct task_struct *p) __ksym __weak;
void scx_bpf_dsq_move_set_slice(struct bpf_iter_scx_dsq *it__iter, u64 slice) __ksym __weak;

/*
 * May dispatch() on `cpu` move p off a DSQ to its own local DSQ? The kernel
 * ejects a scheduler that moves a task to a CPU outside its affinity, or with
 * its migration disabled, unless p is on that CPU already. The caller has
 * checked scx_bpf_task_cpu() exists.
 */
static __always_inline bool acg_task_may_move_to(struct task_struct *p, u32 cpu)
{
	if (scx_bpf_task_cpu(p) == (s32)cpu)
		return true;
	return !p->migration_disabled && acg_task_allows_cpu(p, cpu);
}

/*
 * Ejects the scheduler with a message (for states that cannot happen): the
 * kernel's default scheduler takes over and the exit record says why.
 * Two integer arguments; the format lives in writable data, as the kfunc wants.
 */
#define acg_scx_error(fmt, a, b)                                                              \
	({                                                                                    \
		static char acg_err_fmt___[] = fmt;                                           \
		unsigned long long acg_err_args___[2] = { (a), (b) };                         \
		scx_bpf_error_bstr(acg_err_fmt___, acg_err_args___, sizeof(acg_err_args___)); \
	})

/*
 * Kfuncs take at most five arguments, so 6.19 moved vtime insertion behind
 * an argument struct; the five-argument call remains for older kernels.
 */
struct scx_bpf_dsq_insert_vtime_args {
	u64 dsq_id;
	u64 slice;
	u64 vtime;
	u64 enq_flags;
};

bool __scx_bpf_dsq_insert_vtime(struct task_struct *p, struct scx_bpf_dsq_insert_vtime_args *args) __ksym __weak;
void scx_bpf_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags) __ksym __weak;

static __always_inline void acg_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags)
{
	if (bpf_ksym_exists(__scx_bpf_dsq_insert_vtime)) {
		struct scx_bpf_dsq_insert_vtime_args args = {
			.dsq_id = dsq_id,
			.slice = slice,
			.vtime = vtime,
			.enq_flags = enq_flags,
		};

		__scx_bpf_dsq_insert_vtime(p, &args);
	} else {
		scx_bpf_dsq_insert_vtime(p, dsq_id, slice, vtime, enq_flags);
	}
}

#endif /* ACG_SCX_H */
