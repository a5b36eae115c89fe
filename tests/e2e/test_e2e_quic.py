# SPDX-License-Identifier: BSD-3-Clause
"""QUIC clients that move to another address keep their server (issue 19),
end to end in namespaces through edgelb-dp or edgelb-xdp (--dataplane;
edgelb-xdp in generic mode on the lb's veth).

No QUIC stack in Debian 12 issues QUIC-LB connection IDs, so the servers
and clients here speak just enough QUIC framing to carry CIDs, built with
edgelb_testlib.quiclb (from the draft, on Python's cryptography):
  - each backend runs a server on the VIP's UDP port 443 (backends answer
    clients directly: direct server return) that answers a client's Initial
    with a Handshake packet whose Source CID is a fresh CID carrying its own
    server ID (config 1: single-pass AES, the key below), and every 1-RTT
    packet with its name;
  - each client, from the client namespace's first address, sends an
    Initial (its own random DCID: routed by the 5-tuple), takes the server's
    CID from the answer, sends 1-RTT packets with it, then moves: a socket
    on a second address of the client namespace and another port (a phone
    leaving Wi-Fi), and sends 1-RTT packets with the same CID and with a
    second CID of the same server it asked for.
Checks: every answer of every connection, before and after the move, comes
from the server that answered its Initial; and the move mattered: an
Initial from the new address and port (routed by the 5-tuple, as a
balancer without QUIC-LB routes everything) reaches another server for at
least one of the connections. The dataplane's counters.get shows the
packets routed by CID. Root only (namespaces, veth, AF_XDP).
"""
import json
import os
import signal
import subprocess
import sys

import pytest

from edgelb_testlib import e2e
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import DATAPLANE, check, start_dataplane
from edgelb_testlib.proc import stop_and_collect
from edgelb_testlib.pytest_plugin import print_past_capture, require_root

TAG = f"q{os.getpid() % 100000}"
NAMES = ("b1", "b2", "b3")
PORT = 443
KEY = "8f95f09245765f80256934e50c66207f"
SID_LEN, NONCE_LEN = 2, 14  # 16 octets: the single-pass algorithm
CONNECTIONS, PACKETS = 12, 5
MOVED_ADDRESS = "198.51.100.77"  # a second address in the client's /24
LIFETIME_S = 60
PYLIB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pylib")

# A backend's server, in its namespace: argv = name, VIP, server ID (hex).
SERVER = r"""
import random, socket, sys, threading, time
from edgelb_testlib.quiclb import QUIC_V1, encode_cid, long_packet
name, vip, sid, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
nonce_len, lifetime = int(sys.argv[5]), float(sys.argv[6])
threading.Timer(lifetime, lambda: __import__("os")._exit(0)).start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((vip, int(sys.argv[7])))
rng = random.Random(name)
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    if data[0] & 0x80:  # a long header: the client's Initial, or a request for a CID
        cid = encode_cid(1, sid, rng.randbytes(nonce_len), key)
        s.sendto(long_packet(rng, QUIC_V1, "handshake", data[6:6 + data[5]], cid, 0) +
                 b"|" + name.encode(), peer)
    else:  # 1-RTT: who answers
        s.sendto(b"\x40" + name.encode(), peer)
"""

# The clients, in the client namespace: argv = VIP, port, first address,
# moved address, connections, packets per phase. Prints one JSON line.
CLIENT = r"""
import json, random, socket, sys
from edgelb_testlib.quiclb import QUIC_V1, long_packet, short_packet
vip, port, first, moved = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
conns, packets = int(sys.argv[5]), int(sys.argv[6])
rng = random.Random(19)

def sock(addr, sport):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, sport))
    s.settimeout(2.0)
    return s

def handshake(s):
    # An Initial with a DCID the client chose: the answer names the server
    # and carries the CID it chose (the Handshake's Source CID).
    s.sendto(long_packet(rng, QUIC_V1, "initial", rng.randbytes(8), rng.randbytes(8)),
             (vip, port))
    data = s.recvfrom(2048)[0]
    head, name = data.rsplit(b"|", 1)
    dcid_len = head[5]
    scid_len = head[6 + dcid_len]
    return name.decode(), head[7 + dcid_len:7 + dcid_len + scid_len]

def one_rtt(s, cid):
    names = []
    for _ in range(packets):
        s.sendto(short_packet(rng, cid), (vip, port))
        try:
            names.append(s.recvfrom(2048)[0][1:].decode())
        except OSError as e:
            names.append("error: %s" % e)
    return names

out = []
for c in range(conns):
    a = sock(first, 40000 + c)
    server, cid = handshake(a)
    before = one_rtt(a, cid)
    _, cid2 = handshake(a)  # a second CID of its server (as NEW_CONNECTION_ID would give)
    b = sock(moved, 50000 + c)
    after = one_rtt(b, cid) + one_rtt(b, cid2)
    # Where the 5-tuple alone sends the moved path: an Initial from it.
    c2 = sock(moved, 51000 + c)
    by_tuple, _ = handshake(c2)
    for x in (a, b, c2):
        x.close()
    out.append({"server": server, "before": before, "after": after, "by_5tuple": by_tuple})
print(json.dumps(out), flush=True)
"""


def ns_python(ns, script, *args, **kw):
    env = dict(os.environ, PYTHONPATH=PYLIB)
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", script,
                             *[str(a) for a in args]], env=env, text=True, **kw)


@pytest.fixture(scope="module")
def rig(opts, workdir):
    kind = opts.dataplane or "dpdk"
    binary = opts.dp if kind == "dpdk" else opts.xdp
    require_root("namespaces, veth, AF_XDP or XDP")
    if binary is None:
        raise pytest.UsageError(f"--dataplane {kind} needs --{'dp' if kind == 'dpdk' else 'xdp'}")
    signal.signal(signal.SIGTERM, lambda *_: pytest.exit("SIGTERM", returncode=1))
    with e2e.topology(TAG, opts.decap, kind) as topo:
        assert topo is not None, "topology up"
        cfg, sock = os.path.join(workdir, "config.json"), os.path.join(workdir, "dp.sock")
        with open(cfg, "w") as f:
            json.dump({
                "node": {"source_v4": topo["LB4"], "source_v6": topo["LB6"],
                         "gateway_mac": topo["ROUTER_LB_MAC"]},
                "vips": [{"address": topo["VIP4"], "port": PORT, "protocol": "udp",
                          "quic": {"server_id_length": SID_LEN,
                                   "configs": [{"id": 1, "nonce_length": NONCE_LEN,
                                                "key": KEY}]},
                          "backends": [{"address": topo[f"BACKEND{i}_4"],
                                        "quic_server_id": "01%02x" % i}
                                       for i in range(1, len(NAMES) + 1)]}]}, f)
        dp, _ = start_dataplane(kind, binary, topo, sock, TAG, config=cfg)
        assert dp is not None, f"{DATAPLANE[kind]} up"
        servers = []
        try:
            for i, name in enumerate(NAMES, start=1):
                p = ns_python(topo[f"BACKEND{i}_NS"], SERVER, name, topo["VIP4"], "01%02x" % i,
                              KEY, NONCE_LEN, LIFETIME_S, PORT, stdout=subprocess.PIPE)
                servers.append(p)
                check(p.stdout.readline().strip() == "ready", f"QUIC server {name} ready")
            subprocess.run(["ip", "-n", topo["NS_CLIENT"], "addr", "add", MOVED_ADDRESS + "/24",
                            "dev", "eth0"], check=True)
            yield {"topo": topo, "sock": sock}
        finally:
            for p in servers:
                p.kill()
                p.wait()
            out, _ = stop_and_collect(dp)
            print(f"     {DATAPLANE[kind]} output at exit:\n" + "\n".join(
                "       " + l for l in (out or "").splitlines()[-10:]))


def test_moved_clients_keep_their_server(rig):
    topo, sock = rig["topo"], rig["sock"]
    client = ns_python(topo["NS_CLIENT"], CLIENT, topo["VIP4"], PORT, topo["CLIENT4"],
                       MOVED_ADDRESS, CONNECTIONS, PACKETS, stdout=subprocess.PIPE)
    out, _ = client.communicate(timeout=120)
    assert client.returncode == 0, f"client exited {client.returncode}"
    conns = json.loads(out)
    counters = jsonrpc.call(sock, "counters.get")["counters"]["vips"][0]
    moved_elsewhere = sum(c["by_5tuple"] != c["server"] for c in conns)
    servers = sorted({c["server"] for c in conns})
    print_past_capture(f"     {len(conns)} connections on {servers}; the 5-tuple would have "
                       f"moved {moved_elsewhere} of them; quic counters {counters.get('quic')}")
    for c in conns:
        assert c["before"] == [c["server"]] * PACKETS, c
        assert c["after"] == [c["server"]] * (2 * PACKETS), c
    assert moved_elsewhere > 0, "no move changed the 5-tuple's backend: the test shows nothing"
    q = counters.get("quic", {})
    # Per connection: 2 * PACKETS 1-RTT packets before the move (one phase
    # with each CID would be 2; here PACKETS before, 2 * PACKETS after).
    assert q.get("by_cid") == CONNECTIONS * 3 * PACKETS, q
    assert q.get("client_cid") == CONNECTIONS * 3, q
