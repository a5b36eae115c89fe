# SPDX-License-Identifier: BSD-3-Clause
"""Issue 16's fleet drills: held TCP downloads survive two edge nodes that
disagree for a while about a backend change, while the ECMP router moves
their flows from one node to the other and back (docs/second-chance.md,
docs/fleet.md).

Each drill builds a fleet of its own: edgelb_testlib.fleet's (node A:
edgelb-dp, node B: edgelb-xdp, each with its own edgelb-cp and BIRD, behind
a BIRD ECMP router), with one more pair of VIPs (the topology's VIP4 and
VIP6 on the drill's port, "encap": "gue", backends b1 and b2, checked as the
fleet's VIPs are) and backends set up to forward to each other
(held.backends_can_forward). Every backend runs held.py's pattern server on
that port: each byte of a download names the backend that sent it.

A drill, on its VIPs (the "newer" node gets the change first, the "older"
one later):
  - CONNECTIONS downloads from the client (half to the v4 VIP, half to the
    v6 one), paced by the client (small SO_RCVBUF, CHUNK bytes every EVERY
    s), so that each is held, its ACKs crossing the balancer, through the
    drill; ECMP spreads them over both nodes (`carried`: the older node's
    flow.explain reports a hit);
  - b3 added on the newer node (backend.add through its edgelb-cp; about a
    third of the slots move to b3: `moved`, from the newer node's Maglev
    pick against the backend the bytes name);
  - the flows move for real: `edgelbctl node drain` on the older node, its
    edgelb-cp withdraws its BGP routes and the router's ECMP route keeps the
    newer node only; every flow the older node carried now reaches the newer
    one, which never saw it (a flow-table miss mid-connection: learned
    mid-stream, the slot's previous owner attached as the alternate). The
    connections at risk (`moved across`) are those carried by the older node
    whose slot moved: the newer node sends them to b3, whose edgelb-decap
    has no socket for them and forwards them to the alternate;
  - b3 added on the older node too, then `edgelbctl node resume`: the router
    spreads again, the flows go back to the older node (its flow table still
    has them);
  - the pacing ends: every download reads the rest at full speed and must
    have every byte, in order, from the backend it started on. A reset is
    ECONNRESET/EPIPE, a timeout, or a short or corrupt transfer.
The drills:
  a. B (edgelb-xdp) newer, A (edgelb-dp) drained: flows go to XDP: 0 resets.
  b. A (edgelb-dp) newer, B (edgelb-xdp) drained: flows go to DPDK: 0 resets.
  c. negative control: drill a with second chance off at the VIPs (today's
     GUE, no alternate): the connections at risk are reset, > 0 of them.
Each prints a FIGURE line: connections, moved, resets, the backends'
edgelb-decap forwarded packets. Root only (skipped otherwise; also without
BIRD). Run by pytest (--dp, --xdp, --cp, --ctl, --decap).
"""
import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import time

import pytest

from edgelb_testlib import held
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import CHECKS
from edgelb_testlib.fleet import BIRD, Fleet, figure, fmt
from edgelb_testlib.proc import poll_until
from edgelb_testlib.pytest_plugin import require_root

TAG = f"fs{os.getpid() % 100000}"  # + the drill's letter: 8 characters at most
# The drill's VIP pair's port (one port per drill: their logs tell them apart).
DRILL_PORTS = {"a": 8081, "b": 8082, "c": 8083}
# A connection is at risk when ECMP put it on the node drained (about 1/2)
# and its Maglev slot moved to b3 (about 1/3; ECMP's and Maglev's hashes are
# independent): 1/6. The chance that none of 64 is at risk (a drill that
# proves nothing, a negative control with no reset) is (5/6)^64 = 8.6e-6.
PER_FAMILY = 32
CONNECTIONS = 2 * PER_FAMILY
# Paced at CHUNK / EVERY = 10 KiB/s per connection: DOWNLOAD_BYTES lasts
# 25 s paced, twice a drill (about 12 s), so every connection is still held
# when the pacing ends (asserted) and the rest, read at full speed, stays
# small (a few MB through the fleet).
DOWNLOAD_BYTES = 256 * 1024
CHUNK, EVERY, RCVBUF = 512, 0.05, 4096
HOLD_BEFORE_S = 1.0    # paced traffic before the change on the newer node
AFTER_CHANGE_S = 1.0   # and before the older node is drained
ON_NEWER_S = 3.0       # every flow on the newer node
AFTER_RESUME_S = 2.0   # flows back on both, before the pacing ends
PUSH_BOUND_S = 15      # b3 healthy and pushed to the node's dataplane within this
DRILL_BUDGET_S = 90
LIFETIME_S = 400       # agents and servers exit after this, whatever happens


def vips(topo, port):
    return [(topo["VIP4"], f"{topo['VIP4']}:{port}/tcp", 4),
            (topo["VIP6"], f"[{topo['VIP6']}]:{port}/tcp", 6)]


def drill_vips(topo, port, second_chance):
    """The drill's VIPs as edgelb-cp reads them (Fleet.extra_vips)."""
    out = []
    for address, _, family in vips(topo, port):
        vip = {"address": address, "port": port, "protocol": "tcp", "encap": "gue",
               "backends": [{"address": topo[f"BACKEND{i}_{family}"]} for i in (1, 2)]}
        if second_chance:
            vip["second_chance"] = True
        out.append(vip)
    return out


@contextlib.contextmanager
def drill_fleet(opts, workdir, letter):
    """A fleet of the drill's own (a drill starts from fresh nodes), with
    its VIPs, pattern servers and forwarding backends, both nodes
    announcing, and the held-download agent on its client: (fleet, agent).
    Everything torn down on leaving."""
    require_root("namespaces, XDP, DPDK EAL")
    if not os.access(BIRD, os.X_OK):
        pytest.skip(f"{BIRD} missing (Debian package bird2: tools/install-deps)")
    # meson ends a test that overruns with SIGTERM: clean up as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: pytest.exit("SIGTERM", returncode=1))
    work = os.path.join(workdir, letter)
    os.makedirs(work)
    f = Fleet(opts, work, TAG + letter)
    try:
        assert f.build(), "the fleet's namespaces and links"
        topo, port = f.topo, DRILL_PORTS[letter]
        f.extra_vips = drill_vips(topo, port, second_chance=letter != "c")
        held.backends_can_forward(topo)
        for i in (1, 2, 3):
            server = held.start_server(topo[f"BACKEND{i}_NS"], f"b{i}", port, LIFETIME_S,
                                       [topo["VIP4"], topo["VIP6"]])
            assert server is not None, f"pattern server on b{i}"
            f.backends[f"b{i}-held"] = server  # stopped by f.teardown()
        f.start()
        a, b = f.nodes["a"], f.nodes["b"]
        for family in (4, 6):
            want = {a.addr, b.addr} if family == 4 else {a.addr6, b.addr6}
            assert f.wait_hops(want, 30, family=family) is not None, \
                f"router: v{family} ECMP route via both nodes ({sorted(f.next_hops(family))})"
        for n in (a, b):
            assert wait_pushed(n, topo, port, 2), f"node {n.name}: b1 and b2 up"
        agent = held.start_agent(topo["NS_CLIENT"], LIFETIME_S)
        try:
            yield f, agent
        finally:
            agent.close()
    finally:
        f.teardown()


def pushed(node, topo, port):
    """How many backends of the drill's v4 and v6 VIPs node's edgelb-cp has
    up and pushed to its dataplane: [v4, v6]."""
    names = [name for _, name, _ in vips(topo, port)]
    counts = {name: 0 for name in names}
    for v in jsonrpc.call(node.cp_sock, "health.get")["vips"]:
        if v["vip"] in counts:
            counts[v["vip"]] = sum(b["health"] == "up" and b["pushed"]
                                   for b in v["backend_health"])
    return [counts[name] for name in names]


def wait_pushed(node, topo, port, n):
    return poll_until(lambda: pushed(node, topo, port) == [n, n], PUSH_BOUND_S, 0.05) is not None


def add_b3(fleet, node, port):
    """backend.add of b3 to both of the drill's VIPs on node's edgelb-cp;
    returns once it is up and in the node's dataplane."""
    topo = fleet.topo
    for address, _, family in vips(topo, port):
        jsonrpc.call(node.cp_sock, "backend.add", address=address, port=port, protocol="tcp",
                     backend=topo[f"BACKEND3_{family}"])
    assert wait_pushed(node, topo, port, 3), \
        f"node {node.name}: b3 up and pushed on port {port} ({pushed(node, topo, port)})"


def holder_address(topo, conn):
    family = 6 if ":" in conn["host"] else 4
    return topo[f"BACKEND{int(conn['backend'][1:])}_{family}"]


def same_address(x, y):
    return x is not None and y is not None and ipaddress.ip_address(x) == ipaddress.ip_address(y)


def explain(fleet, node, conn):
    """edgelbctl explain of the connection's next ACK on node (None when
    it did not answer)."""
    try:
        return node.explain(fleet.args.ctl, conn["src"], conn["sport"], conn["host"],
                            conn["port"])
    except (RuntimeError, ValueError, subprocess.TimeoutExpired):
        return None


def move_flows(fleet, verb, node, want, what):
    """`edgelbctl node VERB` on node, then the router's v4 and v6 next hops
    are want's: seconds until both were."""
    t0 = time.monotonic()
    fleet.ctl(node, "node", verb)
    for family in (4, 6):
        hops = {n.addr if family == 4 else n.addr6 for n in want}
        assert fleet.wait_hops(hops, family=family) is not None, \
            f"{what}: router's v{family} next hops {sorted(fleet.next_hops(family))}"
    return time.monotonic() - t0


def drill(fleet, agent, letter, newer, older):
    """One drill (see the top) on its VIPs: its figures."""
    topo, port = fleet.topo, DRILL_PORTS[letter]
    newer, older = fleet.nodes[newer], fleet.nodes[older]
    t0 = time.monotonic()
    started = agent.do("start", targets=[[topo["VIP4"], port, PER_FAMILY],
                                         [topo["VIP6"], port, PER_FAMILY]],
                       bytes=DOWNLOAD_BYTES, chunk=CHUNK, every=EVERY, rcvbuf=RCVBUF)
    conns = started["connections"]
    assert not started["errors"] and all(c["backend"] in ("b1", "b2") for c in conns), \
        f"{CONNECTIONS} downloads started on b1 and b2: {started}"
    decap_before = held.decap_stats(fleet.args.decap, topo)
    # Which connections the older node carries (no route has changed since
    # they opened: the node carrying one hits, the other misses).
    on_older = [c for c in conns
                if (explain(fleet, older, c) or {}).get("flow", {}).get("decision") == "hit"]
    time.sleep(HOLD_BEFORE_S)

    add_b3(fleet, newer, port)
    moved = [c for c in conns if not same_address(
        (explain(fleet, newer, c) or {}).get("maglev", {}).get("backend"),
        holder_address(topo, c))]
    at_risk = [c for c in moved if c in on_older]
    time.sleep(AFTER_CHANGE_S)

    drain_s = move_flows(fleet, "drain", older, [newer], f"node {older.name} drained")
    time.sleep(ON_NEWER_S)
    # What the newer node says of an at-risk connection's next ACK now: a
    # mid-stream flow whose alternate is the backend that holds it.
    alternate_holder = sum(same_address((explain(fleet, newer, c) or {}).get("alternate"),
                                        holder_address(topo, c)) for c in at_risk)

    add_b3(fleet, older, port)
    resume_s = move_flows(fleet, "resume", older, [newer, older],
                          f"node {older.name} resumed")
    time.sleep(AFTER_RESUME_S)
    results = agent.do("stop")["connections"]
    decap = held.stats_delta(decap_before, held.decap_stats(fleet.args.decap, topo))
    resets = [r for r in results if not r["complete"]]
    f = {"drill": letter, "newer": f"{newer.name} ({newer.kind})",
         "drained": f"{older.name} ({older.kind})", "connections": len(results),
         "carried_by_drained": len(on_older), "moved": len(moved),
         "moved_across": len(at_risk), "resets": len(resets),
         "decap_forwarded": decap and decap["forwarded"],
         "explain_alternate_holder": alternate_holder, "drain_s": round(drain_s, 2),
         "resume_s": round(resume_s, 2), "seconds": round(time.monotonic() - t0, 1),
         "decap_counters": decap}
    figure(f"second chance fleet {letter}: b3 on node {f['newer']} first, node "
           f"{f['drained']} drained (BGP withdrawn: every flow to the newer node in "
           f"{fmt(drain_s)} s) then given b3 and resumed (flows back in {fmt(resume_s)} s); "
           f"connections {f['connections']}, carried by the drained node "
           f"{f['carried_by_drained']}, moved {f['moved']}, moved across nodes "
           f"{f['moved_across']}, resets {f['resets']}, decap forwarded "
           f"{f['decap_forwarded']}, explain alternate = holder {alternate_holder}; "
           f"{f['seconds']} s")
    figure(f"second chance fleet {letter}: {json.dumps(f)}")
    for r in resets[:5]:
        print(f"     reset: {r['host']} sport {r['sport']} on {r['backend']}: "
              f"{r['received']}/{r['bytes']} bytes, corrupt_at {r['corrupt_at']}, "
              f"{r['error'] and r['error']['error']}")
    assert len(results) == CONNECTIONS, f"every download reported: {len(results)}"
    early = [r for r in results if r["paced_complete"]]
    assert not early, f"every download was still held when the drill ended: {early[:2]}"
    assert f["seconds"] < DRILL_BUDGET_S, f"drill bounded: {f}"
    assert 0 < len(on_older) < CONNECTIONS, f"ECMP put connections on both nodes: {f}"
    return f


def assert_survived(f):
    """A second-chance drill's figures: it mattered, and nothing was reset."""
    assert f["moved_across"] > 0, f"some connections of the drained node moved to b3: {f}"
    assert f["explain_alternate_holder"] == f["moved_across"], \
        f"explain on the newer node names each such connection's holder as its alternate: {f}"
    assert f["resets"] == 0, f"no held connection reset: {f}"
    held.assert_forwarded(f)


def test_b_newer_flows_to_xdp_no_reset(opts, workdir):
    """a. Node B (edgelb-xdp) gets b3 first; A drained and resumed."""
    with drill_fleet(opts, workdir, "a") as (fleet, agent), CHECKS.scope():
        assert_survived(drill(fleet, agent, "a", newer="b", older="a"))


def test_a_newer_flows_to_dpdk_no_reset(opts, workdir):
    """b. Node A (edgelb-dp) gets b3 first; B drained and resumed."""
    with drill_fleet(opts, workdir, "b") as (fleet, agent), CHECKS.scope():
        assert_survived(drill(fleet, agent, "b", newer="a", older="b"))


def test_negative_control_second_chance_off_resets(opts, workdir):
    """c. Drill a on VIPs without second_chance: the connections at risk
    are reset."""
    with drill_fleet(opts, workdir, "c") as (fleet, agent), CHECKS.scope():
        f = drill(fleet, agent, "c", newer="b", older="a")
    assert f["resets"] > 0, f"second chance off: held connections reset: {f}"
    assert f["resets"] == f["moved_across"], \
        f"second chance off: exactly the connections moved across nodes reset: {f}"
    assert f["decap_forwarded"] == 0, f"nothing forwarded with second chance off: {f}"
    assert f["explain_alternate_holder"] == 0, f"no alternate with the VIPs' off: {f}"
