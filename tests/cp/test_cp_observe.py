# SPDX-License-Identifier: BSD-3-Clause
"""What an operator watches, with real traffic: edgelb-cp managing two
edgelb-dp processes (net_af_packet on veths of a network namespace of its
own), each fed hand-built frames through the veth's other end.

Checks:
  - counters.get sums the two dataplanes' VIP and per-backend counters
    exactly (against each dataplane's own counters.get), and the VIP's rx
    equals the frames sent;
  - availability = forwarded / (rx - rate_limited), the error budget left
    and the rates, from those counters;
  - `subscribe` streams snapshots with the same figures, and events:
    dataplane_lost within a second of a kill -9, dataplane_connected and
    dataplane_updated (the state pushed again) after its restart;
  - --metrics: the Prometheus page carries the same numbers;
  - edgelbctl stats / slo / events print them;
  - the operator socket's access lists: a read-only uid reads but may not
    change anything, an unlisted uid is refused, both with a clear message;
  - IPv6 health checks (TCP and HTTP): the live v6 backends are pushed, the
    dead one is not.
Root only (skipped otherwise). Run by pytest (--dp, --cp, --ctl): one
fixture sets it up, one test per part, in order.
"""
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from edgelb_testlib import rpc
from edgelb_testlib.frames import tcp4_frame
from edgelb_testlib.netns import ip, mac_of, veth_pairs
from edgelb_testlib.proc import wait_for
from edgelb_testlib.rpc import Subscription
from cplib import Harness, cp_exits_cleanly, env_fixture

VIP4 = "198.51.100.1"
VIP6 = "2001:db8:100::1"
BACKENDS4 = ["192.0.2.21", "192.0.2.22", "192.0.2.23"]
LIVE6, DEAD6 = "2001:db8:2::21", "2001:db8:2::22"
CLIENT_NET = "203.0.113."
RATE_PPS, RATE_BURST = 50, 10
VIP_MTU = 1400
FLOWS, PACKETS_PER_FLOW, FLOOD, OVERSIZED = 40, 10, 200, 5
METRICS = "127.0.0.1:19911"
NOBODY = pwd.getpwnam("nobody")
STRANGER_UID = 65533






def metrics_page():
    with urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def metric(page, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    for line in page.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    raise KeyError(prefix)


class Env(Harness):
    """edgelb-cp managing two edgelb-dp on veths, in this namespace."""

    def __init__(self, args, work):
        super().__init__(args, work)
        self.dp_socks = [os.path.join(work, f"dp{i}.sock") for i in range(2)]
        self.tcp6 = self.sub = None

    def start_dp(self, i):
        self.start(f"dp{i}", [self.args.dp, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci",
                              "--file-prefix", f"cpo{os.getpid()}_{i}", "--log-level=error",
                              "--vdev", f"net_af_packet{i},iface=lb{i}", "--",
                              "--socket", self.dp_socks[i], "--kernel-iface", "none",
                              "--flows", "65536"])
        wait_for(f"dataplane {i}", lambda: rpc.request(self.dp_socks[i], "ping")["result"], 30)

    def ctl(self, *argv, user=None):
        def drop():
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        return subprocess.run([self.args.ctl, "--socket", self.cp_sock, *argv],
                              capture_output=True, text=True, timeout=20,
                              preexec_fn=drop if user else None)

    def pushed(self, i, vip_addr):
        for v in rpc.request(self.dp_socks[i], "config.get")["result"]["config"]["vips"]:
            if v["address"] == vip_addr:
                return sorted(b["address"] for b in v["backends"])
        return None

    def send_traffic(self, i):
        """FLOWS flows of PACKETS_PER_FLOW, one flow flooding FLOOD packets
        far above its rate, OVERSIZED DF packets above the VIP's MTU."""
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((f"peer{i}", 0))
        dst, src = mac_of(f"lb{i}"), mac_of(f"peer{i}")
        sent = 0
        for f in range(FLOWS):
            for p in range(PACKETS_PER_FLOW):
                flags = 0x02 if p == 0 else 0x10
                s.send(tcp4_frame(dst, src, CLIENT_NET + str(10 + i), VIP4, 20000 + f, 8080,
                                 flags, 32))
                sent += 1
            time.sleep(0.002)
        for p in range(FLOOD):
            s.send(tcp4_frame(dst, src, CLIENT_NET + str(100 + i), VIP4, 40000, 8080, 0x10, 64))
            sent += 1
            if p % 25 == 24:
                time.sleep(0.002)  # far above the flow's rate, within the rings
        for p in range(OVERSIZED):  # new flows each: under no rate limit yet
            s.send(tcp4_frame(dst, src, CLIENT_NET + str(10 + i), VIP4, 30000 + p, 8080, 0x10, 1440,
                             df=True))
            sent += 1
        s.close()
        return sent

    def dp_vip(self, i):
        for v in rpc.request(self.dp_socks[i], "counters.get")["result"]["counters"]["vips"]:
            if v["vip"] == f"{VIP4}:8080/tcp":
                return v
        raise KeyError(VIP4)

    def cp_vip(self):
        for v in rpc.request(self.cp_sock, "counters.get")["result"]["vips"]:
            if v["vip"] == f"{VIP4}:8080/tcp":
                return v
        raise KeyError(VIP4)

    def setup(self):
        os.chmod(self.work, 0o755)  # other uids reach the socket
        os.makedirs(os.path.join(self.work, "www"))
        with open(os.path.join(self.work, "www", "healthz"), "w") as f:
            f.write("ok\n")
        config = {
            "node": {"source_v4": "192.0.2.10", "source_v6": "2001:db8:ffff::10",
                     "gateway_mac": "02:00:00:00:00:01"},
            # The file lets group nogroup connect; the credentials decide the rest.
            "operator": {"socket_mode": "0660", "socket_group": "nogroup",
                         "read": {"users": ["nobody"]}},
            "dataplanes": [{"name": f"dp{i}", "socket": self.dp_socks[i]} for i in range(2)],
            "vips": [
                {"address": VIP4, "port": 8080, "protocol": "tcp", "mtu": VIP_MTU,
                 "rate_limit": {"packets_per_s": RATE_PPS, "packet_burst": RATE_BURST},
                 "backends": [{"address": a} for a in BACKENDS4],
                 "slo": {"availability": 0.99}},
                {"address": VIP6, "port": 8080, "protocol": "tcp",
                 "backends": [{"address": LIVE6}, {"address": DEAD6}],
                 "health_check": {"type": "http", "path": "/healthz", "interval_ms": 200,
                                  "timeout_ms": 150, "rise": 1, "fall": 1}},
                {"address": VIP6, "port": 9000, "protocol": "tcp",
                 "backends": [{"address": LIVE6}, {"address": DEAD6}],
                 "health_check": {"type": "tcp", "interval_ms": 200, "timeout_ms": 150,
                                  "rise": 1, "fall": 1}},
            ]}
        with open(self.config, "w") as f:
            json.dump(config, f)
        self.tcp6 = socket.socket(socket.AF_INET6)
        self.tcp6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp6.bind((LIVE6, 9000))
        self.tcp6.listen(64)
        self.start("http6", [sys.executable, "-m", "http.server", "8080", "--bind", LIVE6,
                             "--directory", os.path.join(self.work, "www")])
        for i in range(2):
            self.start_dp(i)
        self.start("cp", [self.args.cp, "--config", self.config, "--socket", self.cp_sock,
                          "--metrics", METRICS])
        wait_for("edgelb-cp", lambda: "result" in rpc.request(self.cp_sock, "vip.list"), 10)
        self.sub = Subscription(self.cp_sock, 200)
        wait_for("the VIP on both dataplanes",
                 lambda: all(self.pushed(i, VIP4) == sorted(BACKENDS4) for i in range(2)), 10)

    def teardown(self):
        if self.tcp6 is not None:
            self.tcp6.close()
        self.stop_all()

    def run_ipv6_checks(self):
        for i in range(2):
            wait_for("v6 checks decided", lambda: self.pushed(i, VIP6) == [LIVE6], 5)
        def states(port):
            health = rpc.request(self.cp_sock, "vip.get", {"address": VIP6, "port": port,
                                                   "protocol": "tcp"})["result"]["health"]
            return {b["address"]: b["health"] for b in health["backend_health"]}
        for port in (8080, 9000):
            try:
                wait_for("v6 checks", lambda: states(port) == {LIVE6: "up", DEAD6: "down"}, 5)
            except AssertionError:
                pass
            self.check(states(port) == {LIVE6: "up", DEAD6: "down"},
                       f"IPv6 {'HTTP' if port == 8080 else 'TCP'} check: live v6 backend up, "
                       f"dead one down ({states(port)})")
        self.check(all(self.pushed(i, VIP6) == [LIVE6] for i in range(2)),
                   "both dataplanes have only the live v6 backend")

    def run_counters(self, sub):
        sent = [self.send_traffic(i) for i in range(2)]
        # Each dataplane's own counters, once they stop moving.
        wait_for("the dataplanes counted every frame",
                 lambda: [self.dp_vip(i)["rx"]["packets"] for i in range(2)] == sent, 10)
        dps = [self.dp_vip(i) for i in range(2)]
        want = {
            "rx": sum(d["rx"]["packets"] for d in dps),
            "forwarded": sum(d["forwarded"]["packets"] for d in dps),
            "forwarded_bytes": sum(d["forwarded"]["bytes"] for d in dps),
            "new_flows": sum(d["new_flows"] for d in dps),
            "rate_limited": sum(d["drops"]["rate_limited"] for d in dps),
            "rate_limited_flows": sum(d["rate_limited_flows"] for d in dps),
            "too_big": sum(d["too_big_replies"] for d in dps),
        }
        self.check(want["rx"] == sum(sent), f"dataplanes counted {want['rx']} of {sum(sent)} "
                   "frames sent")
        self.check(want["rate_limited_flows"] == 2,
                   f"one flow over its limit per dataplane: rate_limited_flows "
                   f"{want['rate_limited_flows']}")
        self.check(want["rate_limited"] > 0 and want["too_big"] == 2 * OVERSIZED,
                   f"the flood was rate limited ({want['rate_limited']} drops) and the "
                   f"{2 * OVERSIZED} oversized DF packets got too-big replies")

        # edgelb-cp polls counters every second: wait for its sum to match.
        def cp_matches():
            v = self.cp_vip()
            return (v["rx"]["packets"] == want["rx"] and
                    v["forwarded"]["packets"] == want["forwarded"])
        wait_for("edgelb-cp's sums", cp_matches, 5)
        v = self.cp_vip()
        got = {"rx": v["rx"]["packets"], "forwarded": v["forwarded"]["packets"],
               "forwarded_bytes": v["forwarded"]["bytes"], "new_flows": v["new_flows"],
               "rate_limited": v["drops"]["rate_limited"], "too_big": v["too_big_replies"],
               "rate_limited_flows": v["rate_limited_flows"]}
        self.check(got == want, f"counters.get sums both dataplanes exactly: {got}")
        per_backend = {b["address"]: b["forwarded"]["packets"] for b in v["backend_counters"]}
        dp_per_backend = {}
        for d in dps:
            for b in d["backends"]:
                dp_per_backend[b["address"]] = (dp_per_backend.get(b["address"], 0) +
                                                b["forwarded"]["packets"])
        self.check(per_backend == dp_per_backend and
                   sum(per_backend.values()) == want["forwarded"],
                   f"per-backend sums match the dataplanes' ({per_backend})")
        availability = want["forwarded"] / (want["rx"] - want["rate_limited"])
        slo = v["slo"]
        self.check(abs(slo["availability"]["1m"] - availability) < 1e-9 and
                   abs(slo["availability"]["1h"] - availability) < 1e-9,
                   f"availability = forwarded / (rx - rate_limited) = {availability:.6f}")
        budget = 1 - (1 - availability) / (1 - 0.99)
        self.check(abs(slo["error_budget_left"]["1m"] - budget) < 1e-9,
                   f"error budget left {budget:.4f} of a 99% objective")
        self.check(slo["meets_objective"]["1m"] == (availability >= 0.99),
                   "meets_objective follows the objective")

        # The stream carries the same figures.
        sub.pump(0.5)
        last = next(s for s in reversed(sub.snapshots)
                    for x in s["vips"] if x["vip"] == f"{VIP4}:8080/tcp")
        sv = next(x for x in last["vips"] if x["vip"] == f"{VIP4}:8080/tcp")
        self.check(sv["rx"]["packets"] == want["rx"] and
                   sv["drops"]["rate_limited"] == want["rate_limited"] and
                   len(sub.snapshots) >= 3,
                   f"subscription snapshots carry the sums ({len(sub.snapshots)} received)")
        times = [s["time_ms"] for s in sub.snapshots[-4:]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.check(all(100 <= g <= 1000 for g in gaps), f"snapshots every ~200 ms ({gaps})")

        page = metrics_page()
        labels = {"vip": f"{VIP4}:8080/tcp"}
        self.check(metric(page, "edgelb_vip_rx_packets_total", **labels) == want["rx"] and
                   metric(page, "edgelb_vip_forwarded_bytes_total", **labels) ==
                   want["forwarded_bytes"] and
                   metric(page, "edgelb_vip_drops_total", **labels, reason="rate_limited") ==
                   want["rate_limited"] and
                   metric(page, "edgelb_vip_rate_limited_flows_total", **labels) == 2 and
                   abs(metric(page, "edgelb_vip_availability", **labels, window="1m") -
                       availability) < 1e-9 and
                   sum(metric(page, "edgelb_backend_forwarded_packets_total", **labels,
                              backend=b) for b in BACKENDS4) == want["forwarded"],
                   "the Prometheus page has the same figures")
        self.check(metric(page, "edgelb_dataplane_connected", dataplane="dp0",
                          in_sync="true") == 1, "metrics: dp0 connected and in sync")
        try:
            urllib.request.urlopen(f"http://{METRICS}/other", timeout=5)
            self.check(False, "metrics: other paths are 404")
        except urllib.error.HTTPError as e:
            self.check(e.code == 404, f"metrics: other paths are {e.code}")

        r = self.ctl("stats", "--interval", "200")
        self.check(r.returncode == 0 and f"{VIP4}:8080/tcp" in r.stdout and
                   all(b in r.stdout for b in BACKENDS4),
                   "edgelbctl stats prints the VIP and its backends")
        r = self.ctl("slo")
        self.check(r.returncode == 0 and f"{availability * 100:.4f}%" in r.stdout,
                   "edgelbctl slo prints the availability")
        print(r.stdout, end="")

    def run_vip_preview(self):
        """A whole proposed backend list, previewed: nothing applied."""
        before = rpc.request(self.cp_sock, "config.get")["result"]
        vip = {"address": VIP4, "port": 8080, "protocol": "tcp"}
        r = rpc.request(self.cp_sock, "vip.preview",
                dict(vip, backends=[{"address": a} for a in BACKENDS4[:2]]))["result"]
        leaving = [b["address"] for b in r["backends"] if b["leaves"]]
        # Maglev moves the leaver's slots (a third) and a few more at most.
        self.check(leaving == [BACKENDS4[2]] and 0.30 <= r["moved_fraction"] <= 0.36,
                   f"vip.preview of a backend list: {leaving} leave, "
                   f"{r['moved_fraction']:.4f} of the slots move")
        self.check(rpc.request(self.cp_sock, "config.get")["result"] == before,
                   "vip.preview applied nothing (config and generation unchanged)")
        bad = rpc.request(self.cp_sock, "vip.preview",
                  dict(vip, backends=[{"address": BACKENDS4[0]}, {"address": BACKENDS4[0]}]))
        self.check(bad.get("error", {}).get("code") == -32602 and
                   "backends" in bad["error"].get("data", {}).get("field", ""),
                   f"an invalid proposal is refused naming the field: {bad.get('error')}")

    def run_events(self, sub):
        ctl_events = subprocess.Popen([self.args.ctl, "--socket", self.cp_sock, "--json",
                                       "events", "--count", "2"],
                                      stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        sub.events.clear()
        self.stop("dp1", signal.SIGKILL)
        e, t = sub.wait_event(lambda e: e["type"] == "dataplane_lost" and
                              e["dataplane"] == "dp1", 3)
        self.check(e is not None and t < 1.5, f"dataplane_lost event {t:.2f} s after kill -9")
        self.start_dp(1)
        e, t = sub.wait_event(lambda e: e["type"] == "dataplane_updated" and
                              e["dataplane"] == "dp1", 5)
        self.check(e is not None and any(x["type"] == "dataplane_connected"
                                         for x in sub.events),
                   f"dataplane_connected, then dataplane_updated (state back) {t:.2f} s after "
                   "the restart answered")
        self.check(self.pushed(1, VIP4) == sorted(BACKENDS4), "restarted dataplane has the VIP")
        try:
            out, _ = ctl_events.communicate(timeout=5)
            lines = [json.loads(l) for l in out.splitlines()]
        except subprocess.TimeoutExpired:
            ctl_events.kill()
            lines = []
        self.check(len(lines) == 2 and lines[0]["type"] == "dataplane_lost",
                   f"edgelbctl --json events printed {[l.get('type') for l in lines]}")

    def run_access(self):
        nobody = (NOBODY.pw_uid, NOBODY.pw_gid)
        r = self.ctl("vip", "list", user=nobody)
        self.check(r.returncode == 0 and VIP4 in r.stdout, "read-only uid (nobody) lists VIPs")
        r = self.ctl("backend", "drain", f"{VIP4}:8080/tcp", BACKENDS4[0], user=nobody)
        self.check(r.returncode == 1 and "permission denied" in r.stderr and
                   "backend.drain" in r.stderr,
                   f"read-only uid may not drain: {r.stderr.strip()}")
        # Through the file's group, but not in the access lists.
        r = self.ctl("vip", "list", user=(STRANGER_UID, NOBODY.pw_gid))
        self.check(r.returncode == 1 and "may not use this socket" in r.stderr,
                   f"unlisted uid refused: {r.stderr.strip()}")
        states = {b["address"]: b["state"] for v in
                  rpc.request(self.cp_sock, "config.get")["result"]["config"]["vips"]
                  if v["address"] == VIP4 for b in v["backends"]}
        self.check(all(s == "active" for s in states.values()), "and nothing changed")
        st = os.stat(self.cp_sock)
        self.check(st.st_mode & 0o777 == 0o660 and st.st_gid == NOBODY.pw_gid,
                   "socket file mode and group as configured (0660, nogroup)")


def setup_netns():
    for a in BACKENDS4:
        ip("addr", "add", a + "/32", "dev", "lo")
    for a in (LIVE6, DEAD6):  # DEAD6 exists with nothing listening: refused at once
        ip("-6", "addr", "add", a + "/128", "dev", "lo", "nodad")
    veth_pairs(2)


env = env_fixture(Env, setup_netns)


def test_subscribe_answers_with_its_settings(env):
    assert env.sub.first.get("result", {}).get("interval_ms") == 200, \
        f"subscribe answered with its settings: {env.sub.first}"


def test_ipv6_health_checks(env):
    with env.checker.scope():
        env.run_ipv6_checks()


def test_counters_slo_metrics(env):
    with env.checker.scope():
        env.run_counters(env.sub)


def test_vip_preview(env):
    with env.checker.scope():
        env.run_vip_preview()


def test_events_on_dataplane_loss_and_restart(env):
    with env.checker.scope():
        env.run_events(env.sub)


def test_operator_socket_access(env):
    with env.checker.scope():
        env.run_access()


test_cp_exits_cleanly = cp_exits_cleanly
