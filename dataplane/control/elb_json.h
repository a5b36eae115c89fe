/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading JSON documents for people: every refusal names the member at
 * fault by its JSON path ("vips[2].backends[5].weight") and says what it
 * must be. Shared by the dataplane configuration model (elb_config.c), the
 * dataplane protocol and the control plane's configuration (cp_config.c),
 * so that one value is accepted or refused the same way everywhere.
 *
 * Conventions of the readers: a member that is absent is not an error and
 * leaves the output alone (it holds the default); a member that is present
 * must have the right type and range, else the reader fails with -EINVAL
 * and err filled, leaving the output alone. Integers are JSON numbers with
 * no fraction, in [min, max] with max at most ELB_DP_MAX_JSON_INTEGER: a JSON
 * number carries integers exactly only up to 2^53.
 *
 * Addresses: one text form per address and family. IPv4 is dotted quad
 * (never IPv4-mapped IPv6), IPv6 is RFC 5952 (inet_ntop's compressed,
 * lowercase form); "host:port" puts IPv6 in brackets.
 */
#ifndef ELB_JSON_H
#define ELB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "elb_flow.h"

#define ELB_DP_ERR_FIELD_MAX 128
#define ELB_DP_ERR_TEXT_MAX 384

/* The longest path kept; a longer one is cut (it only serves in messages). */
#define ELB_JSON_PATH_MAX ELB_DP_ERR_FIELD_MAX

/* A JSON number holds integers exactly up to 2^53: larger values would not
 * survive a round trip through the protocol. */
#define ELB_DP_MAX_JSON_INTEGER (1ull << 53)

/* Why something was refused. */
struct elb_dp_err {
	char field[ELB_DP_ERR_FIELD_MAX]; /* JSON path of the member at fault, "" if none */
	char text[ELB_DP_ERR_TEXT_MAX];   /* "<field>: <what is wrong>", for people */
};

/*
 * Fill err: field = path ("" or NULL for none), text = "<path>: <what>"
 * (just "<what>" without a path). err may be NULL.
 * @return -EINVAL, for `return elb_json_fail(...)`.
 */
int elb_json_fail(struct elb_dp_err *err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "out of memory", no field. @return -ENOMEM. */
int elb_json_nomem(struct elb_dp_err *err);

/* "<prefix>.<member>", or "<member>" when prefix is "" or NULL. buf holds
 * ELB_JSON_PATH_MAX bytes. Returns buf. */
char *elb_json_path_join(char *buf, const char *prefix, const char *member);
/* "<prefix>.<member>[<index>]" (or without "<prefix>."). Returns buf. */
char *elb_json_path_index(char *buf, const char *prefix, const char *member, uint32_t index);

/* Fails with "<path>: must be an object" unless json is an object. */
int elb_json_expect_object(const cJSON *json, const char *path, struct elb_dp_err *err);
/* Fails with "<prefix>.<name>: missing" if object has no member name. */
int elb_json_require(const cJSON *object, const char *prefix, const char *name,
		     struct elb_dp_err *err);
/*
 * Refuse members of object that are not in known (NULL-terminated, at most
 * 16 names): "unknown member", or given twice: "given twice" (cJSON would
 * keep the first of two members of one name silently). @return 0 or -EINVAL.
 */
int elb_dp_json_check_members(const cJSON *object, const char *prefix, const char *const *known,
			      struct elb_dp_err *err);
/*
 * A configuration file's JSON as indented text with one final newline (for
 * people who cat the file), written crash-safe (elb_atomic_write_file),
 * mode 0640. Takes json (NULL: building it ran out of memory) and deletes
 * it. Errors name the file: "<path>: cannot write: <errno text>".
 * @return 0, -ENOMEM, or the write's -errno.
 */
int elb_json_write_file(const char *path, cJSON *json, struct elb_dp_err *err);

/* Parses the text of a configuration file into *out (its own type). */
typedef int (*elb_json_file_parser)(const char *text, size_t len, void *out,
				    struct elb_dp_err *err);

/*
 * Read the file at path (at most max bytes) and parse it with parse. Every
 * error names the file: "<path>: larger than <max> bytes", "<path>:
 * <errno text>", or "<path>: <the parser's text>" with the parser's field
 * kept. err may be NULL.
 * @return parse's result, or -errno of the read (-EFBIG past max).
 */
int elb_json_load_file(const char *path, size_t max, elb_json_file_parser parse, void *out,
		       struct elb_dp_err *err);

/* An object with members among known only: elb_json_expect_object, then
 * elb_dp_json_check_members. */
int elb_json_expect_members(const cJSON *json, const char *path, const char *const *known,
			    struct elb_dp_err *err);

/*
 * Integer readers: "<path>: must be an integer in <min>..<max>" for a
 * member that is not a number, has a fraction or is out of range.
 */
int elb_json_read_uint(const cJSON *object, const char *prefix, const char *name, uint64_t min,
		       uint64_t max, uint64_t *out, struct elb_dp_err *err);
int elb_json_read_u32(const cJSON *object, const char *prefix, const char *name, uint32_t min,
		      uint32_t max, uint32_t *out, struct elb_dp_err *err);
int elb_json_read_u16(const cJSON *object, const char *prefix, const char *name, uint16_t min,
		      uint16_t max, uint16_t *out, struct elb_dp_err *err);
/* "<path>: must be a boolean". */
int elb_json_read_bool(const cJSON *object, const char *prefix, const char *name, bool *out,
		       struct elb_dp_err *err);
/* "<path>: must be a string". *out is NULL when absent, else the member's
 * own text (valid as long as object is). */
int elb_json_read_string(const cJSON *object, const char *prefix, const char *name,
			 const char **out, struct elb_dp_err *err);
/* A string that must be one of names[0..n) (NULL entries skipped): *out
 * is its index; "<path>: must be <expected>" otherwise. */
int elb_json_read_enum(const cJSON *object, const char *prefix, const char *name,
		       const char *const *names, size_t n, const char *expected, uint8_t *out,
		       struct elb_dp_err *err);
/*
 * An address of family `want` (ELB_AF_INET, ELB_AF_INET6, or 0 for
 * either): "<path>: must be an IPv4 address (got \"<text>\")" and the like,
 * "write an IPv4 address as IPv4, not IPv4-mapped IPv6" for ::ffff:a.b.c.d.
 * *present says whether the member was there.
 */
int elb_json_read_address(const cJSON *object, const char *prefix, const char *name,
			  uint8_t want, union elb_addr *addr, uint8_t *family, bool *present,
			  struct elb_dp_err *err);

/* What elb_json_read_address calls the family it wants: "an IPv4 address",
 * "an IPv6 address", "an IPv4 or IPv6 address". */
const char *elb_json_address_kind(uint8_t want);

/*
 * An address in either family; IPv4 in the first 4 bytes, the rest zero.
 * IPv4-mapped IPv6 addresses are refused so that one address has one
 * spelling and one family. @return 0, -EINVAL (not an address) or
 * -EAFNOSUPPORT (IPv4-mapped).
 */
int elb_addr_parse(const char *text, union elb_addr *addr, uint8_t *family);

/* Longest text elb_addr_format / elb_addr_port_format write, NUL included:
 * "[" + 45 characters of IPv6 + "]:65535". */
#define ELB_ADDR_TEXT_MAX 46
#define ELB_ADDR_PORT_TEXT_MAX 54

/*
 * "192.0.2.1", "2001:db8::1" (RFC 5952: lowercase, longest zero run
 * compressed); "?" for an unknown family or a buffer too small. Returns buf.
 */
const char *elb_addr_format(const union elb_addr *addr, uint8_t family, char *buf, size_t len);
/* "192.0.2.1:443", "[2001:db8::1]:443" (port in host order). Returns buf. */
const char *elb_addr_port_format(const union elb_addr *addr, uint8_t family, uint16_t port,
				 char *buf, size_t len);

/*
 * An unsigned integer as a JSON number written digit for digit. cJSON
 * prints numbers with 15 significant digits when that reads back within
 * one rounding step, which changes integers above 10^15 (byte counters
 * reach that in a day at 100 Gbit/s): use these for counters too. The node
 * is a cJSON "raw" item, exact in printed output.
 */
cJSON *elb_dp_json_u64(uint64_t value);
/* Add one to an object; returns the item, or NULL if out of memory. */
cJSON *elb_dp_json_add_u64(cJSON *object, const char *name, uint64_t value);

/*
 * One JSON document from a file: text (not necessarily NUL-terminated) must
 * be UTF-8 without NUL bytes, holding one JSON value and nothing but white
 * space after it. NULL with err set ("line L, column C: ...") otherwise.
 */
cJSON *elb_dp_json_parse_document(const char *text, size_t len, struct elb_dp_err *err);

#endif /* ELB_JSON_H */
