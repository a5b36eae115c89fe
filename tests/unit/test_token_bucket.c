/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-flow rate limit: exact admit/refuse sequences worked out by hand from
 * the rates, and sustained rates over 10 simulated seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "elb_test.h"
#include "elb_token_bucket.h"

#define MS 1000000ull
#define US 1000ull
#define S 1000000000ull

static struct elb_rate_limit limit(uint64_t pps, uint64_t pkt_burst, uint64_t bps,
				   uint64_t byte_burst)
{
	struct elb_rate_limit rl;

	CU_ASSERT_FATAL(elb_rate_limit_init(&rl, pps, pkt_burst, bps, byte_burst) == 0);
	return rl;
}

static void test_init_values(void)
{
	struct elb_rate_limit rl;

	/* 10 pps: 100 ms = 6.4e9 units of 1/64 ns; burst 5 -> 5 intervals. */
	rl = limit(10, 5, 0, 0);
	CU_ASSERT_EQUAL(rl.pkt_interval, 6400000000ull);
	CU_ASSERT_EQUAL(rl.pkt_tolerance, 32000000000ull);
	CU_ASSERT_EQUAL(rl.byte_interval, 0);
	CU_ASSERT_EQUAL(rl.byte_tolerance, 0);

	rl = limit(1000000, 1, 0, 0);
	CU_ASSERT_EQUAL(rl.pkt_interval, 64000);
	/* 64e9 / 3 = 21333333333.33 rounds down; 64e9 / 7 = 9142857142.86 up. */
	CU_ASSERT_EQUAL(limit(3, 1, 0, 0).pkt_interval, 21333333333ull);
	CU_ASSERT_EQUAL(limit(7, 1, 0, 0).pkt_interval, 9142857143ull);
	/* Beyond 6.4e10 pps the interval would round to 0 (= unlimited): it
	 * stays at the shortest one instead. */
	CU_ASSERT_EQUAL(limit(1000000000000ull, 1, 0, 0).pkt_interval, 1);

	/* 1.25e9 B/s: 51.2 units per byte, kept as 51.2 * 4096 = 209715.2. A
	 * 1500-byte burst: 76799.93 units rounded down. */
	rl = limit(0, 0, 1250000000ull, 1500);
	CU_ASSERT_EQUAL(rl.pkt_interval, 0);
	CU_ASSERT_EQUAL(rl.byte_interval, 209715);
	CU_ASSERT_EQUAL(rl.byte_tolerance, 76799);
	/* 1000 B/s: 1 ms per byte, exactly. */
	rl = limit(0, 0, 1000, 1500);
	CU_ASSERT_EQUAL(rl.byte_interval, 64000000ull << ELB_RATE_BYTE_FRAC_BITS);
	CU_ASSERT_EQUAL(rl.byte_tolerance, 1500 * 64000000ull);
	CU_ASSERT_EQUAL(limit(0, 0, 1000000000000ull, 1).byte_interval, 262);

	/* Both unlimited: a zero limit. */
	rl = limit(0, 0, 0, 0);
	CU_ASSERT_EQUAL(rl.pkt_interval | rl.pkt_tolerance | rl.byte_interval | rl.byte_tolerance,
			0);
	/* A burst without a rate is ignored. */
	rl = limit(0, 7, 0, 9);
	CU_ASSERT_EQUAL(rl.pkt_tolerance | rl.byte_tolerance, 0);
}

static void test_init_errors(void)
{
	struct elb_rate_limit rl, before;

	memset(&rl, 0xa5, sizeof(rl));
	before = rl;
	CU_ASSERT_EQUAL(elb_rate_limit_init(NULL, 10, 5, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 10, 0, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 0, 0, 1000, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 1000000000001ull, 1, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 0, 0, 1000000000001ull, 1500), -EINVAL);
	/* 1 pps: 6.4e10 units per packet; 2^62 / 6.4e10 = 72057594.04 packets. */
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 1, 72057595, 0, 0), -ERANGE);
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 1, 1ull << 40, 0, 0), -ERANGE);
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 1, UINT64_MAX, 0, 0), -ERANGE);
	/* 1 B/s: the same bound in bytes; the scaled product overflows 64 bits
	 * long before, which must not be mistaken for a small value. */
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 0, 0, 1, 72057595), -ERANGE);
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 0, 0, 1, UINT64_MAX), -ERANGE);
	CU_ASSERT(memcmp(&rl, &before, sizeof(rl)) == 0);

	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 1, 72057594, 0, 0), 0);
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 0, 0, 1, 72057594), 0);
	/* 1 B/s with a 64 KiB burst: fits, though burst * scaled interval
	 * exceeds 64 bits. */
	CU_ASSERT_EQUAL(elb_rate_limit_init(&rl, 0, 0, 1, 65536), 0);
	CU_ASSERT_EQUAL(rl.byte_tolerance, 65536 * 64000000000ull);
}

static void test_zeroed_bucket_is_full(void)
{
	struct elb_rate_limit rl = limit(10, 5, 0, 0);
	struct elb_rate_limit none = limit(0, 0, 0, 0);
	struct elb_token_bucket b;
	int i;

	/* At t = 0 and at an arbitrary later time, a fresh bucket holds the
	 * whole burst. */
	memset(&b, 0, sizeof(b));
	for (i = 0; i < 5; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 0, 100));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 0, 100));

	memset(&b, 0, sizeof(b));
	for (i = 0; i < 5; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 12345 * MS + 7, 100));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 12345 * MS + 7, 100));

	/* No limit: everything passes, any size, and the bucket is untouched. */
	memset(&b, 0, sizeof(b));
	for (i = 0; i < 1000; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &none, 5, 0xffffffffu));
	CU_ASSERT_EQUAL(b.pkt_tat | b.byte_tat, 0);
}

/* 10 pps, burst 5, from `base`: 5 at once, then one every 100 ms exactly. */
static void check_pps_sequence(uint64_t base)
{
	struct elb_rate_limit rl = limit(10, 5, 0, 0);
	struct elb_token_bucket b = {0, 0};
	uint64_t k;
	int i;

	for (i = 0; i < 5; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, base, 60));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, base, 60));
	for (k = 1; k <= 50; k++) {
		uint64_t t = base + k * 100 * MS;

		CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, t - 1 * US, 60)); /* 99.999 ms */
		CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, t - 1, 60));
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, t, 60));
		CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, t, 60));
	}
	/* 250 ms of silence refills 2.5 packets: 2 pass, and the half token
	 * carries over: the next one passes 50 ms later. */
	{
		uint64_t t = base + 50 * 100 * MS + 250 * MS;

		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, t, 60));
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, t, 60));
		CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, t, 60));
		CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, t + 50 * MS - 1, 60));
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, t + 50 * MS, 60));
	}
}

static void test_pps_burst_then_interval(void)
{
	check_pps_sequence(0);
	check_pps_sequence(3 * S + 141);
}

/* The same sequences with a clock close to the end of its range. */
static void test_clock_near_limit(void)
{
	struct elb_rate_limit rl = limit(0, 0, 1000, 1500);
	struct elb_token_bucket b = {0, 0};
	uint64_t base = ELB_RATE_MAX_NOW_NS - 20 * S;

	check_pps_sequence(base);
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, base, 1500));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, base + 100 * MS, 101));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, base + 100 * MS, 100));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, ELB_RATE_MAX_NOW_NS - 1, 1500));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, ELB_RATE_MAX_NOW_NS - 1, 1));
}

static void test_byte_limit_mixed_sizes(void)
{
	/* 1000 B/s (1 byte per ms), burst 1500 bytes. */
	struct elb_rate_limit rl = limit(0, 0, 1000, 1500);
	struct elb_token_bucket b = {0, 0};
	int i;

	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 0, 1000)); /* 500 left */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 0, 600));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 0, 500)); /* 0 left */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 0, 1));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 0, 0)); /* costs nothing */

	/* 100 ms later: 100 bytes. */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 100 * MS, 101));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 100 * MS, 60));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 100 * MS, 40));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 100 * MS, 1));
	/* 1 ms later: exactly one byte. */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 101 * MS - 1, 1));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 101 * MS, 1));

	/* 1 s later: 1000 bytes; 15 x 64 = 960, then 40 more but not 41. */
	for (i = 0; i < 15; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 1101 * MS, 64));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 1101 * MS, 41));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 1101 * MS, 40));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 1101 * MS, 1));
}

/* A byte interval that is not a whole number of units: the burst is still
 * exact, whatever the packet sizes. */
static void test_byte_burst_exact(void)
{
	struct elb_rate_limit rl = limit(0, 0, 1250000000ull, 15000);
	struct elb_rate_limit slow = limit(0, 0, 3, 3);
	struct elb_token_bucket b = {0, 0};
	int i;

	for (i = 0; i < 10; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 5 * S, 1500));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 5 * S, 1));
	/* 1500 bytes later (1.2 us) one more 1500-byte packet. */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 5 * S + 1199, 1500));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 5 * S + 1200, 1500));

	/* 3 B/s: 333333333.33 ns per byte. Three 1-byte packets at once, then
	 * one per third of a second. */
	memset(&b, 0, sizeof(b));
	for (i = 0; i < 3; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &slow, S, 1));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &slow, S, 1));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &slow, S + 333333332, 1));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &slow, S + 333333334, 1));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &slow, S + 333333334, 1));
}

static void test_both_limits(void)
{
	/* 10 pps burst 2 (a packet per 100 ms) and 1000 B/s burst 1000. */
	struct elb_rate_limit rl = limit(10, 2, 1000, 1000);
	struct elb_token_bucket b = {0, 0};

	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 0, 600)); /* 1 pkt, 400 B left */
	/* Refused by bytes: must not take the second packet token... */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 0, 600));
	/* ...which this one uses: 0 packets, 0 bytes left. */
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 0, 400));

	/* 100 ms: +1 packet, +100 bytes. */
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 100 * MS, 1)); /* 0 pkt, 99 B */
	/* Refused by packets while bytes would pass: must take no bytes. */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 100 * MS, 1));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 150 * MS, 149));
	/* 200 ms: +1 packet, 99 + 100 = 199 bytes iff the refusals took none. */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 200 * MS, 200));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, 200 * MS, 199));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, 200 * MS, 0));
}

static void test_idle_refills_to_burst_only(void)
{
	struct elb_rate_limit pkts = limit(10, 5, 0, 0);
	struct elb_rate_limit bytes = limit(0, 0, 1000, 1500);
	struct elb_token_bucket bp = {0, 0}, bb = {0, 0};
	uint64_t hour = 3600 * S;
	int i;

	for (i = 0; i < 5; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&bp, &pkts, 0, 1));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&bb, &bytes, 0, 1500));

	for (i = 0; i < 5; i++)
		CU_ASSERT_TRUE(elb_token_bucket_admit(&bp, &pkts, hour, 1));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&bp, &pkts, hour, 1));

	CU_ASSERT_TRUE(elb_token_bucket_admit(&bb, &bytes, hour, 1000));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&bb, &bytes, hour, 500));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&bb, &bytes, hour, 1));
}

static void test_oversized_packet_never_passes(void)
{
	struct elb_rate_limit rl = limit(0, 0, 1000, 1500);
	struct elb_rate_limit big = limit(0, 0, 1000000000ull, 1000000);
	struct elb_token_bucket b = {0, 0};
	uint64_t t;

	for (t = 0; t < 10 * 3600 * S; t += 3600 * S)
		CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, t, 1501));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &rl, t, 1500));
	/* The refusals took nothing, the admission everything. */
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &rl, t, 1));

	/* Fail-closed beyond an IP packet's length, even under a large burst:
	 * bytes * interval is only guaranteed to fit up to there. */
	memset(&b, 0, sizeof(b));
	CU_ASSERT_TRUE(elb_token_bucket_admit(&b, &big, S, ELB_RATE_MAX_PACKET_BYTES));
	memset(&b, 0, sizeof(b));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &big, S, ELB_RATE_MAX_PACKET_BYTES + 1));
	CU_ASSERT_FALSE(elb_token_bucket_admit(&b, &big, S, 0xffffffffu));
}

/*
 * Offer packets on a time grid (every `period` ns, faster than the limit)
 * over [0, 10 s] and return what passed, in packets or bytes. The sizes
 * cycle through `sizes`.
 */
static uint64_t offer(const struct elb_rate_limit *rl, uint64_t period, const uint32_t *sizes,
		      unsigned int n_sizes, bool count_bytes)
{
	struct elb_token_bucket b = {0, 0};
	uint64_t t, passed = 0;
	unsigned int i = 0;

	for (t = 0; t <= 10 * S; t += period) {
		if (elb_token_bucket_admit(&b, rl, t, sizes[i])) {
			passed += count_bytes ? sizes[i] : 1;
			if (++i == n_sizes)
				i = 0;
		}
	}
	return passed;
}

static void check_rate(const char *what, uint64_t passed, uint64_t burst, double rate)
{
	double got = (double)(passed - burst) / 10.0;
	double error = got / rate - 1.0;

	printf("\n    %s: %.6g/s over 10 s (%+.4f%%)", what, got, error * 100.0);
	CU_ASSERT(error <= 0.001 && error >= -0.001);
}

static void test_sustained_rates(void)
{
	static const uint32_t small[] = {64};
	static const uint32_t full[] = {1500};
	static const uint32_t mixed[] = {64, 576, 1500, 40, 1280};
	struct elb_rate_limit rl;

	/* Bursts of 2 or more so that the grid's lag is absorbed; the burst is
	 * what passed beyond the rate. */
	rl = limit(1, 2, 0, 0);
	check_rate("1 pps", offer(&rl, MS, small, 1, false), 2, 1.0);
	rl = limit(3, 2, 0, 0);
	check_rate("3 pps", offer(&rl, MS, small, 1, false), 2, 3.0);
	rl = limit(1000000, 32, 0, 0);
	check_rate("1e6 pps", offer(&rl, 250, small, 1, false), 32, 1e6);
	rl = limit(0, 0, 1250000000ull, 15000);
	check_rate("1.25e9 B/s, 1500 B", offer(&rl, 600, full, 1, true), 15000, 1.25e9);
	check_rate("1.25e9 B/s, mixed", offer(&rl, 250, mixed, ELB_ARRAY_SIZE(mixed), true),
		   15000, 1.25e9);
	/* 100 Gbit/s: 5.12 units per byte, the coarsest case of the scaled
	 * byte interval. */
	rl = limit(0, 0, 12500000000ull, 15000);
	check_rate("1.25e10 B/s, 1500 B", offer(&rl, 100, full, 1, true), 15000, 1.25e10);
	/* Both limits: the byte limit binds (1e6 B/s of 1500 B = 666.7 pps). */
	rl = limit(1000, 4, 1000000, 3000);
	check_rate("1000 pps + 1e6 B/s", offer(&rl, 100 * US, full, 1, true), 3000, 1e6);
	printf("\n");
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_init_values),
		ELB_TEST(test_init_errors),
		ELB_TEST(test_zeroed_bucket_is_full),
		ELB_TEST(test_pps_burst_then_interval),
		ELB_TEST(test_clock_near_limit),
		ELB_TEST(test_byte_limit_mixed_sizes),
		ELB_TEST(test_byte_burst_exact),
		ELB_TEST(test_both_limits),
		ELB_TEST(test_idle_refills_to_burst_only),
		ELB_TEST(test_oversized_packet_never_passes),
		ELB_TEST(test_sustained_rates),
		ELB_TEST_END,
	};
	return elb_test_run("token_bucket", cases);
}
