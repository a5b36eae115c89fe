/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Planning and interleaving the mix.
 *
 * Every packet belongs to a stream: a flow, one fragmented datagram, one
 * ICMP error, one non-VIP or malformed frame. Planning decides each stream's
 * packet count so that the counts add up to --packets exactly, then gives
 * every packet a sort key: a flow's packets get random keys inside the
 * flow's lifetime (its SYN the earliest), a datagram's fragments and a rate
 * flood's burst get consecutive keys, an ICMP error a key inside the
 * lifetime of the flow it quotes, single frames any key. Sorting the keys
 * interleaves the streams. A stream does not need to know which of its
 * packets a key stands for: streams emit their packets in order, so
 * whichever of a stream's keys comes first gets its first packet.
 *
 * Timestamps follow the sorted order at --pps on average; consecutive
 * packets of one rate flood are at most FLOOD_GAP_NS apart, so that each
 * burst of 200 lasts under 1 ms whatever the rate.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pktgen_mix.h"
#include "pktgen_output.h"

#define KEY_SPAN (1ull << 62)  /* keys are below this; room above for bursts */
#define FLOOD_GAP_NS 4000      /* 199 gaps of 4 us: a burst of 200 within 1 ms */
#define TCP_MIN_PACKETS 3      /* SYN, one middle packet, FIN or RST */
#define ELEPHANT_PERCENT 3     /* flows ten times the usual length */
#define NS_PER_SEC 1000000000u

/* Per-stream generator numbers: one space per kind of stream. */
#define STREAM_TAG_FLOW (1ull << 56)
#define STREAM_TAG_ICMP (2ull << 56)
#define STREAM_TAG_NON_VIP (3ull << 56)
#define STREAM_TAG_MALFORMED (4ull << 56)

const struct mix_profile mix_profiles[] = {
	{"default", 50, 50, 30, 20, 20, 100,
	 "malformed 5%, non-VIP 5%, fragments 3%, ICMP errors 2%,\n"
	 "big 2%, rate floods --rate-flows x 200 packets (at most\n"
	 "10%: none below 2000 packets), client flows the rest"},
	{"clean", 0, 0, 30, 20, 20, 100,
	 "as default without malformed and non-VIP frames"},
	{"malformed-heavy", 400, 50, 30, 20, 20, 100,
	 "as default with 40% malformed"},
};

#define MIX_PROFILE_COUNT (sizeof(mix_profiles) / sizeof(mix_profiles[0]))

const struct mix_profile *mix_find(const char *name)
{
	for (size_t i = 0; i < MIX_PROFILE_COUNT; i++)
		if (strcmp(mix_profiles[i].name, name) == 0)
			return &mix_profiles[i];
	return NULL;
}

/* One profile per line, summary lines under each other after the name. */
void mix_describe(FILE *out)
{
	for (size_t i = 0; i < MIX_PROFILE_COUNT; i++) {
		const char *line = mix_profiles[i].summary;

		fprintf(out, "      %-16s", mix_profiles[i].name);
		for (const char *nl; (nl = strchr(line, '\n')); line = nl + 1)
			fprintf(out, "%.*s\n%22s", (int)(nl - line), line, "");
		fprintf(out, "%s\n", line);
	}
}

enum stream_type {
	STREAM_FLOW,
	STREAM_DATAGRAM,
	STREAM_ICMP_ERROR,
	STREAM_NON_VIP,
	STREAM_MALFORMED,
};

struct stream {
	uint8_t type;   /* enum stream_type */
	uint8_t sub;    /* non-VIP kind or malformation */
	uint8_t family; /* of a non-VIP frame */
	uint32_t index; /* flow (flow, ICMP error) or datagram */
};

struct item {
	uint64_t key;
	uint32_t stream;
};

struct plan {
	struct flow *flows;
	uint32_t n_flows;
	uint32_t n_regular; /* flows [0, n_regular) are ordinary client flows */
	struct datagram *datagrams;
	uint32_t n_datagrams;
	struct stream *streams;
	uint32_t n_streams;
	struct item *items;
	uint64_t n_items;
	uint64_t items_capacity;
	uint32_t dedicated_udp[2]; /* UDP flow made only to carry fragments, or UINT32_MAX */
};

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->stream > y->stream) - (x->stream < y->stream);
}

static uint32_t add_stream(struct plan *p, uint8_t type, uint8_t sub, uint8_t family,
			   uint32_t index)
{
	struct stream *s = &p->streams[p->n_streams];

	s->type = type;
	s->sub = sub;
	s->family = family;
	s->index = index;
	return p->n_streams++;
}

/* Counts past the capacity without writing, for plan_build() to report. */
static void add_item(struct plan *p, uint64_t key, uint32_t stream)
{
	if (p->n_items < p->items_capacity) {
		p->items[p->n_items].key = key;
		p->items[p->n_items].stream = stream;
	}
	p->n_items++;
}

/* An open-addressed set of flow fingerprints: no two flows share a 5-tuple. */
struct tuple_set {
	uint64_t *slots;
	uint64_t mask;
};

static uint64_t flow_fingerprint(const struct flow *f)
{
	uint64_t h = (uint64_t)f->family << 40 | (uint64_t)f->proto << 32 | f->client_port;

	for (int i = 0; i < 16; i++)
		h = (h ^ f->client[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	return h | 1; /* 0 marks a free slot */
}

/* @return false if a flow with this 5-tuple is already in the set. */
static bool tuple_set_insert(struct tuple_set *set, const struct flow *f)
{
	uint64_t fp = flow_fingerprint(f), i;

	for (i = fp & set->mask; set->slots[i]; i = (i + 1) & set->mask)
		if (set->slots[i] == fp)
			return false;
	set->slots[i] = fp;
	return true;
}

static void new_flow(struct plan *p, struct tuple_set *set, uint64_t seed, uint8_t family,
		     uint8_t proto)
{
	struct flow *f = &p->flows[p->n_flows];
	struct prng rng;

	prng_seed(&rng, seed, STREAM_TAG_FLOW | p->n_flows);
	flow_init(f, p->n_flows, family, proto, &rng);
	while (!tuple_set_insert(set, f))
		flow_redraw_client(f);
	p->n_flows++;
}

/*
 * Give each of count flows min_len packets plus a share of the rest of
 * budget, in proportion to a random weight: a product of two uniforms (many
 * short flows, some long) and a few elephants ten times heavier.
 */
static void spread_lengths(struct flow *flows, uint32_t count, uint64_t budget,
			   uint32_t min_len, struct prng *rng)
{
	uint64_t extra = budget - (uint64_t)count * min_len, total_weight = 0, given = 0;
	uint64_t *weight;

	if (count == 0)
		return;
	weight = calloc(count, sizeof(*weight));
	if (!weight)
		abort();
	for (uint32_t i = 0; i < count; i++) {
		weight[i] = (prng_below(rng, 1000) + 1) * (prng_below(rng, 1000) + 1) / 1000 + 1;
		if (prng_percent(rng, ELEPHANT_PERCENT))
			weight[i] *= 10;
		total_weight += weight[i];
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t share = (uint64_t)((unsigned __int128)extra * weight[i] / total_weight);

		flows[i].n_packets = (uint32_t)(min_len + share);
		given += share;
	}
	for (; given < extra; given++)
		flows[prng_below(rng, count)].n_packets++;
	free(weight);
}

/* Split budget fragments into datagrams of 2 or 3 fragments, exactly. */
static uint32_t plan_datagram_sizes(uint64_t budget, uint8_t *sizes, struct prng *rng)
{
	uint32_t n = 0;

	while (budget > 0) {
		uint8_t size;

		if (budget == 2 || budget == 3)
			size = (uint8_t)budget;
		else if (budget == 4)
			size = 2;
		else
			size = prng_percent(rng, 70) ? 2 : 3;
		sizes[n++] = size;
		budget -= size;
	}
	return n;
}

static void set_lifetime(struct flow *f, struct prng *rng)
{
	if (f->flood) {
		f->key_len = f->n_packets;
		f->key_start = prng_below(rng, KEY_SPAN - f->key_len);
		return;
	}
	/* From 0.2% to 30% of the capture. */
	f->key_len = KEY_SPAN / 500 + prng_below(rng, KEY_SPAN / 10 * 3);
	f->key_start = prng_below(rng, KEY_SPAN - f->key_len);
}

static uint64_t key_within(const struct flow *f, struct prng *rng)
{
	return f->key_start + 1 + prng_below(rng, f->key_len);
}

static void plan_free(struct plan *p)
{
	free(p->flows);
	free(p->datagrams);
	free(p->streams);
	free(p->items);
}

static int plan_build(const struct gen_config *cfg, struct plan *p)
{
	const struct mix_profile *mix = cfg->mix;
	const uint64_t n = cfg->packets;
	uint64_t malformed = n * mix->malformed / 1000;
	uint64_t non_vip = n * mix->non_vip / 1000;
	uint64_t fragments = n * mix->fragment / 1000;
	uint64_t icmp_errors = n * mix->icmp_error / 1000;
	uint64_t big = n * mix->big / 1000;
	uint64_t rate_flows = n * mix->rate_flood_max / 1000 / FLOOD_BURST_PACKETS;
	uint64_t flow_budget, tcp_budget, udp_budget, n_tcp, n_udp, max_flows, i;
	uint32_t *udp_flows[2] = {NULL, NULL}; /* per family: indices of UDP client flows */
	uint32_t n_udp_flows[2] = {0, 0};
	uint8_t *datagram_sizes = NULL;
	struct tuple_set set = {0};
	struct prng rng;

	memset(p, 0, sizeof(*p));
	p->dedicated_udp[0] = p->dedicated_udp[1] = UINT32_MAX;
	prng_seed(&rng, cfg->seed, 0);

	if (fragments < 2)
		fragments = 0;
	if (rate_flows > cfg->rate_flows)
		rate_flows = cfg->rate_flows;
	flow_budget = n - malformed - non_vip - fragments - icmp_errors - big -
		      rate_flows * FLOOD_BURST_PACKETS;

	/* Client flows: 85% of their packets TCP, 80% of the flows TCP; a TCP
	 * flow needs 3 packets, a UDP flow 1. Fewer flows when the budget is small. */
	tcp_budget = flow_budget * 85 / 100;
	udp_budget = flow_budget - tcp_budget;
	n_tcp = cfg->flows * 80 / 100;
	n_udp = cfg->flows - n_tcp;
	if (n_tcp > tcp_budget / TCP_MIN_PACKETS)
		n_tcp = tcp_budget / TCP_MIN_PACKETS;
	if (n_tcp == 0) {
		udp_budget += tcp_budget;
		tcp_budget = 0;
	}
	if (n_udp > udp_budget)
		n_udp = udp_budget;
	if (n_udp == 0 && udp_budget > 0) {
		if (n_tcp > 0) {
			tcp_budget += udp_budget;
			udp_budget = 0;
		} else {
			n_udp = 1;
		}
	}

	max_flows = n_tcp + n_udp + rate_flows + 2;
	p->flows = calloc(max_flows, sizeof(*p->flows));
	p->datagrams = calloc(fragments / 2 + 1, sizeof(*p->datagrams));
	datagram_sizes = calloc(fragments / 2 + 1, 1);
	p->streams = calloc(max_flows + fragments / 2 + icmp_errors + non_vip + malformed + 1,
			    sizeof(*p->streams));
	p->items = calloc(n, sizeof(*p->items));
	p->items_capacity = n;
	for (set.mask = 1; set.mask < 2 * max_flows; set.mask <<= 1)
		;
	set.slots = calloc(set.mask, sizeof(*set.slots));
	set.mask--;
	if (!p->flows || !p->datagrams || !datagram_sizes || !p->streams || !p->items ||
	    !set.slots) {
		fprintf(stderr, "edgelb-pktgen: out of memory for %llu packets\n",
			(unsigned long long)n);
		free(datagram_sizes);
		free(set.slots);
		plan_free(p);
		return -1;
	}

	/* Ordinary client flows: TCP first, then UDP; 60% IPv4. */
	for (i = 0; i < n_tcp; i++)
		new_flow(p, &set, cfg->seed, prng_percent(&rng, 60) ? 4 : 6, WIRE_PROTO_TCP);
	for (i = 0; i < n_udp; i++)
		new_flow(p, &set, cfg->seed, prng_percent(&rng, 60) ? 4 : 6, WIRE_PROTO_UDP);
	p->n_regular = p->n_flows;
	spread_lengths(p->flows, (uint32_t)n_tcp, tcp_budget, TCP_MIN_PACKETS, &rng);
	spread_lengths(p->flows + n_tcp, (uint32_t)n_udp, udp_budget, 1, &rng);

	/* Big packets ride in ordinary flows, as their largest segments. */
	for (i = 0; i < big; i++) {
		struct flow *f = &p->flows[prng_below(&rng, p->n_regular)];

		f->n_big++;
		f->n_packets++;
	}

	/* Rate floods: UDP and TCP, IPv4 and IPv6 in turn, one burst each. */
	for (i = 0; i < rate_flows; i++) {
		struct flow *f = &p->flows[p->n_flows];

		new_flow(p, &set, cfg->seed, i % 2 ? 6 : 4,
			 i % 4 < 2 ? WIRE_PROTO_UDP : WIRE_PROTO_TCP);
		f->flood = true;
		f->n_packets = FLOOD_BURST_PACKETS;
	}

	/* Fragmented datagrams belong to UDP flows of their family; a family
	 * without any gets one flow that only carries fragments. */
	for (int fi = 0; fi < 2; fi++) {
		udp_flows[fi] = calloc(n_udp + 1, sizeof(uint32_t));
		if (!udp_flows[fi])
			abort();
	}
	for (i = n_tcp; i < p->n_regular; i++) {
		int fi = family_index(p->flows[i].family);

		udp_flows[fi][n_udp_flows[fi]++] = (uint32_t)i;
	}
	p->n_datagrams = plan_datagram_sizes(fragments, datagram_sizes, &rng);
	for (uint32_t d = 0; d < p->n_datagrams; d++) {
		uint8_t family = prng_percent(&rng, 50) ? 4 : 6;
		int fi = family_index(family);
		uint32_t flow_index;

		if (n_udp_flows[fi] > 0) {
			flow_index = udp_flows[fi][prng_below(&rng, n_udp_flows[fi])];
		} else {
			if (p->dedicated_udp[fi] == UINT32_MAX) {
				p->dedicated_udp[fi] = p->n_flows;
				new_flow(p, &set, cfg->seed, family, WIRE_PROTO_UDP);
			}
			flow_index = p->dedicated_udp[fi];
		}
		datagram_init(&p->datagrams[d], flow_index, family, datagram_sizes[d], &rng);
	}
	free(udp_flows[0]);
	free(udp_flows[1]);
	free(datagram_sizes);
	free(set.slots);

	/* Lifetimes, then the keys of every stream's packets. */
	for (uint32_t f = 0; f < p->n_flows; f++)
		set_lifetime(&p->flows[f], &rng);
	for (uint32_t f = 0; f < p->n_flows; f++) {
		const struct flow *fl = &p->flows[f];
		uint32_t s;

		if (fl->n_packets == 0)
			continue;
		s = add_stream(p, STREAM_FLOW, 0, 0, f);
		for (uint32_t k = 0; k < fl->n_packets; k++) {
			if (fl->flood)
				add_item(p, fl->key_start + k, s);
			else
				add_item(p, k == 0 ? fl->key_start : key_within(fl, &rng), s);
		}
	}
	for (uint32_t d = 0; d < p->n_datagrams; d++) {
		uint32_t s = add_stream(p, STREAM_DATAGRAM, 0, 0, d);
		uint64_t base = key_within(&p->flows[p->datagrams[d].flow], &rng);

		for (uint32_t k = 0; k < p->datagrams[d].n_frags; k++)
			add_item(p, base + k, s);
	}
	for (i = 0; i < icmp_errors; i++) {
		uint32_t f = (uint32_t)prng_below(&rng, p->n_regular);

		add_item(p, key_within(&p->flows[f], &rng),
			 add_stream(p, STREAM_ICMP_ERROR, 0, 0, f));
	}
	for (i = 0; i < non_vip; i++) {
		/* ARP 20%, to the node's own address 40%, echo to a VIP 25%,
		 * a VIP address on another port 15%; 60% IPv4. */
		uint64_t pick = prng_below(&rng, 100);
		enum non_vip_kind kind;
		uint8_t family;

		if (pick < 20)
			kind = NON_VIP_ARP;
		else if (pick < 60)
			kind = NON_VIP_OTHER_DST;
		else if (pick < 85)
			kind = NON_VIP_ECHO_VIP;
		else
			kind = NON_VIP_VIP_OTHER_PORT;
		family = kind == NON_VIP_ARP || prng_percent(&rng, 60) ? 4 : 6;

		add_item(p, prng_below(&rng, KEY_SPAN),
			 add_stream(p, STREAM_NON_VIP, (uint8_t)kind, family, 0));
	}
	/* Malformations in turn, so that every one appears once there are 21. */
	for (i = 0; i < malformed; i++)
		add_item(p, prng_below(&rng, KEY_SPAN),
			 add_stream(p, STREAM_MALFORMED, (uint8_t)(i % MALFORMED_COUNT), 0, 0));

	if (p->n_items != n) {
		fprintf(stderr, "edgelb-pktgen: planned %llu packets instead of %llu\n",
			(unsigned long long)p->n_items, (unsigned long long)n);
		plan_free(p);
		return -1;
	}
	qsort(p->items, p->n_items, sizeof(*p->items), cmp_item);
	return 0;
}

/* Time from packet i - 1 to packet i of a steady schedule of pps, exact in integers. */
static uint64_t steady_step_ns(uint64_t i, uint64_t pps)
{
	unsigned __int128 now = (unsigned __int128)i * NS_PER_SEC / pps;
	unsigned __int128 before = (unsigned __int128)(i - 1) * NS_PER_SEC / pps;

	return (uint64_t)(now - before);
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int mix_generate(const struct gen_config *cfg)
{
	static const char *const kinds[] = {"flow",     "rate_flood", "big",      "fragment",
					    "icmp_error", "non_vip",  "malformed"};
	uint64_t counts[sizeof(kinds) / sizeof(kinds[0])] = {0};
	uint64_t ts = cfg->start_ns;
	uint32_t previous_stream = UINT32_MAX;
	struct gen_output out;
	struct frame_out frame;
	struct timespec started;
	struct plan plan;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &started);
	if (plan_build(cfg, &plan) != 0)
		return -1;
	if (output_open(&out, cfg->pcap_path, cfg->truth_path, &cfg->net) != 0) {
		plan_free(&plan);
		return -1;
	}
	for (uint64_t i = 0; i < plan.n_items; i++) {
		uint32_t stream_id = plan.items[i].stream;
		const struct stream *s = &plan.streams[stream_id];
		struct flow *burst_flow = NULL;
		struct prng rng;

		memset(&frame.truth, 0, sizeof(frame.truth));
		switch (s->type) {
		case STREAM_FLOW:
			flow_next_packet(&cfg->net, &plan.flows[s->index], &frame);
			if (plan.flows[s->index].flood)
				burst_flow = &plan.flows[s->index];
			break;
		case STREAM_DATAGRAM: {
			struct datagram *d = &plan.datagrams[s->index];

			datagram_build_fragment(&cfg->net, &plan.flows[d->flow], d, d->sent,
						&frame);
			break;
		}
		case STREAM_ICMP_ERROR:
			prng_seed(&rng, cfg->seed, STREAM_TAG_ICMP | stream_id);
			icmp_error_build(&cfg->net, &plan.flows[s->index], ICMP_ERR_RANDOM, &rng,
					 &frame);
			break;
		case STREAM_NON_VIP:
			prng_seed(&rng, cfg->seed, STREAM_TAG_NON_VIP | stream_id);
			non_vip_build(&cfg->net, (enum non_vip_kind)s->sub, s->family, &rng,
				      &frame);
			break;
		case STREAM_MALFORMED:
		default:
			prng_seed(&rng, cfg->seed, STREAM_TAG_MALFORMED | stream_id);
			malformed_build(&cfg->net, (enum malformed_kind)s->sub, &rng, &frame);
			break;
		}

		if (i > 0) {
			uint64_t step = steady_step_ns(i, cfg->pps);

			if (burst_flow && previous_stream == stream_id && step > FLOOD_GAP_NS)
				step = FLOOD_GAP_NS;
			ts += step ? step : 1; /* strictly increasing */
		}
		previous_stream = stream_id;
		output_write(&out, ts, &frame);
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (strcmp(frame.truth.kind, kinds[k]) == 0)
				counts[k]++;
	}
	rc = output_close(&out);
	if (rc == 0) {
		fprintf(stderr, "edgelb-pktgen: %llu frames, seed %llu, %u flows, %.3f s:",
			(unsigned long long)plan.n_items, (unsigned long long)cfg->seed,
			plan.n_flows, seconds_since(&started));
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			fprintf(stderr, " %s %llu", kinds[k], (unsigned long long)counts[k]);
		fputc('\n', stderr);
	}
	plan_free(&plan);
	return rc;
}
