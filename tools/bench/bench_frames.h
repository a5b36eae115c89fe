/* SPDX-License-Identifier: BSD-3-Clause */
/* The benchmarks' traffic: 60-byte Ethernet/IPv4/TCP frames (40-byte IP
 * packet and 6 bytes of Ethernet padding, as a 64-byte wire frame carries). */
#ifndef BENCH_FRAMES_H
#define BENCH_FRAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_FRAME_LEN 60

/* client and vip in host order; flags are the TCP flags. */
static inline void bench_frame_ipv4_tcp(uint8_t *f, uint32_t client, uint16_t sport, uint32_t vip, uint8_t flags)
{
	static const uint8_t hdr[] = {
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00,
		0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
	};

	memset(f, 0, BENCH_FRAME_LEN);
	memcpy(f, hdr, sizeof(hdr));
	f[26] = (uint8_t)(client >> 24);
	f[27] = (uint8_t)(client >> 16);
	f[28] = (uint8_t)(client >> 8);
	f[29] = (uint8_t)client;
	f[30] = (uint8_t)(vip >> 24);
	f[31] = (uint8_t)(vip >> 16);
	f[32] = (uint8_t)(vip >> 8);
	f[33] = (uint8_t)vip;
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[36] = 0;
	f[37] = 80;
	f[46] = 0x50;
	f[47] = flags;
}

/*
 * n frames to dst (host order), of n distinct flows (clients 198.18.x.y,
 * 256 source ports each) or, with one_flow, n copies of the first.
 * malloc'ed: the caller frees.
 */
static inline uint8_t *bench_make_frames(uint32_t n, uint32_t dst, uint8_t flags, bool one_flow)
{
	uint8_t *f = malloc((size_t)n * BENCH_FRAME_LEN);

	for (uint32_t i = 0; f && i < n; i++) {
		uint32_t k = one_flow ? 0 : i;

		bench_frame_ipv4_tcp(f + (size_t)i * BENCH_FRAME_LEN, 0xc6120000u + (k >> 8),
				     (uint16_t)(10000 + (k & 0xff)), dst, flags);
	}
	return f;
}

#endif
