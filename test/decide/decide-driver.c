/*
 * Host driver for acg_decide.h: reads one vector per line on stdin, prints the
 * C result per line, so that decide.test.ts can compare it with compiler/decide.ts.
 * Built with gcc by the test; ACG_PATTERN_LEN and ACG_PATH_LEN come from -D.
 */
#include <stdio.h>
#include <string.h>
#include "acg_decide.h"

static int read_hex(char *out, unsigned cap, unsigned *len)
{
	char buf[2 * 1024 + 1];
	unsigned i, n;

	if (scanf("%u %2048s", &n, buf) != 2 || n > cap)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned byte;

		if (sscanf(buf + 2 * i, "%2x", &byte) != 1)
			return -1;
		out[i] = (char)byte;
	}
	*len = n;
	return 0;
}

int main(void)
{
	char fn[32];

	while (scanf("%31s", fn) == 1) {
		if (!strcmp(fn, "scale")) {
			acg_u64 x, num, den;

			scanf("%llu %llu %llu", &x, &num, &den);
			printf("%llu\n", acg_scale(x, num, den));
		} else if (!strcmp(fn, "burst")) {
			struct acg_burst_params bp;
			struct acg_burst_clock c;
			acg_u64 t0, base, burst, ramp, now, usage;
			unsigned minms, maxms, n, i;

			scanf("%u %llu %llu %llu %llu %u %u %llu %llu %u", &bp.mode, &bp.duration_ns, &bp.refill_ns,
			      &base, &burst, &minms, &maxms, &ramp, &t0, &n);
			acg_burst_init(&c, &bp, t0);
			for (i = 0; i < n; i++) {
				acg_u32 v;

				scanf("%llu %llu", &now, &usage);
				v = acg_burst_update(&c, &bp, now, usage, base, burst);
				printf("%u %llu %llu %llu %u %d%s", v, c.credit_ns, c.over_since_ns, c.exhausted_at_ns,
				       acg_throttle_delay_ms(&c, v, now, minms, maxms, ramp), acg_mem_demotes(v),
				       i + 1 < n ? " " : "");
			}
			printf("\n");
		} else if (!strcmp(fn, "choose")) {
			unsigned cr, er, dr, nr, rc, oc, nc, prio, dem;

			scanf("%u %u %u %u %u %u %u %u %u", &cr, &er, &dr, &nr, &rc, &oc, &nc, &prio, &dem);
			printf("%u %u %u\n", acg_choose_rule(cr, er, dr, nr), acg_choose_class(rc, oc, nc),
			       acg_effective_level(prio, dem));
		} else if (!strcmp(fn, "vtime")) {
			acg_u64 used, vt, clock, lag;
			unsigned w;

			scanf("%llu %u %llu %llu %llu", &used, &w, &vt, &clock, &lag);
			printf("%llu %llu %d\n", acg_vtime_charge(used, w), acg_vtime_floor(vt, clock, lag),
			       acg_vtime_before(vt, clock));
		} else if (!strcmp(fn, "pick")) {
			struct acg_queue_view q[64];
			acg_u64 now, bound;
			unsigned n, i;
			int best = -1;

			scanf("%llu %llu %u", &now, &bound, &n);
			for (i = 0; i < n && i < 64; i++)
				scanf("%u %u %llu %llu", &q[i].level, &q[i].nonempty, &q[i].vtime,
				      &q[i].waiting_since_ns);
			for (i = 0; i < n && i < 64; i++)
				if (q[i].nonempty && (best < 0 || acg_queue_before(&q[i], &q[best], now, bound)))
					best = (int)i;
			printf("%d\n", best);
		} else if (!strcmp(fn, "kleene")) {
			struct acg_kleene k = { 0 };
			unsigned n, i, op, hit;

			scanf("%u", &n);
			for (i = 0; i < n; i++) {
				scanf("%u %u", &op, &hit);
				acg_kleene_step(&k, op, hit);
			}
			printf("%u\n", acg_kleene_result(&k));
		} else if (!strcmp(fn, "glob")) {
			static char pat[ACG_PATTERN_LEN], str[ACG_PATH_LEN];
			struct acg_glob g;
			unsigned exact, plen, slen, steps = 0;

			scanf("%u", &exact);
			if (read_hex(pat, ACG_PATTERN_LEN, &plen) || read_hex(str, ACG_PATH_LEN, &slen)) {
				printf("error\n");
				continue;
			}
			acg_glob_start(&g, slen, plen, exact);
			while (acg_glob_step(&g, pat, str) == ACG_GLOB_RUNNING && steps < ACG_GLOB_MAX_STEPS)
				steps++;
			printf("%u %d\n", g.state, steps < ACG_GLOB_MAX_STEPS);
		} else {
			printf("unknown %s\n", fn);
		}
	}
	return 0;
}
