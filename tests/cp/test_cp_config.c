/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-cp's configuration: defaults, the control-plane members, every
 * error naming its member by path, the round trip through JSON and the
 * dataplane view.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_config.h"
#include "elb_test.h"

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

static struct cp_config *parse_ok(const char *single_quoted)
{
	char *text = json_q(single_quoted);
	struct cp_config *config = NULL;
	struct elb_dp_err err = {0};
	int rc = cp_config_parse(text, strlen(text), &config, &err);

	if (rc != 0)
		fprintf(stderr, "unexpected error: %s\n", err.text);
	CU_ASSERT_EQUAL(rc, 0);
	free(text);
	return config;
}

static void expect_error(const char *single_quoted, const char *field, const char *text)
{
	char *json = json_q(single_quoted);
	struct cp_config *config = NULL;
	struct elb_dp_err err = {0};
	int rc = cp_config_parse(json, strlen(json), &config, &err);

	CU_ASSERT_EQUAL(rc, -EINVAL);
	CU_ASSERT_PTR_NULL(config);
	if (strcmp(err.field, field) != 0 || strcmp(err.text, text) != 0)
		fprintf(stderr, "\n  got   %s | %s\n  want  %s | %s\n", err.field, err.text, field,
			text);
	CU_ASSERT_STRING_EQUAL(err.field, field);
	CU_ASSERT_STRING_EQUAL(err.text, text);
	free(json);
}

#define NODE "'node':{'source_v4':'192.0.2.10'}"
#define VIP0 "'address':'198.51.100.1','port':443,'protocol':'tcp'"

static void test_defaults_and_members(void)
{
	struct cp_config *c = parse_ok(
		"{" NODE ",'dataplanes':[{'name':'dp0','socket':'/run/dp0.sock'}],"
		"'vips':[{" VIP0 ",'backends':[{'address':'10.0.0.1'},{'address':'10.0.0.2',"
		"'state':'draining','weight':3}],'slo':{'availability':0.9999},"
		"'health_check':{'type':'http','path':'/ready','rise':4}},"
		"{'address':'198.51.100.2','port':53,'protocol':'udp'}]}");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->n_dataplanes, 1);
	CU_ASSERT_STRING_EQUAL(c->dataplanes[0].name, "dp0");
	CU_ASSERT_STRING_EQUAL(c->dataplanes[0].socket, "/run/dp0.sock");
	CU_ASSERT_EQUAL(c->n_vips, 2);
	CU_ASSERT_DOUBLE_EQUAL(c->vips[0].slo_availability, 0.9999, 1e-12);
	CU_ASSERT_EQUAL(c->vips[0].hc.type, CP_HC_HTTP);
	CU_ASSERT_EQUAL(c->vips[0].hc.port, 0); /* the VIP's */
	CU_ASSERT_STRING_EQUAL(c->vips[0].hc.path, "/ready");
	CU_ASSERT_EQUAL(c->vips[0].hc.expect_status, 200);
	CU_ASSERT_EQUAL(c->vips[0].hc.interval_ms, 1000);
	CU_ASSERT_EQUAL(c->vips[0].hc.timeout_ms, 500);
	CU_ASSERT_EQUAL(c->vips[0].hc.rise, 4);
	CU_ASSERT_EQUAL(c->vips[0].hc.fall, 3);
	CU_ASSERT_EQUAL(c->vips[0].dp.n_backends, 2);
	CU_ASSERT_EQUAL(c->vips[0].dp.backends[1].state, ELB_DP_BACKEND_DRAINING);
	CU_ASSERT_EQUAL(c->vips[0].dp.backends[1].weight, 3);
	CU_ASSERT_EQUAL(c->vips[1].hc.type, CP_HC_NONE);
	CU_ASSERT_DOUBLE_EQUAL(c->vips[1].slo_availability, CP_SLO_DEFAULT, 1e-12);
	cp_config_free(c);
}

static void test_round_trip(void)
{
	struct cp_config *c = parse_ok(
		"{" NODE ",'dataplanes':[{'name':'a','socket':'/a'},{'name':'b','socket':'/b'}],"
		"'vips':[{" VIP0 ",'backends':[{'address':'10.0.0.1','weight':7}],"
		"'health_check':{'type':'tcp','port':8443,'interval_ms':250,'timeout_ms':100,"
		"'fall':5}}]}");
	struct cp_config *again = NULL;
	struct elb_dp_err err;
	cJSON *json;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	json = cp_config_to_json(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	/* Through text, as the file and the socket carry it (counters and some
	 * members are cJSON raw numbers, exact only once printed). */
	{
		char *text = cJSON_PrintUnformatted(json);

		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		CU_ASSERT_EQUAL(cp_config_parse(text, strlen(text), &again, &err), 0);
		free(text);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	CU_ASSERT_EQUAL(again->n_dataplanes, 2);
	CU_ASSERT_STRING_EQUAL(again->dataplanes[1].socket, "/b");
	CU_ASSERT_EQUAL(memcmp(&again->vips[0].hc, &c->vips[0].hc, sizeof(c->vips[0].hc)), 0);
	CU_ASSERT_EQUAL(again->vips[0].dp.backends[0].weight, 7);
	cJSON_Delete(json);
	cp_config_free(again);
	cp_config_free(c);
}

static void test_errors_name_the_field(void)
{
	expect_error("{'nodes':{}}", "nodes", "nodes: unknown member");
	/* The whole file is the document: nothing after it, no NUL, UTF-8. */
	expect_error("{}}{", "", "line 1, column 3: not valid JSON");
	expect_error("{'vips':[]} x", "", "line 1, column 13: not valid JSON");
	{
		static const char with_nul[] = "{}\0{}";
		struct cp_config *config = NULL;
		struct elb_dp_err err = {0};

		CU_ASSERT_EQUAL(cp_config_parse(with_nul, sizeof(with_nul) - 1, &config, &err),
				-EINVAL);
		CU_ASSERT_STRING_EQUAL(err.text, "line 1, column 3: NUL byte in the text");
	}
	expect_error("{'dataplanes':[{'name':'\xff','socket':'/x'}]}", "",
		     "line 1, column 25: not valid UTF-8");
	expect_error("{'dataplanes':[{'name':'a'}]}", "dataplanes[0].socket",
		     "dataplanes[0].socket: must be a socket path below 108 bytes");
	expect_error("{'dataplanes':[{'name':'a','socket':'/x'},{'name':'a','socket':'/y'}]}",
		     "dataplanes[1].name", "dataplanes[1].name: repeats dataplanes[0]");
	expect_error("{" NODE ",'vips':[{" VIP0 ",'slo':{'availability':1.5}}]}",
		     "vips[0].slo.availability", "vips[0].slo.availability: must be a number in (0, 1]");
	expect_error("{" NODE ",'vips':[{" VIP0 ",'health_check':{'type':'icmp'}}]}",
		     "vips[0].health_check.type",
		     "vips[0].health_check.type: must be \"tcp\" or \"http\"");
	expect_error("{" NODE ",'vips':[{" VIP0 ",'health_check':{'type':'tcp','fall':0}}]}",
		     "vips[0].health_check.fall",
		     "vips[0].health_check.fall: must be an integer in 1..1000");
	expect_error("{" NODE ",'vips':[{" VIP0 ",'health_check':{'type':'tcp','interval_ms':100,"
		     "'timeout_ms':200}}]}",
		     "vips[0].health_check.timeout_ms",
		     "vips[0].health_check.timeout_ms: must not exceed interval_ms (100)");
	expect_error("{" NODE ",'vips':[{" VIP0 ",'health_check':{'type':'http','path':'x'}}]}",
		     "vips[0].health_check.path",
		     "vips[0].health_check.path: must be a path starting with \"/\", without "
		     "spaces, below 256 bytes");
	expect_error("{" NODE ",'vips':[{'address':'198.51.100.1','port':0,'protocol':'udp',"
		     "'health_check':{'type':'tcp'}}]}",
		     "vips[0].health_check.port",
		     "vips[0].health_check.port: is required when the VIP's port is 0");
	expect_error("{" NODE ",'vips':[{" VIP0 ",'health_check':{'type':'tcp','colour':1}}]}",
		     "vips[0].health_check.colour", "vips[0].health_check.colour: unknown member");
	/* The dataplane's own rules, with the same paths. */
	expect_error("{" NODE ",'vips':[{" VIP0 ",'backends':[{'address':'10.0.0.1',"
		     "'weight':70000}]}]}",
		     "vips[0].backends[0].weight",
		     "vips[0].backends[0].weight: must be an integer in 0..65535");
	expect_error("{'vips':[{" VIP0 ",'backends':[{'address':'10.0.0.1'}]}]}",
		     "vips[0].backends[0].address",
		     "vips[0].backends[0].address: an IPv4 backend needs node.source_v4");
}

static bool keep_odd(void *ctx, uint32_t vip, uint32_t backend)
{
	(void)ctx;
	(void)vip;
	return backend % 2 == 1;
}

/* "operator": names resolved through this host's user and group databases
 * (root and nogroup exist on every Debian system), numbers kept as numbers,
 * and written back as given. */
static void test_operator_access(void)
{
	struct cp_config *c = parse_ok(
		"{" NODE ",'operator':{'socket_mode':'0640','socket_group':'nogroup',"
		"'write':{'users':['root',1234]},'read':{'groups':['nogroup',4321]}}}");
	struct cp_config *again = NULL;
	struct elb_dp_err err;
	char *text;
	cJSON *json;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->access.socket_mode, 0640);
	CU_ASSERT_TRUE(c->access.has_group);
	CU_ASSERT_FALSE(c->access.has_owner);
	CU_ASSERT_EQUAL(c->access.group.id, 65534);
	CU_ASSERT_EQUAL(c->access.write_users.n, 2);
	CU_ASSERT_EQUAL(c->access.write_users.items[0].id, 0);
	CU_ASSERT_STRING_EQUAL(c->access.write_users.items[0].name, "root");
	CU_ASSERT_EQUAL(c->access.write_users.items[1].id, 1234);
	CU_ASSERT_STRING_EQUAL(c->access.write_users.items[1].name, "");
	CU_ASSERT_EQUAL(c->access.read_groups.n, 2);
	CU_ASSERT_EQUAL(c->access.read_groups.items[1].id, 4321);
	json = cp_config_to_json(c);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItem(json, "operator"));
	CU_ASSERT_STRING_EQUAL(text, "{\"socket_mode\":\"0640\",\"socket_group\":\"nogroup\","
				     "\"write\":{\"users\":[\"root\",1234],\"groups\":[]},"
				     "\"read\":{\"users\":[],\"groups\":[\"nogroup\",4321]}}");
	free(text);
	text = cJSON_PrintUnformatted(json);
	CU_ASSERT_EQUAL(cp_config_parse(text, strlen(text), &again, &err), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	CU_ASSERT_EQUAL(memcmp(&again->access, &c->access, sizeof(c->access)), 0);
	free(text);
	cJSON_Delete(json);
	cp_config_free(again);
	cp_config_free(c);

	/* Without "operator" nothing is written. */
	c = parse_ok("{" NODE "}");
	json = cp_config_to_json(c);
	CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(json, "operator"));
	cJSON_Delete(json);
	cp_config_free(c);

	expect_error("{'operator':{'socket_mode':'0666'}}", "operator.socket_mode",
		     "operator.socket_mode: must be an octal string such as \"0660\", not "
		     "writable by others");
	expect_error("{'operator':{'socket_mode':660}}", "operator.socket_mode",
		     "operator.socket_mode: must be an octal string such as \"0660\", not "
		     "writable by others");
	expect_error("{'operator':{'read':{'users':['no-such-user-here']}}}",
		     "operator.read.users[0]",
		     "operator.read.users[0]: no user named \"no-such-user-here\" on this host");
	expect_error("{'operator':{'write':{'groups':[1,-5]}}}", "operator.write.groups[1]",
		     "operator.write.groups[1]: must be a group name or a numeric id");
	expect_error("{'operator':{'write':{'uids':[1]}}}", "operator.write.uids",
		     "operator.write.uids: unknown member");
	expect_error("{'operator':{'socket_owner':true}}", "operator.socket_owner",
		     "operator.socket_owner: must be a user name or a numeric id");
}

static void test_dp_view(void)
{
	struct cp_config *c = parse_ok(
		"{" NODE ",'vips':[{" VIP0 ",'backends':[{'address':'10.0.0.1'},"
		"{'address':'10.0.0.2','state':'draining'},{'address':'10.0.0.3'},"
		"{'address':'10.0.0.4'}],'health_check':{'type':'tcp'}}]}");
	struct elb_dp_config *view;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	view = cp_config_dp_view(c, keep_odd, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(view);
	CU_ASSERT_EQUAL(view->n_vips, 1);
	CU_ASSERT_EQUAL(view->vips[0].n_backends, 2);
	CU_ASSERT_EQUAL(view->vips[0].backends[0].addr.v6[3], 2);
	CU_ASSERT_EQUAL(view->vips[0].backends[0].state, ELB_DP_BACKEND_DRAINING);
	CU_ASSERT_EQUAL(view->vips[0].backends[1].addr.v6[3], 4);
	elb_dp_config_free(view);
	cp_config_free(c);
}


/* "fleet": defaults, bounds, and written back whole. */
static void test_fleet_settings(void)
{
	struct cp_config *c = parse_ok("{" NODE "}");
	cJSON *json, *fleet;

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(c->fleet.disagree_after_ms, 3000);
	CU_ASSERT_EQUAL(c->fleet.drain_timeout_ms, 600000);
	CU_ASSERT_EQUAL(c->fleet.flow_count_interval_ms, 1000);
	cp_config_free(c);
	c = parse_ok("{" NODE ",'fleet':{'disagree_after_ms':250,'drain_timeout_ms':5000,"
		     "'flow_count_interval_ms':30000}}");
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(cp_fleet_disagree_after_ms(c), 250);
	CU_ASSERT_EQUAL(cp_drain_timeout_ms(c), 5000);
	CU_ASSERT_EQUAL(cp_flow_count_interval_ms(c), 30000);
	json = cp_config_to_json(c);
	fleet = cJSON_GetObjectItem(json, "fleet");
	{
		char *text = cJSON_PrintUnformatted(fleet);

		CU_ASSERT_STRING_EQUAL(text, "{\"disagree_after_ms\":250,\"drain_timeout_ms\":5000,"
					     "\"flow_count_interval_ms\":30000}");
		free(text);
	}
	cJSON_Delete(json);
	cp_config_free(c);
	expect_error("{'fleet':{'disagree_after_ms':99}}", "fleet.disagree_after_ms",
		     "fleet.disagree_after_ms: must be an integer in 100..3600000");
	expect_error("{'fleet':{'drain_timeout_ms':1.5}}", "fleet.drain_timeout_ms",
		     "fleet.drain_timeout_ms: must be an integer in 100..604800000");
	expect_error("{'fleet':{'flow_count_interval_ms':999}}", "fleet.flow_count_interval_ms",
		     "fleet.flow_count_interval_ms: must be an integer in 1000..3600000");
	expect_error("{'fleet':{'agree':1}}", "fleet.agree", "fleet.agree: unknown member");
	expect_error("{'fleet':3}", "fleet", "fleet: must be an object");
}

#define BGP0 "'local_as':65010,'router_id':'192.0.2.2','neighbors':[{'address':'192.0.2.1','as':65000}]"

/* Drains in progress: persisted beside the VIPs, each naming a draining backend. */
static void test_drain_records(void)
{
#define DRAINING "'backends':[{'address':'10.0.0.1','state':'draining'},{'address':'10.0.0.2'}]"
#define RECORD "'address':'198.51.100.1','port':443,'protocol':'tcp','backend':'10.0.0.1'"
	struct cp_config *c = parse_ok("{" NODE ",'vips':[{" VIP0 "," DRAINING "}],'drains':[{" RECORD
				       ",'timeout_ms':5000,'remove_when_drained':true,"
				       "'started_unix_ms':1795555347396}]}");
	struct cp_drain_record *r;
	union elb_addr b1 = {0}, b2 = {0};
	cJSON *json;
	char *text;

	CU_ASSERT_FATAL(c != NULL);
	inet_pton(AF_INET, "10.0.0.1", &b1.v4);
	inet_pton(AF_INET, "10.0.0.2", &b2.v4);
	r = cp_config_find_drain(c, &c->vips[0].dp.key, &b1, ELB_AF_INET);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->timeout_ms, 5000);
	CU_ASSERT_TRUE(r->remove_when_drained);
	CU_ASSERT_EQUAL(r->started_unix_ms, 1795555347396ull);
	CU_ASSERT_PTR_NULL(cp_config_find_drain(c, &c->vips[0].dp.key, &b2, ELB_AF_INET));
	json = cp_config_to_json(c);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItem(json, "drains"));
	CU_ASSERT_STRING_EQUAL(text, "[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":"
				     "\"tcp\",\"backend\":\"10.0.0.1\",\"timeout_ms\":5000,"
				     "\"remove_when_drained\":true,\"started_unix_ms\":1795555347396}]");
	free(text);
	cJSON_Delete(json);
	/* Undrained: the next commit's prune drops the record. */
	c->vips[0].dp.backends[0].state = ELB_DP_BACKEND_ACTIVE;
	cp_config_prune_drains(c);
	CU_ASSERT_EQUAL(c->n_drains, 0);
	cp_config_free(c);
	expect_error("{" NODE ",'vips':[{" VIP0 "," DRAINING "}],'drains':[{" RECORD
		     ",'started_unix_ms':1},{" RECORD ",'started_unix_ms':2}]}",
		     "drains[1].backend", "drains[1].backend: repeats drains[0]");
	expect_error("{" NODE ",'vips':[{" VIP0 "," DRAINING "}],'drains':[{'address':'198.51.100.1',"
		     "'port':443,'protocol':'tcp','backend':'10.0.0.2','started_unix_ms':1}]}",
		     "drains[0].backend",
		     "drains[0].backend: is not a draining backend of that VIP");
	expect_error("{" NODE ",'vips':[{" VIP0 "," DRAINING "}],'drains':[{" RECORD "}]}",
		     "drains[0].started_unix_ms", "drains[0].started_unix_ms: is required");
	expect_error("{" NODE ",'vips':[{" VIP0 "," DRAINING "}],'drains':[{" RECORD
		     ",'started_unix_ms':1,'remove_when_drained':1}]}",
		     "drains[0].remove_when_drained",
		     "drains[0].remove_when_drained: must be a boolean");
	expect_error("{" NODE ",'vips':[{" VIP0 "," DRAINING "}],'drains':[{" RECORD
		     ",'started_unix_ms':9007199254740992}]}",
		     "drains[0].started_unix_ms",
		     "drains[0].started_unix_ms: must be an integer in 0..9007199254740991");
#undef DRAINING
#undef RECORD
}

static void test_bgp_settings(void)
{
	struct cp_config *c = parse_ok("{" NODE "}"), *again;
	cJSON *json;
	char *text;
	struct elb_dp_err err = {0};

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_FALSE(c->bgp.enabled);
	json = cp_config_to_json(c);
	CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(json, "bgp")); /* written back without */
	cJSON_Delete(json);
	cp_config_free(c);

	c = parse_ok("{" NODE ",'bgp':{" BGP0 "}}");
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_TRUE(c->bgp.enabled);
	CU_ASSERT_EQUAL(c->bgp.local_as, 65010);
	CU_ASSERT_EQUAL(c->bgp.n_neighbors, 1);
	CU_ASSERT_EQUAL(c->bgp.neighbors[0].as, 65000);
	CU_ASSERT_EQUAL(c->bgp.neighbors[0].family, ELB_AF_INET);
	CU_ASSERT_EQUAL(c->bgp.hold_time_s, 3);
	CU_ASSERT_EQUAL(c->bgp.drain_quiet_ms, 2000);
	CU_ASSERT_EQUAL(c->bgp.drain_timeout_ms, 60000);
	CU_ASSERT_FALSE(c->bgp.drained);
	CU_ASSERT_STRING_EQUAL(c->bgp.bird, "/usr/sbin/bird");
	{
		char sock[CP_SOCKET_PATH_MAX];

		cp_bgp_control_socket(&c->bgp, sock, sizeof(sock));
		CU_ASSERT_STRING_EQUAL(sock, "/run/edgelb/bgp/bird.ctl");
	}
	cp_config_free(c);

	/* Every member survives the round trip, drained included. */
	c = parse_ok("{" NODE ",'bgp':{'local_as':4200000000,'router_id':'10.0.0.1',"
		     "'neighbors':[{'address':'10.0.0.254','as':65000},"
		     "{'address':'2001:db8::fe','as':65001}],'hold_time_s':9,"
		     "'next_hop_v4':'10.0.0.2','next_hop_v6':'2001:db8::2','bird':'/opt/bird',"
		     "'run_dir':'/var/run/x','control_socket':'/run/b.ctl','drain_quiet_ms':1000,"
		     "'drain_timeout_ms':5000,'drained':true}}");
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(c->bgp.neighbors[1].family, ELB_AF_INET6);
	CU_ASSERT_TRUE(c->bgp.drained);
	json = cp_config_to_json(c);
	text = cJSON_PrintUnformatted(json);
	CU_ASSERT_EQUAL(cp_config_parse(text, strlen(text), &again, &err), 0);
	CU_ASSERT_FATAL(again != NULL);
	CU_ASSERT_EQUAL(memcmp(&again->bgp, &c->bgp, sizeof(c->bgp)), 0);
	free(text);
	cJSON_Delete(json);
	cp_config_free(again);
	cp_config_free(c);

	expect_error("{'bgp':{}}", "bgp.local_as", "bgp.local_as: is required");
	expect_error("{'bgp':{'local_as':0}}", "bgp.local_as",
		     "bgp.local_as: must be an integer in 1..4294967295");
	expect_error("{'bgp':{'local_as':1}}", "bgp.router_id", "bgp.router_id: is required");
	expect_error("{'bgp':{'local_as':1,'router_id':'::1'}}", "bgp.router_id",
		     "bgp.router_id: must be an IPv4 address");
	expect_error("{'bgp':{'local_as':1,'router_id':'10.0.0.1','neighbors':[]}}",
		     "bgp.neighbors", "bgp.neighbors: must be an array of 1 to 16 neighbors");
	expect_error("{'bgp':{'local_as':1,'router_id':'10.0.0.1','neighbors':[{'address':'x'}]}}",
		     "bgp.neighbors[0].address",
		     "bgp.neighbors[0].address: must be an IPv4 or IPv6 address");
	expect_error("{'bgp':{'local_as':1,'router_id':'10.0.0.1','neighbors':[{'address':'10.0.0.2'}]}}",
		     "bgp.neighbors[0].as", "bgp.neighbors[0].as: is required");
	expect_error("{'bgp':{'local_as':1,'router_id':'10.0.0.1','neighbors':["
		     "{'address':'10.0.0.2','as':2},{'address':'10.0.0.2','as':3}]}}",
		     "bgp.neighbors[1].address", "bgp.neighbors[1].address: repeats bgp.neighbors[0]");
	expect_error("{'bgp':{" BGP0 ",'hold_time_s':2}}", "bgp.hold_time_s",
		     "bgp.hold_time_s: must be 0 or in 3..65535");
	expect_error("{'bgp':{" BGP0 ",'next_hop_v6':'10.0.0.1'}}", "bgp.next_hop_v6",
		     "bgp.next_hop_v6: must be an IPv6 address");
	/* One address syntax with the dataplane's (elb_addr_parse): an IPv4
	 * address is written as IPv4, never IPv4-mapped. */
	expect_error("{'bgp':{" BGP0 ",'next_hop_v6':'::ffff:10.0.0.1'}}", "bgp.next_hop_v6",
		     "bgp.next_hop_v6: write an IPv4 address as IPv4, not IPv4-mapped IPv6");
	expect_error("{'bgp':{'local_as':1,'router_id':'10.0.0.1','neighbors':["
		     "{'address':'::ffff:10.0.0.2','as':2}]}}",
		     "bgp.neighbors[0].address",
		     "bgp.neighbors[0].address: write an IPv4 address as IPv4, not IPv4-mapped "
		     "IPv6");
	/* One range check with the dataplane's (elb_json_read_uint). */
	expect_error("{'bgp':{'local_as':1.5}}", "bgp.local_as",
		     "bgp.local_as: must be an integer in 1..4294967295");
	expect_error("{'bgp':{'local_as':'1'}}", "bgp.local_as",
		     "bgp.local_as: must be an integer in 1..4294967295");
	expect_error("{'bgp':{" BGP0 ",'run_dir':'relative'}}", "bgp.run_dir",
		     "bgp.run_dir: must be an absolute path below 256 bytes, without quotes or "
		     "newlines");
	expect_error("{'bgp':{" BGP0 ",'bird':'/a\\\"b'}}", "bgp.bird",
		     "bgp.bird: must be an absolute path below 256 bytes, without quotes or "
		     "newlines");
	expect_error("{'bgp':{" BGP0 ",'drain_quiet_ms':999}}", "bgp.drain_quiet_ms",
		     "bgp.drain_quiet_ms: must be an integer in 1000..600000");
	expect_error("{'bgp':{" BGP0 ",'drained':1}}", "bgp.drained",
		     "bgp.drained: must be a boolean");
	expect_error("{'bgp':{" BGP0 ",'password':'x'}}", "bgp.password",
		     "bgp.password: unknown member");
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_defaults_and_members),
		ELB_TEST(test_round_trip),
		ELB_TEST(test_errors_name_the_field),
		ELB_TEST(test_operator_access),
		ELB_TEST(test_dp_view),
		ELB_TEST(test_fleet_settings),
		ELB_TEST(test_bgp_settings),
		ELB_TEST(test_drain_records),
		ELB_TEST_END,
	};

	return elb_test_run("cp_config", cases);
}
