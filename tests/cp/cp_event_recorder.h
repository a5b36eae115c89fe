/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The events a control-plane part raised through its struct cp_event_sink,
 * kept in order as text for the CUnit suites to compare (type, and the
 * fields as compact JSON or "null"). Past CP_EVENT_RECORDER_MAX events the
 * rest are counted nowhere: a suite that needs more raises the bound.
 */
#ifndef CP_EVENT_RECORDER_H
#define CP_EVENT_RECORDER_H

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#define CP_EVENT_RECORDER_MAX 32

struct cp_event_recorder {
	unsigned int n;
	char types[CP_EVENT_RECORDER_MAX][32];
	char fields[CP_EVENT_RECORDER_MAX][384];
};

/* A struct cp_event_sink's emit: ctx is the struct cp_event_recorder. */
static inline void cp_event_record(void *ctx, const char *type, cJSON *fields)
{
	struct cp_event_recorder *r = ctx;
	char *text = fields != NULL ? cJSON_PrintUnformatted(fields) : NULL;

	if (r->n < CP_EVENT_RECORDER_MAX) {
		snprintf(r->types[r->n], sizeof(r->types[r->n]), "%s", type);
		snprintf(r->fields[r->n], sizeof(r->fields[r->n]), "%s", text ? text : "null");
		r->n++;
	}
	free(text);
	cJSON_Delete(fields);
}

#endif /* CP_EVENT_RECORDER_H */
