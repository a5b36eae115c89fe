/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What edgelb-preflight reads of the host: files under /sys and /proc, every
 * path prefixed by a root directory ("/" on a real host, a small fixture
 * tree in tests), so that each check can be run on a host that is not this
 * one. Nothing here writes anything; nothing exits. Every function returns
 * 0 (or a count) on success and -errno on failure.
 *
 * CPU lists are the kernel's list syntax ("0-3,8,10-11"), as in
 * /sys/devices/system/cpu/online, isolcpus= and EAL's -l.
 */
#ifndef PREFLIGHT_SYSFS_H
#define PREFLIGHT_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kernel's NR_CPUS maximum on x86-64 is 8192; no edge node comes near
 * 4096, and a fixed bitmap keeps every set a plain value. */
#define PF_MAX_CPUS 4096
#define PF_PATH_MAX 4096

struct pf_cpuset {
	uint64_t bits[PF_MAX_CPUS / 64];
};

void pf_cpuset_clear(struct pf_cpuset *set);
void pf_cpuset_add(struct pf_cpuset *set, unsigned int cpu);
bool pf_cpuset_has(const struct pf_cpuset *set, unsigned int cpu);
unsigned int pf_cpuset_count(const struct pf_cpuset *set);
/* Lowest CPU of the set, or -1 when empty. */
int pf_cpuset_first(const struct pf_cpuset *set);
/* Next CPU after `cpu` (-1 to start), or -1 when none. */
int pf_cpuset_next(const struct pf_cpuset *set, int cpu);
bool pf_cpuset_is_subset(const struct pf_cpuset *small, const struct pf_cpuset *big);
bool pf_cpuset_intersects(const struct pf_cpuset *a, const struct pf_cpuset *b);
void pf_cpuset_or(struct pf_cpuset *dst, const struct pf_cpuset *src);
/* dst = a & ~b */
void pf_cpuset_andnot(struct pf_cpuset *dst, const struct pf_cpuset *a, const struct pf_cpuset *b);

/*
 * Parse a CPU list: comma-separated CPUs and ranges "a-b". Empty (or only
 * white space) is the empty set. `last_cpu` is what the kernel's "N" means
 * (the highest CPU number), or -1 if "N" is not accepted.
 * @return 0, or -EINVAL (syntax, a range backwards, a CPU >= PF_MAX_CPUS).
 */
int pf_cpuset_parse(const char *list, int last_cpu, struct pf_cpuset *out);
/* The set in list syntax ("1-3,5"), "" when empty; truncated to len. */
const char *pf_cpuset_format(const struct pf_cpuset *set, char *buf, size_t len);

/* snprintf that says when it truncated: 0 or -ENAMETOOLONG (for paths and
 * commands built from names read off the host). */
int pf_format(char *buf, size_t len, const char *format, ...) __attribute__((format(printf, 3, 4)));

/* root + path, without doubling the slash; -ENAMETOOLONG if it does not fit. */
int pf_path(const char *root, const char *path, char *out, size_t len);

/*
 * The whole of a small file (below len bytes) under root, trailing new
 * lines and spaces removed. @return its length, or -errno (-EFBIG when it
 * does not fit).
 */
int pf_read_text(const char *root, const char *path, char *buf, size_t len);
/* The file as a signed decimal number. @return 0, -errno or -EINVAL. */
int pf_read_long(const char *root, const char *path, long *out);
/* The last component of a symbolic link's target (a driver's name from its
 * "driver" link). @return its length or -errno. */
int pf_read_link_name(const char *root, const char *path, char *buf, size_t len);
bool pf_exists(const char *root, const char *path);
/* The first entry (in directory order) of dir whose name starts with
 * prefix. @return 1 found, 0 none, -errno. */
int pf_first_entry(const char *root, const char *dir, const char *prefix, char *buf, size_t len);
/* A file's bytes as they are (NULs included: /proc/PID/environ), at most
 * len. @return the count or -errno. */
int pf_read_bytes(const char *root, const char *path, char *buf, size_t len);
/* A /proc/meminfo line's value in kB ("Hugepagesize"). @return 0, -ENOENT
 * or -errno. */
int pf_meminfo_kib(const char *root, const char *name, uint64_t *kib);
/* Entries of a directory whose names start with prefix ("" for all),
 * except "." and "..". @return the count or -errno. */
int pf_count_entries(const char *root, const char *dir, const char *prefix);

/* Calls fn for each line of /proc/mounts (mount point, type, options)
 * until it returns non-zero, which is then returned; 0 after the last,
 * -errno if /proc/mounts is unreadable. */
int pf_each_mount(const char *root,
		  int (*fn)(const char *where, const char *type, const char *options, void *arg),
		  void *arg);

/*
 * Is a file system of this type mounted (/proc/mounts)? When mount_point is
 * not NULL, only there. *options (may be NULL) gets the first match's mount
 * options. @return 1 mounted, 0 not, -errno if /proc/mounts is unreadable.
 */
int pf_find_mount(const char *root, const char *fs_type, const char *mount_point, char *options,
		  size_t options_len);

/*
 * The value of a parameter on the kernel command line (/proc/cmdline), e.g.
 * "isolcpus": 1 and its value in buf ("" for a bare flag), 0 if absent,
 * -errno. The last occurrence wins, as in the kernel.
 */
int pf_cmdline_param(const char *root, const char *name, char *buf, size_t len);

/* Online CPUs (/sys/devices/system/cpu/online). */
int pf_online_cpus(const char *root, struct pf_cpuset *out);

/*
 * NUMA node of each CPU from /sys/devices/system/node/nodeN/cpulist:
 * node_of[cpu], -1 for CPUs no node lists. Without a node directory (a
 * kernel without NUMA) every CPU is on node 0. @return the number of nodes
 * found (>= 1) or -errno.
 */
int pf_cpu_nodes(const char *root, int node_of[PF_MAX_CPUS]);

/* Does /proc/cpuinfo say this is a virtual machine ("hypervisor" flag)? */
bool pf_is_virtual_machine(const char *root);
/* "GenuineIntel", "AuthenticAMD"... from /proc/cpuinfo, "" if unknown. */
void pf_cpu_vendor(const char *root, char *buf, size_t len);

/*
 * Is a process with this command name running (/proc/PID/comm)? *pid gets
 * its PID. @return 1, 0, or -errno if /proc cannot be listed.
 */
int pf_find_process(const char *root, const char *comm, long *pid);

/* Size with a K/M/G suffix ("2M", "1G", "2048k"), as in hugetlbfs'
 * pagesize= option, into bytes. @return 0 or -EINVAL. */
int pf_parse_size(const char *text, uint64_t *bytes);
/* "2 MiB", "1 GiB", "640 KiB", "12 B": for messages. */
const char *pf_format_bytes(uint64_t bytes, char *buf, size_t len);

#endif /* PREFLIGHT_SYSFS_H */
