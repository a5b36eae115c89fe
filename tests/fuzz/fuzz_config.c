/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the configuration loaders, the same bytes to both: the
 * dataplane's (what config files, the state file and config.set go through)
 * and edgelb-cp's. A config either accepts must validate and survive
 * serialise -> parse unchanged (the dataplane's must also build a snapshot);
 * an error must name what is wrong.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_config.h"
#include "elb_config.h"
#include "elb_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* edgelb-cp's loader: accepted configs round-trip through their JSON. */
static void control_plane_config(const uint8_t *data, size_t size)
{
	struct cp_config *cfg = NULL, *again = NULL;
	struct elb_dp_err err;
	char *text, *text_again;
	cJSON *json;

	if (cp_config_parse((const char *)data, size, &cfg, &err) < 0) {
		if (err.text[0] == '\0')
			abort();
		return;
	}
	if (cp_config_validate(cfg, &err) < 0)
		abort();
	json = cp_config_to_json(cfg);
	text = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	if (text == NULL || cp_config_parse(text, strlen(text), &again, &err) < 0)
		abort();
	json = cp_config_to_json(again);
	text_again = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	if (text_again == NULL || strcmp(text, text_again) != 0)
		abort();
	free(text);
	free(text_again);
	cp_config_free(again);
	cp_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elb_dp_config *cfg = NULL, *again = NULL;
	struct elb_snapshot *snap = NULL;
	struct elb_dp_err err;
	uint32_t gen = 0;
	char *text;
	cJSON *json;

	control_plane_config(data, size);
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
