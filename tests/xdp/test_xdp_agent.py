#!/usr/bin/env python3
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
new backend. Everything created is removed at
the end. Root only: exits 77 (skipped) otherwise.

The test runs in a mount namespace of its own where /sys/fs/bpf is not a
bpffs, as on a host as it comes: the agent, run with its default pin
directory, must mount one itself and say so once (its first start only:
restarts find it), and its stderr carries only its own lines (no libbpf
noise), including the one that says how flows are counted when the
kernel refuses the BPF iterator (lockdown). In native mode, the agent
warns at attach when a veth peer has no XDP program (its XDP_TX frames
would be lost), checked on a second veth pair whose ends both stay here.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
GATEWAY_MAC = "02:00:00:00:00:fe"
VIP = "10.0.0.10"
BACKEND = "10.200.0.1"
BACKEND2 = "10.200.0.2"
PACKETS = 5

# Runs inside the namespace: sends PACKETS UDP frames to the VIP through B
# and reports what comes back encapsulated.
PROBE = r'''
import json, socket, struct, sys, time
ifname, dst_mac, vip, backend, n = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
src_mac = s.getsockname()[4][:6]
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
for i in range(n):
    payload = b"edgelb-xdp-test %d" % i
    udp = struct.pack("!HHHH", 40000 + i, 80, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                     socket.inet_aton("10.98.0.2"), socket.inet_aton(vip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(dst_mac + src_mac + b"\x08\x00" + ip + udp)
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


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


def rpc(path, method, params=None, rid=1):
    req = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        req["params"] = params
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def xdp_attached(ifname):
    return "xdp" in sh("ip", "link", "show", "dev", ifname).stdout


def is_bpffs(path):
    return sh("stat", "-f", "-c", "%T", path, check=False).stdout.strip() == "bpf_fs"


def enter_private_mounts():
    """Re-run this script in a mount namespace of its own (mounts made there
    end with it) and, there, take any bpffs off /sys/fs/bpf."""
    if os.environ.get("ELB_TEST_PRIVATE_MOUNTS") != "1":
        env = dict(os.environ, ELB_TEST_PRIVATE_MOUNTS="1")
        return subprocess.run(["unshare", "--mount", "--propagation", "private",
                               sys.executable] + sys.argv, env=env).returncode
    for _ in range(8):  # mounts may be stacked
        if not is_bpffs("/sys/fs/bpf"):
            break
        sh("umount", "/sys/fs/bpf", check=False)
    return None


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", required=True)
    ap.add_argument("--mode", choices=("generic", "native"), default="generic")
    ap.add_argument("--peer-pass-obj", help="BPF object with the XDP_PASS program floor_pass, "
                    "attached to the peer in native mode")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("skipped: needs root (XDP, network namespaces)")
        return SKIP
    if args.mode == "native" and not args.peer_pass_obj:
        ap.error("--mode native needs --peer-pass-obj")
    rc = enter_private_mounts()
    if rc is not None:
        return rc
    if is_bpffs("/sys/fs/bpf"):
        print("could not take the bpffs off /sys/fs/bpf in a private mount namespace")
        return 1
    locked_down = kernel_locked_down()

    tag = str(os.getpid() % 100000)
    ns, a, b = "elbxt" + tag, "elbxa" + tag, "elbxb" + tag
    work = tempfile.mkdtemp(prefix="elb-xdp-agent-")
    sock = os.path.join(work, "xdp.sock")
    agent = None
    failures = []
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", b, "netns", ns)
        sh("ip", "addr", "add", "10.98.0.1/24", "dev", a)
        sh("ip", "link", "set", a, "up")
        sh("ip", "-n", ns, "addr", "add", "10.98.0.2/24", "dev", b)
        sh("ip", "-n", ns, "link", "set", b, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        if args.mode == "native":
            sh("ip", "-n", ns, "link", "set", "dev", b, "xdpdrv", "obj", args.peer_pass_obj,
               "program", "floor_pass")
        with open(f"/sys/class/net/{a}/address") as f:
            a_mac = f.read().strip()

        state = os.path.join(work, "state.json")

        starts = []

        def start_agent(with_state=True):
            err = open(os.path.join(work, f"agent-{len(starts)}.err"), "w+")
            proc = subprocess.Popen([args.agent, "--iface", a, "--mode", args.mode,
                                     "--socket", sock, "--flows", "4096"] +
                                    (["--state", state] if with_state else []),
                                    stdout=subprocess.PIPE, stderr=err, text=True)
            starts.append(err)
            line = proc.stdout.readline()
            print(line.strip())
            if "attached" not in line:
                failures.append("agent did not attach: " + line.strip())
            elif not xdp_attached(a):
                failures.append(f"no XDP program on {a} after start")
            elif args.mode not in line:
                failures.append(f"agent attached in another mode than {args.mode}: {line.strip()}")
            return proc

        def stop_agent(proc, sig=signal.SIGTERM):
            """SIGTERM: exit 0, the program detached; SIGUSR2 (an upgrade):
            exit 0, the program left attached."""
            name = signal.Signals(sig).name
            proc.send_signal(sig)
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                failures.append(f"agent did not exit within 10 s of {name}")
                rc = None
            print(proc.stdout.read().strip())
            if rc != 0:
                failures.append(f"agent exit code {rc} after {name}")
            if xdp_attached(a) != (sig == signal.SIGUSR2):
                failures.append(f"after {name} the XDP program is "
                                f"{'still' if xdp_attached(a) else 'no longer'} attached to {a}")

        def probe_vip(backend=BACKEND):
            # On one CPU: generic XDP runs where the sender runs, and flows are per CPU.
            probe = sh("ip", "netns", "exec", ns, "taskset", "-c", "0", sys.executable, "-c",
                       PROBE, b, a_mac.replace(":", ""), VIP, backend, str(PACKETS), check=False)
            if probe.returncode != 0:
                failures.append("probe failed: " + probe.stderr.strip())
                return
            got = json.loads(probe.stdout)
            print(f"{len(got)} of {PACKETS} VIP packets came back encapsulated toward {backend}")
            if len(got) != PACKETS:
                failures.append(f"{len(got)} of {PACKETS} encapsulated packets seen on {b}")
            for g in got:
                if (g["dst_mac"] != GATEWAY_MAC.replace(":", "") or
                        g["src_mac"] != a_mac.replace(":", "") or
                        g["outer_src"] != "10.98.0.1" or g["inner_dst"] != VIP):
                    failures.append(f"unexpected encapsulated frame: {g}")
                    break

        def check_counters(forwarded, new_flows, repicked=0):
            c = rpc(sock, "counters.get", rid=3).get("result", {}).get("counters", {})
            seen = (c.get("forwarded", {}).get("packets"), c.get("new_flows"),
                    c.get("flows_repicked"))
            print(f"counters: forwarded {seen[0]}, new_flows {seen[1]}, repicked {seen[2]}")
            if seen != (forwarded, new_flows, repicked):
                failures.append(f"counters (forwarded, new_flows, repicked) {seen}, "
                                f"expected {(forwarded, new_flows, repicked)}")

        agent = start_agent()
        if failures:
            return 1
        check_first_start_stderr(starts[0], locked_down, args.mode == "native",
                                 rpc(sock, "status.get", rid=9), failures)
        cfg = {"node": {"source_v4": "10.98.0.1", "gateway_mac": GATEWAY_MAC},
               "vips": [{"address": VIP, "port": 80, "protocol": "udp",
                         "backends": [{"address": BACKEND}]}]}
        res = rpc(sock, "config.set", {"config": cfg})
        if "result" not in res:
            failures.append(f"config.set: {res}")
        status = rpc(sock, "status.get", rid=2)
        print("status:", json.dumps(status.get("result", status).get("status")))
        probe_vip()

        ping = sh("ip", "netns", "exec", ns, "ping", "-c", "2", "-W", "2", "10.98.0.1",
                  check=False)
        print("ping of the interface's own address:", "ok" if ping.returncode == 0 else "FAILED")
        if ping.returncode != 0:
            failures.append("non-VIP traffic (ping) does not pass: " + ping.stdout[-200:])
        check_counters(PACKETS, PACKETS)
        stop_agent(agent)

        print("restart with the same state file and pinned maps:")
        agent = start_agent()
        probe_vip()
        # Counters live in the pinned maps too: they carry on.
        check_counters(2 * PACKETS, PACKETS)
        # An upgrade's exit: the program stays attached and forwards with
        # no agent at all, on the pinned maps, until the next one replaces it.
        stop_agent(agent, signal.SIGUSR2)
        print("no agent running, the program left attached:")
        probe_vip()

        print("restart without a state file: the pinned maps are the state until a config.set:")
        agent = start_agent(with_state=False)
        st = rpc(sock, "status.get", rid=5).get("result", {})
        if st.get("running_state_kept") is not True or st.get("epoch") != 0:
            failures.append(f"restart without state: status {st.get('running_state_kept')}, "
                            f"epoch {st.get('epoch')}; expected the kept state at epoch 0")
        # The agentless packets were counted by the program left attached.
        check_counters(3 * PACKETS, PACKETS)
        probe_vip()
        check_counters(4 * PACKETS, PACKETS)
        # What edgelb-cp sends on connecting: the same config, applied over
        # the kept maps, keeps every flow where it was (no new pick).
        res = rpc(sock, "config.set", {"config": cfg}, rid=6)
        if res.get("result", {}).get("epoch") != 1:
            failures.append(f"config.set after a restart without state: {res}")
        probe_vip()
        check_counters(5 * PACKETS, PACKETS)
        stop_agent(agent)
        agent = start_agent()

        print(f"backends.set: {BACKEND} replaced by {BACKEND2}:")
        res = rpc(sock, "backends.set", {"address": VIP, "port": 80, "protocol": "udp",
                                         "backends": [{"address": BACKEND2}]}, rid=4)
        if "result" not in res:
            failures.append(f"backends.set: {res}")
        probe_vip(BACKEND2)
        check_counters(6 * PACKETS, 2 * PACKETS, PACKETS)
        stop_agent(agent)
        for err in starts[1:]:
            err.seek(0)
            text = err.read()
            if "mounted a bpffs" in text or "libbpf" in text:
                failures.append(f"a restart's stderr: {text.strip()[:300]}")
        if args.mode == "native":
            check_native_veth_warning(args, tag, work, failures)
    finally:
        if agent and agent.poll() is None:
            agent.kill()
            agent.wait()
        sh("ip", "link", "del", a, check=False)
        sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)
        for f in failures:
            print("FAIL:", f)
    if failures:
        return 1
    print("PASS")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
