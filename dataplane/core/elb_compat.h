/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Portability layer of the edgelb core: the core's headers compile both as
 * ordinary C (DPDK dataplane, control plane, tests) and with
 * `clang -target bpf` (XDP program). Nothing here may pull in libc, DPDK or
 * libbpf headers when building for BPF.
 */
#ifndef ELB_COMPAT_H
#define ELB_COMPAT_H

#if defined(__bpf__)
/* The BPF target has no libc: glibc's <stdint.h> fails there. */
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;
typedef __SIZE_TYPE__ size_t;
#ifndef __cplusplus
typedef _Bool bool;
#define true 1
#define false 0
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

/*
 * Every core function is inlined: the BPF verifier sees one straight
 * program, and the DPDK burst loop gets no call overhead on the hot path.
 */
#define ELB_INLINE static inline __attribute__((always_inline))

#define ELB_LIKELY(x) __builtin_expect(!!(x), 1)
#define ELB_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Full unrolling of a loop with a constant trip count: the BPF verifier of
 * older kernels rejects back-edges, and the hot path gains from it anyway. */
#if defined(__clang__)
#define ELB_UNROLL _Pragma("unroll")
#else
#define ELB_UNROLL _Pragma("GCC unroll 16")
#endif

#define ELB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* An index into an array of mask + 1 elements (a power of two), computed
 * at run time: masked, so the verifier knows its range, and opaque to the
 * compiler first, so that clang does not fold it into the array's aligned
 * stack address with an or (which the verifier refuses on a pointer). In
 * range, the mask changes nothing. */
#if defined(__bpf__)
#define ELB_INDEX(i, mask)                                                                   \
	({                                                                                   \
		uint32_t elb_index_ = (i);                                                   \
		__asm__ volatile("" : "+r"(elb_index_));                                     \
		elb_index_ & (mask);                                                         \
	})
#else
#define ELB_INDEX(i, mask) ((i) & (mask))
#endif

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__)
#error "compiler does not define __BYTE_ORDER__"
#endif

/* Network/host byte order, usable on both targets (no <arpa/inet.h>). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define elb_bswap16(x) ((uint16_t)__builtin_bswap16(x))
#define elb_bswap32(x) ((uint32_t)__builtin_bswap32(x))
#define elb_bswap64(x) ((uint64_t)__builtin_bswap64(x))
#define elb_ntohs(x) elb_bswap16(x)
#define elb_htons(x) elb_bswap16(x)
#define elb_ntohl(x) elb_bswap32(x)
#define elb_htonl(x) elb_bswap32(x)
#define elb_le64(x) ((uint64_t)(x))
#else
#define elb_ntohs(x) ((uint16_t)(x))
#define elb_htons(x) ((uint16_t)(x))
#define elb_ntohl(x) ((uint32_t)(x))
#define elb_htonl(x) ((uint32_t)(x))
#define elb_le64(x) ((uint64_t)__builtin_bswap64(x))
#endif

/*
 * Byte copies of a size known at compile time. The BPF backend lowers
 * __builtin_memcpy with a constant size to plain loads and stores; a libc
 * memcpy call would not link there.
 */
#define elb_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define elb_memset(d, c, n) __builtin_memset((d), (c), (n))

#endif /* ELB_COMPAT_H */
