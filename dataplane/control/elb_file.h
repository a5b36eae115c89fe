/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Whole-file reads and crash-safe whole-file writes, for the persisted
 * configuration. Control path only.
 */
#ifndef ELB_FILE_H
#define ELB_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Replace path with data[0..len) so that a crash at any moment leaves either
 * the old file or the new one, never a mix: write "<path>.tmp.<pid>" in the
 * same directory (mode `mode`), fsync it, rename it over path, fsync the
 * directory. On failure before the rename, the temporary file is removed
 * and path is untouched.
 * @return 0, or -errno of the step that failed. A failure of the final
 *         directory fsync is reported although path already has the new
 *         content (its durability is then not guaranteed).
 */
int elb_atomic_write_file(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Read a whole file into a new NUL-terminated buffer (*out, free() it),
 * *len bytes without the NUL.
 * @return 0, -errno, or -EFBIG if the file is longer than max bytes.
 */
int elb_read_file(const char *path, size_t max, char **out, size_t *len);

#endif /* ELB_FILE_H */
