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

--drill dpdk: the two-node fleet of tests/fleet (edgelb_testlib.fleet:
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
Root only (skipped otherwise; dpdk: also without BIRD). Run by pytest
(--drill, --xdp, --cp, --ctl, --decap, and --dp for dpdk): the drill's
setup once, then one test per step in order (the other drill's skipped).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from edgelb_testlib import fleet as fleetlib
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import (CHECKS, Client, check, start_backend, start_dataplane,
                                stop_process, topology)
# As the fleet's: a backend leaves service only after 3 s of failed checks,
# not because a check stalled on the busy machine (its flows would move).
from edgelb_testlib.fleet import (FALL, HTTP_PORT, INTERVAL_MS, NAMES, RISE, TIMEOUT_MS, figure,
                                  fmt)
from edgelb_testlib.proc import poll_until
from edgelb_testlib.pytest_plugin import require_root

HERE = os.path.dirname(os.path.abspath(__file__))

AGENTS = os.path.join(HERE, "upgrade_agents.py")
TAG = f"up{os.getpid() % 100000}"
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
        self.addr = {(n, f): topo[f"BACKEND{i}_{f}"] for i, n in enumerate(NAMES, start=1)
                     for f in (4, 6)}

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

    def explain_all(self, conns):
        """Each held connection: a flow-table hit on the backend that answers it."""
        bad = []
        for c in conns:
            family = 6 if ":" in c["host"] else 4
            got = explain(self.args.ctl, self.cp_sock, c)
            if got != ("hit", self.addr[(c["backend"], family)]):
                bad.append((c["src"], c["sport"], c["backend"], got))
        return bad

    def start(self):
        """edgelb-xdp, the backends and edgelb-cp, until it pushed its state
        and the backends are up."""
        topo = self.topo
        self.write_cp_config()
        self.start_dp(self.args.xdp)
        assert self.dp is not None, "edgelb-xdp up"
        for i, name in enumerate(NAMES, start=1):
            self.backends.append(start_backend(topo, i, name, [5353], AGENT_LIFETIME_S,
                                               health=True))
        log = open(os.path.join(self.work, "cp.log"), "a")
        self.cp = subprocess.Popen(["ip", "netns", "exec", topo["NS_ROUTER"], self.args.cp,
                                    "--config", self.cp_config, "--socket", self.cp_sock],
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        t = poll_until(lambda: self.in_sync() and self.all_up(), 15, 0.05)
        assert t is not None, f"edgelb-cp pushed its state, backends up ({fmt(t)} s)"
        self.new_bin = new_version(self.args.xdp, self.work)
        self.old_version = jsonrpc.call(self.dp_sock, "status.get").get("version")

    def hold(self):
        """Paced transfers and new connections, then 1 s of traffic."""
        topo = self.topo
        self.client = UpgradeClient(topo["NS_CLIENT"], AGENT_LIFETIME_S)
        self.held = start_streams(self.client, topo["VIP4"], topo["VIP6"])
        self.client.do("load_start", host=topo["VIP4"], rate=LOAD_RATE, seconds=LOAD_MAX_S,
                       timeout=LOAD_TIMEOUT_S)
        bad = self.explain_all(self.held)
        check(not bad, f"before: {len(self.held) - len(bad)} of {len(self.held)} held "
              f"connections are flow-table hits on their backend {bad[:3]}")
        time.sleep(1.0)

    def upgrade(self):
        """SIGUSR2 to the running agent (its program stays attached), the
        new binary started."""
        topo = self.topo
        self.at_begin = received(self.client)
        self.t_begin = t_begin = time.monotonic()
        rc = stop_process(self.dp, signal.SIGUSR2)
        t_exit = time.monotonic() - t_begin
        check(rc == 0, f"old edgelb-xdp: SIGUSR2, exit status {rc} after {t_exit:.2f} s")
        link = subprocess.run(["ip", "-n", topo["NS_LB"], "link", "show", "dev",
                               topo["LB_IFACE"]], capture_output=True, text=True).stdout
        check("xdp" in link, "the old agent left its program attached: it forwards meanwhile")
        up = self.start_dp(self.new_bin)
        assert self.dp is not None, "the new edgelb-xdp up"
        t_answer = time.monotonic() - t_begin
        running = running_binary(self.dp)
        status = jsonrpc.call(self.dp_sock, "status.get")
        check(running == self.new_bin and status.get("version") == self.old_version,
              f"the new edgelb-xdp runs {running} (the copy), version {status.get('version')}, "
              f"running_state_kept {status.get('running_state_kept')}")
        t = poll_until(self.in_sync, 10, 0.02)
        t_sync = None if t is None else time.monotonic() - t_begin
        check(t is not None, f"edgelb-cp in sync with the new edgelb-xdp ({fmt(t_sync)} s after "
              "the signal)")
        self.t_end = time.monotonic()
        self.at_end = received(self.client)
        figure(f"xdp: edgelb-xdp replaced: SIGUSR2 to the old one, exited after {t_exit:.2f} s, "
               f"its program left attached; the new binary answering {t_answer:.2f} s after the "
               f"signal (its start {up:.2f} s); edgelb-cp in sync with it {fmt(t_sync)} s after")
        bad = self.explain_all(self.held)
        check(not bad, f"after: {len(self.held) - len(bad)} of {len(self.held)} held connections "
              f"are still flow-table hits on their backend in the new agent (pinned maps) "
              f"{bad[:3]}")

    def finish(self):
        """The paced transfers read to their end, the load stopped: all
        complete, none failed."""
        load = self.client.do("load_stop")
        conns = self.client.do("stream_stop")["connections"]
        n, reset = streams_ok("xdp upgrade", conns, self.t_begin, self.t_end)
        total, failed, slowest = load_ok("xdp upgrade", load)
        during = [r for r in load["results"] if self.t_begin <= r["t"] <= self.t_end]
        figure(f"xdp: {n} paced transfers held across the upgrade ({STREAMS_V4} v4, "
               f"{STREAMS_V6} v6; {self.moved} bytes moved while the agent was replaced, all "
               f"moving again {fmt(self.t_moving)} s after), {reset} reset, every one complete "
               f"and a flow-table hit on its backend before and after; {total} new connections "
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


# --- DPDK: drain to the other node, replace, resume ------------------------

class DpdkDrill(fleetlib.Fleet):
    """The fleet (edgelb_testlib.fleet); node A drained, its edgelb-dp
    replaced, resumed."""

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

    def both(self, family=4):
        a, b = self.nodes["a"], self.nodes["b"]
        return {a.addr, b.addr} if family == 4 else {a.addr6, b.addr6}

    def wait_ready(self):
        """Routes via both nodes, both ready; the new binary and the running version."""
        topo, a, b = self.topo, self.nodes["a"], self.nodes["b"]
        t = self.wait_hops(self.both(), 30)
        t6 = self.wait_hops(self.both(6), 15, family=6)
        assert check(t is not None and t6 is not None,
                     f"router: ECMP routes to {topo['VIP4']} and {topo['VIP6']} via both nodes "
                     f"({sorted(self.next_hops())}, {sorted(self.next_hops(6))})")
        t = poll_until(lambda: self.ready(a, b) and self.ready(b, a), 15, 0.1)
        assert check(t is not None, "both nodes ready (in sync, backends up, sessions "
                     "established, equal Maglev digests)")
        self.new_bin = new_version(self.args.dp, self.work)
        self.old_version = jsonrpc.call(a.dp_sock, "status.get").get("version")

    def hold(self):
        """Paced transfers and new connections; both nodes carry some."""
        topo = self.topo
        self.client = UpgradeClient(topo["NS_CLIENT"], AGENT_LIFETIME_S)
        held = start_streams(self.client, topo["VIP4"], topo["VIP6"])
        self.client.do("load_start", host=topo["VIP4"], rate=LOAD_RATE, seconds=LOAD_MAX_S,
                       timeout=LOAD_TIMEOUT_S)
        # Both nodes carry held transfers, and each would reach its backend
        # on the other node too (the fleet test's explain check, on these).
        good, n, self.carried = self.explain_held([dict(c, first=c["backend"]) for c in held])
        figure(f"dpdk: {n} paced transfers before the upgrade: node A carries "
               f"{self.carried['a']}, node B {self.carried['b']}; on the other node each is a "
               f"miss whose Maglev pick is its backend ({good}/{n})")
        time.sleep(1.0)

    def upgrade(self):
        """The upgrade of node A: drain --wait, SIGTERM, the new binary,
        ready, resume."""
        topo, a, b = self.topo, self.nodes["a"], self.nodes["b"]
        self.at_begin = received(self.client)
        self.t_begin = t_begin = time.monotonic()
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
        up = a.start_dp(self.new_bin, topo)
        assert a.dp is not None, "the new edgelb-dp up"
        t_answer = time.monotonic() - t_stop
        running = running_binary(a.dp)
        version = jsonrpc.call(a.dp_sock, "status.get").get("version")
        check(running == self.new_bin and version == self.old_version,
              f"the new edgelb-dp runs {running} (the copy), version {version}")
        t_up = time.monotonic()
        t = poll_until(lambda: self.ready(a, b, since=t_up), 30, 0.05)
        t_ready = None if t is None else time.monotonic() - t_stop
        assert check(t is not None, f"node A ready to resume {fmt(t_ready)} s after the "
                     f"SIGTERM (in sync, backends up, BGP sessions established, digests "
                     f"equal to B's)")
        check(a.node()["state"] == "drained" and self.next_hops() == {b.addr},
              "node A still drained and not announced after its dataplane restart")
        rx0 = a.vip_counters(self.vip_name)["rx"]
        t_resume = time.monotonic()
        self.ctl(a, "node", "resume")
        t = self.wait_hops(self.both())
        t6 = self.wait_hops(self.both(6), family=6)
        t_announced = None if t is None else time.monotonic() - t_resume
        check(t is not None and t6 is not None,
              f"node A resumed: both next hops again after {fmt(t_announced)} s (v4 and v6)")
        t_rx = poll_until(lambda: a.vip_counters(self.vip_name)["rx"] > rx0, 10, 0.05)
        t_rx = None if t_rx is None else time.monotonic() - t_resume
        check(t_rx is not None, "node A carries VIP traffic again after the resume")
        self.t_end = time.monotonic()
        self.at_end = received(self.client)
        figure(f"dpdk: `edgelbctl node drain --wait` on A took {seconds:.2f} s (drain_ms "
               f"{info['drain'].get('drain_ms')}, quiet {fleetlib.DRAIN_QUIET_MS} ms); the old "
               f"edgelb-dp exited {t_exit:.2f} s after SIGTERM; the new binary answering "
               f"{t_answer:.2f} s after the SIGTERM (its start {up:.2f} s); A ready to resume "
               f"(in sync, backends up, BGP sessions up again, digests equal) {fmt(t_ready)} s "
               f"after the SIGTERM; after `node resume` both next hops "
               f"{fmt(t_announced)} s, A's VIP rx moving {fmt(t_rx)} s; whole upgrade "
               f"{self.t_end - t_begin:.2f} s")

    def finish(self):
        load = self.client.do("load_stop")
        conns = self.client.do("stream_stop")["connections"]
        n, reset = streams_ok("dpdk upgrade", conns, self.t_begin, self.t_end)
        total, failed, slowest = load_ok("dpdk upgrade", load)
        during = [r for r in load["results"] if self.t_begin <= r["t"] <= self.t_end]
        figure(f"dpdk: {n} paced transfers held across the upgrade ({STREAMS_V4} v4, "
               f"{STREAMS_V6} v6; {self.carried['a']} of them on A before; {self.moved} bytes "
               f"moved during the upgrade, all moving {fmt(self.t_moving)} s after), {reset} "
               f"reset, every one complete; {total} new connections ({len(during)} started "
               f"during the upgrade), {failed} failed, slowest {slowest:.0f} ms")


# --- the tests ---------------------------------------------------------------

def on_sigterm_exit():
    # meson ends a test that overruns with SIGTERM: clean up as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: pytest.exit("SIGTERM", returncode=1))


@pytest.fixture(scope="module")
def xdp(opts, workdir):
    """The XDP drill's node, set up and serving."""
    if opts.drill != "xdp":
        pytest.skip(f"not the drill of this run (--drill {opts.drill})")
    require_root("namespaces, XDP")
    on_sigterm_exit()
    with topology(TAG, opts.decap, "xdp") as topo:
        assert topo is not None, "topology up"
        drill = XdpDrill(opts, topo, workdir)
        try:
            drill.start()
            yield drill
        finally:
            drill.stop()


@pytest.fixture(scope="module")
def dpdk(opts, workdir):
    """The DPDK drill's fleet, started."""
    if opts.drill != "dpdk":
        pytest.skip(f"not the drill of this run (--drill {opts.drill})")
    if not opts.dp:
        raise pytest.UsageError("--drill dpdk needs --dp")
    require_root("namespaces, XDP, DPDK EAL")
    if not os.access(fleetlib.BIRD, os.X_OK):
        pytest.skip(f"{fleetlib.BIRD} missing (Debian package bird2: tools/install-deps)")
    on_sigterm_exit()
    drill = DpdkDrill(opts, workdir, TAG)
    try:
        assert drill.build(), "the fleet's namespaces and links"
        drill.start()
        yield drill
    finally:
        drill.teardown()


def progress(drill, what):
    with CHECKS.scope():
        drill.moved, drill.t_moving = progress_ok(what, drill.client, drill.at_begin,
                                                  drill.at_end)


def test_xdp_held_transfers_are_flow_table_hits(xdp):
    with CHECKS.scope():
        xdp.hold()


def test_xdp_agent_replaced_over_its_pinned_maps(xdp):
    with CHECKS.scope():
        xdp.upgrade()


def test_xdp_transfers_move_again_after_the_upgrade(xdp):
    progress(xdp, "xdp upgrade")


def test_xdp_transfers_complete_and_new_connections_succeed(xdp):
    with CHECKS.scope():
        xdp.finish()


def test_dpdk_both_nodes_ready(dpdk):
    with CHECKS.scope():
        dpdk.wait_ready()


def test_dpdk_held_transfers_on_both_nodes(dpdk):
    with CHECKS.scope():
        dpdk.hold()


def test_dpdk_node_a_drained_replaced_resumed(dpdk):
    with CHECKS.scope():
        dpdk.upgrade()


def test_dpdk_transfers_move_again_after_the_upgrade(dpdk):
    progress(dpdk, "dpdk upgrade")


def test_dpdk_transfers_complete_and_new_connections_succeed(dpdk):
    with CHECKS.scope():
        dpdk.finish()
