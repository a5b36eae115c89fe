/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * edgelb-xdp --iface IF [--mode native|generic] [--config FILE] [--state FILE]
 *            [--socket PATH] [--flows N]
 *
 * The XDP dataplane agent, for NICs DPDK cannot drive: loads
 * bpf/edgelb.bpf.c, configures it (the state file, else --config, else
 * nothing), attaches it to IF and serves the dataplane protocol
 * (docs/dataplane-protocol.md) on --socket. Traffic that is not for a VIP
 * passes to the kernel untouched, so the node keeps ARP, BGP and SSH.
 *
 * Restarts keep flows: the maps are pinned under /sys/fs/bpf/edgelb/IF/ and
 * reused by the next run, which learns the backend slots and generations in
 * force from them, so established flows stay on their backends. SIGINT or
 * SIGTERM detaches the program (the pinned maps stay) and exits 0. SIGUSR2
 * exits 0 leaving the program attached, for an upgrade: traffic goes on
 * through it and the pinned maps, with no gap, until the next run attaches
 * its own over it (one atomic replace).
 *
 * Under systemd (systemd/edgelb-xdp@.service): READY=1 once attached and
 * configured, WATCHDOG=1 from the loop that serves the socket (elb_notify.h).
 * A process that dies without SIGTERM (the watchdog's SIGABRT, SIGKILL)
 * leaves the program attached: traffic goes on through it and the pinned
 * maps until the next run attaches its own over it.
 *
 * A host as it comes may have no bpffs on /sys/fs/bpf (and `ip netns exec`
 * gives its command a fresh /sys without one): the agent then mounts one
 * there itself, as bpftool and the Cilium agent do, and says so.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#include "edgelb_xdp_maps.h"
#include "xdp.h"
/* The skeleton names core types: they are defined above. */
#include "edgelb.skel.h"
#include "elb_iface.h"
#include "elb_notify.h"
#include "elb_options.h"
#include "elb_version.h"

#define XDP_BPFFS "/sys/fs/bpf"
#define XDP_PIN_ROOT XDP_BPFFS "/edgelb"
#define XDP_SOCKET_DIR "/run/edgelb"
#define XDP_CONTROL_POLL_MS 200

struct xdp_main_options {
	struct elb_dp_options shared; /* --config --state --socket --flows */
	const char *iface;
	const char *mode;
	const char *pin_dir; /* NULL: XDP_PIN_ROOT/<iface> */
};

static volatile sig_atomic_t stop, leave_attached;

static void on_signal(int sig)
{
	if (sig == SIGUSR2)
		leave_attached = 1;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: edgelb-xdp --iface IF [--mode native|generic] [--config FILE] [--state FILE]\n"
		"                  [--socket PATH] [--flows N] [--pin-dir DIR]\n"
		"  --mode      native: the driver runs the program (default); generic: the kernel's\n"
		"              skb path, for any interface\n"
		"  --socket    dataplane protocol socket (default " XDP_SOCKET_DIR "/xdp-IF.sock)\n"
		"  --flows     flow table capacity per CPU (default %u)\n"
		"  --pin-dir   where the maps are pinned (default " XDP_PIN_ROOT "/IF); give one per\n"
		"              network namespace when interfaces share a name across namespaces\n",
		ELB_XDP_DEFAULT_FLOWS);
}

enum { OPT_IFACE = 'i', OPT_MODE = 'm', OPT_PIN_DIR = 'P' };

static int own_option(void *ctx, int val, const char *arg)
{
	struct xdp_main_options *o = ctx;

	switch (val) {
	case OPT_IFACE:
		o->iface = arg;
		return 0;
	case OPT_MODE:
		o->mode = arg;
		return 0;
	default:
		if (strlen(arg) >= PATH_MAX) {
			fprintf(stderr, "edgelb-xdp: --pin-dir: path too long\n");
			return -EINVAL;
		}
		o->pin_dir = arg;
		return 0;
	}
}

static int parse_options(int argc, char **argv, struct xdp_main_options *o)
{
	static const struct option own[] = {
		{"iface", required_argument, NULL, OPT_IFACE},
		{"mode", required_argument, NULL, OPT_MODE},
		{"pin-dir", required_argument, NULL, OPT_PIN_DIR},
		{NULL, 0, NULL, 0},
	};
	const struct elb_dp_options_spec spec = {
		.program = "edgelb-xdp",
		.flows_max = UINT32_MAX, /* the flow map's max_entries */
		.own = own,
		.own_option = own_option,
		.ctx = o,
		.usage = usage,
	};
	int first_arg;

	*o = (struct xdp_main_options){.mode = "native"};
	first_arg = elb_dp_options_parse(argc, argv, &spec, &o->shared);
	if (first_arg < 0)
		return first_arg;
	if (o->iface == NULL || first_arg != argc ||
	    (strcmp(o->mode, "native") != 0 && strcmp(o->mode, "generic") != 0)) {
		usage();
		return -EINVAL;
	}
	return 0;
}

static int mkdir_if_missing(const char *path)
{
	return mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
}

static bool on_bpffs(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

/*
 * The default pin root lives on /sys/fs/bpf: mount a bpffs there when it is
 * not one. A mount made here outlives the agent only in the mount namespace
 * it was made in: inside `ip netns exec` (a namespace of its own per
 * command) the next run gets a new, empty bpffs, so its flows are not kept.
 */
static int ensure_bpffs(void)
{
	if (on_bpffs(XDP_BPFFS))
		return 0;
	if (mkdir_if_missing(XDP_BPFFS) || mount("bpf", XDP_BPFFS, "bpf", 0, "mode=0700")) {
		fprintf(stderr, "edgelb-xdp: %s is not a bpffs and mounting one failed: %s\n",
			XDP_BPFFS, strerror(errno));
		return -errno;
	}
	fprintf(stderr,
		"edgelb-xdp: mounted a bpffs on %s (there was none); in a private mount namespace "
		"(ip netns exec) it ends with the namespace: give --pin-dir on a lasting bpffs "
		"to keep flows across restarts there\n",
		XDP_BPFFS);
	return 0;
}

/* /sys/class/net/IF/iflink: a veth's peer's ifindex (in the peer's namespace). */
static int iface_link(const char *ifname)
{
	char path[IF_NAMESIZE + 32];
	int link = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/iflink", ifname);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fscanf(f, "%d", &link) != 1)
		link = -1;
	fclose(f);
	return link;
}

/*
 * veth in native mode drops what the program sends with XDP_TX unless the
 * peer has an XDP program of its own (kernel 6.x: xdp_tx_errors in ethtool
 * -S; the frames are lost without an error anywhere else). Say so at
 * attach. The peer is the interface of our namespace whose iflink is ours
 * and ours its; if there is none it is in another namespace, where this
 * process cannot look. Other drivers have no such condition.
 */
static void warn_native_veth(const char *ifname, int ifindex)
{
	char driver[32], peer_name[IF_NAMESIZE] = "";
	int peer = iface_link(ifname);
	uint32_t prog_id = 0;

	if (elb_iface_driver(ifname, driver, sizeof(driver)) < 0 || strcmp(driver, "veth") != 0)
		return;
	if (peer > 0 && peer != ifindex && if_indextoname((unsigned)peer, peer_name) != NULL &&
	    iface_link(peer_name) == ifindex) {
		if (bpf_xdp_query_id(peer, 0, &prog_id) == 0 && prog_id != 0)
			return;
		fprintf(stderr,
			"edgelb-xdp: warning: %s is a veth in native mode and its peer %s has no XDP "
			"program: veth drops what edgelb-xdp sends back out (XDP_TX) until the peer has "
			"one (XDP_PASS will do); or use --mode generic\n",
			ifname, peer_name);
		return;
	}
	fprintf(stderr,
		"edgelb-xdp: warning: %s is a veth in native mode with its peer in another "
		"namespace: veth drops what edgelb-xdp sends back out (XDP_TX) unless the peer has "
		"an XDP program of its own (XDP_PASS will do); or use --mode generic\n",
		ifname);
}

int main(int argc, char **argv)
{
	static struct xdp_dataplane dp;
	struct xdp_main_options o;
	struct elb_dp_api_options api_options;
	struct elb_dp_config *initial = NULL;
	struct elb_dp_api *api = NULL;
	struct elb_dp_err err;
	char pin_dir[PATH_MAX], socket_path[IF_NAMESIZE + 64];
	uint32_t attach_flags;
	bool attached = false;
	int rc, exit_code = 1;

	if (elb_version_requested(argc, argv))
		return elb_version_print("edgelb-xdp", ELB_DP_PROTOCOL_VERSION);
	if (parse_options(argc, argv, &o))
		return 2;
	elb_notify_init();
	dp.ifname = o.iface;
	dp.mode = o.mode;
	dp.ifindex = (int)if_nametoindex(o.iface);
	if (dp.ifindex == 0 || elb_iface_mac(o.iface, dp.iface_mac)) {
		fprintf(stderr, "edgelb-xdp: %s: %s\n", o.iface, strerror(errno));
		return 1;
	}
	attach_flags = strcmp(o.mode, "generic") == 0 ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	if (o.shared.config_path && elb_dp_config_load_file(o.shared.config_path, &initial, &err) < 0) {
		fprintf(stderr, "edgelb-xdp: %s\n", err.text);
		return 1;
	}
	if (o.shared.socket_path == NULL) {
		if (mkdir_if_missing(XDP_SOCKET_DIR))
			fprintf(stderr, "edgelb-xdp: %s: %s\n", XDP_SOCKET_DIR, strerror(errno));
		snprintf(socket_path, sizeof(socket_path), XDP_SOCKET_DIR "/xdp-%s.sock", o.iface);
		o.shared.socket_path = socket_path;
	}
	if (o.pin_dir)
		snprintf(pin_dir, sizeof(pin_dir), "%s", o.pin_dir);
	else
		snprintf(pin_dir, sizeof(pin_dir), XDP_PIN_ROOT "/%s", o.iface);
	if (o.pin_dir == NULL && (ensure_bpffs() || mkdir_if_missing(XDP_PIN_ROOT)))
		goto out;
	if (mkdir_if_missing(pin_dir)) {
		fprintf(stderr, "edgelb-xdp: %s: %s\n", pin_dir, strerror(errno));
		goto out;
	}
	if (!on_bpffs(pin_dir)) {
		fprintf(stderr, "edgelb-xdp: --pin-dir %s is not on a bpffs (mount -t bpf bpf DIR)\n",
			pin_dir);
		goto out;
	}

	if (xdp_dataplane_load(&dp, o.shared.flows, pin_dir) || xdp_dataplane_start(&dp))
		goto out;
	/* vip.tables' walks of the flow map on a thread of their own: at
	 * millions of flows one takes seconds, which this thread (every
	 * request, every config push) cannot wait. */
	rc = xdp_flow_counter_start(&dp);
	if (rc)
		fprintf(stderr, "edgelb-xdp: no counting thread (%s): flows counted synchronously\n",
			strerror(-rc));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR2, on_signal);

	/* Configured before attached: the first packet already sees the VIPs. */
	api_options = elb_dp_options_api(&o.shared, "xdp", initial);
	/* Restarted over pinned maps with nothing to load: they are the
	 * state, until edgelb-cp (or anyone) sends one. */
	api_options.keep_running_state = dp.snap_partial;
	rc = elb_dp_api_open(&api, &api_options, &xdp_ops, &dp, &err);
	if (rc) {
		fprintf(stderr, "edgelb-xdp: %s\n", err.text[0] ? err.text : strerror(-rc));
		goto out;
	}
	rc = bpf_xdp_attach(dp.ifindex, bpf_program__fd(dp.skel->progs.edgelb_xdp), attach_flags,
			    NULL);
	if (rc) {
		fprintf(stderr, "edgelb-xdp: attaching to %s in %s mode: %s\n", o.iface, o.mode,
			strerror(-rc));
		goto out;
	}
	attached = true;
	if (attach_flags == XDP_FLAGS_DRV_MODE)
		warn_native_veth(o.iface, dp.ifindex);
	{
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(dp.skel->progs.edgelb_xdp), &info, &len) ==
		    0)
			dp.prog_id = info.id;
	}
	printf("edgelb-xdp: attached to %s (ifindex %d, %s mode, prog id %u), socket %s\n",
	       o.iface, dp.ifindex, o.mode, dp.prog_id, o.shared.socket_path);
	fflush(stdout);
	/* Epoch 0 after open: restarted over pinned maps with nothing to load,
	 * which serve as they are (running_state_kept in status.get). */
	if (elb_dp_api_epoch(api) == 0)
		elb_notify_ready("attached to %s (%s mode, prog id %u), serving the VIPs kept in "
				 "the pinned maps, socket %s",
				 o.iface, o.mode, dp.prog_id, o.shared.socket_path);
	else
		elb_notify_ready("attached to %s (%s mode, prog id %u), %u VIP%s at epoch %" PRIu64
				 ", socket %s",
				 o.iface, o.mode, dp.prog_id, elb_dp_api_config(api)->n_vips,
				 elb_dp_api_config(api)->n_vips == 1 ? "" : "s",
				 elb_dp_api_epoch(api), o.shared.socket_path);

	/* The watchdog is pinged from this loop only: a stalled control thread
	 * stops the pings, the attached program keeps forwarding. */
	while (!stop) {
		elb_dp_api_poll(api, elb_notify_poll_ms(XDP_CONTROL_POLL_MS));
		elb_notify_watchdog();
	}
	elb_notify_stopping(leave_attached ? "stopping: leaving the program attached to %s"
					   : "stopping: detaching from %s (the pinned maps stay)",
			    o.iface);
	exit_code = 0;
out:
	if (attached && leave_attached) {
		printf("edgelb-xdp: left attached to %s (SIGUSR2): it forwards with the pinned maps "
		       "until the next edgelb-xdp replaces it\n",
		       o.iface);
	} else if (attached) {
		rc = bpf_xdp_detach(dp.ifindex, attach_flags, NULL);
		if (rc) {
			fprintf(stderr, "edgelb-xdp: detaching from %s: %s\n", o.iface, strerror(-rc));
			exit_code = 1;
		} else {
			printf("edgelb-xdp: detached from %s\n", o.iface);
		}
	}
	elb_dp_api_close(api);
	elb_dp_config_free(initial);
	if (dp.skel)
		xdp_dataplane_close(&dp);
	return exit_code;
}
