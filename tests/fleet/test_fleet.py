#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Two edge nodes behind one ECMP router, as docs/fleet.md describes them:
each node runs its own edgelb-cp, which runs its own BIRD 2 and announces
the VIP over eBGP; the router (BIRD 2, `merge paths`, L4 multipath hash)
spreads clients over the nodes that announce. Nothing is shared between the
nodes but their configuration (same VIP, backends, hash seed).

    client ---- router (BIRD, ECMP) ---- node A: edgelb-dp (net_af_xdp) + edgelb-cp + BIRD
                   |          \\-------- node B: edgelb-xdp (generic)   + edgelb-cp + BIRD
                 bridge ---- b1, b2, b3   (VIP on lo, edgelb-decap, answer the client: DSR)

tools/netns-topology builds client, router, node A and the backends; this
test adds node B (its own link to the router) and replaces the router's
static VIP route by BIRD's. Each edgelb-cp runs in its node's namespace
(BIRD runs where its sessions are), HTTP-checks the backends, and manages
its one dataplane.

  1. routes: both nodes announce; the router has one route with both as next
     hops. Node B's dataplane killed (-9): B withdraws; restarted: B announces
     again (seconds measured).
  2. spread: 200 new connections, each node gets a share.
  3. same backend whichever node: the dataplanes' table digests are equal;
     held keep-alive connections keep their backend while their node's route
     is withdrawn and comes back (1).
  4. a node killed: node A's link down and kill -9 of its dataplane, edgelb-cp
     and BIRD; the held connections it carried continue on the same backends
     through B, no request fails, new connections succeed.
  5. drain: `edgelbctl node drain --wait` on A under load: no connection
     fails, A's VIP traffic stops, the drain completes; `node resume` brings
     traffic back to A.
  6. IPv6: a second VIP (the topology's VIP6, IPv6 backends, IP6IP6 toward
     them, TCP health checks over IPv6) announced over IPv6 BGP sessions (one
     more neighbor per node); the router's /128 has both nodes as next hops
     (L4 multipath hash for IPv6 too), new v6 connections spread over both,
     held v6 connections keep their backend across B's withdrawal (1, 3).
  7. flow.explain: for every held connection (v4 and v6), before any route
     change, both nodes are asked (`edgelbctl explain`): the node carrying it
     reports a flow-table hit on the backend that answers it, the other node
     a miss whose Maglev pick is that same backend.
Root only (77 otherwise; also without BIRD or DPDK). Prints FIGURE lines.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from edgelb_testlib import fleet_agents
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import (FAILURES, TOPOLOGY, Client, check, start_backend, start_dataplane,
                                stop_process)
from edgelb_testlib.netns import sh
from edgelb_testlib.proc import poll_until

FLEET_AGENTS = fleet_agents.__file__

TAG = f"fl{os.getpid() % 100000}"
BIRD, BIRDC = "/usr/sbin/bird", "/usr/sbin/birdc"
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
HOLD_N, HOLD_EVERY = 16, 0.25
HOLD6_N = 12              # held v6 connections beside the HOLD_N v4 ones
BURST6 = 100
LOAD_RATE = 20            # new connections per second during the phases
BURST, BURST_PARALLEL = 200, 8
SHARE_MIN, SHARE_MAX = 0.25, 0.75
AGENT_LIFETIME_S = 200    # every agent exits by then whatever happens
ROUTE_BOUND_S = 10        # a route change seen by the router within this
DRAIN_QUIET_MS = 1500


def fmt(seconds):
    return "none" if seconds is None else f"{seconds:.2f}"


def figure(text):
    print("FIGURE " + text, flush=True)


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

    def __init__(self, name, kind, ns, iface, addr, addr6, gateway_mac, work, pin_dir=None):
        self.name, self.kind, self.ns, self.iface, self.addr = name, kind, ns, iface, addr
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

    def write_config(self, topo, vip, vip6):
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
                                      f"{TAG}{self.name}", log=log)
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


class Test:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.topo = None
        self.router_bird = None
        self.bpffs = os.path.join(work, "bpffs")
        self.nodes = {}
        self.backends = {}
        self.client = None

    # --- topology ----------------------------------------------------------

    def build(self):
        env = dict(os.environ, EDGELB_DECAP=os.path.abspath(self.args.decap), LB_ADDRESS="none")
        up = subprocess.run([TOPOLOGY, "up", TAG], env=env, text=True, capture_output=True)
        if not check(up.returncode == 0, f"topology {TAG} up ({up.stderr.strip()[:300]})"):
            return False
        self.topo = topo = dict(l.split("=", 1) for l in up.stdout.splitlines() if "=" in l)
        rt, ns_b = topo["NS_ROUTER"], f"{TAG}-lb2"
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
                               topo["ROUTER_LB_MAC"], self.work)
        self.nodes["a"].router_addr = topo["LB_GATEWAY4"]
        self.nodes["a"].router_addr6 = topo["LB_GATEWAY6"]
        self.nodes["a"].router_dev = "to-lb"
        self.nodes["b"] = Node("b", "xdp", ns_b, "eth0", NODE_B4, NODE_B6, router_b_mac,
                               self.work, pin_dir=os.path.join(self.bpffs, "edgelb-b"))
        self.nodes["b"].router_addr = ROUTER_B4
        self.nodes["b"].router_addr6 = ROUTER_B6
        self.nodes["b"].router_dev = "to-lb2"
        return True

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
        ns_b = f"{TAG}-lb2"
        if subprocess.run(["ip", "netns", "pids", ns_b], capture_output=True).returncode == 0:
            for pid in subprocess.run(["ip", "netns", "pids", ns_b], capture_output=True,
                                      text=True).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", ns_b], capture_output=True)
        subprocess.run([TOPOLOGY, "down", TAG], capture_output=True)
        for n in self.nodes.values():
            shutil.rmtree(f"/var/run/dpdk/{TAG}{n.name}", ignore_errors=True)
        if os.path.ismount(self.bpffs):
            subprocess.run(["umount", self.bpffs], capture_output=True)

    # --- helpers -------------------------------------------------------------

    def ctl(self, node, *argv, timeout=60):
        t0 = time.monotonic()
        r = subprocess.run([self.args.ctl, "--socket", node.cp_sock, *argv],
                           capture_output=True, text=True, timeout=timeout)
        check(r.returncode == 0, f"edgelbctl {' '.join(argv)} on node {node.name} "
              f"(exit {r.returncode}): {(r.stdout + r.stderr).strip()[:200]}")
        return time.monotonic() - t0, r.stdout

    def spread(self, label, host, shown, vip_name, n):
        """n new connections to host: all answered, and each node's share of
        the new flows (its dataplane's counters) within SHARE_MIN..SHARE_MAX."""
        before = self.counters(vip_name)
        burst = self.client.do("burst", host=host, n=n, parallel=BURST_PARALLEL)
        after = self.counters(vip_name)
        flows = {k: after[k]["new_flows"] - before[k]["new_flows"] for k in after}
        total = sum(flows.values())
        check(burst.get("ok") == n and burst.get("failed") == 0,
              f"burst{label}: {burst.get('ok')} of {n} connections answered, shares "
              f"{burst.get('shares')} {burst.get('errors') or ''}")
        for k in ("a", "b"):
            share = flows[k] / total if total else 0
            check(SHARE_MIN <= share <= SHARE_MAX,
                  f"spread{label}: node {k.upper()} got {flows[k]} of {total} new flows "
                  f"({share:.0%}, within {SHARE_MIN:.0%}..{SHARE_MAX:.0%})")
        figure(f"spread{label}: {n} connections to {shown}:80, {burst.get('ok')} answered; "
               f"node A {flows['a']} flows, node B {flows['b']} flows "
               f"({flows['a'] / max(total, 1):.0%} / {flows['b'] / max(total, 1):.0%}); "
               f"backends {burst.get('shares')}")

    def counters(self, vip_name=None):
        return {k: n.vip_counters(vip_name or self.vip_name) for k, n in self.nodes.items()
                if n.dp is not None and n.dp.poll() is None}

    def held_ok(self, what, held):
        conns = held["connections"]
        errors = [e for c in conns for e in c["errors"]]
        multi = [c["backends"] for c in conns if len(c["backends"]) != 1]
        requests = sum(c["requests"] for c in conns)
        check(not errors, f"{what}: {len(conns)} held connections, {requests} requests, "
              f"{len(errors)} failed {errors[:2]}")
        check(not multi, f"{what}: each held connection kept one backend {multi[:3]}")

    def load_ok(self, what, load):
        results = load["results"]
        failed = [r for r in results if "error" in r]
        slowest = max((r["ms"] for r in results if "ms" in r), default=0)
        check(results and not failed, f"{what}: {len(results)} new connections, "
              f"{len(failed)} failed {[r['error'] for r in failed[:2]]}; slowest {slowest:.0f} ms")
        return slowest

    # --- the run -------------------------------------------------------------

    def run(self):
        try:
            if not self.build():
                return 1
            self.phases()
        finally:
            self.teardown()
        return 1 if FAILURES else 0

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
        """flow.explain of every held connection on both nodes (7)."""
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

    def phases(self):
        topo, a, b = self.topo, self.nodes["a"], self.nodes["b"]
        vip, vip6 = topo["VIP4"], topo["VIP6"]
        self.vip_name = f"{vip}:{HTTP_PORT}/tcp"
        vip6_name = f"[{vip6}]:{HTTP_PORT}/tcp"
        both, both6 = {a.addr, b.addr}, {a.addr6, b.addr6}
        for i, name in enumerate(NAMES, start=1):
            self.backends[name] = start_backend(topo, i, name, [5353], AGENT_LIFETIME_S,
                                                health=True)
            self.start_hc6_listener(i, name)
        self.start_router_bird()
        for n in (a, b):
            n.write_config(topo, vip, vip6)
        t0 = time.monotonic()
        a.start_dp(self.args.dp, topo)
        b.start_dp(self.args.xdp, topo)
        a.start_cp(self.args.cp)
        b.start_cp(self.args.cp)

        # 1. Routes ----------------------------------------------------------
        t = self.wait_hops(both, 30)
        if not check(t is not None, f"router: ECMP route to {vip} via both nodes "
                     f"({sorted(self.next_hops())}; A: {a.node().get('withdrawn_because')}, "
                     f"B: {b.node().get('withdrawn_because')})"):
            return
        figure(f"routes: ECMP via both nodes {time.monotonic() - t0:.2f} s after the "
               "dataplanes were started (edgelb-cp start, health rise, BGP sessions)")
        t = self.wait_hops(both6, 15, family=6)
        check(t is not None, f"router: ECMP route to {vip6}/128 via both nodes "
              f"({sorted(self.routes(6))}; A: {a.node().get('announced')}, "
              f"B: {b.node().get('announced')})")
        figure(f"routes v6: {vip6}/128 via both nodes over the IPv6 sessions "
               f"{time.monotonic() - t0:.2f} s after the dataplanes were started; next hops "
               f"{sorted(g for g, _ in self.routes(6))}")
        announced = {f"{vip}/32", f"{vip6}/128"}
        for n in (a, b):
            # node.get's sessions are BIRD's `show protocols`, read every second.
            poll_until(lambda: all(s["established"] for s in n.node()["speaker"]["sessions"]),
                       3, 0.1)
            info = n.node()
            sessions = info["speaker"]["sessions"]
            check(info["state"] == "active" and set(info["announced"]) == announced and
                  len(sessions) == 2 and all(s["established"] for s in sessions),
                  f"node {n.name}: active, announces {info['announced']}, sessions "
                  f"{[(s.get('neighbor'), s['info']) for s in sessions]}")

        # 3a. Same tables on both nodes.
        da, db = a.digest(self.vip_name), b.digest(self.vip_name)
        check(da is not None and da == db,
              f"vip.tables digest: node A (edgelb-dp) {da}, node B (edgelb-xdp) {db}")
        figure(f"tables: both nodes' Maglev digests for {self.vip_name} equal ({da})")
        # What a flow risks while nodes disagree about a change (docs/fleet.md):
        # the share of table slots the change moves, from backend.preview.
        moved = {}
        for change, backend in (("add", "192.0.2.74"), ("remove", topo["BACKEND3_4"])):
            r = jsonrpc.call(a.cp_sock, "backend.preview", address=vip, port=HTTP_PORT,
                         protocol="tcp", backend=backend, change=change)
            moved[change] = r["moved_fraction"]
        figure(f"maglev: adding a 4th backend moves {moved['add']:.1%} of the slots, removing "
               f"one of 3 moves {moved['remove']:.1%} (backend.preview)")

        # 2. Spread -----------------------------------------------------------
        self.client = FleetClient(topo["NS_CLIENT"], AGENT_LIFETIME_S)
        self.spread("", vip, vip, None, BURST)
        # 6. The same over IPv6.
        self.spread(" v6", vip6, f"[{vip6}]", vip6_name, BURST6)

        # Fail static: edgelb-cp killed and restarted adopts the running BIRD; the
        # router's route does not move meanwhile.
        bird_b = b.bird_pid()
        stop_process(b.cp, signal.SIGKILL, 5)
        seen, end = set(), time.monotonic() + 1.0
        while time.monotonic() < end:
            seen.add(frozenset(self.next_hops() | self.next_hops(6)))
            time.sleep(0.02)
        t_cp = time.monotonic()
        b.start_cp(self.args.cp)
        poll_until(lambda: b.node()["announced_known"], 15, 0.05)
        while time.monotonic() - t_cp < 3.0:
            seen.add(frozenset(self.next_hops() | self.next_hops(6)))
            time.sleep(0.02)
        info = b.node()
        check(seen == {frozenset(both | both6)} and info["speaker"]["adopted"] and
              info["speaker"]["pid"] == bird_b and set(info["announced"]) == announced,
              f"edgelb-cp of B killed (-9) and restarted: BIRD {bird_b} adopted "
              f"({info['speaker']['adopted']}, pid {info['speaker']['pid']}), route sets seen "
              f"meanwhile {[sorted(x) for x in seen]}")
        figure("fail static: B's edgelb-cp killed (-9) and restarted: it adopted the running "
               "BIRD, the router's v4 and v6 routes kept both next hops throughout (polled "
               "every 20 ms)")

        # 1b + 3b + 6 + 7. Node B's dataplane killed and restarted under held
        # v4 and v6 connections.
        hold = self.client.do("hold_start", hosts=[vip, vip6], n=[HOLD_N, HOLD6_N],
                              every=HOLD_EVERY, seconds=90)
        check(None not in hold["first"], f"held connections opened ({hold['first']})")
        info = self.client.do("hold_info")["connections"]
        self.client.do("load_start", host=vip, rate=LOAD_RATE, seconds=60)
        # 7. Both nodes have their flows (no route has changed since they opened).
        good, n, carried = self.explain_held(info)
        figure(f"explain: {n} held connections ({HOLD_N} v4, {HOLD6_N} v6; A carries "
               f"{carried['a']}, B {carried['b']}), node carrying it: hit on the backend it "
               f"reaches; other node: miss -> same backend ({good}/{n})")
        time.sleep(0.5)
        before = self.counters()
        before6 = self.counters(vip6_name)
        t_kill = time.monotonic()
        stop_process(b.dp, signal.SIGKILL, 5)
        t = self.wait_hops({a.addr})
        t = t is not None and time.monotonic() - t_kill or None
        t6 = self.wait_hops({a.addr6}, family=6)
        t6 = t6 is not None and time.monotonic() - t_kill or None
        check(t is not None, f"node B's dataplane killed: route via A only after {fmt(t)} s")
        check(t6 is not None, f"node B's dataplane killed: v6 route via A only after "
              f"{fmt(t6)} s")
        figure(f"withdraw: node B's dataplane killed (kill -9), the router dropped B "
               f"{fmt(t)} s later (v6 route: {fmt(t6)} s; edgelb-cp saw the dataplane gone, "
               f"BIRD reconfigured)")
        time.sleep(1.5)
        moved = a.vip_counters(self.vip_name)["new_flows"] - before["a"]["new_flows"]
        moved6 = a.vip_counters(vip6_name)["new_flows"] - before6["a"]["new_flows"]
        b.start_dp(self.args.xdp, topo)
        t = self.wait_hops(both)
        t6 = self.wait_hops(both6, family=6)
        check(t is not None and t6 is not None, f"node B's dataplane restarted: both next hops "
              f"again after {fmt(t)} s (from the restart), v6 too")
        figure(f"re-announce: node B's dataplane restarted, router has both next hops "
               f"{fmt(t)} s after the restart ({time.monotonic() - t_kill:.2f} s after the kill)")
        time.sleep(1.5)
        held = self.client.do("hold_stop")
        load = self.client.do("load_stop")
        conns = held["connections"]
        held4 = [c for c in conns if c["host"] == vip]
        held6 = [c for c in conns if c["host"] == vip6]
        self.held_ok("B's dataplane killed and restarted (v4)", {"connections": held4})
        self.held_ok("B's dataplane killed and restarted (v6)", {"connections": held6})
        self.load_ok("B's dataplane killed and restarted", load)
        figure(f"same backend: {len(held4)} held v4 and {len(held6)} held v6 connections kept "
               f"their backend across B's withdrawal and return, 0 of "
               f"{sum(c['requests'] for c in held4 + held6)} requests failed; node A took "
               f"{moved} v4 and {moved6} v6 flows it had not seen (moved from B mid-connection, "
               "same backends)")

        # 5. Drain A ------------------------------------------------------------
        self.client.do("hold_start", host=vip, n=HOLD_N, every=HOLD_EVERY, seconds=90)
        self.client.do("load_start", host=vip, rate=LOAD_RATE, seconds=60)
        time.sleep(1.0)
        seconds, out = self.ctl(a, "node", "drain", "--wait", "--timeout", "30")
        info = a.node()
        check(info["state"] == "drained" and info["drain"].get("reason") == "quiet",
              f"node A drained ({info['drain']}): {out.strip()}")
        check(self.next_hops() == {b.addr} and self.next_hops(6) == {b.addr6},
              f"router: via B only while A is drained ({sorted(self.next_hops())}, "
              f"{sorted(self.next_hops(6))})")
        rx0 = a.vip_counters(self.vip_name)["rx"]
        time.sleep(2.0)
        rx1 = a.vip_counters(self.vip_name)["rx"]
        check(rx1 == rx0, f"drained node A received no VIP packet in 2 s ({rx1 - rx0})")
        figure(f"drain: `edgelbctl node drain --wait` returned after {seconds:.2f} s "
               f"(drain_ms {info['drain'].get('drain_ms')}, quiet {DRAIN_QUIET_MS} ms); "
               f"node A's VIP rx then still for 2 s")
        t_resume = time.monotonic()
        self.ctl(a, "node", "resume")
        t = self.wait_hops(both)
        check(t is not None, f"node A resumed: both next hops after {fmt(t)} s")
        t_traffic = poll_until(lambda: a.vip_counters(self.vip_name)["rx"] > rx1, 10, 0.05)
        check(t_traffic is not None, "node A receives VIP traffic again after resume")
        figure(f"resume: router has both next hops {fmt(t)} s after `node resume`; "
               f"A's VIP rx moves {fmt(time.monotonic() - t_resume)} s after it")
        time.sleep(1.0)
        held = self.client.do("hold_stop")
        load = self.client.do("load_stop")
        self.held_ok("drain and resume of A", held)
        self.load_ok("drain and resume of A", load)
        figure(f"drain: 0 of {len(load['results'])} new connections and 0 of "
               f"{sum(c['requests'] for c in held['connections'])} held requests failed "
               "across drain and resume")

        # 4. Kill node A -----------------------------------------------------------
        self.client.do("hold_start", host=vip, n=HOLD_N, every=HOLD_EVERY, seconds=90)
        self.client.do("load_start", host=vip, rate=LOAD_RATE, seconds=60)
        time.sleep(1.5)
        before = self.counters()
        bird_a = a.bird_pid()
        t_kill = time.monotonic()
        # A power loss: the link first, then every process of the node.
        sh("ip", "link", "set", "eth0", "down", ns=a.ns)
        for p in (a.dp, a.cp):
            stop_process(p, signal.SIGKILL, 5)
        if bird_a:
            os.kill(bird_a, signal.SIGKILL)
        a.dp = a.cp = None
        t = self.wait_hops({b.addr})
        t = t is not None and time.monotonic() - t_kill or None
        check(t is not None, f"node A lost: route via B only after {fmt(t)} s")
        # The kernel stops using the dead link's next hop at once
        # (ignore_routes_with_linkdown); BGP then withdraws the route itself.
        t_bgp = poll_until(lambda: a.addr not in sh("ip", "route", "show", f"{vip}/32",
                                                  ns=topo["NS_ROUTER"]).stdout, 10, 0.02)
        t_bgp = t_bgp is not None and time.monotonic() - t_kill or None
        check(t_bgp is not None, f"node A lost: BGP withdrew its route after {fmt(t_bgp)} s")
        t_flow = poll_until(lambda: b.vip_counters(self.vip_name)["new_flows"] >
                            before["b"]["new_flows"] + HOLD_N // 4, 10, 0.02)
        t_flow = t_flow is not None and time.monotonic() - t_kill or None
        time.sleep(3.0)
        moved = b.vip_counters(self.vip_name)["new_flows"] - before["b"]["new_flows"]
        held = self.client.do("hold_stop")
        load = self.client.do("load_stop")
        self.held_ok("node A killed", held)
        slowest = self.load_ok("node A killed", load)
        after = self.client.do("burst", host=vip, n=50, parallel=BURST_PARALLEL)
        check(after.get("ok") == 50, f"after A's loss: 50 new connections, {after.get('ok')} "
              f"answered by {after.get('shares')}")
        figure(f"node lost: link down + kill -9 of A's dataplane, edgelb-cp and BIRD; router "
               f"via B only after {fmt(t)} s (linkdown), A's BGP route gone after "
               f"{fmt(t_bgp)} s; B took over flows within {fmt(t_flow)} s "
               f"({moved} flows new to B in 3 s, held connections among them); "
               f"0 failed requests; slowest new connection {slowest:.0f} ms")


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--dp", "--xdp", "--cp", "--ctl", "--decap"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (namespaces, XDP, DPDK EAL)")
        return 77
    if not os.access(BIRD, os.X_OK):
        print(f"SKIP: {BIRD} missing (Debian package bird2: tools/install-deps)")
        return 77
    work = tempfile.mkdtemp(prefix=f"{TAG}-")
    t0 = time.monotonic()
    try:
        rc = Test(args, work).run()
    finally:
        if args.keep or FAILURES:
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"test took {time.monotonic() - t0:.1f} s")
    print(f"{0 if FAILURES else 1} passed, {1 if FAILURES else 0} failed")
    if FAILURES:
        print("FAILED:", *FAILURES, sep="\n  ")
    return rc


if __name__ == "__main__":
    sys.exit(main())
