/* SPDX-License-Identifier: BSD-3-Clause */
/* The names of QUIC routing outcomes; see elb_quic_route.h. */
#include "elb_quic_route.h"

static const char *const outcome_names[] = {
#define ELB_QUIC_OUTCOME_NAME(name, counter, text) counter,
	ELB_QUIC_OUTCOME_LIST(ELB_QUIC_OUTCOME_NAME)
#undef ELB_QUIC_OUTCOME_NAME
};

static const char *const outcome_texts[] = {
#define ELB_QUIC_OUTCOME_TEXT(name, counter, text) text,
	ELB_QUIC_OUTCOME_LIST(ELB_QUIC_OUTCOME_TEXT)
#undef ELB_QUIC_OUTCOME_TEXT
};

const char *elb_quic_outcome_name(enum elb_quic_outcome outcome)
{
	return (unsigned int)outcome < ELB_QUIC_OUTCOMES ? outcome_names[outcome] : "unknown";
}

const char *elb_quic_outcome_text(enum elb_quic_outcome outcome)
{
	return (unsigned int)outcome < ELB_QUIC_OUTCOMES ? outcome_texts[outcome] : "unknown";
}

const char *elb_quic_packet_name(enum elb_quic_packet packet)
{
	static const char *const names[] = {
		[ELB_QUIC_NOT_QUIC] = "not_quic", [ELB_QUIC_INITIAL] = "initial",
		[ELB_QUIC_0RTT] = "0rtt",	  [ELB_QUIC_HANDSHAKE] = "handshake",
		[ELB_QUIC_RETRY] = "retry",	  [ELB_QUIC_LONG_OTHER] = "other_version",
		[ELB_QUIC_SHORT] = "short",
	};

	return (unsigned int)packet < ELB_ARRAY_SIZE(names) ? names[packet] : "unknown";
}
