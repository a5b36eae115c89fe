/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A struct cp_daemon for the CUnit suites that drive cp_state directly: its
 * config written to a file in a fresh directory (/tmp/<name>.XXXXXX), its
 * events kept by a struct cp_event_recorder, no epoll and no dataplanes.
 */
#ifndef CP_TEST_DAEMON_H
#define CP_TEST_DAEMON_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "cp_config.h"
#include "cp_event_recorder.h"
#include "cp_state.h"

struct cp_test_daemon {
	char dir[64];
	char path[96];
	struct cp_daemon cp;
	struct cp_event_recorder events;
};

/* Write config_json, load it into d->cp (retire_target set before the
 * first state, as cp_state_init wants: NULL for none). */
static inline void cp_test_daemon_open(struct cp_test_daemon *d, const char *name,
				       const char *config_json, cp_retire_target_fn retire_target)
{
	struct cp_config *loaded;
	struct elb_dp_err err = {0};

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/%s.XXXXXX", name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/cp.json", d->dir);
	CU_ASSERT_EQUAL_FATAL(cp_config_parse(config_json, strlen(config_json), &loaded, &err), 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_write_file(d->path, loaded, &err), 0);
	d->cp.epfd = -1;
	d->cp.config_path = d->path;
	d->cp.events_sink = (struct cp_event_sink){.emit = cp_event_record, .ctx = &d->events};
	d->cp.retire_target = retire_target;
	CU_ASSERT_EQUAL_FATAL(cp_state_init(&d->cp, loaded, 5000), 0);
}

static inline void cp_test_daemon_close(struct cp_test_daemon *d)
{
	cp_state_free(&d->cp);
	unlink(d->path);
	rmdir(d->dir);
}

#endif /* CP_TEST_DAEMON_H */
