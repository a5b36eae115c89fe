# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-cp managing a real edgelb-dp (net_null, no NIC), with real health
check targets, in a network namespace of its own (unshare -n) so that the
backends can have ordinary unicast addresses (10.77.0.x on lo).

Checks, against the dataplane's own socket (config.get), with the figures:
  - the pushed config has the healthy backends and not the dead one;
  - killing one HTTP target removes its backend within interval*fall + slack,
    restarting it brings it back after rise checks;
  - a TCP-checked VIP is pushed with its live listener;
  - `edgelbctl backend drain` shows up as "draining" in the dataplane;
  - a restarted dataplane gets the whole state again within ~1 s of serving;
  - a restarted edgelb-cp keeps the drained state (the persisted file), and
    the file is valid JSON at every read during a burst of changes;
  - malformed requests get a JSON-RPC error naming the field.
Root only (skipped otherwise). Run by pytest (--dp, --cp, --ctl): one
fixture sets it up, one test per phase, in order.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from edgelb_testlib import rpc
from edgelb_testlib.netns import ip
from edgelb_testlib.proc import wait_for
from cplib import Harness, cp_exits_cleanly, env_fixture

VIP = "198.51.100.1:8080/tcp"
VIP_TCP = "198.51.100.2:9000/tcp"
A, B, C = "10.77.0.1", "10.77.0.2", "10.77.0.3"
INTERVAL_MS, TIMEOUT_MS, RISE, FALL = 200, 150, 2, 3
SLACK_S = 0.6
MANY = 400


class Env(Harness):
    """edgelb-cp, edgelb-dp and the health check targets, in this namespace."""

    def __init__(self, args, work):
        super().__init__(args, work)
        self.dp_sock = os.path.join(work, "dp.sock")

    def start_http(self, name, addr):
        self.start(name, [sys.executable, "-m", "http.server", "8080", "--bind", addr,
                          "--directory", os.path.join(self.work, "www")])
        wait_for(f"{name} listening", lambda: socket.create_connection((addr, 8080), 0.2).close()
                 or True, 10)

    def start_dp(self):
        self.start("dp", [self.args.dp, "-l", "0-1", "--no-huge", "-m", "512", "--no-pci",
                          "--file-prefix", f"cpt{os.getpid()}", "--vdev", "net_null0", "--",
                          "--socket", self.dp_sock, "--kernel-iface", "none",
                          "--flows", "65536"])
        return wait_for("the dataplane's socket", lambda: rpc.request(self.dp_sock, "ping")["result"],
                        30)

    def start_cp(self):
        self.start("cp", [self.args.cp, "--config", self.config, "--socket", self.cp_sock])
        wait_for("edgelb-cp's socket", lambda: "result" in rpc.request(self.cp_sock, "vip.list"), 10)

    def ctl(self, *argv):
        return subprocess.run([self.args.ctl, "--socket", self.cp_sock, *argv],
                              capture_output=True, text=True, timeout=10)

    def dp_backends(self, vip_addr):
        cfg = rpc.request(self.dp_sock, "config.get")["result"]["config"]
        for v in cfg["vips"]:
            if v["address"] == vip_addr:
                return {b["address"]: b["state"] for b in v["backends"]}
        return None

    def health(self, addr):
        """edgelb-cp's health of backend addr of VIP."""
        for v in rpc.request(self.cp_sock, "health.get")["result"]["vips"]:
            for b in v["backend_health"]:
                if v["vip"] == VIP and b["address"] == addr:
                    return b["health"]

    def setup(self):
        os.makedirs(os.path.join(self.work, "www"))
        with open(os.path.join(self.work, "www", "healthz"), "w") as f:
            f.write("ok\n")
        hc = {"type": "http", "path": "/healthz", "interval_ms": INTERVAL_MS,
              "timeout_ms": TIMEOUT_MS, "rise": RISE, "fall": FALL}
        config = {
            "node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
            "dataplanes": [{"name": "dp0", "socket": self.dp_sock}],
            "vips": [
                {"address": "198.51.100.1", "port": 8080, "protocol": "tcp",
                 "backends": [{"address": A}, {"address": B}, {"address": C}],
                 "slo": {"availability": 0.999}, "health_check": hc},
                {"address": "198.51.100.2", "port": 9000, "protocol": "tcp",
                 "backends": [{"address": A, "weight": 3}],
                 "health_check": {"type": "tcp", "interval_ms": INTERVAL_MS,
                                  "timeout_ms": TIMEOUT_MS}},
            ]}
        with open(self.config, "w") as f:
            json.dump(config, f)
        tcp_listener = socket.socket()
        tcp_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp_listener.bind((A, 9000))
        tcp_listener.listen(128)
        many_listener = socket.socket()
        many_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        many_listener.bind(("0.0.0.0", 9100))
        many_listener.listen(1024)
        many_listener.settimeout(0.2)
        self.listeners = [tcp_listener, many_listener]
        self.accepting = threading.Event()

        def accept_loop():
            while not self.accepting.is_set():
                try:
                    many_listener.accept()[0].close()
                except OSError:
                    pass
        self.acceptor = threading.Thread(target=accept_loop)
        self.acceptor.start()
        self.start_http("http_a", A)
        self.start_http("http_b", B)
        self.start_dp()
        self.start_cp()

    def teardown(self):
        self.accepting.set()
        self.acceptor.join()
        for listener in self.listeners:
            listener.close()
        self.stop_all()


def setup_netns():
    for a in (A, B, C):
        ip("addr", "add", a + "/32", "dev", "lo")
    ip("route", "add", "local", "10.78.0.0/16", "dev", "lo")


env = env_fixture(Env, setup_netns)


def test_healthy_set_pushed(env):
    with env.checker.scope():
        # 1. healthy set pushed; C (nothing listening) is not.
        t = wait_for("A and B pushed without C",
                     lambda: env.dp_backends("198.51.100.1") == {A: "active", B: "active"},
                     5)
        env.check(True, f"pushed set is {{A, B}} {t:.2f} s after edgelb-cp answered")
        env.check(env.dp_backends("198.51.100.2") == {A: "active"},
                  "TCP-checked VIP pushed with its live listener")


def test_killed_target_removed_and_back(env):
    with env.checker.scope():
        # 2. kill A: out within interval*fall (+ timeout + slack). A must
        # have passed a check first (an unchecked backend that fails its
        # first check is out at once).
        wait_for("A and B up", lambda: env.health(A) == "up" and env.health(B) == "up", 5)
        env.stop("http_a", signal.SIGKILL)
        limit = (INTERVAL_MS * FALL + TIMEOUT_MS) / 1000 + SLACK_S
        t = wait_for("A removed", lambda: A not in env.dp_backends("198.51.100.1"), 5)
        env.check(t <= limit, f"killed target removed from the dataplane in {t:.2f} s "
                  f"(limit {limit:.2f} s = interval*fall + timeout + slack)")
        env.start_http("http_a", A)
        t = wait_for("A back", lambda: A in env.dp_backends("198.51.100.1"), 5)
        high = (RISE * INTERVAL_MS) / 1000 + SLACK_S
        env.check(t <= high, f"restarted target back in {t:.2f} s (rise {RISE} checks, "
                  f"limit {high:.2f} s)")


def test_all_down_fail_static(env):
    with env.checker.scope():
        # 2b. every backend down: fail static, the last healthy set stays.
        wait_for("A up again", lambda: env.health(A) == "up", 5)
        env.stop("http_a", signal.SIGKILL)
        wait_for("A out", lambda: A not in env.dp_backends("198.51.100.1"), 5)
        # Counted from here: on a loaded machine an early check may
        # have timed out on both servers and raised an alarm already.
        alarms_before = [v for v in rpc.request(env.cp_sock, "health.get")["result"]["vips"]
                         if v["vip"] == VIP][0]["all_down_alarms"]
        env.stop("http_b", signal.SIGKILL)
        wait_for("B down", lambda: env.health(B) == "down", 5)
        time.sleep(0.1)
        vh = [v for v in rpc.request(env.cp_sock, "health.get")["result"]["vips"]
              if v["vip"] == VIP][0]
        env.check(env.dp_backends("198.51.100.1") == {B: "active"} and vh["all_down"]
                  and vh["all_down_alarms"] == alarms_before + 1,
                  "all backends down: the last healthy set {B} stays pushed, alarm "
                  f"raised ({vh['all_down_alarms']})")
        env.start_http("http_a", A)
        env.start_http("http_b", B)
        wait_for("A and B back", lambda: env.dp_backends("198.51.100.1") ==
                 {A: "active", B: "active"}, 5)
        env.check(True, "both back after the all-down episode")


def test_drain_via_edgelbctl(env):
    with env.checker.scope():
        # 3. drain via edgelbctl.
        r = env.ctl("backend", "drain", VIP, B)
        env.check(r.returncode == 0, f"edgelbctl backend drain: {r.stdout.strip()}")
        t = wait_for("B draining in the dataplane",
                     lambda: env.dp_backends("198.51.100.1").get(B) == "draining", 3)
        env.check(True, f"drain visible in the dataplane after {t:.2f} s")
        r = env.ctl("vip", "get", VIP)
        env.check(r.returncode == 0 and "draining" in r.stdout, "edgelbctl vip get shows "
                  "the draining backend")
        print(r.stdout, end="")


def test_restarted_dataplane_gets_the_state(env):
    with env.checker.scope():
        # 4. restart the dataplane: state re-pushed.
        env.stop("dp", signal.SIGKILL)
        env.start_dp()
        t = wait_for("state re-pushed",
                     lambda: env.dp_backends("198.51.100.1") == {A: "active", B: "draining"},
                     5)
        env.check(t <= 1.0, f"restarted dataplane has the whole state {t:.2f} s after its "
                  "socket answered (limit 1 s)")
        dps = rpc.request(env.cp_sock, "dataplanes.get")["result"]["dataplanes"][0]
        env.check(dps["connected"] and dps["in_sync"],
                  f"dataplanes.get: connected, in sync, instance {dps['instance']}")


def test_config_file_stays_valid_json(env):
    with env.checker.scope():
        # 5. the file stays valid JSON through a burst of changes.
        bad_reads, reads, stop = [], [0], threading.Event()

        def reader():
            while not stop.is_set():
                with open(env.config) as f:
                    text = f.read()
                reads[0] += 1
                try:
                    json.loads(text)
                except ValueError:
                    bad_reads.append(text)

        th = threading.Thread(target=reader)
        th.start()
        for w in range(1, 21):
            r = env.ctl("backend", "weight", VIP, A, str(w))
            if r.returncode != 0:
                env.check(False, f"backend weight {w}: {r.stderr.strip()}")
        stop.set()
        th.join()
        env.check(not bad_reads, f"config file valid JSON at all {reads[0]} reads during "
                  "20 changes")
        leftovers = [n for n in os.listdir(env.work) if ".tmp." in n]
        env.check(not leftovers, "no temporary files left")


def test_restarted_cp_keeps_the_drain(env):
    with env.checker.scope():
        # 6. restart edgelb-cp: the drain survives.
        env.stop("cp")
        with open(env.config) as f:
            saved = env.saved = json.load(f)
        states = {b["address"]: b["state"] for b in saved["vips"][0]["backends"]}
        env.check(states.get(B) == "draining", "persisted file has B draining")
        env.start_cp()
        r = env.ctl("vip", "get", VIP)
        env.check("draining" in r.stdout, "restarted edgelb-cp reports B draining")
        time.sleep(0.5)
        env.check(env.dp_backends("198.51.100.1").get(B) == "draining",
                  "dataplane still has B draining after the edgelb-cp restart")


def test_malformed_requests_refused(env):
    with env.checker.scope():
        # 7. malformed requests.
        r = env.ctl("backend", "weight", VIP, A, "70000")
        env.check(r.returncode != 0 and "weight" in r.stderr,
                  f"bad weight refused: {r.stderr.strip()}")
        bad = rpc.request(env.cp_sock, "vip.add", {"address": "198.51.100.3", "port": 80,
                                                   "protocol": "tcp",
                                                   "health_check": {"type": "tcp", "rise": 0}})
        err = bad.get("error", {})
        env.check(err.get("code") == -32602 and
                  err.get("data", {}).get("field") == "health_check.rise",
                  f"vip.add error names the field: {json.dumps(err)}")
        bad = rpc.request(env.cp_sock, "backend.add", {"address": "198.51.100.1", "port": 8080,
                                                       "protocol": "tcp",
                                                       "backend": "127.0.0.1"})
        err = bad.get("error", {})
        env.check(err.get("data", {}).get("field") == "backend" and
                  err.get("message", "").startswith("backend: "),
                  f"backend.add of a loopback address: {err.get('message')}")
        r = env.ctl("backend", "drain", VIP, "10.9.9.9")
        env.check(r.returncode != 0, f"drain of an unknown backend: {r.stderr.strip()}")
        # Nothing half-applied: the file did not change.
        with open(env.config) as f:
            env.check(json.load(f) == env.saved, "refused changes left the file as it was")
        r = env.ctl("counters")
        env.check(r.returncode == 0 and VIP in r.stdout, "edgelbctl counters")


def test_hundreds_of_concurrent_checks(env):
    with env.checker.scope():
        # 8. hundreds of concurrent checks: a VIP of MANY backends in
        # 10.78.0.0/16 (local), TCP-checked against one accepting listener.
        many = [f"10.78.{i // 250}.{i % 250 + 1}" for i in range(MANY)]
        start = time.monotonic()
        r = rpc.request(env.cp_sock, "vip.add", {
            "address": "198.51.100.4", "port": 9100, "protocol": "tcp",
            "backends": [{"address": a} for a in many],
            "health_check": {"type": "tcp", "interval_ms": 1000, "timeout_ms": 500}})
        env.check("result" in r, f"vip.add of {MANY} backends: {r.get('error')}")

        def all_checked():
            for v in rpc.request(env.cp_sock, "health.get")["result"]["vips"]:
                if v["vip"] == "198.51.100.4:9100/tcp":
                    return (all(b["health"] == "up" and b["checks"] >= 2
                                for b in v["backend_health"]), v)
        t = wait_for(f"{MANY} backends up, 2 checks each", lambda: all_checked()[0], 10)
        pushed = env.dp_backends("198.51.100.4") or {}
        fails = sum(b["failures"] for b in all_checked()[1]["backend_health"])
        env.check(len(pushed) == MANY and fails == 0,
                  f"{MANY} backends checked twice each in {t:.2f} s, {fails} failures, "
                  f"{len(pushed)} pushed (vip.add at +{time.monotonic() - start:.2f} s)")


test_cp_exits_cleanly = cp_exits_cleanly
