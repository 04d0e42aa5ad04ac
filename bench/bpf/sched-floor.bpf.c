/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The floor of the scheduler overhead benchmark (bench/overhead.ts): a
 * sched_ext scheduler with no callbacks at all. The kernel then places
 * wake-ups itself (its default select_cpu, straight to an idle CPU) and runs
 * everything else from its one global FIFO queue, so the cost measured is
 * sched_ext's own paths and nothing a policy's BPF does. A policy's ratio to
 * this floor is what its callbacks and decisions cost.
 */
#include "acg_scx.h"

char LICENSE[] SEC("license") = "GPL";

SEC(".struct_ops.link")
struct sched_ext_ops acg_floor_ops = {
    .name = "acg_floor",
};
