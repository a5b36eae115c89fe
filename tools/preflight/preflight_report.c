/* SPDX-License-Identifier: BSD-3-Clause */
#include "preflight_report.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

int pf_report_print_text(FILE *out, const struct pf_report *report)
{
	unsigned int counts[3] = {0, 0, 0};
	int id_width = 0;

	for (size_t i = 0; i < report->n; i++) {
		int len = (int)strlen(report->findings[i].id);

		id_width = len > id_width ? len : id_width;
	}
	for (size_t i = 0; i < report->n; i++) {
		const struct pf_finding *f = &report->findings[i];
		char status[8];

		snprintf(status, sizeof(status), "%s", pf_status_name(f->status));
		for (char *p = status; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		counts[f->status]++;
		fprintf(out, "%-4s  %-*s  %s%s%s%s%s\n", status, id_width, f->id, f->subject,
			f->subject[0] ? ": " : "", f->text, f->fix[0] ? "  ->  " : "", f->fix);
	}
	fprintf(out, "%u pass, %u warn, %u fail\n", counts[PF_PASS], counts[PF_WARN],
		counts[PF_FAIL]);
	return ferror(out) ? -EIO : 0;
}

static cJSON *inputs_to_json(const struct pf_input *in)
{
	cJSON *inputs = cJSON_CreateObject(), *ports;
	char list[1024];

	if (inputs == NULL)
		return NULL;
	if (in->have_lcores) {
		cJSON_AddStringToObject(inputs, "lcores", pf_cpuset_format(&in->lcores, list,
									    sizeof(list)));
		if (in->main_lcore >= 0)
			cJSON_AddNumberToObject(inputs, "main_lcore", in->main_lcore);
		cJSON_AddStringToObject(inputs, "workers", pf_cpuset_format(&in->workers, list,
									     sizeof(list)));
	}
	if (in->dataplane == PF_DATAPLANE_DPDK) {
		ports = cJSON_AddArrayToObject(inputs, "ports");
		for (unsigned int p = 0; ports && p < in->n_ports; p++)
			cJSON_AddItemToArray(ports, cJSON_CreateString(in->ports[p]));
		cJSON_AddNumberToObject(inputs, "flows", in->flows);
		cJSON_AddNumberToObject(inputs, "mbufs", in->mbufs);
	} else {
		cJSON_AddStringToObject(inputs, "iface", in->iface);
		cJSON_AddStringToObject(inputs, "xdp_mode", in->xdp_generic ? "generic" : "native");
	}
	if (in->config_path)
		cJSON_AddStringToObject(inputs, "config", in->config_path);
	if (in->path_mtu)
		cJSON_AddNumberToObject(inputs, "path_mtu", in->path_mtu);
	return inputs;
}

static cJSON *memory_to_json(const struct pf_memory_need *need)
{
	cJSON *memory = cJSON_CreateObject();

	if (memory == NULL)
		return NULL;
	cJSON_AddNumberToObject(memory, "workers", need->workers);
	cJSON_AddNumberToObject(memory, "ports", need->ports);
	cJSON_AddNumberToObject(memory, "flow_capacity", need->flow_capacity);
	cJSON_AddNumberToObject(memory, "flow_table_bytes", (double)need->flow_table_bytes);
	cJSON_AddNumberToObject(memory, "worker_counter_bytes", (double)need->worker_counter_bytes);
	cJSON_AddNumberToObject(memory, "per_worker_bytes", (double)need->per_worker_bytes);
	cJSON_AddNumberToObject(memory, "mbuf_object_bytes", need->mbuf_object_bytes);
	cJSON_AddNumberToObject(memory, "mbuf_data_room", need->mbuf_data_room);
	cJSON_AddNumberToObject(memory, "mbuf_pool_bytes", (double)need->mbuf_pool_bytes);
	cJSON_AddNumberToObject(memory, "main_other_bytes", (double)need->main_other_bytes);
	cJSON_AddNumberToObject(memory, "main_bytes", (double)need->main_bytes);
	cJSON_AddNumberToObject(memory, "port_ring_bytes", (double)need->port_ring_bytes);
	cJSON_AddNumberToObject(memory, "mbufs_at_start", need->mbufs_at_start);
	cJSON_AddNumberToObject(memory, "mbufs_busy", need->mbufs_busy);
	cJSON_AddNumberToObject(memory, "mbuf_cache", need->mbuf_cache);
	cJSON_AddNumberToObject(memory, "rx_desc", need->rx_desc);
	cJSON_AddNumberToObject(memory, "tx_desc", need->tx_desc);
	cJSON_AddNumberToObject(memory, "kernel_rx_desc", need->kernel_rx_desc);
	cJSON_AddNumberToObject(memory, "port_mtu", need->ether_mtu);
	return memory;
}

cJSON *pf_report_to_json(const struct pf_input *in, const struct pf_memory_need *need,
			 const struct pf_report *report)
{
	cJSON *doc = cJSON_CreateObject(), *findings, *summary, *item;
	unsigned int counts[3] = {0, 0, 0};

	if (doc == NULL)
		return NULL;
	cJSON_AddStringToObject(doc, "dataplane",
				in->dataplane == PF_DATAPLANE_DPDK ? "dpdk" : "xdp");
	cJSON_AddStringToObject(doc, "root", in->root);
	item = inputs_to_json(in);
	if (item == NULL)
		goto fail;
	cJSON_AddItemToObject(doc, "inputs", item);
	if (need) {
		item = memory_to_json(need);
		if (item == NULL)
			goto fail;
		cJSON_AddItemToObject(doc, "memory", item);
	}
	findings = cJSON_AddArrayToObject(doc, "findings");
	if (findings == NULL)
		goto fail;
	for (size_t i = 0; i < report->n; i++) {
		const struct pf_finding *f = &report->findings[i];

		item = cJSON_CreateObject();
		if (item == NULL)
			goto fail;
		cJSON_AddItemToArray(findings, item);
		cJSON_AddStringToObject(item, "id", f->id);
		cJSON_AddStringToObject(item, "subject", f->subject);
		cJSON_AddStringToObject(item, "status", pf_status_name(f->status));
		cJSON_AddStringToObject(item, "text", f->text);
		cJSON_AddStringToObject(item, "fix", f->fix);
		counts[f->status]++;
	}
	summary = cJSON_AddObjectToObject(doc, "summary");
	if (summary == NULL)
		goto fail;
	cJSON_AddNumberToObject(summary, "pass", counts[PF_PASS]);
	cJSON_AddNumberToObject(summary, "warn", counts[PF_WARN]);
	cJSON_AddNumberToObject(summary, "fail", counts[PF_FAIL]);
	/* A member added to a full heap is silently missing: check the last. */
	if (cJSON_AddNumberToObject(doc, "exit_status", pf_report_exit_status(report)) == NULL)
		goto fail;
	return doc;
fail:
	cJSON_Delete(doc);
	return NULL;
}
