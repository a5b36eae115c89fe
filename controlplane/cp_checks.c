/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The health-check service (cp_checks.h). Timers are checked by scanning
 * every loop round: hundreds of targets cost nothing to scan.
 */
#include "cp_checks.h"

#include <string.h>

void cp_checks_tick(struct cp_daemon *cp, uint64_t now)
{
	for (uint32_t i = 0; i < cp->n_targets; i++) {
		struct cp_target *t = cp->targets[i];
		bool ok;
		int rc;

		if (t->hc.type == CP_HC_NONE)
			continue;
		if (t->probe.fd >= 0) {
			if (cp_probe_expire(&t->probe, cp->epfd, now))
				cp_target_result(cp, t, false);
			continue;
		}
		if (now < t->next_due_ms)
			continue;
		t->next_due_ms = now + t->hc.interval_ms;
		rc = cp_probe_start(&t->probe, cp->epfd, t, &t->hc, &t->addr, t->family, t->port,
				    now, &ok);
		if (rc == 1)
			cp_target_result(cp, t, ok);
		else if (rc < 0 && cp->probe_errors++ % 1000 == 0)
			cp_log("health probe not started (%s): retried next interval",
				strerror(-rc));
	}
}

void cp_checks_event(struct cp_daemon *cp, struct cp_target *t, uint32_t events, uint64_t now)
{
	bool ok;

	if (cp_probe_event(&t->probe, cp->epfd, t, events, now, &ok) == 1)
		cp_target_result(cp, t, ok);
}

void cp_checks_retire(struct cp_daemon *cp, struct cp_target *t)
{
	cp_probe_cancel(&t->probe, cp->epfd);
}
