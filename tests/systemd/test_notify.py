#!/usr/bin/env python3
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
Root only: exits 77 (skipped) otherwise.
"""
import argparse
import array
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
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cp"))
from cplib import rpc  # noqa: E402

SKIP = 77
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
import json, os, socket, struct, sys, time
ifname, dst_mac, vip, backend, flows, gap, stop = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def frame(i, n):
    payload = b"edgelb-systemd %d" % n
    udp = struct.pack("!HHHH", 41000 + i, 80, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xffff, 0, 64, 17, 0,
                     socket.inet_aton("10.98.0.2"), socket.inet_aton(vip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp
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


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


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
    st = rpc(sock, "status.get").get("result", {})
    vips = rpc(sock, "vip.list").get("result", {}).get("vips", [])
    names = [json.dumps(v)[:80] for v in vips]
    print(f"  status.get at READY: epoch {st.get('epoch')}, vips {st.get('vips')}, "
          f"instance {st.get('instance')}; vip.list {names}")
    if st.get("vips") != 1 or not st.get("epoch") or not any(VIP in n for n in names):
        failures.append(f"at READY=1 the config is not in force: status {st}, vips {vips}")
    return st


def run_cp(args, work, notify, failures):
    cmd = unit_command(args.units_dir, "edgelb-cp.service", None, {}, work, args.exe)
    cfg, sock = work + "/etc/edgelb/cp.json", work + "/run/edgelb/cp.sock"
    print("the unit's command:", shlex.join(cmd))
    with open(cfg, "w") as f:
        json.dump({"node": {"source_v4": "10.98.0.1", "gateway_mac": GATEWAY_MAC},
                   "dataplanes": [],
                   "vips": [{"address": VIP, "port": 80, "protocol": "udp",
                             "backends": [{"address": BACKEND}]}]}, f)
    d = Daemon(args, work, notify, unit_caps(args.units_dir, "edgelb-cp.service"), failures)

    def ready_check():
        r = rpc(sock, "vip.list")
        vips = r.get("result", {}).get("vips", [])
        print(f"  vip.list at READY: {json.dumps(vips)[:160]}")
        if not any(VIP in json.dumps(v) for v in vips):
            failures.append(f"at READY=1 edgelb-cp does not list the VIP: {r}")

    try:
        d.start(cmd)
        if d.wait_ready() is None:
            return
        ready_check()
        d.pings()
        d.stall_and_abort()
        d.start(cmd)
        if d.wait_ready() is None:
            return
        ready_check()
        d.terminate()
    finally:
        d.kill()


def run_dp(args, work, notify, failures):
    tag = str(os.getpid() % 100000)
    instance = "sd" + tag
    # What /etc/default/edgelb-dp-INSTANCE would say on this machine.
    env = {"EDGELB_DP_EAL": "--lcores 0@0,1@1 --no-huge -m 512 --no-pci --log-level=error "
                            "--vdev net_null0",
           "EDGELB_DP_OPTS": f"--flows 4096 --kernel-iface elbsd{tag}"}
    cmd = unit_command(args.units_dir, "edgelb-dp@.service", instance, env, work, args.exe)
    print("the unit's command:", shlex.join(cmd))
    cfg, sock = work + f"/etc/edgelb/{instance}.json", work + f"/run/edgelb/dp-{instance}.sock"
    prefix = f"edgelb-dp-{instance}"  # the unit's --file-prefix
    dp_config(cfg)
    d = Daemon(args, work, notify, unit_caps(args.units_dir, "edgelb-dp@.service"), failures)
    try:
        d.start(cmd)
        if d.wait_ready() is None:
            return
        first = check_dataplane_ready(sock, failures)
        if not os.path.exists(f"/sys/class/net/elbsd{tag}0"):
            failures.append("no TAP exception interface: the unit's capabilities are not enough")
        d.pings()
        before = rpc(sock, "counters.get").get("result", {}).get("counters", {})
        d.stall_and_abort()
        d.start(cmd)
        if d.wait_ready() is None:
            return
        st = check_dataplane_ready(sock, failures)
        after = rpc(sock, "counters.get").get("result", {}).get("counters", {})
        print(f"  restart: instance {first.get('instance')} -> {st.get('instance')}; counters "
              f"rx {before.get('rx', {}).get('packets')} -> {after.get('rx', {}).get('packets')} "
              "(the flow tables and counters were the process's: they start again empty)")
        if st.get("instance") == first.get("instance"):
            failures.append("the restarted edgelb-dp has the same instance")
        if not after.get("rx", {}).get("packets", 0) < before.get("rx", {}).get("packets", 0):
            failures.append("the restarted edgelb-dp did not start counting again")
        d.terminate()
    finally:
        d.kill()
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)


def enter_private_mounts():
    if os.environ.get("ELB_TEST_PRIVATE_MOUNTS") != "1":
        env = dict(os.environ, ELB_TEST_PRIVATE_MOUNTS="1")
        return subprocess.run(["unshare", "--mount", "--propagation", "private",
                               sys.executable] + sys.argv, env=env).returncode
    return None


def run_xdp(args, work, notify, failures):
    tag = str(os.getpid() % 100000)
    ns, a, b = "elbsdn" + tag, "elbsda" + tag, "elbsdb" + tag
    bpffs = os.path.join(work, "bpffs")
    # What /etc/default/edgelb-xdp-INSTANCE would say on this machine.
    env = {"EDGELB_XDP_OPTS": f"--mode generic --flows 4096 --pin-dir {bpffs}/pins"}
    cmd = unit_command(args.units_dir, "edgelb-xdp@.service", a, env, work, args.exe)
    print("the unit's command:", shlex.join(cmd))
    cfg, sock = work + f"/etc/edgelb/xdp-{a}.json", work + f"/run/edgelb/xdp-{a}.sock"
    dp_config(cfg)
    os.makedirs(bpffs)
    sh("mount", "-t", "bpf", "bpf", bpffs)
    d = Daemon(args, work, notify, unit_caps(args.units_dir, "edgelb-xdp@.service"), failures)
    sender = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", b, "netns", ns)
        sh("ip", "addr", "add", "10.98.0.1/24", "dev", a)
        sh("ip", "link", "set", a, "up")
        sh("ip", "-n", ns, "addr", "add", "10.98.0.2/24", "dev", b)
        sh("ip", "-n", ns, "link", "set", b, "up")
        with open(f"/sys/class/net/{a}/address") as f:
            a_mac = f.read().strip().replace(":", "")
        stop_file = os.path.join(work, "stop-sending")
        # On one CPU: generic XDP runs where the sender runs, flows are per CPU.
        send = ["ip", "netns", "exec", ns, "taskset", "-c", "0", sys.executable, "-c", SENDER,
                b, a_mac, VIP, BACKEND, str(FLOWS)]

        d.start(cmd)
        if d.wait_ready() is None:
            return
        check_dataplane_ready(sock, failures)
        prog = sh("ip", "link", "show", "dev", a).stdout
        first = json.loads(sh(*send, "0.001", stop_file, "once").stdout)
        c = rpc(sock, "counters.get").get("result", {}).get("counters", {})
        print(f"{first['got']} of {first['sent']} packets of {FLOWS} flows forwarded; counters: "
              f"new_flows {c.get('new_flows')}, forwarded {c.get('forwarded', {}).get('packets')}")
        if first["got"] != FLOWS or c.get("new_flows") != FLOWS:
            failures.append(f"first packets: {first}, new_flows {c.get('new_flows')}")
        d.pings()

        sender = subprocess.Popen(send + ["0.005", stop_file], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        d.stall_and_abort()
        attached = "prog/xdp" in sh("ip", "link", "show", "dev", a).stdout
        print(f"after the abort the program is {'still' if attached else 'NOT'} attached")
        if not attached:
            failures.append("the XDP program went with the aborted daemon")
        time.sleep(1.0)  # traffic with no daemon at all
        d.start(cmd)
        ready = d.wait_ready()
        time.sleep(1.0)
        open(stop_file, "w").close()
        out, _ = sender.communicate(timeout=30)
        sender = None
        through = json.loads(out)
        print(f"through stall, abort and restart: {through['got']} of {through['sent']} packets "
              f"came back encapsulated toward {BACKEND}; longest gap {through['longest_gap_s']} s")
        if through["sent"] < 100 or through["got"] != through["sent"]:
            failures.append(f"traffic through the restart: {through}")
        if ready is None:
            return
        check_dataplane_ready(sock, failures)
        c = rpc(sock, "counters.get").get("result", {}).get("counters", {})
        total = first["sent"] + through["sent"]
        print(f"restarted daemon's counters: new_flows {c.get('new_flows')} (was {FLOWS}), "
              f"forwarded {c.get('forwarded', {}).get('packets')} (sent {total}), "
              f"repicked {c.get('flows_repicked')}")
        if (c.get("new_flows"), c.get("forwarded", {}).get("packets"),
                c.get("flows_repicked")) != (FLOWS, total, 0):
            failures.append(f"the restarted daemon did not find its flows: {c}")
        del prog
        d.terminate()
    finally:
        if sender is not None:
            sender.kill()
        d.kill()
        sh("ip", "link", "del", a, check=False)
        sh("ip", "netns", "del", ns, check=False)
        sh("umount", bpffs, check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", choices=("cp", "dp", "xdp"), required=True)
    ap.add_argument("--exe", required=True)
    ap.add_argument("--units-dir", required=True, help="the units as meson rendered them")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("skipped: needs root (capabilities, XDP, TAP, namespaces)")
        return SKIP
    if shutil.which("setpriv") is None:
        print("skipped: no setpriv (util-linux)")
        return SKIP
    if args.daemon == "xdp":
        rc = enter_private_mounts()
        if rc is not None:
            return rc
    failures = []
    work = tempfile.mkdtemp(prefix=f"elb-sd-{args.daemon}-")
    try:
        notify = NotifySocket(os.path.join(work, "notify"))
        {"cp": run_cp, "dp": run_dp, "xdp": run_xdp}[args.daemon](args, work, notify, failures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
