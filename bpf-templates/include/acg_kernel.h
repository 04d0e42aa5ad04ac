/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types AgentCgroup's programs touch, declared with only the
 * fields read, relocated by CO-RE against the running kernel's BTF. No
 * vmlinux.h: what is used is what is declared.
 */
#ifndef ACG_KERNEL_H
#define ACG_KERNEL_H

#include <linux/types.h>
#include <linux/bpf.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef int pid_t;
typedef _Bool bool;
enum { false = 0, true = 1 };

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define ACG_CORE __attribute__((preserve_access_index))

/* A single load the compiler may not repeat (map values can change under a program). */
#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))

/* Sets bit `bit` of a shared mask, paying for the atomic only the first time. */
static __always_inline void acg_mask_set_once(u64 *mask, u32 bit)
{
	if (!(READ_ONCE(*mask) & (1ull << bit)))
		__sync_fetch_and_or(mask, 1ull << bit);
}

struct kernfs_node {
	u64 id; /* the cgroup id user space sees as the directory's inode number */
} ACG_CORE;

struct cgroup;

struct cgroup_subsys_state {
	struct cgroup *cgroup;
} ACG_CORE;

struct cgroup {
	struct cgroup_subsys_state self;
	struct kernfs_node *kn;
} ACG_CORE;

struct css_set {
	struct cgroup *dfl_cgrp;
} ACG_CORE;

struct mem_cgroup {
	struct cgroup_subsys_state css;
} ACG_CORE;

/* include/linux/signal_types.h: one thread's pending signals (sigset_t: one word on 64-bit). */
struct sigpending {
	struct {
		unsigned long sig[1];
	} signal;
} ACG_CORE;

/* include/linux/sched/signal.h: the signal state a thread group shares. */
struct signal_struct {
	unsigned int flags; /* SIGNAL_* */
} ACG_CORE;

/*
 * Declared as a struct, not only named: libbpf resolves a weak kfunc only if
 * its prototype matches the kernel's, and a forward declaration does not
 * match the kernel's struct (bpf_cpumask_test_cpu stayed unresolved).
 */
struct cpumask {
	unsigned long bits[1];
} ACG_CORE;

/* include/linux/sched.h: the kernel counts every task's CPU time here, whatever its class. */
struct sched_entity {
	u64 sum_exec_runtime;
} ACG_CORE;

struct task_struct {
	unsigned int flags;             /* PF_* */
	const struct cpumask *cpus_ptr; /* the CPUs it may run on */
	unsigned short migration_disabled;
	pid_t pid;
	pid_t tgid;
	struct css_set *cgroups;
	struct signal_struct *signal;
	struct sigpending pending;
	struct sched_entity se;
} ACG_CORE;

/* include/linux/sched.h: a kernel thread (no user space of its own); a task in do_exit(). */
#define PF_KTHREAD 0x00200000
#define PF_EXITING 0x00000004
#define ACG_SIGKILL 9
/* include/linux/sched/signal.h: a group exit in progress (a fatal signal was delivered). */
#define SIGNAL_GROUP_EXIT 0x00000004

/*
 * The task_struct readers below take p as the kernel hands it to sched_ext
 * callbacks and tp_btf programs: a BTF pointer. They use plain (CO-RE
 * relocated) loads, which the verifier checks or turns into fault-tolerant
 * loads (a fault reads 0), not bpf_probe_read_kernel() calls: with one
 * helper call per field they were most of select_cpu()'s cost on a pipe
 * ping-pong under emulation.
 */
static __always_inline bool acg_task_is_kthread(struct task_struct *p)
{
	return p->flags & PF_KTHREAD;
}

/*
 * A task on its way out: SIGKILL pending (cgroup.kill and the OOM killer
 * send it, and a group exit adds it to every thread), its thread group
 * exiting, or itself exiting. Its exit gives its memory back: it must get
 * the CPU to do so. The group-exit flag covers the window in which
 * get_signal() has taken SIGKILL off the thread's pending set and
 * exit_signals() has not yet set PF_EXITING: a tick there would otherwise
 * see a live task.
 */
static __always_inline bool acg_task_dying(struct task_struct *p)
{
	if (p->flags & PF_EXITING)
		return true;
	if (p->pending.signal.sig[0] & (1UL << (ACG_SIGKILL - 1)))
		return true;
	return p->signal->flags & SIGNAL_GROUP_EXIT;
}

struct linux_binprm {
	const char *filename;
} ACG_CORE;

/* Generic kfuncs (kernel/bpf/helpers.c, kernel/bpf/cpumask.c). */
struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;
void bpf_cgroup_release(struct cgroup *cgrp) __ksym;
bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __ksym __weak;

/* May p run on `cpu`? A plain load for the first 64 CPUs (a wakeup's path), the kfunc beyond. */
static __always_inline bool acg_task_allows_cpu(struct task_struct *p, s32 cpu)
{
	if (cpu >= 0 && cpu < 64)
		return (p->cpus_ptr->bits[0] >> cpu) & 1;
	return bpf_ksym_exists(bpf_cpumask_test_cpu) && bpf_cpumask_test_cpu(cpu, p->cpus_ptr);
}

/*
 * memcg kfuncs (mm/bpf_memcontrol.c): weak, so objects load on kernels
 * without them; callers test bpf_ksym_exists() first.
 */
struct mem_cgroup *bpf_get_mem_cgroup(struct cgroup_subsys_state *css) __ksym __weak;
void bpf_put_mem_cgroup(struct mem_cgroup *memcg) __ksym __weak;
unsigned long bpf_mem_cgroup_usage(struct mem_cgroup *memcg) __ksym __weak;

/* The cgroup v2 id of a task's cgroup: what the runtime keys tool calls by. */
static __always_inline u64 acg_task_cgroup_id(struct task_struct *p)
{
	return p->cgroups->dfl_cgrp->kn->id;
}

static __always_inline u64 acg_memcg_cgroup_id(struct mem_cgroup *memcg)
{
	return BPF_CORE_READ(memcg, css.cgroup, kn, id);
}

/* Current memory usage of cgroup `cgid` in bytes; *ok = false when the kernel cannot tell. */
static __always_inline u64 acg_cgroup_memory_usage(u64 cgid, bool *ok)
{
	struct mem_cgroup *memcg;
	struct cgroup *cg;
	u64 usage;

	*ok = false;
	if (!bpf_ksym_exists(bpf_mem_cgroup_usage) || !bpf_ksym_exists(bpf_get_mem_cgroup) ||
	    !bpf_ksym_exists(bpf_put_mem_cgroup))
		return 0;
	cg = bpf_cgroup_from_id(cgid);
	if (!cg)
		return 0;
	/*
	 * &cg->self is a CO-RE relocated addition: keep clang from hoisting it
	 * above the null check (the verifier refuses arithmetic on a maybe-null
	 * pointer; seen in dispatch()'s hold check).
	 */
	asm volatile("" : "+r"(cg));
	memcg = bpf_get_mem_cgroup(&cg->self);
	bpf_cgroup_release(cg);
	if (!memcg)
		return 0;
	usage = bpf_mem_cgroup_usage(memcg);
	bpf_put_mem_cgroup(memcg);
	*ok = true;
	return usage;
}

#endif /* ACG_KERNEL_H */
