/* SPDX-License-Identifier: BSD-3-Clause */
#include "elb_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory holding path, so that the rename itself is durable. */
static int sync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t dir_len;
	int fd, rc = 0;

	if (slash == NULL) {
		strcpy(dir, ".");
	} else {
		dir_len = slash == path ? 1 : (size_t)(slash - path); /* "/file": the root */
		if (dir_len >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, dir_len);
		dir[dir_len] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int elb_atomic_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd, rc, n;

	if (path == NULL || (data == NULL && len > 0))
		return -EINVAL;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;

	/* O_NOFOLLOW: a symlink planted at the temporary name must not redirect
	 * the write. O_TRUNC: a leftover of an earlier process with our pid is
	 * overwritten, not appended to. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* open() applied the umask; the caller asked for exactly `mode`. */
	if (fchmod(fd, mode) < 0) {
		rc = -errno;
		goto fail_open;
	}
	rc = write_all(fd, data, len);
	if (rc < 0)
		goto fail_open;
	if (fsync(fd) < 0) {
		rc = -errno;
		goto fail_open;
	}
	/* close() can report a delayed write error (NFS): it counts. */
	if (close(fd) < 0) {
		rc = -errno;
		goto fail_closed;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto fail_closed;
	}
	return sync_parent_dir(path);

fail_open:
	close(fd);
fail_closed:
	unlink(tmp);
	return rc;
}

int elb_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t used = 0, cap;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	/* The size is a hint: the file may change while we read it. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (used + 1 == cap) {
			char *bigger;

			if (used >= max) {
				/* Full at the limit: only the end of the file may follow. */
				char probe;
				ssize_t more;

				do
					more = read(fd, &probe, 1);
				while (more < 0 && errno == EINTR);
				if (more < 0) {
					rc = -errno;
					goto out;
				}
				if (more == 0)
					break;
				rc = -EFBIG;
				goto out;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			bigger = realloc(buf, cap);
			if (bigger == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			buf = bigger;
		}
		n = read(fd, buf + used, cap - 1 - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}
