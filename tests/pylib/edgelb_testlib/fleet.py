# SPDX-License-Identifier: BSD-3-Clause
"""The fleet of docs/fleet.md in network namespaces, for tests/fleet and
tests/upgrade: two edge nodes behind one ECMP router. Each node runs its own
edgelb-cp, which runs its own BIRD 2 and announces the VIPs over eBGP; the
router (BIRD 2, `merge paths`, L4 multipath hash) spreads clients over the
nodes that announce. Nothing is shared between the nodes but their
configuration (same VIPs, backends, hash seed).

    client ---- router (BIRD, ECMP) ---- node A: edgelb-dp (net_af_xdp) + edgelb-cp + BIRD
                   |          \\-------- node B: edgelb-xdp (generic)   + edgelb-cp + BIRD
                 bridge ---- b1, b2, b3   (VIP on lo, edgelb-decap, answer the client: DSR)

tools/netns-topology builds client, router, node A and the backends;
Fleet.build adds node B (its own link to the router) and replaces the
router's static VIP routes by BIRD's. Each edgelb-cp runs in its node's
namespace (BIRD runs where its sessions are), checks the backends (HTTP
for the IPv4 VIP, TCP over IPv6 for the IPv6 one) and manages its one
dataplane. Checks are edgelb_testlib.e2e's (check, CHECKS)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from edgelb_testlib import fleet_agents
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import TOPOLOGY, Client, check, start_backend, start_dataplane, stop_process
from edgelb_testlib.netns import sh
from edgelb_testlib.proc import poll_until
from edgelb_testlib.pytest_plugin import print_past_capture

FLEET_AGENTS = fleet_agents.__file__

BIRD = "/usr/sbin/bird"
ROUTER_AS, NODE_AS = 65000, 65010
NAMES = ("b1", "b2", "b3")
HTTP_PORT = 80
# Node B's link: the topology uses 192.0.2.0/28 (node A) and .64/26 (backends).
ROUTER_B4, NODE_B4 = "192.0.2.17", "192.0.2.18"
# Its IPv6 link (node A's is the topology's 2001:db8:1b::/64).
ROUTER_B6, NODE_B6 = "2001:db8:1c::1", "2001:db8:1c::2"
HC6_PORT = 8080           # the v6 VIP's TCP health check (fleet_agents.py listen)
HASH_SEED = {"k0": "0123456789abcdef", "k1": "fedcba9876543210"}
# FALL: a backend leaves service only after 3 s of failed checks. A node whose
# checks stall (its CPUs taken: edgelb-dp polls with both of the test machine's)
# would otherwise take a backend out of its own tables alone, and the
# connections that move to it mid-way (drain, kill) would reach another
# backend: the exception of docs/fleet.md, not what is measured here.
INTERVAL_MS, TIMEOUT_MS, RISE, FALL = 300, 300, 2, 10
AGENT_LIFETIME_S = 200    # every agent exits by then whatever happens
ROUTE_BOUND_S = 10        # a route change seen by the router within this
DRAIN_QUIET_MS = 1500


def fmt(seconds):
    return "none" if seconds is None else f"{seconds:.2f}"


def figure(text):
    """A measured figure (docs/fleet.md, docs/deploy.md), in the test's log."""
    print_past_capture("FIGURE " + text)


def endpoint(addr, port):
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


class FleetClient(Client):
    """e2e.Client running fleet_agents.py (held connections to several
    VIPs, with their 5-tuples)."""

    def __init__(self, ns, lifetime):  # pylint: disable=super-init-not-called
        # (Client.__init__ would start agents.py.)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, FLEET_AGENTS, "client", str(lifetime)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


class Node:
    """One edge node: its namespace, dataplane, edgelb-cp and (through it) BIRD."""

    def __init__(self, name, kind, ns, iface, addr, addr6, gateway_mac, work, tag, pin_dir=None):
        self.name, self.kind, self.ns, self.iface, self.addr = name, kind, ns, iface, addr
        self.tag = tag
        self.addr6 = addr6
        self.gateway_mac = gateway_mac
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.dp_sock = os.path.join(self.dir, "dp.sock")
        self.cp_sock = os.path.join(self.dir, "cp.sock")
        self.cp_config = os.path.join(self.dir, "cp.json")
        self.run_dir = os.path.join(self.dir, "bgp")
        self.pin_dir = pin_dir
        self.dp = self.cp = None

    def topo(self, base):
        """What e2e.start_dataplane wants to know about this node."""
        t = dict(base)
        t.update(NS_LB=self.ns, LB_IFACE=self.iface)
        if self.pin_dir:
            t["PIN_DIR"] = self.pin_dir
        return t

    def write_config(self, topo, vip, vip6, extra_vips=()):
        """The node's edgelb-cp configuration: the fleet's two VIPs, then
        extra_vips (VIP objects as edgelb-cp reads them, health_check left
        out: the IPv4 or IPv6 one below, by the VIP's family)."""
        hc = {"type": "http", "path": "/healthz", "expect_status": 200, "port": HTTP_PORT,
              "interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS, "rise": RISE, "fall": FALL}
        # The backends' HTTP servers listen on the VIPs and their own IPv4
        # address only: the v6 VIP's check is TCP, on a port of their own v6 address.
        hc6 = {"type": "tcp", "port": HC6_PORT, "interval_ms": INTERVAL_MS,
               "timeout_ms": TIMEOUT_MS, "rise": RISE, "fall": FALL}
        config = {
            "node": {"hash_seed": HASH_SEED, "source_v4": self.addr, "source_v6": self.addr6,
                     "gateway_mac": self.gateway_mac, "gue_port": 6080},
            # One session per family: a neighbor carries its own family's VIPs.
            "bgp": {"local_as": NODE_AS, "router_id": self.addr,
                    "neighbors": [{"address": self.router_addr, "as": ROUTER_AS},
                                  {"address": self.router_addr6, "as": ROUTER_AS}],
                    "hold_time_s": 3, "bird": BIRD, "run_dir": self.run_dir,
                    "drain_quiet_ms": DRAIN_QUIET_MS, "drain_timeout_ms": 30000},
            "dataplanes": [{"name": f"dp-{self.name}", "socket": self.dp_sock}],
            "vips": [{"address": vip, "port": HTTP_PORT, "protocol": "tcp",
                      "backends": [{"address": topo[f"BACKEND{i}_4"]} for i in (1, 2, 3)],
                      "health_check": hc},
                     {"address": vip6, "port": HTTP_PORT, "protocol": "tcp",
                      "backends": [{"address": topo[f"BACKEND{i}_6"]} for i in (1, 2, 3)],
                      "health_check": hc6}],
        }
        for extra in extra_vips:
            config["vips"].append(dict(extra, health_check=hc6 if ":" in extra["address"]
                                       else hc))
        with open(self.cp_config, "w") as f:
            json.dump(config, f, indent=1)

    def start_cp(self, cp_binary):
        log = open(os.path.join(self.dir, "cp.log"), "a")
        self.cp = subprocess.Popen(["ip", "netns", "exec", self.ns, cp_binary, "--config",
                                    self.cp_config, "--socket", self.cp_sock],
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        t = poll_until(lambda: "state" in jsonrpc.call(self.cp_sock, "node.get"), 10)
        check(t is not None, f"node {self.name}: edgelb-cp answering after {fmt(t)} s")

    def start_dp(self, binary, base_topo):
        log = open(os.path.join(self.dir, "dp.log"), "a")
        self.dp, up = start_dataplane(self.kind, binary, self.topo(base_topo), self.dp_sock,
                                      f"{self.tag}{self.name}", log=log)
        log.close()
        return up

    def bird_pid(self):
        try:
            with open(os.path.join(self.run_dir, "bird.pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def node(self):
        return jsonrpc.call(self.cp_sock, "node.get")

    def explain(self, ctl, src, sport, dst, dport):
        """`edgelbctl explain` through this node's edgelb-cp: its one dataplane's answer."""
        r = subprocess.run([ctl, "--socket", self.cp_sock, "--json", "explain",
                            endpoint(src, sport), endpoint(dst, dport), "tcp"],
                           capture_output=True, text=True, timeout=10)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        if r.returncode != 0 or len(lines) != 1:
            raise RuntimeError(f"edgelbctl explain on node {self.name}: exit {r.returncode} "
                               f"{r.stdout.strip()[:200]} {r.stderr.strip()[:200]}")
        return lines[0]

    def vip_counters(self, vip_name):
        for v in jsonrpc.call(self.dp_sock, "counters.get")["counters"]["vips"]:
            if v["vip"] == vip_name:
                return {"rx": v["rx"]["packets"], "new_flows": v["new_flows"]}
        return {"rx": 0, "new_flows": 0}

    def digest(self, vip_name):
        for v in jsonrpc.call(self.dp_sock, "vip.tables")["vips"]:
            if v["vip"] == vip_name:
                return v.get("digest")
        return None



class Fleet:
    """The fleet: build() its namespaces and links, start() its processes,
    teardown() (also after a failure). args: the binaries (dp, xdp, cp,
    ctl, decap); tag: this run's names (namespaces, EAL prefixes)."""

    def __init__(self, args, work, tag):
        self.args, self.work, self.tag = args, work, tag
        self.vip_name = self.vip6_name = None
        self.topo = None
        self.router_bird = None
        self.bpffs = os.path.join(work, "bpffs")
        self.nodes = {}
        self.backends = {}
        self.client = None
        # VIPs every node's configuration has beside the fleet's two (set
        # before start(); see Node.write_config).
        self.extra_vips = []

    # --- topology ----------------------------------------------------------

    def build(self):
        env = dict(os.environ, EDGELB_DECAP=os.path.abspath(self.args.decap), LB_ADDRESS="none")
        up = subprocess.run([TOPOLOGY, "up", self.tag], env=env, text=True, capture_output=True)
        if not check(up.returncode == 0, f"topology {self.tag} up ({up.stderr.strip()[:300]})"):
            return False
        self.topo = topo = dict(l.split("=", 1) for l in up.stdout.splitlines() if "=" in l)
        rt, ns_b = topo["NS_ROUTER"], f"{self.tag}-lb2"
        # Node B: a namespace and a link of its own, set up as the topology's.
        sh("ip", "netns", "add", ns_b)
        sh("ip", "link", "set", "lo", "up", ns=ns_b)
        for key in ("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                    "net.ipv6.conf.all.accept_dad=0"):
            sh("sysctl", "-qw", key, ns=ns_b)
        sh("ip", "link", "add", "to-lb2", "netns", rt, "type", "veth", "peer", "name", "eth0",
           "netns", ns_b)
        sh("ip", "link", "set", "to-lb2", "up", ns=rt)
        sh("ip", "link", "set", "eth0", "up", ns=ns_b)
        sh("ip", "addr", "add", f"{ROUTER_B4}/28", "dev", "to-lb2", ns=rt)
        sh("ip", "addr", "add", f"{NODE_B4}/28", "dev", "eth0", ns=ns_b)
        sh("ip", "route", "add", "default", "via", ROUTER_B4, ns=ns_b)
        sh("ip", "addr", "add", f"{ROUTER_B6}/64", "dev", "to-lb2", "nodad", ns=rt)
        sh("ip", "addr", "add", f"{NODE_B6}/64", "dev", "eth0", "nodad", ns=ns_b)
        sh("ip", "-6", "route", "add", "default", "via", ROUTER_B6, ns=ns_b)
        sh("ethtool", "-K", "to-lb2", "tx", "off", ns=rt)
        # edgelb-xdp's flow table is per CPU: one CPU receives (as the topology does for A).
        sh("sh", "-c", "echo 1 >/sys/class/net/eth0/queues/rx-0/rps_cpus", ns=ns_b)
        # The router: BGP instead of the static route; multipath on the 5-tuple; a
        # next hop whose link is down is not used while BGP notices.
        sh("ip", "route", "del", f"{topo['VIP4']}/32", ns=rt)
        sh("ip", "-6", "route", "del", f"{topo['VIP6']}/128", ns=rt)
        for key in ("net.ipv4.fib_multipath_hash_policy=1",
                    "net.ipv6.fib_multipath_hash_policy=1",
                    "net.ipv4.conf.all.ignore_routes_with_linkdown=1",
                    "net.ipv6.conf.all.ignore_routes_with_linkdown=1"):
            sh("sysctl", "-qw", key, ns=rt)
        router_b_mac = json.loads(sh("ip", "-j", "link", "show", "to-lb2", ns=rt).stdout)[0][
            "address"]
        os.makedirs(self.bpffs)
        subprocess.run(["mount", "-t", "bpf", "bpf", self.bpffs], check=True)
        self.nodes["a"] = Node("a", "dpdk", topo["NS_LB"], "eth0", topo["LB4"], topo["LB6"],
                               topo["ROUTER_LB_MAC"], self.work, self.tag)
        self.nodes["a"].router_addr = topo["LB_GATEWAY4"]
        self.nodes["a"].router_addr6 = topo["LB_GATEWAY6"]
        self.nodes["a"].router_dev = "to-lb"
        self.nodes["b"] = Node("b", "xdp", ns_b, "eth0", NODE_B4, NODE_B6, router_b_mac,
                               self.work, self.tag, pin_dir=os.path.join(self.bpffs, "edgelb-b"))
        self.nodes["b"].router_addr = ROUTER_B4
        self.nodes["b"].router_addr6 = ROUTER_B6
        self.nodes["b"].router_dev = "to-lb2"
        return True

    def start(self):
        """The backends' servers (HTTP, and the v6 check's port), the
        router's BIRD, both nodes' dataplanes, then their edgelb-cp. Sets
        t_dataplanes (when the dataplanes were started)."""
        topo, a, b = self.topo, self.nodes["a"], self.nodes["b"]
        vip, vip6 = topo["VIP4"], topo["VIP6"]
        self.vip_name = f"{vip}:{HTTP_PORT}/tcp"
        self.vip6_name = f"[{vip6}]:{HTTP_PORT}/tcp"
        for i, name in enumerate(NAMES, start=1):
            self.backends[name] = start_backend(topo, i, name, [5353], AGENT_LIFETIME_S,
                                                health=True)
            self.start_hc6_listener(i, name)
        self.start_router_bird()
        for n in (a, b):
            n.write_config(topo, vip, vip6, self.extra_vips)
        self.t_dataplanes = time.monotonic()
        a.start_dp(self.args.dp, topo)
        b.start_dp(self.args.xdp, topo)
        assert a.dp is not None and b.dp is not None, "both nodes' dataplanes up"
        a.start_cp(self.args.cp)
        b.start_cp(self.args.cp)

    def start_router_bird(self):
        conf = os.path.join(self.work, "router-bird.conf")
        sessions = "".join(f"""
protocol bgp node_{n.name}{f} {{
	local as {ROUTER_AS};
	neighbor {addr} as {NODE_AS};
	hold time 3;
	keepalive time 1;
	connect delay time 1;
	connect retry time 2;
	error wait time 1, 10;
	ipv{f} {{ import all; export none; }};
}}
""" for n in self.nodes.values() for f, addr in ((4, n.addr), (6, n.addr6)))
        with open(conf, "w") as f:
            f.write(f"""log "{self.work}/router-bird.log" all;
router id {self.topo['LB_GATEWAY4']};
protocol device {{ scan time 10; }}
# The nodes' routes are equal (same AS path length, origin, no MED): merged
# into one multipath kernel route.
protocol kernel {{
	ipv4 {{ import none; export all; }};
	merge paths on;
}}
protocol kernel {{
	ipv6 {{ import none; export all; }};
	merge paths on;
}}
{sessions}""")
        log = open(os.path.join(self.work, "router-bird.out"), "a")
        self.router_bird = subprocess.Popen(
            ["ip", "netns", "exec", self.topo["NS_ROUTER"], BIRD, "-f", "-c", conf, "-s",
             os.path.join(self.work, "router-bird.ctl")], stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def routes(self, family=4):
        """The router's usable next hops for the VIP of `family`, as (gateway, dev)."""
        prefix = f"{self.topo['VIP4']}/32" if family == 4 else f"{self.topo['VIP6']}/128"
        out = sh("ip", f"-{family}", "-j", "route", "show", prefix, ns=self.topo["NS_ROUTER"])
        hops = set()
        for r in json.loads(out.stdout or "[]"):
            for nh in r.get("nexthops", [r]):
                if "gateway" in nh and "linkdown" not in nh.get("flags", []) + r.get("flags", []):
                    hops.add((nh["gateway"], nh.get("dev", r.get("dev"))))
        return hops

    def next_hops(self, family=4):
        """The router's next hops for the VIP of `family`: the nodes' addresses
        of that family (a link-local gateway counts for the node on its link)."""
        hops = set()
        for gateway, dev in self.routes(family):
            for n in self.nodes.values():
                if gateway in (n.addr, n.addr6) or (gateway.startswith("fe80:") and
                                                    dev == n.router_dev):
                    hops.add(n.addr if family == 4 else n.addr6)
        return hops

    def wait_hops(self, want, timeout=ROUTE_BOUND_S, family=4):
        return poll_until(lambda: self.next_hops(family) == want, timeout, 0.02)

    def teardown(self):
        if self.client:
            self.client.close()
        for n in self.nodes.values():
            for p in (n.cp, n.dp):
                if p is not None:
                    stop_process(p, signal.SIGKILL, 5)
            # edgelb-cp leaves BIRD running on purpose (fail static): ours to stop.
            pid = n.bird_pid()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.router_bird:
            stop_process(self.router_bird, signal.SIGKILL, 5)
        for p in self.backends.values():
            stop_process(p, signal.SIGKILL, 5)
        ns_b = f"{self.tag}-lb2"
        if subprocess.run(["ip", "netns", "pids", ns_b], capture_output=True).returncode == 0:
            for pid in subprocess.run(["ip", "netns", "pids", ns_b], capture_output=True,
                                      text=True).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", ns_b], capture_output=True)
        subprocess.run([TOPOLOGY, "down", self.tag], capture_output=True)
        for n in self.nodes.values():
            shutil.rmtree(f"/var/run/dpdk/{self.tag}{n.name}", ignore_errors=True)
        if os.path.ismount(self.bpffs):
            subprocess.run(["umount", self.bpffs], capture_output=True)

    # --- helpers -------------------------------------------------------------

    def ctl(self, node, *argv, timeout=60):
        """`edgelbctl ARGV` on node's edgelb-cp, checked: (seconds, stdout)."""
        t0 = time.monotonic()
        r = subprocess.run([self.args.ctl, "--socket", node.cp_sock, *argv],
                           capture_output=True, text=True, timeout=timeout)
        check(r.returncode == 0, f"edgelbctl {' '.join(argv)} on node {node.name} "
              f"(exit {r.returncode}): {(r.stdout + r.stderr).strip()[:200]}")
        return time.monotonic() - t0, r.stdout

    def counters(self, vip_name=None):
        """{node: its dataplane's rx and new_flows for the VIP} of the
        nodes whose dataplane runs."""
        return {k: n.vip_counters(vip_name or self.vip_name) for k, n in self.nodes.items()
                if n.dp is not None and n.dp.poll() is None}

    def start_hc6_listener(self, index, name):
        """A TCP port on the backend's own IPv6 address for the v6 VIP's check."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.topo[f"BACKEND{index}_NS"],
                                 sys.executable, FLEET_AGENTS, "listen",
                                 self.topo[f"BACKEND{index}_6"], str(HC6_PORT),
                                 str(AGENT_LIFETIME_S)], stdout=subprocess.PIPE, text=True)
        self.backends[f"{name}-hc6"] = proc
        check(proc.stdout.readline().strip() == "ready",
              f"backend {name}: TCP check port {HC6_PORT} on {self.topo[f'BACKEND{index}_6']}")

    def explain_held(self, held):
        """flow.explain of every held connection (fleet_agents' hold_info:
        host, src, sport, first backend) on both nodes: the node carrying
        it hits the backend that answers it, the other misses to the same
        one. Returns (how many did, how many held, {node: carried})."""
        topo, a, b = self.topo, self.nodes["a"], self.nodes["b"]
        address = {}
        for i, name in enumerate(NAMES, start=1):
            address[(name, 4)] = topo[f"BACKEND{i}_4"]
            address[(name, 6)] = topo[f"BACKEND{i}_6"]
        good, carried, bad, encaps = 0, {"a": 0, "b": 0}, [], set()
        for c in held:
            family = 6 if ":" in c["host"] else 4
            want = address.get((c["first"], family))
            try:
                r = {n.name: n.explain(self.args.ctl, c["src"], c["sport"], c["host"], HTTP_PORT)
                     for n in (a, b)}
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                bad.append(str(e)[:200])
                continue
            got = {k: (v["flow"]["decision"], v.get("backend", {}).get("address"),
                       v.get("maglev", {}).get("backend")) for k, v in r.items()}
            encap = {v.get("encap", {}).get("type") for v in r.values()}
            encaps |= {(family, e) for e in encap}
            hits = [k for k, v in got.items() if v[0] == "hit"]
            other = "b" if hits == ["a"] else "a"
            ok = (len(hits) == 1 and got[hits[0]][1] == want and got[other][0] == "miss"
                  and got[other][1] == want and got[other][2] == want
                  and all(v.get("consistent") for v in r.values())
                  and (family == 4 or encap == {"ip6ip6"}))
            if ok:
                good += 1
                carried[hits[0]] += 1
            else:
                bad.append(f"{endpoint(c['src'], c['sport'])} -> {c['host']} answered by "
                           f"{c['first']} ({want}): {got} encap {encap}")
        n = len(held)
        check(n > 0 and good == n, f"explain: {good} of {n} held connections: the node carrying "
              f"it hits the backend that answers it, the other misses to the same backend "
              f"(carried by A {carried['a']}, by B {carried['b']}; encapsulation "
              f"{sorted(map(str, encaps))}) {bad[:3]}")
        check(carried["a"] > 0 and carried["b"] > 0,
              f"explain: both nodes carry held connections (A {carried['a']}, B {carried['b']})")
        return good, n, carried

