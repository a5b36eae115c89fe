/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow key and flow hash, shared by both dataplanes.
 *
 * The hash decides the Maglev slot of a new flow, so every node of a fleet,
 * DPDK or XDP, must compute the same value for the same packet: it depends
 * only on the key bytes and the fleet-wide seed, never on the node.
 *
 * Hash: SipHash-1-3 (Aumasson & Bernstein) keyed with the 128-bit seed, over
 * the 40 key bytes. A keyed PRF rather than jhash/murmur because the flow
 * table and the Maglev pick are indexed by it: with a secret seed, a sender
 * cannot aim many 5-tuples at one flow-table bucket. Cost: 5 compression
 * rounds + 3 finalisation rounds on 64-bit words: about 30 TSC cycles per key
 * on the 2-vCPU EPYC test machine (edgelb-bench prints the measured figure).
 *
 * What the key leaves out: the VLAN tag and the interface (a flow keeps its
 * backend whichever link of an ECMP bundle delivers it). IP fragments are
 * keyed on addresses and protocol only (ports zero), first fragment
 * included, because later fragments carry no ports: all fragments of one
 * datagram then reach one backend, which can reassemble it. The cost: a UDP
 * flow whose datagrams are sometimes fragmented may have its fragmented and
 * unfragmented datagrams on different backends. TCP with path-MTU discovery
 * (DF set) never fragments and is unaffected.
 */
#ifndef ELB_FLOW_H
#define ELB_FLOW_H

#include "elb_compat.h"

#define ELB_AF_INET 4
#define ELB_AF_INET6 6

/* An IPv4 or IPv6 address; an IPv4 address sits in the first 4 bytes and the
 * other 12 are zero, so that keys compare and hash as plain bytes. */
union elb_addr {
	uint32_t v4; /* network order */
	uint8_t v6[16];
	uint32_t w[4];
	uint64_t d[2];
};

struct elb_flow_key {
	union elb_addr src; /* client */
	union elb_addr dst; /* VIP */
	uint16_t sport;     /* network order; 0 for fragments and ICMP */
	uint16_t dport;     /* network order; 0 for fragments and ICMP */
	uint8_t proto;      /* ELB_IPPROTO_* */
	uint8_t family;     /* ELB_AF_INET or ELB_AF_INET6 */
	uint8_t pad[2];     /* always zero: keys are compared and hashed as bytes */
};
_Static_assert(sizeof(struct elb_flow_key) == 40, "flow key is 5 64-bit words");

/*
 * What a flow table keeps of a flow key, in both dataplanes (the DPDK
 * table's entries, the XDP flow maps' keys): the client's address and the
 * ports, with the VIP's index in place of the VIP's address, protocol and
 * family, which the VIP fixes: 24 bytes instead of the key's 40, so less
 * to hash, compare and hold. Within one configuration it names one key; an
 * index given to another VIP later can make a stale entry match, but its
 * backend slot then belongs to no VIP of that index (both dataplanes check
 * slot, generation and VIP on every hit), so the flow is picked anew, as
 * after any backend change. The layout is that of the pinned XDP flow maps:
 * it must not change.
 */
struct elb_flow_id {
	union elb_addr src; /* client */
	uint16_t sport;     /* network order */
	uint16_t dport;     /* network order */
	uint16_t vip_index; /* the VIP the key's destination, protocol and family found */
	uint8_t pad[2];     /* always zero: ids compare (and XDP hash keys hash) as bytes */
};
_Static_assert(sizeof(struct elb_flow_id) == 24, "a flow id is 3 64-bit words");

/* The last word built in a register and stored whole: a later 64-bit read
 * of it (compare, hash) is then forwarded from one store, not several. */
ELB_INLINE void elb_flow_id_set(struct elb_flow_id *id, const struct elb_flow_key *key,
				uint16_t vip_index)
{
	uint64_t last = 0;

	id->src = key->src;
	elb_memcpy(&last, &key->sport, 4); /* sport, dport */
	elb_memcpy((uint8_t *)&last + 4, &vip_index, 2);
	elb_memcpy((uint8_t *)id + 16, &last, 8);
}

ELB_INLINE bool elb_flow_id_equal(const struct elb_flow_id *a, const struct elb_flow_id *b)
{
	uint64_t x[3], y[3];

	elb_memcpy(x, a, sizeof(x));
	elb_memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2])) == 0;
}

/* The fleet-wide hash key. Every node behind one ECMP group must use the
 * same value, or flows move between backends when the router moves them
 * between nodes. */
struct elb_hash_seed {
	uint64_t k0;
	uint64_t k1;
};

/* Used when the configuration sets no seed. Operators should set a secret
 * one: with a known seed, flow-table collisions can be aimed. */
#define ELB_HASH_SEED_DEFAULT_K0 0x6564676c62206b30ULL /* "edglb k0" */
#define ELB_HASH_SEED_DEFAULT_K1 0x6564676c62206b31ULL /* "edglb k1" */

#define ELB_ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define ELB_SIPROUND(v0, v1, v2, v3)                                                       \
	do {                                                                               \
		v0 += v1;                                                                  \
		v1 = ELB_ROTL64(v1, 13);                                                   \
		v1 ^= v0;                                                                  \
		v0 = ELB_ROTL64(v0, 32);                                                   \
		v2 += v3;                                                                  \
		v3 = ELB_ROTL64(v3, 16);                                                   \
		v3 ^= v2;                                                                  \
		v0 += v3;                                                                  \
		v3 = ELB_ROTL64(v3, 21);                                                   \
		v3 ^= v0;                                                                  \
		v2 += v1;                                                                  \
		v1 = ELB_ROTL64(v1, 17);                                                   \
		v1 ^= v2;                                                                  \
		v2 = ELB_ROTL64(v2, 32);                                                   \
	} while (0)

/* SipHash-1-3 of n 64-bit words read as little-endian byte strings (8n
 * bytes), the length a multiple of 8. Equals the reference SipHash-1-3 of
 * those bytes. */
ELB_INLINE uint64_t elb_siphash13_words(const uint64_t *words, unsigned int n,
					const struct elb_hash_seed *seed)
{
	uint64_t v0 = seed->k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = seed->k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = seed->k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = seed->k1 ^ 0x7465646279746573ULL;
	unsigned int i;

ELB_UNROLL
	for (i = 0; i < n; i++) {
		uint64_t m = elb_le64(words[i]);

		v3 ^= m;
		ELB_SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	/* Final block: no tail bytes, only the length in the top byte. */
	{
		uint64_t b = (uint64_t)(n * 8) << 56;

		v3 ^= b;
		ELB_SIPROUND(v0, v1, v2, v3);
		v0 ^= b;
	}
	v2 ^= 0xff;
	ELB_SIPROUND(v0, v1, v2, v3);
	ELB_SIPROUND(v0, v1, v2, v3);
	ELB_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/*
 * The key is read as five 64-bit words through a copy, not a cast: the last
 * word holds the uint16_t/uint8_t fields, and reading those through a
 * uint64_t lvalue breaks C's aliasing rules, which lets an optimizing
 * compiler move the read above the stores that filled the key. The copy of
 * a constant 40 bytes compiles to the same five loads (BPF included).
 */
ELB_INLINE uint64_t elb_flow_hash(const struct elb_flow_key *key, const struct elb_hash_seed *seed)
{
	uint64_t w[sizeof(*key) / sizeof(uint64_t)];

	elb_memcpy(w, key, sizeof(w));
	return elb_siphash13_words(w, ELB_ARRAY_SIZE(w), seed);
}

ELB_INLINE bool elb_flow_key_equal(const struct elb_flow_key *a, const struct elb_flow_key *b)
{
	uint64_t x[sizeof(*a) / sizeof(uint64_t)], y[sizeof(*b) / sizeof(uint64_t)];

	elb_memcpy(x, a, sizeof(x));
	elb_memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}


/*
 * Store the key again as five whole 64-bit words. The parser fills it field
 * by field (1- to 4-byte stores over a zeroed block); a 64-bit read of such
 * a word (the hash, the VIP and flow lookups, the key compare and copy) cannot
 * be forwarded from several narrow stores still in flight, and waits until
 * they reach the cache. Each field read back here is forwarded from its own
 * store; the words are built in registers.
 */
ELB_INLINE void elb_flow_key_store_words(struct elb_flow_key *key)
{
	uint64_t w[sizeof(*key) / sizeof(uint64_t)];
	unsigned int i;

ELB_UNROLL
	for (i = 0; i < 4; i++) {
		const uint32_t *a = i < 2 ? &key->src.w[2 * i] : &key->dst.w[2 * (i - 2)];
		uint32_t lo = a[0], hi = a[1];

		elb_memcpy((uint8_t *)&w[i], &lo, 4);
		elb_memcpy((uint8_t *)&w[i] + 4, &hi, 4);
	}
	{
		uint8_t last[8] = {0};

		elb_memcpy(last, &key->sport, 2);
		elb_memcpy(last + 2, &key->dport, 2);
		last[4] = key->proto;
		last[5] = key->family;
		elb_memcpy(&w[4], last, 8);
	}
	elb_memcpy(key, w, sizeof(w));
}

#endif /* ELB_FLOW_H */
