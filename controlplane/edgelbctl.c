/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelbctl: the operator's command line for edgelb-cp. One JSON-RPC
 * request per invocation over the operator socket; the answer is printed as
 * a table (or raw with --json). A JSON-RPC error is printed on stderr and
 * makes the exit status 1; usage errors give 2, a socket failure 3.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cjson/cJSON.h>

#define DEFAULT_SOCKET "/run/edgelb/cp.sock"
#define REPLY_MAX (64u << 20)
#define TIMEOUT_S 10

static void usage(FILE *out)
{
	fprintf(out,
		"usage: edgelbctl [--socket PATH] [--json] COMMAND ...\n"
		"  vip list\n"
		"  vip get VIP                      VIP is ADDRESS:PORT/PROTO, [V6]:PORT/PROTO\n"
		"  backend add VIP BACKEND [--weight N]\n"
		"  backend remove|drain|undrain VIP BACKEND\n"
		"  backend weight VIP BACKEND N\n"
		"  health | counters | config | dataplanes\n"
		"  call METHOD [PARAMS-JSON]        any method, raw\n");
}

/* "198.51.100.1:443/tcp" or "[2001:db8::1]:443/tcp" into params members. */
static int add_vip(cJSON *params, const char *text)
{
	char buf[128], *slash, *colon, *addr = buf;
	char *end;
	long port;

	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return -EINVAL;
	slash = strrchr(buf, '/');
	colon = strrchr(buf, ':');
	if (slash == NULL || colon == NULL || colon > slash)
		return -EINVAL;
	*slash = '\0';
	*colon = '\0';
	if (buf[0] == '[') {
		size_t n = strlen(buf);

		if (n < 2 || buf[n - 1] != ']')
			return -EINVAL;
		buf[n - 1] = '\0';
		addr = buf + 1;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	cJSON_AddStringToObject(params, "address", addr);
	cJSON_AddNumberToObject(params, "port", (double)port);
	cJSON_AddStringToObject(params, "protocol", slash + 1);
	return 0;
}

/* A weight as the server will check it: digits only here, so that "abc"
 * is not sent as 0; the range is the server's to judge (and name). */
static int add_weight(cJSON *params, const char *text)
{
	char *end;
	double value;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	value = strtod(text, &end);
	if (*end != '\0')
		return -EINVAL;
	cJSON_AddNumberToObject(params, "weight", value);
	return 0;
}

static int call(const char *path, const char *method, cJSON *params, cJSON **reply)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = TIMEOUT_S};
	cJSON *req = cJSON_CreateObject();
	char *line, *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, rc = 0;

	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddNumberToObject(req, "id", 1);
	cJSON_AddStringToObject(req, "method", method);
	if (params != NULL)
		cJSON_AddItemToObject(req, "params", params);
	line = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (line == NULL)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		free(line);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (size_t off = 0, n = strlen(line); off < n;) {
		ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);

		if (w < 0) {
			rc = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	if (send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (cap - len < 65536) {
			char *grown;

			cap = cap ? cap * 2 : 65536 * 2;
			if (cap > REPLY_MAX || (grown = realloc(buf, cap)) == NULL) {
				rc = -EFBIG;
				goto out;
			}
			buf = grown;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0) {
			rc = -ECONNRESET;
			goto out;
		}
		len += (size_t)r;
		if (memchr(buf, '\n', len) != NULL)
			break;
	}
	*reply = cJSON_ParseWithLength(buf, len);
	if (*reply == NULL)
		rc = -EBADMSG;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(buf);
	return rc;
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(i) ? i->valuestring : "-";
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(i) ? i->valuedouble : 0;
}

static const char *yes(const cJSON *o, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name)) ? "yes" : "no";
}

static void print_vips(const cJSON *result)
{
	const cJSON *v;

	printf("%-32s %8s %8s %8s %-6s %-8s\n", "VIP", "BACKENDS", "HEALTHY", "DRAINING", "CHECK",
	       "ALL_DOWN");
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
		printf("%-32s %8.0f %8.0f %8.0f %-6s %-8s\n", str(v, "vip"), num(v, "backends"),
		       num(v, "healthy"), num(v, "draining"), str(v, "health_check"),
		       yes(v, "all_down"));
}

static void print_backends(const cJSON *vip)
{
	const cJSON *b;

	printf("%s: %.0f backends, %.0f healthy, check %s%s\n", str(vip, "vip"),
	       num(vip, "backends"), num(vip, "healthy"), str(vip, "health_check"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(vip, "all_down"))
		       ? ", ALL DOWN (last healthy set kept)"
		       : "");
	printf("  %-40s %-9s %6s %-8s %-6s %8s %8s  %s\n", "BACKEND", "STATE", "WEIGHT", "HEALTH",
	       "PUSHED", "CHECKS", "FAILURES", "LAST_ERROR");
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(vip, "backend_health"))
		printf("  %-40s %-9s %6.0f %-8s %-6s %8.0f %8.0f  %s\n", str(b, "address"),
		       str(b, "state"), num(b, "weight"), str(b, "health"), yes(b, "pushed"),
		       num(b, "checks"), num(b, "failures"), str(b, "last_error"));
}

static double drops_total(const cJSON *v)
{
	const cJSON *d;
	double total = 0;

	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(v, "drops"))
		if (cJSON_IsNumber(d))
			total += d->valuedouble;
	return total;
}

static void print_counters(const cJSON *result)
{
	const cJSON *v;

	printf("%-32s %14s %14s %12s %12s %8s\n", "VIP", "RX_PACKETS", "FWD_PACKETS", "NEW_FLOWS",
	       "DROPS", "HEALTHY");
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
	{
		const cJSON *rx = cJSON_GetObjectItemCaseSensitive(v, "rx");
		const cJSON *fwd = cJSON_GetObjectItemCaseSensitive(v, "forwarded");

		printf("%-32s %14.0f %14.0f %12.0f %12.0f %4.0f/%-3.0f\n", str(v, "vip"),
		       num(rx, "packets"), num(fwd, "packets"), num(v, "new_flows"), drops_total(v),
		       num(v, "healthy"), num(v, "backends"));
	}
}

static void print_dataplanes(const cJSON *result)
{
	const cJSON *d;

	printf("%-16s %-9s %-18s %10s %-7s %8s  %s\n", "DATAPLANE", "CONNECTED", "INSTANCE",
	       "PUSH_EPOCH", "IN_SYNC", "RESTARTS", "LAST_ERROR");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(result, "dataplanes"))
		printf("%-16s %-9s %-18s %10.0f %-7s %8.0f  %s\n", str(d, "name"),
		       yes(d, "connected"), str(d, "instance"), num(d, "last_push_epoch"),
		       yes(d, "in_sync"), num(d, "restarts"), str(d, "last_error"));
}

static void print_pretty(const cJSON *item)
{
	char *text = cJSON_Print(item);

	if (text != NULL)
		puts(text);
	free(text);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_SOCKET, *method = NULL, *what;
	bool json = false;
	cJSON *params = cJSON_CreateObject(), *reply = NULL;
	const cJSON *result, *error;
	int opt, rc, nargs;
	char **args;

	while ((opt = getopt_long(argc, argv, "+s:jh", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			cJSON_Delete(params);
			return 0;
		default:
			goto bad_usage;
		}
	}
	args = argv + optind;
	nargs = argc - optind;
	if (nargs < 1)
		goto bad_usage;
	what = args[0];
	if (strcmp(what, "vip") == 0 && nargs == 2 && strcmp(args[1], "list") == 0) {
		method = "vip.list";
	} else if (strcmp(what, "vip") == 0 && nargs == 3 && strcmp(args[1], "get") == 0) {
		method = "vip.get";
		if (add_vip(params, args[2]) < 0)
			goto bad_vip;
	} else if (strcmp(what, "backend") == 0 && nargs >= 4) {
		static const char *const ops[][2] = {{"add", "backend.add"},
						     {"remove", "backend.remove"},
						     {"drain", "backend.drain"},
						     {"undrain", "backend.undrain"},
						     {"weight", "backend.weight"}};
		int extra = nargs - 4;

		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (strcmp(args[1], ops[i][0]) == 0)
				method = ops[i][1];
		if (method == NULL)
			goto bad_usage;
		if (add_vip(params, args[2]) < 0)
			goto bad_vip;
		cJSON_AddStringToObject(params, "backend", args[3]);
		if (strcmp(args[1], "weight") == 0 && extra == 1) {
			if (add_weight(params, args[4]) < 0)
				goto bad_usage;
		} else if (strcmp(args[1], "add") == 0 && extra == 2 &&
			   strcmp(args[4], "--weight") == 0) {
			if (add_weight(params, args[5]) < 0)
				goto bad_usage;
		} else if (extra != 0 || strcmp(args[1], "weight") == 0)
			goto bad_usage;
	} else if (nargs == 1 && strcmp(what, "health") == 0) {
		method = "health.get";
	} else if (nargs == 1 && strcmp(what, "counters") == 0) {
		method = "counters.get";
	} else if (nargs == 1 && strcmp(what, "config") == 0) {
		method = "config.get";
	} else if (nargs == 1 && strcmp(what, "dataplanes") == 0) {
		method = "dataplanes.get";
	} else if (strcmp(what, "call") == 0 && (nargs == 2 || nargs == 3)) {
		method = args[1];
		if (nargs == 3) {
			cJSON_Delete(params);
			params = cJSON_Parse(args[2]);
			if (params == NULL) {
				fprintf(stderr, "edgelbctl: PARAMS is not JSON\n");
				return 2;
			}
		}
	} else {
		goto bad_usage;
	}

	rc = call(path, method, params, &reply);
	if (rc < 0) {
		fprintf(stderr, "edgelbctl: %s: %s\n", path, strerror(-rc));
		return 3;
	}
	error = cJSON_GetObjectItemCaseSensitive(reply, "error");
	result = cJSON_GetObjectItemCaseSensitive(reply, "result");
	if (error != NULL) {
		if (json)
			print_pretty(reply);
		fprintf(stderr, "edgelbctl: error %.0f: %s\n", num(error, "code"),
			str(error, "message"));
		cJSON_Delete(reply);
		return 1;
	}
	if (json || strcmp(what, "call") == 0)
		print_pretty(result);
	else if (strcmp(method, "vip.list") == 0)
		print_vips(result);
	else if (strcmp(method, "vip.get") == 0)
		print_backends(cJSON_GetObjectItemCaseSensitive(result, "health"));
	else if (strcmp(method, "health.get") == 0) {
		const cJSON *v;

		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(result, "vips"))
			print_backends(v);
	} else if (strcmp(method, "counters.get") == 0)
		print_counters(result);
	else if (strcmp(method, "dataplanes.get") == 0)
		print_dataplanes(result);
	else if (strcmp(method, "config.get") == 0)
		print_pretty(cJSON_GetObjectItemCaseSensitive(result, "config"));
	else
		printf("ok (generation %.0f)\n", num(result, "generation"));
	cJSON_Delete(reply);
	return 0;

bad_vip:
	fprintf(stderr, "edgelbctl: a VIP is ADDRESS:PORT/PROTO, e.g. 198.51.100.1:443/tcp\n");
	cJSON_Delete(params);
	return 2;
bad_usage:
	usage(stderr);
	cJSON_Delete(params);
	return 2;
}
