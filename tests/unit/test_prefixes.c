/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prefix lists (docs/prefix-lists.md): the rule text and its refusals, the
 * set's JSON form (canonical order, every refusal with its path), the file
 * form, the reference decision on hand-made cases, and prefixes.set /
 * prefixes.get over the dataplane protocol with a fake dataplane: applied
 * whole or not at all, persisted, reloaded at open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elb_dp_api.h"
#include "elb_json.h"
#include "elb_prefixes.h"
#include "elb_test.h"

/* Single quotes stand for double quotes, to keep the cases readable. */
static cJSON *json_q(const char *single_quoted)
{
	char *text = strdup(single_quoted);
	cJSON *json;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	json = cJSON_Parse(text);
	free(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	return json;
}

static void test_parse_and_format(void)
{
	static const struct {
		const char *in, *out; /* out NULL: refused with why */
		const char *why;
	} cases[] = {
		{"198.51.100.0/24", "198.51.100.0/24", NULL},
		{"0.0.0.0/0", "0.0.0.0/0", NULL},
		{"203.0.113.7/32", "203.0.113.7/32", NULL},
		{"::/0", "::/0", NULL},
		{"2001:DB8:0:0::/48", "2001:db8::/48", NULL},
		{"2001:db8::1/128", "2001:db8::1/128", NULL},
		{"198.51.100.1/24", NULL, "host bits set past /24: did you mean 198.51.100.0/24"},
		{"2001:db8::1/64", NULL, "host bits set past /64: did you mean 2001:db8::/64"},
		{"10.0.0.0/33", NULL, "the length must be 0..32 (got \"10.0.0.0/33\")"},
		{"2001:db8::/129", NULL, "the length must be 0..128 (got \"2001:db8::/129\")"},
		{"10.0.0.0/+8", NULL, "the length must be 0..32 (got \"10.0.0.0/+8\")"},
		{"10.0.0.0/", NULL, "the length must be 0..32 (got \"10.0.0.0/\")"},
		{"10.0.0.0/0008", NULL, "the length must be 0..32 (got \"10.0.0.0/0008\")"},
		{"10.0.0.0", NULL, "must be a prefix such as 198.51.100.0/24 (got \"10.0.0.0\")"},
		{"/8", NULL, "not an address before the '/' (got \"/8\")"},
		{"10.0.0/8", NULL, "not an IPv4 or IPv6 address before the '/' (got \"10.0.0/8\")"},
		{"::ffff:10.0.0.0/104", NULL,
		 "write an IPv4 prefix as IPv4, not IPv4-mapped IPv6 (got \"::ffff:10.0.0.0/104\")"},
	};
	char why[ELB_DP_ERR_TEXT_MAX], text[ELB_PREFIX_TEXT_MAX];
	struct elb_prefix_rule r;

	for (size_t i = 0; i < ELB_ARRAY_SIZE(cases); i++) {
		int rc;

		why[0] = '\0';
		memset(&r, 0xa5, sizeof(r));
		rc = elb_prefix_parse(cases[i].in, ELB_PREFIX_DENY, &r, why, sizeof(why));
		if (cases[i].out) {
			CU_ASSERT_EQUAL(rc, 0);
			CU_ASSERT_STRING_EQUAL(elb_prefix_format(&r, text), cases[i].out);
			CU_ASSERT_EQUAL(r.action, ELB_PREFIX_DENY);
			CU_ASSERT_EQUAL(r.pad, 0);
		} else {
			CU_ASSERT_EQUAL(rc, -EINVAL);
			if (strcmp(why, cases[i].why) != 0)
				fprintf(stderr, "\n  %s: got  %s\n  want %s\n", cases[i].in, why,
					cases[i].why);
			CU_ASSERT_STRING_EQUAL(why, cases[i].why);
		}
	}
	/* The longest text fits. */
	CU_ASSERT_EQUAL(elb_prefix_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128",
					 ELB_PREFIX_ALLOW, &r, why, sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(elb_prefix_format(&r, text),
			       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128");
	/* An IPv4 rule's other words are zero: rules compare as bytes. */
	CU_ASSERT_EQUAL(elb_prefix_parse("192.0.2.0/24", ELB_PREFIX_ALLOW, &r, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(r.addr.w[1] | r.addr.w[2] | r.addr.w[3], 0);
	CU_ASSERT_EQUAL(r.family, ELB_AF_INET);
	CU_ASSERT_EQUAL(r.len, 24);
}

static void expect_set_error(const char *json_text, const char *field, const char *text)
{
	cJSON *json = json_q(json_text);
	struct elb_prefix_set *set = (struct elb_prefix_set *)0x1;
	struct elb_dp_err err = {0};
	int rc = elb_prefix_set_from_json(json, "prefixes", &set, &err);

	CU_ASSERT_EQUAL(rc, -EINVAL);
	CU_ASSERT_PTR_EQUAL(set, (struct elb_prefix_set *)0x1);
	if (strcmp(err.field, field) != 0 || strcmp(err.text, text) != 0)
		fprintf(stderr, "\n  got  %s | %s\n  want %s | %s\n", err.field, err.text, field,
			text);
	CU_ASSERT_STRING_EQUAL(err.field, field);
	CU_ASSERT_STRING_EQUAL(err.text, text);
	cJSON_Delete(json);
}

static void test_set_refusals(void)
{
	expect_set_error("{'nodes':{}}", "prefixes.nodes", "prefixes.nodes: unknown member");
	expect_set_error("{'node':{'block':[]}}", "prefixes.node.block",
			 "prefixes.node.block: unknown member");
	expect_set_error("{'node':{'deny':'10.0.0.0/8'}}", "prefixes.node.deny",
			 "prefixes.node.deny: must be an array of prefixes");
	expect_set_error("{'node':{'deny':['10.0.0.0/8', 7]}}", "prefixes.node.deny[1]",
			 "prefixes.node.deny[1]: must be a prefix string");
	expect_set_error("{'node':{'deny':['10.0.0.0/8', '10.1.0.1/16']}}", "prefixes.node.deny[1]",
			 "prefixes.node.deny[1]: host bits set past /16: did you mean 10.1.0.0/16");
	/* Twice in one scope, in one array or across both: the later named. */
	expect_set_error("{'node':{'deny':['10.0.0.0/8', '192.0.2.0/24', '10.0.0.0/8']}}",
			 "prefixes.node.deny[2]",
			 "prefixes.node.deny[2]: 10.0.0.0/8 is already listed at prefixes.node.deny[0]");
	expect_set_error("{'node':{'deny':['10.0.0.0/8'], 'allow':['10.0.0.0/8']}}",
			 "prefixes.node.deny[0]",
			 "prefixes.node.deny[0]: 10.0.0.0/8 is already listed at prefixes.node.allow[0]");
	expect_set_error("{'vips':[{'address':'198.51.100.1','port':443,'protocol':'tcp',"
			 "'deny':['2001:db8::/32']}]}",
			 "prefixes.vips[0].deny[0]",
			 "prefixes.vips[0].deny[0]: an IPv4 VIP's list holds IPv4 prefixes only "
			 "(got \"2001:db8::/32\")");
	expect_set_error("{'vips':[{'address':'198.51.100.1','port':443,'protocol':'tcp',"
			 "'deny':['0.0.0.0/0']},{'address':'198.51.100.1','port':443,"
			 "'protocol':'tcp','allow':['10.0.0.0/8']}]}",
			 "prefixes.vips[1]",
			 "prefixes.vips[1]: 198.51.100.1:443/tcp is already listed at vips[0]");
	expect_set_error("{'vips':[{'address':'198.51.100.1','port':443,'deny':[]}]}",
			 "prefixes.vips[0].protocol", "prefixes.vips[0].protocol: missing");
	expect_set_error("{'vips':[{'address':'198.51.100.1','port':443,'protocol':'tcp',"
			 "'rules':[]}]}",
			 "prefixes.vips[0].rules", "prefixes.vips[0].rules: unknown member");
	expect_set_error("{'generation':-1}", "prefixes.generation",
			 "prefixes.generation: must be an integer in 0..9007199254740991");
}

/* A JSON object with n distinct IPv4 /32 rules in the node's deny list. */
static cJSON *node_denies(uint32_t n)
{
	cJSON *json = cJSON_CreateObject(), *node = cJSON_AddObjectToObject(json, "node");
	cJSON *deny = cJSON_AddArrayToObject(node, "deny");
	char text[32];

	for (uint32_t i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "%u.%u.%u.%u/32", 10 + (i >> 24), (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		cJSON_AddItemToArray(deny, cJSON_CreateString(text));
	}
	return json;
}

static void test_rule_limit(void)
{
	struct elb_prefix_set *set = NULL;
	struct elb_dp_err err = {0};
	cJSON *json = node_denies(ELB_PREFIX_RULES_MAX);

	CU_ASSERT_EQUAL(elb_prefix_set_from_json(json, "", &set, &err), 0);
	CU_ASSERT_EQUAL(elb_prefix_set_rules(set), ELB_PREFIX_RULES_MAX);
	elb_prefix_set_free(set);
	cJSON_Delete(json);

	/* One more, in a VIP's list: refused where it overflows. */
	json = node_denies(ELB_PREFIX_RULES_MAX);
	{
		cJSON *vips = cJSON_AddArrayToObject(json, "vips");
		cJSON *v = json_q("{'address':'198.51.100.1','port':443,'protocol':'tcp',"
				  "'deny':['0.0.0.0/0']}");

		cJSON_AddItemToArray(vips, v);
	}
	set = NULL;
	CU_ASSERT_EQUAL(elb_prefix_set_from_json(json, "", &set, &err), -EINVAL);
	CU_ASSERT_PTR_NULL(set);
	CU_ASSERT_STRING_EQUAL(err.field, "vips[0]");
	CU_ASSERT_STRING_EQUAL(err.text, "vips[0]: more than 262144 prefix rules in all lists together");
	cJSON_Delete(json);
}

static struct elb_prefix_set *set_of(const char *single_quoted)
{
	cJSON *json = json_q(single_quoted);
	struct elb_prefix_set *set = NULL;
	struct elb_dp_err err = {0};

	if (elb_prefix_set_from_json(json, "", &set, &err) != 0)
		fprintf(stderr, "\n  %s\n", err.text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(set);
	cJSON_Delete(json);
	return set;
}

#define EXAMPLE_SET                                                                            \
	"{'generation':7,'node':{'deny':['203.0.113.0/24','2001:db8:bad::/48','10.0.0.0/8']," \
	"'allow':['10.1.0.0/16']},"                                                          \
	"'vips':[{'address':'198.51.100.2','port':0,'protocol':'udp','deny':[]},"             \
	"{'address':'198.51.100.1','port':443,'protocol':'tcp','allow':['203.0.113.128/25'," \
	"'192.0.2.0/24'],'deny':['0.0.0.0/0']}]}"

static void test_set_canonical_and_round_trip(void)
{
	struct elb_prefix_set *set = set_of(EXAMPLE_SET), *again, *copy;
	struct elb_dp_vip_key key = {.family = ELB_AF_INET, .proto = ELB_IPPROTO_TCP, .port = 443};
	const struct elb_prefix_list *list;
	char text[ELB_PREFIX_TEXT_MAX];
	char *printed;
	cJSON *json;

	CU_ASSERT_EQUAL(set->generation, 7);
	CU_ASSERT_EQUAL(elb_prefix_set_rules(set), 7);
	/* Sorted by family, address, length; actions kept. */
	CU_ASSERT_EQUAL_FATAL(set->node.n, 4);
	CU_ASSERT_STRING_EQUAL(elb_prefix_format(&set->node.rules[0], text), "10.0.0.0/8");
	CU_ASSERT_STRING_EQUAL(elb_prefix_format(&set->node.rules[1], text), "10.1.0.0/16");
	CU_ASSERT_EQUAL(set->node.rules[1].action, ELB_PREFIX_ALLOW);
	CU_ASSERT_STRING_EQUAL(elb_prefix_format(&set->node.rules[2], text), "203.0.113.0/24");
	CU_ASSERT_STRING_EQUAL(elb_prefix_format(&set->node.rules[3], text), "2001:db8:bad::/48");
	/* The empty VIP list is no list. */
	CU_ASSERT_EQUAL_FATAL(set->n_vips, 1);
	CU_ASSERT_EQUAL(elb_addr_parse("198.51.100.1", &key.addr, &key.family), 0);
	list = elb_prefix_set_vip_list(set, &key);
	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	CU_ASSERT_EQUAL(list->n, 3);
	CU_ASSERT_STRING_EQUAL(elb_prefix_format(&list->rules[0], text), "0.0.0.0/0");
	key.port = 80;
	CU_ASSERT_PTR_NULL(elb_prefix_set_vip_list(set, &key));

	json = elb_prefix_set_to_json(set);
	printed = cJSON_PrintUnformatted(json);
	CU_ASSERT_STRING_EQUAL(printed,
			       "{\"generation\":7,\"node\":{\"allow\":[\"10.1.0.0/16\"],\"deny\":"
			       "[\"10.0.0.0/8\",\"203.0.113.0/24\",\"2001:db8:bad::/48\"]},\"vips\":"
			       "[{\"address\":\"198.51.100.1\",\"port\":443,\"protocol\":\"tcp\","
			       "\"allow\":[\"192.0.2.0/24\",\"203.0.113.128/25\"],\"deny\":"
			       "[\"0.0.0.0/0\"]}]}");
	/* Through the text, as a peer reads it (numbers above are raw items). */
	again = set_of(printed);
	CU_ASSERT_TRUE(elb_prefix_set_same_rules(set, again));
	CU_ASSERT_EQUAL(again->generation, 7);
	copy = elb_prefix_set_clone(set);
	CU_ASSERT_TRUE(elb_prefix_set_same_rules(set, copy));
	copy->vips[0].list.rules[1].action = ELB_PREFIX_DENY;
	CU_ASSERT_FALSE(elb_prefix_set_same_rules(set, copy));
	free(printed);
	cJSON_Delete(json);
	elb_prefix_set_free(set);
	elb_prefix_set_free(again);
	elb_prefix_set_free(copy);
}

static enum elb_prefix_action decide(const struct elb_prefix_set *set,
				     const struct elb_dp_vip_key *vip, const char *client,
				     enum elb_prefix_scope *scope, char *rule_text)
{
	const struct elb_prefix_list *list = elb_prefix_set_vip_list(set, vip);
	const struct elb_prefix_rule *rule = NULL;
	union elb_addr addr = {0};
	enum elb_prefix_action action;
	uint8_t family;

	CU_ASSERT_EQUAL_FATAL(elb_addr_parse(client, &addr, &family), 0);
	action = elb_prefix_list_decide(list ? list->rules : NULL, list ? list->n : 0,
					set->node.rules, set->node.n, family, &addr, scope, &rule);
	if (rule)
		elb_prefix_format(rule, rule_text);
	else
		strcpy(rule_text, "-");
	return action;
}

static void test_reference_decision(void)
{
	struct elb_prefix_set *set = set_of(EXAMPLE_SET);
	struct elb_dp_vip_key web = {.proto = ELB_IPPROTO_TCP, .port = 443};
	struct elb_dp_vip_key other = {.proto = ELB_IPPROTO_TCP, .port = 80};
	static const struct {
		bool web; /* else the VIP with no list */
		const char *client;
		enum elb_prefix_action action;
		enum elb_prefix_scope scope;
		const char *rule;
	} cases[] = {
		/* Node list: longest match; allow inside deny. */
		{false, "10.2.3.4", ELB_PREFIX_DENY, ELB_PREFIX_SCOPE_NODE, "10.0.0.0/8"},
		{false, "10.1.3.4", ELB_PREFIX_ALLOW, ELB_PREFIX_SCOPE_NODE, "10.1.0.0/16"},
		{false, "203.0.113.200", ELB_PREFIX_DENY, ELB_PREFIX_SCOPE_NODE, "203.0.113.0/24"},
		{false, "203.0.114.0", ELB_PREFIX_NO_MATCH, 0, "-"},
		{false, "2001:db8:bad:ffff::1", ELB_PREFIX_DENY, ELB_PREFIX_SCOPE_NODE,
		 "2001:db8:bad::/48"},
		{false, "2001:db8:bae::1", ELB_PREFIX_NO_MATCH, 0, "-"},
		/* The VIP's list first: its allow beats the node's deny, its
		 * 0.0.0.0/0 deny everything else. */
		{true, "203.0.113.200", ELB_PREFIX_ALLOW, ELB_PREFIX_SCOPE_VIP, "203.0.113.128/25"},
		{true, "203.0.113.127", ELB_PREFIX_DENY, ELB_PREFIX_SCOPE_VIP, "0.0.0.0/0"},
		{true, "192.0.2.255", ELB_PREFIX_ALLOW, ELB_PREFIX_SCOPE_VIP, "192.0.2.0/24"},
		{true, "10.1.3.4", ELB_PREFIX_DENY, ELB_PREFIX_SCOPE_VIP, "0.0.0.0/0"},
		/* An IPv6 client of that VIP (none reach an IPv4 VIP, but the
		 * decision is still defined): the VIP's list has no IPv6 rule. */
		{true, "2001:db8:bad::1", ELB_PREFIX_DENY, ELB_PREFIX_SCOPE_NODE, "2001:db8:bad::/48"},
	};
	char text[ELB_PREFIX_TEXT_MAX];

	CU_ASSERT_EQUAL(elb_addr_parse("198.51.100.1", &web.addr, &web.family), 0);
	other.addr = web.addr;
	other.family = web.family;
	for (size_t i = 0; i < ELB_ARRAY_SIZE(cases); i++) {
		enum elb_prefix_scope scope = (enum elb_prefix_scope)99;
		enum elb_prefix_action a =
			decide(set, cases[i].web ? &web : &other, cases[i].client, &scope, text);

		if (a != cases[i].action || strcmp(text, cases[i].rule) != 0)
			fprintf(stderr, "\n  case %zu (%s): got %d %s\n", i, cases[i].client, a, text);
		CU_ASSERT_EQUAL(a, cases[i].action);
		CU_ASSERT_STRING_EQUAL(text, cases[i].rule);
		if (a != ELB_PREFIX_NO_MATCH)
			CU_ASSERT_EQUAL(scope, cases[i].scope);
	}
	elb_prefix_set_free(set);
}

/* ---- the dataplane protocol ------------------------------------------------------------- */

struct fake_dp {
	int calls;
	int fail_next; /* -errno for the next apply_prefixes */
	const struct elb_prefix_set *applied;
};

static int fake_apply(void *ctx, const struct elb_dp_config *config, uint64_t epoch, char *err,
		      size_t errlen)
{
	(void)ctx, (void)config, (void)epoch, (void)err, (void)errlen;
	return 0;
}

static int fake_apply_prefixes(void *ctx, const struct elb_prefix_set *set, char *err,
			       size_t errlen)
{
	struct fake_dp *dp = ctx;

	dp->calls++;
	if (dp->fail_next) {
		int rc = dp->fail_next;

		dp->fail_next = 0;
		snprintf(err, errlen, "trie full");
		return rc;
	}
	dp->applied = set;
	return 0;
}

static const struct elb_dp_ops fake_ops = {.apply = fake_apply,
					   .apply_prefixes = fake_apply_prefixes};
static const struct elb_dp_ops no_prefix_ops = {.apply = fake_apply};

struct fixture {
	char dir[64], socket_path[100], state_path[128], prefixes_path[160];
	struct fake_dp dp;
	struct elb_dp_api *api;
};

static void fixture_open(struct fixture *f, const struct elb_dp_ops *ops)
{
	struct elb_dp_api_options options = {.socket_path = f->socket_path,
					     .state_path = f->state_path, .dataplane = "test"};
	struct elb_dp_err err = {0};
	int rc = elb_dp_api_open(&f->api, &options, ops, &f->dp, &err);

	if (rc)
		fprintf(stderr, "\n  open: %s\n", err.text);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/elb-prefixes-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->socket_path, sizeof(f->socket_path), "%s/dp.sock", f->dir);
	snprintf(f->state_path, sizeof(f->state_path), "%s/state.json", f->dir);
	snprintf(f->prefixes_path, sizeof(f->prefixes_path), "%s.prefixes", f->state_path);
}

static void fixture_fini(struct fixture *f)
{
	elb_dp_api_close(f->api);
	unlink(f->prefixes_path);
	unlink(f->state_path);
	rmdir(f->dir);
}

/* One request line answered; the response parsed. */
static cJSON *call(struct fixture *f, const char *single_quoted)
{
	cJSON *req = json_q(single_quoted);
	char *line = cJSON_PrintUnformatted(req), *answer;
	cJSON *resp;

	answer = elb_dp_api_answer(f->api, line, strlen(line));
	CU_ASSERT_PTR_NOT_NULL_FATAL(answer);
	resp = cJSON_Parse(answer);
	CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
	free(answer);
	free(line);
	cJSON_Delete(req);
	return resp;
}

static double result_number(const cJSON *resp, const char *name)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(resp, "result");

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, name));
}

static const char *error_message(const cJSON *resp, int *code)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp, "error");

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	*code = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
}

static void test_protocol_set_get_persist(void)
{
	struct fixture f;
	struct elb_prefix_set *expected = set_of(EXAMPLE_SET), *on_disk = NULL;
	cJSON *resp;
	int code;

	fixture_init(&f);
	fixture_open(&f, &fake_ops);
	CU_ASSERT_EQUAL(f.dp.calls, 0); /* nothing stored: nothing applied at open */
	CU_ASSERT_EQUAL(elb_prefix_set_rules(elb_dp_api_prefixes(f.api)), 0);

	resp = call(&f, "{'jsonrpc':'2.0','id':1,'method':'prefixes.set','params':{'prefixes':"
			EXAMPLE_SET "}}");
	CU_ASSERT_EQUAL(result_number(resp, "generation"), 7);
	CU_ASSERT_EQUAL(result_number(resp, "rules"), 7);
	cJSON_Delete(resp);
	CU_ASSERT_EQUAL(f.dp.calls, 1);
	CU_ASSERT_PTR_EQUAL(f.dp.applied, elb_dp_api_prefixes(f.api));
	CU_ASSERT_TRUE(elb_prefix_set_same_rules(f.dp.applied, expected));
	CU_ASSERT_EQUAL(elb_prefix_set_load_file(f.prefixes_path, &on_disk, NULL), 0);
	CU_ASSERT_TRUE(on_disk && elb_prefix_set_same_rules(on_disk, expected));
	elb_prefix_set_free(on_disk);

	/* The same rules again: not applied again; the generation is taken. */
	resp = call(&f, "{'jsonrpc':'2.0','id':2,'method':'prefixes.set','params':{'prefixes':"
			"{'generation':8,'node':{'deny':['10.0.0.0/8','203.0.113.0/24',"
			"'2001:db8:bad::/48'],'allow':['10.1.0.0/16']},'vips':[{'address':"
			"'198.51.100.1','port':443,'protocol':'tcp','allow':['192.0.2.0/24',"
			"'203.0.113.128/25'],'deny':['0.0.0.0/0']}]}}}");
	CU_ASSERT_EQUAL(result_number(resp, "generation"), 8);
	CU_ASSERT_FALSE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(resp, "result"), "changed")));
	cJSON_Delete(resp);
	CU_ASSERT_EQUAL(f.dp.calls, 1);

	/* A bad request: refused with its field, nothing applied. */
	resp = call(&f, "{'jsonrpc':'2.0','id':3,'method':'prefixes.set','params':{'prefixes':"
			"{'node':{'deny':['10.0.0.0/8','10.0.0.1/8']}}}}");
	CU_ASSERT_STRING_EQUAL(error_message(resp, &code),
			       "prefixes.node.deny[1]: host bits set past /8: did you mean 10.0.0.0/8");
	CU_ASSERT_EQUAL(code, -32602);
	cJSON_Delete(resp);
	CU_ASSERT_EQUAL(f.dp.calls, 1);

	/* The dataplane refuses: the old lists stay, in force and on disk. */
	f.dp.fail_next = -ENOSPC;
	resp = call(&f, "{'jsonrpc':'2.0','id':4,'method':'prefixes.set','params':{'prefixes':"
			"{'generation':9,'node':{'deny':['192.0.2.0/24']}}}}");
	CU_ASSERT_STRING_EQUAL(error_message(resp, &code),
			       "the dataplane refused the prefix lists: trie full "
			       "(No space left on device)");
	CU_ASSERT_EQUAL(code, ELB_DP_ERR_APPLY_FAILED);
	cJSON_Delete(resp);
	CU_ASSERT_EQUAL(elb_dp_api_prefixes(f.api)->generation, 8);
	CU_ASSERT_TRUE(elb_prefix_set_same_rules(elb_dp_api_prefixes(f.api), expected));

	resp = call(&f, "{'jsonrpc':'2.0','id':5,'method':'prefixes.get','params':{}}");
	{
		struct elb_prefix_set *got = NULL;
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(resp, "result"), "prefixes");

		CU_ASSERT_EQUAL(elb_prefix_set_from_json(p, "", &got, NULL), 0);
		CU_ASSERT_TRUE(got && elb_prefix_set_same_rules(got, expected));
		CU_ASSERT_TRUE(got && got->generation == 8);
		elb_prefix_set_free(got);
	}
	cJSON_Delete(resp);

	/* A restart applies the stored lists right after the config. */
	elb_dp_api_close(f.api);
	f.api = NULL;
	memset(&f.dp, 0, sizeof(f.dp));
	fixture_open(&f, &fake_ops);
	CU_ASSERT_EQUAL(f.dp.calls, 1);
	CU_ASSERT_TRUE(f.dp.applied && elb_prefix_set_same_rules(f.dp.applied, expected));
	CU_ASSERT_EQUAL(elb_dp_api_prefixes(f.api)->generation, 8);
	fixture_fini(&f);
	elb_prefix_set_free(expected);
}

static void test_protocol_without_prefix_support(void)
{
	struct fixture f;
	cJSON *resp;
	int code;

	fixture_init(&f);
	fixture_open(&f, &no_prefix_ops);
	resp = call(&f, "{'jsonrpc':'2.0','id':1,'method':'prefixes.set','params':{'prefixes':"
			"{'node':{'deny':['192.0.2.0/24']}}}}");
	CU_ASSERT_STRING_EQUAL(error_message(resp, &code),
			       "prefixes: this dataplane has no prefix lists");
	CU_ASSERT_EQUAL(code, ELB_DP_ERR_APPLY_FAILED);
	cJSON_Delete(resp);
	/* An empty set is what it has: accepted as no change. */
	resp = call(&f, "{'jsonrpc':'2.0','id':2,'method':'prefixes.set','params':{'prefixes':{}}}");
	CU_ASSERT_EQUAL(result_number(resp, "rules"), 0);
	cJSON_Delete(resp);
	resp = call(&f, "{'jsonrpc':'2.0','id':3,'method':'prefixes.set','params':{}}");
	CU_ASSERT_STRING_EQUAL(error_message(resp, &code), "prefixes: missing");
	cJSON_Delete(resp);
	fixture_fini(&f);
}

int main(void)
{
	static const struct elb_test_case cases[] = {
		ELB_TEST(test_parse_and_format),
		ELB_TEST(test_set_refusals),
		ELB_TEST(test_rule_limit),
		ELB_TEST(test_set_canonical_and_round_trip),
		ELB_TEST(test_reference_decision),
		ELB_TEST(test_protocol_set_get_persist),
		ELB_TEST(test_protocol_without_prefix_support),
		ELB_TEST_END,
	};

	return elb_test_run("prefixes", cases);
}
