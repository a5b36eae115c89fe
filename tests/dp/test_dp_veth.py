#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-dp owning a veth through net_af_xdp, as it owns a NIC on a node.

Topology (made here, removed in all cases): a network namespace "client",
which also plays the gateway, joined by a veth pair to this namespace,
whose end is driven by edgelb-dp (net_af_xdp: the kernel no longer sees its
packets). The node's own address 198.51.100.1 lives on edgelb-dp's TAP
interface. Checks:
  - the node stays reachable while DPDK owns the interface: ping and a TCP
    connection from the client to the node's address, through the
    exception path (DPDK -> TAP -> kernel -> TAP -> DPDK);
  - a TCP SYN from the client to the VIP comes back to the gateway (the
    client's veth) encapsulated: Ethernet port MAC -> gateway MAC, IPv4
    198.51.100.1 -> the backend, protocol 4, TTL 64, DF as the inner,
    correct checksum, then the client's SYN byte for byte.
Root only (exit 77 otherwise).

The client veth's TX checksum offload is turned off: veth hands frames on
with the checksum still to be done (CHECKSUM_PARTIAL), which AF_XDP passes
on as is; a real NIC delivers complete checksums.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "replay"))
from replaylib import csum  # noqa: E402  (the tests' shared helpers)

TAG = f"elb{os.getpid() % 100000}"
NS, VETH_LB, VETH_CL, TAP_PREFIX = f"{TAG}c", f"{TAG}l", f"{TAG}p", f"{TAG}t"
NODE, CLIENT, VIP, BACKEND = "198.51.100.1", "198.51.100.2", "10.0.0.10", "10.200.0.1"
FAILURES = []

# Runs inside the client namespace: connect to the VIP and catch the
# encapsulated SYN that the balancer sends back to the gateway.
CATCH_SYN = r'''
import json, socket, threading, time
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
raw.bind((IFACE, 0))
raw.settimeout(5)
def connect():
    try:
        socket.create_connection((VIP, 80), timeout=2)
    except OSError:
        pass  # no backend answers here; the SYN is what counts
threading.Thread(target=connect, daemon=True).start()
deadline = time.time() + 5
while time.time() < deadline:
    frame, addr = raw.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    if frame[12:14] == b"\x08\x00" and frame[23] == 4:
        print(json.dumps({"frame": frame.hex()}))
        break
'''


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def sh(*cmd, ns=None, check_rc=True, **kw):
    full = (["ip", "netns", "exec", NS] if ns else []) + list(cmd)
    return subprocess.run(full, check=check_rc, text=True, capture_output=True, **kw)


def setup():
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", VETH_LB, "type", "veth", "peer", "name", VETH_CL)
    sh("ip", "link", "set", VETH_CL, "netns", NS)
    sh("ip", "link", "set", VETH_LB, "up")
    sh("ip", "link", "set", "lo", "up", ns=True)
    sh("ip", "link", "set", VETH_CL, "up", ns=True)
    sh("ip", "addr", "add", f"{CLIENT}/24", "dev", VETH_CL, ns=True)
    sh("ip", "route", "add", f"{VIP}/32", "via", NODE, ns=True)
    sh("ethtool", "-K", VETH_CL, "tx", "off", ns=True)
    return sh("cat", f"/sys/class/net/{VETH_CL}/address", ns=True).stdout.strip()


def teardown():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "link", "del", VETH_LB], capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dp", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (namespaces, veth, AF_XDP)")
        return 77
    tmp = tempfile.mkdtemp(prefix="elb-dp-veth-")
    sock, cfg = os.path.join(tmp, "dp.sock"), os.path.join(tmp, "config.json")
    dp = None
    try:
        gateway_mac = setup()
        with open(cfg, "w") as f:
            json.dump({"node": {"source_v4": NODE, "gateway_mac": gateway_mac},
                       "vips": [{"address": VIP, "port": 80, "protocol": "tcp",
                                 "backends": [{"address": BACKEND}]}]}, f)
        dp = subprocess.Popen(
            [args.dp, "-l", "0-1", "--no-huge", "-m", "512", "--no-pci",
             f"--file-prefix={TAG}", "--log-level=error",
             "--vdev", f"net_af_xdp0,iface={VETH_LB}", "--",
             "--config", cfg, "--socket", sock, "--flows", "65536",
             "--kernel-iface", TAP_PREFIX],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        while not os.path.exists(sock) and time.time() < deadline and dp.poll() is None:
            time.sleep(0.2)
        check(os.path.exists(sock), "edgelb-dp is up on the veth (net_af_xdp)")
        tap = f"{TAP_PREFIX}0"
        sh("ip", "addr", "add", f"{NODE}/24", "dev", tap)
        sh("ip", "link", "set", tap, "up")
        port_mac = open(f"/sys/class/net/{tap}/address").read().strip()

        ping = sh("ping", "-c", "3", "-W", "2", NODE, ns=True, check_rc=False)
        check(ping.returncode == 0, "ping to the node's own address through the exception path")

        server = subprocess.Popen([sys.executable, "-c", (
            "import socket\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('{NODE}', 2222)); s.listen(1); s.settimeout(15)\n"
            "c, _ = s.accept(); c.sendall(b'node here'); c.close()\n")])
        time.sleep(0.5)
        reply = sh(sys.executable, "-c",
                   f"import socket; print(socket.create_connection(('{NODE}', 2222), "
                   "timeout=5).recv(64).decode())", ns=True, check_rc=False)
        server.wait(timeout=20)
        check(reply.stdout.strip() == "node here", "TCP connection to the node's own address")

        caught = sh(sys.executable, "-c",
                    f"IFACE={VETH_CL!r}; VIP={VIP!r}\n" + CATCH_SYN, ns=True, check_rc=False)
        frames = [json.loads(l)["frame"] for l in caught.stdout.splitlines() if l.startswith("{")]
        check(len(frames) == 1, "the SYN to the VIP came back to the gateway encapsulated")
        if frames:
            f = bytes.fromhex(frames[0])
            outer, inner = f[14:34], f[34:]
            check(f[0:6] == bytes.fromhex(gateway_mac.replace(":", "")), "to the gateway's MAC")
            check(f[6:12] == bytes.fromhex(port_mac.replace(":", "")), "from the port's MAC")
            check(outer[0] == 0x45 and outer[8] == 64 and outer[9] == 4, "IPv4, TTL 64, IPIP")
            check(outer[12:16] == bytes(map(int, NODE.split("."))), "outer source: the node")
            check(outer[16:20] == bytes(map(int, BACKEND.split("."))), "outer destination: the backend")
            check(csum(outer) == 0, "outer header checksum correct")
            check(int.from_bytes(outer[2:4], "big") == 20 + len(inner), "outer total length")
            check((outer[6] & 0x40) == (inner[6] & 0x40), "DF copied from the inner packet")
            check(inner[9] == 6 and inner[33] & 0x3f == 0x02 and
                  inner[12:16] == bytes(map(int, CLIENT.split("."))) and
                  inner[16:20] == bytes(map(int, VIP.split("."))),
                  "inner: the client's SYN to the VIP, unchanged")
    finally:
        if dp is not None:
            dp.send_signal(signal.SIGTERM)
            try:
                dp.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                dp.kill()
                dp.communicate()
        teardown()
    check(dp is not None and dp.returncode == 0, "SIGTERM: exit status 0")
    print(f"{len(FAILURES)} check(s) failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
