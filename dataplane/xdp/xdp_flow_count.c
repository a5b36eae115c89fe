/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live flows per backend slot on the XDP dataplane (struct
 * elb_dp_ops.flow_counts: vip.tables, drains). Control path.
 *
 * Two walks of the live flow tables (one per CPU), one rule (see
 * bpf/flow_count.bpf.c):
 *   iterator      bpf/flow_count.bpf.c, a map-element iterator attached
 *                 once to each CPU's flow table, with the live backends map
 *                 (bpf_map__reuse_fd): the kernel visits each flow and
 *                 counts it in a per-slot array of the object's .bss, which
 *                 user space zeroes before and reads after the walk. No
 *                 flow crosses to user space.
 *   batch lookup  bpf_map_lookup_batch from user space: every flow of every
 *                 CPU's table copied out. The path when the iterator cannot
 *                 be loaded: kernels before 5.9 (or before per-CPU hash
 *                 iterators), and kernels in lockdown (integrity or
 *                 confidentiality, as Secure Boot hosts run), which refuse
 *                 tracing programs such as the iterator with EPERM.
 * Both cost about the same (0.4-0.7 us per flow here, "Costs" in
 * docs/operator-tools.md): the kernel reading each CPU's value of each
 * element, which both do, not the copy to user space.
 * status.get says which ("flow_count").
 *
 * Neither is a consistent cut: the program keeps writing while the walk
 * reads; a flow changing meanwhile may be counted or not, which is all a
 * count needs.
 *
 * Off the control thread (edgelb-xdp). A walk of 2^22 flows takes 2-3 s,
 * which the control thread cannot spend (config pushes and every other
 * request would wait). So the agent starts a counting thread
 * (xdp_flow_counter_start) that walks with either method: vip.tables
 * asks it for a walk (if none is under way), waits XDP_FLOW_COUNT_WAIT_MS
 * at most, and answers with the last walk published, with its age. Small
 * maps are counted within the wait, so their counts are fresh (age 0-ish);
 * big ones are up to one walk (plus the interval between asks) old.
 * Ownership:
 *   the thread      flow_count (its .bss and iterator links), the spare
 *                   result, the generations it reads, the calibration and
 *                   map fds copied at start: nothing of the control
 *                   thread's (no dp->snap, no dp->skel).
 *   the lock        what is asked, what is published (a pointer swap of
 *                   two results), the figures status.get reports.
 *   the control     dp->snap, dp->maps_seq (read when asking and answering).
 * Neither walk needs the snapshot: the iterator checks generations against
 * the live backends map per flow, the thread's batch lookup reads them from
 * that map at the walk's start. That is what makes the thread possible. A
 * published walk
 * is only used if dp->maps_seq has not moved since it was asked for: the
 * maps then held the snapshot in force for the whole walk, so its counts
 * name the slots and generations of that snapshot, and the backend states
 * vip.tables reports beside them are those the walk saw (a drain is never
 * judged on counts from before it reached the maps). After a change, the
 * next vip.tables asks for a new walk and reports flows_counted false until
 * one is done. Without the thread (the replay, tests), walks run on the
 * caller's thread, and the batch lookup compares with the snapshot given.
 *
 * Clock: the agent judges expiry by the balancer's own flow clock (jiffies
 * with the calibration of bpf/edgelb.bpf.c's edgelb_clock_sync), read by
 * the iterator at the walk's first flow; the batch lookup, which cannot
 * read jiffies, by CLOCK_MONOTONIC, which that clock follows to within a
 * jiffy. The replay runs on the pcap's clock: there every copy in use
 * counts.
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "edgelb_xdp_maps.h"
#include "xdp.h"
/* The skeletons name core types: they are defined above. */
#include "edgelb.skel.h"
#include "flow_count.skel.h"

#define XDP_FLOW_BATCH 1024u /* flows per bpf_map_lookup_batch */
/* How long vip.tables waits for the walk it asked for: maps of up to about
 * 40k flows (0.4-0.7 us each) are counted within it, fresh; bigger ones
 * answer with the previous walk. Bounds what a count costs the control
 * thread. */
#define XDP_FLOW_COUNT_WAIT_MS 20u

/* One walk's counts, as published by the counting thread. */
struct xdp_flow_result {
	uint64_t counts[ELB_MAX_BACKEND_SLOTS]; /* [0, n_slots) */
	uint32_t n_slots;
	uint64_t maps_seq;  /* dp->maps_seq when the walk was asked for */
	uint64_t begun_ns;  /* CLOCK_MONOTONIC */
	uint64_t done_ns;
	uint64_t flows_seen, flows_counted;
};

struct xdp_flow_counter {
	/* Set before the thread starts, read-only afterwards. */
	struct flow_count_bpf *fc; /* the thread's alone; NULL: it walks by batch lookup */
	struct bpf_link **links;   /* fc's iterator on each CPU's table (n_tables) */
	const int *flow_fds;       /* the CPUs' flow tables (batch lookup), dp->flows.fds */
	int n_tables;
	int backends_fd;           /* the balancer's, dp->skel's fd */
	uint64_t jiffy_ns, jiffies_offset_ns; /* the balancer's clock calibration */
	pthread_t thread;
	/* Set by stop, read by a walk under way between read() calls. */
	atomic_bool cancel;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* control -> thread: a walk asked for, or stop */
	pthread_cond_t done; /* thread -> control: a walk ended */
	/* Under lock. */
	bool stop, asked, walking;
	uint32_t ask_n_slots;
	uint64_t ask_maps_seq;
	uint64_t asked_seq, done_seq; /* walks asked for, and ended, so far */
	struct xdp_flow_result *published; /* NULL until the first walk ends */
	int last_rc;                       /* of the last walk: 0 or -errno */
	uint64_t walks, failures;
	struct xdp_flow_result *results; /* the two results, one allocation */
	/* The thread's, outside the lock: the walk under way writes here, and
	 * it is swapped with published under the lock when the walk ends. */
	struct xdp_flow_result *spare;
	uint32_t gens[ELB_MAX_BACKEND_SLOTS]; /* batch lookup: read at the walk's start */
};

/* libbpf's messages while the optional iterator loads: its refusal is
 * expected on some kernels and said once, in our words, below. */
static int libbpf_silent(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	(void)fmt;
	(void)args;
	return 0;
}

/* Why a load as root got EPERM: "; kernel lockdown: MODE, ..." when securityfs
 * says the kernel is locked down, a likely reason when it cannot be read,
 * else "". */
static void lockdown_note(char *out, size_t len)
{
	char line[128], *open_, *close_;
	FILE *f = fopen("/sys/kernel/security/lockdown", "r");

	out[0] = '\0';
	if (f == NULL) {
		/* No securityfs mounted (a host as it comes): EPERM as root is
		 * then most likely lockdown all the same. */
		snprintf(out, len, "; as root: most likely kernel lockdown, which refuses tracing "
				   "programs");
		return;
	}
	/* "none [integrity] confidentiality": the mode in force is bracketed. */
	if (fgets(line, sizeof(line), f) && (open_ = strchr(line, '[')) &&
	    (close_ = strchr(open_, ']')) && strncmp(open_ + 1, "none]", 5) != 0) {
		*close_ = '\0';
		snprintf(out, len, "; kernel lockdown: %s, which refuses tracing programs",
			 open_ + 1);
	}
	fclose(f);
}

/* Detach and free the iterator links of dp->flow_count. */
static void flow_count_links_free(struct xdp_dataplane *dp)
{
	for (int cpu = 0; dp->flow_count_links != NULL && cpu < dp->flows.n; cpu++)
		bpf_link__destroy(dp->flow_count_links[cpu]);
	free(dp->flow_count_links);
	dp->flow_count_links = NULL;
}

int xdp_flow_count_load(struct xdp_dataplane *dp)
{
	libbpf_print_fn_t old_print;
	char why[112];
	uint64_t start = monotonic_ns();
	struct flow_count_bpf *fc;
	int rc;

	dp->flow_count = NULL;
	dp->flow_count_links = NULL;
	fc = flow_count_bpf__open();
	if (fc == NULL) {
		rc = -errno;
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "open: %s", strerror(-rc));
		goto fail;
	}
	rc = bpf_map__reuse_fd(fc->maps.backends, bpf_map__fd(dp->skel->maps.backends));
	if (rc) {
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "reuse the live maps: %s",
			 strerror(-rc));
		goto fail;
	}
	old_print = libbpf_set_print(libbpf_silent);
	rc = flow_count_bpf__load(fc);
	libbpf_set_print(old_print);
	if (rc) {
		lockdown_note(why, sizeof(why));
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "load: %s%s", strerror(-rc),
			 rc == -EPERM ? why : "");
		goto fail;
	}
	dp->flow_count_links = calloc((size_t)dp->flows.n, sizeof(*dp->flow_count_links));
	if (dp->flow_count_links == NULL) {
		rc = -ENOMEM;
		snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "links: %s", strerror(-rc));
		goto fail;
	}
	/* One link per CPU's table. Attaching checks the program's reads of a
	 * value against the table's value size: a mismatch fails here. */
	for (int cpu = 0; cpu < dp->flows.n; cpu++) {
		union bpf_iter_link_info linfo;

		LIBBPF_OPTS(bpf_iter_attach_opts, opts);
		memset(&linfo, 0, sizeof(linfo));
		linfo.map.map_fd = (uint32_t)dp->flows.fds[cpu];
		opts.link_info = &linfo;
		opts.link_info_len = sizeof(linfo);
		dp->flow_count_links[cpu] = bpf_program__attach_iter(fc->progs.count_flows, &opts);
		if (dp->flow_count_links[cpu] == NULL) {
			rc = -errno;
			snprintf(dp->flow_count_err, sizeof(dp->flow_count_err), "attach: %s",
				 strerror(-rc));
			goto fail;
		}
	}
	dp->flow_count = fc;
	dp->flow_count_err[0] = '\0';
	dp->flow_count_load_ns = monotonic_ns() - start;
	return 0;
fail:
	flow_count_links_free(dp);
	flow_count_bpf__destroy(fc);
	fprintf(stderr,
		"edgelb-xdp: flow counts by batch lookup, the BPF iterator is unavailable (%s)\n",
		dp->flow_count_err);
	return rc;
}

void xdp_flow_count_close(struct xdp_dataplane *dp)
{
	flow_count_links_free(dp);
	flow_count_bpf__destroy(dp->flow_count);
	dp->flow_count = NULL;
}

/* Read one iterator (one CPU's table) to its end. */
static int iter_read(struct bpf_link *link, atomic_bool *cancel)
{
	char buf[1];
	ssize_t got;
	int fd, rc = 0;

	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	/*
	 * The program writes one byte every ELB_FLOW_COUNT_CHUNK elements: a
	 * read() of one byte returns there (a few ms), ending the RCU
	 * read-side section the kernel holds while it walks (see
	 * bpf/flow_count.bpf.c); the next read() goes on from the element it
	 * stopped at. A read() that met no such byte in the kernel's
	 * MAX_ITER_OBJECTS elements fails with EAGAIN instead. 0: the end of
	 * the map. A cancel is seen between reads.
	 */
	for (;;) {
		if (cancel != NULL && atomic_load_explicit(cancel, memory_order_relaxed)) {
			rc = -ECANCELED;
			break;
		}
		got = read(fd, buf, sizeof(buf));
		if (got == 0)
			break;
		if (got < 0 && errno != EAGAIN && errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	close(fd);
	return rc;
}

/*
 * One iterator walk of the n first slots over every CPU's table (links,
 * n_links); the counts are left in fc->bss->flow_counts. Touches fc only
 * (the caller owns it). cancel: NULL, or a flag that ends the walk early
 * with -ECANCELED.
 */
static int iter_walk(struct flow_count_bpf *fc, struct bpf_link **links, int n_links, uint32_t n,
		     struct xdp_flow_walk *walk, uint64_t jiffy_ns, uint64_t jiffies_offset_ns,
		     atomic_bool *cancel)
{
	int rc = 0;

	/* Only slots below n_slots are counted: the rest is not read. */
	memset(fc->bss->flow_counts, 0, (size_t)n * sizeof(fc->bss->flow_counts[0]));
	fc->bss->n_slots = n;
	fc->bss->check_expiry = walk->check_expiry;
	fc->bss->tick_given = walk->tick_given;
	fc->bss->now_tick = walk->now_tick;
	fc->bss->jiffy_ns = jiffy_ns;
	fc->bss->jiffies_offset_ns = jiffies_offset_ns;
	fc->bss->flows_seen = 0;
	fc->bss->flows_counted = 0;

	/* The tick read at the first flow of the walk (tick_given then set)
	 * judges every table's flows. */
	for (int cpu = 0; rc == 0 && cpu < n_links; cpu++)
		rc = iter_read(links[cpu], cancel);
	if (rc)
		return rc;
	if (walk->check_expiry && !walk->tick_given)
		walk->now_tick = fc->bss->now_tick; /* unset if the map was empty */
	return 0;
}

int xdp_flow_count_iter(struct xdp_dataplane *dp, const struct elb_snapshot *snap,
			struct xdp_flow_walk *walk, uint64_t *per_slot)
{
	struct flow_count_bpf *fc = dp->flow_count;
	uint32_t n = snap->n_backend_slots < ELB_MAX_BACKEND_SLOTS ? snap->n_backend_slots
								   : ELB_MAX_BACKEND_SLOTS;
	int rc;

	if (fc == NULL)
		return -EOPNOTSUPP;
	if (dp->counter != NULL)
		return -EBUSY; /* the counting thread owns the object */
	rc = iter_walk(fc, dp->flow_count_links, dp->flows.n, n, walk, dp->skel->bss->jiffy_ns,
		       dp->skel->bss->jiffies_offset_ns, NULL);
	if (rc)
		return rc;
	for (uint32_t s = 0; s < n; s++)
		per_slot[s] += fc->bss->flow_counts[s];
	return 0;
}

/*
 * One batch-lookup walk of the flow tables (flow_fds, n_tables): an entry
 * counts for slot s < n_slots when it is in use and names s with gens[s],
 * as the iterator judges it. Allocates its buffers (control path, or the
 * counting thread). cancel: NULL, or a flag that ends the walk early with
 * -ECANCELED (seen between batches).
 */
static int batch_walk(const int *flow_fds, int n_tables, const uint32_t *gens, uint32_t n_slots,
		      struct xdp_flow_walk *walk, uint64_t *per_slot, uint64_t *flows_seen,
		      atomic_bool *cancel)
{
	struct elb_flow_id *keys = calloc(XDP_FLOW_BATCH, sizeof(*keys));
	struct elb_xdp_flow *values = calloc(XDP_FLOW_BATCH, sizeof(*values));
	int rc = 0;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	if (keys == NULL || values == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (walk->check_expiry && !walk->tick_given)
		walk->now_tick = elb_flow_tick(monotonic_ns());
	for (int cpu = 0; cpu < n_tables; cpu++) {
		uint64_t token = 0; /* the hash map's batch position (a bucket index) */
		bool first = true, done = false;

		while (!done) {
			uint32_t count = XDP_FLOW_BATCH;

			if (cancel != NULL && atomic_load_explicit(cancel, memory_order_relaxed)) {
				rc = -ECANCELED;
				goto out;
			}
			if (bpf_map_lookup_batch(flow_fds[cpu], first ? NULL : &token, &token, keys,
						 values, &count, &opts) < 0) {
				if (errno != ENOENT) {
					rc = -errno;
					goto out;
				}
				done = true; /* the last batch (count may still be > 0) */
			}
			first = false;
			*flows_seen += count;
			/* The rule of bpf/flow_count.bpf.c, with gens for the backends map. */
			for (uint32_t k = 0; k < count; k++) {
				const struct elb_xdp_flow *f = &values[k];

				if (f->state == ELB_FLOW_FREE ||
				    (walk->check_expiry &&
				     elb_flow_tick_expired(f->expiry, walk->now_tick)))
					continue;
				if (f->backend_id < n_slots && gens[f->backend_id] == f->backend_gen)
					per_slot[f->backend_id]++;
			}
		}
	}
out:
	free(keys);
	free(values);
	return rc;
}

int xdp_flow_count_batch(struct xdp_dataplane *dp, const struct elb_snapshot *snap,
			 struct xdp_flow_walk *walk, uint64_t *per_slot)
{
	uint32_t n = snap->n_backend_slots < ELB_MAX_BACKEND_SLOTS ? snap->n_backend_slots
								   : ELB_MAX_BACKEND_SLOTS;
	uint32_t *gens = calloc(n ? n : 1, sizeof(*gens));
	uint64_t seen = 0;
	int rc;

	if (gens == NULL)
		return -ENOMEM;
	for (uint32_t s = 0; s < n; s++)
		gens[s] = snap->backends[s].gen;
	rc = batch_walk(dp->flows.fds, dp->flows.n, gens, n, walk, per_slot, &seen, NULL);
	free(gens);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The counting thread */

static int counter_iter_walk(struct xdp_flow_counter *c, uint32_t n, struct xdp_flow_walk *walk,
			     struct xdp_flow_result *r)
{
	int rc = iter_walk(c->fc, c->links, c->n_tables, n, walk, c->jiffy_ns, c->jiffies_offset_ns,
			   &c->cancel);

	if (rc)
		return rc;
	for (uint32_t s = 0; s < n; s++)
		r->counts[s] = c->fc->bss->flow_counts[s];
	r->flows_seen = c->fc->bss->flows_seen;
	r->flows_counted = c->fc->bss->flows_counted;
	return 0;
}

/*
 * The batch lookup judges generations against the backends map as it is
 * at the walk's start (the iterator reads it per flow): a change meanwhile
 * moves dp->maps_seq, so such a walk is never used (see the top).
 */
static int counter_batch_walk(struct xdp_flow_counter *c, uint32_t n, struct xdp_flow_walk *walk,
			      struct xdp_flow_result *r)
{
	int rc;

	for (uint32_t s = 0; s < n; s++) {
		struct elb_backend_slot b;

		if (bpf_map_lookup_elem(c->backends_fd, &s, &b))
			return -errno;
		c->gens[s] = b.gen;
	}
	memset(r->counts, 0, (size_t)n * sizeof(r->counts[0]));
	r->flows_seen = 0;
	rc = batch_walk(c->flow_fds, c->n_tables, c->gens, n, walk, r->counts, &r->flows_seen,
			&c->cancel);
	if (rc)
		return rc;
	r->flows_counted = 0;
	for (uint32_t s = 0; s < n; s++)
		r->flows_counted += r->counts[s];
	return 0;
}

static void *counter_main(void *arg)
{
	struct xdp_flow_counter *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct xdp_flow_walk walk = {.check_expiry = true};
		struct xdp_flow_result *r = c->spare, *old;
		uint64_t maps_seq;
		uint32_t n;
		int rc;

		while (!c->stop && !c->asked)
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->stop)
			break;
		c->asked = false;
		c->walking = true;
		n = c->ask_n_slots;
		maps_seq = c->ask_maps_seq;
		pthread_mutex_unlock(&c->lock);

		/* Outside the lock: fc, gens and r are this thread's. */
		r->begun_ns = monotonic_ns();
		rc = c->fc != NULL ? counter_iter_walk(c, n, &walk, r) : counter_batch_walk(c, n, &walk, r);
		if (rc == 0) {
			r->n_slots = n;
			r->maps_seq = maps_seq;
			r->done_ns = monotonic_ns();
		}

		pthread_mutex_lock(&c->lock);
		c->walking = false;
		c->done_seq++;
		c->last_rc = rc;
		if (rc == 0) {
			old = c->published;
			c->published = r;
			c->spare = old != NULL ? old : &c->results[1];
			c->walks++;
		} else {
			c->failures++;
		}
		pthread_cond_broadcast(&c->done);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int xdp_flow_counter_start(struct xdp_dataplane *dp)
{
	struct xdp_flow_counter *c;
	pthread_condattr_t cattr;
	sigset_t all, old;
	int rc;

	if (dp->counter != NULL)
		return 0;
	c = calloc(1, sizeof(*c));
	/* Two results: spare starts as the first, then they swap. */
	if (c != NULL)
		c->results = calloc(2, sizeof(*c->results));
	if (c == NULL || c->results == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->spare = &c->results[0];
	c->fc = dp->flow_count;
	c->links = dp->flow_count_links;
	c->flow_fds = dp->flows.fds;
	c->n_tables = dp->flows.n;
	c->backends_fd = bpf_map__fd(dp->skel->maps.backends);
	/* The calibration is written once, before the first packet
	 * (xdp_maps_init_globals): a copy spares the thread dp->skel. */
	c->jiffy_ns = dp->skel->bss->jiffy_ns;
	c->jiffies_offset_ns = dp->skel->bss->jiffies_offset_ns;
	atomic_init(&c->cancel, false);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&cattr);
	/* vip.tables' bounded wait is on CLOCK_MONOTONIC. */
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->done, &cattr);
	pthread_condattr_destroy(&cattr);
	pthread_cond_init(&c->wake, NULL);
	/* Signals (SIGINT, SIGTERM) stay the control thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&c->thread, NULL, counter_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pthread_cond_destroy(&c->wake);
		pthread_cond_destroy(&c->done);
		pthread_mutex_destroy(&c->lock);
		free(c->results);
		free(c);
		return rc;
	}
	dp->counter = c;
	return 0;
}

void xdp_flow_counter_stop(struct xdp_dataplane *dp)
{
	struct xdp_flow_counter *c = dp->counter;

	if (c == NULL)
		return;
	atomic_store(&c->cancel, true);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	free(c->results);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->lock);
	free(c);
	dp->counter = NULL;
}

void xdp_flow_counter_status(struct xdp_dataplane *dp, cJSON *out)
{
	struct xdp_flow_counter *c = dp->counter;

	cJSON_AddBoolToObject(out, "flow_count_thread", c != NULL);
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	elb_dp_json_add_u64(out, "flow_count_walks", c->walks);
	elb_dp_json_add_u64(out, "flow_count_failures", c->failures);
	cJSON_AddBoolToObject(out, "flow_count_walking", c->walking || c->asked);
	if (c->published != NULL) {
		const struct xdp_flow_result *r = c->published;

		elb_dp_json_add_u64(out, "flow_count_last_walk_ms", (r->done_ns - r->begun_ns) / 1000000);
		elb_dp_json_add_u64(out, "flow_count_last_age_ms",
				    (monotonic_ns() - r->begun_ns) / 1000000);
		elb_dp_json_add_u64(out, "flow_count_last_flows", r->flows_seen);
	}
	pthread_mutex_unlock(&c->lock);
}

/* xdp_flow_counts with the counting thread (see the top of the file). */
static int counter_counts(struct xdp_dataplane *dp, const struct elb_snapshot *snap,
			  uint64_t *per_slot, uint64_t *age_ms)
{
	struct xdp_flow_counter *c = dp->counter;
	const struct xdp_flow_result *r;
	uint64_t deadline_ns = monotonic_ns() + XDP_FLOW_COUNT_WAIT_MS * 1000000ull, want;
	struct timespec deadline = {.tv_sec = (time_t)(deadline_ns / 1000000000ull),
				    .tv_nsec = (long)(deadline_ns % 1000000000ull)};
	int rc;

	pthread_mutex_lock(&c->lock);
	if (!c->asked && !c->walking) {
		c->asked = true;
		c->asked_seq++;
		c->ask_n_slots = snap->n_backend_slots < ELB_MAX_BACKEND_SLOTS
					 ? snap->n_backend_slots
					 : ELB_MAX_BACKEND_SLOTS;
		c->ask_maps_seq = dp->maps_seq;
		pthread_cond_signal(&c->wake);
	}
	/* The walk asked for now, or the one under way; not worth waiting for
	 * when the last one took longer than the wait. */
	want = c->asked_seq;
	r = c->published;
	if (r != NULL && r->done_ns - r->begun_ns > XDP_FLOW_COUNT_WAIT_MS * 1000000ull)
		want = c->done_seq;
	while (c->done_seq < want &&
	       pthread_cond_timedwait(&c->done, &c->lock, &deadline) != ETIMEDOUT)
		;
	r = c->published;
	if (r != NULL && r->maps_seq == dp->maps_seq) {
		uint32_t n = r->n_slots < snap->n_backend_slots ? r->n_slots : snap->n_backend_slots;

		for (uint32_t s = 0; s < n; s++)
			per_slot[s] += r->counts[s];
		*age_ms = (monotonic_ns() - r->begun_ns) / 1000000;
		rc = 0;
	} else {
		/* None yet, or walked under another snapshot. */
		rc = c->last_rc < 0 ? c->last_rc : -EAGAIN;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/*
 * Without the thread: the iterator counts with the backends map, which
 * holds dp->snap (the control thread writes it before replacing dp->snap,
 * and nothing else runs meanwhile); vip.tables passes that snapshot. Any
 * other snap is counted by batch lookup, which compares with snap itself.
 */
int xdp_flow_counts(void *arg, const struct elb_snapshot *snap, uint64_t *per_slot,
		    uint64_t *age_ms)
{
	struct xdp_dataplane *dp = arg;
	struct xdp_flow_walk walk = {.check_expiry = dp->ifname != NULL};

	if (dp->counter != NULL && snap == dp->snap)
		return counter_counts(dp, snap, per_slot, age_ms);
	if (dp->flow_count != NULL && dp->counter == NULL && snap == dp->snap)
		return xdp_flow_count_iter(dp, snap, &walk, per_slot);
	return xdp_flow_count_batch(dp, snap, &walk, per_slot);
}
