# SPDX-License-Identifier: BSD-3-Clause
"""Two edge nodes behind one ECMP router, as docs/fleet.md describes them:
each node runs its own edgelb-cp, which runs its own BIRD 2 and announces
the VIP over eBGP; the router (BIRD 2, `merge paths`, L4 multipath hash)
spreads clients over the nodes that announce. Nothing is shared between the
nodes but their configuration (same VIP, backends, hash seed).

    client ---- router (BIRD, ECMP) ---- node A: edgelb-dp (net_af_xdp) + edgelb-cp + BIRD
                   |          \\-------- node B: edgelb-xdp (generic)   + edgelb-cp + BIRD
                 bridge ---- b1, b2, b3   (VIP on lo, edgelb-decap, answer the client: DSR)

tools/netns-topology builds client, router, node A and the backends; this
test adds node B (its own link to the router) and replaces the router's
static VIP route by BIRD's. Each edgelb-cp runs in its node's namespace
(BIRD runs where its sessions are), HTTP-checks the backends, and manages
its one dataplane.

  1. routes: both nodes announce; the router has one route with both as next
     hops. Node B's dataplane killed (-9): B withdraws; restarted: B announces
     again (seconds measured).
  2. spread: 200 new connections, each node gets a share.
  3. same backend whichever node: the dataplanes' table digests are equal;
     held keep-alive connections keep their backend while their node's route
     is withdrawn and comes back (1).
  4. a node killed: node A's link down and kill -9 of its dataplane, edgelb-cp
     and BIRD; the held connections it carried continue on the same backends
     through B, no request fails, new connections succeed.
  5. drain: `edgelbctl node drain --wait` on A under load: no connection
     fails, A's VIP traffic stops, the drain completes; `node resume` brings
     traffic back to A.
  6. IPv6: a second VIP (the topology's VIP6, IPv6 backends, IP6IP6 toward
     them, TCP health checks over IPv6) announced over IPv6 BGP sessions (one
     more neighbor per node); the router's /128 has both nodes as next hops
     (L4 multipath hash for IPv6 too), new v6 connections spread over both,
     held v6 connections keep their backend across B's withdrawal (1, 3).
  7. flow.explain: for every held connection (v4 and v6), before any route
     change, both nodes are asked (`edgelbctl explain`): the node carrying it
     reports a flow-table hit on the backend that answers it, the other node
     a miss whose Maglev pick is that same backend.
Root only (skipped otherwise; also without BIRD or DPDK). Run by pytest
(--dp, --xdp, --cp, --ctl, --decap): the fleet (edgelb_testlib.fleet) built
once, one test per part, in the order run: 1, 3a, 2 and 6, fail static,
7, 1b/3b/6, 5, 4. Prints FIGURE lines (docs/fleet.md).
"""
import os
import signal
import time

import pytest

from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import CHECKS, check, stop_process
from edgelb_testlib.fleet import (BIRD, DRAIN_QUIET_MS, HTTP_PORT, AGENT_LIFETIME_S, Fleet,
                                  FleetClient, figure, fmt)
from edgelb_testlib.netns import sh
from edgelb_testlib.proc import poll_until
from edgelb_testlib.pytest_plugin import require_root

TAG = f"fl{os.getpid() % 100000}"
HOLD_N, HOLD_EVERY = 16, 0.25
HOLD6_N = 12              # held v6 connections beside the HOLD_N v4 ones
BURST6 = 100
LOAD_RATE = 20            # new connections per second during the phases
BURST, BURST_PARALLEL = 200, 8
SHARE_MIN, SHARE_MAX = 0.25, 0.75


def held_ok(what, held):
    conns = held["connections"]
    errors = [e for c in conns for e in c["errors"]]
    multi = [c["backends"] for c in conns if len(c["backends"]) != 1]
    requests = sum(c["requests"] for c in conns)
    check(not errors, f"{what}: {len(conns)} held connections, {requests} requests, "
          f"{len(errors)} failed {errors[:2]}")
    check(not multi, f"{what}: each held connection kept one backend {multi[:3]}")


def load_ok(what, load):
    results = load["results"]
    failed = [r for r in results if "error" in r]
    slowest = max((r["ms"] for r in results if "ms" in r), default=0)
    check(results and not failed, f"{what}: {len(results)} new connections, "
          f"{len(failed)} failed {[r['error'] for r in failed[:2]]}; slowest {slowest:.0f} ms")
    return slowest


@pytest.fixture(scope="module")
def fleet(opts, workdir):
    """The fleet built and started (routes not yet awaited); torn down at the end."""
    require_root("namespaces, XDP, DPDK EAL")
    if not os.access(BIRD, os.X_OK):
        pytest.skip(f"{BIRD} missing (Debian package bird2: tools/install-deps)")
    # meson ends a test that overruns with SIGTERM: clean up as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: pytest.exit("SIGTERM", returncode=1))
    f = Fleet(opts, workdir, TAG)
    try:
        assert f.build(), "the fleet's namespaces and links"
        f.start()
        yield f
    finally:
        f.teardown()


@pytest.fixture(scope="module")
def client(fleet):
    fleet.client = FleetClient(fleet.topo["NS_CLIENT"], AGENT_LIFETIME_S)
    return fleet.client  # closed by fleet.teardown()


def spread(fleet, label, host, shown, vip_name, n):
    """n new connections to host: all answered, and each node's share of
    the new flows (its dataplane's counters) within SHARE_MIN..SHARE_MAX."""
    before = fleet.counters(vip_name)
    burst = fleet.client.do("burst", host=host, n=n, parallel=BURST_PARALLEL)
    after = fleet.counters(vip_name)
    flows = {k: after[k]["new_flows"] - before[k]["new_flows"] for k in after}
    total = sum(flows.values())
    check(burst.get("ok") == n and burst.get("failed") == 0,
          f"burst{label}: {burst.get('ok')} of {n} connections answered, shares "
          f"{burst.get('shares')} {burst.get('errors') or ''}")
    for k in ("a", "b"):
        share = flows[k] / total if total else 0
        check(SHARE_MIN <= share <= SHARE_MAX,
              f"spread{label}: node {k.upper()} got {flows[k]} of {total} new flows "
              f"({share:.0%}, within {SHARE_MIN:.0%}..{SHARE_MAX:.0%})")
    figure(f"spread{label}: {n} connections to {shown}:80, {burst.get('ok')} answered; "
           f"node A {flows['a']} flows, node B {flows['b']} flows "
           f"({flows['a'] / max(total, 1):.0%} / {flows['b'] / max(total, 1):.0%}); "
           f"backends {burst.get('shares')}")


def both(fleet, family=4):
    a, b = fleet.nodes["a"], fleet.nodes["b"]
    return {a.addr, b.addr} if family == 4 else {a.addr6, b.addr6}


# 1. Routes ----------------------------------------------------------------

def test_routes_ecmp_via_both_nodes(fleet):
    topo, a, b = fleet.topo, fleet.nodes["a"], fleet.nodes["b"]
    vip, vip6, t0 = topo["VIP4"], topo["VIP6"], fleet.t_dataplanes
    with CHECKS.scope():
        t = fleet.wait_hops(both(fleet), 30)
        assert check(t is not None, f"router: ECMP route to {vip} via both nodes "
                     f"({sorted(fleet.next_hops())}; A: {a.node().get('withdrawn_because')}, "
                     f"B: {b.node().get('withdrawn_because')})")
        figure(f"routes: ECMP via both nodes {time.monotonic() - t0:.2f} s after the "
               "dataplanes were started (edgelb-cp start, health rise, BGP sessions)")
        t = fleet.wait_hops(both(fleet, 6), 15, family=6)
        check(t is not None, f"router: ECMP route to {vip6}/128 via both nodes "
              f"({sorted(fleet.routes(6))}; A: {a.node().get('announced')}, "
              f"B: {b.node().get('announced')})")
        figure(f"routes v6: {vip6}/128 via both nodes over the IPv6 sessions "
               f"{time.monotonic() - t0:.2f} s after the dataplanes were started; next hops "
               f"{sorted(g for g, _ in fleet.routes(6))}")


def test_nodes_active_announcing_sessions_established(fleet):
    topo = fleet.topo
    announced = {f"{topo['VIP4']}/32", f"{topo['VIP6']}/128"}
    with CHECKS.scope():
        for n in (fleet.nodes["a"], fleet.nodes["b"]):
            # node.get's sessions are BIRD's `show protocols`, read every second.
            poll_until(lambda: all(s["established"] for s in n.node()["speaker"]["sessions"]),
                       3, 0.1)
            info = n.node()
            sessions = info["speaker"]["sessions"]
            check(info["state"] == "active" and set(info["announced"]) == announced and
                  len(sessions) == 2 and all(s["established"] for s in sessions),
                  f"node {n.name}: active, announces {info['announced']}, sessions "
                  f"{[(s.get('neighbor'), s['info']) for s in sessions]}")


# 3a. Same tables on both nodes ----------------------------------------------

def test_same_tables_on_both_nodes(fleet):
    topo, a, b = fleet.topo, fleet.nodes["a"], fleet.nodes["b"]
    da, db = a.digest(fleet.vip_name), b.digest(fleet.vip_name)
    figure(f"tables: both nodes' Maglev digests for {fleet.vip_name} equal ({da})")
    # What a flow risks while nodes disagree about a change (docs/fleet.md):
    # the share of table slots the change moves, from backend.preview.
    moved = {}
    for change, backend in (("add", "192.0.2.74"), ("remove", topo["BACKEND3_4"])):
        r = jsonrpc.call(a.cp_sock, "backend.preview", address=topo["VIP4"], port=HTTP_PORT,
                         protocol="tcp", backend=backend, change=change)
        moved[change] = r["moved_fraction"]
    figure(f"maglev: adding a 4th backend moves {moved['add']:.1%} of the slots, removing "
           f"one of 3 moves {moved['remove']:.1%} (backend.preview)")
    assert da is not None and da == db, \
        f"vip.tables digest: node A (edgelb-dp) {da}, node B (edgelb-xdp) {db}"


# 2 and 6. Spread -------------------------------------------------------------

def test_spread_v4(fleet, client):
    vip = fleet.topo["VIP4"]
    with CHECKS.scope():
        spread(fleet, "", vip, vip, None, BURST)


def test_spread_v6(fleet, client):
    vip6 = fleet.topo["VIP6"]
    with CHECKS.scope():
        spread(fleet, " v6", vip6, f"[{vip6}]", fleet.vip6_name, BURST6)


# Fail static ------------------------------------------------------------------

def test_fail_static_cp_killed_and_restarted_adopts_bird(fleet, client):
    """edgelb-cp killed and restarted adopts the running BIRD; the router's
    route does not move meanwhile."""
    b = fleet.nodes["b"]
    announced = {f"{fleet.topo['VIP4']}/32", f"{fleet.topo['VIP6']}/128"}
    bird_b = b.bird_pid()
    stop_process(b.cp, signal.SIGKILL, 5)
    seen, end = set(), time.monotonic() + 1.0
    while time.monotonic() < end:
        seen.add(frozenset(fleet.next_hops() | fleet.next_hops(6)))
        time.sleep(0.02)
    t_cp = time.monotonic()
    with CHECKS.scope():
        b.start_cp(fleet.args.cp)
        poll_until(lambda: b.node()["announced_known"], 15, 0.05)
        while time.monotonic() - t_cp < 3.0:
            seen.add(frozenset(fleet.next_hops() | fleet.next_hops(6)))
            time.sleep(0.02)
        info = b.node()
        check(seen == {frozenset(both(fleet) | both(fleet, 6))} and info["speaker"]["adopted"]
              and info["speaker"]["pid"] == bird_b and set(info["announced"]) == announced,
              f"edgelb-cp of B killed (-9) and restarted: BIRD {bird_b} adopted "
              f"({info['speaker']['adopted']}, pid {info['speaker']['pid']}), route sets seen "
              f"meanwhile {[sorted(x) for x in seen]}")
        figure("fail static: B's edgelb-cp killed (-9) and restarted: it adopted the running "
               "BIRD, the router's v4 and v6 routes kept both next hops throughout (polled "
               "every 20 ms)")


# 7, then 1b + 3b + 6: held v4 and v6 connections across B's dataplane restart

@pytest.fixture(scope="module")
def held_through_b(fleet, client):
    """Held v4 and v6 connections and a load, started before any route
    change since they opened: their hold_info."""
    vip, vip6 = fleet.topo["VIP4"], fleet.topo["VIP6"]
    hold = client.do("hold_start", hosts=[vip, vip6], n=[HOLD_N, HOLD6_N],
                     every=HOLD_EVERY, seconds=90)
    info = client.do("hold_info")["connections"]
    client.do("load_start", host=vip, rate=LOAD_RATE, seconds=60)
    return hold, info


def test_held_connections_opened(held_through_b):
    hold, _ = held_through_b
    assert None not in hold["first"], f"held connections opened ({hold['first']})"


def test_explain_node_carrying_hits_other_misses_to_same_backend(fleet, held_through_b):
    """7. Both nodes have their flows (no route has changed since they opened)."""
    with CHECKS.scope():
        good, n, carried = fleet.explain_held(held_through_b[1])
        figure(f"explain: {n} held connections ({HOLD_N} v4, {HOLD6_N} v6; A carries "
               f"{carried['a']}, B {carried['b']}), node carrying it: hit on the backend it "
               f"reaches; other node: miss -> same backend ({good}/{n})")


def test_node_b_dataplane_killed_and_restarted_keeps_held_connections(fleet, client,
                                                                      held_through_b):
    topo, a, b = fleet.topo, fleet.nodes["a"], fleet.nodes["b"]
    vip, vip6 = topo["VIP4"], topo["VIP6"]
    time.sleep(0.5)
    with CHECKS.scope():
        before = fleet.counters()
        before6 = fleet.counters(fleet.vip6_name)
        t_kill = time.monotonic()
        stop_process(b.dp, signal.SIGKILL, 5)
        t = fleet.wait_hops({a.addr})
        t = t is not None and time.monotonic() - t_kill or None
        t6 = fleet.wait_hops({a.addr6}, family=6)
        t6 = t6 is not None and time.monotonic() - t_kill or None
        check(t is not None, f"node B's dataplane killed: route via A only after {fmt(t)} s")
        check(t6 is not None, f"node B's dataplane killed: v6 route via A only after "
              f"{fmt(t6)} s")
        figure(f"withdraw: node B's dataplane killed (kill -9), the router dropped B "
               f"{fmt(t)} s later (v6 route: {fmt(t6)} s; edgelb-cp saw the dataplane gone, "
               f"BIRD reconfigured)")
        time.sleep(1.5)
        moved = a.vip_counters(fleet.vip_name)["new_flows"] - before["a"]["new_flows"]
        moved6 = a.vip_counters(fleet.vip6_name)["new_flows"] - before6["a"]["new_flows"]
        b.start_dp(fleet.args.xdp, topo)
        t = fleet.wait_hops(both(fleet))
        t6 = fleet.wait_hops(both(fleet, 6), family=6)
        check(t is not None and t6 is not None, f"node B's dataplane restarted: both next hops "
              f"again after {fmt(t)} s (from the restart), v6 too")
        figure(f"re-announce: node B's dataplane restarted, router has both next hops "
               f"{fmt(t)} s after the restart ({time.monotonic() - t_kill:.2f} s after the kill)")
        time.sleep(1.5)
        held = client.do("hold_stop")
        load = client.do("load_stop")
        conns = held["connections"]
        held4 = [c for c in conns if c["host"] == vip]
        held6 = [c for c in conns if c["host"] == vip6]
        held_ok("B's dataplane killed and restarted (v4)", {"connections": held4})
        held_ok("B's dataplane killed and restarted (v6)", {"connections": held6})
        load_ok("B's dataplane killed and restarted", load)
        figure(f"same backend: {len(held4)} held v4 and {len(held6)} held v6 connections kept "
               f"their backend across B's withdrawal and return, 0 of "
               f"{sum(c['requests'] for c in held4 + held6)} requests failed; node A took "
               f"{moved} v4 and {moved6} v6 flows it had not seen (moved from B mid-connection, "
               "same backends)")


# 5. Drain A --------------------------------------------------------------------

def test_drain_and_resume_of_a(fleet, client):
    a, b, vip = fleet.nodes["a"], fleet.nodes["b"], fleet.topo["VIP4"]
    client.do("hold_start", host=vip, n=HOLD_N, every=HOLD_EVERY, seconds=90)
    client.do("load_start", host=vip, rate=LOAD_RATE, seconds=60)
    time.sleep(1.0)
    with CHECKS.scope():
        seconds, out = fleet.ctl(a, "node", "drain", "--wait", "--timeout", "30")
        info = a.node()
        check(info["state"] == "drained" and info["drain"].get("reason") == "quiet",
              f"node A drained ({info['drain']}): {out.strip()}")
        check(fleet.next_hops() == {b.addr} and fleet.next_hops(6) == {b.addr6},
              f"router: via B only while A is drained ({sorted(fleet.next_hops())}, "
              f"{sorted(fleet.next_hops(6))})")
        rx0 = a.vip_counters(fleet.vip_name)["rx"]
        time.sleep(2.0)
        rx1 = a.vip_counters(fleet.vip_name)["rx"]
        check(rx1 == rx0, f"drained node A received no VIP packet in 2 s ({rx1 - rx0})")
        figure(f"drain: `edgelbctl node drain --wait` returned after {seconds:.2f} s "
               f"(drain_ms {info['drain'].get('drain_ms')}, quiet {DRAIN_QUIET_MS} ms); "
               f"node A's VIP rx then still for 2 s")
        t_resume = time.monotonic()
        fleet.ctl(a, "node", "resume")
        t = fleet.wait_hops(both(fleet))
        check(t is not None, f"node A resumed: both next hops after {fmt(t)} s")
        t_traffic = poll_until(lambda: a.vip_counters(fleet.vip_name)["rx"] > rx1, 10, 0.05)
        check(t_traffic is not None, "node A receives VIP traffic again after resume")
        figure(f"resume: router has both next hops {fmt(t)} s after `node resume`; "
               f"A's VIP rx moves {fmt(time.monotonic() - t_resume)} s after it")
        time.sleep(1.0)
        held = client.do("hold_stop")
        load = client.do("load_stop")
        held_ok("drain and resume of A", held)
        load_ok("drain and resume of A", load)
        figure(f"drain: 0 of {len(load['results'])} new connections and 0 of "
               f"{sum(c['requests'] for c in held['connections'])} held requests failed "
               "across drain and resume")


# 4. Kill node A ------------------------------------------------------------------

def test_node_a_lost(fleet, client):
    topo, a, b, vip = fleet.topo, fleet.nodes["a"], fleet.nodes["b"], fleet.topo["VIP4"]
    client.do("hold_start", host=vip, n=HOLD_N, every=HOLD_EVERY, seconds=90)
    client.do("load_start", host=vip, rate=LOAD_RATE, seconds=60)
    time.sleep(1.5)
    with CHECKS.scope():
        before = fleet.counters()
        bird_a = a.bird_pid()
        t_kill = time.monotonic()
        # A power loss: the link first, then every process of the node.
        sh("ip", "link", "set", "eth0", "down", ns=a.ns)
        for p in (a.dp, a.cp):
            stop_process(p, signal.SIGKILL, 5)
        if bird_a:
            os.kill(bird_a, signal.SIGKILL)
        a.dp = a.cp = None
        t = fleet.wait_hops({b.addr})
        t = t is not None and time.monotonic() - t_kill or None
        check(t is not None, f"node A lost: route via B only after {fmt(t)} s")
        # The kernel stops using the dead link's next hop at once
        # (ignore_routes_with_linkdown); BGP then withdraws the route itself.
        t_bgp = poll_until(lambda: a.addr not in sh("ip", "route", "show", f"{vip}/32",
                                                  ns=topo["NS_ROUTER"]).stdout, 10, 0.02)
        t_bgp = t_bgp is not None and time.monotonic() - t_kill or None
        check(t_bgp is not None, f"node A lost: BGP withdrew its route after {fmt(t_bgp)} s")
        t_flow = poll_until(lambda: b.vip_counters(fleet.vip_name)["new_flows"] >
                            before["b"]["new_flows"] + HOLD_N // 4, 10, 0.02)
        t_flow = t_flow is not None and time.monotonic() - t_kill or None
        time.sleep(3.0)
        moved = b.vip_counters(fleet.vip_name)["new_flows"] - before["b"]["new_flows"]
        held = client.do("hold_stop")
        load = client.do("load_stop")
        held_ok("node A killed", held)
        slowest = load_ok("node A killed", load)
        after = client.do("burst", host=vip, n=50, parallel=BURST_PARALLEL)
        check(after.get("ok") == 50, f"after A's loss: 50 new connections, {after.get('ok')} "
              f"answered by {after.get('shares')}")
        figure(f"node lost: link down + kill -9 of A's dataplane, edgelb-cp and BIRD; router "
               f"via B only after {fmt(t)} s (linkdown), A's BGP route gone after "
               f"{fmt(t_bgp)} s; B took over flows within {fmt(t_flow)} s "
               f"({moved} flows new to B in 3 s, held connections among them); "
               f"0 failed requests; slowest new connection {slowest:.0f} ms")
