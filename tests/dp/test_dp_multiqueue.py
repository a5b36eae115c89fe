# SPDX-License-Identifier: BSD-3-Clause
"""Several workers really share the traffic: edgelb-dp with two workers on a
two-queue port, real TCP and UDP end to end; and a port that cannot spread
flows is reported at start, naming the idle worker.

1. Two workers, two RX queues. tools/netns-topology builds client, router,
   lb and three backends (edgelb-decap, direct server return), as in
   tests/e2e. In the lb namespace edgelb-dp drives a net_tap port with two
   queues, the stand-in for a multi-queue NIC: DPDK 22.11's net_tap
   advertises RSS, and the kernel's tun driver puts each frame the kernel
   sends into the tap on a queue chosen per flow (see plan_rx_queues in
   dataplane/dpdk/dp_port.c). The tap's kernel side and the lb's veth are
   one wire: tc (u32 + mirred) sends what arrives on either out of the
   other. Traffic, all from the client namespace to the VIPs:
     - HELD kept-alive HTTP connections, a request every HOLD_EVERY_S each,
       open from the start to the end;
     - BURST4 and BURST6 new HTTP connections over IPv4 and IPv6;
     - UDP_FLOWS UDP flows (fixed source ports), UDP_ROUNDS exchanges each.
   Then every flow's 5-tuple (TCP: from the client's socket table, `ss`;
   UDP: the ports it sent from) is asked to flow.explain, and checked:
     - every flow has an entry in exactly one worker's table (holders 1);
     - per worker, the flows flow.explain attributes to it equal the
       worker's own counters (counters.get: flows_in_use and new_flows),
       and their sums equal the flows sent: no flow was picked twice;
     - both workers carried traffic (each at least MIN_SHARE of the flows);
   and a backend change under the held connections (backends.set adds b3
   with weight 2, which takes about half the Maglev slots from b1 and b2):
     - every held connection keeps its worker and its backend, also those
       whose Maglev slot moved to b3 (at least one did: the change
       mattered), each flow's entry is used again after the change (its
       expiry moves on), and every held connection completes every
       request with no error or reset, on one backend;
     - new connections after the change reach b3, with no flow re-picked.
2. Two workers on a net_pcap port (one queue, no RSS): edgelb-dp says at
   start, on stderr, that worker 1 (lcore 2) will stay idle and why.

Traffic stays inside the namespaces made here; the topology is removed
afterwards, also after a failure. No timing is asserted: each wait is on a
condition, with a generous deadline. Root only (skipped otherwise). Run by
pytest (--dp, --decap): one test per part, each failing with every failed
check named.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

from edgelb_testlib import e2e
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import (CHECKS, Client, check, start_backend, start_dataplane,
                                stop_process, topology)
from edgelb_testlib.netns import sh, tc_wire
from edgelb_testlib.pcap import write_pcap
from edgelb_testlib.proc import poll_until, stop_and_collect
from edgelb_testlib.pytest_plugin import require_root

TAG = f"mq{os.getpid() % 100000}"
LCORES = "0@0,1@1,2@1"  # main lcore 0, workers on lcores 1 and 2 (this machine has 2 CPUs)
WORKERS = 2
DATA_TAP = "dpq0"       # the kernel side of the data port (net_tap), in the lb namespace
HELD, HOLD_EVERY_S = 24, 0.2
BURST4, BURST6, BURST_PARALLEL, BURST_AFTER = 200, 100, 8, 100
UDP_PORT, UDP_FLOWS, UDP_ROUNDS, UDP_FIRST_SPORT = 5353, 100, 3, 42000
MIN_SHARE = 0.10  # of the flows, per worker: a per-flow hash over 2 queues gives ~50%
LONG_MS = 600000  # flow timeouts: no entry expires during the test
AGENT_LIFETIME_S = 240
DEADLINE_S = 60
FLOW_TICK_NS = 1 << 24  # ELB_FLOW_TICK_SHIFT: the flow table's clock
TIMEOUTS = {"tcp_syn_ms": LONG_MS, "tcp_established_ms": LONG_MS,
            "tcp_closing_ms": LONG_MS, "udp_ms": LONG_MS}

# Runs in the client namespace: UDP_FLOWS sockets on fixed source ports,
# UDP_ROUNDS exchanges each (a datagram resent up to 3 times if its answer
# is late: the machine is loaded, the flow stays the same).
UDP_CLIENT = r'''
import json, socket, sys
client, vip, port, first, n, rounds = sys.argv[1:7]
port, first, n, rounds = int(port), int(first), int(n), int(rounds)
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((client, first + i))
    s.settimeout(2.0)
    socks.append(s)
seen = {first + i: [] for i in range(n)}
lost = 0
for _ in range(rounds):
    for i, s in enumerate(socks):
        for _attempt in range(4):
            s.sendto(b"who", (vip, port))
            try:
                seen[first + i].append(s.recvfrom(2048)[0].decode())
                break
            except socket.timeout:
                continue
        else:
            lost += 1
print(json.dumps({"seen": seen, "lost": lost}))
'''


def backends(topo, names, family=4, weights=None):
    return [{"address": topo[f"BACKEND{int(n[1:])}_{family}"], "weight": (weights or {}).get(n, 1)}
            for n in names]


def config(topo):
    return {
        "node": {"source_v4": topo["LB4"], "source_v6": topo["LB6"],
                 "gateway_mac": topo["ROUTER_LB_MAC"]},
        "vips": [
            {"address": topo["VIP4"], "port": 80, "protocol": "tcp", "timeouts": TIMEOUTS,
             "backends": backends(topo, ["b1", "b2"])},
            {"address": topo["VIP6"], "port": 80, "protocol": "tcp", "timeouts": TIMEOUTS,
             "backends": backends(topo, ["b1", "b2"], 6)},
            {"address": topo["VIP4"], "port": UDP_PORT, "protocol": "udp", "timeouts": TIMEOUTS,
             "backends": backends(topo, ["b1", "b2"])},
        ]}


def dp_argv(binary, sock, cfg):
    return [binary, "--lcores", LCORES, "--no-huge", "-m", "512", "--no-pci",
            f"--file-prefix={TAG}", "--log-level=error",
            "--vdev", f"net_tap0,iface={DATA_TAP}", "--",
            "--socket", sock, "--flows", "65536", "--kernel-iface", e2e.TAP_PREFIX,
            "--config", cfg]


def wire(lb):
    """The data port's kernel side and the lb's veth as one wire: a frame
    arriving on either leaves by the other, untouched (tc ingress, u32 match
    all, mirred redirect). A frame the kernel transmits into the tap is
    what edgelb-dp receives, on the queue the tun driver picks for its flow."""
    sh("sysctl", "-qw", f"net.ipv6.conf.{DATA_TAP}.disable_ipv6=1", ns=lb)
    tc_wire("eth0", DATA_TAP, ns=lb)


def client_flows(topo, vip, states):
    """The client's TCP connections to vip:80 in the given ss states, as
    (src, sport): the kernel's own record of what the client opened."""
    out = sh("ss", "-tanH", ns=topo["NS_CLIENT"]).stdout
    flows = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 5 or f[0] not in states:
            continue
        local, peer = f[3].rsplit(":", 1), f[4].rsplit(":", 1)
        if peer[0].strip("[]") == vip and peer[1] == "80":
            flows.add((local[0].strip("[]"), int(local[1])))
    return flows


def explain(rpc, src, dst, sport, dport, protocol):
    """flow.explain of a 5-tuple; asked again if the flow's bucket kept
    changing while copied (the answer then says "retry")."""
    for _ in range(20):
        try:
            return rpc.call("flow.explain", src=src, dst=dst, sport=sport, dport=dport,
                            protocol=protocol)
        except jsonrpc.RpcError as e:
            if "retry" not in str(e):
                raise
            time.sleep(0.01)
    return rpc.call("flow.explain", src=src, dst=dst, sport=sport, dport=dport,
                    protocol=protocol)


def expiry_tick(ex):
    """The flow-table tick at which the flow's entry expires, from
    flow.explain's now_ns and expires_in_ms (whole ms, rounded down: the
    1 ms interval holds one tick boundary at most, so this is exact)."""
    return math.ceil((ex["now_ns"] + ex["flow"]["expires_in_ms"] * 1000000) / FLOW_TICK_NS)


def workers_counters(rpc):
    return rpc.call("counters.get")["counters"]


def multiqueue(args, topo, tmp):
    cfg, sock = os.path.join(tmp, "config.json"), os.path.join(tmp, "dp.sock")
    log_path = os.path.join(tmp, "dp.log")
    with open(cfg, "w") as f:
        json.dump(config(topo), f)
    lb = topo["NS_LB"]
    with open(log_path, "w") as log:
        dp, _ = start_dataplane("dpdk", args.dp, topo, sock, TAG, log=log,
                                argv=dp_argv(args.dp, sock, cfg))
    if dp is None:
        with open(log_path) as f:
            print(f.read())
        return
    procs = []
    client = None
    try:
        rpc = jsonrpc.Connection(sock)
        status = rpc.call("status.get")["status"]
        port = status["ports"][0]
        print(f"     port {port['name']}: {port['rx_queues']} RX queues, rss {port['rss']}; "
              f"{status['workers']} workers")
        check(status["workers"] == WORKERS and port["rx_queues"] == WORKERS and port["rss"],
              f"net_tap port: {WORKERS} RX queues with RSS, one per worker")
        wire(lb)
        for i, name in enumerate(["b1", "b2", "b3"], start=1):
            procs.append(start_backend(topo, i, name, {UDP_PORT}, AGENT_LIFETIME_S))
        ping = subprocess.run(["ip", "netns", "exec", topo["NS_ROUTER"], "ping", "-c", "1",
                               "-W", "5", topo["LB4"]], capture_output=True)
        check(ping.returncode == 0, "router reaches the node's address (exception path)")
        client = Client(topo["NS_CLIENT"], AGENT_LIFETIME_S)
        traffic(client, rpc, topo)
    finally:
        if client is not None:
            client.close()
        for p in procs:
            p.kill()
            p.wait()
        rc = stop_process(dp)
        with open(log_path) as f:
            output = f.read()
    check(rc == 0, f"edgelb-dp: SIGTERM, exit status {rc}")
    check(re.search(r"port 0 net_tap0 mac \S+, 2 RX queues \(RSS\)", output) is not None,
          "start-up: the net_tap port has 2 RX queues (RSS)")
    check("idle" not in output, "start-up: no worker reported idle")


def traffic(client, rpc, topo):
    vip4, vip6, cl4 = topo["VIP4"], topo["VIP6"], topo["CLIENT4"]

    held = client.do("hold_start", host=vip4, n=HELD, every=HOLD_EVERY_S,
                     seconds=AGENT_LIFETIME_S - 30)
    check(all(held.get("first") or [None]), f"{HELD} held connections open ({held})")
    held_flows = client_flows(topo, vip4, {"ESTAB"})
    check(len(held_flows) == HELD, f"the client's socket table shows {len(held_flows)} "
          f"established connections to {vip4}:80 (== {HELD})")

    bursts = {}
    for vip, n in ((vip4, BURST4), (vip6, BURST6)):
        before = client_flows(topo, vip, {"ESTAB", "TIME-WAIT", "FIN-WAIT-1", "FIN-WAIT-2",
                                          "CLOSE-WAIT", "LAST-ACK", "CLOSING", "SYN-SENT"})
        r = client.do("burst", host=vip, n=n, parallel=BURST_PARALLEL)
        print(f"     TCP to {vip}: {r['ok']}/{n} connections in {r['seconds']} s, "
              f"shares {r['shares']}, errors {r['errors']}")
        check(r["ok"] == n and r["failed"] == 0, f"{n} HTTP connections to {vip}:80")
        after = client_flows(topo, vip, {"ESTAB", "TIME-WAIT", "FIN-WAIT-1", "FIN-WAIT-2",
                                         "CLOSE-WAIT", "LAST-ACK", "CLOSING", "SYN-SENT"})
        bursts[vip] = after - before
        check(len(bursts[vip]) == n, f"{len(bursts[vip])} new client sockets to {vip}:80 (== {n})")

    udp = sh(sys.executable, "-c", UDP_CLIENT, cl4, vip4, UDP_PORT, UDP_FIRST_SPORT, UDP_FLOWS,
             UDP_ROUNDS, ns=topo["NS_CLIENT"], timeout=300)
    u = json.loads(udp.stdout)
    answered = sum(len(v) for v in u["seen"].values())
    one_backend = sum(1 for v in u["seen"].values() if len(set(v)) == 1)
    print(f"     UDP: {UDP_FLOWS} flows x {UDP_ROUNDS} exchanges: {answered} answered, "
          f"{u['lost']} lost after 3 resends")
    check(answered == UDP_FLOWS * UDP_ROUNDS, "every UDP exchange answered")
    check(one_backend == UDP_FLOWS, f"each UDP flow answered by one backend ({one_backend})")

    # Every flow, asked to the dataplane: which worker holds it, and only one.
    flows = ([(src, vip4, sport, 80, "tcp", "held") for src, sport in sorted(held_flows)] +
             [(src, vip4, sport, 80, "tcp", "tcp4") for src, sport in sorted(bursts[vip4])] +
             [(src, vip6, sport, 80, "tcp", "tcp6") for src, sport in sorted(bursts[vip6])] +
             [(cl4, vip4, UDP_FIRST_SPORT + i, UDP_PORT, "udp", "udp")
              for i in range(UDP_FLOWS)])
    per_worker = [0] * WORKERS
    per_kind = {}
    bad, held_before = [], {}
    for src, dst, sport, dport, proto, kind in flows:
        ex = explain(rpc, src, dst, sport, dport, proto)
        f = ex["flow"]
        if not (f["found"] and f["holders"] == 1 and 0 <= f["worker"] < WORKERS):
            bad.append((kind, src, sport, f))
            continue
        per_worker[f["worker"]] += 1
        per_kind.setdefault(kind, [0] * WORKERS)[f["worker"]] += 1
        if kind == "held":
            held_before[sport] = f
    print(f"     flows per worker (flow.explain): {per_worker}, by kind {per_kind}")
    check(not bad, f"all {len(flows)} flows held by exactly one worker ({len(bad)} not: "
          f"{bad[:3]})")
    c = workers_counters(rpc)
    in_use = [w["flows_in_use"] for w in c["workers"]]
    new = [w["new_flows"] for w in c["workers"]]
    rx = [w["rx_packets"] for w in c["workers"]]
    print(f"     per worker (counters.get): rx_packets {rx}, new_flows {new}, "
          f"flows_in_use {in_use}; total new_flows {c['new_flows']}, "
          f"flows_repicked {c['flows_repicked']}")
    check(in_use == per_worker, f"each worker's flows_in_use {in_use} == its flows {per_worker}")
    check(new == per_worker, f"each worker's new_flows {new} == its flows {per_worker}: "
          "no flow picked by two workers")
    check(c["new_flows"] == len(flows), f"new_flows {c['new_flows']} == flows sent {len(flows)}")
    check(all(n >= MIN_SHARE * len(flows) for n in per_worker) and all(x > 0 for x in rx),
          f"both workers carried traffic (each >= {MIN_SHARE:.0%} of the flows)")
    held_workers = sorted({f["worker"] for f in held_before.values()})
    check(held_workers == list(range(WORKERS)),
          f"held connections on every worker ({held_workers})")

    backend_change(client, rpc, topo, held_before)


def backend_change(client, rpc, topo, held_before):
    vip4, cl4 = topo["VIP4"], topo["CLIENT4"]
    # b3 with weight 2 takes about half the slots: a held connection's slot
    # moves with probability 1/2, so some of HELD do (all but certainly).
    change = rpc.call("backends.set", address=vip4, port=80, protocol="tcp",
                      backends=backends(topo, ["b1", "b2", "b3"], weights={"b3": 2}))
    check(change["changed"], f"backends.set adds b3 (weight 2) under {HELD} held connections "
          f"(epoch {change['epoch']})")
    b3 = topo["BACKEND3_4"]

    # Right after the change, and again until each flow's entry has been
    # used since (its expiry moved on): same worker, same backend, one holder.
    after_change = {sport: explain(rpc, cl4, vip4, sport, 80, "tcp") for sport in held_before}
    moved = [s for s, ex in after_change.items() if ex["maglev"]["backend"] == b3]
    print(f"     after the change: {len(moved)} of {HELD} held connections have their Maglev "
          "slot on b3 now")
    check(len(moved) >= 1, "the change moved the Maglev slot of held connections")
    pending, broken = set(held_before), []

    def all_refreshed():
        for sport in sorted(pending):
            ex = explain(rpc, cl4, vip4, sport, 80, "tcp")
            f, f0 = ex["flow"], held_before[sport]
            if not (f["found"] and f["holders"] == 1 and f["worker"] == f0["worker"] and
                    f["backend"] == f0["backend"] and ex["backend"]["address"] == f0["backend"]):
                broken.append((sport, f0, f))
                pending.discard(sport)
            elif expiry_tick(ex) > expiry_tick(after_change[sport]):
                pending.discard(sport)
        return not pending

    waited = poll_until(all_refreshed, DEADLINE_S, step=0.1)
    check(waited is not None and not broken,
          f"every held connection's entry used again after the change, in the same worker, "
          f"to the same backend ({len(pending)} not seen again, {len(broken)} changed: "
          f"{broken[:2]})")

    r = client.do("burst", host=vip4, n=BURST_AFTER, parallel=BURST_PARALLEL)
    print(f"     new connections after the change: {r['ok']}/{BURST_AFTER}, shares {r['shares']}")
    check(r["ok"] == BURST_AFTER and r.get("shares", {}).get("b3", 0) > 0,
          "new connections after the change all succeed, and b3 gets some")

    conns = client.do("hold_stop")["connections"]
    requests = [c["requests"] for c in conns]
    errors = [c["errors"] for c in conns if c["errors"]]
    single = sum(1 for c in conns if len(c["backends"]) == 1)
    print(f"     held connections: requests per connection {min(requests)}..{max(requests)}, "
          f"{len(errors)} with errors {errors[:2]}")
    check(len(conns) == HELD and not errors,
          f"all {HELD} held connections completed every request, no error or reset")
    check(single == HELD, f"each held connection answered by one backend throughout ({single})")
    c = workers_counters(rpc)
    check(c["flows_repicked"] == 0, f"no flow re-picked ({c['flows_repicked']})")


def idle_worker(args, tmp):
    """Two workers, a port with one queue and no RSS: the idle worker is named."""
    empty, out = os.path.join(tmp, "empty.pcap"), os.path.join(tmp, "out.pcap")
    sock, prefix = os.path.join(tmp, "idle.sock"), f"{TAG}i"
    write_pcap(empty, [])  # a pcap header, no packet
    dp = subprocess.Popen(
        [args.dp, "--lcores", LCORES, "--no-huge", "-m", "512", "--no-pci",
         f"--file-prefix={prefix}", "--log-level=error",
         "--vdev", f"net_pcap0,rx_pcap={empty},tx_pcap={out}", "--",
         "--socket", sock, "--flows", "4096", "--kernel-iface", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        up = poll_until(lambda: e2e.dataplane_answers_quietly(sock) or dp.poll() is not None,
                        DEADLINE_S, step=0.1)
        status = jsonrpc.call(sock, "status.get")["status"] if up is not None else None
    finally:
        _, stderr = stop_and_collect(dp)
        rc = dp.returncode
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
    check(status is not None and status["ports"][0]["rx_queues"] == 1 and
          not status["ports"][0]["rss"], "net_pcap port: one RX queue, no RSS")
    lines = [l for l in stderr.splitlines() if "idle" in l or "feeds" in l]
    for line in lines:
        print(f"     {line}")
    check(any(re.fullmatch(r"edgelb-dp: worker 1 \(lcore 2\) will stay idle: no port gives it "
                           r"an RX queue \(net_pcap0: no RSS on the 5-tuple\)", l)
              for l in lines), "stderr names worker 1 (lcore 2) as idle, and why")
    check(any(l.startswith("edgelb-dp: port 0 net_pcap0 feeds worker 0 only (of 2): no RSS")
              for l in lines), "stderr says which worker the port feeds")
    check("worker 0" not in " ".join(l for l in lines if "stay idle" in l),
          "worker 0 is not reported idle")
    check(rc == 0, f"edgelb-dp (net_pcap): SIGTERM, exit status {rc}")


def test_idle_worker_named(opts, workdir):
    require_root("namespaces, TAP interfaces")
    with CHECKS.scope():
        idle_worker(opts, workdir)


def test_two_workers_share_the_traffic(opts, workdir):
    require_root("namespaces, TAP interfaces")
    with CHECKS.scope():
        with topology(TAG, opts.decap, "dpdk") as topo:
            if topo is not None:
                multiqueue(opts, topo, workdir)
