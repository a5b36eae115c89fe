#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The upgrade drill of docs/deploy.md ("Upgrading a node"), run while a
real client holds connections through it. The new version is a copy of the
built binary at another path: the program that runs after the upgrade is a
different file, started as an operator would start the new package's.

--drill xdp: one node, as tests/e2e builds it (tools/netns-topology: client,
    router, balancer, three DSR backends), edgelb-cp (in the router's
    namespace, as test_e2e_cp.py runs it) managing edgelb-xdp (generic mode,
    maps pinned on a bpffs of the test's own, --state file). The upgrade:
    SIGUSR2 to edgelb-xdp (it exits leaving its program attached, which
    forwards on the pinned maps with no agent), then the new binary started
    with the same arguments, which replaces the program in one step. No
    other node takes the traffic meanwhile: what keeps the connections is
    the pinned flow table, which the new agent reuses.
    Checked: every held connection's flow is a flow-table hit on its
    backend on the old agent and again on the new one (`edgelbctl explain`).

--drill dpdk: the two-node fleet of tests/fleet (test_fleet.py's Test:
    node A edgelb-dp, node B edgelb-xdp, each with its edgelb-cp and BIRD, a
    BIRD ECMP router). The upgrade of node A: `edgelbctl node drain --wait`,
    SIGTERM to edgelb-dp, the new binary started, wait until A is ready
    (dataplane in sync, backends up, BGP sessions established, Maglev digest
    equal to B's), `edgelbctl node resume`. A's connections move to B, whose
    Maglev table picks the same backends, and part of them back to A after
    the resume (A's new flow table is empty: Maglev again).

Both: HELD paced transfers (STREAMS_V4 to the IPv4 VIP and STREAMS_V6 to the
IPv6 VIP, SO_RCVBUF RCVBUF, read CHUNK bytes every EVERY s: the backend
sends only as fast as the client opens its window, so their ACKs and window
updates cross the balancer throughout) started before the upgrade, moving
again after it (within PROGRESS_BOUND_S), paced SETTLE_S more, then read to
their end at full speed (their bodies are too long to end paced before
STREAM_MAX_S, so each spans the whole upgrade): each complete, none reset.
New connections at LOAD_RATE per second throughout, none failed. Prints
FIGURE lines (docs/deploy.md has them).
Root only (77 otherwise; dpdk: also without BIRD).
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

from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import (FAILURES, Client, check, start_backend, start_dataplane,
                                stop_process, topology)
from edgelb_testlib.proc import poll_until
import test_fleet  # tests/fleet: on PYTHONPATH (tests/upgrade/meson.build)

HERE = os.path.dirname(os.path.abspath(__file__))

AGENTS = os.path.join(HERE, "upgrade_agents.py")
TAG = f"up{os.getpid() % 100000}"
HTTP_PORT = 80
NAMES = ("b1", "b2", "b3")
STREAMS_V4, STREAMS_V6 = 16, 12
RCVBUF, CHUNK, EVERY = 4096, 1024, 0.1        # at most 10 KiB/s per paced transfer
STREAM_MAX_S = 150                             # a body takes longer than this paced
STREAM_BYTES = int(CHUNK / EVERY * STREAM_MAX_S)
LOAD_RATE = 20                                 # new connections per second
LOAD_MAX_S = 120
# A client that waits for its SYN to be sent again (after 1 s, then 3 s in
# all) while the XDP agent is replaced; the e2e client's 3 s would give up
# at the second. What counts is that no connection fails.
LOAD_TIMEOUT_S = 10
AGENT_LIFETIME_S = 200                         # every agent exits by then
SETTLE_S = 2.0                                 # traffic after the upgrade before stopping
PROGRESS_BOUND_S = 20                          # every transfer moving again after it
# As tests/fleet's: a backend leaves service only after 3 s of failed checks,
# not because a check stalled on the busy machine (its flows would move).
INTERVAL_MS, TIMEOUT_MS, RISE, FALL = 300, 300, 2, 10


def fmt(seconds):
    return "none" if seconds is None else f"{seconds:.2f}"


def figure(text):
    print("FIGURE " + text, flush=True)


class UpgradeClient(Client):
    """e2e.Client running upgrade_agents.py (paced transfers beside
    the e2e and fleet clients' commands)."""

    def __init__(self, ns, lifetime):  # pylint: disable=super-init-not-called
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, AGENTS, "client", str(lifetime)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def new_version(binary, work):
    """The 'new package': a copy of the built binary at another path."""
    d = os.path.join(work, "new-version")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, os.path.basename(binary))
    shutil.copy2(binary, path)
    return path


def running_binary(proc):
    """The file the process runs (ip netns exec execs it in place)."""
    try:
        return os.readlink(f"/proc/{proc.pid}/exe")
    except OSError:
        return None


def start_streams(client, vip4, vip6):
    r = client.do("stream_start", hosts=[vip4, vip6], n=[STREAMS_V4, STREAMS_V6],
                  bytes=STREAM_BYTES, chunk=CHUNK, every=EVERY, rcvbuf=RCVBUF)
    n = STREAMS_V4 + STREAMS_V6
    check(r.get("started") == n and not r.get("errors"),
          f"paced transfers: {r.get('started')} of {n} started ({STREAMS_V4} to {vip4}, "
          f"{STREAMS_V6} to [{vip6}]; {STREAM_BYTES} bytes each, read {CHUNK} bytes every "
          f"{EVERY} s, SO_RCVBUF {RCVBUF}) {r.get('errors', [])[:2]}")
    return client.do("stream_info")["connections"]


def streams_ok(what, conns, t_begin, t_end):
    """Every paced transfer complete, none reset, each open across [t_begin, t_end]."""
    errors = [(c["host"], c["backend"], c["error"]) for c in conns if c["error"]]
    incomplete = [c for c in conns if not c["complete"]]
    early = [c for c in conns if c["paced_complete"]]
    spanning = [c for c in conns if c["t_start"] < t_begin and c["t_end"] > t_end]
    nbytes = sum(c["received"] for c in conns)
    check(conns and not errors and not incomplete,
          f"{what}: {len(conns)} paced transfers complete ({nbytes} bytes), "
          f"{len(errors)} reset or failed {errors[:3]}")
    check(not early and len(spanning) == len(conns),
          f"{what}: every paced transfer was open through the whole upgrade "
          f"({len(spanning)} of {len(conns)}; {len(early)} ended before it)")
    return len(conns), len(errors)


def received(client):
    return {(c["src"], c["sport"]): c["received"]
            for c in client.do("stream_info")["connections"]}


def progress_ok(what, client, at_begin, at_end):
    """Bytes the paced transfers moved during the upgrade; every one moving
    again after it (more received than at its end, within PROGRESS_BOUND_S:
    one whose ACKs were lost waits for TCP's retransmission backoff), then
    SETTLE_S more of pacing."""
    def stalled():
        now = received(client)
        return [k for k, v in at_end.items() if now.get(k, 0) <= v]

    during = sum(at_end.get(k, 0) - v for k, v in at_begin.items())
    t = poll_until(lambda: not stalled(), PROGRESS_BOUND_S, 0.1)
    late = stalled() if t is None else []
    check(at_end and not late, f"{what}: every paced transfer moving again after the upgrade "
          f"({len(at_end) - len(late)} of {len(at_end)}, all within {fmt(t)} s) {late[:3]}")
    time.sleep(SETTLE_S)
    return during, t


def load_ok(what, load):
    results = load["results"]
    failed = [r for r in results if "error" in r]
    slowest = max((r["ms"] for r in results if "ms" in r), default=0)
    check(results and not failed, f"{what}: {len(results)} new connections, {len(failed)} "
          f"failed {[r['error'] for r in failed[:2]]}; slowest {slowest:.0f} ms")
    return len(results), len(failed), slowest


def explain(ctl, cp_sock, c):
    """`edgelbctl explain` of one held connection: (decision, backend address)."""
    host = f"[{c['host']}]" if ":" in c["host"] else c["host"]
    src = f"[{c['src']}]" if ":" in c["src"] else c["src"]
    r = subprocess.run([ctl, "--socket", cp_sock, "--json", "explain", f"{src}:{c['sport']}",
                        f"{host}:{HTTP_PORT}", "tcp"], capture_output=True, text=True,
                       timeout=10)
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    if r.returncode != 0 or len(lines) != 1:
        return (f"exit {r.returncode}: {(r.stdout + r.stderr).strip()[:120]}", None)
    return lines[0]["flow"]["decision"], lines[0].get("backend", {}).get("address")


# --- XDP: one node, the pinned maps keep the flows ------------------------

class XdpDrill:
    def __init__(self, args, topo, work):
        self.args, self.topo, self.work = args, topo, work
        self.dp_sock = os.path.join(work, "dp.sock")
        self.dp_state = os.path.join(work, "dp-state.json")
        self.cp_sock = os.path.join(work, "cp.sock")
        self.cp_config = os.path.join(work, "cp.json")
        self.dp = self.cp = self.client = None
        self.backends = []

    def write_cp_config(self):
        topo = self.topo
        hc = {"type": "http", "path": "/healthz", "expect_status": 200, "port": HTTP_PORT,
              "interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS, "rise": RISE, "fall": FALL}
        vips = [{"address": topo["VIP4"], "port": HTTP_PORT, "protocol": "tcp",
                 "backends": [{"address": topo[f"BACKEND{i}_4"]} for i in (1, 2, 3)],
                 "health_check": hc},
                # The backends' v6 servers listen on the VIP only: no check.
                {"address": topo["VIP6"], "port": HTTP_PORT, "protocol": "tcp",
                 "backends": [{"address": topo[f"BACKEND{i}_6"]} for i in (1, 2, 3)]}]
        with open(self.cp_config, "w") as f:
            json.dump({"node": {"source_v4": topo["LB4"], "source_v6": topo["LB6"],
                                "gateway_mac": topo["ROUTER_LB_MAC"], "gue_port": 6080},
                       "dataplanes": [{"name": "dp0", "socket": self.dp_sock}],
                       "vips": vips}, f, indent=1)

    def start_dp(self, binary):
        log = open(os.path.join(self.work, "dp.log"), "a")
        self.dp, up = start_dataplane("xdp", binary, self.topo, self.dp_sock, TAG, log=log,
                                      state=self.dp_state)
        log.close()
        return up

    def in_sync(self):
        d = jsonrpc.call(self.cp_sock, "dataplanes.get")["dataplanes"][0]
        return d["connected"] and d["in_sync"]

    def all_up(self):
        for v in jsonrpc.call(self.cp_sock, "health.get")["vips"]:
            if v["vip"].startswith(self.topo["VIP4"]):
                return all(b["health"] == "up" and b["pushed"] for b in v["backend_health"])
        return False

    def explain_all(self, conns, addr):
        """Each held connection: a flow-table hit on the backend that answers it."""
        bad = []
        for c in conns:
            family = 6 if ":" in c["host"] else 4
            got = explain(self.args.ctl, self.cp_sock, c)
            if got != ("hit", addr[(c["backend"], family)]):
                bad.append((c["src"], c["sport"], c["backend"], got))
        return bad

    def run(self):
        topo = self.topo
        addr = {(n, f): topo[f"BACKEND{i}_{f}"] for i, n in enumerate(NAMES, start=1)
                for f in (4, 6)}
        self.write_cp_config()
        if self.start_dp(self.args.xdp) is None or self.dp is None:
            return
        for i, name in enumerate(NAMES, start=1):
            self.backends.append(start_backend(topo, i, name, [5353], AGENT_LIFETIME_S,
                                               health=True))
        log = open(os.path.join(self.work, "cp.log"), "a")
        self.cp = subprocess.Popen(["ip", "netns", "exec", topo["NS_ROUTER"], self.args.cp,
                                    "--config", self.cp_config, "--socket", self.cp_sock],
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        t = poll_until(lambda: self.in_sync() and self.all_up(), 15, 0.05)
        if not check(t is not None, f"edgelb-cp pushed its state, backends up ({fmt(t)} s)"):
            return
        new_bin = new_version(self.args.xdp, self.work)
        old_version = jsonrpc.call(self.dp_sock, "status.get").get("version")

        self.client = UpgradeClient(topo["NS_CLIENT"], AGENT_LIFETIME_S)
        held = start_streams(self.client, topo["VIP4"], topo["VIP6"])
        self.client.do("load_start", host=topo["VIP4"], rate=LOAD_RATE, seconds=LOAD_MAX_S,
                       timeout=LOAD_TIMEOUT_S)
        bad = self.explain_all(held, addr)
        check(not bad, f"before: {len(held) - len(bad)} of {len(held)} held connections are "
              f"flow-table hits on their backend {bad[:3]}")
        time.sleep(1.0)

        # The upgrade: SIGUSR2 to the running agent (its program stays
        # attached), the new binary started.
        at_begin = received(self.client)
        t_begin = time.monotonic()
        rc = stop_process(self.dp, signal.SIGUSR2)
        t_exit = time.monotonic() - t_begin
        check(rc == 0, f"old edgelb-xdp: SIGUSR2, exit status {rc} after {t_exit:.2f} s")
        link = subprocess.run(["ip", "-n", topo["NS_LB"], "link", "show", "dev",
                               topo["LB_IFACE"]], capture_output=True, text=True).stdout
        check("xdp" in link, "the old agent left its program attached: it forwards meanwhile")
        up = self.start_dp(new_bin)
        if self.dp is None:
            return
        t_answer = time.monotonic() - t_begin
        running = running_binary(self.dp)
        status = jsonrpc.call(self.dp_sock, "status.get")
        check(running == new_bin and status.get("version") == old_version,
              f"the new edgelb-xdp runs {running} (the copy), version {status.get('version')}, "
              f"running_state_kept {status.get('running_state_kept')}")
        t = poll_until(self.in_sync, 10, 0.02)
        t_sync = None if t is None else time.monotonic() - t_begin
        check(t is not None, f"edgelb-cp in sync with the new edgelb-xdp ({fmt(t_sync)} s after "
              "the signal)")
        t_end = time.monotonic()
        at_end = received(self.client)
        figure(f"xdp: edgelb-xdp replaced: SIGUSR2 to the old one, exited after {t_exit:.2f} s, "
               f"its program left attached; the new binary answering {t_answer:.2f} s after the "
               f"signal (its start {up:.2f} s); edgelb-cp in sync with it {fmt(t_sync)} s after")
        bad = self.explain_all(held, addr)
        check(not bad, f"after: {len(held) - len(bad)} of {len(held)} held connections are "
              f"still flow-table hits on their backend in the new agent (pinned maps) "
              f"{bad[:3]}")
        moved, t_moving = progress_ok("xdp upgrade", self.client, at_begin, at_end)
        load = self.client.do("load_stop")
        conns = self.client.do("stream_stop")["connections"]
        n, reset = streams_ok("xdp upgrade", conns, t_begin, t_end)
        total, failed, slowest = load_ok("xdp upgrade", load)
        during = [r for r in load["results"] if t_begin <= r["t"] <= t_end]
        figure(f"xdp: {n} paced transfers held across the upgrade ({STREAMS_V4} v4, "
               f"{STREAMS_V6} v6; {moved} bytes moved while the agent was replaced, all moving "
               f"again {fmt(t_moving)} s after), {reset} reset, every one complete and a "
               f"flow-table hit on its backend before and after; {total} new connections "
               f"({len(during)} started while the agent was replaced), {failed} failed, "
               f"slowest {slowest:.0f} ms")

    def stop(self):
        if self.client:
            self.client.close()
        for p in (self.cp, self.dp):
            if p is not None:
                stop_process(p, signal.SIGTERM, 10)
        for p in self.backends:
            stop_process(p, signal.SIGKILL, 5)


def xdp_drill(args):
    work = tempfile.mkdtemp(prefix=f"{TAG}-")
    drill = None
    try:
        with topology(TAG, args.decap, "xdp") as topo:
            if topo is None:
                return
            drill = XdpDrill(args, topo, work)
            try:
                drill.run()
            finally:
                drill.stop()
    finally:
        keep(args, work)


# --- DPDK: drain to the other node, replace, resume ------------------------

class DpdkDrill(test_fleet.Test):
    """test_fleet.Test's two-node fleet (build, router, nodes, teardown); its
    phases replaced by the drill."""

    def ready(self, node, other, since=None):
        """Node may be resumed: dataplane in sync, backends up, sessions
        established (as read after `since`: node.get reads BIRD's sessions
        every second), the same Maglev tables as the other node."""
        d = jsonrpc.call(node.cp_sock, "dataplanes.get")["dataplanes"][0]
        health = jsonrpc.call(node.cp_sock, "health.get")["vips"]
        speaker = node.node()["speaker"]
        sessions = speaker["sessions"]
        if since is not None and speaker["sessions_ms_ago"] / 1000 >= time.monotonic() - since:
            return False
        return (d["connected"] and d["in_sync"] and
                all(b["health"] == "up" for v in health for b in v["backend_health"]) and
                sessions and all(s["established"] for s in sessions) and
                all(node.digest(v) is not None and node.digest(v) == other.digest(v)
                    for v in (self.vip_name, self.vip6_name)))

    def phases(self):
        topo, a, b = self.topo, self.nodes["a"], self.nodes["b"]
        vip, vip6 = topo["VIP4"], topo["VIP6"]
        self.vip_name = f"{vip}:{HTTP_PORT}/tcp"
        self.vip6_name = f"[{vip6}]:{HTTP_PORT}/tcp"
        both, both6 = {a.addr, b.addr}, {a.addr6, b.addr6}
        for i, name in enumerate(test_fleet.NAMES, start=1):
            self.backends[name] = start_backend(topo, i, name, [5353], AGENT_LIFETIME_S,
                                                health=True)
            self.start_hc6_listener(i, name)
        self.start_router_bird()
        for n in (a, b):
            n.write_config(topo, vip, vip6)
        a.start_dp(self.args.dp, topo)
        b.start_dp(self.args.xdp, topo)
        if a.dp is None or b.dp is None:
            return
        a.start_cp(self.args.cp)
        b.start_cp(self.args.cp)
        t = self.wait_hops(both, 30)
        t6 = self.wait_hops(both6, 15, family=6)
        if not check(t is not None and t6 is not None,
                     f"router: ECMP routes to {vip} and {vip6} via both nodes "
                     f"({sorted(self.next_hops())}, {sorted(self.next_hops(6))})"):
            return
        t = poll_until(lambda: self.ready(a, b) and self.ready(b, a), 15, 0.1)
        if not check(t is not None, "both nodes ready (in sync, backends up, sessions "
                     "established, equal Maglev digests)"):
            return
        new_bin = new_version(self.args.dp, self.work)
        old_version = jsonrpc.call(a.dp_sock, "status.get").get("version")

        self.client = UpgradeClient(topo["NS_CLIENT"], AGENT_LIFETIME_S)
        held = start_streams(self.client, vip, vip6)
        self.client.do("load_start", host=vip, rate=LOAD_RATE, seconds=LOAD_MAX_S,
                       timeout=LOAD_TIMEOUT_S)
        # Both nodes carry held transfers, and each would reach its backend
        # on the other node too (test_fleet's explain check, on these).
        good, n, carried = self.explain_held(
            [dict(c, first=c["backend"]) for c in held])
        figure(f"dpdk: {n} paced transfers before the upgrade: node A carries {carried['a']}, "
               f"node B {carried['b']}; on the other node each is a miss whose Maglev pick is "
               f"its backend ({good}/{n})")
        time.sleep(1.0)

        # The upgrade of node A.
        at_begin = received(self.client)
        t_begin = time.monotonic()
        seconds, out = self.ctl(a, "node", "drain", "--wait", "--timeout", "30")
        info = a.node()
        check(info["state"] == "drained" and info["drain"].get("reason") == "quiet" and
              self.next_hops() == {b.addr} and self.next_hops(6) == {b.addr6},
              f"node A drained ({info['drain']}), routes via B only "
              f"({sorted(self.next_hops())}, {sorted(self.next_hops(6))}): {out.strip()}")
        t_stop = time.monotonic()
        rc = stop_process(a.dp)
        t_exit = time.monotonic() - t_stop
        check(rc == 0, f"old edgelb-dp: SIGTERM, exit status {rc} after {t_exit:.2f} s")
        a.dp = None
        up = a.start_dp(new_bin, topo)
        if a.dp is None:
            return
        t_answer = time.monotonic() - t_stop
        running = running_binary(a.dp)
        version = jsonrpc.call(a.dp_sock, "status.get").get("version")
        check(running == new_bin and version == old_version,
              f"the new edgelb-dp runs {running} (the copy), version {version}")
        t_up = time.monotonic()
        t = poll_until(lambda: self.ready(a, b, since=t_up), 30, 0.05)
        t_ready = None if t is None else time.monotonic() - t_stop
        if not check(t is not None, f"node A ready to resume {fmt(t_ready)} s after the "
                     f"SIGTERM (in sync, backends up, BGP sessions established, digests "
                     f"equal to B's)"):
            return
        check(a.node()["state"] == "drained" and self.next_hops() == {b.addr},
              "node A still drained and not announced after its dataplane restart")
        rx0 = a.vip_counters(self.vip_name)["rx"]
        t_resume = time.monotonic()
        self.ctl(a, "node", "resume")
        t = self.wait_hops(both)
        t6 = self.wait_hops(both6, family=6)
        t_announced = None if t is None else time.monotonic() - t_resume
        check(t is not None and t6 is not None,
              f"node A resumed: both next hops again after {fmt(t_announced)} s (v4 and v6)")
        t_rx = poll_until(lambda: a.vip_counters(self.vip_name)["rx"] > rx0, 10, 0.05)
        t_rx = None if t_rx is None else time.monotonic() - t_resume
        check(t_rx is not None, "node A carries VIP traffic again after the resume")
        t_end = time.monotonic()
        at_end = received(self.client)
        figure(f"dpdk: `edgelbctl node drain --wait` on A took {seconds:.2f} s (drain_ms "
               f"{info['drain'].get('drain_ms')}, quiet {test_fleet.DRAIN_QUIET_MS} ms); the old "
               f"edgelb-dp exited {t_exit:.2f} s after SIGTERM; the new binary answering "
               f"{t_answer:.2f} s after the SIGTERM (its start {up:.2f} s); A ready to resume "
               f"(in sync, backends up, BGP sessions up again, digests equal) {fmt(t_ready)} s "
               f"after the SIGTERM; after `node resume` both next hops "
               f"{fmt(t_announced)} s, A's VIP rx moving {fmt(t_rx)} s; whole upgrade "
               f"{t_end - t_begin:.2f} s")
        moved, t_moving = progress_ok("dpdk upgrade", self.client, at_begin, at_end)
        load = self.client.do("load_stop")
        conns = self.client.do("stream_stop")["connections"]
        n, reset = streams_ok("dpdk upgrade", conns, t_begin, t_end)
        total, failed, slowest = load_ok("dpdk upgrade", load)
        during = [r for r in load["results"] if t_begin <= r["t"] <= t_end]
        figure(f"dpdk: {n} paced transfers held across the upgrade ({STREAMS_V4} v4, "
               f"{STREAMS_V6} v6; {carried['a']} of them on A before; {moved} bytes moved "
               f"during the upgrade, all moving {fmt(t_moving)} s after), {reset} reset, every "
               f"one complete; {total} new connections ({len(during)} started during the "
               f"upgrade), {failed} failed, slowest {slowest:.0f} ms")


def dpdk_drill(args):
    if not os.access(test_fleet.BIRD, os.X_OK):
        print(f"SKIP: {test_fleet.BIRD} missing (Debian package bird2: tools/install-deps)")
        return 77
    test_fleet.TAG = TAG
    work = tempfile.mkdtemp(prefix=f"{TAG}-")
    try:
        DpdkDrill(args, work).run()
    finally:
        keep(args, work)
    return None


def keep(args, work):
    if args.keep or FAILURES:
        print("kept", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--drill", choices=("xdp", "dpdk"), required=True)
    for opt in ("--xdp", "--cp", "--ctl", "--decap"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--dp", help="edgelb-dp, for --drill dpdk")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.drill == "dpdk" and not args.dp:
        ap.error("--drill dpdk needs --dp")
    if os.geteuid() != 0:
        print("SKIP: needs root (namespaces, XDP, DPDK EAL)")
        return 77
    # meson ends a test that overruns with SIGTERM: clean up as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("SIGTERM"))
    t0 = time.monotonic()
    rc = xdp_drill(args) if args.drill == "xdp" else dpdk_drill(args)
    if rc == 77:
        return 77
    print(f"test took {time.monotonic() - t0:.1f} s")
    print(f"{len(FAILURES)} check(s) failed")
    if FAILURES:
        print("FAILED:", *FAILURES, sep="\n  ")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
