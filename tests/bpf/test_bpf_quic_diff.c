/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One definition, two dataplanes, for QUIC-LB: the C build of
 * elb_quic_lb.h (AES-NI) and its BPF build (bpf/quic_check.bpf.c, AES by
 * tables), on the same payloads, must find the same packet type and DCID
 * and decode the same server ID, for every mode and every server ID and
 * nonce length the draft allows: CIDs a server would make
 * (elb_quic_lb_encode), CIDs of random octets, CIDs one octet short, long
 * headers of v1, v2 and other versions, short headers, truncated
 * payloads. Also prints the BPF run's cost per mode (BPF_PROG_TEST_RUN
 * repeated): a figure, not an assertion. Root only (77 otherwise).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "elb_quic_lb.h"
#include "elb_test.h"
#include "quic_check.h"
#include "quic_check.skel.h"

static struct quic_check *skel;
static int prog_fd;

/* The payload after a 14-octet Ethernet header of zeros. */
static int run_bpf(const uint8_t *payload, uint32_t len, struct quic_check_result *out)
{
	uint8_t frame[QUIC_CHECK_PAYLOAD_OFF + 64] = {0};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
		    .data_size_in = QUIC_CHECK_PAYLOAD_OFF + len, .repeat = 1);
	int rc;

	memcpy(frame + QUIC_CHECK_PAYLOAD_OFF, payload, len);
	rc = bpf_prog_test_run_opts(prog_fd, &opts);
	if (rc)
		return -errno;
	*out = skel->bss->result;
	return 0;
}

static uint64_t runs, differences;

static void compare(const struct elb_quic_lb_config *c, uint32_t short_len, const uint8_t *payload,
		    uint32_t len)
{
	struct quic_check_result bpf;
	uint8_t cid[ELB_QUIC_CID_ROOM] = {0}, sid[ELB_QUIC_SERVER_ID_MAX] = {0};
	uint32_t off = 0, cid_len = 0, miss = ELB_QUIC_LB_MISSES;
	enum elb_quic_packet packet;
	bool same;

	skel->bss->config = *c;
	skel->bss->short_cid_len = short_len;
	CU_ASSERT_EQUAL_FATAL(run_bpf(payload, len, &bpf), 0);
	packet = elb_quic_parse(payload, len, short_len, &off, &cid_len);
	if (packet != ELB_QUIC_NOT_QUIC) {
		memcpy(cid, payload + off, len - off < ELB_QUIC_CID_MAX ? len - off : ELB_QUIC_CID_MAX);
		miss = elb_quic_lb_decode(c, cid, cid_len, sid);
	}
	same = bpf.packet == packet && bpf.miss == miss &&
	       (packet == ELB_QUIC_NOT_QUIC ||
		(bpf.dcid_off == off && bpf.dcid_len == cid_len)) &&
	       (miss != ELB_QUIC_LB_DECODED || memcmp(bpf.sid, sid, c->server_id_len) == 0);
	runs++;
	if (!same) {
		if (differences++ < 5)
			fprintf(stderr, "\n  mode %u sid %u nonce %u len %u: C %d/%u, BPF %u/%u\n",
				c->mode, c->server_id_len, c->nonce_len, len, packet, miss,
				bpf.packet, bpf.miss);
	}
}

static void random_bytes(uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)random();
}

static void test_c_and_bpf_agree(void)
{
	uint8_t key[16], sid[ELB_QUIC_SERVER_ID_MAX], nonce[ELB_QUIC_CID_MAX];
	uint8_t payload[64];
	struct elb_quic_lb_config c;

	srandom(1919);
	for (uint32_t sid_len = 1; sid_len <= ELB_QUIC_SERVER_ID_MAX; sid_len++) {
		for (uint32_t nonce_len = ELB_QUIC_NONCE_MIN;
		     sid_len + nonce_len <= ELB_QUIC_PLAINTEXT_MAX; nonce_len++) {
			for (int keyed = 0; keyed < 2; keyed++) {
				uint32_t cid_len = 1 + sid_len + nonce_len;

				random_bytes(key, sizeof(key));
				CU_ASSERT_EQUAL_FATAL(elb_quic_lb_config_init(&c, sid_len, nonce_len,
									      keyed ? key : NULL), 0);
				for (int trial = 0; trial < 6; trial++) {
					random_bytes(sid, sid_len);
					random_bytes(nonce, nonce_len);
					random_bytes(payload, sizeof(payload));
					/* Short header, a server's CID. */
					payload[0] = 0x40;
					elb_quic_lb_encode(&c, (uint32_t)random() % 7, sid, nonce,
							   payload + 1);
					compare(&c, cid_len, payload, 1 + cid_len + 20);
					/* The same CID in a v1 or v2 Handshake. */
					memmove(payload + 6, payload + 1, cid_len);
					payload[0] = trial & 1 ? 0xe0 : 0xf0;
					memcpy(payload + 1, trial & 1 ? "\x00\x00\x00\x01" : "\x6b\x33\x43\xcf", 4);
					payload[5] = (uint8_t)cid_len;
					compare(&c, cid_len, payload, 6 + cid_len + 30);
					/* Random octets as a short header's CID. */
					random_bytes(payload, sizeof(payload));
					payload[0] &= 0x7f;
					compare(&c, cid_len, payload, 1 + cid_len);
					/* One octet short of the configuration's CID. */
					compare(&c, cid_len - 1, payload, cid_len);
					/* A long header of another version, any DCID length. */
					payload[0] |= 0x80;
					payload[5] = (uint8_t)(random() % 22);
					compare(&c, cid_len, payload, 6 + (uint32_t)(random() % 24));
				}
			}
		}
	}
	printf("(%llu payloads) ", (unsigned long long)runs);
	CU_ASSERT_EQUAL(differences, 0);
}

/* ns per run of each mode, the BPF build: BPF_PROG_TEST_RUN repeated. */
static void test_cost_per_mode(void)
{
	static const struct {
		const char *name;
		uint32_t sid_len, nonce_len;
		bool keyed;
	} modes[] = {
		{"plaintext", 4, 8, false},
		{"single pass (8 + 8)", 8, 8, true},
		{"four pass, 3 decryptions (4 + 8)", 4, 8, true},
		{"four pass, 4 decryptions (10 + 5)", 10, 5, true},
	};
	uint8_t frame[QUIC_CHECK_PAYLOAD_OFF + 64] = {0}, key[16], sid[16] = {1, 2, 3}, nonce[16] = {4};
	struct elb_quic_lb_config c;

	for (size_t m = 0; m < ELB_ARRAY_SIZE(modes); m++) {
		uint32_t cid_len = 1 + modes[m].sid_len + modes[m].nonce_len;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
			    .data_size_in = QUIC_CHECK_PAYLOAD_OFF + 1 + cid_len + 20,
			    .repeat = 100000);

		random_bytes(key, sizeof(key));
		CU_ASSERT_EQUAL_FATAL(elb_quic_lb_config_init(&c, modes[m].sid_len,
							      modes[m].nonce_len,
							      modes[m].keyed ? key : NULL), 0);
		frame[QUIC_CHECK_PAYLOAD_OFF] = 0x40;
		elb_quic_lb_encode(&c, 0, sid, nonce, frame + QUIC_CHECK_PAYLOAD_OFF + 1);
		skel->bss->config = c;
		skel->bss->short_cid_len = cid_len;
		CU_ASSERT_EQUAL_FATAL(bpf_prog_test_run_opts(prog_fd, &opts), 0);
		CU_ASSERT_EQUAL(skel->bss->result.miss, ELB_QUIC_LB_DECODED);
		CU_ASSERT_EQUAL(memcmp(skel->bss->result.sid, sid, modes[m].sid_len), 0);
		printf("\n    %-36s %5u ns per packet (BPF, test run)", modes[m].name, opts.duration);
	}
	printf("\n  ");
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_c_and_bpf_agree),
		ELB_TEST(test_cost_per_mode),
		ELB_TEST_END,
	};
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: loading BPF programs needs root\n");
		return 77;
	}
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	skel = quic_check__open_and_load();
	if (skel == NULL) {
		fprintf(stderr, "quic_check.bpf.o did not load (verifier or permissions): %s\n",
			strerror(errno));
		return errno == EPERM ? 77 : 1;
	}
	prog_fd = bpf_program__fd(skel->progs.quic_check);
	rc = elb_test_run("bpf_quic_diff", cases);
	quic_check__destroy(skel);
	return rc;
}
