/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the configuration loader (what config files, the
 * state file and config.set go through). A config it accepts must
 * validate, survive serialise -> parse unchanged, and build a snapshot; an
 * error must name what is wrong.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elb_config.h"
#include "elb_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elb_dp_config *cfg = NULL, *again = NULL;
	struct elb_snapshot *snap = NULL;
	struct elb_dp_err err;
	uint32_t gen = 0;
	char *text;
	cJSON *json;

	if (elb_dp_config_parse((const char *)data, size, &cfg, &err) < 0) {
		if (err.text[0] == '\0')
			abort();
		return 0;
	}
	if (elb_dp_config_validate(cfg, "", &err) < 0)
		abort();
	json = elb_dp_config_to_json(cfg);
	text = cJSON_PrintUnformatted(json);
	if (elb_dp_config_parse(text, strlen(text), &again, &err) < 0 ||
	    !elb_dp_config_equal(cfg, again))
		abort();
	/* A valid config may still exceed what a snapshot holds; if it builds, free it. */
	if (elb_snapshot_build(cfg, NULL, 1, &gen, &snap, &err) == 0)
		elb_snapshot_free(snap);
	free(text);
	cJSON_Delete(json);
	elb_dp_config_free(again);
	elb_dp_config_free(cfg);
	return 0;
}
