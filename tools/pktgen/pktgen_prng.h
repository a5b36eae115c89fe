/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The generator's own pseudo-random numbers: xoshiro256** seeded through
 * splitmix64. Not rand(): one seed must give the same capture with every
 * libc. Each stream of packets (a flow, a datagram, one malformed frame)
 * owns a generator derived from (seed, stream number), so what one stream
 * draws never shifts what another draws: a change in one kind of traffic
 * leaves the bytes of the others alone.
 */
#ifndef PKTGEN_PRNG_H
#define PKTGEN_PRNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prng {
	uint64_t s[4];
};

static inline uint64_t splitmix64_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A generator for stream number `stream` of the run seeded with `seed`. */
static inline void prng_seed(struct prng *r, uint64_t seed, uint64_t stream)
{
	uint64_t sm = seed;

	sm = splitmix64_next(&sm) ^ (stream * 0xd1b54a32d192ed03ull);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64_next(&sm);
}

static inline uint64_t prng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t prng_next(struct prng *r)
{
	uint64_t result = prng_rotl(r->s[1] * 5, 7) * 9;
	uint64_t t = r->s[1] << 17;

	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = prng_rotl(r->s[3], 45);
	return result;
}

/* Uniform in [0, n), without modulo bias (Lemire's multiply and reject). */
static inline uint64_t prng_below(struct prng *r, uint64_t n)
{
	unsigned __int128 m;
	uint64_t low;

	if (n == 0)
		return 0;
	m = (unsigned __int128)prng_next(r) * n;
	low = (uint64_t)m;
	if (low < n) {
		uint64_t threshold = -n % n;

		while (low < threshold) {
			m = (unsigned __int128)prng_next(r) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* Uniform in [lo, hi], both included. */
static inline uint64_t prng_range(struct prng *r, uint64_t lo, uint64_t hi)
{
	return lo + prng_below(r, hi - lo + 1);
}

/* True with probability percent/100. */
static inline bool prng_percent(struct prng *r, unsigned int percent)
{
	return prng_below(r, 100) < percent;
}

static inline void prng_fill(struct prng *r, uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v = prng_next(r);

		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(v >> (8 * i));
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = prng_next(r);

		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)(v >> (8 * i));
	}
}

#endif /* PKTGEN_PRNG_H */
