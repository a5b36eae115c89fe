# SPDX-License-Identifier: BSD-3-Clause
"""The control plane end to end, as an operator runs it: edgelb-cp manages
edgelb-dp (net_af_xdp on the lb's veth) or edgelb-xdp (generic mode) in the
namespaces of tools/netns-topology, HTTP-checks the backends' real servers,
and every change goes through edgelbctl while real traffic runs. Everything
the dataplane forwards comes from edgelb-cp.

edgelb-cp runs in the router's namespace (the management side, next to the
backends): its checks must not ride on the dataplane they steer, or killing
a DPDK dataplane (which carries the lb node's own traffic on its TAP port)
would also fail every check.

edgelb-dp starts with no configuration; so does edgelb-xdp, with a --state
file it writes from then on (used by the restart in C).

VIP 203.0.113.10:80/tcp starts with b1, b2; then, with paced new connections
and long-lived kept-alive connections (a GET every HOLD_EVERY s) running:
  A. edgelbctl backend add b3, weight b3 2 (shares follow the weights within
     SHARE_TOLERANCE), drain (held connections stay, new ones avoid it),
     remove once its connections have finished (none reach it after);
  B. a backend's HTTP server killed: new connections stop failing within
     interval x fall + timeout + SLACK_S, and connections held on the other
     backends see no error;
  C. restarts keep connections: edgelb-xdp (SIGTERM and start again with its
     --state file, as an operator runs it; its maps are pinned) and edgelb-cp
     (SIGTERM and start): zero errors, one backend per connection;
  D. kill -9 of edgelb-cp: the dataplane keeps forwarding (fail static); the
     restarted edgelb-cp reloads its file and pushes the same set (the
     dataplane's epoch does not move). kill -9 of the dataplane, started
     again without any state of its own: it has the state back from
     edgelb-cp within STATE_BOUND_S of answering on its socket; for XDP held
     connections survive (pinned maps);
  E. a generated pcap (edgelb-pktgen, with malformed frames) replayed with
     tcpreplay from the router into the balancer: the dataplane's counters
     match the truth file (exact where the outcome does not depend on timing).
Root only, and tcpreplay (skipped otherwise). Run by pytest (--dataplane,
--dp or --xdp, --cp, --ctl, --decap, --pktgen): one topology and edgelb-cp
for the file, one test per part above, in order. Figures are printed, and
FIGURE lines (rows of docs/adversarial.md) for tools/adversarial-report.
"""
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import (CHECKS, DATAPLANE, Client, check, shares_ok, start_backend,
                                start_dataplane, stop_process, topology)
from edgelb_testlib.netns import sh
from edgelb_testlib.proc import poll_until
from edgelb_testlib.pytest_plugin import print_past_capture, require_root

TAG = f"c{os.getpid() % 100000}"
NAMES = ("b1", "b2", "b3")
HTTP_PORT = 80
# Health checks: a killed server refuses at once, so `fall` failures take
# fall intervals; the slack covers scheduling on a busy 2-core machine.
INTERVAL_MS, TIMEOUT_MS, RISE, FALL = 300, 300, 2, 3
SLACK_S = 1.0
# "within a second" (the issue) + slack for the same reason.
STATE_BOUND_S = 1.5
BURST, BURST_PARALLEL = 400, 8
# Absolute; at 400 samples the standard deviation of a 50% share is 2.5 points.
SHARE_TOLERANCE = 0.10
LOAD_RATE = 40          # new connections per second under changes
HOLD_N, HOLD_EVERY = 12, 0.25
SETTLE_S = 0.3          # connections started this soon after a change are not held to it
AGENT_LIFETIME_S = 170  # every agent exits by then whatever happens
# E: the pcap's VIPs (TCP and UDP on both addresses), rate-limited per flow.
# No regular flow of the pcap has more than PCAP_MAX_FLOW_PACKETS packets,
# so with a bucket of LIMIT_BURST they are never limited whatever the
# timing; each flood (FLOOD_PACKETS within 1 ms of pcap time) is.
PKTGEN_CLIENTS = ("198.18.0.0/15", "2001:db8:c1::/48", "2001:db8:bad::/48")  # pktgen.h
PCAP_PORT, PCAP_PACKETS, PCAP_FLOWS, PCAP_FLOODS, PCAP_PPS = 7000, 6000, 2000, 3, 3000
LIMIT_PPS, LIMIT_BURST, FLOOD_PACKETS, PCAP_MAX_FLOW_PACKETS = 10, 50, 200, 25


def fmt(seconds):
    return "none" if seconds is None else f"{seconds:.3f}"


class ControlPlaneRun:
    """The topology's dataplane, edgelb-cp managing it, the backends' servers,
    and the parts of the run (operator_changes ... pcap_replay)."""

    def __init__(self, args, topo, work):
        self.args, self.topo, self.work = args, topo, work
        self.kind = args.dataplane
        self.dp_sock = os.path.join(work, "dp.sock")
        self.dp_state = os.path.join(work, "dp-state.json")
        self.cp_sock = os.path.join(work, "cp.sock")
        self.cp_config = os.path.join(work, "cp.json")
        self.vip = f"{topo['VIP4']}:{HTTP_PORT}/tcp"
        self.addr = {n: topo[f"BACKEND{i}_4"] for i, n in enumerate(NAMES, start=1)}
        self.name_of = {a: n for n, a in self.addr.items()}
        self.dp = self.cp = None
        self.backends = {}
        self.figures = []
        self.events = []

    # --- processes -------------------------------------------------------

    def start_dp(self, state=None):
        self.mark("dataplane start")
        binary = self.args.dp if self.kind == "dpdk" else self.args.xdp
        log = open(os.path.join(self.work, "dp.log"), "a")
        self.dp, up = start_dataplane(self.kind, binary, self.topo, self.dp_sock, TAG, log=log,
                                      state=state)
        log.close()
        return up

    def start_cp(self):
        self.mark("edgelb-cp start")
        log = open(os.path.join(self.work, "cp.log"), "a")
        self.cp = subprocess.Popen(["ip", "netns", "exec", self.topo["NS_ROUTER"], self.args.cp,
                                    "--config", self.cp_config, "--socket", self.cp_sock],
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        t = poll_until(lambda: "vips" in jsonrpc.call(self.cp_sock, "vip.list"), 10)
        check(t is not None, f"edgelb-cp answering on its socket after {fmt(t)} s")

    def start_backend(self, name):
        index = NAMES.index(name) + 1
        self.backends[name] = start_backend(self.topo, index, name, [5353], AGENT_LIFETIME_S,
                                            health=True)

    def ctl(self, *argv):
        r = subprocess.run([self.args.ctl, "--socket", self.cp_sock, *argv],
                           capture_output=True, text=True, timeout=10)
        self.mark("edgelbctl " + " ".join(argv))
        check(r.returncode == 0, f"edgelbctl {' '.join(argv)}" +
              (f": {r.stderr.strip()}" if r.returncode else ""))
        return time.monotonic()

    # --- state -----------------------------------------------------------

    def dp_config(self):
        return jsonrpc.call(self.dp_sock, "config.get")

    def dp_set(self):
        """The dataplane's backends of the HTTP VIP: {name: (state, weight)}."""
        for v in self.dp_config()["config"]["vips"]:
            if v["address"] == self.topo["VIP4"] and v["port"] == HTTP_PORT:
                return {self.name_of[b["address"]]: (b["state"], b["weight"])
                        for b in v["backends"]}
        return None

    def health(self):
        for v in jsonrpc.call(self.cp_sock, "health.get")["vips"]:
            if v["vip"] == self.vip:
                return {self.name_of[b["address"]]: b for b in v["backend_health"]}

    def in_sync(self):
        d = jsonrpc.call(self.cp_sock, "dataplanes.get")["dataplanes"][0]
        return d["connected"] and d["in_sync"]

    def wait_all_up(self, names, timeout=10):
        t = poll_until(lambda: all(self.health()[n]["health"] == "up" and
                                 self.health()[n]["pushed"] for n in names), timeout, 0.05)
        check(t is not None, f"backends {', '.join(names)} up and pushed")

    def mark(self, event):
        """Notes when something was done, to place errors in time."""
        self.events.append((time.monotonic(), event))

    def when(self, t):
        before = [(te, e) for te, e in self.events if te <= t]
        return f"{t - before[-1][0]:+.3f} s after {before[-1][1]}" if before else "at start"

    def figure(self, text):
        self.figures.append(text)
        print_past_capture("     " + text)

    def report_row(self, case, happened, measured):
        """A row of docs/adversarial.md (tools/adversarial-report runs this
        test and collects these lines, as it does the fault tests')."""
        print_past_capture("FIGURE " + json.dumps({"case": case, "happened": happened,
                                                   "figure": measured}))

    # --- the run ---------------------------------------------------------

    def write_cp_config(self):
        topo = self.topo
        hc = {"type": "http", "path": "/healthz", "expect_status": 200, "port": HTTP_PORT,
              "interval_ms": INTERVAL_MS, "timeout_ms": TIMEOUT_MS, "rise": RISE, "fall": FALL}
        limited = {"packets_per_s": LIMIT_PPS, "packet_burst": LIMIT_BURST}
        vips = [{"address": topo["VIP4"], "port": HTTP_PORT, "protocol": "tcp",
                 "backends": [{"address": self.addr["b1"]}, {"address": self.addr["b2"]}],
                 "health_check": hc}]
        for family in (4, 6):
            for proto in ("tcp", "udp"):
                vips.append({"address": topo[f"VIP{family}"], "port": PCAP_PORT,
                             "protocol": proto, "rate_limit": limited,
                             "backends": [{"address": topo[f"BACKEND{i}_{family}"]}
                                          for i in (1, 2, 3)]})
        with open(self.cp_config, "w") as f:
            json.dump({"node": {"source_v4": topo["LB4"], "source_v6": topo["LB6"],
                                "gateway_mac": topo["ROUTER_LB_MAC"], "gue_port": 6080},
                       "dataplanes": [{"name": "dp0", "socket": self.dp_sock}],
                       "vips": vips}, f, indent=1)

    def start(self):
        """The dataplane (empty; edgelb-xdp with its --state file), the
        backends' servers and edgelb-cp."""
        self.write_cp_config()
        self.start_dp(state=self.dp_state if self.kind == "xdp" else None)
        assert self.dp is not None, f"{DATAPLANE[self.kind]} up"
        for name in NAMES:
            self.start_backend(name)
        self.t_cp = time.monotonic()
        self.start_cp()

    def stop(self):
        """What still runs: the backends killed, edgelb-cp and the dataplane
        stopped (their exit status is the last tests' to check)."""
        for p in self.backends.values():
            stop_process(p, signal.SIGKILL)
        for p in (self.cp, self.dp):
            if p is not None and p.poll() is None:
                stop_process(p)
        if CHECKS.failed:
            for log in ("cp.log", "dp.log"):
                path = os.path.join(self.work, log)
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        print_past_capture(f"     {log} (last lines):\n" + "".join(
                            "       " + l for l in f.readlines()[-12:]).rstrip())

    def load(self, client, seconds):
        client.do("load_start", host=self.topo["VIP4"], rate=LOAD_RATE, seconds=seconds)

    def load_phases(self, client, what, cuts, avoid):
        """Stops the load and checks each phase between change times `cuts`:
        every connection succeeded and none reached a backend of avoid[i]."""
        results = client.do("load_stop")["results"]
        bounds = [float("-inf")] + cuts + [float("inf")]
        for i in range(len(bounds) - 1):
            lo = bounds[i] + (SETTLE_S if i else 0)
            phase = [r for r in results if lo <= r["t"] < bounds[i + 1]]
            shares = collections.Counter(r["backend"] for r in phase if "backend" in r)
            errors = [r["error"] for r in phase if "error" in r]
            self.figure(f"{what}, phase {i}: {len(phase) - len(errors)}/{len(phase)} new "
                        f"connections succeeded, shares {dict(shares)}, errors {errors[:3]}")
            check(phase and not errors, f"{what}, phase {i}: every new connection succeeded")
            if avoid[i]:
                check(not set(shares) & set(avoid[i]),
                      f"{what}, phase {i}: none reached {sorted(avoid[i])}")
        return results

    def burst_shares(self, client, what, weights):
        r = client.do("burst", host=self.topo["VIP4"], n=BURST, parallel=BURST_PARALLEL)
        self.figure(f"{what}: {r['ok']}/{BURST} connections, shares {r['shares']}")
        check(r["ok"] == BURST, f"{what}: every connection succeeded ({r['errors']})")
        shares_ok(what, r["shares"], r["ok"], weights, SHARE_TOLERANCE)

    def held_ok(self, conns, what, must=True, spared=()):
        """Long-lived connections: no error, one backend each (except those
        held on a backend in `spared`, whose server the test killed)."""
        watched = [c for c in conns if c["first"] not in spared]
        errors = [(c["first"], e["error"], self.when(e["t"])) for c in watched
                  for e in c["errors"]]
        moved = [c["backends"] for c in watched if len(c["backends"]) != 1]
        requests = sum(c["requests"] for c in watched)
        on = collections.Counter(c["first"] for c in watched)
        text = (f"{what}: {len(watched)} long-lived connections ({dict(on)}), {requests} "
                f"requests, errors {errors[:3]}, connections that changed backend {moved}")
        if must:
            check(watched and not errors and not moved, text)
        else:
            self.figure("(not asserted) " + text)
        return errors, moved

    def operator_changes(self, client):
        self.burst_shares(client, "A. b1, b2", {"b1": 1, "b2": 1})

        self.load(client, 20)
        time.sleep(1.0)
        t_add = self.ctl("backend", "add", self.vip, self.addr["b3"])
        t = poll_until(lambda: "b3" in self.dp_set(), 3)
        self.figure(f"A. backend add b3: in the dataplane after {fmt(t)} s")
        time.sleep(1.5)
        t_weight = self.ctl("backend", "weight", self.vip, self.addr["b3"], "2")
        t = poll_until(lambda: self.dp_set()["b3"][1] == 2, 3)
        self.figure(f"A. backend weight b3 2: in the dataplane after {fmt(t)} s")
        time.sleep(1.5)
        results = self.load_phases(client, "A. add, weight", [t_add, t_weight],
                                   [None, None, None])
        check(any(r.get("backend") == "b3" and r["t"] > t_add + SETTLE_S for r in results),
              "A. new connections reach the added b3")
        self.wait_all_up(NAMES)
        self.burst_shares(client, "A. weights b1 1, b2 1, b3 2", {"b1": 1, "b2": 1, "b3": 2})

        # Drain the backend of a held connection; its connections go on.
        self.mark("hold_start")
        first = client.do("hold_start", host=self.topo["VIP4"], n=HOLD_N, every=HOLD_EVERY,
                          seconds=60)["first"]
        drained = first[0]
        self.load(client, 20)
        time.sleep(1.0)
        t_drain = self.ctl("backend", "drain", self.vip, self.addr[drained])
        t = poll_until(lambda: self.dp_set()[drained][0] == "draining", 3)
        self.figure(f"A. backend drain {drained}: in the dataplane after {fmt(t)} s")
        time.sleep(2.5)
        # Its connections finish (the client closes them); then it goes.
        conns = client.do("hold_stop")["connections"]
        on_drained = [c for c in conns if c["first"] == drained]
        check(on_drained and all(c["requests"] >= 8 for c in on_drained),
              f"A. {len(on_drained)} held connection(s) on draining {drained} kept working "
              f"({[c['requests'] for c in on_drained]} requests)")
        self.held_ok(conns, "A. through the drain")
        t_remove = self.ctl("backend", "remove", self.vip, self.addr[drained])
        t = poll_until(lambda: drained not in self.dp_set(), 3)
        self.figure(f"A. backend remove {drained}: out of the dataplane after {fmt(t)} s")
        time.sleep(1.5)
        self.load_phases(client, "A. drain, remove", [t_drain, t_remove],
                         [None, [drained], [drained]])
        # Back in for what follows (as active, weight 1: b3 keeps its 2 if it stayed).
        self.ctl("backend", "add", self.vip, self.addr[drained])
        self.wait_all_up(NAMES)

    def backend_killed(self, client):
        self.mark("hold_start")
        first = client.do("hold_start", host=self.topo["VIP4"], n=HOLD_N, every=HOLD_EVERY,
                          seconds=60)["first"]
        # The victim: a backend with the fewest held connections, so that
        # most of them are on the others (whose connections must not notice).
        victim = min(NAMES, key=lambda n: first.count(n))
        self.wait_all_up(NAMES)
        self.load(client, 20)
        time.sleep(1.0)
        t_kill = time.monotonic()
        self.mark(f"kill -9 of {victim}'s server")
        stop_process(self.backends.pop(victim), signal.SIGKILL)
        t_out = poll_until(lambda: victim not in self.dp_set(), 10)
        time.sleep(2.0)
        results = client.do("load_stop")["results"]
        conns = client.do("hold_stop")["connections"]
        limit = (INTERVAL_MS * FALL + TIMEOUT_MS) / 1000 + SLACK_S
        failed = [r for r in results if "error" in r and r["t"] >= t_kill]
        last = max((r["t"] - t_kill for r in failed), default=None)
        after = [r for r in results if r["t"] >= t_kill + limit]
        self.figure(f"B. {victim}'s server killed: out of the dataplane after {fmt(t_out)} s; "
                    f"{len(failed)} new connections failed, the last started "
                    f"{fmt(last)} s after the kill")
        check(t_out is not None and t_out <= limit,
              f"B. the health check took {victim} out within {limit:.2f} s "
              f"(interval {INTERVAL_MS} ms x fall {FALL} + timeout {TIMEOUT_MS} ms + "
              f"{SLACK_S} s slack)")
        check(last is None or last <= limit, "B. new connections stopped failing within "
              f"{limit:.2f} s of the kill")
        check(after and all("backend" in r for r in after),
              f"B. all {len(after)} new connections started later succeeded")
        check(not [r for r in results if "error" in r and r["t"] < t_kill],
              "B. no failure before the kill")
        self.held_ok(conns, f"B. held on the other backends than {victim}", spared=(victim,))
        self.start_backend(victim)
        self.mark(f"{victim}'s server restarted")
        self.wait_all_up(NAMES)

    def restarts(self, client):
        self.mark("hold_start")
        client.do("hold_start", host=self.topo["VIP4"], n=HOLD_N, every=HOLD_EVERY, seconds=60)
        if self.kind == "xdp":
            before = self.dp_config()["config"]
            t0 = time.monotonic()
            self.mark("SIGTERM to edgelb-xdp")
            check(stop_process(self.dp) == 0, "C. edgelb-xdp: SIGTERM, exit status 0")
            up = self.start_dp(state=self.dp_state)
            if self.dp is None:
                return
            t = poll_until(lambda: self.in_sync() and self.dp_config()["config"] == before, 5)
            self.figure(f"C. edgelb-xdp restarted: socket answering {up:.2f} s after the "
                        f"SIGTERM, whole state and edgelb-cp in sync with the new instance "
                        f"{time.monotonic() - t0:.2f} s after it")
            check(t is not None, "C. the restarted edgelb-xdp has the whole state again")
            time.sleep(1.0)
        pushed = jsonrpc.call(self.cp_sock, "config.get")["pushed"]
        epoch = self.dp_config()["epoch"]
        self.mark("SIGTERM to edgelb-cp")
        check(stop_process(self.cp) == 0, "C. edgelb-cp: SIGTERM, exit status 0")
        self.start_cp()
        t = poll_until(self.in_sync, 5)
        check(t is not None and jsonrpc.call(self.cp_sock, "config.get")["pushed"] == pushed
              and self.dp_config()["epoch"] == epoch,
              f"C. edgelb-cp restarted: in sync after {fmt(t)} s, same set pushed, the "
              f"dataplane's epoch still {epoch}")
        time.sleep(1.5)
        conns = client.do("hold_stop")["connections"]
        self.held_ok(conns, "C. through the " +
                     ("edgelb-xdp and " if self.kind == "xdp" else "") + "edgelb-cp restarts")

    def process_faults(self, client):
        # kill -9 of edgelb-cp: fail static, then a restart without a flap.
        self.mark("hold_start")
        client.do("hold_start", host=self.topo["VIP4"], n=HOLD_N, every=HOLD_EVERY, seconds=60)
        self.load(client, 20)
        time.sleep(1.0)
        before, pushed = self.dp_config(), jsonrpc.call(self.cp_sock, "config.get")["pushed"]
        t_kill = time.monotonic()
        self.mark("kill -9 of edgelb-cp")
        stop_process(self.cp, signal.SIGKILL)
        time.sleep(2.0)
        check(self.dp_config() == before,
              f"D. edgelb-cp killed: the dataplane keeps its state (epoch {before['epoch']})")
        t_start = time.monotonic()
        self.start_cp()
        t = poll_until(self.in_sync, 5)
        self.figure(f"D. edgelb-cp restarted after kill -9: in sync "
                    f"{time.monotonic() - t_start:.2f} s after its start")
        time.sleep(1.0)
        check(t is not None and jsonrpc.call(self.cp_sock, "config.get")["pushed"] == pushed and
              self.dp_config() == before,
              "D. restarted edgelb-cp reloaded its file and pushed the same set (no flap: "
              f"the dataplane's epoch is still {before['epoch']})")
        time.sleep(0.5)
        results = self.load_phases(client, "D. edgelb-cp kill -9 and restart", [t_kill],
                                   [None, None])
        failed_new = sum("error" in r for r in results)
        held = client.do("hold_stop")["connections"]
        held_errors = len(self.held_ok(held, "D. through edgelb-cp's kill -9")[0])
        self.report_row(f"kill -9 of edgelb-cp under traffic ({DATAPLANE[self.kind]})",
                        "the dataplane keeps forwarding with the last state (fail static); "
                        "the restarted edgelb-cp reloads its file, reconnects and pushes the "
                        "same set: the dataplane's epoch does not move",
                        f"in sync {fmt(t)} s after the restart; {failed_new} of {len(results)} "
                        f"new connections failed; {held_errors} errors on {len(held)} held "
                        "connections")

        # kill -9 of the dataplane, started again without its state file:
        # its state can only come back from edgelb-cp.
        self.mark("hold_start")
        client.do("hold_start", host=self.topo["VIP4"], n=HOLD_N, every=HOLD_EVERY, seconds=60)
        self.load(client, 20)
        time.sleep(1.0)
        want = self.dp_config()["config"]
        t_kill = time.monotonic()
        self.mark("kill -9 of the dataplane")
        stop_process(self.dp, signal.SIGKILL)
        t_restart = time.monotonic()
        up = self.start_dp()
        if self.dp is None:
            return
        # From the first answer on its socket (the DPDK TAP setup in between
        # is counted: the state may well be there before it is done).
        t_answer = t_restart + up
        got = poll_until(lambda: self.dp_config()["config"] == want, 5, 0.005)
        t = None if got is None else time.monotonic() - t_answer
        self.figure(f"D. {DATAPLANE[self.kind]} killed and started again: answering "
                    f"{t_answer - t_kill:.3f} s after the kill, whole state from edgelb-cp "
                    f"{fmt(t)} s after that")
        check(t is not None and t <= STATE_BOUND_S,
              f"D. the restarted dataplane had the whole state within {STATE_BOUND_S} s")
        time.sleep(2.0)
        results = client.do("load_stop")["results"]
        conns = client.do("hold_stop")["connections"]
        failed = [r for r in results if "error" in r]
        self.figure(f"D. new connections across the dataplane's kill -9: {len(failed)} of "
                    f"{len(results)} failed {[r['error'] for r in failed][:3]}")
        late = [r for r in results if r["t"] >= t_answer + (t or 0) + SETTLE_S]
        check(late and all("backend" in r for r in late),
              f"D. all {len(late)} new connections after the state came back succeeded")
        # XDP: the program and its pinned maps outlive the agent, flows keep
        # their backends. DPDK's flow table dies with the process (Maglev
        # usually re-picks the same backend, but that is not promised).
        held_errors = len(self.held_ok(conns, f"D. through {DATAPLANE[self.kind]}'s kill -9",
                                       must=self.kind == "xdp")[0])
        self.report_row(f"kill -9 of {DATAPLANE[self.kind]} under traffic, restarted without "
                        "its state file",
                        "its state comes back from edgelb-cp within a second"
                        + ("; established connections survive (pinned maps)"
                           if self.kind == "xdp" else ""),
                        f"answering {t_answer - t_kill:.2f} s after the kill, whole state "
                        f"{fmt(t)} s later; {len(failed)} of {len(results)} new connections "
                        f"failed; {held_errors} errors on {len(conns)} held connections")

    def pcap_replay(self):
        topo, work = self.topo, self.work
        pcap, truth_path = os.path.join(work, "in.pcap"), os.path.join(work, "truth.jsonl")
        subprocess.run([self.args.pktgen, "--out", pcap, "--truth", truth_path,
                        "--packets", str(PCAP_PACKETS), "--flows", str(PCAP_FLOWS),
                        "--rate-flows", str(PCAP_FLOODS), "--seed", "7",
                        "--vip4", f"{topo['VIP4']}:{PCAP_PORT}",
                        "--vip6", f"[{topo['VIP6']}]:{PCAP_PORT}",
                        "--other-dst", topo["LB4"], "--other-dst", topo["LB6"]],
                       check=True, capture_output=True)
        with open(truth_path) as f:
            truth = [json.loads(line) for line in f]
        kinds = collections.Counter(t["kind"] for t in truth)
        reasons = collections.Counter(t["reason"] for t in truth if t["kind"] == "malformed")
        per_flow = collections.Counter(t["flow"] for t in truth
                                       if t["kind"] in ("flow", "big", "icmp_error", "fragment"))
        check(max(per_flow.values()) <= PCAP_MAX_FLOW_PACKETS and
              kinds["rate_flood"] == PCAP_FLOODS * FLOOD_PACKETS,
              f"E. pcap: {len(truth)} frames {dict(kinds)}; longest flow "
              f"{max(per_flow.values())} packets (limiter bucket {LIMIT_BURST})")
        # A kernel interface cannot carry a frame shorter than an Ethernet
        # header: tcpreplay's send fails for those, and nothing arrives.
        unsendable = sum(1 for t in truth if t["len"] < 14)
        reasons["eth_truncated"] -= unsendable
        # The backends answer the pcap's clients (RSTs, ICMP); the router must
        # drop that silently: its "unreachable" errors would go to the VIPs
        # and be forwarded as traffic the truth file does not have.
        for prefix in PKTGEN_CLIENTS:
            sh("ip", "route", "replace", "blackhole", prefix, ns=topo["NS_ROUTER"])

        before = jsonrpc.call(self.dp_sock, "counters.get")["counters"]
        r = subprocess.run(["ip", "netns", "exec", topo["NS_ROUTER"], "tcpreplay", "-i", "to-lb",
                            "--pps", str(PCAP_PPS), "--limit", str(PCAP_PACKETS), pcap],
                           capture_output=True, text=True, timeout=60)
        sent = [l.strip() for l in r.stdout.splitlines() if "Successful packets" in l or
                "Failed packets" in l or "Actual:" in l]
        self.figure(f"E. tcpreplay at {PCAP_PPS} pps: {'; '.join(sent)}")
        failed = re.search(r"Failed packets:\s+(\d+)", r.stdout)
        check(r.returncode == 0 and failed and int(failed.group(1)) == unsendable,
              f"E. tcpreplay sent every frame but the {unsendable} shorter than an Ethernet "
              f"header ({r.stderr.strip()[:200]})")
        # Counters are read as the packets are handled: wait until they settle.
        prev = None

        def settled():
            nonlocal prev
            now = jsonrpc.call(self.dp_sock, "counters.get")["counters"]
            same, prev = prev is not None and now["rx"] == prev["rx"], now
            return same
        poll_until(settled, 5, 0.3)
        after = prev

        def delta(get):
            return get(after) - get(before)

        # Per VIP, exact: what arrived, and forwarded + rate-limited (which
        # of the two depends on timing only for the floods).
        offered, to_forward = collections.Counter(), collections.Counter()
        for t in truth:
            if t["kind"] in ("flow", "rate_flood", "icmp_error", "big"):
                proto = t["inner_proto"] if t["kind"] == "icmp_error" else t["proto"]
                offered[f"{t['vip']}/{proto}"] += 1
                to_forward[f"{t['vip']}/{proto}"] += t["kind"] != "big"
        limited = 0
        for vip in sorted(offered):
            def counter(get):
                return delta(lambda c: next(get(v) for v in c["vips"] if v["vip"] == vip))
            rx = counter(lambda v: v["rx"]["packets"])
            fwd = counter(lambda v: v["forwarded"]["packets"])
            lim = counter(lambda v: v["drops"]["rate_limited"])
            limited += lim
            check(rx == offered[vip] and fwd + lim == to_forward[vip],
                  f"E. {vip}: received {rx} (truth {offered[vip]}), forwarded {fwd} + "
                  f"rate-limited {lim} (truth {to_forward[vip]} to forward)")
        # Each flood gets its bucket (LIMIT_BURST) and at most LIMIT_PPS more
        # per second while it lasts, at most the whole replay: PCAP_PACKETS /
        # PCAP_PPS seconds, counted twice for a replay slowed by the machine.
        most = PCAP_FLOODS * (FLOOD_PACKETS - LIMIT_BURST)
        least = PCAP_FLOODS * (FLOOD_PACKETS - LIMIT_BURST - 1 -
                               LIMIT_PPS * (2 * PCAP_PACKETS / PCAP_PPS))
        check(least <= limited <= most, f"E. rate-limited {limited} in [{least:.0f}, {most}]")
        for reason, n in sorted(reasons.items()):
            got = delta(lambda c: c["drops"][reason])
            check(got == n, f"E. malformed {reason}: {got} dropped, truth {n}")
        got = delta(lambda c: c["drops"]["fragment_no_vip"])
        check(got == kinds["fragment"], f"E. fragments to a port VIP: {got} dropped, "
              f"truth {kinds['fragment']}")
        got = delta(lambda c: c["too_big_replies"]["packets"])
        check(got == kinds["big"], f"E. too big: {got} ICMP replies, truth {kinds['big']}")
        got = delta(lambda c: c["to_kernel"]["packets"])
        check(got >= kinds["non_vip"], f"E. to the kernel: {got} (truth {kinds['non_vip']} "
              "non-VIP frames, plus the node's own traffic)")


@pytest.fixture(scope="module")
def topo(opts):
    require_root("namespaces, veth, AF_XDP, XDP")
    if shutil.which("tcpreplay") is None:
        pytest.skip("tcpreplay not installed")
    if (opts.dp if opts.dataplane == "dpdk" else opts.xdp) is None:
        raise pytest.UsageError(f"--dataplane {opts.dataplane} needs its binary")
    # meson ends a test that overruns with SIGTERM: clean up as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: pytest.exit("SIGTERM", returncode=1))
    with topology(TAG, opts.decap, opts.dataplane) as t:
        assert t is not None, "topology up"
        yield t


@pytest.fixture(scope="module")
def env(opts, topo, workdir):
    test = ControlPlaneRun(opts, topo, workdir)
    try:
        test.start()
        yield test
    finally:
        test.stop()


@pytest.fixture(scope="module")
def client(env):
    c = Client(env.topo["NS_CLIENT"], AGENT_LIFETIME_S)
    try:
        yield c
    finally:
        c.close()


def test_cp_pushes_its_config_to_the_empty_dataplane(env):
    with CHECKS.scope():
        t = poll_until(lambda: env.in_sync() and set(env.dp_set()) == {"b1", "b2"}, 10)
        check(t is not None, "edgelb-cp pushed its config to the empty dataplane"
              + (f" {time.monotonic() - env.t_cp:.2f} s after it started" if t is not None
                 else ""))
        env.wait_all_up(["b1", "b2"])


def test_a_operator_changes_under_traffic(env, client):
    with CHECKS.scope():
        env.operator_changes(client)


def test_b_killed_backend_server_taken_out(env, client):
    with CHECKS.scope():
        env.backend_killed(client)


def test_c_restarts_keep_connections(env, client):
    with CHECKS.scope():
        env.restarts(client)


def test_d_kill_9_of_cp_and_of_the_dataplane(env, client):
    with CHECKS.scope():
        env.process_faults(client)


def test_e_pcap_replay_matches_the_truth_file(env):
    with CHECKS.scope():
        env.pcap_replay()


def test_cp_exits_0_on_sigterm(env):
    rc = stop_process(env.cp)
    assert rc == 0, f"edgelb-cp: SIGTERM, exit status {rc}"


def test_dataplane_exits_0_on_sigterm(env):
    rc = stop_process(env.dp)
    assert rc == 0, f"{DATAPLANE[env.kind]}: SIGTERM, exit status {rc}"
