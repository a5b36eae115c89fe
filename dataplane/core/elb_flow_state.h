/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow states, their transitions and their idle timeouts, shared by the DPDK
 * flow table and the XDP program.
 *
 * The load balancer sees only the client-to-server direction (the backend
 * answers the client directly), so it cannot follow the TCP handshake: a
 * flow is "established" once the client sent a segment without SYN after
 * its SYN, which is the handshake's third packet or later data. The state
 * chooses the idle timeout and, when a flow-table bucket is full, which
 * entry goes first (see elb_flow_table.h).
 *
 * States:
 *   FREE             no flow (an unused table slot)
 *   TCP_SYN          only SYNs without ACK seen: unconfirmed, what a SYN
 *                    flood creates
 *   TCP_ESTABLISHED  the client sent a segment without SYN (or the flow was
 *                    picked up mid-stream, e.g. after a restart or when a
 *                    flow moved to this node)
 *   TCP_CLOSING      a FIN or RST seen
 *   UDP              a UDP flow
 *   OTHER            ICMP and every other protocol (GRE, ESP, SCTP, ...);
 *                    uses the UDP timeout
 *
 * New flow, elb_flow_state_new(proto, tcp_flags):
 *   TCP, FIN or RST set          -> TCP_CLOSING
 *   TCP, SYN without ACK         -> TCP_SYN
 *   TCP, anything else           -> TCP_ESTABLISHED  (mid-stream pickup)
 *   UDP                          -> UDP
 *   anything else                -> OTHER
 *
 * Packet of an existing TCP flow, elb_flow_state_next(state, TCP, flags);
 * checked in this order:
 *   any state,       FIN or RST         -> TCP_CLOSING
 *   TCP_SYN,         SYN without ACK    -> TCP_SYN          (retransmitted SYN)
 *   TCP_SYN,         other              -> TCP_ESTABLISHED  (third packet of the handshake)
 *   TCP_ESTABLISHED, any                -> TCP_ESTABLISHED  (see below for SYN)
 *   TCP_CLOSING,     SYN without ACK    -> TCP_SYN          (tuple reused for a new connection)
 *   TCP_CLOSING,     other              -> TCP_CLOSING      (ACKs of the teardown)
 *   FREE, UDP, OTHER                    -> as a new flow    (not a live TCP entry)
 * Packet of an existing UDP flow: UDP; of another protocol: OTHER.
 *
 * Why a SYN leaves TCP_ESTABLISHED alone: the LB cannot tell a late SYN
 * retransmission or a reuse of the tuple from a SYN spoofed into a live
 * connection; demoting would let such a SYN strip the connection of its
 * eviction protection, while keeping it costs at most a long timeout for a
 * new connection. Why CLOSING does not go back to ESTABLISHED: a half-closed
 * connection keeps sending ACKs; they keep the entry alive (each refreshes
 * the closing timeout), and if it idles out, the next ACK picks the flow up
 * again as TCP_ESTABLISHED, on the same backend unless the backend set
 * changed. A spoofed RST costs a connection the same at worst.
 *
 * Time: the flow clock ticks every 2^ELB_FLOW_TICK_SHIFT ns (16.78 ms) and is
 * kept in 32 bits, tick = now_ns >> 24. Ticks are compared with signed
 * 32-bit differences, which is right across the wrap of the counter (every
 * 2^56 ns, 2.28 years) as long as the two ticks are less than 2^31 ticks
 * (1.14 years) apart. Hence: a timeout must be below 2^31 ticks (any
 * uint32_t count of milliseconds is), and an entry nobody touched for more
 * than about 1.14 years past its expiry may look fresh again. The table's
 * incremental sweep frees expired entries long before that, and eviction
 * reclaims such an entry anyway.
 */
#ifndef ELB_FLOW_STATE_H
#define ELB_FLOW_STATE_H

#include "elb_compat.h"
#include "elb_wire.h"

enum elb_flow_state {
	ELB_FLOW_FREE = 0,
	ELB_FLOW_TCP_SYN,
	ELB_FLOW_TCP_ESTABLISHED,
	ELB_FLOW_TCP_CLOSING,
	ELB_FLOW_UDP,
	ELB_FLOW_OTHER,
	ELB_FLOW_STATE_COUNT,
};

#define ELB_FLOW_TICK_SHIFT 24 /* one tick = 2^24 ns = 16.78 ms */

#define ELB_FLOW_TIMEOUT_SYN_MS 5000u
#define ELB_FLOW_TIMEOUT_ESTABLISHED_MS 300000u
#define ELB_FLOW_TIMEOUT_CLOSING_MS 10000u
#define ELB_FLOW_TIMEOUT_UDP_MS 30000u

/* Idle timeout per state, in ticks; ticks[ELB_FLOW_FREE] is 0. Each is
 * below 2^31. */
struct elb_flow_timeouts {
	uint32_t ticks[ELB_FLOW_STATE_COUNT];
};

ELB_INLINE uint32_t elb_flow_tick(uint64_t now_ns)
{
	return (uint32_t)(now_ns >> ELB_FLOW_TICK_SHIFT);
}

/* An entry whose expiry tick is `expiry` is live at tick `now` until now
 * reaches expiry: live during [refresh, refresh + timeout). */
ELB_INLINE bool elb_flow_tick_expired(uint32_t expiry, uint32_t now)
{
	return (int32_t)(expiry - now) <= 0;
}

ELB_INLINE enum elb_flow_state elb_flow_state_new(uint8_t proto, uint8_t tcp_flags)
{
	if (proto == ELB_IPPROTO_TCP) {
		if (tcp_flags & (ELB_TCP_FIN | ELB_TCP_RST))
			return ELB_FLOW_TCP_CLOSING;
		if ((tcp_flags & (ELB_TCP_SYN | ELB_TCP_ACK)) == ELB_TCP_SYN)
			return ELB_FLOW_TCP_SYN;
		return ELB_FLOW_TCP_ESTABLISHED;
	}
	if (proto == ELB_IPPROTO_UDP)
		return ELB_FLOW_UDP;
	return ELB_FLOW_OTHER;
}

ELB_INLINE enum elb_flow_state elb_flow_state_next(enum elb_flow_state state, uint8_t proto,
						   uint8_t tcp_flags)
{
	bool syn_only = (tcp_flags & (ELB_TCP_SYN | ELB_TCP_ACK)) == ELB_TCP_SYN;

	if (proto != ELB_IPPROTO_TCP)
		return elb_flow_state_new(proto, tcp_flags);
	if (tcp_flags & (ELB_TCP_FIN | ELB_TCP_RST))
		return ELB_FLOW_TCP_CLOSING;
	switch (state) {
	case ELB_FLOW_TCP_SYN:
		return syn_only ? ELB_FLOW_TCP_SYN : ELB_FLOW_TCP_ESTABLISHED;
	case ELB_FLOW_TCP_ESTABLISHED:
		return ELB_FLOW_TCP_ESTABLISHED;
	case ELB_FLOW_TCP_CLOSING:
		return syn_only ? ELB_FLOW_TCP_SYN : ELB_FLOW_TCP_CLOSING;
	default:
		return elb_flow_state_new(proto, tcp_flags);
	}
}

#if !defined(__bpf__)
#include <errno.h>

/* Milliseconds to ticks, rounded up so that a flow is never cut short by more
 * than the tick's granularity. A uint32_t of ms is at most 2.6e8 ticks. */
static inline uint32_t elb_flow_ms_to_ticks(uint32_t ms)
{
	return (uint32_t)(((uint64_t)ms * 1000000u + (1u << ELB_FLOW_TICK_SHIFT) - 1) >>
			  ELB_FLOW_TICK_SHIFT);
}

/*
 * Fill t from timeouts in milliseconds (ELB_FLOW_TIMEOUT_*_MS are the
 * defaults); OTHER gets the UDP timeout. An entry expires after between
 * timeout - 1 tick and timeout of idleness (refreshes happen mid-tick).
 * @return 0, or -EINVAL if t is NULL or a timeout is 0 (such a flow would
 *         never be found again, and every packet would create one).
 */
static inline int elb_flow_timeouts_init(struct elb_flow_timeouts *t, uint32_t syn_ms,
					 uint32_t established_ms, uint32_t closing_ms,
					 uint32_t udp_ms)
{
	if (t == NULL || syn_ms == 0 || established_ms == 0 || closing_ms == 0 || udp_ms == 0)
		return -EINVAL;
	t->ticks[ELB_FLOW_FREE] = 0;
	t->ticks[ELB_FLOW_TCP_SYN] = elb_flow_ms_to_ticks(syn_ms);
	t->ticks[ELB_FLOW_TCP_ESTABLISHED] = elb_flow_ms_to_ticks(established_ms);
	t->ticks[ELB_FLOW_TCP_CLOSING] = elb_flow_ms_to_ticks(closing_ms);
	t->ticks[ELB_FLOW_UDP] = elb_flow_ms_to_ticks(udp_ms);
	t->ticks[ELB_FLOW_OTHER] = t->ticks[ELB_FLOW_UDP];
	return 0;
}

/* Counter and log name of a state: "free", "tcp_syn", ... */
static inline const char *elb_flow_state_name(enum elb_flow_state state)
{
	static const char *const names[ELB_FLOW_STATE_COUNT] = {
		[ELB_FLOW_FREE] = "free",
		[ELB_FLOW_TCP_SYN] = "tcp_syn",
		[ELB_FLOW_TCP_ESTABLISHED] = "tcp_established",
		[ELB_FLOW_TCP_CLOSING] = "tcp_closing",
		[ELB_FLOW_UDP] = "udp",
		[ELB_FLOW_OTHER] = "other",
	};

	if ((unsigned int)state >= ELB_FLOW_STATE_COUNT)
		return "unknown";
	return names[state];
}
#endif /* !__bpf__ */

/* Flags of a flow entry, in both dataplanes' tables. */
#define ELB_FLOW_F_RATE_LIMITED 1u /* the flow has hit its rate limit (counted once) */
/* Learned mid-stream (a miss on anything but a TCP SYN: after a restart, on
 * another CPU or worker, or from another node): the backend is Maglev's
 * guess, not sure, so its packets carry the second-chance alternate
 * (elb_second_chance.h). */
#define ELB_FLOW_F_MIDSTREAM 2u

#endif /* ELB_FLOW_STATE_H */
