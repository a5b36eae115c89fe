#!/usr/bin/env python3
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
Root only (exit 77 otherwise).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from e2e_netns import (DATAPLANE, FAILURES, Client, Rpc, check, sh,
                       start_backend, start_dataplane, topology)
import e2e_netns

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
    e2e_netns.shares_ok(what, shares, total, weights, SHARE_TOLERANCE)


def backend_list(topo, family, states=None, weights=WEIGHTS):
    out = []
    for i, name in enumerate(sorted(weights), start=1):
        state = (states or {}).get(name, "active")
        if state == "removed":
            continue
        out.append({"address": topo[f"BACKEND{i}_{family}"], "weight": weights[name],
                    "state": state})
    return out


def run(args, topo, tmp):
    cfg, sock = os.path.join(tmp, "config.json"), os.path.join(tmp, "dp.sock")
    vip4, vip6 = topo["VIP4"], topo["VIP6"]
    with open(cfg, "w") as f:
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

    binary = args.dp if args.dataplane == "dpdk" else args.xdp
    dp, _ = start_dataplane(args.dataplane, binary, topo, sock, TAG, config=cfg)
    if dp is None:
        return None
    procs = [dp]
    try:
        udp_ports = {v[1] for v in UDP_VIPS} | {LIMITED_PORT}
        for i, name in enumerate(sorted(WEIGHTS), start=1):
            procs.append(start_backend(topo, i, name, udp_ports, AGENT_LIFETIME_S))

        ping = subprocess.run(["ip", "netns", "exec", topo["NS_ROUTER"], "ping", "-c", "1",
                               "-W", "2", topo["LB4"]], capture_output=True)
        check(ping.returncode == 0, "router reaches the node's address (exception path)")

        client = Client(topo["NS_CLIENT"], AGENT_LIFETIME_S)
        try:
            client_checks(client, Rpc(sock), topo)
        finally:
            client.close()
    finally:
        for p in procs[1:]:
            p.kill()
            p.wait()
    return dp


def client_checks(client, rpc, topo):
    vip4, vip6 = topo["VIP4"], topo["VIP6"]

    r = client.do("burst", host=vip4, n=BURST, parallel=BURST_PARALLEL)
    print(f"     IPv4 TCP: {r['ok']}/{BURST} connections in {r['seconds']} s, "
          f"shares {r['shares']}, errors {r['errors']}")
    check(r["ok"] == BURST and r["failed"] == 0, f"{BURST} HTTP connections to {vip4}:80")
    shares_ok("IPv4 TCP", r["shares"], r["ok"], WEIGHTS)

    first = client.do("open", host=vip4)
    again = [client.do("again")["backend"] for _ in range(9)]
    print(f"     kept-alive connection: {first.get('backend')} then {again}")
    check("backend" in first and all(b == first["backend"] for b in again),
          "one connection, 10 requests: always the same backend")

    r = client.do("burst", host=vip6, n=BURST, parallel=BURST_PARALLEL)
    print(f"     IPv6 TCP: {r['ok']}/{BURST} connections in {r['seconds']} s, "
          f"shares {r['shares']}, errors {r['errors']}")
    check(r["ok"] == BURST and r["failed"] == 0, f"{BURST} HTTP connections to [{vip6}]:80")
    shares_ok("IPv6 TCP", r["shares"], r["ok"], WEIGHTS)

    for vip_family, port, encap, backend_family in UDP_VIPS:
        host = topo[f"VIP{vip_family}"]
        what = f"UDP IPv{vip_family} {encap} to IPv{backend_family} backends"
        r = client.do("udp", host=host, port=port, n=UDP_EXCHANGES)
        print(f"     {what}: {r['ok']}/{UDP_EXCHANGES} in {r['seconds']} s, "
              f"shares {r['shares']}, errors {r['errors']}")
        check(r["ok"] == UDP_EXCHANGES, f"{UDP_EXCHANGES} UDP exchanges with {host} port {port}")
        shares_ok(what, r["shares"], r["ok"], WEIGHTS)

    # The per-flow limit, seen from the client: a flood from one flow is cut
    # to the configured rate (plus the burst); another flow is untouched.
    r = client.do("udp_flood", host=vip4, port=LIMITED_PORT, pps=FLOOD_PPS,
                  seconds=FLOOD_SECONDS, quiet_every=0.05)
    allowed = LIMIT_PPS * r["elapsed"] + LIMIT_BURST
    print(f"     rate limit {LIMIT_PPS}/s burst {LIMIT_BURST}: flood sent {r['flood_sent']}, "
          f"answered {r['flood_answered']} (allowed {allowed:.0f}); quiet flow "
          f"{r['quiet_answered']}/{r['quiet_sent']}")
    check(r["flood_sent"] >= FLOOD_PPS * FLOOD_SECONDS * 0.8, "the flood was sent")
    check(allowed * 0.8 <= r["flood_answered"] <= allowed * 1.1,
          "the flooding flow is cut to its limit")
    check(r["quiet_answered"] >= r["quiet_sent"] * 0.95, "another flow is unaffected")

    for host in (vip4, vip6):
        r = client.do("upload", host=host, bytes=UPLOAD_BYTES)
        print(f"     upload of {UPLOAD_BYTES} bytes to {host}: {r} ")
        check(r.get("reply", "").endswith(f" {UPLOAD_BYTES}"),
              f"upload to {host}: every byte arrived (path MTU discovery through the balancer)")
    for host in (vip4, vip6):
        route = sh("ip", "route", "get", host, ns=topo["NS_CLIENT"]).stdout.split()
        mtu = route[route.index("mtu") + 1] if "mtu" in route else "none"
        print(f"     client's path MTU to {host} after the upload: {mtu}")

    # Backend changes under load. The kept-alive connection's backend is
    # drained; another one is then removed.
    drained = first.get("backend", "b1")
    removed = next(n for n in sorted(WEIGHTS) if n != drained)
    client.do("load_start", host=vip4, rate=60, seconds=8)
    time.sleep(1.5)
    rpc.call("backends.set", address=vip4, port=80, protocol="tcp",
             backends=backend_list(topo, 4, {drained: "draining"}))
    t_drain = client.do("now")["now"]
    held = [client.do("again").get("backend") for _ in range(3)]
    time.sleep(2.0)
    rpc.call("backends.set", address=vip4, port=80, protocol="tcp",
             backends=backend_list(topo, 4, {drained: "draining", removed: "removed"}))
    t_remove = client.do("now")["now"]
    time.sleep(2.0)
    load = client.do("load_stop")["results"]
    client.do("close")

    print(f"     drained {drained}: the kept-alive connection then got {held}")
    check(all(b == drained for b in held), "a draining backend keeps its connection")
    # A connection of the drained phase must also end before the removal: one
    # still open then may be on the removed backend, whose flows are re-picked
    # (a removal is not a drain), and is in flux like those started just after.
    phases = {"before": [r for r in load if r["t"] < t_drain],
              "drained": [r for r in load if t_drain + SETTLE_S <= r["t"] and r["end"] < t_remove],
              "removed": [r for r in load if r["t"] >= t_remove + SETTLE_S]}
    in_flux = len(load) - sum(len(p) for p in phases.values())
    for phase, results in phases.items():
        ok = sum(1 for r in results if "backend" in r)
        got = {}
        for r in results:
            if "backend" in r:
                got[r["backend"]] = got.get(r["backend"], 0) + 1
        errors = [r["error"] for r in results if "error" in r][:3]
        print(f"     load, {phase}: {ok}/{len(results)} succeeded, shares {got}, errors {errors}")
        check(results and ok == len(results),
              f"under load, {phase}: every new connection succeeded")
        if phase != "before":
            check(drained not in got, f"under load, {phase}: none went to draining {drained}")
        if phase == "removed":
            check(removed not in got, f"under load, {phase}: none went to removed {removed}")
    failed_in_flux = sum(1 for r in load if "error" in r) - sum(
        1 for p in phases.values() for r in p if "error" in r)
    print(f"     load: {len(load)} connections in all, {in_flux} started within "
          f"{SETTLE_S} s of a change or open across the removal ({failed_in_flux} of them failed)")

    status = rpc.call("status.get")
    print(f"     status.get: {json.dumps(status)[:400]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataplane", choices=("dpdk", "xdp"), default="dpdk")
    ap.add_argument("--dp", help="edgelb-dp, for --dataplane dpdk")
    ap.add_argument("--xdp", help="edgelb-xdp, for --dataplane xdp")
    ap.add_argument("--decap", required=True)
    args = ap.parse_args()
    if (args.dp if args.dataplane == "dpdk" else args.xdp) is None:
        ap.error(f"--dataplane {args.dataplane} needs --{'dp' if args.dataplane == 'dpdk' else 'xdp'}")
    if os.geteuid() != 0:
        print("SKIP: needs root (namespaces, veth, AF_XDP, XDP)")
        return 77
    # meson ends a test that overruns with SIGTERM: clean up as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("SIGTERM"))
    tmp = tempfile.mkdtemp(prefix="elb-e2e-")
    started = time.monotonic()
    dp = None
    with topology(TAG, args.decap, args.dataplane) as topo:
        if topo is None:
            return 1
        try:
            dp = run(args, topo, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if dp is not None:
                if dp.poll() is None:
                    dp.send_signal(signal.SIGTERM)
                try:
                    out, _ = dp.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    dp.kill()
                    out, _ = dp.communicate()
                print(f"     {DATAPLANE[args.dataplane]} output at exit:\n" + "\n".join(
                    "       " + l for l in (out or "").splitlines()[-15:]))
    check(dp is not None and dp.returncode == 0,
          f"{DATAPLANE[args.dataplane]}: SIGTERM, exit status 0")
    print(f"{len(FAILURES)} check(s) failed; {time.monotonic() - started:.1f} s in all")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
