/* SPDX-License-Identifier: BSD-3-Clause */
/* The benchmarks' traffic: 60-byte Ethernet/IPv4/TCP frames (40-byte IP
 * packet and 6 bytes of Ethernet padding, as a 64-byte wire frame carries). */
#ifndef BENCH_FRAMES_H
#define BENCH_FRAMES_H

#include <stdint.h>
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

#endif
