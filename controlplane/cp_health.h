/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Health checks: the per-backend state machine (rise/fall) and the
 * non-blocking probe (TCP connect, or HTTP GET with an expected status)
 * that feeds it. Probes are driven by the caller's epoll loop: start one,
 * hand it the events of its fd, and expire it at its deadline.
 */
#ifndef CP_HEALTH_H
#define CP_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "cp_config.h"

enum cp_hc_status {
	CP_HC_UNKNOWN = 0, /* no result yet: kept in service (see cp_hc_record) */
	CP_HC_UP,
	CP_HC_DOWN,
};

struct cp_hc_state {
	uint8_t status;      /* enum cp_hc_status */
	uint32_t pass_streak; /* results in a row of the same kind */
	uint32_t fail_streak;
	uint64_t checks;
	uint64_t failures;
	uint64_t transitions; /* into or out of service */
	char last_error[96];  /* of the last failed check, "" if none yet */
};

/*
 * Count one check result. An UP backend goes DOWN after `fall` failures in
 * a row, a DOWN one comes back UP after `rise` passes in a row. The first
 * result decides an UNKNOWN backend at once, so that a control plane that
 * starts keeps serving from the backends it was given and drops the dead
 * ones after one timeout, without waiting for `fall` rounds.
 * @return true when the backend entered or left service.
 */
bool cp_hc_record(struct cp_hc_state *state, bool ok, uint32_t rise, uint32_t fall);

static inline bool cp_hc_in_service(const struct cp_hc_state *state)
{
	return state->status != CP_HC_DOWN;
}

const char *cp_hc_status_name(uint8_t status);

enum cp_probe_phase {
	CP_PROBE_IDLE = 0,
	CP_PROBE_CONNECTING,
	CP_PROBE_SENDING,
	CP_PROBE_READING,
};

struct cp_probe {
	int fd;              /* -1 when idle */
	uint8_t phase;       /* enum cp_probe_phase */
	uint8_t type;        /* enum cp_hc_type of the running probe */
	uint16_t expect_status;
	uint64_t deadline_ms;
	uint64_t started_ms;
	uint32_t last_rtt_ms;
	char request[CP_HC_PATH_MAX + 128];
	size_t request_len, sent;
	char reply[64]; /* the start of the status line is all we look at */
	size_t reply_len;
	char error[96]; /* why the running probe failed */
};

void cp_probe_init(struct cp_probe *probe);

/*
 * Start a probe of addr:port (family ELB_AF_INET or ELB_AF_INET6) and
 * register its fd in epfd with `tag` as epoll data. A failure that is known
 * at once (no socket, immediate refusal) is returned as 1 with *ok false.
 * @return 0 running, 1 finished (*ok set), or -errno for a local failure
 *         (no socket, epoll failed) that says nothing about the backend.
 */
int cp_probe_start(struct cp_probe *probe, int epfd, void *tag, const struct cp_health_check *hc,
		   const union elb_addr *addr, uint8_t family, uint16_t port, uint64_t now_ms,
		   bool *ok);

/* The fd's events. @return 0 still running, 1 finished with *ok set. */
int cp_probe_event(struct cp_probe *probe, int epfd, void *tag, uint32_t events,
		   uint64_t now_ms, bool *ok);

/* Past its deadline: finish it as a failure. @return 1 if it was running. */
int cp_probe_expire(struct cp_probe *probe, int epfd, uint64_t now_ms);

/* Close a running probe without a result. */
void cp_probe_cancel(struct cp_probe *probe, int epfd);

#endif /* CP_HEALTH_H */
