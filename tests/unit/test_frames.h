/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frames for the pipeline's unit tests, built byte by byte from the wire
 * formats (independently of the code under test): big-endian stores, the
 * Internet checksum, Ethernet + IPv4 + TCP.
 */
#ifndef TEST_FRAMES_H
#define TEST_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Ethernet src -> dst. */
static inline uint32_t put_eth_macs(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
				    uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
	return 14;
}

/* IPv4 header with a correct checksum. frag: flags and offset field. */
static inline void put_ip4(uint8_t *ip, uint8_t tos, uint16_t total, uint16_t id, uint16_t frag,
			   uint8_t proto, uint32_t src, uint32_t dst)
{
	ip[0] = 0x45;
	ip[1] = tos;
	put16(ip + 2, total);
	put16(ip + 4, id);
	put16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, csum(ip, 20));
}

/* Ethernet src_mac -> dst_mac + IPv4 + TCP (20 bytes) + payload bytes 0, 1, 2, ... */
static inline uint32_t build_tcp4_macs(uint8_t *f, const uint8_t dst_mac[6],
				       const uint8_t src_mac[6], uint32_t src, uint16_t sport,
				       uint32_t dst, uint16_t dport, uint8_t flags, uint32_t payload,
				       bool df)
{
	uint8_t *ip = f + 14, *tcp = ip + 20;

	put_eth_macs(f, dst_mac, src_mac, 0x0800);
	put_ip4(ip, 0x10, (uint16_t)(40 + payload), (uint16_t)(0x1000 + sport), df ? 0x4000 : 0,
		6, src, dst);
	put16(tcp, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, 0x01020304);
	put32(tcp + 8, (flags & 0x10) ? 0x0a0b0c0d : 0); /* ACK: an acknowledgement number */
	tcp[12] = 0x50;
	tcp[13] = flags;
	put16(tcp + 14, 0xffff);
	put16(tcp + 16, 0x1234); /* not checked by anyone on the way */
	put16(tcp + 18, 0);
	for (uint32_t i = 0; i < payload; i++)
		tcp[20 + i] = (uint8_t)i;
	return 14 + 40 + payload;
}

#endif /* TEST_FRAMES_H */
