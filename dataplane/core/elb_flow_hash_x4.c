/* SPDX-License-Identifier: BSD-3-Clause */
/* Four flow hashes at once; see elb_flow_hash_x4.h. */
#include "elb_flow_hash_x4.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define X4_TARGET __attribute__((target("avx2")))

X4_TARGET static inline __m256i x4_rotl(__m256i x, int b)
{
	return _mm256_or_si256(_mm256_slli_epi64(x, b), _mm256_srli_epi64(x, 64 - b));
}

/* Rotations by whole bytes are one shuffle instead of two shifts and an or. */
X4_TARGET static inline __m256i x4_rotl16(__m256i x)
{
	const __m256i bytes = _mm256_setr_epi8(6, 7, 0, 1, 2, 3, 4, 5, 14, 15, 8, 9, 10, 11, 12, 13,
					       6, 7, 0, 1, 2, 3, 4, 5, 14, 15, 8, 9, 10, 11, 12, 13);

	return _mm256_shuffle_epi8(x, bytes);
}

X4_TARGET static inline __m256i x4_rotl32(__m256i x)
{
	return _mm256_shuffle_epi32(x, 0xb1); /* swap the 32-bit halves of each lane */
}

/* ELB_SIPROUND of elb_flow.h, one 64-bit lane per key. */
#define X4_SIPROUND(v0, v1, v2, v3)                                                         \
	do {                                                                                \
		v0 = _mm256_add_epi64(v0, v1);                                              \
		v1 = x4_rotl(v1, 13);                                                       \
		v1 = _mm256_xor_si256(v1, v0);                                              \
		v0 = x4_rotl32(v0);                                                         \
		v2 = _mm256_add_epi64(v2, v3);                                              \
		v3 = x4_rotl16(v3);                                                         \
		v3 = _mm256_xor_si256(v3, v2);                                              \
		v0 = _mm256_add_epi64(v0, v3);                                              \
		v3 = x4_rotl(v3, 21);                                                       \
		v3 = _mm256_xor_si256(v3, v0);                                              \
		v2 = _mm256_add_epi64(v2, v1);                                              \
		v1 = x4_rotl(v1, 17);                                                       \
		v1 = _mm256_xor_si256(v1, v2);                                              \
		v2 = x4_rotl32(v2);                                                         \
	} while (0)

X4_TARGET static void flow_hash_x4_avx2(const struct elb_flow_key *const keys[4],
					const struct elb_hash_seed *seed, uint64_t out[4])
{
	__m256i v0 = _mm256_set1_epi64x((long long)(seed->k0 ^ 0x736f6d6570736575ULL));
	__m256i v1 = _mm256_set1_epi64x((long long)(seed->k1 ^ 0x646f72616e646f6dULL));
	__m256i v2 = _mm256_set1_epi64x((long long)(seed->k0 ^ 0x6c7967656e657261ULL));
	__m256i v3 = _mm256_set1_epi64x((long long)(seed->k1 ^ 0x7465646279746573ULL));
	__m256i b;

	for (unsigned int i = 0; i < sizeof(struct elb_flow_key) / sizeof(uint64_t); i++) {
		uint64_t w[4];
		__m256i m;

		for (unsigned int k = 0; k < 4; k++)
			elb_memcpy(&w[k], (const uint8_t *)keys[k] + 8 * i, 8);
		m = _mm256_setr_epi64x((long long)elb_le64(w[0]), (long long)elb_le64(w[1]),
				       (long long)elb_le64(w[2]), (long long)elb_le64(w[3]));
		v3 = _mm256_xor_si256(v3, m);
		X4_SIPROUND(v0, v1, v2, v3);
		v0 = _mm256_xor_si256(v0, m);
	}
	b = _mm256_set1_epi64x((long long)((uint64_t)sizeof(struct elb_flow_key) << 56));
	v3 = _mm256_xor_si256(v3, b);
	X4_SIPROUND(v0, v1, v2, v3);
	v0 = _mm256_xor_si256(v0, b);
	v2 = _mm256_xor_si256(v2, _mm256_set1_epi64x(0xff));
	X4_SIPROUND(v0, v1, v2, v3);
	X4_SIPROUND(v0, v1, v2, v3);
	X4_SIPROUND(v0, v1, v2, v3);
	_mm256_storeu_si256((__m256i *)(void *)out,
			    _mm256_xor_si256(_mm256_xor_si256(v0, v1), _mm256_xor_si256(v2, v3)));
}

static bool cpu_has_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}
#endif

static void flow_hash_x4_scalar(const struct elb_flow_key *const keys[4],
				const struct elb_hash_seed *seed, uint64_t out[4])
{
	for (unsigned int k = 0; k < 4; k++)
		out[k] = elb_flow_hash(keys[k], seed);
}

elb_flow_hash_x4_fn *elb_flow_hash_x4_select(bool allow_simd)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (allow_simd && cpu_has_avx2())
		return flow_hash_x4_avx2;
#else
	(void)allow_simd;
#endif
	return flow_hash_x4_scalar;
}
