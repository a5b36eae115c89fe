/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemons' heap: memory freed on the control path stays in the process.
 *
 * Each change allocates and frees megabytes (a Maglev table and its
 * previous owners are 4 bytes a slot, 256 KiB each at M = 65537, per VIP
 * rebuilt; JSON texts). glibc gives blocks of 128 KiB and more back to the
 * kernel on free (munmap, or a trim of the heap's top), and the next change
 * faults every page in again: measured on the project's 2-vCPU VM, where a
 * freed page goes back to the host, 20 to 70 us per 4 KiB page, 30 to 80
 * faults per config.set, milliseconds of a change's latency. Kept in the
 * heap, they are reused as they are. The cost is memory the process keeps
 * after a peak: at most ELB_HEAP_KEEP_FREED_BYTES of free heap.
 *
 * Called first thing in main() (before any allocation), once per process.
 */
#ifndef ELB_HEAP_H
#define ELB_HEAP_H

#include <malloc.h>

/* Blocks up to this size come from the heap, not mmap: glibc's largest
 * (32 MiB on 64-bit), above a table of ELB_MAGLEV_MAX_SIZE slots (16 MiB). */
#define ELB_HEAP_MMAP_THRESHOLD_BYTES (32 * 1024 * 1024)
/* Free memory at the heap's top kept rather than trimmed. */
#define ELB_HEAP_KEEP_FREED_BYTES (64 * 1024 * 1024)

static inline void elb_heap_keep_freed(void)
{
	/* Both fixed: a set threshold also stops glibc's own adjustment. A
	 * refusal (another libc) leaves the defaults: slower, not wrong. */
	mallopt(M_MMAP_THRESHOLD, ELB_HEAP_MMAP_THRESHOLD_BYTES);
	mallopt(M_TRIM_THRESHOLD, ELB_HEAP_KEEP_FREED_BYTES);
}

#endif /* ELB_HEAP_H */
