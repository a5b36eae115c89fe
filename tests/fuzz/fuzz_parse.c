/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the shared parser on arbitrary frames. The frame is
 * copied into a buffer of exactly its size, so ASan reports any read past
 * it; the checks below are the invariants of ELB_PARSE_IP.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elb_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elb_packet pkt;
	uint8_t *frame;
	int r;

	if (size > 65535)
		return 0;
	frame = malloc(size ? size : 1);
	memcpy(frame, data, size);
	r = elb_parse(frame, frame + size, &pkt);
	if (r == ELB_PARSE_MALFORMED) {
		if (pkt.reason == ELB_REASON_NONE || pkt.reason >= ELB_REASON_COUNT)
			abort();
	} else if (r == ELB_PARSE_IP) {
		if (pkt.l3_off + (uint32_t)pkt.l3_len > size || pkt.l3_len == 0)
			abort();
		if (pkt.l4_off && (pkt.l4_off < pkt.l3_off || pkt.l4_off >= pkt.l3_off + pkt.l3_len))
			abort();
		if (pkt.key.family != ELB_AF_INET && pkt.key.family != ELB_AF_INET6)
			abort();
		if (pkt.key.pad[0] || pkt.key.pad[1])
			abort();
		if (pkt.key.family == ELB_AF_INET &&
		    (pkt.key.src.w[1] | pkt.key.src.w[2] | pkt.key.src.w[3] | pkt.key.dst.w[1] |
		     pkt.key.dst.w[2] | pkt.key.dst.w[3]))
			abort();
		if ((pkt.flags & ELB_PKT_FRAGMENT) && (pkt.key.sport || pkt.key.dport))
			abort();
	} else if (r != ELB_PARSE_NOT_IP) {
		abort();
	}
	free(frame);
	return 0;
}
