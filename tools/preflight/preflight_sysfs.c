/* SPDX-License-Identifier: BSD-3-Clause */
#include "preflight_sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void pf_cpuset_clear(struct pf_cpuset *set)
{
	memset(set, 0, sizeof(*set));
}

void pf_cpuset_add(struct pf_cpuset *set, unsigned int cpu)
{
	if (cpu < PF_MAX_CPUS)
		set->bits[cpu / 64] |= 1ull << (cpu % 64);
}

bool pf_cpuset_has(const struct pf_cpuset *set, unsigned int cpu)
{
	return cpu < PF_MAX_CPUS && (set->bits[cpu / 64] >> (cpu % 64) & 1);
}

unsigned int pf_cpuset_count(const struct pf_cpuset *set)
{
	unsigned int n = 0;

	for (size_t i = 0; i < PF_MAX_CPUS / 64; i++)
		n += (unsigned int)__builtin_popcountll(set->bits[i]);
	return n;
}

int pf_cpuset_next(const struct pf_cpuset *set, int cpu)
{
	for (unsigned int c = (unsigned int)(cpu + 1); c < PF_MAX_CPUS; c++) {
		uint64_t word = set->bits[c / 64] >> (c % 64);

		if (word == 0) {
			c |= 63; /* the rest of this word is empty */
			continue;
		}
		return (int)(c + (unsigned int)__builtin_ctzll(word));
	}
	return -1;
}

int pf_cpuset_first(const struct pf_cpuset *set)
{
	return pf_cpuset_next(set, -1);
}

bool pf_cpuset_is_subset(const struct pf_cpuset *small, const struct pf_cpuset *big)
{
	for (size_t i = 0; i < PF_MAX_CPUS / 64; i++)
		if (small->bits[i] & ~big->bits[i])
			return false;
	return true;
}

bool pf_cpuset_intersects(const struct pf_cpuset *a, const struct pf_cpuset *b)
{
	for (size_t i = 0; i < PF_MAX_CPUS / 64; i++)
		if (a->bits[i] & b->bits[i])
			return true;
	return false;
}

void pf_cpuset_or(struct pf_cpuset *dst, const struct pf_cpuset *src)
{
	for (size_t i = 0; i < PF_MAX_CPUS / 64; i++)
		dst->bits[i] |= src->bits[i];
}

void pf_cpuset_andnot(struct pf_cpuset *dst, const struct pf_cpuset *a, const struct pf_cpuset *b)
{
	for (size_t i = 0; i < PF_MAX_CPUS / 64; i++)
		dst->bits[i] = a->bits[i] & ~b->bits[i];
}

/* One CPU number of a list; "N" is the last CPU when the caller allows it. */
static int parse_cpu_number(const char **p, int last_cpu, unsigned long *out)
{
	char *end;

	if (**p == 'N' && last_cpu >= 0) {
		*out = (unsigned long)last_cpu;
		(*p)++;
		return 0;
	}
	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	errno = 0;
	*out = strtoul(*p, &end, 10);
	if (errno || *out >= PF_MAX_CPUS)
		return -EINVAL;
	*p = end;
	return 0;
}

int pf_cpuset_parse(const char *list, int last_cpu, struct pf_cpuset *out)
{
	struct pf_cpuset set;
	const char *p = list;

	pf_cpuset_clear(&set);
	while (isspace((unsigned char)*p))
		p++;
	while (*p && !isspace((unsigned char)*p)) {
		unsigned long first, last;

		if (parse_cpu_number(&p, last_cpu, &first))
			return -EINVAL;
		last = first;
		if (*p == '-') {
			p++;
			if (parse_cpu_number(&p, last_cpu, &last) || last < first)
				return -EINVAL;
		}
		for (unsigned long cpu = first; cpu <= last; cpu++)
			pf_cpuset_add(&set, (unsigned int)cpu);
		if (*p == ',')
			p++;
		else if (*p && !isspace((unsigned char)*p))
			return -EINVAL;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p)
		return -EINVAL;
	*out = set;
	return 0;
}

const char *pf_cpuset_format(const struct pf_cpuset *set, char *buf, size_t len)
{
	size_t used = 0;
	int cpu = pf_cpuset_first(set);

	if (len == 0)
		return buf;
	buf[0] = '\0';
	while (cpu >= 0) {
		int last = cpu, next;
		int n;

		while ((next = pf_cpuset_next(set, last)) == last + 1)
			last = next;
		if (last == cpu)
			n = snprintf(buf + used, len - used, "%s%d", used ? "," : "", cpu);
		else
			n = snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", cpu, last);
		if (n < 0 || (size_t)n >= len - used)
			break; /* truncated: what fits stays */
		used += (size_t)n;
		cpu = next;
	}
	return buf;
}

int pf_format(char *buf, size_t len, const char *format, ...)
{
	va_list ap;
	int n;

	va_start(ap, format);
	n = vsnprintf(buf, len, format, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int pf_path(const char *root, const char *path, char *out, size_t len)
{
	size_t root_len = strlen(root);
	int n;

	/* "/" + "/proc/x" is "/proc/x"; "fixtures/a/" + "/proc/x" likewise. */
	while (root_len > 0 && root[root_len - 1] == '/')
		root_len--;
	n = snprintf(out, len, "%.*s%s%s", (int)root_len, root, path[0] == '/' ? "" : "/", path);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int pf_read_text(const char *root, const char *path, char *buf, size_t len)
{
	/* All len bytes read: there is no room left for the NUL, the file is
	 * longer than the caller allows. */
	int n = pf_read_bytes(root, path, buf, len);
	size_t total;

	if (n < 0)
		return n;
	total = (size_t)n;
	if (total >= len)
		return -EFBIG;
	while (total > 0 && (buf[total - 1] == '\n' || buf[total - 1] == ' '))
		total--;
	buf[total] = '\0';
	return (int)total;
}

int pf_read_long(const char *root, const char *path, long *out)
{
	char text[64], *end;
	long value;
	int rc = pf_read_text(root, path, text, sizeof(text));

	if (rc < 0)
		return rc;
	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || end == text || *end)
		return -EINVAL;
	*out = value;
	return 0;
}

int pf_read_link_name(const char *root, const char *path, char *buf, size_t len)
{
	char full[PF_PATH_MAX], target[PF_PATH_MAX];
	const char *name;
	ssize_t n;
	int rc = pf_path(root, path, full, sizeof(full));

	if (rc)
		return rc;
	n = readlink(full, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	name = strrchr(target, '/');
	name = name ? name + 1 : target;
	if (strlen(name) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, name);
	return (int)strlen(buf);
}

bool pf_exists(const char *root, const char *path)
{
	char full[PF_PATH_MAX];
	struct stat st;

	return pf_path(root, path, full, sizeof(full)) == 0 && stat(full, &st) == 0;
}

/*
 * The entries of root/dir whose name starts with prefix ("." and ".."
 * aside): how many; or, with first, 1 once the first that fits in len
 * bytes is copied there (0: none). -errno when dir cannot be read.
 */
static int scan_entries(const char *root, const char *dir, const char *prefix, char *first,
			size_t len)
{
	char full[PF_PATH_MAX];
	struct dirent *e;
	size_t prefix_len = strlen(prefix);
	DIR *d;
	int n = 0, rc;

	rc = pf_path(root, dir, full, sizeof(full));
	if (rc)
		return rc;
	d = opendir(full);
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strncmp(e->d_name, prefix, prefix_len) != 0)
			continue;
		if (first == NULL) {
			n++;
		} else if (strlen(e->d_name) < len) {
			strcpy(first, e->d_name);
			n = 1;
			break;
		}
	}
	closedir(d);
	return n;
}

int pf_first_entry(const char *root, const char *dir, const char *prefix, char *buf, size_t len)
{
	return scan_entries(root, dir, prefix, buf, len);
}

int pf_read_bytes(const char *root, const char *path, char *buf, size_t len)
{
	char full[PF_PATH_MAX];
	size_t total = 0;
	ssize_t got = 0;
	int fd, rc;

	rc = pf_path(root, path, full, sizeof(full));
	if (rc)
		return rc;
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* sysfs and procfs files may arrive in several reads. */
	while (total < len && (got = read(fd, buf + total, len - total)) > 0)
		total += (size_t)got;
	rc = got < 0 ? -errno : 0;
	close(fd);
	return rc ? rc : (int)total;
}

int pf_meminfo_kib(const char *root, const char *name, uint64_t *kib)
{
	char full[PF_PATH_MAX], line[256];
	size_t name_len = strlen(name);
	int rc = pf_path(root, "/proc/meminfo", full, sizeof(full));
	FILE *f;

	if (rc)
		return rc;
	f = fopen(full, "re");
	if (f == NULL)
		return -errno;
	rc = -ENOENT;
	while (rc == -ENOENT && fgets(line, sizeof(line), f)) {
		unsigned long long value;

		if (strncmp(line, name, name_len) == 0 && line[name_len] == ':' &&
		    sscanf(line + name_len + 1, "%llu", &value) == 1) {
			*kib = value;
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

int pf_count_entries(const char *root, const char *dir, const char *prefix)
{
	return scan_entries(root, dir, prefix, NULL, 0);
}

int pf_each_mount(const char *root,
		  int (*fn)(const char *where, const char *type, const char *options, void *arg),
		  void *arg)
{
	char full[PF_PATH_MAX], line[4096];
	FILE *f;
	int rc = pf_path(root, "/proc/mounts", full, sizeof(full));

	if (rc)
		return rc;
	f = fopen(full, "re");
	if (f == NULL)
		return -errno;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char device[1024], where[1024], type[64], opts[1024];

		/* device mount-point type options dump pass; fields never hold
		 * white space (the kernel writes it as \040). */
		if (sscanf(line, "%1023s %1023s %63s %1023s", device, where, type, opts) != 4)
			continue;
		rc = fn(where, type, opts, arg);
	}
	fclose(f);
	return rc;
}

struct mount_query {
	const char *fs_type;
	const char *mount_point;
	char *options;
	size_t options_len;
};

static int match_mount(const char *where, const char *type, const char *options, void *arg)
{
	struct mount_query *q = arg;

	if (strcmp(type, q->fs_type) != 0)
		return 0;
	if (q->mount_point && strcmp(where, q->mount_point) != 0)
		return 0;
	if (q->options && q->options_len)
		snprintf(q->options, q->options_len, "%s", options);
	return 1;
}

int pf_find_mount(const char *root, const char *fs_type, const char *mount_point, char *options,
		  size_t options_len)
{
	struct mount_query q = {fs_type, mount_point, options, options_len};

	return pf_each_mount(root, match_mount, &q);
}

int pf_cmdline_param(const char *root, const char *name, char *buf, size_t len)
{
	char cmdline[8192];
	size_t name_len = strlen(name);
	const char *p;
	int rc = pf_read_text(root, "/proc/cmdline", cmdline, sizeof(cmdline)), found = 0;

	if (rc < 0)
		return rc;
	p = cmdline;
	while (*p) {
		const char *word_end;

		while (*p == ' ')
			p++;
		/* Everything after "--" is for init, not for the kernel. */
		if (strncmp(p, "-- ", 3) == 0 || strcmp(p, "--") == 0)
			break;
		word_end = strchr(p, ' ');
		if (word_end == NULL)
			word_end = p + strlen(p);
		if ((size_t)(word_end - p) >= name_len && strncmp(p, name, name_len) == 0 &&
		    (p[name_len] == '=' || p + name_len == word_end)) {
			const char *value = p[name_len] == '=' ? p + name_len + 1 : word_end;

			snprintf(buf, len, "%.*s", (int)(word_end - value), value);
			found = 1;
		}
		p = word_end;
	}
	return found;
}

int pf_online_cpus(const char *root, struct pf_cpuset *out)
{
	char text[4096];
	int rc = pf_read_text(root, "/sys/devices/system/cpu/online", text, sizeof(text));

	if (rc < 0)
		return rc;
	return pf_cpuset_parse(text, -1, out);
}

int pf_cpu_nodes(const char *root, int node_of[PF_MAX_CPUS])
{
	char path[PF_PATH_MAX], dir_path[PF_PATH_MAX], text[4096];
	struct dirent *e;
	int nodes = 0, rc;
	DIR *d;

	for (int cpu = 0; cpu < PF_MAX_CPUS; cpu++)
		node_of[cpu] = -1;
	rc = pf_path(root, "/sys/devices/system/node", dir_path, sizeof(dir_path));
	if (rc)
		return rc;
	d = opendir(dir_path);
	if (d == NULL) {
		/* No NUMA in this kernel: one node holds everything. */
		for (int cpu = 0; cpu < PF_MAX_CPUS; cpu++)
			node_of[cpu] = 0;
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		struct pf_cpuset cpus;
		char *end;
		long node;

		if (strncmp(e->d_name, "node", 4) != 0 || !isdigit((unsigned char)e->d_name[4]))
			continue;
		node = strtol(e->d_name + 4, &end, 10);
		if (*end)
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/node/%s/cpulist", e->d_name);
		if (pf_read_text(root, path, text, sizeof(text)) < 0 ||
		    pf_cpuset_parse(text, -1, &cpus))
			continue;
		for (int cpu = pf_cpuset_first(&cpus); cpu >= 0; cpu = pf_cpuset_next(&cpus, cpu))
			node_of[cpu] = (int)node;
		nodes++;
	}
	closedir(d);
	if (nodes == 0) {
		for (int cpu = 0; cpu < PF_MAX_CPUS; cpu++)
			node_of[cpu] = 0;
		nodes = 1;
	}
	return nodes;
}

/* Calls fn for each line of /proc/cpuinfo until it returns true. */
static bool cpuinfo_any_line(const char *root, bool (*fn)(const char *line, void *arg), void *arg)
{
	char full[PF_PATH_MAX], line[8192];
	bool hit = false;
	FILE *f;

	if (pf_path(root, "/proc/cpuinfo", full, sizeof(full)))
		return false;
	f = fopen(full, "re");
	if (f == NULL)
		return false;
	while (!hit && fgets(line, sizeof(line), f))
		hit = fn(line, arg);
	fclose(f);
	return hit;
}

static bool line_has_hypervisor_flag(const char *line, void *arg)
{
	const char *p;

	(void)arg;
	if (strncmp(line, "flags", 5) != 0)
		return false;
	p = strstr(line, " hypervisor");
	return p && (p[11] == ' ' || p[11] == '\n' || p[11] == '\0');
}

bool pf_is_virtual_machine(const char *root)
{
	return cpuinfo_any_line(root, line_has_hypervisor_flag, NULL);
}

struct vendor_out {
	char *buf;
	size_t len;
};

static bool line_vendor(const char *line, void *arg)
{
	struct vendor_out *out = arg;
	const char *colon;

	if (strncmp(line, "vendor_id", 9) != 0 || (colon = strchr(line, ':')) == NULL)
		return false;
	colon++;
	while (*colon == ' ' || *colon == '\t')
		colon++;
	snprintf(out->buf, out->len, "%.*s", (int)strcspn(colon, " \n"), colon);
	return true;
}

void pf_cpu_vendor(const char *root, char *buf, size_t len)
{
	struct vendor_out out = {buf, len};

	if (len)
		buf[0] = '\0';
	cpuinfo_any_line(root, line_vendor, &out);
}

int pf_find_process(const char *root, const char *comm, long *pid)
{
	char dir_path[PF_PATH_MAX], path[PF_PATH_MAX], name[64];
	struct dirent *e;
	int found = 0, rc;
	DIR *d;

	rc = pf_path(root, "/proc", dir_path, sizeof(dir_path));
	if (rc)
		return rc;
	d = opendir(dir_path);
	if (d == NULL)
		return -errno;
	while (!found && (e = readdir(d)) != NULL) {
		char *end;
		long n;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		n = strtol(e->d_name, &end, 10);
		if (*end)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		/* A process may exit between readdir and the read: skip it. */
		if (pf_read_text(root, path, name, sizeof(name)) < 0)
			continue;
		if (strcmp(name, comm) == 0) {
			*pid = n;
			found = 1;
		}
	}
	closedir(d);
	return found;
}

int pf_parse_size(const char *text, uint64_t *bytes)
{
	char *end;
	unsigned long long value;
	unsigned int shift = 0;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || end == text)
		return -EINVAL;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		/* hugetlbfs accepts "2M" and "2MB"; sysfs names say "2048kB". */
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (value > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (uint64_t)value << shift;
	return 0;
}

const char *pf_format_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned int unit = 0;
	uint64_t value = bytes;

	/* Whole units only when exact, else one decimal: "1.5 GiB". */
	while (unit + 1 < sizeof(units) / sizeof(units[0]) && value >= 1024) {
		value /= 1024;
		unit++;
	}
	if (unit == 0 || bytes % (1ull << (10 * unit)) == 0)
		snprintf(buf, len, "%" PRIu64 " %s", value, units[unit]);
	else
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)(1ull << (10 * unit)),
			 units[unit]);
	return buf;
}
