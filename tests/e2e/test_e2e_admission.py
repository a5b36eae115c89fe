# SPDX-License-Identifier: BSD-3-Clause
"""Admission control end to end: real TCP clients beside a SYN flood from
another namespace, through edgelb-dp (issue 18).

tools/netns-topology builds client, router, lb and three backends, as for
tests/e2e/test_e2e.py. The IPv4 VIP 203.0.113.10:80/tcp has a new-flow
budget of BUDGET_PER_S (burst BUDGET_BURST) and a per-/32 limit of new
flows (SOURCE_PER_S, burst SOURCE_BURST). Then, at once:
  - HELD kept-alive HTTP connections from the client, a request every
    HOLD_EVERY_S each, open before the flood and after it;
  - FLOOD_SYNS TCP SYNs to the VIP from the router's namespace, each from
    a source address of its own (100.64.0.0/10, raw socket), at FLOOD_PPS;
  - a burst of BURST new HTTP connections from the client.
Checked: every held connection completes every request on one backend;
every new connection succeeds (in flood mode its SYN is forwarded without
an entry and its handshake's ACK makes one, on the same backend); the VIP
went into flood mode (counters.get: flood.entries, stateless_flows at
least the SYNs above the budget); the flow table did not take the flood
(flows in use far below the SYNs sent). Then, quiet for over a second, a
new connection makes an entry again (flood mode over).
Traffic stays in the namespaces made here. Root only (skipped otherwise).
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from edgelb_testlib import e2e
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import CHECKS, Client, check, start_backend, start_dataplane
from edgelb_testlib.proc import stop_and_collect
from edgelb_testlib.pytest_plugin import adversarial_row, require_root

TAG = f"a{os.getpid() % 100000}"
AGENT_LIFETIME_S = 120
BUDGET_PER_S, BUDGET_BURST = 50, 20
SOURCE_PER_S, SOURCE_BURST = 1000, 400
HELD, HOLD_EVERY_S, HOLD_S = 8, 0.1, 30
FLOOD_SYNS, FLOOD_PPS = 12000, 4000
BURST, BURST_PARALLEL = 100, 4
WEIGHTS = {"b1": 1, "b2": 1, "b3": 2}

# Run in the router's namespace: SYNs from spoofed sources, paced, bounded.
FLOOD = r"""
import random, socket, struct, sys, time
vip, count, pps = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
rng, dst, start = random.Random(7), socket.inet_aton(vip), time.monotonic()
for i in range(count):
    src = struct.pack("!I", 0x64400000 | rng.getrandbits(22))
    sport = 1024 + rng.getrandbits(15)
    tcp = struct.pack("!HHIIBBHHH", sport, 80, rng.getrandbits(32), 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xffff, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.sendto(ip + tcp, (vip, 0))
    delay = start + (i + 1) / pps - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print(count, round(time.monotonic() - start, 3))
"""


def write_config(path, topo):
    backends = [{"address": topo[f"BACKEND{i}_4"], "weight": WEIGHTS[name]}
                for i, name in enumerate(sorted(WEIGHTS), start=1)]
    with open(path, "w") as f:
        json.dump({
            "node": {"source_v4": topo["LB4"], "source_v6": topo["LB6"],
                     "gateway_mac": topo["ROUTER_LB_MAC"]},
            "vips": [{"address": topo["VIP4"], "port": 80, "protocol": "tcp",
                      "admission": {"new_flows_per_s": BUDGET_PER_S,
                                    "new_flow_burst": BUDGET_BURST,
                                    "sources": [{"prefix_len": 32,
                                                 "new_flows_per_s": SOURCE_PER_S,
                                                 "new_flow_burst": SOURCE_BURST}]},
                      "backends": backends}]}, f)


@pytest.fixture(scope="module")
def rig(opts, workdir):
    require_root("namespaces, veth, AF_XDP")
    if opts.dp is None:
        raise pytest.UsageError("needs --dp")
    signal.signal(signal.SIGTERM, lambda *_: pytest.exit("SIGTERM", returncode=1))
    with e2e.topology(TAG, opts.decap, "dpdk") as topo:
        assert topo is not None, "topology up"
        cfg, sock = os.path.join(workdir, "config.json"), os.path.join(workdir, "dp.sock")
        write_config(cfg, topo)
        dp, _ = start_dataplane("dpdk", opts.dp, topo, sock, TAG, config=cfg)
        assert dp is not None, "edgelb-dp up"
        backends = []
        try:
            for i, name in enumerate(sorted(WEIGHTS), start=1):
                backends.append(start_backend(topo, i, name, {5353}, AGENT_LIFETIME_S))
            client = Client(topo["NS_CLIENT"], AGENT_LIFETIME_S)
            try:
                yield {"topo": topo, "sock": sock, "client": client}
            finally:
                client.close()
        finally:
            for p in backends:
                p.kill()
                p.wait()
            out, _ = stop_and_collect(dp)
            print("     edgelb-dp output at exit:\n" + "\n".join(
                "       " + l for l in (out or "").splitlines()[-10:]))


def vip_counters(sock):
    return jsonrpc.call(sock, "counters.get")["counters"]["vips"][0]


def flows_in_use(sock):
    return jsonrpc.call(sock, "counters.get")["counters"]["flow_table"]["in_use"]


def test_clients_beside_a_syn_flood(rig):
    topo, sock, client = rig["topo"], rig["sock"], rig["client"]
    vip = topo["VIP4"]
    held = client.do("hold_start", host=vip, n=HELD, every=HOLD_EVERY_S, seconds=HOLD_S)
    check(all(held.get("first") or [None]), f"{HELD} held connections open")
    time.sleep(0.5)
    in_use_before = flows_in_use(sock)
    flood = subprocess.Popen(["ip", "netns", "exec", topo["NS_ROUTER"], sys.executable, "-c",
                              FLOOD, vip, str(FLOOD_SYNS), str(FLOOD_PPS)],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    burst = client.do("burst", host=vip, n=BURST, parallel=BURST_PARALLEL)
    out, _ = flood.communicate(timeout=60)
    counters = vip_counters(sock)
    in_use = flows_in_use(sock)
    time.sleep(0.5)
    conns = client.do("hold_stop")["connections"]
    f = counters["flood"]
    print(f"     flood: {out.strip()} (SYNs, seconds); flood mode entered {f['entries']} "
          f"time(s), {f['stateless_flows']} new flows forwarded without an entry; flows in "
          f"use {in_use_before} -> {in_use}; new connections {burst['ok']}/{BURST} "
          f"{burst['shares']}; held requests {[c['requests'] for c in conns]}")
    adversarial_row(
        f"SYN flood from spoofed sources ({FLOOD_SYNS} SYNs from another namespace) against a "
        f"VIP with a new-flow budget, real TCP clients beside it (edgelb-dp, namespaces)",
        "every held connection completes every request on its backend; every new connection "
        "succeeds; the VIP enters flood mode and the flow table does not take the flood",
        f"held: {sum(c['requests'] for c in conns)} requests on {len(conns)} connections, "
        f"{sum(len(c['errors']) for c in conns)} errors; new: {burst['ok']}/{BURST} ok; flood "
        f"mode entered {f['entries']} time(s), {f['stateless_flows']} SYNs forwarded without an "
        f"entry; flows in use {in_use_before} -> {in_use}")
    with CHECKS.scope():
        check(flood.returncode == 0 and out.split()[0] == str(FLOOD_SYNS), "the flood was sent")
        check(all(not c["errors"] and len(c["backends"]) == 1 for c in conns),
              "every held connection completed every request on one backend")
        check(burst["ok"] == BURST and burst["failed"] == 0,
              f"{BURST} new connections during the flood all succeeded")
        check(f["entries"] >= 1, "the VIP went into flood mode")
        check(f["stateless_flows"] >= FLOOD_SYNS // 2,
              "most of the flood's SYNs were forwarded without an entry")
        check(in_use - in_use_before < FLOOD_SYNS // 10,
              "the flow table did not take the flood")
        check(counters["drops"]["source_new_flows_limited"] == 0,
              "no source was limited (each spoofed one sent a single SYN)")


def test_flood_mode_ends(rig):
    topo, sock, client = rig["topo"], rig["sock"], rig["client"]
    time.sleep(2.5)  # over a whole window with no new flow
    before = vip_counters(sock)
    r = client.do("burst", host=topo["VIP4"], n=5, parallel=1)
    after = vip_counters(sock)
    with CHECKS.scope():
        check(r["ok"] == 5, "5 new connections after the flood")
        check(after["flood"]["stateless_flows"] == before["flood"]["stateless_flows"],
              "none of them was forwarded without an entry: flood mode is over")
        check(after["flood"]["workers_active"] == 0, "no worker in flood mode")
