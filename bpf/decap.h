/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the backend decapsulation program (bpf/decap.bpf.c) and its loader
 * (tools/decap/edgelb_decap.c, `edgelb-decap --stats`) share: the reasons
 * it counts, one per-CPU counter each in the map ELB_DECAP_STATS_MAP. Every
 * encapsulated packet it recognizes is counted once; frames that are not
 * encapsulated for us are not counted.
 */
#ifndef ELB_DECAP_H
#define ELB_DECAP_H

/* The map's name, as the kernel keeps it (15 characters at most). */
#define ELB_DECAP_STATS_MAP "decap_stats"

enum elb_decap_stat {
	/* Decapsulated and kept: IP-in-IP, GUE variant 1, or GUE variant 0
	 * whose private data is not edgelb's second chance. */
	ELB_DECAP_KEPT_NO_ALTERNATE,
	/* Kept: second chance switched off at load (--no-second-chance). */
	ELB_DECAP_KEPT_SECOND_CHANCE_OFF,
	/* Kept: the inner packet is not the start of a TCP segment (UDP, ICMP,
	 * a fragment, IPv6 extension headers): only TCP is handed over. */
	ELB_DECAP_KEPT_NOT_TCP,
	/* Kept: a SYN (a connection starts where it lands). */
	ELB_DECAP_KEPT_SYN,
	/* Kept: a local socket other than a listener owns the connection
	 * (established, a pending request, time-wait). */
	ELB_DECAP_KEPT_SOCKET,
	/* Kept: only a listener matched, and the ACK carries a valid SYN
	 * cookie of it (a cookie handshake completing here). */
	ELB_DECAP_KEPT_SYNCOOKIE,
	/* Kept: forwarded once already (hops left 0). */
	ELB_DECAP_KEPT_HOPS_EXHAUSTED,
	/* Kept: forwarding is off on the interface (net.ipv4.conf.IF.forwarding,
	 * net.ipv6.conf.IF.forwarding), which bpf_fib_lookup requires. */
	ELB_DECAP_KEPT_FORWARDING_OFF,
	/* Kept: no route or no neighbour toward the alternate. */
	ELB_DECAP_KEPT_FIB_FAILED,
	/* Sent on to the alternate backend. */
	ELB_DECAP_FORWARDED,
	/* Passed untouched: GUE private data that the packet cuts short
	 * before its first 4 bytes (whose it is cannot be told); edgelb's
	 * private data that does not fit its GUE header or the packet, names
	 * another family than the outer header's, or comes with no IP packet
	 * inside. */
	ELB_DECAP_MALFORMED,
	ELB_DECAP_STAT_COUNT
};

#endif /* ELB_DECAP_H */
