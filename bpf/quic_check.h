/* SPDX-License-Identifier: BSD-3-Clause */
/* What quic_check.bpf.c records per payload; read by tests/bpf/test_bpf_quic_diff. */
#ifndef QUIC_CHECK_H
#define QUIC_CHECK_H

#include "elb_quic_lb.h"

/* The payload starts after a 14-octet Ethernet header (BPF_PROG_TEST_RUN
 * wants a frame); this many octets of it are read. */
#define QUIC_CHECK_PAYLOAD_OFF 14
#define QUIC_CHECK_READ (6 + ELB_QUIC_CID_MAX)

struct quic_check_result {
	uint32_t packet; /* enum elb_quic_packet */
	uint32_t dcid_off;
	uint32_t dcid_len;
	uint32_t config_id;
	uint32_t miss; /* enum elb_quic_lb_miss, when the DCID was decoded */
	uint8_t sid[ELB_QUIC_SERVER_ID_MAX];
	uint8_t pad;
};

#endif
