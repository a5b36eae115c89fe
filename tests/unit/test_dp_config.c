/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane configuration model: parsing with defaults, every
 * validation error with its exact path and text, the round trip through
 * JSON, and the atomic file write and load.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "elb_config.h"
#include "elb_file.h"
#include "elb_maglev.h"
#include "elb_test.h"
#include "elb_wire.h"

/* JSON written with single quotes, for readable fixtures. */
static char *json_q(const char *text)
{
	char *out = strdup(text);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static struct elb_dp_config *parse_ok(const char *single_quoted)
{
	struct elb_dp_config *config = NULL;
	struct elb_dp_err err = {{0}, {0}};
	char *text = json_q(single_quoted);
	int rc = elb_dp_config_parse(text, strlen(text), &config, &err);

	if (rc != 0)
		fprintf(stderr, "unexpected error: %s\n", err.text);
	CU_ASSERT_EQUAL(rc, 0);
	free(text);
	return config;
}

static void expect_error(const char *single_quoted, const char *field, const char *message)
{
	struct elb_dp_config *config = NULL;
	struct elb_dp_err err = {{0}, {0}};
	char *text = json_q(single_quoted);
	int rc = elb_dp_config_parse(text, strlen(text), &config, &err);

	CU_ASSERT_EQUAL(rc, -EINVAL);
	CU_ASSERT_PTR_NULL(config);
	if (strcmp(err.field, field) != 0 || strcmp(err.text, message) != 0)
		fprintf(stderr, "\nfor %s\n  got  [%s] %s\n  want [%s] %s\n", text, err.field,
			err.text, field, message);
	CU_ASSERT_STRING_EQUAL(err.field, field);
	CU_ASSERT_STRING_EQUAL(err.text, message);
	elb_dp_config_free(config);
	free(text);
}

#define NODE "'node':{'source_v4':'192.0.2.1','source_v6':'2001:db8::1'}"
#define VIP80 "'address':'198.51.100.1','port':80,'protocol':'tcp'"

static uint32_t v4(const char *text)
{
	uint32_t a;

	CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET, text, &a), 1);
	return a;
}

static void test_empty_config_defaults(void)
{
	struct elb_dp_config *c = parse_ok("{}");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->n_vips, 0);
	CU_ASSERT_EQUAL(c->node.hash_seed.k0, ELB_HASH_SEED_DEFAULT_K0);
	CU_ASSERT_EQUAL(c->node.hash_seed.k1, ELB_HASH_SEED_DEFAULT_K1);
	CU_ASSERT_EQUAL(c->node.gue_port, 6080);
	CU_ASSERT_FALSE(c->node.has_source_v4);
	CU_ASSERT_FALSE(c->node.has_source_v6);
	CU_ASSERT_FALSE(c->node.has_gateway_mac);
	elb_dp_config_free(c);
}

static void test_v4_vip_defaults(void)
{
	struct elb_dp_config *c = parse_ok(
		"{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1'},"
		"{'address':'10.0.0.2','weight':0,'state':'draining'}]}]}");
	const struct elb_dp_vip *vip;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->n_vips, 1);
	vip = &c->vips[0];
	CU_ASSERT_EQUAL(vip->key.family, ELB_AF_INET);
	CU_ASSERT_EQUAL(vip->key.addr.w[0], v4("198.51.100.1"));
	CU_ASSERT_EQUAL(vip->key.addr.w[1] | vip->key.addr.w[2] | vip->key.addr.w[3], 0);
	CU_ASSERT_EQUAL(vip->key.port, 80);
	CU_ASSERT_EQUAL(vip->key.proto, ELB_IPPROTO_TCP);
	CU_ASSERT_EQUAL(vip->encap, ELB_DP_ENCAP_IPIP);
	CU_ASSERT_EQUAL(vip->mtu, 1500);
	CU_ASSERT_EQUAL(vip->maglev_size, 65537);
	CU_ASSERT_FALSE(vip->second_chance);
	CU_ASSERT_EQUAL(vip->rate_limit.packets_per_s, 0);
	CU_ASSERT_EQUAL(vip->rate_limit.packet_burst, 0);
	CU_ASSERT_EQUAL(vip->rate_limit.bytes_per_s, 0);
	CU_ASSERT_EQUAL(vip->rate_limit.byte_burst, 0);
	CU_ASSERT_EQUAL(vip->timeouts.tcp_syn_ms, 5000);
	CU_ASSERT_EQUAL(vip->timeouts.tcp_established_ms, 300000);
	CU_ASSERT_EQUAL(vip->timeouts.tcp_closing_ms, 10000);
	CU_ASSERT_EQUAL(vip->timeouts.udp_ms, 30000);
	/* No "admission": everything off. */
	CU_ASSERT_EQUAL(vip->admission.new_flows_per_s, 0);
	CU_ASSERT_EQUAL(vip->admission.new_flow_burst, 0);
	CU_ASSERT_EQUAL(vip->admission.n_sources, 0);
	CU_ASSERT_EQUAL_FATAL(vip->n_backends, 2);
	CU_ASSERT_EQUAL(vip->backends[0].family, ELB_AF_INET);
	CU_ASSERT_EQUAL(vip->backends[0].addr.w[0], v4("10.0.0.1"));
	CU_ASSERT_EQUAL(vip->backends[0].weight, 1);
	CU_ASSERT_EQUAL(vip->backends[0].state, ELB_DP_BACKEND_ACTIVE);
	CU_ASSERT_EQUAL(vip->backends[1].weight, 0);
	CU_ASSERT_EQUAL(vip->backends[1].state, ELB_DP_BACKEND_DRAINING);
	CU_ASSERT_TRUE(c->node.has_source_v4);
	CU_ASSERT_EQUAL(c->node.source_v4.w[0], v4("192.0.2.1"));
	elb_dp_config_free(c);
}

static void test_v6_vip_and_mixed_families(void)
{
	static const uint8_t vip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					 0,    0,    0,    0,    0, 0, 0, 0x10};
	struct elb_dp_config *c = parse_ok(
		"{'node':{'hash_seed':{'k0':'0123456789abcdef','k1':'FEDCBA9876543210'},"
		"'source_v4':'192.0.2.1','source_v6':'2001:db8::1','gateway_mac':'AA:bb:cc:dd:ee:0f',"
		"'gue_port':7777},"
		"'vips':[{'address':'2001:db8::10','port':0,'protocol':'udp','encap':'gue',"
		"'mtu':9000,'maglev_size':251,"
		"'rate_limit':{'packets_per_s':1000,'packet_burst':10,'bytes_per_s':1000000,"
		"'byte_burst':9000},"
		"'timeouts':{'tcp_syn_ms':1,'tcp_established_ms':2,'tcp_closing_ms':3,'udp_ms':4},"
		"'backends':[{'address':'2001:db8:1::1','weight':65535}]},"
		/* IPv4 VIP, IPv6 backend: IPv4 in IPv6 is fine. */
		"{'address':'198.51.100.1','port':443,'protocol':'tcp','mtu':1280,"
		"'backends':[{'address':'2001:db8:1::2'},{'address':'10.0.0.1'}]}]}");
	const struct elb_dp_vip *vip;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->node.hash_seed.k0, 0x0123456789abcdefULL);
	CU_ASSERT_EQUAL(c->node.hash_seed.k1, 0xfedcba9876543210ULL);
	CU_ASSERT_TRUE(c->node.has_gateway_mac);
	CU_ASSERT_EQUAL(c->node.gateway_mac[0], 0xaa);
	CU_ASSERT_EQUAL(c->node.gateway_mac[5], 0x0f);
	CU_ASSERT_EQUAL(c->node.gue_port, 7777);
	CU_ASSERT_EQUAL_FATAL(c->n_vips, 2);
	vip = &c->vips[0];
	CU_ASSERT_EQUAL(vip->key.family, ELB_AF_INET6);
	CU_ASSERT_EQUAL(memcmp(vip->key.addr.v6, vip6, 16), 0);
	CU_ASSERT_EQUAL(vip->key.port, 0);
	CU_ASSERT_EQUAL(vip->key.proto, ELB_IPPROTO_UDP);
	CU_ASSERT_EQUAL(vip->encap, ELB_DP_ENCAP_GUE);
	CU_ASSERT_EQUAL(vip->mtu, 9000);
	CU_ASSERT_EQUAL(vip->maglev_size, 251);
	CU_ASSERT_EQUAL(vip->rate_limit.packets_per_s, 1000);
	CU_ASSERT_EQUAL(vip->rate_limit.byte_burst, 9000);
	CU_ASSERT_EQUAL(vip->timeouts.udp_ms, 4);
	CU_ASSERT_EQUAL(vip->backends[0].family, ELB_AF_INET6);
	CU_ASSERT_EQUAL(vip->backends[0].weight, 65535);
	CU_ASSERT_EQUAL(c->vips[1].backends[0].family, ELB_AF_INET6);
	CU_ASSERT_EQUAL(c->vips[1].backends[1].family, ELB_AF_INET);
	elb_dp_config_free(c);
}

/* Every error the JSON path can produce, with its exact path and text. */
static void test_validation_errors(void)
{
	static const struct {
		const char *json, *field, *text;
	} cases[] = {
		{"[]", "", "must be an object"},
		{"{'vips':{}}", "vips", "vips: must be an array"},
		{"{'vips':[1]}", "vips[0]", "vips[0]: must be an object"},
		{"{'vips':[],'vips':[]}", "vips", "vips: given twice"},
		{"{'vip':[]}", "vip", "vip: unknown member"},
		{"{'node':[]}", "node", "node: must be an object"},
		{"{'node':{'hash_seed':{'k0':'123','k1':'0000000000000000'}}}", "node.hash_seed.k0",
		 "node.hash_seed.k0: must be 16 hexadecimal digits"},
		{"{'node':{'hash_seed':{'k0':'000000000000000g','k1':'0000000000000000'}}}",
		 "node.hash_seed.k0", "node.hash_seed.k0: must be 16 hexadecimal digits"},
		{"{'node':{'hash_seed':{'k0':'0000000000000000'}}}", "node.hash_seed.k1",
		 "node.hash_seed.k1: missing"},
		{"{'node':{'hash_seed':{'k0':1,'k1':'0000000000000000'}}}", "node.hash_seed.k0",
		 "node.hash_seed.k0: must be a string"},
		{"{'node':{'source_v4':'2001:db8::1'}}", "node.source_v4",
		 "node.source_v4: must be an IPv4 address (got \"2001:db8::1\")"},
		{"{'node':{'source_v6':'192.0.2.1'}}", "node.source_v6",
		 "node.source_v6: must be an IPv6 address (got \"192.0.2.1\")"},
		{"{'node':{'source_v4':'0.0.0.0'}}", "node.source_v4",
		 "node.source_v4: must be a unicast address (not unspecified, loopback, multicast, "
		 "broadcast or reserved)"},
		{"{'node':{'gateway_mac':'aa:bb:cc:dd:ee'}}", "node.gateway_mac",
		 "node.gateway_mac: must be a MAC address like \"aa:bb:cc:dd:ee:ff\""},
		{"{'node':{'gateway_mac':'aa-bb-cc-dd-ee-ff'}}", "node.gateway_mac",
		 "node.gateway_mac: must be a MAC address like \"aa:bb:cc:dd:ee:ff\""},
		{"{'node':{'gateway_mac':'01:00:5e:00:00:01'}}", "node.gateway_mac",
		 "node.gateway_mac: must be a unicast MAC address"},
		{"{'node':{'gateway_mac':'00:00:00:00:00:00'}}", "node.gateway_mac",
		 "node.gateway_mac: must not be 00:00:00:00:00:00"},
		{"{'node':{'gue_port':0}}", "node.gue_port",
		 "node.gue_port: must be an integer in 1..65535"},
		{"{'node':{'mtu':1500}}", "node.mtu", "node.mtu: unknown member"},
		/* VIP identity */
		{"{'vips':[{'port':80,'protocol':'tcp'}]}", "vips[0].address",
		 "vips[0].address: missing"},
		{"{'vips':[{'address':'198.51.100.1','protocol':'tcp'}]}", "vips[0].port",
		 "vips[0].port: missing"},
		{"{'vips':[{'address':'198.51.100.1','port':80}]}", "vips[0].protocol",
		 "vips[0].protocol: missing"},
		{"{'vips':[{'address':'10.0.0.300','port':80,'protocol':'tcp'}]}", "vips[0].address",
		 "vips[0].address: must be an IPv4 or IPv6 address (got \"10.0.0.300\")"},
		{"{'vips':[{'address':'fe80::1%eth0','port':80,'protocol':'tcp'}]}",
		 "vips[0].address",
		 "vips[0].address: must be an IPv4 or IPv6 address (got \"fe80::1%eth0\")"},
		{"{'vips':[{'address':'::ffff:10.0.0.1','port':80,'protocol':'tcp'}]}",
		 "vips[0].address",
		 "vips[0].address: write an IPv4 address as IPv4, not IPv4-mapped IPv6"},
		{"{'vips':[{'address':'224.0.0.1','port':80,'protocol':'tcp'}]}", "vips[0].address",
		 "vips[0].address: must be a unicast address (not unspecified, loopback, multicast, "
		 "broadcast or reserved)"},
		{"{'vips':[{'address':'ff02::1','port':80,'protocol':'tcp'}]}", "vips[0].address",
		 "vips[0].address: must be a unicast address (not unspecified, loopback, multicast, "
		 "broadcast or reserved)"},
		{"{'vips':[{'address':'198.51.100.1','port':65536,'protocol':'tcp'}]}",
		 "vips[0].port", "vips[0].port: must be an integer in 0..65535"},
		{"{'vips':[{'address':'198.51.100.1','port':'80','protocol':'tcp'}]}",
		 "vips[0].port", "vips[0].port: must be an integer in 0..65535"},
		{"{'vips':[{'address':'198.51.100.1','port':80.5,'protocol':'tcp'}]}",
		 "vips[0].port", "vips[0].port: must be an integer in 0..65535"},
		{"{'vips':[{'address':'198.51.100.1','port':80,'protocol':'icmp'}]}",
		 "vips[0].protocol", "vips[0].protocol: must be \"tcp\" or \"udp\""},
		{"{'vips':[{'address':'198.51.100.1','port':80,'protocol':'TCP'}]}",
		 "vips[0].protocol", "vips[0].protocol: must be \"tcp\" or \"udp\""},
		{"{'vips':[{" VIP80 ",'prot':'tcp'}]}", "vips[0].prot",
		 "vips[0].prot: unknown member"},
		{"{'vips':[{" VIP80 ",'port':81}]}", "vips[0].port", "vips[0].port: given twice"},
		/* VIP settings */
		{"{'vips':[{" VIP80 ",'encap':'gre'}]}", "vips[0].encap",
		 "vips[0].encap: must be \"ipip\" or \"gue\""},
		{"{'vips':[{" VIP80 ",'second_chance':1}]}", "vips[0].second_chance",
		 "vips[0].second_chance: must be a boolean"},
		{"{'vips':[{" VIP80 ",'second_chance':true}]}", "vips[0].second_chance",
		 "vips[0].second_chance: needs \"encap\": \"gue\""},
		{"{'vips':[{" VIP80 ",'encap':'ipip','second_chance':true}]}",
		 "vips[0].second_chance", "vips[0].second_chance: needs \"encap\": \"gue\""},
		{"{'vips':[{" VIP80 ",'mtu':575}]}", "vips[0].mtu",
		 "vips[0].mtu: must be an integer in 576..9216"},
		{"{'vips':[{" VIP80 ",'mtu':9217}]}", "vips[0].mtu",
		 "vips[0].mtu: must be an integer in 576..9216"},
		{"{'vips':[{" VIP80 ",'maglev_size':65536}]}", "vips[0].maglev_size",
		 "vips[0].maglev_size: must be a prime number (e.g. 251, 65537, 655373)"},
		{"{'vips':[{" VIP80 ",'maglev_size':241}]}", "vips[0].maglev_size",
		 "vips[0].maglev_size: must be an integer in 251..4194301"},
		{"{'vips':[{" VIP80 ",'maglev_size':4194319}]}", "vips[0].maglev_size",
		 "vips[0].maglev_size: must be an integer in 251..4194301"},
		{"{'vips':[{" VIP80 ",'rate_limit':{'packets_per_s':1000}}]}",
		 "vips[0].rate_limit.packet_burst",
		 "vips[0].rate_limit.packet_burst: must be at least 1 when packets_per_s is set"},
		{"{'vips':[{" VIP80 ",'rate_limit':{'packets_per_s':1000000000001,'packet_burst':1}}]}",
		 "vips[0].rate_limit.packets_per_s",
		 "vips[0].rate_limit.packets_per_s: must be an integer in 0..1000000000000"},
		{"{'vips':[{" VIP80 ",'rate_limit':{'packets_per_s':1,'packet_burst':9007199254740992}}]}",
		 "vips[0].rate_limit.packet_burst",
		 "vips[0].rate_limit.packet_burst: too large for packets_per_s (the bucket would "
		 "hold more than 2^62 / 64 ns of traffic)"},
		{"{'vips':[{" VIP80 ",'rate_limit':{'packet_burst':9007199254740994}}]}",
		 "vips[0].rate_limit.packet_burst",
		 "vips[0].rate_limit.packet_burst: must be an integer in 0..9007199254740992"},
		{"{'vips':[{" VIP80 ",'rate_limit':{'bytes_per_s':1000000,'byte_burst':1499}}]}",
		 "vips[0].rate_limit.byte_burst",
		 "vips[0].rate_limit.byte_burst: must be at least the VIP's mtu (1500) when "
		 "bytes_per_s is set, or a full-size packet never passes"},
		{"{'vips':[{" VIP80 ",'rate_limit':{'bytes_per_s':1,'byte_burst':9007199254740992}}]}",
		 "vips[0].rate_limit.byte_burst",
		 "vips[0].rate_limit.byte_burst: too large for bytes_per_s (the bucket would hold "
		 "more than 2^62 / 64 ns of traffic)"},
		{"{'vips':[{" VIP80 ",'rate_limit':{'pps':1}}]}", "vips[0].rate_limit.pps",
		 "vips[0].rate_limit.pps: unknown member"},
		{"{'vips':[{" VIP80 ",'rate_limit':{'packets_per_s':-1}}]}",
		 "vips[0].rate_limit.packets_per_s",
		 "vips[0].rate_limit.packets_per_s: must be an integer in 0..1000000000000"},
		{"{'vips':[{" VIP80 ",'timeouts':{'udp_ms':0}}]}", "vips[0].timeouts.udp_ms",
		 "vips[0].timeouts.udp_ms: must be an integer in 1..4294967295"},
		{"{'vips':[{" VIP80 ",'timeouts':{'tcp_syn_ms':4294967296}}]}",
		 "vips[0].timeouts.tcp_syn_ms",
		 "vips[0].timeouts.tcp_syn_ms: must be an integer in 1..4294967295"},
		{"{'vips':[{" VIP80 ",'timeouts':[]}]}", "vips[0].timeouts",
		 "vips[0].timeouts: must be an object"},
		/* Admission control */
		{"{'vips':[{" VIP80 ",'admission':[]}]}", "vips[0].admission",
		 "vips[0].admission: must be an object"},
		{"{'vips':[{" VIP80 ",'admission':{'new_flow_per_s':1}}]}",
		 "vips[0].admission.new_flow_per_s", "vips[0].admission.new_flow_per_s: unknown member"},
		{"{'vips':[{" VIP80 ",'admission':{'new_flows_per_s':1,'new_flows_per_s':2}}]}",
		 "vips[0].admission.new_flows_per_s",
		 "vips[0].admission.new_flows_per_s: given twice"},
		{"{'vips':[{" VIP80 ",'admission':{'new_flows_per_s':50000}}]}",
		 "vips[0].admission.new_flow_burst",
		 "vips[0].admission.new_flow_burst: must be at least 1 when new_flows_per_s is set"},
		{"{'vips':[{" VIP80 ",'admission':{'new_flows_per_s':1000000000001,'new_flow_burst':1}}]}",
		 "vips[0].admission.new_flows_per_s",
		 "vips[0].admission.new_flows_per_s: must be an integer in 0..1000000000000"},
		{"{'vips':[{" VIP80 ",'admission':{'new_flows_per_s':-1}}]}",
		 "vips[0].admission.new_flows_per_s",
		 "vips[0].admission.new_flows_per_s: must be an integer in 0..1000000000000"},
		{"{'vips':[{" VIP80 ",'admission':{'new_flow_burst':9007199254740994}}]}",
		 "vips[0].admission.new_flow_burst",
		 "vips[0].admission.new_flow_burst: must be an integer in 0..9007199254740992"},
		{"{'vips':[{" VIP80 ",'admission':{'new_flows_per_s':1,'new_flow_burst':9007199254740992}}]}",
		 "vips[0].admission.new_flow_burst",
		 "vips[0].admission.new_flow_burst: too large for new_flows_per_s (the bucket would "
		 "hold more than 2^62 / 64 ns of traffic)"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':{}}}]}", "vips[0].admission.sources",
		 "vips[0].admission.sources: must be an array"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':32,'packets_per_s':1,"
		 "'packet_burst':1},{'prefix_len':24,'packets_per_s':1,'packet_burst':1},"
		 "{'prefix_len':16,'packets_per_s':1,'packet_burst':1}]}}]}",
		 "vips[0].admission.sources",
		 "vips[0].admission.sources: at most 2 entries (prefix lengths)"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[1]}}]}", "vips[0].admission.sources[0]",
		 "vips[0].admission.sources[0]: must be an object"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'packets_per_s':1,'packet_burst':1}]}}]}",
		 "vips[0].admission.sources[0].prefix_len",
		 "vips[0].admission.sources[0].prefix_len: missing"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':32,'pps':1}]}}]}",
		 "vips[0].admission.sources[0].pps",
		 "vips[0].admission.sources[0].pps: unknown member"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':33,'packets_per_s':1,"
		 "'packet_burst':1}]}}]}",
		 "vips[0].admission.sources[0].prefix_len",
		 "vips[0].admission.sources[0].prefix_len: must be an integer in 1..32 for an IPv4 VIP"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':64,'packets_per_s':1,"
		 "'packet_burst':1}]}}]}",
		 "vips[0].admission.sources[0].prefix_len",
		 "vips[0].admission.sources[0].prefix_len: must be an integer in 1..32 for an IPv4 VIP"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':0,'packets_per_s':1,"
		 "'packet_burst':1}]}}]}",
		 "vips[0].admission.sources[0].prefix_len",
		 "vips[0].admission.sources[0].prefix_len: must be an integer in 1..32 for an IPv4 VIP"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':24.5}]}}]}",
		 "vips[0].admission.sources[0].prefix_len",
		 "vips[0].admission.sources[0].prefix_len: must be an integer in 1..32 for an IPv4 VIP"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':'24'}]}}]}",
		 "vips[0].admission.sources[0].prefix_len",
		 "vips[0].admission.sources[0].prefix_len: must be an integer in 1..32 for an IPv4 VIP"},
		{"{'vips':[{'address':'2001:db8::10','port':80,'protocol':'tcp','admission':{"
		 "'sources':[{'prefix_len':129,'packets_per_s':1,'packet_burst':1}]}}]}",
		 "vips[0].admission.sources[0].prefix_len",
		 "vips[0].admission.sources[0].prefix_len: must be an integer in 1..128 for an IPv6 VIP"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':32,'packets_per_s':2000,"
		 "'packet_burst':200},{'prefix_len':24,'packets_per_s':20000}]}}]}",
		 "vips[0].admission.sources[1].packet_burst",
		 "vips[0].admission.sources[1].packet_burst: must be at least 1 when packets_per_s is "
		 "set"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':32,'new_flows_per_s':100}]}}]}",
		 "vips[0].admission.sources[0].new_flow_burst",
		 "vips[0].admission.sources[0].new_flow_burst: must be at least 1 when new_flows_per_s "
		 "is set"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':32,'packets_per_s':1,"
		 "'packet_burst':9007199254740992}]}}]}",
		 "vips[0].admission.sources[0].packet_burst",
		 "vips[0].admission.sources[0].packet_burst: too large for packets_per_s (the bucket "
		 "would hold more than 2^62 / 64 ns of traffic)"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':32,"
		 "'new_flows_per_s':1000000000001,'new_flow_burst':1}]}}]}",
		 "vips[0].admission.sources[0].new_flows_per_s",
		 "vips[0].admission.sources[0].new_flows_per_s: must be an integer in "
		 "0..1000000000000"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':24}]}}]}",
		 "vips[0].admission.sources[0]",
		 "vips[0].admission.sources[0]: limits nothing: set packets_per_s or new_flows_per_s "
		 "(or leave the entry out)"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':24,'packet_burst':5,"
		 "'new_flow_burst':5}]}}]}",
		 "vips[0].admission.sources[0]",
		 "vips[0].admission.sources[0]: limits nothing: set packets_per_s or new_flows_per_s "
		 "(or leave the entry out)"},
		{"{'vips':[{" VIP80 ",'admission':{'sources':[{'prefix_len':24,'packets_per_s':1,"
		 "'packet_burst':1},{'prefix_len':24,'new_flows_per_s':1,'new_flow_burst':1}]}}]}",
		 "vips[0].admission.sources[1].prefix_len",
		 "vips[0].admission.sources[1].prefix_len: duplicate of sources[0]"},
		/* The path of a later VIP and entry. */
		{"{'vips':[{" VIP80 "},{'address':'198.51.100.1','port':81,'protocol':'tcp'},"
		 "{'address':'2001:db8::10','port':80,'protocol':'udp','admission':{'new_flows_per_s':"
		 "10,'new_flow_burst':10,'sources':[{'prefix_len':64,'packets_per_s':10,"
		 "'packet_burst':10},{'prefix_len':0,'packets_per_s':10,'packet_burst':10}]}}]}",
		 "vips[2].admission.sources[1].prefix_len",
		 "vips[2].admission.sources[1].prefix_len: must be an integer in 1..128 for an IPv6 "
		 "VIP"},
		/* Backends */
		{"{" NODE ",'vips':[{" VIP80 ",'backends':{}}]}", "vips[0].backends",
		 "vips[0].backends: must be an array"},
		{"{" NODE ",'vips':[{" VIP80 ",'backends':[{'weight':1}]}]}",
		 "vips[0].backends[0].address", "vips[0].backends[0].address: missing"},
		{"{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1'},"
		 "{'address':'10.0.0.2','weight':65536}]}]}",
		 "vips[0].backends[1].weight",
		 "vips[0].backends[1].weight: must be an integer in 0..65535"},
		{"{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1','weight':-1}]}]}",
		 "vips[0].backends[0].weight",
		 "vips[0].backends[0].weight: must be an integer in 0..65535"},
		{"{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1','state':'drain'}]}]}",
		 "vips[0].backends[0].state",
		 "vips[0].backends[0].state: must be \"active\" or \"draining\""},
		{"{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1','port':80}]}]}",
		 "vips[0].backends[0].port", "vips[0].backends[0].port: unknown member"},
		{"{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1'},"
		 "{'address':'10.0.0.2'},{'address':'10.0.0.1'}]}]}",
		 "vips[0].backends[2].address", "vips[0].backends[2].address: duplicate of backends[0]"},
		{"{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'2001:db8::5'},"
		 "{'address':'10.0.0.2'},{'address':'2001:db8:0::5'}]}]}",
		 "vips[0].backends[2].address", "vips[0].backends[2].address: duplicate of backends[0]"},
		{"{" NODE ",'vips':[{'address':'2001:db8::10','port':80,'protocol':'tcp',"
		 "'backends':[{'address':'2001:db8::5'},{'address':'10.0.0.2'}]}]}",
		 "vips[0].backends[1].address",
		 "vips[0].backends[1].address: an IPv6 VIP needs IPv6 backends (IPv4 cannot carry "
		 "its packets)"},
		{"{'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1'}]}]}",
		 "vips[0].backends[0].address",
		 "vips[0].backends[0].address: an IPv4 backend needs node.source_v4"},
		{"{'node':{'source_v4':'192.0.2.1'},'vips':[{" VIP80 ",'backends':[{'address':'2001:db8::5'}]}]}",
		 "vips[0].backends[0].address",
		 "vips[0].backends[0].address: an IPv6 backend needs node.source_v6"},
		{"{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'127.0.0.1'}]}]}",
		 "vips[0].backends[0].address",
		 "vips[0].backends[0].address: must be a unicast address (not unspecified, "
		 "loopback, multicast, broadcast or reserved)"},
		{"{" NODE ",'vips':[{" VIP80 ",'mtu':1279,'backends':[{'address':'2001:db8::5'}]}]}",
		 "vips[0].mtu", "vips[0].mtu: must be at least 1280 when the VIP or a backend is IPv6"},
		{"{'vips':[{'address':'2001:db8::10','port':80,'protocol':'tcp','mtu':576}]}",
		 "vips[0].mtu", "vips[0].mtu: must be at least 1280 when the VIP or a backend is IPv6"},
		/* Across VIPs */
		{"{'vips':[{" VIP80 "},{'address':'198.51.100.1','port':81,'protocol':'tcp'},{" VIP80
		 ",'mtu':1400}]}",
		 "vips[2]", "vips[2]: duplicate of vips[0] (198.51.100.1:80/tcp)"},
		{"{'vips':[{'address':'2001:db8::10','port':0,'protocol':'udp'},"
		 "{'address':'2001:db8:0::10','port':0,'protocol':'udp'}]}",
		 "vips[1]", "vips[1]: duplicate of vips[0] ([2001:db8::10]:0/udp)"},
	};

	for (size_t i = 0; i < ELB_ARRAY_SIZE(cases); i++)
		expect_error(cases[i].json, cases[i].field, cases[i].text);

	/* Same address and port, other protocol: another VIP. */
	elb_dp_config_free(parse_ok("{'vips':[{" VIP80 "},{'address':'198.51.100.1','port':80,"
				    "'protocol':'udp'}]}"));
}

static void test_syntax_errors(void)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{"{\n  \"vips\": [\n}\n", "line 3, column 1: not valid JSON"},
		{"{} x", "line 1, column 4: not valid JSON"},
		{"", "line 1, column 1: not valid JSON"},
		{"{\"vips\": [] ,}", "line 1, column 14: not valid JSON"},
		/* Invalid UTF-8: a lone continuation byte, an overlong "/", a
		 * surrogate; valid multi-byte text is fine up to the JSON rules. */
		{"{\"node\": {\"x\": \"\x80\"}}", "line 1, column 17: not valid UTF-8"},
		{"{\n\"a\xc0\xaf\": 1}", "line 2, column 3: not valid UTF-8"},
		{"[\"\xed\xa0\x80\"]", "line 1, column 3: not valid UTF-8"},
		{"{\"caf\xc3\xa9\": 1,}", "line 1, column 13: not valid JSON"},
	};
	struct elb_dp_config *config = NULL;
	struct elb_dp_err err;

	for (size_t i = 0; i < ELB_ARRAY_SIZE(cases); i++) {
		int rc = elb_dp_config_parse(cases[i].text, strlen(cases[i].text), &config, &err);

		CU_ASSERT_EQUAL(rc, -EINVAL);
		CU_ASSERT_PTR_NULL(config);
		CU_ASSERT_STRING_EQUAL(err.field, "");
		if (strcmp(err.text, cases[i].message) != 0)
			fprintf(stderr, "\ngot %s, want %s\n", err.text, cases[i].message);
		CU_ASSERT_STRING_EQUAL(err.text, cases[i].message);
	}
	/* A NUL byte would end the text early for cJSON. */
	CU_ASSERT_EQUAL(elb_dp_config_parse("{}\0{", 4, &config, &err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err.text, "line 1, column 3: NUL byte in the text");
	/* The length bounds the text: it need not be NUL-terminated. */
	CU_ASSERT_EQUAL(elb_dp_config_parse("{}garbage", 2, &config, &err), 0);
	elb_dp_config_free(config);
}

/* A config built in C with n_vips VIPs of n_backends IPv4 backends each. */
static struct elb_dp_config *big_config(uint32_t n_vips, uint32_t n_backends)
{
	struct elb_dp_config *c = elb_dp_config_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	c->node.has_source_v4 = true;
	c->node.source_v4.v4 = v4("192.0.2.1");
	c->vips = calloc(n_vips, sizeof(*c->vips));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->vips);
	for (uint32_t i = 0; i < n_vips; i++) {
		struct elb_dp_vip *vip = &c->vips[i];

		elb_dp_vip_defaults(vip);
		vip->key.family = ELB_AF_INET;
		vip->key.addr.v4 = elb_htonl(0xc6336400u + i); /* 198.51.100.0 + i */
		vip->key.port = 80;
		vip->key.proto = ELB_IPPROTO_TCP;
		vip->backends = calloc(n_backends ? n_backends : 1, sizeof(*vip->backends));
		CU_ASSERT_PTR_NOT_NULL_FATAL(vip->backends);
		for (uint32_t j = 0; j < n_backends; j++) {
			vip->backends[j].family = ELB_AF_INET;
			/* 10.0.0.1 + j */
			vip->backends[j].addr.v4 = elb_htonl(0x0a000000u + j + 1);
			vip->backends[j].weight = 1;
		}
		vip->n_backends = n_backends;
		c->n_vips++;
	}
	return c;
}

static void expect_invalid(const struct elb_dp_config *c, const char *field, const char *text)
{
	struct elb_dp_err err;

	CU_ASSERT_EQUAL(elb_dp_config_validate(c, "", &err), -EINVAL);
	if (strcmp(err.text, text) != 0)
		fprintf(stderr, "\ngot %s, want %s\n", err.text, text);
	CU_ASSERT_STRING_EQUAL(err.field, field);
	CU_ASSERT_STRING_EQUAL(err.text, text);
}

static void test_limits(void)
{
	struct elb_dp_config *c;
	struct elb_dp_err err;

	c = big_config(ELB_DP_MAX_VIPS, 0);
	CU_ASSERT_EQUAL(elb_dp_config_validate(c, "", &err), 0);
	c->n_vips = ELB_DP_MAX_VIPS + 1; /* the count alone is checked first */
	expect_invalid(c, "vips", "vips: at most 256 VIPs");
	c->n_vips = ELB_DP_MAX_VIPS;
	elb_dp_config_free(c);

	c = big_config(1, ELB_DP_MAX_BACKENDS_PER_VIP);
	CU_ASSERT_EQUAL(elb_dp_config_validate(c, "", &err), 0);
	c->vips[0].maglev_size = 4093; /* prime, but fewer slots than backends */
	expect_invalid(c, "vips[0].maglev_size",
		       "vips[0].maglev_size: must be at least the number of backends (4096); 100 "
		       "times as many slots spreads flows evenly");
	elb_dp_config_free(c);

	/* 16 full VIPs are the whole budget; a 17th backend set goes over. */
	c = big_config(17, ELB_DP_MAX_BACKENDS_PER_VIP);
	c->vips[16].n_backends = 0;
	CU_ASSERT_EQUAL(elb_dp_config_validate(c, "", &err), 0);
	c->vips[16].n_backends = 1;
	expect_invalid(c, "vips[16].backends",
		       "vips[16].backends: more than 65536 backends in all VIPs together");
	elb_dp_config_free(c);

	/* The JSON reader refuses oversized arrays before allocating them. */
	{
		size_t cap = 64 + (ELB_DP_MAX_VIPS + 1) * 3;
		char *text = malloc(cap);
		struct elb_dp_config *out = NULL;
		size_t n = (size_t)snprintf(text, cap, "{\"vips\":[");

		for (int i = 0; i <= ELB_DP_MAX_VIPS; i++)
			n += (size_t)snprintf(text + n, cap - n, "%s{}", i ? "," : "");
		n += (size_t)snprintf(text + n, cap - n, "]}");
		CU_ASSERT_EQUAL(elb_dp_config_parse(text, n, &out, &err), -EINVAL);
		CU_ASSERT_STRING_EQUAL(err.text, "vips: at most 256 VIPs");
		free(text);
	}
	{
		cJSON *vip = cJSON_CreateObject();
		cJSON *backends = cJSON_AddArrayToObject(vip, "backends");
		struct elb_dp_vip out;
		bool given;

		for (int i = 0; i <= ELB_DP_MAX_BACKENDS_PER_VIP; i++)
			cJSON_AddItemToArray(backends, cJSON_CreateObject());
		CU_ASSERT_EQUAL(elb_dp_vip_from_json(vip, "vips[3]", &out, &given, &err), -EINVAL);
		CU_ASSERT_STRING_EQUAL(err.field, "vips[3].address");
		CU_ASSERT_STRING_EQUAL(err.text, "vips[3].address: missing");
		cJSON_AddStringToObject(vip, "address", "198.51.100.1");
		cJSON_AddNumberToObject(vip, "port", 1);
		cJSON_AddStringToObject(vip, "protocol", "tcp");
		CU_ASSERT_EQUAL(elb_dp_vip_from_json(vip, "vips[3]", &out, &given, &err), -EINVAL);
		CU_ASSERT_STRING_EQUAL(err.text, "vips[3].backends: at most 4096 backends per VIP");
		cJSON_Delete(vip);
	}
}

/* Checks of configs built in C, which the JSON reader cannot produce. */
static void test_struct_validation(void)
{
	struct elb_dp_config *c = big_config(1, 2);

	c->vips[0].backends[1].addr.w[2] = 1; /* stray bytes after an IPv4 address */
	expect_invalid(c, "vips[0].backends[1].address",
		       "vips[0].backends[1].address: must be a unicast address (not unspecified, "
		       "loopback, multicast, broadcast or reserved)");
	c->vips[0].backends[1].addr.w[2] = 0;
	c->vips[0].backends[1].weight = 65536;
	expect_invalid(c, "vips[0].backends[1].weight",
		       "vips[0].backends[1].weight: must be an integer in 0..65535");
	c->vips[0].backends[1].weight = 1;
	c->vips[0].key.proto = ELB_IPPROTO_ICMP;
	expect_invalid(c, "vips[0].protocol", "vips[0].protocol: must be \"tcp\" or \"udp\"");
	c->vips[0].key.proto = ELB_IPPROTO_UDP;
	c->vips[0].key.family = 5;
	expect_invalid(c, "vips[0].address", "vips[0].address: unknown address family 5");
	c->vips[0].key.family = ELB_AF_INET;
	c->vips[0].timeouts.tcp_closing_ms = 0;
	expect_invalid(c, "vips[0].timeouts.tcp_closing_ms",
		       "vips[0].timeouts.tcp_closing_ms: must be an integer in 1..4294967295");
	c->vips[0].timeouts.tcp_closing_ms = 1;
	/* Admission control as built in C: the same rules as from JSON. */
	c->vips[0].admission.n_sources = ELB_SOURCE_LIMITS_MAX + 1;
	expect_invalid(c, "vips[0].admission.sources",
		       "vips[0].admission.sources: at most 2 entries (prefix lengths)");
	c->vips[0].admission.n_sources = 1;
	c->vips[0].admission.sources[0] = (struct elb_dp_source_limit){
		.prefix_len = 33, .packets_per_s = 10, .packet_burst = 1};
	expect_invalid(c, "vips[0].admission.sources[0].prefix_len",
		       "vips[0].admission.sources[0].prefix_len: must be an integer in 1..32 for an "
		       "IPv4 VIP");
	c->vips[0].admission.sources[0].prefix_len = 32;
	c->vips[0].admission.sources[0].packet_burst = 0;
	expect_invalid(c, "vips[0].admission.sources[0].packet_burst",
		       "vips[0].admission.sources[0].packet_burst: must be at least 1 when "
		       "packets_per_s is set");
	c->vips[0].admission.sources[0].packet_burst = 1;
	c->vips[0].admission.new_flows_per_s = ELB_RATE_MAX_RATE + 1;
	c->vips[0].admission.new_flow_burst = 1;
	expect_invalid(c, "vips[0].admission.new_flows_per_s",
		       "vips[0].admission.new_flows_per_s: must be an integer in 0..1000000000000");
	c->vips[0].admission.new_flows_per_s = 0;
	{
		struct elb_dp_err err;

		CU_ASSERT_EQUAL(elb_dp_config_validate(c, "config", &err), 0);
		c->node.gue_port = 0;
		CU_ASSERT_EQUAL(elb_dp_config_validate(c, "config", &err), -EINVAL);
		CU_ASSERT_STRING_EQUAL(err.field, "config.node.gue_port");
	}
	elb_dp_config_free(c);
}

static const char rich_config[] =
	"{'node':{'hash_seed':{'k0':'0123456789abcdef','k1':'fedcba9876543210'},"
	"'source_v4':'192.0.2.1','source_v6':'2001:db8::1','gateway_mac':'aa:bb:cc:dd:ee:0f',"
	"'gue_port':7777},"
	"'vips':[{'address':'2001:db8::10','port':0,'protocol':'udp','encap':'gue','mtu':9000,"
	"'maglev_size':251,'second_chance':true,'rate_limit':{'packets_per_s':1000,'packet_burst':10,"
	"'bytes_per_s':1000000000000,'byte_burst':9007199254740992},"
	"'timeouts':{'tcp_syn_ms':1,'tcp_established_ms':4294967295,'tcp_closing_ms':3,'udp_ms':4},"
	"'backends':[{'address':'2001:db8:1::1','weight':65535},"
	"{'address':'2001:db8:1::2','weight':0,'state':'draining'}]},"
	"{'address':'198.51.100.1','port':443,'protocol':'tcp',"
	"'backends':[{'address':'10.0.0.1'},{'address':'2001:db8:1::2'}]},"
	"{'address':'198.51.100.2','port':53,'protocol':'udp'}]}";

static struct elb_dp_config *reparse(const struct elb_dp_config *c)
{
	cJSON *json = elb_dp_config_to_json(c);
	char *text = cJSON_PrintUnformatted(json);
	struct elb_dp_config *back = NULL;
	struct elb_dp_err err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(elb_dp_config_parse(text, strlen(text), &back, &err), 0);
	cJSON_free(text);
	cJSON_Delete(json);
	return back;
}

static void test_round_trip(void)
{
	struct elb_dp_config *c = parse_ok(rich_config), *back, *empty = elb_dp_config_new();
	cJSON *json;
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	back = reparse(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_TRUE(elb_dp_config_equal(c, back));
	elb_dp_config_free(back);

	/* Defaults are written out, so config.get shows what is in force; the
	 * unset node members are left out. */
	json = elb_dp_config_to_json(c);
	text = cJSON_PrintUnformatted(json);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "{\"address\":\"198.51.100.1\",\"port\":443,"
					    "\"protocol\":\"tcp\",\"encap\":\"ipip\",\"mtu\":1500,"
					    "\"maglev_size\":65537,\"second_chance\":false,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"maglev_size\":251,\"second_chance\":true,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"byte_burst\":9007199254740992}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"k0\":\"0123456789abcdef\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"gateway_mac\":\"aa:bb:cc:dd:ee:0f\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "{\"address\":\"10.0.0.1\",\"weight\":1,"
					    "\"state\":\"active\"}"));
	cJSON_free(text);
	cJSON_Delete(json);

	json = elb_dp_config_to_json(empty);
	text = cJSON_PrintUnformatted(json);
	CU_ASSERT_STRING_EQUAL(text, "{\"node\":{\"hash_seed\":{\"k0\":\"6564676c62206b30\","
				     "\"k1\":\"6564676c62206b31\"},\"gue_port\":6080},\"vips\":[]}");
	cJSON_free(text);
	cJSON_Delete(json);
	back = reparse(empty);
	CU_ASSERT_TRUE(elb_dp_config_equal(empty, back));
	elb_dp_config_free(back);

	/* Clone is deep and equal; a change anywhere makes it differ. */
	back = elb_dp_config_clone(c);
	CU_ASSERT_TRUE(elb_dp_config_equal(c, back));
	CU_ASSERT_PTR_NOT_EQUAL(back->vips[0].backends, c->vips[0].backends);
	back->vips[0].backends[1].weight = 1;
	CU_ASSERT_FALSE(elb_dp_config_equal(c, back));
	back->vips[0].backends[1].weight = 0;
	back->vips[0].second_chance = false;
	CU_ASSERT_FALSE(elb_dp_config_equal(c, back));
	back->vips[0].second_chance = true;
	CU_ASSERT_TRUE(elb_dp_config_equal(c, back));
	back->node.has_gateway_mac = false;
	CU_ASSERT_FALSE(elb_dp_config_equal(c, back));
	elb_dp_config_free(back);
	CU_ASSERT_FALSE(elb_dp_config_equal(c, empty));

	elb_dp_config_free(empty);
	elb_dp_config_free(c);
}

/* Admission control as given: every member, both families, the limits of
 * each range. */
static void test_admission_parsed(void)
{
	struct elb_dp_config *c = parse_ok(
		"{'vips':[{" VIP80 ",'admission':{'new_flows_per_s':50000,'new_flow_burst':5000,"
		"'sources':[{'prefix_len':32,'packets_per_s':2000,'packet_burst':200,"
		"'new_flows_per_s':100,'new_flow_burst':20},"
		"{'prefix_len':24,'packets_per_s':20000,'packet_burst':2000}]}},"
		"{'address':'2001:db8::10','port':443,'protocol':'tcp','admission':{'sources':["
		"{'prefix_len':128,'new_flows_per_s':1000000000000,'new_flow_burst':1},"
		"{'prefix_len':1,'packets_per_s':1,'packet_burst':1}]}},"
		"{'address':'198.51.100.2','port':80,'protocol':'tcp','admission':{}},"
		"{'address':'198.51.100.3','port':80,'protocol':'tcp','admission':{'sources':[],"
		"'new_flow_burst':7}}]}");
	const struct elb_dp_admission *a;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->n_vips, 4);
	a = &c->vips[0].admission;
	CU_ASSERT_EQUAL(a->new_flows_per_s, 50000);
	CU_ASSERT_EQUAL(a->new_flow_burst, 5000);
	CU_ASSERT_EQUAL_FATAL(a->n_sources, 2);
	CU_ASSERT_EQUAL(a->sources[0].prefix_len, 32);
	CU_ASSERT_EQUAL(a->sources[0].packets_per_s, 2000);
	CU_ASSERT_EQUAL(a->sources[0].packet_burst, 200);
	CU_ASSERT_EQUAL(a->sources[0].new_flows_per_s, 100);
	CU_ASSERT_EQUAL(a->sources[0].new_flow_burst, 20);
	CU_ASSERT_EQUAL(a->sources[1].prefix_len, 24);
	CU_ASSERT_EQUAL(a->sources[1].packets_per_s, 20000);
	CU_ASSERT_EQUAL(a->sources[1].packet_burst, 2000);
	CU_ASSERT_EQUAL(a->sources[1].new_flows_per_s, 0); /* absent: 0 */
	CU_ASSERT_EQUAL(a->sources[1].new_flow_burst, 0);
	a = &c->vips[1].admission;
	CU_ASSERT_EQUAL(a->new_flows_per_s, 0);
	CU_ASSERT_EQUAL_FATAL(a->n_sources, 2);
	CU_ASSERT_EQUAL(a->sources[0].prefix_len, 128);
	CU_ASSERT_EQUAL(a->sources[0].new_flows_per_s, ELB_RATE_MAX_RATE);
	CU_ASSERT_EQUAL(a->sources[1].prefix_len, 1);
	/* Empty object, empty list, a burst without its rate: off. */
	CU_ASSERT_EQUAL(c->vips[2].admission.n_sources, 0);
	CU_ASSERT_EQUAL(c->vips[2].admission.new_flows_per_s, 0);
	CU_ASSERT_EQUAL(c->vips[3].admission.n_sources, 0);
	CU_ASSERT_EQUAL(c->vips[3].admission.new_flow_burst, 7);
	elb_dp_config_free(c);
}

/* JSON -> struct -> JSON gives the same bytes, admission included; a VIP
 * without it is written with it off. */
static void test_admission_round_trip(void)
{
	static const char vip_head[] =
		"\"port\":80,\"protocol\":\"tcp\",\"encap\":\"ipip\",\"mtu\":1500,"
		"\"maglev_size\":65537,\"second_chance\":false,\"rate_limit\":{\"packets_per_s\":0,"
		"\"packet_burst\":0,\"bytes_per_s\":0,\"byte_burst\":0},\"timeouts\":{"
		"\"tcp_syn_ms\":5000,\"tcp_established_ms\":300000,\"tcp_closing_ms\":10000,"
		"\"udp_ms\":30000},";
	char text[4096], want[4096];
	struct elb_dp_config *c = NULL, *back;
	struct elb_dp_err err;
	cJSON *json;
	char *out;

	snprintf(text, sizeof(text),
		 "{\"node\":{\"hash_seed\":{\"k0\":\"6564676c62206b30\",\"k1\":"
		 "\"6564676c62206b31\"},\"source_v6\":\"2001:db8::1\",\"gue_port\":6080},"
		 "\"vips\":[{\"address\":\"198.51.100.1\",%s\"admission\":{"
		 "\"new_flows_per_s\":50000,\"new_flow_burst\":5000,\"sources\":["
		 "{\"prefix_len\":32,\"packets_per_s\":2000,\"packet_burst\":200,"
		 "\"new_flows_per_s\":100,\"new_flow_burst\":20},"
		 "{\"prefix_len\":24,\"packets_per_s\":20000,\"packet_burst\":2000,"
		 "\"new_flows_per_s\":0,\"new_flow_burst\":0}]},\"backends\":[]},"
		 "{\"address\":\"2001:db8::10\",%s\"admission\":{\"new_flows_per_s\":"
		 "1000000000000,\"new_flow_burst\":9007199254740992,\"sources\":[{\"prefix_len\":48,"
		 "\"packets_per_s\":0,\"packet_burst\":0,\"new_flows_per_s\":10,"
		 "\"new_flow_burst\":1}]},\"backends\":[{\"address\":\"2001:db8:1::1\","
		 "\"weight\":1,\"state\":\"active\"}]}]}",
		 vip_head, vip_head);
	CU_ASSERT_EQUAL_FATAL(elb_dp_config_parse(text, strlen(text), &c, &err), 0);
	json = elb_dp_config_to_json(c);
	out = cJSON_PrintUnformatted(json);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	if (strcmp(out, text) != 0)
		fprintf(stderr, "\ngot  %s\nwant %s\n", out, text);
	CU_ASSERT_STRING_EQUAL(out, text);
	cJSON_free(out);
	cJSON_Delete(json);

	/* Through the struct again: equal, and a clone is equal until any
	 * admission member differs. */
	back = reparse(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_TRUE(elb_dp_config_equal(c, back));
	elb_dp_config_free(back);
	back = elb_dp_config_clone(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_TRUE(elb_dp_config_equal(c, back));
	back->vips[0].admission.sources[1].new_flow_burst = 1;
	CU_ASSERT_FALSE(elb_dp_config_equal(c, back));
	back->vips[0].admission.sources[1].new_flow_burst = 0;
	back->vips[0].admission.sources[1].prefix_len = 16;
	CU_ASSERT_FALSE(elb_dp_config_equal(c, back));
	back->vips[0].admission.sources[1].prefix_len = 24;
	back->vips[0].admission.n_sources = 1;
	CU_ASSERT_FALSE(elb_dp_config_equal(c, back));
	back->vips[0].admission.n_sources = 2;
	back->vips[1].admission.new_flow_burst--;
	CU_ASSERT_FALSE(elb_dp_config_equal(c, back));
	back->vips[1].admission.new_flow_burst++;
	back->vips[1].admission.new_flows_per_s--;
	CU_ASSERT_FALSE(elb_dp_config_equal(c, back));
	back->vips[1].admission.new_flows_per_s++;
	CU_ASSERT_TRUE(elb_dp_config_equal(c, back));
	/* Admission control moves no Maglev slot. */
	back->vips[1].admission.n_sources = 0;
	CU_ASSERT_FALSE(elb_dp_config_tables_moved(c, back));
	elb_dp_config_free(back);
	elb_dp_config_free(c);

	/* Absent: written out as off. */
	c = parse_ok("{'vips':[{" VIP80 "}]}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	json = elb_dp_vip_to_json(&c->vips[0], false);
	out = cJSON_PrintUnformatted(json);
	snprintf(want, sizeof(want),
		 "{\"address\":\"198.51.100.1\",%s\"admission\":{\"new_flows_per_s\":0,"
		 "\"new_flow_burst\":0,\"sources\":[]},\"backend_count\":0}",
		 vip_head);
	CU_ASSERT_STRING_EQUAL(out, want);
	cJSON_free(out);
	cJSON_Delete(json);
	elb_dp_config_free(c);
}

/* What moves a VIP's Maglev table, for the previous-owner history: its
 * size and its backends as a set with their effective weights; not their
 * order, nor anything else, nor a VIP in one config only. */
static void test_tables_moved(void)
{
	static const struct {
		const char *next;
		bool moved;
	} cases[] = {
		/* the same */
		{"'backends':[{'address':'10.0.0.1'},{'address':'10.0.0.2','weight':3}]", false},
		/* order, MTU, encap, second chance: no */
		{"'backends':[{'address':'10.0.0.2','weight':3},{'address':'10.0.0.1'}]", false},
		{"'mtu':1400,'encap':'gue','second_chance':true,'backends':[{'address':'10.0.0.1'},"
		 "{'address':'10.0.0.2','weight':3}]",
		 false},
		/* a backend added, removed, reweighted, drained; a new size */
		{"'backends':[{'address':'10.0.0.1'},{'address':'10.0.0.2','weight':3},"
		 "{'address':'10.0.0.3'}]",
		 true},
		{"'backends':[{'address':'10.0.0.1'}]", true},
		{"'backends':[{'address':'10.0.0.1'},{'address':'10.0.0.2','weight':2}]", true},
		{"'backends':[{'address':'10.0.0.1'},{'address':'10.0.0.2','weight':3,"
		 "'state':'draining'}]",
		 true},
		{"'maglev_size':251,'backends':[{'address':'10.0.0.1'},{'address':'10.0.0.2','weight':3}]",
		 true},
	};
	struct elb_dp_config *old = parse_ok("{" NODE ",'vips':[{" VIP80 ",'backends':["
					     "{'address':'10.0.0.1'},{'address':'10.0.0.2','weight':3}]}]}");
	struct elb_dp_config *next, *other;
	char text[512];

	CU_ASSERT_PTR_NOT_NULL_FATAL(old);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "{" NODE ",'vips':[{" VIP80 ",%s}]}", cases[i].next);
		next = parse_ok(text);
		CU_ASSERT_PTR_NOT_NULL_FATAL(next);
		if (elb_dp_config_tables_moved(old, next) != cases[i].moved)
			fprintf(stderr, "\ncase %zu: %s\n", i, cases[i].next);
		CU_ASSERT_EQUAL(elb_dp_config_tables_moved(old, next), cases[i].moved);
		elb_dp_config_free(next);
	}
	/* A weight change of a draining backend moves nothing: it takes no slots. */
	next = parse_ok("{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1'},"
			"{'address':'10.0.0.2','weight':3,'state':'draining'}]}]}");
	other = parse_ok("{" NODE ",'vips':[{" VIP80 ",'backends':[{'address':'10.0.0.1'},"
			 "{'address':'10.0.0.2','weight':9,'state':'draining'}]}]}");
	CU_ASSERT_FALSE(elb_dp_config_tables_moved(next, other));
	elb_dp_config_free(other);
	/* A VIP in one config only: no previous owners to keep. */
	other = parse_ok("{" NODE ",'vips':[{'address':'198.51.100.9','port':80,'protocol':'tcp',"
			 "'backends':[{'address':'10.0.0.9'}]}]}");
	CU_ASSERT_FALSE(elb_dp_config_tables_moved(next, other));
	CU_ASSERT_FALSE(elb_dp_config_tables_moved(other, next));
	elb_dp_config_free(other);
	elb_dp_config_free(next);
	elb_dp_config_free(old);
}

static void test_node_from_json_base(void)
{
	struct elb_dp_node base, out;
	struct elb_dp_err err;
	cJSON *json;
	char *text = json_q("{'gue_port':9999,'source_v6':null}");

	elb_dp_node_defaults(&base);
	base.hash_seed.k0 = 7;
	base.has_source_v6 = true;
	base.source_v6.v6[0] = 0x20;
	json = cJSON_Parse(text);
	CU_ASSERT_EQUAL(elb_dp_node_from_json(json, "node", &base, &out, &err), 0);
	CU_ASSERT_EQUAL(out.hash_seed.k0, 7);
	CU_ASSERT_EQUAL(out.gue_port, 9999);
	CU_ASSERT_FALSE(out.has_source_v6);
	CU_ASSERT_EQUAL(out.source_v6.v6[0], 0);
	CU_ASSERT_EQUAL(elb_dp_node_from_json(json, "node", NULL, &out, &err), 0);
	CU_ASSERT_EQUAL(out.hash_seed.k0, ELB_HASH_SEED_DEFAULT_K0);
	cJSON_Delete(json);
	free(text);
}

static void test_vip_key_str(void)
{
	struct elb_dp_config *c = parse_ok(rich_config);
	char buf[ELB_DP_VIP_KEY_STR_MAX];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(elb_dp_vip_key_str(&c->vips[0].key, buf, sizeof(buf)),
			       "[2001:db8::10]:0/udp");
	CU_ASSERT_STRING_EQUAL(elb_dp_vip_key_str(&c->vips[1].key, buf, sizeof(buf)),
			       "198.51.100.1:443/tcp");
	CU_ASSERT_EQUAL(elb_dp_config_find_vip(c, &c->vips[2].key), 2);
	elb_dp_config_free(c);
}

/* ------------------------------------------------------------------------ */
/* Files */

static char temp_dir[64];

static void make_temp_dir(void)
{
	snprintf(temp_dir, sizeof(temp_dir), "/tmp/elb_dp_config.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(temp_dir));
}

/* Entries of temp_dir other than . and .. */
static int count_entries(void)
{
	DIR *d = opendir(temp_dir);
	struct dirent *e;
	int n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static char *read_text(const char *path)
{
	char *text = NULL;
	size_t len;

	CU_ASSERT_EQUAL(elb_read_file(path, 1 << 20, &text, &len), 0);
	return text;
}

static void remove_temp_dir(const char *file)
{
	unlink(file);
	rmdir(temp_dir);
}

static void test_write_and_load(void)
{
	struct elb_dp_config *c = parse_ok(rich_config), *empty = elb_dp_config_new(), *back = NULL;
	struct elb_dp_err err;
	struct stat st;
	char path[128];
	char *text;

	make_temp_dir();
	snprintf(path, sizeof(path), "%s/config.json", temp_dir);
	CU_ASSERT_EQUAL(elb_dp_config_write_file(path, empty, &err), 0);
	CU_ASSERT_EQUAL(elb_dp_config_write_file(path, c, &err), 0); /* replaces */
	CU_ASSERT_EQUAL(count_entries(), 1);                           /* no temp left */
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	text = read_text(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(text[strlen(text) - 1], '\n');
	free(text);
	CU_ASSERT_EQUAL(elb_dp_config_load_file(path, &back, &err), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_TRUE(elb_dp_config_equal(c, back));
	elb_dp_config_free(back);
	remove_temp_dir(path);
	elb_dp_config_free(c);
	elb_dp_config_free(empty);
}

static void test_failed_write_keeps_old_file(void)
{
	struct elb_dp_config *c = parse_ok(rich_config), *empty = elb_dp_config_new();
	struct elb_dp_err err;
	struct rlimit old_limit, small;
	char path[128], tmp[160], *before, *after;
	void (*old_handler)(int);

	make_temp_dir();
	snprintf(path, sizeof(path), "%s/config.json", temp_dir);
	CU_ASSERT_EQUAL_FATAL(elb_dp_config_write_file(path, empty, &err), 0);
	before = read_text(path);

	/* The temporary name is taken by a directory: open fails. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	CU_ASSERT_EQUAL_FATAL(mkdir(tmp, 0700), 0);
	CU_ASSERT_EQUAL(elb_dp_config_write_file(path, c, &err), -EISDIR);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "cannot write: Is a directory"));
	after = read_text(path);
	CU_ASSERT_STRING_EQUAL(after, before);
	free(after);
	rmdir(tmp);

	/* The write itself fails half way (file size limit): the temporary
	 * file is removed and the old one stays. */
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
	old_handler = signal(SIGXFSZ, SIG_IGN);
	small = old_limit;
	small.rlim_cur = 200;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
	CU_ASSERT_EQUAL(elb_dp_config_write_file(path, c, &err), -EFBIG);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
	signal(SIGXFSZ, old_handler);
	after = read_text(path);
	CU_ASSERT_STRING_EQUAL(after, before);
	free(after);
	CU_ASSERT_EQUAL(count_entries(), 1);

	/* A read-only directory (root ignores it: checked only as non-root). */
	if (geteuid() != 0) {
		CU_ASSERT_EQUAL(chmod(temp_dir, 0500), 0);
		CU_ASSERT_EQUAL(elb_dp_config_write_file(path, c, &err), -EACCES);
		CU_ASSERT_EQUAL(chmod(temp_dir, 0700), 0);
		after = read_text(path);
		CU_ASSERT_STRING_EQUAL(after, before);
		free(after);
	}

	/* A directory that does not exist. */
	snprintf(tmp, sizeof(tmp), "%s/missing/config.json", temp_dir);
	CU_ASSERT_EQUAL(elb_dp_config_write_file(tmp, c, &err), -ENOENT);
	CU_ASSERT_EQUAL(count_entries(), 1);

	free(before);
	remove_temp_dir(path);
	elb_dp_config_free(c);
	elb_dp_config_free(empty);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static void test_load_errors(void)
{
	struct elb_dp_config *c = NULL;
	struct elb_dp_err err;
	char path[128], want[256];

	make_temp_dir();
	snprintf(path, sizeof(path), "%s/config.json", temp_dir);

	CU_ASSERT_EQUAL(elb_dp_config_load_file(path, &c, &err), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CU_ASSERT_STRING_EQUAL(err.text, want);

	write_text(path, "{\n  \"vips\": [\n    {\"address\": \"198.51.100.1\",, }\n  ]\n}\n");
	CU_ASSERT_EQUAL(elb_dp_config_load_file(path, &c, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s: line 3, column 33: not valid JSON", path);
	CU_ASSERT_STRING_EQUAL(err.text, want);

	write_text(path, "{\"vips\": [{\"address\": \"198.51.100.1\", \"port\": 70000, "
			 "\"protocol\": \"tcp\"}]}\n");
	CU_ASSERT_EQUAL(elb_dp_config_load_file(path, &c, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s: vips[0].port: must be an integer in 0..65535", path);
	CU_ASSERT_STRING_EQUAL(err.text, want);
	CU_ASSERT_STRING_EQUAL(err.field, "vips[0].port");
	CU_ASSERT_PTR_NULL(c);

	remove_temp_dir(path);
}


#define QUIC_VIP "'address':'198.51.100.9','port':443,'protocol':'udp'"
#define QUIC_KEY "8f95f09245765f80256934e50c66207f"
/* AES-128 of a zero block under QUIC_KEY, first three octets (Python's
 * cryptography package computed it). */
#define QUIC_KEY_CHECK "d59d5b"

static void test_quic_parsed_and_refused(void)
{
	static const struct {
		const char *json, *field, *message;
	} cases[] = {
		{"{" NODE ",'vips':[{" VIP80 ",'quic':{'server_id_length':2,'configs':[{'id':0,"
		 "'nonce_length':8}]}}]}",
		 "vips[0].quic", "vips[0].quic: QUIC runs over UDP: a \"tcp\" VIP cannot route by it"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'configs':[{'id':0,'nonce_length':8}]}}]}",
		 "vips[0].quic.server_id_length", "vips[0].quic.server_id_length: missing"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':16,'configs':[]}}]}",
		 "vips[0].quic.server_id_length",
		 "vips[0].quic.server_id_length: must be an integer in 1..15"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':[]}}]}",
		 "vips[0].quic.configs", "vips[0].quic.configs: must be an array of 1..7 configurations"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':[{'id':7,"
		 "'nonce_length':8}]}}]}",
		 "vips[0].quic.configs[0].id", "vips[0].quic.configs[0].id: must be an integer in 0..6"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':[{'id':1,"
		 "'nonce_length':8},{'id':1,'nonce_length':9}]}}]}",
		 "vips[0].quic.configs[1].id", "vips[0].quic.configs[1].id: configs[0] has it already"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':[{'id':0,"
		 "'nonce_length':3}]}}]}",
		 "vips[0].quic.configs[0].nonce_length",
		 "vips[0].quic.configs[0].nonce_length: must be an integer in 4..18"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':12,'configs':[{'id':0,"
		 "'nonce_length':8}]}}]}",
		 "vips[0].quic.configs[0].nonce_length",
		 "vips[0].quic.configs[0].nonce_length: must be 4..7 octets (server ID and nonce fit 19)"},
		/* A bad key is named, never echoed. */
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':[{'id':0,"
		 "'nonce_length':8,'key':'secretsecretsecretsecretsecretzz'}]}}]}",
		 "vips[0].quic.configs[0].key",
		 "vips[0].quic.configs[0].key: must be 32 hexadecimal digits (an AES-128 key)"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'backends':[{'address':'10.0.0.1',"
		 "'quic_server_id':'0a0b'}]}]}",
		 "vips[0].backends[0].quic_server_id",
		 "vips[0].backends[0].quic_server_id: the VIP has no \"quic\" configuration"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':[{'id':0,"
		 "'nonce_length':8}]},'backends':[{'address':'10.0.0.1','quic_server_id':'0a0b0c'}]}]}",
		 "vips[0].backends[0].quic_server_id",
		 "vips[0].backends[0].quic_server_id: must be 2 octets (quic.server_id_length), not 3"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':[{'id':0,"
		 "'nonce_length':8}]},'backends':[{'address':'10.0.0.1','quic_server_id':'0a0b'},"
		 "{'address':'10.0.0.2','quic_server_id':'0A0B'}]}]}",
		 "vips[0].backends[1].quic_server_id",
		 "vips[0].backends[1].quic_server_id: backends[0] has it already"},
		{"{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':[{'id':0,"
		 "'nonce_length':8}]},'backends':[{'address':'10.0.0.1','quic_server_id':'0a0'}]}]}",
		 "vips[0].backends[0].quic_server_id",
		 "vips[0].backends[0].quic_server_id: must be 1..15 octets in hexadecimal (2..30 digits)"},
	};
	struct elb_dp_config *config;
	const struct elb_dp_vip *vip;

	for (size_t i = 0; i < ELB_ARRAY_SIZE(cases); i++)
		expect_error(cases[i].json, cases[i].field, cases[i].message);

	config = parse_ok("{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':["
			  "{'id':0,'nonce_length':8},{'id':3,'nonce_length':14,'key':'" QUIC_KEY
			  "'}]},'backends':[{'address':'10.0.0.1','quic_server_id':'0a0b'},"
			  "{'address':'10.0.0.2'}]}]}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(config);
	vip = &config->vips[0];
	CU_ASSERT_EQUAL(vip->quic.server_id_len, 2);
	CU_ASSERT_EQUAL(vip->quic.n_configs, 2);
	CU_ASSERT_EQUAL(vip->quic.configs[1].id, 3);
	CU_ASSERT_EQUAL(vip->quic.configs[1].nonce_len, 14);
	CU_ASSERT_TRUE(vip->quic.configs[1].has_key);
	CU_ASSERT_FALSE(vip->quic.configs[0].has_key);
	CU_ASSERT_EQUAL(vip->quic.configs[1].key[0], 0x8f);
	CU_ASSERT_EQUAL(vip->backends[0].quic_server_id_len, 2);
	CU_ASSERT_EQUAL(vip->backends[0].quic_server_id[1], 0x0b);
	CU_ASSERT_EQUAL(vip->backends[1].quic_server_id_len, 0);
	elb_dp_config_free(config);
}

static void test_quic_round_trip_and_redaction(void)
{
	struct elb_dp_config *config, *again = NULL;
	struct elb_dp_err err = {{0}, {0}};
	char *text, *printed;
	cJSON *json;

	config = parse_ok("{" NODE ",'vips':[{" QUIC_VIP ",'quic':{'server_id_length':2,'configs':["
			  "{'id':3,'nonce_length':14,'key':'" QUIC_KEY "'}]},'backends':["
			  "{'address':'10.0.0.1','quic_server_id':'0A0B'}]}]}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(config);
	json = elb_dp_config_to_json(config);
	text = cJSON_PrintUnformatted(json);
	CU_ASSERT_EQUAL(elb_dp_config_parse(text, strlen(text), &again, &err), 0);
	CU_ASSERT_TRUE(again != NULL && elb_dp_config_equal(config, again));
	/* Written in lowercase, the key in full (the state file restarts with it). */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"quic_server_id\":\"0a0b\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"key\":\"" QUIC_KEY "\""));
	/* For a read-only peer: the key's check value instead, AES of zeros
	 * under the key. */
	CU_ASSERT_EQUAL(elb_dp_config_json_redact(json), 0);
	printed = cJSON_PrintUnformatted(json);
	CU_ASSERT_PTR_NULL(strstr(printed, QUIC_KEY));
	CU_ASSERT_PTR_NULL(strstr(printed, "\"key\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(printed, "\"configs\":[{\"id\":3,\"nonce_length\":14,"
					       "\"key_check\":\"" QUIC_KEY_CHECK "\"}]"));
	free(printed);
	free(text);
	cJSON_Delete(json);
	elb_dp_config_free(config);
	elb_dp_config_free(again);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_empty_config_defaults),
		ELB_TEST(test_v4_vip_defaults),
		ELB_TEST(test_v6_vip_and_mixed_families),
		ELB_TEST(test_validation_errors),
		ELB_TEST(test_syntax_errors),
		ELB_TEST(test_limits),
		ELB_TEST(test_struct_validation),
		ELB_TEST(test_round_trip),
		ELB_TEST(test_admission_parsed),
		ELB_TEST(test_admission_round_trip),
		ELB_TEST(test_quic_parsed_and_refused),
		ELB_TEST(test_quic_round_trip_and_redaction),
		ELB_TEST(test_tables_moved),
		ELB_TEST(test_node_from_json_base),
		ELB_TEST(test_vip_key_str),
		ELB_TEST(test_write_and_load),
		ELB_TEST(test_failed_write_keeps_old_file),
		ELB_TEST(test_load_errors),
		ELB_TEST_END,
	};
	return elb_test_run("dp_config", cases);
}
