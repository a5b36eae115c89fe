# SPDX-License-Identifier: BSD-3-Clause
"""Real TCP and UDP through edgelb-dp or edgelb-xdp, end to end, in network namespaces.

tools/netns-topology builds client, router, lb and three backends; edgelb-dp
owns the lb's veth through net_af_xdp, with the node's addresses on its TAP
interface; the backends decapsulate with edgelb-decap (XDP) and answer the
client directly (DSR). VIPs:
  203.0.113.10:80/tcp        IPv4 in IPv4 to b1, b2, b3 with weights 1, 1, 2
  [2001:db8:ff::10]:80/tcp   IPv6 in IPv6, same weights
  and UDP VIPs for every other encapsulation the backends must undo:
  203.0.113.10:5353/udp      GUE, IPv4 outer
  203.0.113.10:5354/udp      IPv4 in IPv6
  203.0.113.10:5355/udp      GUE, IPv6 outer, IPv4 inner
  [2001:db8:ff::10]:5353/udp GUE, IPv6 outer, IPv6 inner
Checks, with the figures printed:
  - every one of BURST new HTTP connections to the IPv4 VIP succeeds, and
    each backend's share is within SHARE_TOLERANCE of its weight's share;
  - one kept-alive connection gets the same backend for every request;
  - the same burst over IPv6;
  - UDP request/response through each UDP VIP, shares by weight;
  - an upload of UPLOAD_BYTES to each TCP VIP arrives whole: full-sized
    segments do not fit the encapsulation, so this needs the balancer's ICMP
    "too big" reply and the client's path MTU discovery;
  - under a paced load of new connections, backends.set drains the backend
    of a kept-alive connection (the connection keeps it; new connections
    avoid it), then removes another; connections started after each change
    all succeed and never reach a draining or removed backend.
Root only (skipped otherwise). Run by pytest (--dataplane, --dp or --xdp,
--decap): one test per property, in this order, on one topology.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from edgelb_testlib import e2e
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.e2e import CHECKS, DATAPLANE, Client, check, start_backend, start_dataplane
from edgelb_testlib.netns import sh
from edgelb_testlib.proc import stop_and_collect
from edgelb_testlib.pytest_plugin import require_root

TAG = f"e{os.getpid() % 100000}"
BURST, BURST_PARALLEL = 600, 8
UDP_EXCHANGES = 600
UPLOAD_BYTES = 256 * 1024
# Absolute. Source ports are random, so shares are samples: at 600 samples
# the standard deviation of a 50% share is 2 points, of a 25% share 1.8.
SHARE_TOLERANCE = 0.10
# UDP VIPs: (VIP family, port, encap, backends' family)
UDP_VIPS = [(4, 5353, "gue", 4), (4, 5354, "ipip", 6), (4, 5355, "gue", 6), (6, 5353, "gue", 6)]
# A UDP VIP with a per-flow limit, flooded by one flow at FLOOD_PPS.
LIMITED_PORT, LIMIT_PPS, LIMIT_BURST, FLOOD_PPS, FLOOD_SECONDS = 5360, 200, 20, 2000, 2.0
AGENT_LIFETIME_S = 120
# Connections started this long after a change are held to it: the change is
# applied when backends.set answers; the margin covers the client's clock read.
SETTLE_S = 0.2
WEIGHTS = {"b1": 1, "b2": 1, "b3": 2}


def shares_ok(what, shares, total, weights):
    e2e.shares_ok(what, shares, total, weights, SHARE_TOLERANCE)


def backend_list(topo, family, states=None, weights=WEIGHTS):
    out = []
    for i, name in enumerate(sorted(weights), start=1):
        state = (states or {}).get(name, "active")
        if state == "removed":
            continue
        out.append({"address": topo[f"BACKEND{i}_{family}"], "weight": weights[name],
                    "state": state})
    return out


def write_config(path, topo):
    vip4, vip6 = topo["VIP4"], topo["VIP6"]
    with open(path, "w") as f:
        json.dump({
            "node": {"source_v4": topo["LB4"], "source_v6": topo["LB6"],
                     "gateway_mac": topo["ROUTER_LB_MAC"], "gue_port": 6080},
            "vips": [
                {"address": vip4, "port": 80, "protocol": "tcp",
                 "backends": backend_list(topo, 4)},
                {"address": vip6, "port": 80, "protocol": "tcp",
                 "backends": backend_list(topo, 6)},
            ] + [{"address": topo[f"VIP{vip_family}"], "port": port, "protocol": "udp",
                  "encap": encap, "backends": backend_list(topo, backend_family)}
                 for vip_family, port, encap, backend_family in UDP_VIPS] + [
                {"address": vip4, "port": LIMITED_PORT, "protocol": "udp",
                 "rate_limit": {"packets_per_s": LIMIT_PPS, "packet_burst": LIMIT_BURST},
                 "backends": backend_list(topo, 4)}]}, f)


@pytest.fixture(scope="module")
def topo(opts):
    require_root("namespaces, veth, AF_XDP, XDP")
    if (opts.dp if opts.dataplane == "dpdk" else opts.xdp) is None:
        raise pytest.UsageError(f"--dataplane {opts.dataplane} needs "
                                f"--{'dp' if opts.dataplane == 'dpdk' else 'xdp'}")
    # meson ends a test that overruns with SIGTERM: clean up as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: pytest.exit("SIGTERM", returncode=1))
    with e2e.topology(TAG, opts.decap, opts.dataplane) as t:
        assert t is not None, "topology up"
        yield t


@pytest.fixture(scope="module")
def dataplane(opts, topo, workdir):
    """The dataplane on the lb's veth: (process, socket); stopped at the end."""
    cfg, sock = os.path.join(workdir, "config.json"), os.path.join(workdir, "dp.sock")
    write_config(cfg, topo)
    binary = opts.dp if opts.dataplane == "dpdk" else opts.xdp
    dp, _ = start_dataplane(opts.dataplane, binary, topo, sock, TAG, config=cfg)
    assert dp is not None, f"{DATAPLANE[opts.dataplane]} up"
    try:
        yield dp, sock
    finally:
        if dp.returncode is None:  # test_sigterm_exits_0 did not stop it
            stop_dataplane(dp, opts.dataplane)


def stop_dataplane(dp, kind):
    """SIGTERM (if it still runs) and its last lines printed."""
    out, _ = stop_and_collect(dp)
    print(f"     {DATAPLANE[kind]} output at exit:\n" + "\n".join(
        "       " + l for l in (out or "").splitlines()[-15:]))


@pytest.fixture(scope="module")
def client(topo, dataplane):
    """The client agent, with the three backends serving."""
    backends = []
    try:
        udp_ports = {v[1] for v in UDP_VIPS} | {LIMITED_PORT}
        for i, name in enumerate(sorted(WEIGHTS), start=1):
            backends.append(start_backend(topo, i, name, udp_ports, AGENT_LIFETIME_S))
        c = Client(topo["NS_CLIENT"], AGENT_LIFETIME_S)
        try:
            yield c
        finally:
            c.close()
    finally:
        for p in backends:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def control(dataplane):
    with jsonrpc.Connection(dataplane[1]) as c:
        yield c


def test_router_reaches_the_node(topo, client):
    ping = subprocess.run(["ip", "netns", "exec", topo["NS_ROUTER"], "ping", "-c", "1",
                           "-W", "2", topo["LB4"]], capture_output=True)
    assert ping.returncode == 0, "router reaches the node's address (exception path)"


@pytest.mark.parametrize("family", [4, 6])
def test_tcp_burst_shares_by_weight(client, topo, family):
    vip = topo[f"VIP{family}"]
    with CHECKS.scope():
        r = client.do("burst", host=vip, n=BURST, parallel=BURST_PARALLEL)
        print(f"     IPv{family} TCP: {r['ok']}/{BURST} connections in {r['seconds']} s, "
              f"shares {r['shares']}, errors {r['errors']}")
        check(r["ok"] == BURST and r["failed"] == 0,
              f"{BURST} HTTP connections to {vip if family == 4 else f'[{vip}]'}:80")
        shares_ok(f"IPv{family} TCP", r["shares"], r["ok"], WEIGHTS)


@pytest.fixture(scope="module")
def kept_alive(client, topo):
    """The backend of one kept-alive connection (left open for the drain)."""
    first = client.do("open", host=topo["VIP4"])
    again = [client.do("again")["backend"] for _ in range(9)]
    print(f"     kept-alive connection: {first.get('backend')} then {again}")
    return first, again


def test_kept_alive_connection_keeps_its_backend(kept_alive):
    first, again = kept_alive
    assert "backend" in first and all(b == first["backend"] for b in again), \
        f"one connection, 10 requests: always the same backend ({first}, then {again})"


@pytest.mark.parametrize("vip_family,port,encap,backend_family", UDP_VIPS,
                         ids=[f"v{v}-{p}-{e}-v{b}" for v, p, e, b in UDP_VIPS])
def test_udp_exchanges(client, topo, kept_alive, vip_family, port, encap, backend_family):
    host = topo[f"VIP{vip_family}"]
    what = f"UDP IPv{vip_family} {encap} to IPv{backend_family} backends"
    with CHECKS.scope():
        r = client.do("udp", host=host, port=port, n=UDP_EXCHANGES)
        print(f"     {what}: {r['ok']}/{UDP_EXCHANGES} in {r['seconds']} s, "
              f"shares {r['shares']}, errors {r['errors']}")
        check(r["ok"] == UDP_EXCHANGES, f"{UDP_EXCHANGES} UDP exchanges with {host} port {port}")
        shares_ok(what, r["shares"], r["ok"], WEIGHTS)


def test_rate_limit_cuts_the_flooding_flow_only(client, topo, kept_alive):
    # The per-flow limit, seen from the client: a flood from one flow is cut
    # to the configured rate (plus the burst); another flow is untouched.
    r = client.do("udp_flood", host=topo["VIP4"], port=LIMITED_PORT, pps=FLOOD_PPS,
                  seconds=FLOOD_SECONDS, quiet_every=0.05)
    allowed = LIMIT_PPS * r["elapsed"] + LIMIT_BURST
    print(f"     rate limit {LIMIT_PPS}/s burst {LIMIT_BURST}: flood sent {r['flood_sent']}, "
          f"answered {r['flood_answered']} (allowed {allowed:.0f}); quiet flow "
          f"{r['quiet_answered']}/{r['quiet_sent']}")
    with CHECKS.scope():
        check(r["flood_sent"] >= FLOOD_PPS * FLOOD_SECONDS * 0.8, "the flood was sent")
        check(allowed * 0.8 <= r["flood_answered"] <= allowed * 1.1,
              "the flooding flow is cut to its limit")
        check(r["quiet_answered"] >= r["quiet_sent"] * 0.95, "another flow is unaffected")


@pytest.mark.parametrize("family", [4, 6])
def test_upload_needs_path_mtu_discovery(client, topo, kept_alive, family):
    host = topo[f"VIP{family}"]
    r = client.do("upload", host=host, bytes=UPLOAD_BYTES)
    print(f"     upload of {UPLOAD_BYTES} bytes to {host}: {r} ")
    route = sh("ip", "route", "get", host, ns=topo["NS_CLIENT"]).stdout.split()
    mtu = route[route.index("mtu") + 1] if "mtu" in route else "none"
    print(f"     client's path MTU to {host} after the upload: {mtu}")
    assert r.get("reply", "").endswith(f" {UPLOAD_BYTES}"), \
        f"upload to {host}: every byte arrived (path MTU discovery through the balancer): {r}"


def test_backend_changes_under_load(client, topo, control, kept_alive):
    """The kept-alive connection's backend is drained, another one then
    removed, under a paced load of new connections."""
    vip4 = topo["VIP4"]
    drained = kept_alive[0].get("backend", "b1")
    removed = next(n for n in sorted(WEIGHTS) if n != drained)
    client.do("load_start", host=vip4, rate=60, seconds=8)
    time.sleep(1.5)
    control.call("backends.set", address=vip4, port=80, protocol="tcp",
                 backends=backend_list(topo, 4, {drained: "draining"}))
    t_drain = client.do("now")["now"]
    held = [client.do("again").get("backend") for _ in range(3)]
    time.sleep(2.0)
    control.call("backends.set", address=vip4, port=80, protocol="tcp",
                 backends=backend_list(topo, 4, {drained: "draining", removed: "removed"}))
    t_remove = client.do("now")["now"]
    time.sleep(2.0)
    load = client.do("load_stop")["results"]
    client.do("close")

    with CHECKS.scope():
        print(f"     drained {drained}: the kept-alive connection then got {held}")
        check(all(b == drained for b in held), "a draining backend keeps its connection")
        # A connection of the drained phase must also end before the removal:
        # one still open then may be on the removed backend, whose flows are
        # re-picked (a removal is not a drain), and is in flux like those
        # started just after.
        phases = {"before": [r for r in load if r["t"] < t_drain],
                  "drained": [r for r in load
                              if t_drain + SETTLE_S <= r["t"] and r["end"] < t_remove],
                  "removed": [r for r in load if r["t"] >= t_remove + SETTLE_S]}
        in_flux = len(load) - sum(len(p) for p in phases.values())
        for phase, results in phases.items():
            ok = sum(1 for r in results if "backend" in r)
            got = {}
            for r in results:
                if "backend" in r:
                    got[r["backend"]] = got.get(r["backend"], 0) + 1
            errors = [r["error"] for r in results if "error" in r][:3]
            print(f"     load, {phase}: {ok}/{len(results)} succeeded, shares {got}, "
                  f"errors {errors}")
            check(results and ok == len(results),
                  f"under load, {phase}: every new connection succeeded")
            if phase != "before":
                check(drained not in got, f"under load, {phase}: none went to draining {drained}")
            if phase == "removed":
                check(removed not in got, f"under load, {phase}: none went to removed {removed}")
        failed_in_flux = sum(1 for r in load if "error" in r) - sum(
            1 for p in phases.values() for r in p if "error" in r)
        print(f"     load: {len(load)} connections in all, {in_flux} started within "
              f"{SETTLE_S} s of a change or open across the removal ({failed_in_flux} of them "
              "failed)")
    status = control.call("status.get")
    print(f"     status.get: {json.dumps(status)[:400]}")


def test_sigterm_exits_0(opts, dataplane, client):
    dp = dataplane[0]
    stop_dataplane(dp, opts.dataplane)
    assert dp.returncode == 0, \
        f"{DATAPLANE[opts.dataplane]}: SIGTERM, exit status {dp.returncode}, not 0"
