/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON member readers, error paths and address text; see elb_json.h.
 */
#include "elb_json.h"
#include "elb_file.h"
#include "elb_utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Errors and paths */

int elb_json_fail(struct elb_dp_err *err, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (err == NULL)
		return -EINVAL;
	snprintf(err->field, sizeof(err->field), "%s", path != NULL ? path : "");
	if (err->field[0] != '\0') {
		n = snprintf(err->text, sizeof(err->text), "%s: ", err->field);
		if (n < 0 || (size_t)n >= sizeof(err->text))
			n = 0;
	}
	va_start(ap, fmt);
	vsnprintf(err->text + n, sizeof(err->text) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int elb_json_nomem(struct elb_dp_err *err)
{
	if (err != NULL) {
		err->field[0] = '\0';
		snprintf(err->text, sizeof(err->text), "out of memory");
	}
	return -ENOMEM;
}

char *elb_json_path_join(char *buf, const char *prefix, const char *member)
{
	int n;

	if (prefix == NULL || prefix[0] == '\0')
		n = snprintf(buf, ELB_JSON_PATH_MAX, "%s", member);
	else
		n = snprintf(buf, ELB_JSON_PATH_MAX, "%s.%s", prefix, member);
	if (n < 0)
		buf[0] = '\0';
	return buf;
}

char *elb_json_path_index(char *buf, const char *prefix, const char *member, uint32_t index)
{
	int n;

	if (prefix == NULL || prefix[0] == '\0')
		n = snprintf(buf, ELB_JSON_PATH_MAX, "%s[%" PRIu32 "]", member, index);
	else
		n = snprintf(buf, ELB_JSON_PATH_MAX, "%s.%s[%" PRIu32 "]", prefix, member, index);
	if (n < 0)
		buf[0] = '\0';
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Members */

static const cJSON *member(const cJSON *object, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(object, name);
}

int elb_json_expect_object(const cJSON *json, const char *path, struct elb_dp_err *err)
{
	if (!cJSON_IsObject(json))
		return elb_json_fail(err, path, "must be an object");
	return 0;
}

int elb_json_require(const cJSON *object, const char *prefix, const char *name,
		     struct elb_dp_err *err)
{
	char path[ELB_JSON_PATH_MAX];

	if (member(object, name) != NULL)
		return 0;
	return elb_json_fail(err, elb_json_path_join(path, prefix, name), "missing");
}

int elb_dp_json_check_members(const cJSON *object, const char *prefix, const char *const *known,
			      struct elb_dp_err *err)
{
	unsigned int seen[16] = {0};
	const cJSON *child;
	char path[ELB_JSON_PATH_MAX];

	cJSON_ArrayForEach(child, object)
	{
		size_t i;

		for (i = 0; known[i] != NULL && i < ELB_ARRAY_SIZE(seen); i++)
			if (child->string != NULL && strcmp(child->string, known[i]) == 0)
				break;
		elb_json_path_join(path, prefix, child->string != NULL ? child->string : "?");
		if (known[i] == NULL || i == ELB_ARRAY_SIZE(seen))
			return elb_json_fail(err, path, "unknown member");
		if (seen[i]++ > 0)
			return elb_json_fail(err, path, "given twice");
	}
	return 0;
}

int elb_json_write_file(const char *path, cJSON *json, struct elb_dp_err *err)
{
	char *printed = json != NULL ? cJSON_Print(json) : NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	cJSON_Delete(json);
	/* cJSON_Print leaves the newline out and its buffer has no room for it. */
	if (printed != NULL) {
		len = strlen(printed);
		text = malloc(len + 1);
	}
	if (text == NULL) {
		cJSON_free(printed);
		return elb_json_nomem(err);
	}
	memcpy(text, printed, len);
	text[len++] = '\n';
	cJSON_free(printed);
	rc = elb_atomic_write_file(path, text, len, 0640);
	free(text);
	if (rc < 0)
		elb_json_fail(err, "", "%s: cannot write: %s", path, strerror(-rc));
	return rc;
}

int elb_json_load_file(const char *path, size_t max, elb_json_file_parser parse, void *out,
		       struct elb_dp_err *err)
{
	struct elb_dp_err inner;
	char *text;
	size_t len;
	int rc;

	rc = elb_read_file(path, max, &text, &len);
	if (rc < 0) {
		if (rc == -EFBIG)
			elb_json_fail(err, "", "%s: larger than %zu bytes", path, max);
		else
			elb_json_fail(err, "", "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = parse(text, len, out, &inner);
	free(text);
	if (rc < 0 && err != NULL) {
		memcpy(err->field, inner.field, sizeof(err->field));
		if (snprintf(err->text, sizeof(err->text), "%s: %s", path, inner.text) < 0)
			memcpy(err->text, inner.text, sizeof(err->text));
	}
	return rc;
}

int elb_json_expect_members(const cJSON *json, const char *path, const char *const *known,
			    struct elb_dp_err *err)
{
	int rc = elb_json_expect_object(json, path, err);

	return rc < 0 ? rc : elb_dp_json_check_members(json, path, known, err);
}

int elb_json_read_uint(const cJSON *object, const char *prefix, const char *name, uint64_t min,
		       uint64_t max, uint64_t *out, struct elb_dp_err *err)
{
	const cJSON *item = member(object, name);
	char path[ELB_JSON_PATH_MAX];
	double d;

	if (item == NULL)
		return 0;
	d = item->valuedouble;
	/* In range first: the cast is only defined for values that fit. */
	if (!cJSON_IsNumber(item) || !(d >= (double)min && d <= (double)max) ||
	    d != (double)(uint64_t)d)
		return elb_json_fail(err, elb_json_path_join(path, prefix, name),
				     "must be an integer in %" PRIu64 "..%" PRIu64, min, max);
	*out = (uint64_t)d;
	return 0;
}

int elb_json_read_u32(const cJSON *object, const char *prefix, const char *name, uint32_t min,
		      uint32_t max, uint32_t *out, struct elb_dp_err *err)
{
	uint64_t v = *out;
	int rc = elb_json_read_uint(object, prefix, name, min, max, &v, err);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

int elb_json_read_u16(const cJSON *object, const char *prefix, const char *name, uint16_t min,
		      uint16_t max, uint16_t *out, struct elb_dp_err *err)
{
	uint64_t v = *out;
	int rc = elb_json_read_uint(object, prefix, name, min, max, &v, err);

	if (rc == 0)
		*out = (uint16_t)v;
	return rc;
}

/* The optional member name of object, of the type `is` accepts: *item
 * (NULL when absent), or "<path>: must be <what>". */
static int typed_member(const cJSON *object, const char *prefix, const char *name,
			cJSON_bool (*is)(const cJSON *), const char *what, const cJSON **item,
			struct elb_dp_err *err)
{
	char path[ELB_JSON_PATH_MAX];

	*item = member(object, name);
	if (*item == NULL || is(*item))
		return 0;
	return elb_json_fail(err, elb_json_path_join(path, prefix, name), "must be %s", what);
}

int elb_json_read_bool(const cJSON *object, const char *prefix, const char *name, bool *out,
		       struct elb_dp_err *err)
{
	const cJSON *item;
	int rc = typed_member(object, prefix, name, cJSON_IsBool, "a boolean", &item, err);

	if (rc == 0 && item != NULL)
		*out = cJSON_IsTrue(item);
	return rc;
}

int elb_json_read_string(const cJSON *object, const char *prefix, const char *name,
			 const char **out, struct elb_dp_err *err)
{
	const cJSON *item;
	int rc = typed_member(object, prefix, name, cJSON_IsString, "a string", &item, err);

	*out = rc == 0 && item != NULL ? item->valuestring : NULL;
	return rc;
}

int elb_json_read_enum(const cJSON *object, const char *prefix, const char *name,
		       const char *const *names, size_t n, const char *expected, uint8_t *out,
		       struct elb_dp_err *err)
{
	const char *text;
	char path[ELB_JSON_PATH_MAX];
	int rc = elb_json_read_string(object, prefix, name, &text, err);

	if (rc < 0 || text == NULL)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (names[i] != NULL && strcmp(text, names[i]) == 0) {
			*out = (uint8_t)i;
			return 0;
		}
	}
	return elb_json_fail(err, elb_json_path_join(path, prefix, name), "must be %s", expected);
}

const char *elb_json_address_kind(uint8_t want)
{
	return want == ELB_AF_INET    ? "an IPv4 address"
	       : want == ELB_AF_INET6 ? "an IPv6 address"
				      : "an IPv4 or IPv6 address";
}

int elb_json_read_address(const cJSON *object, const char *prefix, const char *name,
			  uint8_t want, union elb_addr *addr, uint8_t *family, bool *present,
			  struct elb_dp_err *err)
{
	const char *text;
	char path[ELB_JSON_PATH_MAX];
	union elb_addr a;
	uint8_t f;
	int rc;

	*present = false;
	elb_json_path_join(path, prefix, name);
	rc = elb_json_read_string(object, prefix, name, &text, err);
	if (rc < 0 || text == NULL)
		return rc;
	rc = elb_addr_parse(text, &a, &f);
	if (rc == -EAFNOSUPPORT)
		return elb_json_fail(err, path,
				     "write an IPv4 address as IPv4, not IPv4-mapped IPv6");
	if (rc < 0 || (want != 0 && f != want))
		return elb_json_fail(err, path, "must be %s (got \"%.46s\")",
				     elb_json_address_kind(want), text);
	*addr = a;
	*family = f;
	*present = true;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Addresses */

int elb_addr_parse(const char *text, union elb_addr *addr, uint8_t *family)
{
	static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	union elb_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, text, &a.v4) == 1) {
		*addr = a;
		*family = ELB_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, a.v6) != 1)
		return -EINVAL;
	if (memcmp(a.v6, v4_mapped, sizeof(v4_mapped)) == 0)
		return -EAFNOSUPPORT;
	*addr = a;
	*family = ELB_AF_INET6;
	return 0;
}

const char *elb_addr_format(const union elb_addr *addr, uint8_t family, char *buf, size_t len)
{
	int af = family == ELB_AF_INET ? AF_INET : family == ELB_AF_INET6 ? AF_INET6 : -1;

	if (len == 0)
		return buf;
	if (af < 0 || inet_ntop(af, addr->v6, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

const char *elb_addr_port_format(const union elb_addr *addr, uint8_t family, uint16_t port,
				 char *buf, size_t len)
{
	char text[ELB_ADDR_TEXT_MAX];

	elb_addr_format(addr, family, text, sizeof(text));
	if (family == ELB_AF_INET6)
		snprintf(buf, len, "[%s]:%u", text, port);
	else
		snprintf(buf, len, "%s:%u", text, port);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Numbers out, documents in */

cJSON *elb_dp_json_u64(uint64_t value)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, value);
	return cJSON_CreateRaw(text);
}

cJSON *elb_dp_json_add_u64(cJSON *object, const char *name, uint64_t value)
{
	cJSON *item = elb_dp_json_u64(value);

	if (item == NULL || !cJSON_AddItemToObject(object, name, item)) {
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}

/* Line and column (from 1) of byte `offset` of text. */
static void text_position(const char *text, size_t offset, unsigned int *line, unsigned int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < offset; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

cJSON *elb_dp_json_parse_document(const char *text, size_t len, struct elb_dp_err *err)
{
	const char *end = NULL;
	unsigned int line, col;
	const char *nul;
	size_t bad;
	cJSON *json;

	/* cJSON would end strings at a NUL byte and take the rest as valid. */
	nul = memchr(text, '\0', len);
	if (nul != NULL) {
		text_position(text, (size_t)(nul - text), &line, &col);
		elb_json_fail(err, "", "line %u, column %u: NUL byte in the text", line, col);
		return NULL;
	}
	if (!elb_utf8_valid(text, len, &bad)) {
		text_position(text, bad, &line, &col);
		elb_json_fail(err, "", "line %u, column %u: not valid UTF-8", line, col);
		return NULL;
	}
	json = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (json != NULL) {
		/* Anything but white space after the value is an error too. */
		while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' ||
					    *end == '\r'))
			end++;
		if (end < text + len) {
			cJSON_Delete(json);
			json = NULL;
		}
	}
	if (json == NULL) {
		size_t offset = end != NULL && end >= text && end <= text + len
					? (size_t)(end - text)
					: len;

		text_position(text, offset, &line, &col);
		elb_json_fail(err, "", "line %u, column %u: not valid JSON", line, col);
		return NULL;
	}
	return json;
}
