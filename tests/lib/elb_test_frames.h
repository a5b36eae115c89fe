/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frames the C tests send and the frames they expect back, composed from
 * edgelb-pktgen's wire code (tools/pktgen/pktgen_wire.h: put_be16/32,
 * write_eth_addrs, write_ip_headers, write_tcp_header, write_udp_header,
 * l4_fill_checksum), the one frame builder of the tree.
 *
 * Built independently of the code under test: nothing here includes
 * dataplane/core, and the checksums are pktgen_wire's own plain RFC 1071
 * sum, never elb_csum.h, so an expected byte never comes from the code it
 * checks. Addresses are IPv4 in host order.
 */
#ifndef ELB_TEST_FRAMES_H
#define ELB_TEST_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pktgen_wire.h"

#define ELB_TEST_IPV4_TTL 64 /* what every test frame and expected outer header carries */

/* The Internet checksum (RFC 1071) of n bytes: folded and inverted. */
uint16_t elb_test_csum(const uint8_t *p, size_t n);

/* IPv4 address in host order as the 16-byte form of struct ip_params. */
void elb_test_ipv4_addr(uint8_t out[16], uint32_t addr);

/*
 * 20-byte IPv4 header at ip with TTL 64 and a correct checksum. total is
 * the IP length field; frag the flags and offset word (DF 0x4000, MF
 * 0x2000, offset in 8-byte units).
 */
void elb_test_ipv4(uint8_t *ip, uint8_t tos, uint16_t total, uint16_t id, uint16_t frag,
		   uint8_t proto, uint32_t src, uint32_t dst);

/*
 * Ethernet src_mac -> dst_mac, IPv4 (TOS 0x10, ID 0x1000 + sport, DF if
 * df), TCP (seq 0x01020304, an acknowledgement number 0x0a0b0c0d with
 * ACK, window 0xffff, correct checksum) and payload bytes 0, 1, 2, ...
 * Returns the frame length: 54 + payload.
 */
uint32_t elb_test_tcp4_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			     const uint8_t src_mac[ETH_ADDR_LEN], uint32_t src, uint16_t sport,
			     uint32_t dst, uint16_t dport, uint8_t flags, uint32_t payload,
			     bool df);

/*
 * The same over IPv6 (traffic class 0x10, hop limit 64): src and dst are
 * the 16 address bytes. Returns the frame length: 74 + payload.
 */
uint32_t elb_test_tcp6_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			     const uint8_t src_mac[ETH_ADDR_LEN], const uint8_t src[16],
			     uint16_t sport, const uint8_t dst[16], uint16_t dport, uint8_t flags,
			     uint32_t payload);

/*
 * Ethernet src_mac -> dst_mac, IPv4 (TOS 0, ID 0x2000 + sport, DF), UDP
 * with payload[0..payload_len) and a correct checksum. Returns the frame
 * length: 42 + payload_len.
 */
uint32_t elb_test_udp4_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			     const uint8_t src_mac[ETH_ADDR_LEN], uint32_t src, uint16_t sport,
			     uint32_t dst, uint16_t dport, const uint8_t *payload,
			     uint32_t payload_len);

/*
 * The IP-in-IP frame (RFC 2003) a balancer sends for inner[0..inner_len):
 * Ethernet src_mac -> dst_mac, outer IPv4 src -> dst with protocol 4, TTL
 * 64, the inner packet's TOS and ID, DF copied from it; then the inner
 * packet unchanged. Returns the frame length.
 */
uint32_t elb_test_ipip4_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			      const uint8_t src_mac[ETH_ADDR_LEN], uint32_t src, uint32_t dst,
			      const uint8_t *inner, uint32_t inner_len);

/*
 * The GUE frame a balancer sends for the IPv4 packet inner[0..inner_len)
 * toward an IPv4 backend: Ethernet and outer IPv4 as elb_test_ipip4_frame
 * but protocol 17, UDP sport -> dport with checksum 0; then, when
 * alternate is not 0, the GUE variant 0 header (version 0, C 0, Hlen 2,
 * proto 4, flags 0) and edgelb's second-chance private data (0xeb, type 1,
 * 1 hop left, family 4, the alternate's address) per
 * dataplane/core/elb_second_chance.h; then the inner packet. Returns the
 * frame length.
 */
uint32_t elb_test_gue4_frame(uint8_t *f, const uint8_t dst_mac[ETH_ADDR_LEN],
			     const uint8_t src_mac[ETH_ADDR_LEN], uint32_t src, uint32_t dst,
			     uint16_t sport, uint16_t dport, uint32_t alternate,
			     const uint8_t *inner, uint32_t inner_len);

#endif /* ELB_TEST_FRAMES_H */
