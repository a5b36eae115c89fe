# SPDX-License-Identifier: BSD-3-Clause
"""Operator tools of issue 9 with real processes: edgelb-cp managing two
edgelb-dp (net_af_packet on veths of a namespace of its own), fed
hand-built TCP frames; what they forward (IPIP) is captured on the veth's
other end, so each flow's backend is observed, not computed.

Checks:
  - backend.preview: the moved share it predicts for adding a backend and
    for removing one equals the share of 2000 flows that change backend
    when sent again after the change (within sampling error), and the
    established flows it says would be re-picked are those captured going
    to the backend that leaves;
  - fleet agreement: no alarm while edgelb-cp pushes changes; a dataplane
    given another backend set over its own socket raises fleet_disagree
    (and the counter) after fleet.disagree_after_ms, is pushed the state
    again, and fleet_agree follows; `edgelbctl fleet` shows it;
  - a stream of changes for longer than fleet.disagree_after_ms: no alarm
    (reports older than a dataplane's acknowledgement are not held against
    it), the counters and tables polls go on (each dataplane's report stays
    younger than three poll intervals), and both agree once it ends;
  - explain: `edgelbctl explain` through edgelb-cp asks both dataplanes;
    before a flow's first packet both name the same backend, and the
    packet is captured going there; afterwards the dataplane that saw it
    finds its entry (established, same backend), the other picks the same;
  - drains: `edgelbctl backend drain --wait` returns 0 once the drained
    backend's flows have expired (short timeouts), 4 when flows kept alive
    outlast --timeout, and --remove removes the backend once drained; a
    drain goes on across a kill -9 of edgelb-cp (its start, timeout and
    --remove are persisted with the change).
Figures are printed as "figure:" lines (docs/operator-tools.md).
Root only (skipped otherwise). Run by pytest (--dp, --cp, --ctl; edgelb-xdp
in EDGELB_XDP): one fixture sets it up, one test per part, in order.
"""
import contextlib
import json
import math
import os
import signal
import socket
import struct
import subprocess
import threading
import time

from edgelb_testlib import rpc
from edgelb_testlib.frames import tcp4_frame
from edgelb_testlib.netns import mac_of, veth_pairs
from edgelb_testlib.proc import wait_for
from edgelb_testlib.pytest_plugin import print_past_capture
from edgelb_testlib.rpc import Subscription
from cplib import Harness, cp_exits_cleanly, env_fixture

VIP_A = "198.51.100.1"  # preview vs measurement (dp0)
VIP_D = "198.51.100.2"  # drains (dp0)
PORT = 8080
BACKENDS_A = ["10.10.0.1", "10.10.0.2", "10.10.0.3", "10.10.0.4"]
ADDED_A = "10.10.0.5"
BACKENDS_D = ["10.20.0.1", "10.20.0.2", "10.20.0.3", "10.20.0.4"]
FLOWS = 2000
ESTABLISHED = 300
EXPLAIN_FLOWS = 100
DISAGREE_AFTER_MS = 1500
DRAIN_IDLE_MS = 2000  # VIP_D's tcp_established_ms: a drained backend's flows end this long after their last packet
# With EDGELB_XDP set (meson does when edgelb-xdp is built), dp1 is
# edgelb-xdp in generic mode, its maps pinned in a bpffs of this run's own
# (a host as it comes has none on /sys/fs/bpf).
XDP = os.environ.get("EDGELB_XDP")
BPFFS = f"/tmp/elb-cpf-bpffs-{os.getpid()}"
PIN_DIR = os.path.join(BPFFS, "edgelb")
ETH_P_ALL = 3
PACKET_OUTGOING = 4


def flow_src(n):
    """Client address and port of flow n: many addresses, so the flow hash varies."""
    return f"203.0.{n // 200}.{1 + n % 200}", 10000 + n


class Wire:
    """Send frames into dataplane i through peer{i}, capture what it forwards."""

    def __init__(self, i):
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.tx.bind((f"peer{i}", 0))
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.rx.bind((f"peer{i}", 0))
        self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.dst, self.src = mac_of(f"lb{i}"), mac_of(f"peer{i}")

    def send(self, vip, flows, flags):
        for k, n in enumerate(flows):
            src, sport = flow_src(n)
            self.tx.send(tcp4_frame(self.dst, self.src, src, vip, sport, PORT, flags))
            if k % 25 == 24:
                time.sleep(0.004)  # the af_packet ring of the dataplane is not deep

    def backends(self, vip, seconds):
        """(client address, port) -> outer destination of the IPIP frames
        toward vip captured for `seconds`."""
        seen = {}
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return seen
            self.rx.settimeout(left)
            try:
                frame, addr = self.rx.recvfrom(65535)
            except (socket.timeout, TimeoutError):
                return seen
            if addr[2] == PACKET_OUTGOING or len(frame) < 14 + 20 + 20 + 4:
                continue
            if frame[12:14] != b"\x08\x00" or frame[14 + 9] != 4:  # IPv4 carrying IPIP
                continue
            outer_dst = socket.inet_ntoa(frame[14 + 16:14 + 20])
            inner = frame[14 + 20:]
            if socket.inet_ntoa(inner[16:20]) != vip:
                continue
            sport = struct.unpack("!H", inner[20:22])[0]
            seen[(socket.inet_ntoa(inner[12:16]), sport)] = outer_dst

    def close(self):
        self.tx.close()
        self.rx.close()


class Env(Harness):
    """edgelb-cp managing two dataplanes on veths, in this namespace."""

    def __init__(self, args, work):
        super().__init__(args, work)
        self.dp_socks = [os.path.join(work, f"dp{i}.sock") for i in range(2)]
        self.figures = []
        self.sub = self.wire = None
        self.bpffs_mounted = False

    def figure(self, text):
        # Past pytest's capture: the figures are read from the test's log.
        print_past_capture("figure: " + text)

    def start_dp(self, i):
        if i == 1 and XDP:
            # The second dataplane is edgelb-xdp: digests must agree across kinds.
            self.start("dp1", [XDP, "--iface", "lb1", "--mode", "generic",
                               "--socket", self.dp_socks[1], "--flows", "65536",
                               "--pin-dir", PIN_DIR])
            wait_for("dataplane 1 (xdp)", lambda: rpc.request(self.dp_socks[1], "ping")["result"], 30)
            return
        self.start(f"dp{i}", [self.args.dp, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci",
                              "--file-prefix", f"cpf{os.getpid()}_{i}", "--log-level=error",
                              "--vdev", f"net_af_packet{i},iface=lb{i}", "--",
                              "--socket", self.dp_socks[i], "--kernel-iface", "none",
                              "--flows", "65536"])
        wait_for(f"dataplane {i}", lambda: rpc.request(self.dp_socks[i], "ping")["result"], 30)

    def ctl(self, *argv, timeout=60):
        return subprocess.run([self.args.ctl, "--socket", self.cp_sock, *argv],
                              capture_output=True, text=True, timeout=timeout)

    def vip_params(self, vip, **kw):
        return dict({"address": vip, "port": PORT, "protocol": "tcp"}, **kw)

    def fleet_vip(self, vip):
        for v in rpc.request(self.cp_sock, "fleet.get")["result"]["vips"]:
            if v["vip"] == f"{vip}:{PORT}/tcp":
                return v
        raise KeyError(vip)

    def all_agree(self, vip, generation=None):
        v = self.fleet_vip(vip)
        if generation is not None:
            gens = [d.get("pushed_generation") for d in v["dataplanes"]]
            if any(g != generation for g in gens):
                return False
        return v["agree"] and v["dataplanes_reporting"] == 2

    def dp_flows(self, i, vip, backend):
        r = rpc.request(self.dp_socks[i], "vip.tables", self.vip_params(vip))["result"]
        for b in r["vips"][0]["backends"]:
            if b["address"] == backend:
                return b["flows"]
        return 0

    def setup(self):
        config = {
            "node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
            "fleet": {"disagree_after_ms": DISAGREE_AFTER_MS},
            "dataplanes": [{"name": f"dp{i}", "socket": self.dp_socks[i]} for i in range(2)],
            "vips": [
                # SYN-only flows expire after 300 ms: the same 5-tuples sent
                # again are new flows, picked by the table then in force.
                {"address": VIP_A, "port": PORT, "protocol": "tcp",
                 "timeouts": {"tcp_syn_ms": 300},
                 "backends": [{"address": a} for a in BACKENDS_A]},
                {"address": VIP_D, "port": PORT, "protocol": "tcp",
                 "timeouts": {"tcp_syn_ms": 300, "tcp_established_ms": DRAIN_IDLE_MS},
                 "backends": [{"address": a} for a in BACKENDS_D]},
            ]}
        with open(self.config, "w") as f:
            json.dump(config, f)
        if XDP:
            os.makedirs(BPFFS, exist_ok=True)
            subprocess.run(["mount", "-t", "bpf", "bpf", BPFFS], check=True)
            self.bpffs_mounted = True
        for i in range(2):
            self.start_dp(i)
        self.start("cp", [self.args.cp, "--config", self.config, "--socket", self.cp_sock])
        wait_for("edgelb-cp", lambda: "result" in rpc.request(self.cp_sock, "vip.list"), 10)
        wait_for("both dataplanes agree", lambda: self.all_agree(VIP_A), 10)
        self.sub = Subscription(self.cp_sock, 3600000)
        self.wire = Wire(0)

    def teardown(self):
        if self.wire is not None:
            self.wire.close()
        self.stop_all()
        if self.bpffs_mounted:
            subprocess.run(["umount", BPFFS], stderr=subprocess.DEVNULL)
            os.rmdir(BPFFS)

    # ---- preview vs measurement -------------------------------------------------

    def measure_moves(self, change, params):
        """Preview `change`, note where FLOWS new flows go, apply it, send the
        same flows again once they expired: (predicted, measured, n)."""
        pv = rpc.request(self.cp_sock, "backend.preview", dict(params, change=change))["result"]
        flows = range(FLOWS)
        self.wire.send(VIP_A, flows, 0x02)
        before = self.wire.backends(VIP_A, 1.0)
        r = rpc.request(self.cp_sock, f"backend.{change}", params)["result"]
        wait_for("the change on both dataplanes",
                 lambda: self.all_agree(VIP_A, r["generation"]), 10)
        time.sleep(0.5)  # the SYN-only flows expire (300 ms)
        self.wire.send(VIP_A, flows, 0x02)
        after = self.wire.backends(VIP_A, 1.0)
        common = [k for k in before if k in after]
        moved = sum(before[k] != after[k] for k in common)
        return pv, moved / max(len(common), 1), len(common)

    def run_preview(self):
        # Established flows on every backend, kept (default 300 s): those on the
        # backend removed below are the ones the preview must call re-picked.
        est = range(FLOWS, FLOWS + ESTABLISHED)
        self.wire.send(VIP_A, est, 0x02)
        self.wire.send(VIP_A, est, 0x10)
        est_seen = self.wire.backends(VIP_A, 1.0)

        for change, backend in (("add", ADDED_A), ("remove", BACKENDS_A[1])):
            params = self.vip_params(VIP_A, backend=backend)
            if change == "remove":
                on_leaving = sum(1 for b in est_seen.values() if b == backend)
                # The preview's flow counts come from the dataplanes' last
                # vip.tables poll (every second).
                wait_for("dp0 counts the established flows",
                         lambda: self.dp_flows(0, VIP_A, backend) == on_leaving, 5)
                time.sleep(1.2)
            pv, measured, n = self.measure_moves(change, params)
            predicted = pv["moved_fraction"]
            sigma = math.sqrt(max(predicted * (1 - predicted), 1e-4) / max(n, 1))
            self.check(n >= FLOWS * 0.9, f"{change}: {n} of {FLOWS} flows captured both times")
            self.check(abs(measured - predicted) <= 4 * sigma + 0.002,
                       f"{change} {backend}: predicted {predicted:.4f} of new flows move, "
                       f"measured {measured:.4f} over {n} flows (4 sigma = {4 * sigma:.4f})")
            self.figure(f"preview {change} {backend} (M={pv['maglev_size']}): predicted "
                        f"{100 * predicted:.2f}%, measured {100 * measured:.2f}% of {n} flows")
            if change == "remove":
                self.check(pv["flows_repicked"] == on_leaving and pv["flows_known"],
                           f"remove: preview says {pv['flows_repicked']} established flows "
                           f"re-picked, {on_leaving} were captured going to {backend}")
                self.figure(f"preview remove: {pv['flows_repicked']} flows re-picked predicted, "
                            f"{on_leaving} on the backend")
            else:
                self.check("warning" not in pv, "no small-table warning for M=65537, N=5")
        small = rpc.request(self.cp_sock, "backend.preview",
                    self.vip_params(VIP_A, backend="10.10.0.9", change="add"))["result"]
        self.check(small["moved_fraction"] > 0 and "warning" not in small,
                   "a second preview is read-only (nothing applied)")
        out = self.ctl("backend", "add", f"{VIP_A}:{PORT}/tcp", "10.10.0.9", "--dry-run")
        self.check(out.returncode == 0 and "would go elsewhere" in out.stdout and
                   "10.10.0.9" in out.stdout, "edgelbctl backend add --dry-run prints the preview")
        cfg = rpc.request(self.cp_sock, "config.get")["result"]["config"]["vips"][0]["backends"]
        self.check("10.10.0.9" not in [b["address"] for b in cfg], "--dry-run applied nothing")

    # ---- explain a flow ---------------------------------------------------------

    def explain(self, n):
        """`edgelbctl --json explain` of flow n to VIP_A through edgelb-cp:
        (exit status, {dataplane name: explanation})."""
        src, sport = flow_src(n)
        out = self.ctl("--json", "explain", f"{src}:{sport}", f"{VIP_A}:{PORT}", "tcp",
                       "--flags", "A")
        answers = {}
        for line in out.stdout.splitlines():
            r = json.loads(line)
            answers[r["dataplane"]] = r
        return out.returncode, answers

    def run_explain(self):
        """Before a flow exists both dataplanes name the backend its first
        packet will reach; after it, dp0 (which saw it) finds its entry."""
        flows = range(5000, 5000 + EXPLAIN_FLOWS)
        predicted, agree = {}, 0
        for n in flows:
            rc, a = self.explain(n)
            ok = rc == 0 and set(a) == {"dp0", "dp1"} and all(
                r["flow"]["decision"] == "miss" and r["verdict"] == "forward" and r["consistent"]
                for r in a.values())
            agree += ok
            if ok:
                predicted[flow_src(n)] = a["dp0"]["backend"]["address"]
        self.check(agree == EXPLAIN_FLOWS, f"explain before: {agree} of {EXPLAIN_FLOWS} flows, "
                   "both dataplanes answer miss -> the same backend (exit 0)")
        self.wire.send(VIP_A, flows, 0x02)
        self.wire.send(VIP_A, flows, 0x10)
        seen = self.wire.backends(VIP_A, 1.0)
        right = sum(1 for k, b in predicted.items() if seen.get(k) == b)
        self.check(right == EXPLAIN_FLOWS, f"explain before: {right} of {EXPLAIN_FLOWS} flows "
                   "captured going to the backend explained")
        hits = 0
        for n in flows:
            rc, a = self.explain(n)
            dp0, dp1 = a.get("dp0", {}), a.get("dp1", {})
            hits += (rc == 0 and dp0.get("flow", {}).get("decision") == "hit" and
                     dp0["flow"]["state"] == "tcp_established" and
                     dp0["backend"]["address"] == seen.get(flow_src(n)) and
                     dp1.get("flow", {}).get("decision") == "miss" and
                     dp1["backend"]["address"] == dp0["backend"]["address"])
        self.check(hits == EXPLAIN_FLOWS, f"explain after: {hits} of {EXPLAIN_FLOWS} flows found "
                   "established in dp0 on their backend, dp1 (never saw them) picks the same")
        text = self.ctl("explain", f"{flow_src(5000)[0]}:{flow_src(5000)[1]}", f"{VIP_A}:{PORT}", "tcp")
        self.check(text.returncode == 0 and "every dataplane decides the same" in text.stdout and
                   "hit: entry on worker" in text.stdout,
                   "edgelbctl explain prints both dataplanes' steps")
        self.figure(f"explain: {agree}/{EXPLAIN_FLOWS} predicted by both dataplanes before the "
                    f"first packet, {right}/{EXPLAIN_FLOWS} captured there, {hits}/{EXPLAIN_FLOWS} "
                    "found established afterwards")

    # ---- fleet agreement --------------------------------------------------------

    def run_fleet(self):
        kind = rpc.request(self.dp_socks[1], "ping")["result"]["dataplane"]
        # Flows through dp1 too: its own vip.tables counts them.
        wire1 = Wire(1)
        flows1 = range(5 * FLOWS, 5 * FLOWS + 100)
        wire1.send(VIP_A, flows1, 0x02)
        wire1.send(VIP_A, flows1, 0x10)
        got1 = wire1.backends(VIP_A, 1.0)
        wire1.close()
        t1 = rpc.request(self.dp_socks[1], "vip.tables", self.vip_params(VIP_A))["result"]
        self.check(t1["flows_counted"] and t1["vips"][0]["flows"] == len(got1) == 100,
                   f"dp1 ({kind}) counts its {len(got1)} forwarded flows: "
                   f"{t1['vips'][0]['flows']}")
        self.check(self.all_agree(VIP_A),
                   f"dp0 (dpdk) and dp1 ({kind}) report the same digest for the same set")
        self.figure(f"fleet: dp1 is {kind}; its digest equals dp0's (dpdk)")
        self.sub.events.clear()
        before = rpc.request(self.cp_sock, "fleet.get")["result"]["disagreements"]
        # Someone changes dp1 behind edgelb-cp's back.
        t0 = time.monotonic()
        r = rpc.request(self.dp_socks[1], "backends.set",
                self.vip_params(VIP_A, backends=[{"address": BACKENDS_A[0]}]))
        self.check(r.get("result", {}).get("changed") is True, "dp1 given another backend set")
        wait_for("edgelb-cp sees the difference",
                 lambda: not self.fleet_vip(VIP_A)["agree"], 3)
        seen = time.monotonic() - t0
        v = self.fleet_vip(VIP_A)
        dp1 = [d for d in v["dataplanes"] if d["name"] == "dp1"][0]
        dp0 = [d for d in v["dataplanes"] if d["name"] == "dp0"][0]
        self.check(dp1["agree"] is False and dp0["agree"] is True and
                   dp1["digest"] != v["expected_digest"] and not v["alarm"],
                   f"fleet.get: dp1 differs ({dp1['digest']} vs {v['expected_digest']}), "
                   "no alarm yet")
        e, _ = self.sub.wait_event(lambda e: e["type"] == "fleet_disagree", 6)
        t_alarm = time.monotonic() - t0
        self.check(e is not None and e.get("dataplanes") == ["dp1"] and
                   DISAGREE_AFTER_MS / 1000 <= t_alarm <= DISAGREE_AFTER_MS / 1000 + 1.5,
                   f"fleet_disagree naming dp1 {t_alarm:.2f} s after the change "
                   f"(disagree_after_ms {DISAGREE_AFTER_MS}): {e}")
        e2, _ = self.sub.wait_event(lambda e: e["type"] == "fleet_agree", 5)
        t_agree = time.monotonic() - t0
        self.check(e2 is not None, f"fleet_agree {t_agree:.2f} s after the change (re-pushed)")
        backends = sorted(b["address"] for b in rpc.request(self.dp_socks[1], "config.get")
                          ["result"]["config"]["vips"][0]["backends"])
        want = sorted(b["address"] for b in rpc.request(self.cp_sock, "config.get")
                      ["result"]["pushed"]["vips"][0]["backends"])
        self.check(backends == want, f"dp1 has the desired set again ({backends})")
        after = rpc.request(self.cp_sock, "fleet.get")["result"]["disagreements"]
        self.check(after == before + 1, f"disagreements counter {before} -> {after}")
        out = self.ctl("fleet")
        self.check(out.returncode == 0 and "dp1" in out.stdout and "all agree" in out.stdout,
                   "edgelbctl fleet prints the table")
        self.figure(f"fleet: difference seen {seen:.2f} s, fleet_disagree {t_alarm:.2f} s, "
                    f"fleet_agree {t_agree:.2f} s after dp1 was changed directly "
                    f"(disagree_after_ms {DISAGREE_AFTER_MS})")

    # ---- a stream of changes -----------------------------------------------------

    def run_stream(self):
        backend = BACKENDS_A[0]
        seconds = 2 * DISAGREE_AFTER_MS / 1000 + 1
        self.sub.events.clear()
        changes, oldest_report_ms = 0, 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r = rpc.request(self.cp_sock, "backend.weight",
                            self.vip_params(VIP_A, backend=backend, weight=2 + changes % 2))
            self.check("result" in r, f"change {changes} answered: {r}")
            changes += 1
            for d in self.fleet_vip(VIP_A)["dataplanes"]:
                oldest_report_ms = max(oldest_report_ms, d.get("report_age_ms", 0))
            # Read the events as they come: an alarm is seen, and edgelb-cp
            # does not drop a subscriber that stops reading.
            self.sub.pump(0.001)
        self.sub.pump(0.2)
        alarms = [e for e in self.sub.events if e["type"] == "fleet_disagree"]
        self.check(changes >= 20 and not alarms,
                   f"no fleet_disagree during {changes} changes over {seconds:.1f} s "
                   f"(disagree_after_ms {DISAGREE_AFTER_MS}): {alarms}")
        self.check(oldest_report_ms < 3000,
                   f"the polls went on: oldest report {oldest_report_ms} ms old (polled every "
                   "second, not while a push is in flight)")
        r = rpc.request(self.cp_sock, "backend.weight",
                        self.vip_params(VIP_A, backend=backend, weight=1))["result"]
        took = wait_for("both dataplanes agree after the stream",
                        lambda: self.all_agree(VIP_A, r["generation"]), 10)
        self.figure(f"fleet: {changes} changes in {seconds:.1f} s, no alarm, oldest report "
                    f"{oldest_report_ms} ms; both agree {took:.2f} s after the last")

    # ---- drains -----------------------------------------------------------------

    @contextlib.contextmanager
    def kept_alive(self, vip, flows):
        """An ACK on each of `flows` every 0.4 s while the block runs."""
        stop = threading.Event()

        def keepalive():
            while not stop.is_set():
                self.wire.send(vip, flows, 0x10)
                stop.wait(0.4)
        th = threading.Thread(target=keepalive)
        th.start()
        try:
            yield
        finally:
            stop.set()
            th.join()

    def run_drain(self):
        vip_text = f"{VIP_D}:{PORT}/tcp"
        flows = range(3 * FLOWS, 3 * FLOWS + 200)
        self.wire.send(VIP_D, flows, 0x02)
        self.wire.send(VIP_D, flows, 0x10)
        seen = self.wire.backends(VIP_D, 1.0)
        count = {b: sum(1 for x in seen.values() if x == b) for b in BACKENDS_D}
        target = max(BACKENDS_D, key=lambda b: count[b])
        wait_for("dp0 counts the flows", lambda: self.dp_flows(0, VIP_D, target) == count[target],
                 5)
        # 1. flows that end: --wait returns once they expired (DRAIN_IDLE_MS idle).
        t0 = time.monotonic()
        out = self.ctl("backend", "drain", vip_text, target, "--wait", "--timeout", "30")
        took = time.monotonic() - t0
        self.check(out.returncode == 0 and "flows_gone" in out.stdout,
                   f"drain --wait of {target} ({count[target]} flows): exit "
                   f"{out.returncode}, {out.stdout.strip()!r} {out.stderr.strip()!r}")
        self.check(DRAIN_IDLE_MS / 1000 - 1.2 <= took <= DRAIN_IDLE_MS / 1000 + 3,
                   f"drain --wait returned {took:.2f} s after it began (flows idle out after "
                   f"{DRAIN_IDLE_MS} ms)")
        h = rpc.request(self.cp_sock, "vip.get", self.vip_params(VIP_D))["result"]["health"]
        b = [x for x in h["backend_health"] if x["address"] == target][0]
        self.check(b["drain_state"] == "drained" and b["drain_reason"] == "flows_gone" and
                   b["active_flows"] == 0, f"vip.get shows the drain: {b['drain_state']}, "
                   f"{b.get('drain_reason')}, {b['active_flows']} flows")
        self.figure(f"drain --wait: {count[target]} flows, idle timeout {DRAIN_IDLE_MS} ms, "
                    f"returned after {took:.2f} s")

        # 2. flows kept alive outlast --timeout: exit 4, reason timeout.
        others = [x for x in BACKENDS_D if x != target]
        keep = max(others, key=lambda x: count[x])
        keep_flows = [n for n in flows if seen.get(flow_src(n)) == keep]
        with self.kept_alive(VIP_D, keep_flows):
            time.sleep(1.5)
            self.sub.events.clear()
            t0 = time.monotonic()
            out = self.ctl("backend", "drain", vip_text, keep, "--wait", "--timeout", "2")
            took = time.monotonic() - t0
        e, _ = self.sub.wait_event(lambda e: e["type"] == "drain_complete" and
                                   e["backend"] == keep, 2)
        self.check(out.returncode == 4 and "timeout" in out.stdout and 1.8 <= took <= 4,
                   f"drain --wait --timeout 2 with {len(keep_flows)} live flows: exit "
                   f"{out.returncode} after {took:.2f} s: {out.stdout.strip()!r}")
        self.check(e is not None and e["reason"] == "timeout" and e["flows_left"] > 0,
                   f"drain_complete event: {e}")
        self.figure(f"drain --wait --timeout 2 with {len(keep_flows)} flows kept alive: "
                    f"exit 4 after {took:.2f} s")

        # 3. --remove: drained, then removed from the configuration.
        third = [x for x in others if x != keep][0]
        t0 = time.monotonic()
        out = self.ctl("backend", "drain", vip_text, third, "--wait", "--remove",
                       "--timeout", "30")
        took = time.monotonic() - t0
        wait_for("the drained backend removed", lambda: third not in [
            x["address"] for x in rpc.request(self.cp_sock, "vip.get", self.vip_params(VIP_D))
            ["result"]["config"]["backends"]], 5)
        self.check(out.returncode == 0 and "removed" in out.stdout,
                   f"drain --wait --remove of {third} ({count[third]} flows, left to idle "
                   f"out): exit {out.returncode} after {took:.2f} s, removed: "
                   f"{out.stdout.strip()!r}")
        self.check(third not in (
            [x["address"] for x in rpc.request(self.dp_socks[0], "config.get")["result"]["config"]
             ["vips"][1]["backends"]]), "the removal reached the dataplane")

        # 4. A drain survives a restart of edgelb-cp: same start, timeout, removal.
        fourth = [x for x in others if x not in (keep, third)][0]
        live = range(4 * FLOWS, 4 * FLOWS + 40)  # the only active backend gets them all
        self.wire.send(VIP_D, live, 0x02)
        with self.kept_alive(VIP_D, live):
            time.sleep(0.5)
            out = self.ctl("backend", "drain", vip_text, fourth, "--timeout", "60", "--remove")
            self.check(out.returncode == 0, f"drain of {fourth} with --timeout 60 --remove: "
                       f"{out.stdout.strip()!r} {out.stderr.strip()!r}")
            time.sleep(2.0)
            self.stop("cp", signal.SIGKILL)
            self.start("cp", [self.args.cp, "--config", self.config, "--socket", self.cp_sock])
            wait_for("edgelb-cp back", lambda: "result" in rpc.request(self.cp_sock, "vip.list"), 10)
            h = rpc.request(self.cp_sock, "vip.get", self.vip_params(VIP_D))["result"]["health"]
            b = [x for x in h["backend_health"] if x["address"] == fourth][0]
            self.check(b["drain_state"] == "draining" and b["draining_for_ms"] >= 2000 and
                       50000 <= b["drain_timeout_in_ms"] <= 58000,
                       f"after kill -9 and restart of edgelb-cp the drain goes on: "
                       f"{b['drain_state']}, draining for {b.get('draining_for_ms')} ms, "
                       f"timeout in {b.get('drain_timeout_in_ms')} ms (60 s from its start)")
        t0 = time.monotonic()
        gone = wait_for("the drained backend removed after the restart", lambda: fourth not in [
            x["address"] for x in rpc.request(self.cp_sock, "vip.get", self.vip_params(VIP_D))
            ["result"]["config"]["backends"]], DRAIN_IDLE_MS / 1000 + 5)
        took = time.monotonic() - t0
        cfg = rpc.request(self.cp_sock, "config.get")["result"]["config"]
        left = [d for d in cfg.get("drains", []) if d["backend"] == fourth]
        self.check(gone is not False and not left and len(cfg.get("drains", [])) == 2,
                   f"--remove kept across the restart: {fourth} removed {took:.2f} s after its "
                   f"flows stopped, its drain record gone, the two drained backends' kept "
                   f"({cfg.get('drains')})")
        self.figure(f"drain across a kill -9 of edgelb-cp: resumed with its start and 60 s "
                    f"timeout, --remove done {took:.2f} s after the flows stopped")


def setup_netns():
    veth_pairs(2)


env = env_fixture(Env, setup_netns)


def test_preview_against_measured_moves(env):
    with env.checker.scope():
        env.run_preview()


def test_no_disagreement_while_cp_pushes(env):
    assert not any(e["type"] == "fleet_disagree" for e in env.sub.events), \
        "no fleet_disagree while edgelb-cp pushed two changes"


def test_explain_through_cp(env):
    with env.checker.scope():
        env.run_explain()


def test_fleet_agreement(env):
    with env.checker.scope():
        env.run_fleet()


def test_change_stream(env):
    with env.checker.scope():
        env.run_stream()


def test_drains(env):
    with env.checker.scope():
        env.run_drain()


test_cp_exits_cleanly = cp_exits_cleanly
