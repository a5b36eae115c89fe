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
Root only (skipped otherwise). Run by pytest (--dp).

The client veth's TX checksum offload is turned off: veth hands frames on
with the checksum still to be done (CHECKSUM_PARTIAL), which AF_XDP passes
on as is; a real NIC delivers complete checksums.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from edgelb_testlib import netns
from edgelb_testlib.checks import Checker
from edgelb_testlib.csum import checksum
from edgelb_testlib.netns import sh
from edgelb_testlib.proc import stop_and_collect
from edgelb_testlib.pytest_plugin import require_root

TAG = f"elb{os.getpid() % 100000}"
NS, VETH_LB, VETH_CL, TAP_PREFIX = f"{TAG}c", f"{TAG}l", f"{TAG}p", f"{TAG}t"
NODE, CLIENT, VIP, BACKEND = "198.51.100.1", "198.51.100.2", "10.0.0.10", "10.200.0.1"

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


def ipv4(text):
    return bytes(map(int, text.split(".")))


@pytest.fixture(scope="module")
def client():
    """The client namespace on the other end of the lb's veth; yields the
    client veth's MAC (the gateway's, for edgelb-dp)."""
    require_root("namespaces, veth, AF_XDP")
    with netns.namespace(NS):
        try:
            netns.veth_pair(VETH_LB, VETH_CL, b_ns=NS)
            sh("ip", "addr", "add", f"{CLIENT}/24", "dev", VETH_CL, ns=NS)
            sh("ip", "route", "add", f"{VIP}/32", "via", NODE, ns=NS)
            sh("ethtool", "-K", VETH_CL, "tx", "off", ns=NS)
            yield sh("cat", f"/sys/class/net/{VETH_CL}/address", ns=NS).stdout.strip()
        finally:
            subprocess.run(["ip", "link", "del", VETH_LB], capture_output=True)


@pytest.fixture(scope="module")
def dp(opts, client, workdir):
    """edgelb-dp on the lb's veth, the node's address on its TAP port;
    yields (process, the port's MAC)."""
    sock, cfg = os.path.join(workdir, "dp.sock"), os.path.join(workdir, "config.json")
    with open(cfg, "w") as f:
        json.dump({"node": {"source_v4": NODE, "gateway_mac": client},
                   "vips": [{"address": VIP, "port": 80, "protocol": "tcp",
                             "backends": [{"address": BACKEND}]}]}, f)
    proc = subprocess.Popen(
        [opts.dp, "-l", "0-1", "--no-huge", "-m", "512", "--no-pci",
         f"--file-prefix={TAG}", "--log-level=error",
         "--vdev", f"net_af_xdp0,iface={VETH_LB}", "--",
         "--config", cfg, "--socket", sock, "--flows", "65536",
         "--kernel-iface", TAP_PREFIX],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while not os.path.exists(sock) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert os.path.exists(sock), "edgelb-dp is up on the veth (net_af_xdp)"
        tap = f"{TAP_PREFIX}0"
        sh("ip", "addr", "add", f"{NODE}/24", "dev", tap)
        sh("ip", "link", "set", tap, "up")
        with open(f"/sys/class/net/{tap}/address") as f:
            port_mac = f.read().strip()
        yield proc, port_mac
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_ping_to_the_node_through_the_exception_path(dp):
    ping = sh("ping", "-c", "3", "-W", "2", NODE, ns=NS, check=False)
    assert ping.returncode == 0, \
        f"ping to the node's own address through the exception path: {ping.stdout}"


def test_tcp_to_the_node_through_the_exception_path(dp):
    server = subprocess.Popen([sys.executable, "-c", (
        "import socket\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('{NODE}', 2222)); s.listen(1); s.settimeout(15)\n"
        "c, _ = s.accept(); c.sendall(b'node here'); c.close()\n")])
    time.sleep(0.5)
    reply = sh(sys.executable, "-c",
               f"import socket; print(socket.create_connection(('{NODE}', 2222), "
               "timeout=5).recv(64).decode())", ns=NS, check=False)
    server.wait(timeout=20)
    assert reply.stdout.strip() == "node here", \
        f"TCP connection to the node's own address: {reply.stdout!r} {reply.stderr!r}"


@pytest.fixture(scope="module")
def syn(dp):
    """The client's SYN to the VIP as it came back to the gateway, or None."""
    caught = sh(sys.executable, "-c",
                f"IFACE={VETH_CL!r}; VIP={VIP!r}\n" + CATCH_SYN, ns=NS, check=False)
    frames = [json.loads(l)["frame"] for l in caught.stdout.splitlines() if l.startswith("{")]
    assert len(frames) == 1, "the SYN to the VIP came back to the gateway encapsulated"
    return bytes.fromhex(frames[0])


def test_encapsulated_to_the_gateway_from_the_port(syn, client, dp):
    ck = Checker()
    ck.check(syn[0:6] == bytes.fromhex(client.replace(":", "")), "to the gateway's MAC")
    ck.check(syn[6:12] == bytes.fromhex(dp[1].replace(":", "")), "from the port's MAC")
    ck.assert_passed()


def test_outer_header(syn):
    outer, inner = syn[14:34], syn[34:]
    ck = Checker()
    ck.check(outer[0] == 0x45 and outer[8] == 64 and outer[9] == 4, "IPv4, TTL 64, IPIP")
    ck.check(outer[12:16] == ipv4(NODE), "outer source: the node")
    ck.check(outer[16:20] == ipv4(BACKEND), "outer destination: the backend")
    ck.check(checksum(outer) == 0, "outer header checksum correct")
    ck.check(int.from_bytes(outer[2:4], "big") == 20 + len(inner), "outer total length")
    ck.check((outer[6] & 0x40) == (inner[6] & 0x40), "DF copied from the inner packet")
    ck.assert_passed()


def test_inner_packet_unchanged(syn):
    inner = syn[34:]
    assert (inner[9] == 6 and inner[33] & 0x3f == 0x02 and inner[12:16] == ipv4(CLIENT)
            and inner[16:20] == ipv4(VIP)), "inner: the client's SYN to the VIP, unchanged"


def test_sigterm_exits_0(dp):
    proc = dp[0]
    stop_and_collect(proc)
    assert proc.returncode == 0, f"SIGTERM: exit status {proc.returncode}"
