/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User space of the XDP dataplane: loads bpf/edgelb.bpf.c (through its
 * libbpf skeleton), copies each new struct elb_snapshot into its maps, and
 * serves the dataplane protocol (elb_dp_api.h) with the ops below. Used by
 * edgelb-xdp (the agent) and by edgelb-replay --dataplane xdp.
 *
 * Threading: one control thread does everything here; the program runs on
 * every CPU meanwhile and only reads the configuration maps. The one
 * exception is edgelb-xdp's counting thread (xdp_flow_counter_start): it
 * walks the flow map with the iterator's own BPF object and buffers, and
 * hands its counts over under a lock (xdp_flow_count.c says who owns what).
 */
#ifndef XDP_H
#define XDP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "elb_dp_api.h"
#include "elb_snapshot.h"

struct bpf_link;
struct bpf_map;
struct edgelb_xdp_bpf;
struct elb_flow_key;
struct elb_prefix_list;
struct elb_prefix_rule;
struct elb_prefix_set;
struct elb_xdp_flow;
struct elb_flow_id;
struct flow_count_bpf;
struct xdp_flow_counter;

/* The flow tables (bpf/edgelb_xdp_maps.h, flows; xdp_flows.c): CPU cpu's
 * table is fds[cpu], an LRU_HASH of struct elb_flow_id -> struct
 * elb_xdp_flow held by the outer map; these fds are user space's own. */
struct xdp_flow_tables {
	int *fds;          /* [n] */
	int n;             /* libbpf_num_possible_cpus() */
	uint32_t capacity; /* entries per CPU's table */
};

/* A VIP's list as written in the prefix trie (xdp_prefixes.c). */
struct xdp_prefix_scope {
	uint32_t gen;   /* the VIP's generation: the scope of its keys */
	uint16_t index; /* the VIP's index (its bit of prefix_vips); 0xffff: no VIP has it */
	const struct elb_prefix_list *list; /* NULL: written by an earlier process */
};

/* Every VIP of the config in force and of the one being written. */
#define XDP_PREFIX_SCOPES_MAX (2 * ELB_MAX_VIPS)

/* The prefix lists in force (xdp_prefixes.c). */
struct xdp_prefixes {
	/* The set last applied, which its caller keeps alive until the next
	 * successful apply (struct elb_dp_ops.apply_prefixes); NULL: none. */
	const struct elb_prefix_set *set;
	int trie_fd; /* user space's own fd of the trie in force; -1: none */
	struct xdp_prefix_scope vips[XDP_PREFIX_SCOPES_MAX]; /* the VIP lists in the trie */
	uint32_t n_vips;
	uint32_t node_scopes; /* ELB_XDP_PREFIX_NODE_* of the node's list */
	uint32_t rules;       /* in the trie */
	uint64_t write_ns;    /* what writing the last set took */
};

/* The MAC the replay puts in the Ethernet source of what it sends: the one
 * DPDK's net_pcap port has, so both replays write the same frames. */

struct xdp_dataplane {
	struct edgelb_xdp_bpf *skel;
	/* What the maps hold now: the prev of the next elb_snapshot_build.
	 * Owned; never NULL once xdp_dataplane_start has succeeded. */
	struct elb_snapshot *snap;
	/* dp->snap was rebuilt from maps of an earlier process (only what
	 * elb_snapshot_build needs): the next write compares with the maps. */
	bool snap_partial;
	uint32_t next_gen;   /* slot and VIP generations handed out so far */
	/* Incremented by the control thread before every write of the
	 * configuration maps: a flow count walked while it did not change saw
	 * the maps hold one snapshot throughout. */
	uint64_t maps_seq;
	/* Per VIP index, the vip_quic entry (bank 0 or 1) that the vips map
	 * names (ELB_XDP_VIP_QUIC_BANK), and the one the write under way
	 * gives it (xdp_quic.c). */
	uint8_t quic_bank[ELB_MAX_VIPS];
	uint8_t quic_bank_next[ELB_MAX_VIPS];
	uint8_t iface_mac[6]; /* Ethernet source of XDP_TX frames */
	struct xdp_flow_tables flows; /* the live flow tables, one per CPU */
	/* Flows copied from a pinned flow map of an earlier version's layout
	 * at load (xdp_flows_adopt_percpu); 0 if there was none. */
	uint64_t flows_adopted;
	/* Set before xdp_dataplane_load by edgelb-xdp-bench only: load the
	 * benchmark programs edgelb_floor_lookups and edgelb_floor_new_flow too. */
	bool load_bench_floor;
	/* Agent only (0 / NULL for the replay). */
	int ifindex;
	const char *ifname;
	const char *mode; /* "native" or "generic" */
	uint32_t prog_id;
	uint64_t started_ns;
	/* flow.explain (xdp_explain.c): the program loaded a second time over
	 * the live configuration maps, with its own flow map and counters.
	 * NULL if it could not be loaded (explain_err says why); forwarding
	 * does not depend on it. */
	struct edgelb_xdp_bpf *explain;
	int explain_flows_fd; /* its one scratch flow table, in every CPU's entry */
	char explain_err[128];
	uint64_t explain_load_ns; /* what loading it added to the start */
	/* The replay's clock for explain: the pcap time of the next packet.
	 * false (the agent): CLOCK_MONOTONIC, the program's own clock. */
	bool explain_test_clock;
	uint64_t explain_now_ns;
	/* Flow counts (xdp_flow_count.c): the map-element iterator over the
	 * live flow map (bpf/flow_count.bpf.c), attached. NULL if it could
	 * not be loaded (flow_count_err says why): counts then go by batch
	 * lookup from user space. */
	struct flow_count_bpf *flow_count;
	struct bpf_link **flow_count_links; /* [flows.n]: its iterator on each CPU's table */
	char flow_count_err[160];
	uint64_t flow_count_load_ns; /* what loading it added to the start */
	/* edgelb-xdp only: the counting thread, which then owns flow_count
	 * (the control thread no longer touches it). NULL: counts are walked
	 * on the caller's thread (the replay, the tests, or no iterator). */
	struct xdp_flow_counter *counter;
	struct xdp_prefixes prefixes;
};

/*
 * Open and load the program. flows: capacity of each CPU's flow table
 * (0: ELB_XDP_DEFAULT_FLOWS). pin_dir: NULL, or a bpffs directory where
 * the maps are pinned, and reused if already there (a restarted agent keeps
 * its flows and learns the slots and generations in force from them; pinned
 * flow tables keep their size, and a pinned flow map of the earlier
 * LRU_PERCPU_HASH layout is adopted, see xdp_flows.c).
 * @return 0 or -errno (message printed).
 */
int xdp_dataplane_load(struct xdp_dataplane *dp, uint32_t flows, const char *pin_dir);

/* Make the maps hold an empty configuration, or keep what pinned maps hold
 * as the previous snapshot; afterwards dp->snap is set. @return 0 or -errno. */
int xdp_dataplane_start(struct xdp_dataplane *dp);

void xdp_dataplane_close(struct xdp_dataplane *dp);

/*
 * Load the explain instance (see struct xdp_dataplane.explain) over the
 * maps of the loaded dp->skel. Called by xdp_dataplane_load; a failure is
 * printed and leaves dp->explain NULL. @return 0 or -errno.
 */
int xdp_explain_load(struct xdp_dataplane *dp);
void xdp_explain_close(struct xdp_dataplane *dp);

/* struct elb_dp_ops.explain of both edgelb-xdp and the XDP replay. */
int xdp_explain(void *ctx, const uint8_t *frame, uint32_t len, struct elb_explain_run *run,
		char *err, size_t errlen);

/*
 * Load the flow-count iterator (struct xdp_dataplane.flow_count) over the
 * maps of the loaded dp->skel. Called by xdp_dataplane_load; a failure is
 * printed and leaves dp->flow_count NULL. @return 0 or -errno.
 */
int xdp_flow_count_load(struct xdp_dataplane *dp);
void xdp_flow_count_close(struct xdp_dataplane *dp);

/* How a flow-count walk judges expiry. */
struct xdp_flow_walk {
	bool check_expiry; /* false: every copy in use counts (the replay's pcap clock) */
	/* true: expiry is judged at now_tick. false: the walk reads its clock
	 * (the iterator the balancer's flow clock, the batch lookup
	 * CLOCK_MONOTONIC) and sets now_tick to what it used. */
	bool tick_given;
	uint32_t now_tick;
};

/*
 * Add to per_slot[s] (snap->n_backend_slots entries) the live flows of the
 * flow tables that name slot s with its generation: each CPU's table counts
 * its entries in use, not expired (if check_expiry) and naming a slot of
 * snap with the slot's generation (a flow in two CPUs' tables counts twice,
 * as in two DPDK workers' tables). The
 * iterator reads the generations from the backends map, so snap must be
 * what the maps hold (dp->snap); the batch lookup reads them from snap.
 * @return 0 or -errno (-EOPNOTSUPP: no iterator loaded).
 */
int xdp_flow_count_iter(struct xdp_dataplane *dp, const struct elb_snapshot *snap,
			struct xdp_flow_walk *walk, uint64_t *per_slot);
int xdp_flow_count_batch(struct xdp_dataplane *dp, const struct elb_snapshot *snap,
			 struct xdp_flow_walk *walk, uint64_t *per_slot);

/*
 * struct elb_dp_ops.flow_counts. With the counting thread (edgelb-xdp): the
 * last walk it finished under the snapshot in force, asking for a new one
 * if none is under way and waiting XDP_FLOW_COUNT_WAIT_MS at most for it;
 * *age_ms says how long ago that walk began; -EAGAIN while there is none.
 * Without: the iterator if loaded, else the batch lookup, here and now
 * (*age_ms stays 0).
 */
int xdp_flow_counts(void *ctx, const struct elb_snapshot *snap, uint64_t *per_slot,
		    uint64_t *age_ms);

/*
 * Start the counting thread (edgelb-xdp): after xdp_dataplane_start. It
 * walks with the iterator if loaded, else by batch lookup. From then on
 * only that thread touches dp->flow_count, and xdp_flow_count_iter returns
 * -EBUSY. xdp_dataplane_close stops it.
 * @return 0, or -errno (counts then stay synchronous, on the caller's thread).
 */
int xdp_flow_counter_start(struct xdp_dataplane *dp);
/* Stop it (a walk under way ends at its next read), join it, free it. */
void xdp_flow_counter_stop(struct xdp_dataplane *dp);
/* status.get's view of it: walks, the last one's duration and age. */
void xdp_flow_counter_status(struct xdp_dataplane *dp, cJSON *out);

/*
 * Write `next` into the maps, given that they hold `prev` (NULL: unknown,
 * e.g. maps reused from an earlier process: then every entry is compared
 * with the map itself). The order is in xdp_maps.c.
 * @return 0 or -errno (the maps may then hold a mix: the caller writes prev
 *         back).
 */
int xdp_maps_write(struct xdp_dataplane *dp, const struct elb_snapshot *next,
		   const struct elb_snapshot *prev);

/* The QUIC routing of next (xdp_quic.c), within xdp_maps_write: written
 * before the vips entries, what next no longer has pruned after them.
 * @return 0 or -errno. */
int xdp_quic_write(struct xdp_dataplane *dp, const struct elb_snapshot *next,
		   const struct elb_snapshot *prev);
int xdp_quic_prune(struct xdp_dataplane *dp, const struct elb_snapshot *next);

/* The QUIC routing the maps hold for VIP index vip_index, whose vips entry
 * has encap_flags, into sv->quic (NULL if none is there), and its bank into
 * dp->quic_bank: for flow.explain and the next write after a restart over
 * pinned maps (xdp_maps_read_prev). @return 0 or -errno. */
int xdp_quic_read(struct xdp_dataplane *dp, uint32_t vip_index, uint32_t encap_flags,
		  struct elb_vip *sv);

/*
 * Fill the program's global variables, which are per process (not pinned):
 * the flow clock's calibration, and the node configuration and VIP address
 * filter of what the maps hold (pinned maps of an earlier process, or new
 * empty ones). Before the program sees a packet. @return 0 or -errno.
 */
int xdp_maps_init_globals(struct xdp_dataplane *dp);

/*
 * Rebuild, from maps that an earlier process filled, the snapshot they hold
 * as far as elb_snapshot_build needs it as prev (VIP keys, indices and
 * generations; backend slots), and the highest generation in use.
 * @return 0 with *out NULL when the maps hold no configuration, 0 with *out
 *         set, or -errno.
 */
int xdp_maps_read_prev(struct xdp_dataplane *dp, struct elb_snapshot **out, uint32_t *max_gen);

/* ---- the flow tables (xdp_flows.c) ---- */

/* Before the load: the outer map gets one entry per possible CPU, the
 * tables' template `capacity` entries (0: as compiled). @return 0 or -errno. */
int xdp_flow_tables_prepare(struct bpf_map *outer, uint32_t capacity);
/* After the load: t gets an fd for each CPU's table, reopened from its pin
 * under pin_dir (flows_cpu<N>) or, missing, created with `capacity` entries
 * and pinned there (*created then true; pin_dir NULL: nothing pinned), and
 * each is put in its CPU's entry of outer_fd. @return 0 or -errno (t then
 * empty). */
int xdp_flow_tables_open(struct xdp_flow_tables *t, int outer_fd, uint32_t capacity,
			 const char *pin_dir, bool *created);
void xdp_flow_tables_close(struct xdp_flow_tables *t);
/* A new, empty flow table (fd, or -errno). */
int xdp_flow_table_create(uint32_t capacity, const char *name);
/* Before the load: the source sketch map (source_cells) sized for every
 * possible CPU. @return 0 or -errno (-E2BIG: more CPUs than an ARRAY can
 * hold sketches for). */
int xdp_source_cells_prepare(struct bpf_map *cells);
/* key's entry in every CPU's table: per_cpu[cpu] (t->n of them), zeroed
 * (state ELB_FLOW_FREE) where a table has none. @return 0, -ENOENT if no
 * table has it, or -errno. A lookup from user space leaves the LRU order as
 * it was. */
int xdp_flow_tables_lookup(const struct xdp_flow_tables *t, const struct elb_flow_id *key,
			   struct elb_xdp_flow *per_cpu);
/* Write per_cpu[cpu] into CPU cpu's table, or delete key there when its
 * state is ELB_FLOW_FREE. @return 0 or -errno. */
int xdp_flow_tables_update(const struct xdp_flow_tables *t, const struct elb_flow_id *key,
			   const struct elb_xdp_flow *per_cpu);
int xdp_flow_tables_delete(const struct xdp_flow_tables *t, const struct elb_flow_id *key);
/* The flow tables' key of a packet's flow key: its VIP found in the vips
 * map (vips_fd) as the program finds it. @return 0, -ENOENT (no VIP: the
 * program never reaches the flow tables) or -errno. */
int xdp_flow_id_of(int vips_fd, const struct elb_flow_key *key, struct elb_flow_id *id);
/* Before the load: a pinned `flows` of the earlier layout (LRU_PERCPU_HASH)
 * under pin_dir is moved aside to flows_percpu and *old_fd set to it (also when
 * an earlier start left flows_percpu); -1 if there is none.
 * @return 0 or -errno. */
int xdp_flows_set_aside_percpu(const char *pin_dir, int *old_fd);
/* Copy every CPU's copy in use of every flow of old_fd (LRU_PERCPU_HASH
 * keyed by struct elb_flow_key) into that CPU's table, keyed by the VIP
 * index of vips_fd; *adopted counts the copies, *dropped the flows of no
 * VIP. @return 0 or -errno. */
int xdp_flows_adopt_percpu(const struct xdp_flow_tables *t, int old_fd, int vips_fd,
			   uint64_t *adopted, uint64_t *dropped);

/* ---- the prefix lists (xdp_prefixes.c) ---- */

struct elb_xdp_prefix_key;

/* struct elb_dp_ops.apply_prefixes: set's lists, resolved against the
 * config in force, written into a new trie and swapped in. On failure the
 * lists in force stay. @return 0 or -errno (err says why). */
int xdp_prefixes_apply(void *ctx, const struct elb_prefix_set *set, char *err, size_t errlen);
/* Around xdp_maps_write of a config: stage before (adds the lists of
 * next's new VIPs, unseen until the maps name them; @return 0 or -errno),
 * settle after, whether the write succeeded or not (deletes the lists of
 * VIPs that dp->snap no longer has). */
int xdp_prefixes_stage(struct xdp_dataplane *dp, const struct elb_snapshot *next);
void xdp_prefixes_settle(struct xdp_dataplane *dp);
/* At start over pinned maps (dp->snap read from them): the trie in force
 * and the globals for it. @return 0 or -errno. */
int xdp_prefixes_restore(struct xdp_dataplane *dp);
void xdp_prefixes_status(const struct xdp_dataplane *dp, cJSON *out);
void xdp_prefixes_close(struct xdp_dataplane *dp);
/* The trie's key of a rule in a scope (the VIP's generation or
 * ELB_XDP_PREFIX_NODE). */
void xdp_prefix_key_of(const struct elb_prefix_rule *rule, uint32_t scope,
		       struct elb_xdp_prefix_key *key);

extern const struct elb_dp_ops xdp_ops;

/* CLOCK_MONOTONIC in ns: the program's bpf_ktime_get_ns(). */
static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Per-CPU map values as user space reads and writes them: one copy per
 * possible CPU (libbpf_num_possible_cpus()), each rounded up to 8 bytes. */
static inline size_t xdp_percpu_stride(size_t size)
{
	return (size + 7) & ~(size_t)7;
}

/* Counters as counters.get reports them (the per-CPU maps summed). */
int xdp_counters_json(struct xdp_dataplane *dp, cJSON *out, const struct elb_dp_vip_key *vip);

#endif /* XDP_H */
