/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration model; see elb_config.h.
 *
 * Two stages. The JSON readers check what one member can be on its own
 * (type, integer range, address and MAC syntax) and fill in defaults. The
 * validators check the structs, alone and together (primes, duplicates,
 * totals, families, rate-limit arithmetic); they also run on configs built
 * in C, so every limit a reader checks is checked again there. Both name
 * the member at fault by its JSON path; VIPs and backends keep their order,
 * so a struct index is also the JSON index.
 */
#include "elb_config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elb_file.h"
#include "elb_maglev.h"
#include "elb_token_bucket.h"
#include "elb_wire.h"

/* ------------------------------------------------------------------------ */
/* Text forms of MACs and seeds (addresses: elb_json.h) */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "aa:bb:cc:dd:ee:ff", case-insensitive, exactly that shape. */
static int parse_mac(const char *text, uint8_t mac[6])
{
	uint8_t out[6];

	if (strlen(text) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(text[3 * i]), lo = hex_digit(text[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':'))
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, out, 6);
	return 0;
}

/* Exactly 16 hex digits: a 64-bit value written so that JSON's doubles
 * cannot round it. */
static int parse_seed_word(const char *text, uint64_t *out)
{
	uint64_t v = 0;

	if (strlen(text) != 16)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		int d = hex_digit(text[i]);

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

/* An even number of hex digits, at most 2 * max: the octets' count, or
 * -EINVAL. */
static int parse_hex_octets(const char *text, uint8_t *out, size_t max)
{
	size_t len = strlen(text);

	if (len == 0 || len % 2 || len / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}

static void format_hex_octets(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static const char *const protocol_names[] = {"tcp", "udp"};
static const uint8_t protocol_numbers[] = {ELB_IPPROTO_TCP, ELB_IPPROTO_UDP};
static const char *const encap_names[] = {[ELB_DP_ENCAP_IPIP] = "ipip", [ELB_DP_ENCAP_GUE] = "gue"};
static const char *const backend_state_names[] = {[ELB_DP_BACKEND_ACTIVE] = "active",
						  [ELB_DP_BACKEND_DRAINING] = "draining"};

static const char *protocol_name(uint8_t proto)
{
	for (size_t i = 0; i < ELB_ARRAY_SIZE(protocol_numbers); i++)
		if (protocol_numbers[i] == proto)
			return protocol_names[i];
	return "?";
}

const char *elb_dp_vip_key_str(const struct elb_dp_vip_key *key, char *buf, size_t len)
{
	char addr_port[ELB_ADDR_PORT_TEXT_MAX];

	elb_addr_port_format(&key->addr, key->family, key->port, addr_port, sizeof(addr_port));
	snprintf(buf, len, "%s/%s", addr_port, protocol_name(key->proto));
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Defaults, lifetime, comparison */

void elb_dp_node_defaults(struct elb_dp_node *node)
{
	memset(node, 0, sizeof(*node));
	node->hash_seed.k0 = ELB_HASH_SEED_DEFAULT_K0;
	node->hash_seed.k1 = ELB_HASH_SEED_DEFAULT_K1;
	node->gue_port = ELB_DP_GUE_PORT_DEFAULT;
}

void elb_dp_vip_defaults(struct elb_dp_vip *vip)
{
	memset(vip, 0, sizeof(*vip));
	vip->encap = ELB_DP_ENCAP_IPIP;
	vip->mtu = ELB_DP_MTU_DEFAULT;
	vip->maglev_size = ELB_MAGLEV_DEFAULT_SIZE;
	vip->timeouts.tcp_syn_ms = ELB_FLOW_TIMEOUT_SYN_MS;
	vip->timeouts.tcp_established_ms = ELB_FLOW_TIMEOUT_ESTABLISHED_MS;
	vip->timeouts.tcp_closing_ms = ELB_FLOW_TIMEOUT_CLOSING_MS;
	vip->timeouts.udp_ms = ELB_FLOW_TIMEOUT_UDP_MS;
}

struct elb_dp_config *elb_dp_config_new(void)
{
	struct elb_dp_config *config = calloc(1, sizeof(*config));

	if (config != NULL)
		elb_dp_node_defaults(&config->node);
	return config;
}

void elb_dp_vip_release(struct elb_dp_vip *vip)
{
	free(vip->backends);
	vip->backends = NULL;
	vip->n_backends = 0;
}

void elb_dp_config_free(struct elb_dp_config *config)
{
	if (config == NULL)
		return;
	for (uint32_t i = 0; i < config->n_vips; i++)
		elb_dp_vip_release(&config->vips[i]);
	free(config->vips);
	free(config);
}

int elb_dp_vip_copy(struct elb_dp_vip *dst, const struct elb_dp_vip *src)
{
	*dst = *src;
	dst->backends = NULL;
	if (src->n_backends == 0)
		return 0;
	dst->backends = malloc(src->n_backends * sizeof(*dst->backends));
	if (dst->backends == NULL) {
		dst->n_backends = 0;
		return -ENOMEM;
	}
	memcpy(dst->backends, src->backends, src->n_backends * sizeof(*dst->backends));
	return 0;
}

struct elb_dp_config *elb_dp_config_clone(const struct elb_dp_config *config)
{
	struct elb_dp_config *copy = calloc(1, sizeof(*copy));

	if (copy == NULL)
		return NULL;
	copy->node = config->node;
	if (config->n_vips == 0)
		return copy;
	copy->vips = calloc(config->n_vips, sizeof(*copy->vips));
	if (copy->vips == NULL)
		goto fail;
	for (uint32_t i = 0; i < config->n_vips; i++) {
		if (elb_dp_vip_copy(&copy->vips[i], &config->vips[i]) < 0)
			goto fail;
		copy->n_vips++;
	}
	return copy;
fail:
	elb_dp_config_free(copy);
	return NULL;
}

static bool addr_equal(const union elb_addr *a, const union elb_addr *b)
{
	return memcmp(a->v6, b->v6, sizeof(a->v6)) == 0;
}

bool elb_dp_vip_key_equal(const struct elb_dp_vip_key *a, const struct elb_dp_vip_key *b)
{
	return a->family == b->family && a->proto == b->proto && a->port == b->port &&
	       addr_equal(&a->addr, &b->addr);
}

static bool backend_equal(const struct elb_dp_backend *a, const struct elb_dp_backend *b)
{
	return a->family == b->family && a->state == b->state && a->weight == b->weight &&
	       addr_equal(&a->addr, &b->addr) && a->quic_server_id_len == b->quic_server_id_len &&
	       memcmp(a->quic_server_id, b->quic_server_id, a->quic_server_id_len) == 0;
}

static bool quic_equal(const struct elb_dp_quic *a, const struct elb_dp_quic *b)
{
	if (a->n_configs != b->n_configs || (a->n_configs && a->server_id_len != b->server_id_len))
		return false;
	for (uint32_t i = 0; i < a->n_configs && i < ELB_QUIC_LB_CONFIGS; i++) {
		const struct elb_dp_quic_config *ca = &a->configs[i], *cb = &b->configs[i];

		if (ca->id != cb->id || ca->nonce_len != cb->nonce_len || ca->has_key != cb->has_key ||
		    (ca->has_key && memcmp(ca->key, cb->key, sizeof(ca->key)) != 0))
			return false;
	}
	return true;
}

/* Field by field: the structs have padding. Sources in order, as given. */
static bool admission_equal(const struct elb_dp_admission *a, const struct elb_dp_admission *b)
{
	if (a->new_flows_per_s != b->new_flows_per_s || a->new_flow_burst != b->new_flow_burst ||
	    a->n_sources != b->n_sources)
		return false;
	for (uint32_t i = 0; i < a->n_sources && i < ELB_SOURCE_LIMITS_MAX; i++) {
		const struct elb_dp_source_limit *sa = &a->sources[i], *sb = &b->sources[i];

		if (sa->prefix_len != sb->prefix_len || sa->packets_per_s != sb->packets_per_s ||
		    sa->packet_burst != sb->packet_burst ||
		    sa->new_flows_per_s != sb->new_flows_per_s ||
		    sa->new_flow_burst != sb->new_flow_burst)
			return false;
	}
	return true;
}

static bool vip_equal(const struct elb_dp_vip *a, const struct elb_dp_vip *b)
{
	const struct elb_dp_rate_limit *ra = &a->rate_limit, *rb = &b->rate_limit;
	const struct elb_dp_timeouts *ta = &a->timeouts, *tb = &b->timeouts;

	if (!elb_dp_vip_key_equal(&a->key, &b->key) || a->encap != b->encap || a->mtu != b->mtu ||
	    a->maglev_size != b->maglev_size || a->second_chance != b->second_chance ||
	    a->n_backends != b->n_backends)
		return false;
	if (ra->packets_per_s != rb->packets_per_s || ra->packet_burst != rb->packet_burst ||
	    ra->bytes_per_s != rb->bytes_per_s || ra->byte_burst != rb->byte_burst)
		return false;
	if (ta->tcp_syn_ms != tb->tcp_syn_ms || ta->tcp_established_ms != tb->tcp_established_ms ||
	    ta->tcp_closing_ms != tb->tcp_closing_ms || ta->udp_ms != tb->udp_ms)
		return false;
	if (!admission_equal(&a->admission, &b->admission) || !quic_equal(&a->quic, &b->quic))
		return false;
	for (uint32_t i = 0; i < a->n_backends; i++)
		if (!backend_equal(&a->backends[i], &b->backends[i]))
			return false;
	return true;
}

static bool node_equal(const struct elb_dp_node *a, const struct elb_dp_node *b)
{
	if (a->hash_seed.k0 != b->hash_seed.k0 || a->hash_seed.k1 != b->hash_seed.k1 ||
	    a->gue_port != b->gue_port || a->has_source_v4 != b->has_source_v4 ||
	    a->has_source_v6 != b->has_source_v6 || a->has_gateway_mac != b->has_gateway_mac)
		return false;
	if (a->has_source_v4 && !addr_equal(&a->source_v4, &b->source_v4))
		return false;
	if (a->has_source_v6 && !addr_equal(&a->source_v6, &b->source_v6))
		return false;
	return !a->has_gateway_mac || memcmp(a->gateway_mac, b->gateway_mac, 6) == 0;
}

bool elb_dp_config_equal(const struct elb_dp_config *a, const struct elb_dp_config *b)
{
	if (!node_equal(&a->node, &b->node) || a->n_vips != b->n_vips)
		return false;
	for (uint32_t i = 0; i < a->n_vips; i++)
		if (!vip_equal(&a->vips[i], &b->vips[i]))
			return false;
	return true;
}

int elb_dp_config_find_vip(const struct elb_dp_config *config, const struct elb_dp_vip_key *key)
{
	for (uint32_t i = 0; i < config->n_vips; i++)
		if (elb_dp_vip_key_equal(&config->vips[i].key, key))
			return (int)i;
	return -ENOENT;
}

/* A backend as the Maglev build sees it: identity and effective weight. */
struct table_member {
	union elb_addr addr;
	uint8_t family;
	uint32_t weight; /* 0 while draining */
};

static int table_member_cmp(const void *x, const void *y)
{
	const struct table_member *a = x, *b = y;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr.v6, b->addr.v6, sizeof(a->addr.v6));
}

static void table_members(const struct elb_dp_vip *vip, struct table_member *out)
{
	for (uint32_t i = 0; i < vip->n_backends; i++) {
		const struct elb_dp_backend *b = &vip->backends[i];

		out[i] = (struct table_member){
			.addr = b->addr,
			.family = b->family,
			.weight = b->state == ELB_DP_BACKEND_DRAINING ? 0 : b->weight,
		};
	}
	qsort(out, vip->n_backends, sizeof(*out), table_member_cmp);
}

/* The Maglev build sorts its backends: the order in the config is not an
 * input, so the sets are compared sorted. */
static bool vip_table_moved(const struct elb_dp_vip *a, const struct elb_dp_vip *b)
{
	struct table_member *ma, *mb;
	bool moved = false;

	if (a->maglev_size != b->maglev_size || a->n_backends != b->n_backends)
		return true;
	if (a->n_backends == 0)
		return false;
	ma = malloc(2 * (size_t)a->n_backends * sizeof(*ma));
	if (ma == NULL)
		return true;
	mb = ma + a->n_backends;
	table_members(a, ma);
	table_members(b, mb);
	for (uint32_t i = 0; i < a->n_backends && !moved; i++)
		moved = table_member_cmp(&ma[i], &mb[i]) != 0 || ma[i].weight != mb[i].weight;
	free(ma);
	return moved;
}

bool elb_dp_config_tables_moved(const struct elb_dp_config *old, const struct elb_dp_config *next)
{
	for (uint32_t i = 0; i < next->n_vips; i++) {
		int o = elb_dp_config_find_vip(old, &next->vips[i].key);

		if (o >= 0 && vip_table_moved(&old->vips[o], &next->vips[i]))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* Validation */

/* A unicast address a packet can be sent to or received on: not
 * unspecified, loopback, multicast, broadcast or reserved (240/4), and an
 * IPv4 address with nothing in bytes 4..15 (keys compare all 16). */
static bool address_usable(const union elb_addr *addr, uint8_t family)
{
	static const uint8_t zero[16];

	if (family == ELB_AF_INET) {
		uint8_t first = addr->v6[0];

		if (memcmp(&addr->v6[4], zero, 12) != 0)
			return false;
		return first != 0 && first != 127 && first < 224;
	}
	if (family != ELB_AF_INET6)
		return false;
	if (memcmp(addr->v6, zero, 16) == 0 || addr->v6[0] == 0xff)
		return false;
	/* ::1 */
	return !(memcmp(addr->v6, zero, 15) == 0 && addr->v6[15] == 1);
}

static int check_address(const union elb_addr *addr, uint8_t family, const char *path,
			 struct elb_dp_err *err)
{
	if (family != ELB_AF_INET && family != ELB_AF_INET6)
		return elb_json_fail(err, path, "unknown address family %u", family);
	if (!address_usable(addr, family))
		return elb_json_fail(
			err, path,
			"must be a unicast address (not unspecified, loopback, multicast, "
			"broadcast or reserved)");
	return 0;
}

static int check_range(uint64_t value, uint64_t min, uint64_t max, const char *path,
		       struct elb_dp_err *err)
{
	if (value < min || value > max)
		return elb_json_fail(err, path, "must be an integer in %" PRIu64 "..%" PRIu64, min,
				     max);
	return 0;
}

int elb_dp_node_validate(const struct elb_dp_node *node, const char *prefix,
			 struct elb_dp_err *err)
{
	char path[ELB_JSON_PATH_MAX];
	int rc;

	if (node->has_source_v4) {
		elb_json_path_join(path, prefix, "source_v4");
		rc = check_address(&node->source_v4, ELB_AF_INET, path, err);
		if (rc < 0)
			return rc;
	}
	if (node->has_source_v6) {
		elb_json_path_join(path, prefix, "source_v6");
		rc = check_address(&node->source_v6, ELB_AF_INET6, path, err);
		if (rc < 0)
			return rc;
	}
	if (node->has_gateway_mac) {
		static const uint8_t zero[6];

		elb_json_path_join(path, prefix, "gateway_mac");
		if (node->gateway_mac[0] & 1)
			return elb_json_fail(err, path, "must be a unicast MAC address");
		if (memcmp(node->gateway_mac, zero, 6) == 0)
			return elb_json_fail(err, path, "must not be 00:00:00:00:00:00");
	}
	elb_json_path_join(path, prefix, "gue_port");
	return check_range(node->gue_port, 1, 65535, path, err);
}

/* A rate and its burst, as a per-flow limit's packet dimension checks
 * them (elb_rate_limit_init's arithmetic, which admission control reuses):
 * the burst at least 1 when the rate is set, the bucket not too deep. */
static int check_rate_and_burst(uint64_t rate, uint64_t burst, const char *prefix,
				const char *rate_name, const char *burst_name,
				struct elb_dp_err *err)
{
	struct elb_rate_limit compiled;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	elb_json_path_join(path, prefix, rate_name);
	rc = check_range(rate, 0, ELB_RATE_MAX_RATE, path, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, burst_name);
	rc = check_range(burst, 0, ELB_DP_MAX_JSON_INTEGER, path, err);
	if (rc < 0)
		return rc;
	if (rate != 0 && burst == 0)
		return elb_json_fail(err, path, "must be at least 1 when %s is set", rate_name);
	if (elb_rate_limit_init(&compiled, rate, burst, 0, 0) < 0)
		return elb_json_fail(err, path,
				     "too large for %s (the bucket would hold more than 2^62 / 64 "
				     "ns of traffic)",
				     rate_name);
	return 0;
}

static int check_rate_limit(const struct elb_dp_rate_limit *rl, uint16_t mtu, const char *prefix,
			    struct elb_dp_err *err)
{
	struct elb_rate_limit compiled;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	/* Each dimension alone, so that a too deep bucket names its burst. */
	rc = check_rate_and_burst(rl->packets_per_s, rl->packet_burst, prefix, "packets_per_s",
				  "packet_burst", err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "bytes_per_s");
	rc = check_range(rl->bytes_per_s, 0, ELB_RATE_MAX_RATE, path, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "byte_burst");
	rc = check_range(rl->byte_burst, 0, ELB_DP_MAX_JSON_INTEGER, path, err);
	if (rc < 0)
		return rc;
	if (rl->bytes_per_s != 0 && rl->byte_burst < mtu)
		return elb_json_fail(
			err, path,
			"must be at least the VIP's mtu (%u) when bytes_per_s is set, or a "
			"full-size packet never passes",
			mtu);
	if (elb_rate_limit_init(&compiled, 0, 0, rl->bytes_per_s, rl->byte_burst) < 0)
		return elb_json_fail(err, path,
				     "too large for bytes_per_s (the bucket would hold more "
				     "than 2^62 / 64 ns of traffic)");
	/* The dataplanes call this with all four: it must succeed there. */
	if (elb_rate_limit_init(&compiled, rl->packets_per_s, rl->packet_burst, rl->bytes_per_s,
				rl->byte_burst) < 0)
		return elb_json_fail(err, prefix, "refused by the rate limiter");
	return 0;
}

/* A source prefix length within the VIP's family; one text for the reader
 * and the validator. */
static int check_prefix_len(uint64_t len, uint8_t family, const char *path,
			    struct elb_dp_err *err)
{
	unsigned int max = family == ELB_AF_INET ? 32 : 128;

	if (len < 1 || len > max)
		return elb_json_fail(err, path, "must be an integer in 1..%u for an IPv%c VIP", max,
				     family == ELB_AF_INET ? '4' : '6');
	return 0;
}

static int check_source_limit(const struct elb_dp_source_limit *src, uint8_t family,
			      const char *prefix, struct elb_dp_err *err)
{
	struct elb_source_limit compiled;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	elb_json_path_join(path, prefix, "prefix_len");
	rc = check_prefix_len(src->prefix_len, family, path, err);
	if (rc == 0)
		rc = check_rate_and_burst(src->packets_per_s, src->packet_burst, prefix,
					  "packets_per_s", "packet_burst", err);
	if (rc == 0)
		rc = check_rate_and_burst(src->new_flows_per_s, src->new_flow_burst, prefix,
					  "new_flows_per_s", "new_flow_burst", err);
	if (rc < 0)
		return rc;
	/* An entry that limits nothing is a mistake, not a way to say "off". */
	if (src->packets_per_s == 0 && src->new_flows_per_s == 0)
		return elb_json_fail(err, prefix,
				     "limits nothing: set packets_per_s or new_flows_per_s (or "
				     "leave the entry out)");
	/* The dataplanes compile it with this: it must succeed there. */
	if (elb_source_limit_init(&compiled, family, src->prefix_len, src->packets_per_s,
				  src->packet_burst, src->new_flows_per_s,
				  src->new_flow_burst) < 0)
		return elb_json_fail(err, prefix, "refused by the source limiter");
	return 0;
}

static int check_admission(const struct elb_dp_admission *adm, uint8_t family,
			   const char *prefix, struct elb_dp_err *err)
{
	struct elb_flow_budget budget;
	char path[ELB_JSON_PATH_MAX], spath[ELB_JSON_PATH_MAX];
	int rc;

	rc = check_rate_and_burst(adm->new_flows_per_s, adm->new_flow_burst, prefix,
				  "new_flows_per_s", "new_flow_burst", err);
	if (rc < 0)
		return rc;
	if (elb_flow_budget_init(&budget, adm->new_flows_per_s, adm->new_flow_burst) < 0)
		return elb_json_fail(err, prefix, "refused by the new-flow budget");
	elb_json_path_join(path, prefix, "sources");
	if (adm->n_sources > ELB_SOURCE_LIMITS_MAX)
		return elb_json_fail(err, path, "at most %u entries (prefix lengths)",
				     ELB_SOURCE_LIMITS_MAX);
	for (uint32_t i = 0; i < adm->n_sources; i++) {
		elb_json_path_index(spath, prefix, "sources", i);
		rc = check_source_limit(&adm->sources[i], family, spath, err);
		if (rc < 0)
			return rc;
		/* One limit per prefix length: two would count the same key. */
		for (uint32_t j = 0; j < i; j++)
			if (adm->sources[j].prefix_len == adm->sources[i].prefix_len) {
				elb_json_path_join(path, spath, "prefix_len");
				return elb_json_fail(err, path, "duplicate of sources[%" PRIu32 "]",
						     j);
			}
	}
	return 0;
}

/* A VIP's "quic" (prefix: its path) against the VIP and its backends. */
static int check_quic(const struct elb_dp_vip *vip, const char *prefix, const char *vip_prefix,
		      struct elb_dp_err *err)
{
	const struct elb_dp_quic *q = &vip->quic;
	char path[ELB_JSON_PATH_MAX], cpath[ELB_JSON_PATH_MAX], bpath[ELB_JSON_PATH_MAX];

	for (uint32_t i = 0; i < vip->n_backends; i++) {
		const struct elb_dp_backend *b = &vip->backends[i];

		if (b->quic_server_id_len == 0)
			continue;
		elb_json_path_index(bpath, vip_prefix, "backends", i);
		elb_json_path_join(path, bpath, "quic_server_id");
		if (q->n_configs == 0)
			return elb_json_fail(err, path, "the VIP has no \"quic\" configuration");
		if (b->quic_server_id_len != q->server_id_len)
			return elb_json_fail(err, path,
					     "must be %u octets (quic.server_id_length), not %u",
					     q->server_id_len, b->quic_server_id_len);
		/* One backend per server ID: two would make its CIDs ambiguous. */
		for (uint32_t j = 0; j < i; j++)
			if (vip->backends[j].quic_server_id_len == b->quic_server_id_len &&
			    memcmp(vip->backends[j].quic_server_id, b->quic_server_id,
				   b->quic_server_id_len) == 0)
				return elb_json_fail(err, path, "backends[%" PRIu32 "] has it already",
						     j);
	}
	if (q->n_configs == 0)
		return 0;
	if (vip->key.proto != ELB_IPPROTO_UDP)
		return elb_json_fail(err, prefix, "QUIC runs over UDP: a \"tcp\" VIP cannot route by it");
	elb_json_path_join(path, prefix, "server_id_length");
	if (q->server_id_len < 1 || q->server_id_len > ELB_QUIC_SERVER_ID_MAX)
		return elb_json_fail(err, path, "must be 1..%u octets", ELB_QUIC_SERVER_ID_MAX);
	if (q->n_configs > ELB_QUIC_LB_CONFIGS) {
		elb_json_path_join(path, prefix, "configs");
		return elb_json_fail(err, path, "at most %u (config IDs 0..6)", ELB_QUIC_LB_CONFIGS);
	}
	for (uint32_t i = 0; i < q->n_configs; i++) {
		const struct elb_dp_quic_config *c = &q->configs[i];
		uint32_t nonce_max = ELB_QUIC_PLAINTEXT_MAX - q->server_id_len;

		elb_json_path_index(cpath, prefix, "configs", i);
		elb_json_path_join(path, cpath, "id");
		if (c->id >= ELB_QUIC_LB_CONFIGS)
			return elb_json_fail(err, path,
					     "must be 0..6 (7, 0b111, marks a server without one)");
		for (uint32_t j = 0; j < i; j++)
			if (q->configs[j].id == c->id)
				return elb_json_fail(err, path, "configs[%" PRIu32 "] has it already", j);
		elb_json_path_join(path, cpath, "nonce_length");
		if (nonce_max < ELB_QUIC_NONCE_MIN)
			return elb_json_fail(err, path, "no room: server_id_length leaves none");
		if (c->nonce_len < ELB_QUIC_NONCE_MIN || c->nonce_len > nonce_max)
			return elb_json_fail(err, path,
					     "must be %u..%u octets (server ID and nonce fit 19)",
					     ELB_QUIC_NONCE_MIN, nonce_max);
	}
	return 0;
}

int elb_dp_vip_quic_validate(const struct elb_dp_vip *vip, const char *prefix,
			     struct elb_dp_err *err)
{
	char path[ELB_JSON_PATH_MAX];

	return check_quic(vip, elb_json_path_join(path, prefix, "quic"), prefix, err);
}

static int check_timeouts(const struct elb_dp_timeouts *t, const char *prefix,
			  struct elb_dp_err *err)
{
	const struct {
		const char *name;
		uint32_t ms;
	} fields[] = {
		{"tcp_syn_ms", t->tcp_syn_ms},
		{"tcp_established_ms", t->tcp_established_ms},
		{"tcp_closing_ms", t->tcp_closing_ms},
		{"udp_ms", t->udp_ms},
	};
	struct elb_flow_timeouts ticks;
	char path[ELB_JSON_PATH_MAX];

	for (size_t i = 0; i < ELB_ARRAY_SIZE(fields); i++) {
		/* 0 would make a flow expire as it is created. */
		elb_json_path_join(path, prefix, fields[i].name);
		if (fields[i].ms == 0)
			return check_range(0, 1, ELB_DP_TIMEOUT_MAX_MS, path, err);
	}
	if (elb_flow_timeouts_init(&ticks, t->tcp_syn_ms, t->tcp_established_ms, t->tcp_closing_ms,
				   t->udp_ms) < 0)
		return elb_json_fail(err, prefix, "refused by the flow table");
	return 0;
}

/* Sort entry for the duplicate-backend check. */
struct backend_ref {
	const struct elb_dp_backend *backend;
	uint32_t index;
};

static int compare_backend_ref(const void *pa, const void *pb)
{
	const struct backend_ref *a = pa, *b = pb;
	int c;

	if (a->backend->family != b->backend->family)
		return a->backend->family < b->backend->family ? -1 : 1;
	c = memcmp(a->backend->addr.v6, b->backend->addr.v6, 16);
	if (c != 0)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

/* Duplicate addresses by sorting: O(n log n) for 4096 backends, where
 * pairwise comparison would take 8 million compares per VIP. Reports the
 * duplicate that comes first in the array. */
static int check_backend_duplicates(const struct elb_dp_vip *vip, const char *prefix,
				    struct elb_dp_err *err)
{
	struct backend_ref *refs;
	uint32_t dup = UINT32_MAX, first = 0;
	char path[ELB_JSON_PATH_MAX], bpath[ELB_JSON_PATH_MAX];

	if (vip->n_backends < 2)
		return 0;
	refs = malloc(vip->n_backends * sizeof(*refs));
	if (refs == NULL)
		return elb_json_nomem(err);
	for (uint32_t i = 0; i < vip->n_backends; i++)
		refs[i] = (struct backend_ref){&vip->backends[i], i};
	qsort(refs, vip->n_backends, sizeof(*refs), compare_backend_ref);
	/* Equal addresses sort into runs ordered by index: a run's first entry
	 * is the original, every other one a duplicate of it. */
	for (uint32_t i = 1, run = 0; i < vip->n_backends; i++) {
		const struct elb_dp_backend *a = refs[i - 1].backend, *b = refs[i].backend;

		if (a->family != b->family || !addr_equal(&a->addr, &b->addr)) {
			run = i;
			continue;
		}
		if (refs[i].index < dup) {
			dup = refs[i].index;
			first = refs[run].index;
		}
	}
	free(refs);
	if (dup == UINT32_MAX)
		return 0;
	elb_json_path_index(bpath, prefix, "backends", dup);
	elb_json_path_join(path, bpath, "address");
	return elb_json_fail(err, path, "duplicate of backends[%" PRIu32 "]", first);
}

int elb_dp_vip_validate(const struct elb_dp_vip *vip, const struct elb_dp_node *node,
			const char *prefix, struct elb_dp_err *err)
{
	char path[ELB_JSON_PATH_MAX], bpath[ELB_JSON_PATH_MAX];
	bool vip_v6 = vip->key.family == ELB_AF_INET6;
	bool any_v6 = vip_v6; /* the VIP or a backend */
	int rc;

	elb_json_path_join(path, prefix, "address");
	rc = check_address(&vip->key.addr, vip->key.family, path, err);
	if (rc < 0)
		return rc;
	if (vip->key.proto != ELB_IPPROTO_TCP && vip->key.proto != ELB_IPPROTO_UDP) {
		elb_json_path_join(path, prefix, "protocol");
		return elb_json_fail(err, path, "must be \"tcp\" or \"udp\"");
	}
	if (vip->encap != ELB_DP_ENCAP_IPIP && vip->encap != ELB_DP_ENCAP_GUE) {
		elb_json_path_join(path, prefix, "encap");
		return elb_json_fail(err, path, "must be \"ipip\" or \"gue\"");
	}
	elb_json_path_join(path, prefix, "mtu");
	rc = check_range(vip->mtu, ELB_DP_MTU_MIN, ELB_DP_MTU_MAX, path, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "maglev_size");
	rc = check_range(vip->maglev_size, ELB_MAGLEV_MIN_SIZE, ELB_MAGLEV_MAX_SIZE, path, err);
	if (rc < 0)
		return rc;
	if (!elb_is_prime(vip->maglev_size))
		return elb_json_fail(err, path, "must be a prime number (e.g. 251, 65537, 655373)");
	if (vip->maglev_size < vip->n_backends)
		return elb_json_fail(err, path,
				     "must be at least the number of backends (%" PRIu32
				     "); 100 times as many slots spreads flows evenly",
				     vip->n_backends);
	/* The alternate travels in GUE private data: IP-in-IP has no room. */
	if (vip->second_chance && vip->encap != ELB_DP_ENCAP_GUE) {
		elb_json_path_join(path, prefix, "second_chance");
		return elb_json_fail(err, path, "needs \"encap\": \"gue\"");
	}
	elb_json_path_join(path, prefix, "rate_limit");
	rc = check_rate_limit(&vip->rate_limit, vip->mtu, path, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "timeouts");
	rc = check_timeouts(&vip->timeouts, path, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "admission");
	rc = check_admission(&vip->admission, vip->key.family, path, err);
	if (rc < 0)
		return rc;

	elb_json_path_join(path, prefix, "backends");
	if (vip->n_backends > ELB_DP_MAX_BACKENDS_PER_VIP)
		return elb_json_fail(err, path, "at most %u backends per VIP",
				     ELB_DP_MAX_BACKENDS_PER_VIP);
	if (vip->n_backends > 0 && vip->backends == NULL)
		return elb_json_fail(err, path, "backend array missing");
	for (uint32_t i = 0; i < vip->n_backends; i++) {
		const struct elb_dp_backend *b = &vip->backends[i];

		elb_json_path_index(bpath, prefix, "backends", i);
		elb_json_path_join(path, bpath, "address");
		rc = check_address(&b->addr, b->family, path, err);
		if (rc < 0)
			return rc;
		if (vip_v6 && b->family == ELB_AF_INET)
			return elb_json_fail(
				err, path,
				"an IPv6 VIP needs IPv6 backends (IPv4 cannot carry its "
				"packets)");
		if (b->family == ELB_AF_INET && !node->has_source_v4)
			return elb_json_fail(err, path, "an IPv4 backend needs node.source_v4");
		if (b->family == ELB_AF_INET6 && !node->has_source_v6)
			return elb_json_fail(err, path, "an IPv6 backend needs node.source_v6");
		if (b->family == ELB_AF_INET6)
			any_v6 = true;
		elb_json_path_join(path, bpath, "weight");
		rc = check_range(b->weight, 0, ELB_DP_MAX_WEIGHT, path, err);
		if (rc < 0)
			return rc;
		if (b->state != ELB_DP_BACKEND_ACTIVE && b->state != ELB_DP_BACKEND_DRAINING) {
			elb_json_path_join(path, bpath, "state");
			return elb_json_fail(err, path, "must be \"active\" or \"draining\"");
		}
	}
	rc = check_backend_duplicates(vip, prefix, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "quic");
	rc = check_quic(vip, path, prefix, err);
	if (rc < 0)
		return rc;
	/* IPv6 links carry at least 1280 bytes and IPv6 hosts do not go below
	 * it: an outer or inner IPv6 packet must be allowed that much. */
	if (any_v6 && vip->mtu < ELB_DP_MTU_MIN_V6) {
		elb_json_path_join(path, prefix, "mtu");
		return elb_json_fail(err, path,
				     "must be at least %u when the VIP or a backend is IPv6",
				     ELB_DP_MTU_MIN_V6);
	}
	return 0;
}

int elb_dp_config_validate(const struct elb_dp_config *config, const char *prefix,
			   struct elb_dp_err *err)
{
	char path[ELB_JSON_PATH_MAX], vpath[ELB_JSON_PATH_MAX];
	uint64_t total_backends = 0;
	int rc;

	elb_json_path_join(path, prefix, "node");
	rc = elb_dp_node_validate(&config->node, path, err);
	if (rc < 0)
		return rc;
	elb_json_path_join(path, prefix, "vips");
	if (config->n_vips > ELB_DP_MAX_VIPS)
		return elb_json_fail(err, path, "at most %u VIPs", ELB_DP_MAX_VIPS);
	if (config->n_vips > 0 && config->vips == NULL)
		return elb_json_fail(err, path, "VIP array missing");
	for (uint32_t i = 0; i < config->n_vips; i++) {
		const struct elb_dp_vip *vip = &config->vips[i];

		elb_json_path_index(vpath, prefix, "vips", i);
		rc = elb_dp_vip_validate(vip, &config->node, vpath, err);
		if (rc < 0)
			return rc;
		/* At most 256 VIPs: pairwise is cheap. */
		for (uint32_t j = 0; j < i; j++) {
			char key[ELB_DP_VIP_KEY_STR_MAX];

			if (elb_dp_vip_key_equal(&config->vips[j].key, &vip->key))
				return elb_json_fail(
					err, vpath, "duplicate of vips[%" PRIu32 "] (%s)", j,
					elb_dp_vip_key_str(&vip->key, key, sizeof(key)));
		}
		total_backends += vip->n_backends;
		if (total_backends > ELB_DP_MAX_BACKENDS_TOTAL) {
			elb_json_path_join(path, vpath, "backends");
			return elb_json_fail(err, path,
					     "more than %u backends in all VIPs together",
					     ELB_DP_MAX_BACKENDS_TOTAL);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON readers */

int elb_dp_vip_key_from_json(const cJSON *json, const char *prefix, struct elb_dp_vip_key *out,
			     struct elb_dp_err *err)
{
	struct elb_dp_vip_key key;
	uint8_t proto_index = UINT8_MAX;
	bool present;
	int rc;

	memset(&key, 0, sizeof(key));
	rc = elb_json_expect_object(json, prefix, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "address", err);
	if (rc == 0)
		rc = elb_json_read_address(json, prefix, "address", 0, &key.addr, &key.family,
					   &present, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "port", err);
	if (rc == 0)
		rc = elb_json_read_u16(json, prefix, "port", 0, 65535, &key.port, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "protocol", err);
	if (rc == 0)
		rc = elb_json_read_enum(json, prefix, "protocol", protocol_names,
					ELB_ARRAY_SIZE(protocol_names), "\"tcp\" or \"udp\"",
					&proto_index, err);
	if (rc < 0)
		return rc;
	key.proto = protocol_numbers[proto_index];
	*out = key;
	return 0;
}

static int backend_from_json(const cJSON *json, const char *prefix, struct elb_dp_backend *out,
			     struct elb_dp_err *err)
{
	static const char *const known[] = {"address", "weight", "state", "quic_server_id", NULL};
	struct elb_dp_backend b = {.weight = 1, .state = ELB_DP_BACKEND_ACTIVE};
	const char *sid = NULL;
	bool present;
	int rc;

	rc = elb_json_expect_object(json, prefix, err);
	if (rc == 0)
		rc = elb_dp_json_check_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "address", err);
	if (rc == 0)
		rc = elb_json_read_address(json, prefix, "address", 0, &b.addr, &b.family, &present,
					   err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "weight", 0, ELB_DP_MAX_WEIGHT, &b.weight,
				       err);
	if (rc == 0)
		rc = elb_json_read_enum(json, prefix, "state", backend_state_names,
					ELB_ARRAY_SIZE(backend_state_names),
					"\"active\" or \"draining\"", &b.state, err);
	if (rc == 0)
		rc = elb_json_read_string(json, prefix, "quic_server_id", &sid, err);
	if (rc < 0)
		return rc;
	if (sid != NULL) {
		char path[ELB_JSON_PATH_MAX];
		int n = parse_hex_octets(sid, b.quic_server_id, ELB_QUIC_SERVER_ID_MAX);

		if (n < 1)
			return elb_json_fail(err, elb_json_path_join(path, prefix, "quic_server_id"),
					     "must be 1..%u octets in hexadecimal (2..%u digits)",
					     ELB_QUIC_SERVER_ID_MAX, 2 * ELB_QUIC_SERVER_ID_MAX);
		b.quic_server_id_len = (uint8_t)n;
	}
	*out = b;
	return 0;
}

int elb_dp_backends_from_json(const cJSON *json, const char *prefix,
			      struct elb_dp_backend **out, uint32_t *n_out, struct elb_dp_err *err)
{
	struct elb_dp_backend *backends = NULL;
	const cJSON *child;
	char path[ELB_JSON_PATH_MAX];
	uint32_t n = 0;
	int count, rc;

	if (!cJSON_IsArray(json))
		return elb_json_fail(err, prefix, "must be an array");
	count = cJSON_GetArraySize(json);
	/* Checked before allocating: a file may hold a huge array. */
	if (count > ELB_DP_MAX_BACKENDS_PER_VIP)
		return elb_json_fail(err, prefix, "at most %u backends per VIP",
				     ELB_DP_MAX_BACKENDS_PER_VIP);
	if (count > 0) {
		backends = calloc((size_t)count, sizeof(*backends));
		if (backends == NULL)
			return elb_json_nomem(err);
	}
	cJSON_ArrayForEach(child, json)
	{
		if (prefix == NULL || prefix[0] == '\0')
			snprintf(path, sizeof(path), "[%" PRIu32 "]", n);
		else
			snprintf(path, sizeof(path), "%s[%" PRIu32 "]", prefix, n);
		rc = backend_from_json(child, path, &backends[n], err);
		if (rc < 0) {
			free(backends);
			return rc;
		}
		n++;
	}
	*out = backends;
	*n_out = n;
	return 0;
}

static int rate_limit_from_json(const cJSON *json, const char *prefix,
				struct elb_dp_rate_limit *rl, struct elb_dp_err *err)
{
	static const char *const known[] = {"packets_per_s", "packet_burst", "bytes_per_s",
					    "byte_burst", NULL};
	int rc;

	rc = elb_json_expect_object(json, prefix, err);
	if (rc == 0)
		rc = elb_dp_json_check_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "packets_per_s", 0, ELB_RATE_MAX_RATE,
					&rl->packets_per_s, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "packet_burst", 0, ELB_DP_MAX_JSON_INTEGER,
					&rl->packet_burst, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "bytes_per_s", 0, ELB_RATE_MAX_RATE,
					&rl->bytes_per_s, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "byte_burst", 0, ELB_DP_MAX_JSON_INTEGER,
					&rl->byte_burst, err);
	return rc;
}

static int timeouts_from_json(const cJSON *json, const char *prefix, struct elb_dp_timeouts *t,
			      struct elb_dp_err *err)
{
	static const char *const known[] = {"tcp_syn_ms", "tcp_established_ms", "tcp_closing_ms",
					    "udp_ms", NULL};
	int rc;

	rc = elb_json_expect_object(json, prefix, err);
	if (rc == 0)
		rc = elb_dp_json_check_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "tcp_syn_ms", 1, ELB_DP_TIMEOUT_MAX_MS,
				       &t->tcp_syn_ms, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "tcp_established_ms", 1, ELB_DP_TIMEOUT_MAX_MS,
				       &t->tcp_established_ms, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "tcp_closing_ms", 1, ELB_DP_TIMEOUT_MAX_MS,
				       &t->tcp_closing_ms, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "udp_ms", 1, ELB_DP_TIMEOUT_MAX_MS, &t->udp_ms,
				       err);
	return rc;
}

static int source_limit_from_json(const cJSON *json, const char *prefix, uint8_t family,
				  struct elb_dp_source_limit *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"prefix_len",      "packets_per_s", "packet_burst",
					    "new_flows_per_s", "new_flow_burst", NULL};
	struct elb_dp_source_limit src = {0};
	const cJSON *len;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "prefix_len", err);
	if (rc < 0)
		return rc;
	len = cJSON_GetObjectItemCaseSensitive(json, "prefix_len");
	elb_json_path_join(path, prefix, "prefix_len");
	/* Not a number, a fraction or out of range: the range is the answer. */
	if (cJSON_IsNumber(len) && len->valuedouble >= 1 && len->valuedouble <= 128 &&
	    len->valuedouble == (double)(uint8_t)len->valuedouble)
		src.prefix_len = (uint8_t)len->valuedouble;
	rc = check_prefix_len(src.prefix_len, family, path, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "packets_per_s", 0, ELB_RATE_MAX_RATE,
					&src.packets_per_s, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "packet_burst", 0, ELB_DP_MAX_JSON_INTEGER,
					&src.packet_burst, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "new_flows_per_s", 0, ELB_RATE_MAX_RATE,
					&src.new_flows_per_s, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "new_flow_burst", 0, ELB_DP_MAX_JSON_INTEGER,
					&src.new_flow_burst, err);
	if (rc < 0)
		return rc;
	*out = src;
	return 0;
}

/* "admission" of a VIP of this family; absent members are 0 (off). */
static int admission_from_json(const cJSON *json, const char *prefix, uint8_t family,
			       struct elb_dp_admission *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"new_flows_per_s", "new_flow_burst", "sources", NULL};
	struct elb_dp_admission adm = {0};
	const cJSON *sources, *child;
	char path[ELB_JSON_PATH_MAX], spath[ELB_JSON_PATH_MAX];
	int rc;

	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "new_flows_per_s", 0, ELB_RATE_MAX_RATE,
					&adm.new_flows_per_s, err);
	if (rc == 0)
		rc = elb_json_read_uint(json, prefix, "new_flow_burst", 0, ELB_DP_MAX_JSON_INTEGER,
					&adm.new_flow_burst, err);
	if (rc < 0)
		return rc;
	sources = cJSON_GetObjectItemCaseSensitive(json, "sources");
	if (sources != NULL) {
		elb_json_path_join(path, prefix, "sources");
		if (!cJSON_IsArray(sources))
			return elb_json_fail(err, path, "must be an array");
		if (cJSON_GetArraySize(sources) > ELB_SOURCE_LIMITS_MAX)
			return elb_json_fail(err, path, "at most %u entries (prefix lengths)",
					     ELB_SOURCE_LIMITS_MAX);
		cJSON_ArrayForEach(child, sources)
		{
			elb_json_path_index(spath, prefix, "sources", adm.n_sources);
			rc = source_limit_from_json(child, spath, family,
						    &adm.sources[adm.n_sources], err);
			if (rc < 0)
				return rc;
			adm.n_sources++;
		}
	}
	/* The rules of the member alone, here already: a control plane that
	 * reads one VIP (vip.update) names the fault relative to it. */
	rc = check_admission(&adm, family, prefix, err);
	if (rc < 0)
		return rc;
	*out = adm;
	return 0;
}

static int read_u8(const cJSON *object, const char *prefix, const char *name, uint8_t min,
		   uint8_t max, uint8_t *out, struct elb_dp_err *err)
{
	uint32_t v = *out;
	int rc = elb_json_read_u32(object, prefix, name, min, max, &v, err);

	if (rc == 0)
		*out = (uint8_t)v;
	return rc;
}

/* One of "quic"'s "configs". */
static int quic_config_from_json(const cJSON *json, const char *prefix,
				 struct elb_dp_quic_config *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"id", "nonce_length", "key", NULL};
	struct elb_dp_quic_config c = {0};
	char path[ELB_JSON_PATH_MAX];
	const char *key = NULL;
	int rc;

	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "id", err);
	if (rc == 0)
		rc = read_u8(json, prefix, "id", 0, ELB_QUIC_LB_CONFIGS - 1, &c.id, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "nonce_length", err);
	if (rc == 0)
		rc = read_u8(json, prefix, "nonce_length", ELB_QUIC_NONCE_MIN,
				      ELB_QUIC_PLAINTEXT_MAX - 1, &c.nonce_len, err);
	if (rc == 0)
		rc = elb_json_read_string(json, prefix, "key", &key, err);
	if (rc < 0)
		return rc;
	if (key != NULL) {
		/* Never echo the text: it is a secret. */
		if (strlen(key) != 32 || parse_hex_octets(key, c.key, sizeof(c.key)) != 16)
			return elb_json_fail(err, elb_json_path_join(path, prefix, "key"),
					     "must be 32 hexadecimal digits (an AES-128 key)");
		c.has_key = true;
	}
	*out = c;
	return 0;
}

static int quic_from_json(const cJSON *json, const char *prefix, struct elb_dp_quic *out,
			  struct elb_dp_err *err)
{
	static const char *const known[] = {"server_id_length", "configs", NULL};
	struct elb_dp_quic q = {0};
	char path[ELB_JSON_PATH_MAX], cpath[ELB_JSON_PATH_MAX];
	const cJSON *configs, *child;
	int rc;

	rc = elb_json_expect_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "server_id_length", err);
	if (rc == 0)
		rc = read_u8(json, prefix, "server_id_length", 1, ELB_QUIC_SERVER_ID_MAX,
				      &q.server_id_len, err);
	if (rc == 0)
		rc = elb_json_require(json, prefix, "configs", err);
	if (rc < 0)
		return rc;
	configs = cJSON_GetObjectItemCaseSensitive(json, "configs");
	elb_json_path_join(path, prefix, "configs");
	if (!cJSON_IsArray(configs) || cJSON_GetArraySize(configs) < 1)
		return elb_json_fail(err, path, "must be an array of 1..%u configurations",
				     ELB_QUIC_LB_CONFIGS);
	if (cJSON_GetArraySize(configs) > ELB_QUIC_LB_CONFIGS)
		return elb_json_fail(err, path, "at most %u (config IDs 0..6)", ELB_QUIC_LB_CONFIGS);
	cJSON_ArrayForEach(child, configs)
	{
		elb_json_path_index(cpath, prefix, "configs", q.n_configs);
		rc = quic_config_from_json(child, cpath, &q.configs[q.n_configs], err);
		if (rc < 0)
			return rc;
		q.n_configs++;
	}
	*out = q;
	return 0;
}

int elb_dp_vip_from_json(const cJSON *json, const char *prefix, struct elb_dp_vip *out,
			 bool *backends_given, struct elb_dp_err *err)
{
	static const char *const known[] = {"address",	 "port",	  "protocol",
					    "encap",	 "mtu",		  "maglev_size",
					    "second_chance", "rate_limit", "timeouts",
					    "admission", "quic",	 "backends",	 NULL};
	struct elb_dp_vip vip;
	const cJSON *item;
	char path[ELB_JSON_PATH_MAX];
	int rc;

	elb_dp_vip_defaults(&vip);
	rc = elb_json_expect_object(json, prefix, err);
	if (rc == 0)
		rc = elb_dp_json_check_members(json, prefix, known, err);
	if (rc == 0)
		rc = elb_dp_vip_key_from_json(json, prefix, &vip.key, err);
	if (rc == 0)
		rc = elb_json_read_enum(json, prefix, "encap", encap_names,
					ELB_ARRAY_SIZE(encap_names), "\"ipip\" or \"gue\"",
					&vip.encap, err);
	if (rc == 0)
		rc = elb_json_read_u16(json, prefix, "mtu", ELB_DP_MTU_MIN, ELB_DP_MTU_MAX,
				       &vip.mtu, err);
	if (rc == 0)
		rc = elb_json_read_u32(json, prefix, "maglev_size", ELB_MAGLEV_MIN_SIZE,
				       ELB_MAGLEV_MAX_SIZE, &vip.maglev_size, err);
	if (rc == 0)
		rc = elb_json_read_bool(json, prefix, "second_chance", &vip.second_chance, err);
	if (rc == 0 && (item = cJSON_GetObjectItemCaseSensitive(json, "rate_limit")) != NULL) {
		elb_json_path_join(path, prefix, "rate_limit");
		rc = rate_limit_from_json(item, path, &vip.rate_limit, err);
	}
	if (rc == 0 && (item = cJSON_GetObjectItemCaseSensitive(json, "timeouts")) != NULL) {
		elb_json_path_join(path, prefix, "timeouts");
		rc = timeouts_from_json(item, path, &vip.timeouts, err);
	}
	if (rc == 0 && (item = cJSON_GetObjectItemCaseSensitive(json, "admission")) != NULL) {
		elb_json_path_join(path, prefix, "admission");
		rc = admission_from_json(item, path, vip.key.family, &vip.admission, err);
	}
	if (rc == 0 && (item = cJSON_GetObjectItemCaseSensitive(json, "quic")) != NULL) {
		elb_json_path_join(path, prefix, "quic");
		rc = quic_from_json(item, path, &vip.quic, err);
	}
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "backends");
	if (item != NULL) {
		elb_json_path_join(path, prefix, "backends");
		rc = elb_dp_backends_from_json(item, path, &vip.backends, &vip.n_backends, err);
		if (rc < 0)
			return rc;
	}
	/* QUIC's rules within the VIP, here already: a control plane that
	 * reads one VIP (vip.add) names the fault relative to it. */
	elb_json_path_join(path, prefix, "quic");
	rc = check_quic(&vip, path, prefix, err);
	if (rc < 0) {
		elb_dp_vip_release(&vip);
		return rc;
	}
	*out = vip;
	if (backends_given != NULL)
		*backends_given = item != NULL;
	return 0;
}

/* A node member that may be unset: absent keeps *addr, null unsets it. */
static int read_optional_address(const cJSON *object, const char *prefix, const char *name,
				 uint8_t family, union elb_addr *addr, bool *has,
				 struct elb_dp_err *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
	union elb_addr a;
	uint8_t f;
	bool present;
	int rc;

	if (item == NULL)
		return 0;
	if (cJSON_IsNull(item)) {
		memset(addr, 0, sizeof(*addr));
		*has = false;
		return 0;
	}
	rc = elb_json_read_address(object, prefix, name, family, &a, &f, &present, err);
	if (rc < 0)
		return rc;
	*addr = a;
	*has = true;
	return 0;
}

int elb_dp_node_from_json(const cJSON *json, const char *prefix, const struct elb_dp_node *base,
			  struct elb_dp_node *out, struct elb_dp_err *err)
{
	static const char *const known[] = {"hash_seed",   "source_v4", "source_v6",
					    "gateway_mac", "gue_port",	NULL};
	static const char *const seed_known[] = {"k0", "k1", NULL};
	struct elb_dp_node node;
	const cJSON *item;
	const char *text;
	char path[ELB_JSON_PATH_MAX], wpath[ELB_JSON_PATH_MAX];
	int rc;

	if (base != NULL)
		node = *base;
	else
		elb_dp_node_defaults(&node);
	rc = elb_json_expect_object(json, prefix, err);
	if (rc == 0)
		rc = elb_dp_json_check_members(json, prefix, known, err);
	if (rc < 0)
		return rc;

	item = cJSON_GetObjectItemCaseSensitive(json, "hash_seed");
	if (item != NULL) {
		const char *const words[] = {"k0", "k1"};
		uint64_t *values[] = {&node.hash_seed.k0, &node.hash_seed.k1};

		/* Both words or none: half a new seed is not a seed anyone chose. */
		elb_json_path_join(path, prefix, "hash_seed");
		rc = elb_json_expect_object(item, path, err);
		if (rc == 0)
			rc = elb_dp_json_check_members(item, path, seed_known, err);
		for (int i = 0; rc == 0 && i < 2; i++) {
			rc = elb_json_require(item, path, words[i], err);
			if (rc == 0)
				rc = elb_json_read_string(item, path, words[i], &text, err);
			if (rc == 0 && parse_seed_word(text, values[i]) < 0) {
				elb_json_path_join(wpath, path, words[i]);
				rc = elb_json_fail(err, wpath, "must be 16 hexadecimal digits");
			}
		}
		if (rc < 0)
			return rc;
	}
	rc = read_optional_address(json, prefix, "source_v4", ELB_AF_INET, &node.source_v4,
				   &node.has_source_v4, err);
	if (rc == 0)
		rc = read_optional_address(json, prefix, "source_v6", ELB_AF_INET6, &node.source_v6,
					   &node.has_source_v6, err);
	if (rc < 0)
		return rc;
	item = cJSON_GetObjectItemCaseSensitive(json, "gateway_mac");
	if (cJSON_IsNull(item)) {
		memset(node.gateway_mac, 0, sizeof(node.gateway_mac));
		node.has_gateway_mac = false;
	} else if (item != NULL) {
		elb_json_path_join(path, prefix, "gateway_mac");
		if (!cJSON_IsString(item) || parse_mac(item->valuestring, node.gateway_mac) < 0)
			return elb_json_fail(err, path,
					     "must be a MAC address like \"aa:bb:cc:dd:ee:ff\"");
		node.has_gateway_mac = true;
	}
	rc = elb_json_read_u16(json, prefix, "gue_port", 1, 65535, &node.gue_port, err);
	if (rc < 0)
		return rc;
	*out = node;
	return 0;
}

int elb_dp_config_from_json(const cJSON *json, const char *prefix, struct elb_dp_config **out,
			    struct elb_dp_err *err)
{
	static const char *const known[] = {"node", "vips", NULL};
	struct elb_dp_config *config;
	const cJSON *item, *child;
	char path[ELB_JSON_PATH_MAX], vpath[ELB_JSON_PATH_MAX];
	int rc;

	rc = elb_json_expect_object(json, prefix, err);
	if (rc == 0)
		rc = elb_dp_json_check_members(json, prefix, known, err);
	if (rc < 0)
		return rc;
	config = elb_dp_config_new();
	if (config == NULL)
		return elb_json_nomem(err);

	item = cJSON_GetObjectItemCaseSensitive(json, "node");
	if (item != NULL) {
		elb_json_path_join(path, prefix, "node");
		rc = elb_dp_node_from_json(item, path, NULL, &config->node, err);
		if (rc < 0)
			goto fail;
	}
	item = cJSON_GetObjectItemCaseSensitive(json, "vips");
	if (item != NULL) {
		int count;

		elb_json_path_join(path, prefix, "vips");
		if (!cJSON_IsArray(item)) {
			rc = elb_json_fail(err, path, "must be an array");
			goto fail;
		}
		count = cJSON_GetArraySize(item);
		if (count > ELB_DP_MAX_VIPS) {
			rc = elb_json_fail(err, path, "at most %u VIPs", ELB_DP_MAX_VIPS);
			goto fail;
		}
		if (count > 0) {
			config->vips = calloc((size_t)count, sizeof(*config->vips));
			if (config->vips == NULL) {
				rc = elb_json_nomem(err);
				goto fail;
			}
		}
		cJSON_ArrayForEach(child, item)
		{
			elb_json_path_index(vpath, prefix, "vips", config->n_vips);
			rc = elb_dp_vip_from_json(child, vpath, &config->vips[config->n_vips], NULL,
						  err);
			if (rc < 0)
				goto fail;
			config->n_vips++;
		}
	}
	rc = elb_dp_config_validate(config, prefix, err);
	if (rc < 0)
		goto fail;
	*out = config;
	return 0;
fail:
	elb_dp_config_free(config);
	return rc;
}

int elb_dp_config_parse(const char *text, size_t len, struct elb_dp_config **out,
			struct elb_dp_err *err)
{
	cJSON *json = elb_dp_json_parse_document(text, len, err);
	int rc;

	if (json == NULL)
		return -EINVAL;
	rc = elb_dp_config_from_json(json, "", out, err);
	cJSON_Delete(json);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* JSON writers */

/* Builders that remember a failed allocation, so that a tree is built in
 * straight-line code and checked once. */
struct builder {
	bool failed;
};

static cJSON *add(struct builder *b, cJSON *parent, const char *name, cJSON *item)
{
	if (item == NULL) {
		b->failed = true;
		return NULL;
	}
	if (parent == NULL ||
	    !(name != NULL ? cJSON_AddItemToObject(parent, name, item)
			   : cJSON_AddItemToArray(parent, item))) {
		cJSON_Delete(item);
		b->failed = true;
		return NULL;
	}
	return item;
}

static void add_uint(struct builder *b, cJSON *parent, const char *name, uint64_t v)
{
	add(b, parent, name, elb_dp_json_u64(v));
}

static void add_string(struct builder *b, cJSON *parent, const char *name, const char *s)
{
	add(b, parent, name, cJSON_CreateString(s));
}

static void add_address(struct builder *b, cJSON *parent, const char *name,
			const union elb_addr *addr, uint8_t family)
{
	char text[ELB_ADDR_TEXT_MAX];

	add_string(b, parent, name, elb_addr_format(addr, family, text, sizeof(text)));
}

static void add_key(struct builder *b, cJSON *object, const struct elb_dp_vip_key *key)
{
	add_address(b, object, "address", &key->addr, key->family);
	add_uint(b, object, "port", key->port);
	add_string(b, object, "protocol", protocol_name(key->proto));
}

static const char *name_or(const char *const *names, size_t n, unsigned int index)
{
	return index < n && names[index] != NULL ? names[index] : "?";
}

static void add_backends(struct builder *b, cJSON *array, const struct elb_dp_backend *backends,
			 uint32_t n)
{
	for (uint32_t i = 0; i < n && !b->failed; i++) {
		cJSON *o = add(b, array, NULL, cJSON_CreateObject());

		add_address(b, o, "address", &backends[i].addr, backends[i].family);
		add_uint(b, o, "weight", backends[i].weight);
		add_string(b, o, "state",
			   name_or(backend_state_names, ELB_ARRAY_SIZE(backend_state_names),
				   backends[i].state));
		if (backends[i].quic_server_id_len) {
			char hex[2 * ELB_QUIC_SERVER_ID_MAX + 1];

			format_hex_octets(backends[i].quic_server_id, backends[i].quic_server_id_len,
					  hex);
			add_string(b, o, "quic_server_id", hex);
		}
	}
}

/* Written only when on: a VIP without QUIC routing shows no member. */
static void add_quic(struct builder *b, cJSON *object, const struct elb_dp_quic *q)
{
	cJSON *quic, *configs;

	if (q->n_configs == 0)
		return;
	quic = add(b, object, "quic", cJSON_CreateObject());
	add_uint(b, quic, "server_id_length", q->server_id_len);
	configs = add(b, quic, "configs", cJSON_CreateArray());
	for (uint32_t i = 0; i < q->n_configs && i < ELB_QUIC_LB_CONFIGS && !b->failed; i++) {
		const struct elb_dp_quic_config *c = &q->configs[i];
		cJSON *o = add(b, configs, NULL, cJSON_CreateObject());

		add_uint(b, o, "id", c->id);
		add_uint(b, o, "nonce_length", c->nonce_len);
		if (c->has_key) {
			char hex[33];

			format_hex_octets(c->key, sizeof(c->key), hex);
			add_string(b, o, "key", hex);
		}
	}
}

/* Every member, off ones included (0, "sources": []), as the other
 * settings: what is in force shows. */
static void add_admission(struct builder *b, cJSON *object, const struct elb_dp_admission *adm)
{
	cJSON *sources;

	add_uint(b, object, "new_flows_per_s", adm->new_flows_per_s);
	add_uint(b, object, "new_flow_burst", adm->new_flow_burst);
	sources = add(b, object, "sources", cJSON_CreateArray());
	for (uint32_t i = 0; i < adm->n_sources && i < ELB_SOURCE_LIMITS_MAX && !b->failed; i++) {
		const struct elb_dp_source_limit *src = &adm->sources[i];
		cJSON *o = add(b, sources, NULL, cJSON_CreateObject());

		add_uint(b, o, "prefix_len", src->prefix_len);
		add_uint(b, o, "packets_per_s", src->packets_per_s);
		add_uint(b, o, "packet_burst", src->packet_burst);
		add_uint(b, o, "new_flows_per_s", src->new_flows_per_s);
		add_uint(b, o, "new_flow_burst", src->new_flow_burst);
	}
}

static void add_vip(struct builder *b, cJSON *object, const struct elb_dp_vip *vip,
		    bool with_backends)
{
	cJSON *rl, *t;

	add_key(b, object, &vip->key);
	add_string(b, object, "encap",
		   name_or(encap_names, ELB_ARRAY_SIZE(encap_names), vip->encap));
	add_uint(b, object, "mtu", vip->mtu);
	add_uint(b, object, "maglev_size", vip->maglev_size);
	add(b, object, "second_chance", cJSON_CreateBool(vip->second_chance));
	rl = add(b, object, "rate_limit", cJSON_CreateObject());
	add_uint(b, rl, "packets_per_s", vip->rate_limit.packets_per_s);
	add_uint(b, rl, "packet_burst", vip->rate_limit.packet_burst);
	add_uint(b, rl, "bytes_per_s", vip->rate_limit.bytes_per_s);
	add_uint(b, rl, "byte_burst", vip->rate_limit.byte_burst);
	t = add(b, object, "timeouts", cJSON_CreateObject());
	add_uint(b, t, "tcp_syn_ms", vip->timeouts.tcp_syn_ms);
	add_uint(b, t, "tcp_established_ms", vip->timeouts.tcp_established_ms);
	add_uint(b, t, "tcp_closing_ms", vip->timeouts.tcp_closing_ms);
	add_uint(b, t, "udp_ms", vip->timeouts.udp_ms);
	add_admission(b, add(b, object, "admission", cJSON_CreateObject()), &vip->admission);
	add_quic(b, object, &vip->quic);
	if (with_backends)
		add_backends(b, add(b, object, "backends", cJSON_CreateArray()), vip->backends,
			     vip->n_backends);
	else
		add_uint(b, object, "backend_count", vip->n_backends);
}

static void add_node(struct builder *b, cJSON *object, const struct elb_dp_node *node)
{
	char text[32];
	cJSON *seed;

	seed = add(b, object, "hash_seed", cJSON_CreateObject());
	snprintf(text, sizeof(text), "%016" PRIx64, node->hash_seed.k0);
	add_string(b, seed, "k0", text);
	snprintf(text, sizeof(text), "%016" PRIx64, node->hash_seed.k1);
	add_string(b, seed, "k1", text);
	if (node->has_source_v4)
		add_address(b, object, "source_v4", &node->source_v4, ELB_AF_INET);
	if (node->has_source_v6)
		add_address(b, object, "source_v6", &node->source_v6, ELB_AF_INET6);
	if (node->has_gateway_mac) {
		const uint8_t *m = node->gateway_mac;

		snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
			 m[3], m[4], m[5]);
		add_string(b, object, "gateway_mac", text);
	}
	add_uint(b, object, "gue_port", node->gue_port);
}

static cJSON *finish(struct builder *b, cJSON *root)
{
	if (b->failed || root == NULL) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

cJSON *elb_dp_vip_key_to_json(const struct elb_dp_vip_key *key)
{
	struct builder b = {false};
	cJSON *root = cJSON_CreateObject();

	add_key(&b, root, key);
	return finish(&b, root);
}

cJSON *elb_dp_backends_to_json(const struct elb_dp_backend *backends, uint32_t n_backends)
{
	struct builder b = {false};
	cJSON *root = cJSON_CreateArray();

	add_backends(&b, root, backends, n_backends);
	return finish(&b, root);
}

void elb_dp_quic_key_check(const uint8_t key[16], char out[7])
{
	static const uint8_t zero[ELB_AES_BLOCK];
	struct elb_aes128_key k;
	uint8_t block[ELB_AES_BLOCK];

	elb_aes128_key_init(&k, key);
	elb_aes128_encrypt(&k, zero, block);
	format_hex_octets(block, 3, out);
	memset(&k, 0, sizeof(k));
}

/* One VIP's JSON form: each quic.configs[i].key becomes its key check. */
static int redact_vip(cJSON *vip)
{
	cJSON *quic = cJSON_GetObjectItemCaseSensitive(vip, "quic"), *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(quic, "configs"))
	{
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(c, "key");
		uint8_t octets[16];
		char check[7];

		if (!cJSON_IsString(key) || parse_hex_octets(key->valuestring, octets, 16) != 16)
			continue;
		elb_dp_quic_key_check(octets, check);
		memset(octets, 0, sizeof(octets));
		cJSON_DeleteItemFromObjectCaseSensitive(c, "key");
		if (cJSON_AddStringToObject(c, "key_check", check) == NULL)
			return -ENOMEM;
	}
	return 0;
}

int elb_dp_config_json_redact(cJSON *json)
{
	const cJSON *vips = cJSON_GetObjectItemCaseSensitive(json, "vips");
	cJSON *vip;

	if (vips == NULL)
		return redact_vip(json);
	cJSON_ArrayForEach(vip, vips)
		if (redact_vip(vip) < 0)
			return -ENOMEM;
	return 0;
}

cJSON *elb_dp_admission_to_json(const struct elb_dp_admission *admission)
{
	struct builder b = {false};
	cJSON *root = cJSON_CreateObject();

	add_admission(&b, root, admission);
	return finish(&b, root);
}

cJSON *elb_dp_vip_to_json(const struct elb_dp_vip *vip, bool with_backends)
{
	struct builder b = {false};
	cJSON *root = cJSON_CreateObject();

	add_vip(&b, root, vip, with_backends);
	return finish(&b, root);
}

cJSON *elb_dp_node_to_json(const struct elb_dp_node *node)
{
	struct builder b = {false};
	cJSON *root = cJSON_CreateObject();

	add_node(&b, root, node);
	return finish(&b, root);
}

cJSON *elb_dp_config_to_json(const struct elb_dp_config *config)
{
	struct builder b = {false};
	cJSON *root = cJSON_CreateObject();
	cJSON *vips;

	add_node(&b, add(&b, root, "node", cJSON_CreateObject()), &config->node);
	vips = add(&b, root, "vips", cJSON_CreateArray());
	for (uint32_t i = 0; i < config->n_vips && !b.failed; i++)
		add_vip(&b, add(&b, vips, NULL, cJSON_CreateObject()), &config->vips[i], true);
	return finish(&b, root);
}

/* ------------------------------------------------------------------------ */
/* Files */

int elb_dp_config_write_file(const char *path, const struct elb_dp_config *config,
			     struct elb_dp_err *err)
{
	return elb_json_write_file(path, elb_dp_config_to_json(config), err);
}

static int parse_dp_config(const char *text, size_t len, void *out, struct elb_dp_err *err)
{
	return elb_dp_config_parse(text, len, out, err);
}

int elb_dp_config_load_file(const char *path, struct elb_dp_config **out, struct elb_dp_err *err)
{
	return elb_json_load_file(path, ELB_DP_CONFIG_FILE_MAX, parse_dp_config, out, err);
}
