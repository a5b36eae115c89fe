# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-xdp as a process, on a veth pair.

One end (A) stays in this namespace and gets the agent (--mode generic or
native); the other (B) goes into a network namespace made for the test. In
native mode B gets an XDP program too (XDP_PASS): on veth, frames that a
native program sends with XDP_TX are queued on the peer's XDP ring, and
only a peer with an XDP program of its own has that ring polled (with GRO
alone they wait for unrelated traffic to wake the peer's NAPI). A VIP is
configured over the control socket; UDP packets to it sent into B (raw
AF_PACKET socket) reach A, where the program encapsulates them (IPIP toward
the backend) and sends them back out of A with XDP_TX: they are captured on
B. Traffic that is not for a VIP (ping of A's own address) still works.
SIGTERM detaches the program and the agent exits 0; SIGUSR2 (an upgrade)
exits 0 leaving it attached, and VIP packets sent with no agent running
still come back encapsulated (counted in the pinned maps, as the next agent
reads them). A restart (same state file, same pinned maps) keeps the flows
on their backends: the same packets again create no new flow and re-pick
none. Replacing the backend (its slot
is handed to the new one in the same change) re-picks those flows onto the
new backend. Second chance survives a restart: a TCP VIP with
"second_chance" gets a second backend, the agent restarts over its pinned
maps, and then mid-stream segments (ACKs no flow table has seen) whose
Maglev slot moved to the new backend come back as GUE variant 0 naming
the first backend as alternate (the previous owners read back from the
pinned tables), the others as plain GUE. Prefix lists: prefixes.set over the socket drops
the test's client as source_denied (a node deny), lets it through again
(the VIP's allow overrides), and the lists survive an upgrade's restart.
Everything created is removed at
the end. Root only: skipped otherwise. Run by pytest (--agent, --mode,
--peer-pass-obj): one module fixture makes the veth pair and namespace,
each step of the agent's life is a test, in order.

The test runs in a mount namespace of its own where /sys/fs/bpf is not a
bpffs, as on a host as it comes: the agent, run with its default pin
directory, must mount one itself and say so once (its first start only:
restarts find it), and its stderr carries only its own lines (no libbpf
noise), including the one that says how flows are counted when the
kernel refuses the BPF iterator (lockdown). In native mode, the agent
warns at attach when a veth peer has no XDP program (its XDP_TX frames
would be lost), checked on a second veth pair whose ends both stay here.
"""
import json
import os
import signal
import subprocess
import sys

import pytest

from edgelb_testlib import netns, rpc
from edgelb_testlib.checks import Checker
from edgelb_testlib.netns import sh
from edgelb_testlib.pytest_plugin import require_root

GATEWAY_MAC = "02:00:00:00:00:fe"
VIP = "10.0.0.10"
BACKEND = "10.200.0.1"
BACKEND2 = "10.200.0.2"
PACKETS = 5

# Runs inside the namespace: sends PACKETS UDP frames to the VIP through B
# and reports what comes back encapsulated.
PROBE = r'''
import json, socket, sys, time
from edgelb_testlib.frames import udp4_frame
ifname, dst_mac, vip, backend, n = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
for i in range(n):
    s.send(udp4_frame(dst_mac, src_mac, "10.98.0.2", vip, 40000 + i, 80,
                      b"edgelb-xdp-test %d" % i, ident=i))
got, deadline = [], time.time() + 3
s.settimeout(0.2)
while time.time() < deadline and len(got) < n:
    try:
        frame, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING or frame[12:14] != b"\x08\x00":
        continue
    outer = frame[14:]
    if outer[9] == 4 and outer[16:20] == socket.inet_aton(backend):
        got.append({"dst_mac": frame[0:6].hex(), "src_mac": frame[6:12].hex(),
                    "outer_src": socket.inet_ntoa(outer[12:16]),
                    "inner_dst": socket.inet_ntoa(outer[36:40])})
print(json.dumps(got))
'''


SC_PORT = 443
SC_PROBES = 64
GUE_PORT = 6080  # the node's default gue_port

# Runs inside the namespace: sends SC_PROBES TCP ACKs (mid-stream: no SYN
# before) to the VIP's port SC_PORT through B and reports each GUE frame
# that comes back: outer destination, GUE byte 0, and for variant 0 the
# private data (magic, type, hops, family) and the alternate.
PROBE_TCP = r'''
import json, socket, struct, sys, time
from edgelb_testlib.frames import tcp4_frame
ifname, dst_mac, vip, port, n, gue_port = (sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3],
                                           int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
for i in range(n):
    s.send(tcp4_frame(dst_mac, src_mac, "10.98.0.2", vip, 41000 + i, port, 0x10))
got, deadline = [], time.time() + 3
s.settimeout(0.2)
while time.time() < deadline and len(got) < n:
    try:
        frame, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING or frame[12:14] != b"\x08\x00":
        continue
    outer = frame[14:]
    if outer[9] != 17 or struct.unpack_from("!H", outer, 22)[0] != gue_port:
        continue
    gue = outer[28:]
    g = {"backend": socket.inet_ntoa(outer[16:20]), "gue0": gue[0]}
    if gue[0] >> 6 == 0:
        g.update(proto=gue[1], priv=gue[4:8].hex(), alternate=socket.inet_ntoa(gue[8:12]),
                 inner_dst=socket.inet_ntoa(gue[12 + 16:12 + 20]))
    else:
        g["inner_dst"] = socket.inet_ntoa(gue[16:20])
    got.append(g)
print(json.dumps(got))
'''


def xdp_attached(ifname):
    return "xdp" in sh("ip", "link", "show", "dev", ifname).stdout


def is_bpffs(path):
    return sh("stat", "-f", "-c", "%T", path, check=False).stdout.strip() == "bpf_fs"


def enter_private_mounts():
    """This process in a mount namespace of its own (mounts made here end
    with it) and, there, any bpffs taken off /sys/fs/bpf."""
    netns.enter_private_mount_namespace()
    for _ in range(8):  # mounts may be stacked
        if not is_bpffs("/sys/fs/bpf"):
            break
        sh("umount", "/sys/fs/bpf", check=False)


def kernel_locked_down():
    """integrity or confidentiality, read from securityfs (mounted here if needed)."""
    path = "/sys/kernel/security/lockdown"
    if not os.path.exists(path):
        sh("mount", "-t", "securityfs", "securityfs", "/sys/kernel/security", check=False)
    try:
        with open(path) as f:
            line = f.read()
    except OSError:
        return False
    return "[integrity]" in line or "[confidentiality]" in line


class Rig:
    """The veth pair (A here, B in a namespace of the test's), the agent on
    A, and the checks of its life (failures: every failed check's text)."""

    def __init__(self, opts, work):
        self.args = opts
        tag = self.tag = str(os.getpid() % 100000)
        self.ns, self.a, self.b = "elbxt" + tag, "elbxa" + tag, "elbxb" + tag
        self.work = work
        self.sock = os.path.join(work, "xdp.sock")
        self.state = os.path.join(work, "state.json")
        self.ck = Checker()
        self.failures = self.ck.failures
        self.starts = []
        self.agent = None
        self.cfg = {"node": {"source_v4": "10.98.0.1", "gateway_mac": GATEWAY_MAC},
                    "vips": [{"address": VIP, "port": 80, "protocol": "udp",
                              "backends": [{"address": BACKEND}]}]}

    def setup(self):
        netns.veth_into_namespace(self.a, self.b, self.ns, "10.98.0.1/24", "10.98.0.2/24")
        if self.args.mode == "native":
            sh("ip", "-n", self.ns, "link", "set", "dev", self.b, "xdpdrv", "obj",
               self.args.peer_pass_obj, "program", "floor_pass")
        with open(f"/sys/class/net/{self.a}/address") as f:
            self.a_mac = f.read().strip()

    def teardown(self):
        if self.agent and self.agent.poll() is None:
            self.agent.kill()
            self.agent.wait()
        sh("ip", "link", "del", self.a, check=False)
        sh("ip", "netns", "del", self.ns, check=False)

    def start_agent(self, with_state=True):
        err = open(os.path.join(self.work, f"agent-{len(self.starts)}.err"), "w+")
        proc = subprocess.Popen([self.args.agent, "--iface", self.a, "--mode", self.args.mode,
                                 "--socket", self.sock, "--flows", "4096"] +
                                (["--state", self.state] if with_state else []),
                                stdout=subprocess.PIPE, stderr=err, text=True)
        self.starts.append(err)
        line = proc.stdout.readline()
        print(line.strip())
        if "attached" not in line:
            self.failures.append("agent did not attach: " + line.strip())
        elif not xdp_attached(self.a):
            self.failures.append(f"no XDP program on {self.a} after start")
        elif self.args.mode not in line:
            self.failures.append(f"agent attached in another mode than {self.args.mode}: "
                                 f"{line.strip()}")
        self.agent = proc

    def stop_agent(self, sig=signal.SIGTERM):
        """SIGTERM: exit 0, the program detached; SIGUSR2 (an upgrade):
        exit 0, the program left attached."""
        proc, name = self.agent, signal.Signals(sig).name
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.failures.append(f"agent did not exit within 10 s of {name}")
            rc = None
        print(proc.stdout.read().strip())
        if rc != 0:
            self.failures.append(f"agent exit code {rc} after {name}")
        if xdp_attached(self.a) != (sig == signal.SIGUSR2):
            self.failures.append(f"after {name} the XDP program is "
                                 f"{'still' if xdp_attached(self.a) else 'no longer'} attached "
                                 f"to {self.a}")

    def probe_vip(self, backend=BACKEND, expect=PACKETS):
        # On one CPU: generic XDP runs where the sender runs, and flows are per CPU.
        probe = sh("ip", "netns", "exec", self.ns, "taskset", "-c", "0", sys.executable, "-c",
                   PROBE, self.b, self.a_mac.replace(":", ""), VIP, backend, str(PACKETS),
                   check=False)
        if probe.returncode != 0:
            self.failures.append("probe failed: " + probe.stderr.strip())
            return
        got = json.loads(probe.stdout)
        print(f"{len(got)} of {PACKETS} VIP packets came back encapsulated toward {backend}")
        if len(got) != expect:
            self.failures.append(f"{len(got)} of {PACKETS} encapsulated packets seen on {self.b}, "
                                 f"expected {expect}")
        for g in got:
            if (g["dst_mac"] != GATEWAY_MAC.replace(":", "") or
                    g["src_mac"] != self.a_mac.replace(":", "") or
                    g["outer_src"] != "10.98.0.1" or g["inner_dst"] != VIP):
                self.failures.append(f"unexpected encapsulated frame: {g}")
                break

    def check_counters(self, forwarded, new_flows, repicked=0):
        c = rpc.request(self.sock, "counters.get", timeout=10).get("result", {})
        c = c.get("counters", {})
        seen = (c.get("forwarded", {}).get("packets"), c.get("new_flows"),
                c.get("flows_repicked"))
        print(f"counters: forwarded {seen[0]}, new_flows {seen[1]}, repicked {seen[2]}")
        if seen != (forwarded, new_flows, repicked):
            self.failures.append(f"counters (forwarded, new_flows, repicked) {seen}, "
                                 f"expected {(forwarded, new_flows, repicked)}")


@pytest.fixture(scope="module")
def rig(opts, workdir):
    require_root("XDP, network namespaces")
    if opts.mode == "native" and not opts.peer_pass_obj:
        raise pytest.UsageError("--mode native needs --peer-pass-obj")
    enter_private_mounts()
    assert not is_bpffs("/sys/fs/bpf"), \
        "could not take the bpffs off /sys/fs/bpf in a private mount namespace"
    r = Rig(opts, workdir)
    r.locked_down = kernel_locked_down()
    try:
        r.setup()
        yield r
    finally:
        r.teardown()


def test_first_start_attaches_and_mounts_bpffs(rig):
    with rig.ck.scope():
        rig.start_agent()
        assert not rig.failures, "\n".join(rig.failures)
        check_first_start_stderr(rig.starts[0], rig.locked_down, rig.args.mode == "native",
                                 rpc.request(rig.sock, "status.get", timeout=10), rig.failures)


def test_vip_packets_come_back_encapsulated(rig):
    with rig.ck.scope():
        res = rpc.request(rig.sock, "config.set", {"config": rig.cfg}, timeout=10)
        if "result" not in res:
            rig.failures.append(f"config.set: {res}")
        status = rpc.request(rig.sock, "status.get", timeout=10)
        print("status:", json.dumps(status.get("result", status).get("status")))
        rig.probe_vip()


def test_non_vip_traffic_passes(rig):
    ping = sh("ip", "netns", "exec", rig.ns, "ping", "-c", "2", "-W", "2", "10.98.0.1",
              check=False)
    assert ping.returncode == 0, "non-VIP traffic (ping) does not pass: " + ping.stdout[-200:]


def test_counters_then_sigterm_detaches(rig):
    with rig.ck.scope():
        rig.check_counters(PACKETS, PACKETS)
        rig.stop_agent()


def test_restart_keeps_flows_and_counters(rig):
    with rig.ck.scope():
        print("restart with the same state file and pinned maps:")
        rig.start_agent()
        rig.probe_vip()
        # Counters live in the pinned maps too: they carry on.
        rig.check_counters(2 * PACKETS, PACKETS)


def test_upgrade_exit_leaves_the_program_forwarding(rig):
    with rig.ck.scope():
        # An upgrade's exit: the program stays attached and forwards with
        # no agent at all, on the pinned maps, until the next one replaces it.
        rig.stop_agent(signal.SIGUSR2)
        print("no agent running, the program left attached:")
        rig.probe_vip()


def test_restart_without_state_keeps_the_maps(rig):
    with rig.ck.scope():
        print("restart without a state file: the pinned maps are the state until a config.set:")
        rig.start_agent(with_state=False)
        st = rpc.request(rig.sock, "status.get", timeout=10).get("result", {})
        if st.get("running_state_kept") is not True or st.get("epoch") != 0:
            rig.failures.append(f"restart without state: status {st.get('running_state_kept')}, "
                                f"epoch {st.get('epoch')}; expected the kept state at epoch 0")
        # The agentless packets were counted by the program left attached.
        rig.check_counters(3 * PACKETS, PACKETS)
        rig.probe_vip()
        rig.check_counters(4 * PACKETS, PACKETS)
        # What edgelb-cp sends on connecting: the same config, applied over
        # the kept maps, keeps every flow where it was (no new pick).
        res = rpc.request(rig.sock, "config.set", {"config": rig.cfg}, timeout=10)
        if res.get("result", {}).get("epoch") != 1:
            rig.failures.append(f"config.set after a restart without state: {res}")
        rig.probe_vip()
        rig.check_counters(5 * PACKETS, PACKETS)
        rig.stop_agent()


def test_backend_replaced_repicks_its_flows(rig):
    with rig.ck.scope():
        rig.start_agent()
        print(f"backends.set: {BACKEND} replaced by {BACKEND2}:")
        res = rpc.request(rig.sock, "backends.set",
                          {"address": VIP, "port": 80, "protocol": "udp",
                           "backends": [{"address": BACKEND2}]}, timeout=10)
        if "result" not in res:
            rig.failures.append(f"backends.set: {res}")
        rig.probe_vip(BACKEND2)
        rig.check_counters(6 * PACKETS, 2 * PACKETS, PACKETS)
        rig.stop_agent()


def test_second_chance_survives_restart(rig):
    with rig.ck.scope():
        rig.start_agent()
        tcp_vip = {"address": VIP, "port": SC_PORT, "protocol": "tcp", "encap": "gue",
                   "second_chance": True}
        cfg = dict(rig.cfg, vips=rig.cfg["vips"] + [dict(tcp_vip, backends=[{"address": BACKEND}])])
        res = rpc.request(rig.sock, "config.set", {"config": cfg}, timeout=10)
        if "result" not in res:
            rig.failures.append(f"config.set with a second-chance VIP: {res}")
        print(f"backends.set: {BACKEND2} joins {BACKEND} on {VIP}:{SC_PORT}/tcp")
        res = rpc.request(rig.sock, "backends.set",
                          {"address": VIP, "port": SC_PORT, "protocol": "tcp",
                           "backends": [{"address": BACKEND}, {"address": BACKEND2}]},
                          timeout=10)
        if "result" not in res:
            rig.failures.append(f"backends.set: {res}")
        rig.stop_agent()
        print("restart over the pinned maps:")
        rig.start_agent()
        probe = sh("ip", "netns", "exec", rig.ns, "taskset", "-c", "0", sys.executable, "-c",
                   PROBE_TCP, rig.b, rig.a_mac.replace(":", ""), VIP, str(SC_PORT),
                   str(SC_PROBES), str(GUE_PORT), check=False)
        if probe.returncode != 0:
            rig.failures.append("probe failed: " + probe.stderr.strip())
        else:
            got = json.loads(probe.stdout)
            to_new = [g for g in got if g["backend"] == BACKEND2]
            to_old = [g for g in got if g["backend"] == BACKEND]
            print(f"{len(got)} of {SC_PROBES} mid-stream segments back in GUE: {len(to_new)} to "
                  f"{BACKEND2} (moved slots), {len(to_old)} to {BACKEND}")
            if len(got) != SC_PROBES or not to_new or not to_old:
                rig.failures.append(f"GUE frames back: {len(to_new)} to {BACKEND2}, "
                                    f"{len(to_old)} to {BACKEND} of {SC_PROBES}")
            # Moved slots: variant 0, Hlen 2, proto 4, 0xeb second chance 1 hop IPv4, the
            # alternate the backend before the join. Others: variant 1 (IPv4 inner: 0x45).
            want_new = {"backend": BACKEND2, "gue0": 2, "proto": 4, "priv": "eb010104",
                        "alternate": BACKEND, "inner_dst": VIP}
            bad = [g for g in to_new if g != want_new]
            bad += [g for g in to_old if g != {"backend": BACKEND, "gue0": 0x45, "inner_dst": VIP}]
            if bad:
                rig.failures.append(f"{len(bad)} frames not as expected, e.g. {bad[:2]}")
        rig.stop_agent()


def source_denied(rig):
    """The node's source_denied drops (counters.get)."""
    c = rpc.request(rig.sock, "counters.get", timeout=10).get("result", {}).get("counters", {})
    return c.get("drops", {}).get("source_denied")


def set_prefixes(rig, prefixes):
    res = rpc.request(rig.sock, "prefixes.set", {"prefixes": prefixes}, timeout=10)
    if "result" not in res:
        rig.failures.append(f"prefixes.set {prefixes}: {res}")


def test_prefix_lists_deny_allow_and_survive_restart(rig):
    """prefixes.set through the agent's socket: the node's deny of the
    test's client drops its VIP packets (source_denied), the VIP's allow
    overrides it; after an upgrade's restart (SIGUSR2, same state) the
    lists in force are the ones set."""
    with rig.ck.scope():
        rig.start_agent()
        base = source_denied(rig) or 0
        set_prefixes(rig, {"generation": 1, "node": {"deny": ["10.98.0.0/24"]}})
        print("the node denies 10.98.0.0/24:")
        rig.probe_vip(expect=0)
        if source_denied(rig) != base + PACKETS:
            rig.failures.append(f"source_denied {source_denied(rig)}, expected {base + PACKETS}")
        allow = {"generation": 2, "node": {"deny": ["10.98.0.0/24"]},
                 "vips": [{"address": VIP, "port": 80, "protocol": "udp",
                           "allow": ["10.98.0.2/32"]}]}
        set_prefixes(rig, allow)
        print("the VIP allows 10.98.0.2/32:")
        rig.probe_vip()
        rig.stop_agent(signal.SIGUSR2)
        print("restart over the pinned maps and the state:")
        rig.start_agent()
        got = rpc.request(rig.sock, "prefixes.get", timeout=10).get("result", {})
        if got.get("prefixes", {}).get("generation") != 2:
            rig.failures.append(f"prefixes.get after the restart: {got}")
        rig.probe_vip()
        set_prefixes(rig, {"generation": 3, "node": {"deny": ["10.98.0.0/24"]}})
        rig.probe_vip(expect=0)
        set_prefixes(rig, {"generation": 4})
        rig.probe_vip()
        rig.stop_agent()


def test_restarts_stderr_quiet(rig):
    with rig.ck.scope():
        for err in rig.starts[1:]:
            err.seek(0)
            text = err.read()
            if "mounted a bpffs" in text or "libbpf" in text:
                rig.failures.append(f"a restart's stderr: {text.strip()[:300]}")


def test_native_mode_warns_of_a_peer_without_xdp(rig):
    if rig.args.mode != "native":
        pytest.skip("native mode only")
    with rig.ck.scope():
        check_native_veth_warning(rig.args, rig.tag, rig.work, rig.failures)


def check_first_start_stderr(err, locked_down, native, status, failures):
    """The first start found no bpffs: it mounted one and said so; it says
    how flows are counted if the iterator is refused; nothing of libbpf's."""
    err.seek(0)
    lines = [ln for ln in err.read().splitlines() if ln.strip()]
    print("first start's stderr:", *lines, sep="\n  ")
    if not is_bpffs("/sys/fs/bpf"):
        failures.append("the agent did not mount a bpffs on /sys/fs/bpf")
    if sum("mounted a bpffs on /sys/fs/bpf" in ln for ln in lines) != 1:
        failures.append("the agent did not say once that it mounted a bpffs")
    if any("libbpf" in ln for ln in lines):
        failures.append("libbpf's messages on the agent's stderr")
    st = status.get("result", {}).get("status", {})
    batch_lines = [ln for ln in lines if "flow counts by batch lookup" in ln]
    if locked_down:
        if st.get("flow_count") != "batch_lookup" or "lockdown" not in st.get("flow_count_error", ""):
            failures.append(f"kernel lockdown, status.get says flow_count {st.get('flow_count')}, "
                            f"error {st.get('flow_count_error')!r}")
        if len(batch_lines) != 1 or "lockdown" not in batch_lines[0]:
            failures.append(f"kernel lockdown: expected one line saying counts go by batch lookup "
                            f"because of it, got {batch_lines}")
    else:
        if st.get("flow_count") != "iterator" or batch_lines:
            failures.append(f"no lockdown: flow_count {st.get('flow_count')}, {batch_lines}")
    if st.get("flow_count_thread") is not True:
        failures.append("no counting thread")
    # Native mode here: the peer is in the test's network namespace, out of
    # the agent's sight, and it says so.
    other_ns = [ln for ln in lines if "its peer in another namespace" in ln]
    if len(other_ns) != (1 if native else 0):
        failures.append(f"native mode with the peer elsewhere: warnings {other_ns}")
    expected = 1 + (1 if locked_down else 0) + (1 if native else 0)
    if len(lines) != expected:
        failures.append(f"{len(lines)} lines on the first start's stderr, expected {expected}")


def check_native_veth_warning(args, tag, work, failures):
    """Native mode on a veth whose peer (in this namespace) has no XDP
    program: the agent warns, naming the peer; with XDP_PASS on the peer it
    does not."""
    c, d = "elbxc" + tag, "elbxd" + tag
    sock = os.path.join(work, "native.sock")
    try:
        sh("ip", "link", "add", c, "type", "veth", "peer", "name", d)
        sh("ip", "link", "set", c, "up")
        sh("ip", "link", "set", d, "up")
        for peer_prog in (False, True):
            if peer_prog:
                sh("ip", "link", "set", "dev", d, "xdpdrv", "obj", args.peer_pass_obj,
                   "program", "floor_pass")
            proc = subprocess.Popen([args.agent, "--iface", c, "--mode", "native", "--socket",
                                     sock, "--flows", "1024"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = proc.stdout.readline()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
            warned = [ln for ln in err.splitlines() if "warning" in ln and d in ln]
            print(f"native on {c}, peer {d} {'with' if peer_prog else 'without'} XDP: "
                  f"{warned[0] if warned else 'no warning'}")
            if "attached" not in line:
                failures.append(f"native on {c}: {line.strip()} {err.strip()[:200]}")
            elif peer_prog and warned:
                failures.append(f"warned although the peer has XDP_PASS: {warned}")
            elif not peer_prog and len(warned) != 1:
                failures.append(f"no warning for a veth peer without XDP: {err.strip()[:300]}")
    finally:
        sh("ip", "link", "del", c, check=False)
