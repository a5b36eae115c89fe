/* SPDX-License-Identifier: BSD-3-Clause */
#include <inttypes.h>

#include "elb_config.h"
#include "elb_verdicts.h"

const char *const elb_verdict_names[ELB_VERDICT_COUNT] = {
	[ELB_VERDICT_FORWARD] = "forward",
	[ELB_VERDICT_REPLY] = "reply",
	[ELB_VERDICT_KERNEL] = "kernel",
	[ELB_VERDICT_DROP] = "drop",
};

void elb_verdict_write(FILE *out, uint64_t index, const struct elb_snapshot *snap,
		       const struct elb_pipeline_result *res)
{
	char vip[ELB_DP_VIP_KEY_STR_MAX + 2] = "null", backend[ELB_ADDR_TEXT_MAX + 2] = "null";
	char reason[64] = "null";

	if (res->verdict == ELB_VERDICT_DROP || res->verdict == ELB_VERDICT_REPLY)
		snprintf(reason, sizeof(reason), "\"%s\"", elb_reason_name((enum elb_reason)res->reason));
	if (res->vip_index != ELB_NO_VIP) {
		const struct elb_vip *v = &snap->vips[res->vip_index];
		struct elb_dp_vip_key key = {.addr = v->addr, .family = v->family, .proto = v->proto,
					     .port = elb_ntohs(v->port)};
		char name[ELB_DP_VIP_KEY_STR_MAX];

		snprintf(vip, sizeof(vip), "\"%s\"", elb_dp_vip_key_str(&key, name, sizeof(name)));
	}
	if (res->verdict == ELB_VERDICT_FORWARD) {
		const struct elb_backend_slot *b = &snap->backends[res->backend_slot];
		char addr[ELB_ADDR_TEXT_MAX];

		snprintf(backend, sizeof(backend), "\"%s\"",
			 elb_addr_format(&b->addr, b->family, addr, sizeof(addr)));
	}
	fprintf(out,
		"{\"i\":%" PRIu64 ",\"verdict\":\"%s\",\"reason\":%s,\"vip\":%s,\"backend\":%s,"
		"\"new_flow\":%s,\"stateless\":%s,\"out_len\":%u,\"epoch\":%" PRIu64 "%s%s%s}\n",
		index, elb_verdict_names[res->verdict], reason, vip, backend,
		res->new_flow ? "true" : "false", res->stateless ? "true" : "false", res->out_len,
		snap->epoch, res->quic ? ",\"quic\":\"" : "",
		res->quic ? elb_quic_outcome_name((enum elb_quic_outcome)(res->quic - 1)) : "",
		res->quic ? "\"" : "");
}
