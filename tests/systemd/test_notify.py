# SPDX-License-Identifier: BSD-3-Clause
"""A daemon (edgelb-cp, edgelb-xdp or edgelb-dp) under a stand-in for
systemd: readiness, status, watchdog, stop.

systemd is not PID 1 here, so the test holds the notify socket itself, as
libsystemd's tests do: an AF_UNIX datagram socket with SO_PASSCRED (the
sender's pid, as systemd checks it for NotifyAccess=main), given to the
daemon as NOTIFY_SOCKET, with WATCHDOG_USEC and WATCHDOG_PID set as systemd
sets them (WATCHDOG_PID is the daemon's own pid: a shell exports $$ and
execs it). The daemon runs with its unit's capability bounding set
(CapabilityBoundingSet= of the unit meson rendered, through setpriv) and
no_new_privs, so the unit's capabilities are shown to be enough, and with
the unit's own command line: ExecStart= as meson rendered it, with %i, the
$VARIABLES of its EnvironmentFile= and the unit's directories under
/etc/edgelb, /var/lib/edgelb and /run/edgelb moved into the test's own
(unit_command), so the documented commands are the ones that run.

  1. READY=1 comes from the daemon's pid, and when it arrives the socket
     answers at once with the configuration applied (status.get: epoch, one
     VIP; the VIP listed). Its STATUS= line says so.
  2. WATCHDOG=1 comes periodically at about half of WATCHDOG_USEC: counted
     over a window, median gap within [0.35, 0.9] of the interval, no gap
     as long as the interval (systemd would have fired).
  3. SIGSTOP (a stalled control thread): the pings stop, none for 1.5
     intervals. The test then does what systemd does when the watchdog
     fires: SIGABRT (with SIGCONT), SIGKILL if still there, and a new start,
     which must be READY again with the configuration (from its state file).
  4. SIGTERM: STOPPING=1, exit 0.

edgelb-xdp (generic mode on a veth, the peer in a network namespace, its
own bpffs through --pin-dir in a private mount namespace, as
tests/xdp/test_xdp_agent.py does): UDP flows to the VIP are sent through
the peer for the whole of 3 and every one comes back encapsulated toward
the backend: the attached program and its pinned maps carry traffic while
the daemon is stopped, after it died and while the next one starts; the
restarted daemon finds the flows (counters.get: new_flows unchanged,
forwarded = all of them). edgelb-dp: its flow tables live in the process,
so a restart starts them empty (tested: the new process counts from zero).
Root only: skipped otherwise (and without setpriv). Run by pytest
(--daemon, --exe, --units-dir): one module fixture per daemon, a test per
step 1-4 above, in order.
"""
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

import pytest

from edgelb_testlib import netns, rpc
from edgelb_testlib.checks import Checker
from edgelb_testlib.netns import sh
from edgelb_testlib.pytest_plugin import require_root

WATCHDOG_USEC = 2_000_000
INTERVAL = WATCHDOG_USEC / 1e6
PING_WINDOW = 6.0  # seconds of pings counted
VIP = "10.0.0.10"
BACKEND = "10.200.0.1"
GATEWAY_MAC = "02:00:00:00:00:fe"
FLOWS = 16

# Runs in the namespace: sends UDP to the VIP on FLOWS flows through the
# veth peer (one flow per source port), one packet each `gap` seconds,
# until the file `stop` exists; counts what comes back encapsulated toward
# the backend and the longest time without a returned packet.
SENDER = r'''
import json, os, socket, sys, time
from edgelb_testlib.frames import udp4_frame
ifname, dst_mac, vip, backend, flows, gap, stop = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
def frame(i, n):
    return udp4_frame(dst_mac, src_mac, "10.98.0.2", vip, 41000 + i, 80, b"edgelb-systemd %d" % n,
                      ident=n)
sent = got = 0
last = first = None
longest = 0.0
once = len(sys.argv) > 8
next_send = time.time()
end = None
s.settimeout(0.01)
while True:
    now = time.time()
    if end is None and (os.path.exists(stop) or (once and sent == flows)):
        end = now + 1.0
    if end is not None and (now > end or got == sent):
        break
    if end is None and now >= next_send:
        s.send(frame(sent % flows, sent))
        sent += 1
        next_send += gap
    try:
        f, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING or f[12:14] != b"\x08\x00":
        continue
    outer = f[14:]
    if outer[9] == 4 and outer[16:20] == socket.inet_aton(backend) and outer[36:40] == socket.inet_aton(vip):
        got += 1
        t = time.time()
        if last is not None:
            longest = max(longest, t - last)
        last = t
print(json.dumps({"sent": sent, "got": got, "longest_gap_s": round(longest, 3)}))
'''


class NotifySocket:
    """The notify socket as systemd holds it: datagrams with the sender's
    credentials."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)

    def recv(self, timeout):
        """(arrival time, sender pid, {key: value}) or None."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", cdata[:12])[0]
        fields = dict(ln.split("=", 1) for ln in data.decode().splitlines() if "=" in ln)
        return time.monotonic(), pid, fields

    def wait_for(self, key, proc, timeout):
        """The first datagram carrying key; others on the way are returned too."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = proc.poll() is not None
            # After the exit, only what it sent before: already queued.
            m = self.recv(0.2 if exited else min(0.5, deadline - time.monotonic()))
            if m is None:
                if exited:
                    break
                continue
            seen.append(m)
            if key in m[2]:
                return m, seen
        return None, seen

    def collect(self, seconds):
        out, deadline = [], time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            m = self.recv(left)
            if m is not None:
                out.append(m)


def unit_caps(units_dir, unit):
    with open(os.path.join(units_dir, unit)) as f:
        m = re.search(r"^CapabilityBoundingSet=(.*)$", f.read(), re.M)
    return m.group(1).split()


# The unit's directories, moved into the test's work directory.
UNIT_DIRS = ("/etc/edgelb", "/var/lib/edgelb", "/run/edgelb")


def unit_command(units_dir, unit, instance, env, work, exe):
    """The unit's ExecStart= as systemd would run it: %i expanded, $VAR
    (a word of its own) split into the words of env[VAR] (absent: none),
    the binary replaced by `exe` (the unit names the installed path), and
    every path under UNIT_DIRS moved under `work` (created)."""
    with open(os.path.join(units_dir, unit)) as f:
        text = f.read().replace("\\\n", " ")
    line = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
    argv = []
    for word in shlex.split(line.replace("%i", instance or "")):
        if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", word):
            argv += shlex.split(env.get(word[1:], ""))
        else:
            argv.append(word)
    for d in UNIT_DIRS:
        os.makedirs(work + d, exist_ok=True)
    moved = []
    for word in argv[1:]:
        for d in UNIT_DIRS:
            word = re.sub(r"(^|=)" + re.escape(d) + r"(?=/|$)", lambda m: m.group(1) + work + d, word)
        moved.append(word)
    return [exe] + moved


def setpriv_prefix(caps):
    spec = ",".join(["-all"] + ["+" + c.lower().removeprefix("cap_") for c in caps])
    return ["setpriv", "--no-new-privs", "--bounding-set", spec, "--"]


class Daemon:
    def __init__(self, args, work, notify, caps, failures):
        self.args, self.work, self.notify, self.caps, self.failures = args, work, notify, caps, failures
        self.proc = None
        self.starts = 0

    def start(self, cmd):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        env.pop("WATCHDOG_PID", None)
        err = open(os.path.join(self.work, f"daemon-{self.starts}.log"), "w+")
        self.starts += 1
        # WATCHDOG_PID is the daemon's pid, as systemd sets it: the shell's
        # $$, kept by exec. No core files from the aborts below.
        self.proc = subprocess.Popen(
            setpriv_prefix(self.caps) + ["sh", "-c", 'export WATCHDOG_PID=$$; exec "$@"', "sh"] +
            cmd, env=env, stdout=err, stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
        self.log = err
        return self.proc

    def wait_ready(self, timeout=120):
        t0 = time.monotonic()
        m, seen = self.notify.wait_for("READY", self.proc, timeout)
        if m is None:
            self.log.seek(0)
            self.failures.append(f"no READY=1 (exit {self.proc.poll()}); log: "
                                 f"{self.log.read()[-800:]}")
            return None
        print(f"READY=1 after {m[0] - t0:.2f} s from pid {m[1]}: STATUS={m[2].get('STATUS')!r}")
        if m[1] != self.proc.pid:
            self.failures.append(f"READY=1 from pid {m[1]}, the daemon is {self.proc.pid}")
        if "VIP" not in m[2].get("STATUS", ""):
            self.failures.append(f"READY=1 without a STATUS= naming the VIPs: {m[2]}")
        return m

    def pings(self):
        """WATCHDOG=1 over PING_WINDOW seconds: count and gaps."""
        msgs = self.notify.collect(PING_WINDOW)
        times = [t for t, pid, f in msgs if f.get("WATCHDOG") == "1" and pid == self.proc.pid]
        gaps = [b - a for a, b in zip(times, times[1:])]
        med = statistics.median(gaps) if gaps else 0
        print(f"WATCHDOG=1: {len(times)} in {PING_WINDOW:.0f} s at WATCHDOG_USEC={WATCHDOG_USEC}; "
              f"gaps median {med:.3f} s, min {min(gaps, default=0):.3f}, "
              f"max {max(gaps, default=0):.3f} (half the interval: {INTERVAL / 2:.3f})")
        expected = PING_WINDOW / (INTERVAL / 2)
        if not expected * 0.5 <= len(times) <= expected * 1.5 + 1:
            self.failures.append(f"{len(times)} pings in {PING_WINDOW} s, expected about "
                                 f"{expected:.0f}")
        if gaps and not 0.35 * INTERVAL <= med <= 0.9 * INTERVAL:
            self.failures.append(f"median gap {med:.3f} s, not about half of {INTERVAL} s")
        if gaps and max(gaps) >= INTERVAL:
            self.failures.append(f"a gap of {max(gaps):.3f} s: the watchdog would have fired")

    def stall_and_abort(self):
        """SIGSTOP: the pings stop; then what systemd does when the
        watchdog fires: SIGABRT + SIGCONT, SIGKILL after 10 s."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        time.sleep(0.2)
        self.notify.collect(0.05)  # a ping sent just before the stop
        msgs = self.notify.collect(1.5 * INTERVAL)
        late = [m for m in msgs if m[2].get("WATCHDOG") == "1"]
        print(f"SIGSTOP: {len(late)} WATCHDOG=1 in the next {1.5 * INTERVAL:.1f} s")
        if late:
            self.failures.append(f"{len(late)} pings from a stopped daemon")
        os.kill(self.proc.pid, signal.SIGABRT)
        os.kill(self.proc.pid, signal.SIGCONT)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        print(f"SIGABRT as systemd sends it: exit {rc}")
        if rc != -signal.SIGABRT:
            self.failures.append(f"the stalled daemon ended with {rc}, expected SIGABRT")

    def terminate(self):
        self.proc.send_signal(signal.SIGTERM)
        m, _ = self.notify.wait_for("STOPPING", self.proc, 10)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        print(f"SIGTERM: STOPPING=1 {'seen' if m else 'MISSING'} "
              f"({m[2].get('STATUS') if m else ''!r}), exit {rc}")
        if m is None or m[1] != self.proc.pid:
            self.failures.append(f"no STOPPING=1 from the daemon on SIGTERM: {m}")
        if rc != 0:
            self.failures.append(f"exit {rc} after SIGTERM")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def dp_config(path):
    cfg = {"node": {"source_v4": "10.98.0.1", "gateway_mac": GATEWAY_MAC},
           "vips": [{"address": VIP, "port": 80, "protocol": "udp",
                     "backends": [{"address": BACKEND}]}]}
    with open(path, "w") as f:
        json.dump(cfg, f)


def check_dataplane_ready(sock, failures):
    """Right at READY=1: the socket answers with the VIP applied."""
    st = rpc.request(sock, "status.get").get("result", {})
    vips = rpc.request(sock, "vip.list").get("result", {}).get("vips", [])
    names = [json.dumps(v)[:80] for v in vips]
    print(f"  status.get at READY: epoch {st.get('epoch')}, vips {st.get('vips')}, "
          f"instance {st.get('instance')}; vip.list {names}")
    if st.get("vips") != 1 or not st.get("epoch") or not any(VIP in n for n in names):
        failures.append(f"at READY=1 the config is not in force: status {st}, vips {vips}")
    return st


class Scenario:
    """One daemon's life under the stand-in for systemd; the hooks between
    the steps are the daemon's own checks. failures: every failed check."""

    unit = None

    def __init__(self, args, work, notify):
        self.args, self.work, self.notify = args, work, notify
        self.ck = Checker()
        self.failures = self.ck.failures
        self.d = Daemon(args, work, notify, unit_caps(args.units_dir, self.unit), self.failures)
        self.cmd = None

    def setup(self):
        pass

    def teardown(self):
        self.d.kill()

    def ready(self):
        """Started (again), READY=1 from it; its checks at READY."""
        self.d.start(self.cmd)
        m = self.d.wait_ready()
        assert m is not None, "\n".join(self.failures)
        return m

    def first_ready(self):
        self.ready()

    def before_stall(self):
        pass

    def after_abort(self):
        pass

    def restarted(self):
        self.ready()


class CpScenario(Scenario):
    unit = "edgelb-cp.service"

    def setup(self):
        self.cmd = unit_command(self.args.units_dir, self.unit, None, {}, self.work,
                                self.args.exe)
        cfg, self.sock = self.work + "/etc/edgelb/cp.json", self.work + "/run/edgelb/cp.sock"
        print("the unit's command:", shlex.join(self.cmd))
        with open(cfg, "w") as f:
            json.dump({"node": {"source_v4": "10.98.0.1", "gateway_mac": GATEWAY_MAC},
                       "dataplanes": [],
                       "vips": [{"address": VIP, "port": 80, "protocol": "udp",
                                 "backends": [{"address": BACKEND}]}]}, f)

    def ready(self):
        super().ready()
        r = rpc.request(self.sock, "vip.list")
        vips = r.get("result", {}).get("vips", [])
        print(f"  vip.list at READY: {json.dumps(vips)[:160]}")
        if not any(VIP in json.dumps(v) for v in vips):
            self.failures.append(f"at READY=1 edgelb-cp does not list the VIP: {r}")


class DpScenario(Scenario):
    unit = "edgelb-dp@.service"

    def setup(self):
        self.tag = str(os.getpid() % 100000)
        instance = "sd" + self.tag
        # What /etc/default/edgelb-dp-INSTANCE would say on this machine.
        env = {"EDGELB_DP_EAL": "--lcores 0@0,1@1 --no-huge -m 512 --no-pci --log-level=error "
                                "--vdev net_null0",
               "EDGELB_DP_OPTS": f"--flows 4096 --kernel-iface elbsd{self.tag}"}
        self.cmd = unit_command(self.args.units_dir, self.unit, instance, env, self.work,
                                self.args.exe)
        print("the unit's command:", shlex.join(self.cmd))
        cfg = self.work + f"/etc/edgelb/{instance}.json"
        self.sock = self.work + f"/run/edgelb/dp-{instance}.sock"
        self.prefix = f"edgelb-dp-{instance}"  # the unit's --file-prefix
        dp_config(cfg)

    def teardown(self):
        super().teardown()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)

    def first_ready(self):
        self.ready()
        self.first = check_dataplane_ready(self.sock, self.failures)
        if not os.path.exists(f"/sys/class/net/elbsd{self.tag}0"):
            self.failures.append("no TAP exception interface: the unit's capabilities are not "
                                 "enough")

    def before_stall(self):
        self.before = rpc.request(self.sock, "counters.get").get("result", {}).get("counters", {})

    def restarted(self):
        self.ready()
        st = check_dataplane_ready(self.sock, self.failures)
        after = rpc.request(self.sock, "counters.get").get("result", {}).get("counters", {})
        first, before = self.first, self.before
        print(f"  restart: instance {first.get('instance')} -> {st.get('instance')}; counters "
              f"rx {before.get('rx', {}).get('packets')} -> {after.get('rx', {}).get('packets')} "
              "(the flow tables and counters were the process's: they start again empty)")
        if st.get("instance") == first.get("instance"):
            self.failures.append("the restarted edgelb-dp has the same instance")
        if not after.get("rx", {}).get("packets", 0) < before.get("rx", {}).get("packets", 0):
            self.failures.append("the restarted edgelb-dp did not start counting again")


class XdpScenario(Scenario):
    unit = "edgelb-xdp@.service"

    def setup(self):
        tag = str(os.getpid() % 100000)
        ns, a, b = "elbsdn" + tag, "elbsda" + tag, "elbsdb" + tag
        self.ns, self.a = ns, a
        self.bpffs = os.path.join(self.work, "bpffs")
        # What /etc/default/edgelb-xdp-INSTANCE would say on this machine.
        env = {"EDGELB_XDP_OPTS": f"--mode generic --flows 4096 --pin-dir {self.bpffs}/pins"}
        self.cmd = unit_command(self.args.units_dir, self.unit, a, env, self.work, self.args.exe)
        print("the unit's command:", shlex.join(self.cmd))
        cfg = self.work + f"/etc/edgelb/xdp-{a}.json"
        self.sock = self.work + f"/run/edgelb/xdp-{a}.sock"
        dp_config(cfg)
        os.makedirs(self.bpffs)
        sh("mount", "-t", "bpf", "bpf", self.bpffs)
        self.sender = None
        netns.veth_into_namespace(a, b, ns, "10.98.0.1/24", "10.98.0.2/24")
        with open(f"/sys/class/net/{a}/address") as f:
            a_mac = f.read().strip().replace(":", "")
        self.stop_file = os.path.join(self.work, "stop-sending")
        # On one CPU: generic XDP runs where the sender runs, flows are per CPU.
        self.send = ["ip", "netns", "exec", ns, "taskset", "-c", "0", sys.executable, "-c",
                     SENDER, b, a_mac, VIP, BACKEND, str(FLOWS)]

    def teardown(self):
        if self.sender is not None:
            self.sender.kill()
        super().teardown()
        sh("ip", "link", "del", self.a, check=False)
        sh("ip", "netns", "del", self.ns, check=False)
        sh("umount", self.bpffs, check=False)

    def first_ready(self):
        self.ready()
        check_dataplane_ready(self.sock, self.failures)
        self.first = json.loads(sh(*self.send, "0.001", self.stop_file, "once").stdout)
        c = rpc.request(self.sock, "counters.get").get("result", {}).get("counters", {})
        print(f"{self.first['got']} of {self.first['sent']} packets of {FLOWS} flows forwarded; "
              f"counters: new_flows {c.get('new_flows')}, forwarded "
              f"{c.get('forwarded', {}).get('packets')}")
        if self.first["got"] != FLOWS or c.get("new_flows") != FLOWS:
            self.failures.append(f"first packets: {self.first}, new_flows {c.get('new_flows')}")

    def before_stall(self):
        self.sender = subprocess.Popen(self.send + ["0.005", self.stop_file],
                                       stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)

    def after_abort(self):
        attached = "prog/xdp" in sh("ip", "link", "show", "dev", self.a).stdout
        print(f"after the abort the program is {'still' if attached else 'NOT'} attached")
        if not attached:
            self.failures.append("the XDP program went with the aborted daemon")
        time.sleep(1.0)  # traffic with no daemon at all

    def restarted(self):
        self.d.start(self.cmd)
        ready = self.d.wait_ready()
        time.sleep(1.0)
        open(self.stop_file, "w").close()
        out, _ = self.sender.communicate(timeout=30)
        self.sender = None
        through = json.loads(out)
        print(f"through stall, abort and restart: {through['got']} of {through['sent']} "
              f"packets came back encapsulated toward {BACKEND}; longest gap "
              f"{through['longest_gap_s']} s")
        if through["sent"] < 100 or through["got"] != through["sent"]:
            self.failures.append(f"traffic through the restart: {through}")
        assert ready is not None, "\n".join(self.failures)
        check_dataplane_ready(self.sock, self.failures)
        c = rpc.request(self.sock, "counters.get").get("result", {}).get("counters", {})
        total = self.first["sent"] + through["sent"]
        print(f"restarted daemon's counters: new_flows {c.get('new_flows')} (was {FLOWS}), "
              f"forwarded {c.get('forwarded', {}).get('packets')} (sent {total}), "
              f"repicked {c.get('flows_repicked')}")
        if (c.get("new_flows"), c.get("forwarded", {}).get("packets"),
                c.get("flows_repicked")) != (FLOWS, total, 0):
            self.failures.append(f"the restarted daemon did not find its flows: {c}")


SCENARIOS = {"cp": CpScenario, "dp": DpScenario, "xdp": XdpScenario}


@pytest.fixture(scope="module")
def daemon(opts, workdir):
    require_root("capabilities, XDP, TAP, namespaces")
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv (util-linux)")
    if opts.daemon == "xdp":
        # The bpffs mounted for the agent ends with the test.
        netns.enter_private_mount_namespace()
    notify = NotifySocket(os.path.join(workdir, "notify"))
    sc = SCENARIOS[opts.daemon](opts, workdir, notify)
    try:
        sc.setup()
        yield sc
    finally:
        sc.teardown()


def test_1_ready_with_the_configuration(daemon):
    with daemon.ck.scope():
        daemon.first_ready()


def test_2_watchdog_pings_at_half_the_interval(daemon):
    with daemon.ck.scope():
        daemon.d.pings()


def test_3_stalled_daemon_aborted_and_started_again(daemon):
    with daemon.ck.scope():
        daemon.before_stall()
        daemon.d.stall_and_abort()
        daemon.after_abort()
        daemon.restarted()


def test_4_sigterm_stopping_and_exit_0(daemon):
    with daemon.ck.scope():
        daemon.d.terminate()
