# SPDX-License-Identifier: BSD-3-Clause
"""Issue 16's drills: held TCP connections survive a backend addition
followed by a dataplane restart, thanks to the second chance (each Maglev
slot's previous owner travels with the packet in GUE private data, and the
backend that has no socket for a mid-connection segment forwards it there:
docs/second-chance.md).

Each drill builds its own tools/netns-topology (client, router, lb, backends
b1..b3 with edgelb-decap, set up to forward: see backends_can_forward) and
runs, on one dataplane:
  - a pattern server on every backend (edgelb_testlib.held: every byte of a
    download names the backend that sent it and its offset);
  - CONNECTIONS downloads from the client, half to the IPv4 VIP, half to the
    IPv6 one (GUE to backends of the VIP's family), each paced by the client:
    SO_RCVBUF RCVBUF set before connecting, CHUNK bytes read every EVERY s,
    so the backend can send only as the client opens its window and every
    connection is held, its ACKs crossing the balancer, through the drill;
  - VIPs with b1 and b2; then backends.set adds b3 (equal weights: about a
    third of the Maglev slots move to b3; `moved` counts the connections
    whose slot did, from flow.explain's Maglev pick against the backend the
    bytes name); the flow table keeps them on their backends;
  - kill -9 of the dataplane and a restart on the same --state (edgelb-dp
    loses its flow tables; edgelb-xdp keeps its pinned maps but, without
    RPS, a flow's packets can meet another CPU's table);
  - then the pacing ends: every connection reads the rest at full speed and
    must have every byte, in order, from the backend it started on. A reset
    is ECONNRESET/EPIPE, a timeout, or a short or corrupt transfer.
The drills:
  a. edgelb-dp, second chance on (the VIPs' "second_chance": true): 0 resets.
  b. edgelb-xdp (generic mode), restarted over its pinned maps, and no RPS
     on the lb's interface: a frame is handled on the CPU that sent it, and
     with the restart the client and the servers move from CPU 0 to CPU 1
     (taskset), so every flow meets a per-CPU flow table that never saw it,
     as when a NIC's RSS or IRQ affinity changes: 0 resets.
  c. edgelb-dp on a two-queue net_tap port, one worker before the restart
     and two after: 0 resets.
  Negative controls: drills a and b with second chance off at the VIPs
  (today's encapsulation), and drill a with it off at the backends
  (edgelb-decap --no-second-chance): the moved connections are reset
  (> 0, and exactly the moved ones).
Each drill prints a FIGURE line: connections, moved, resets, and how many
packets the backends' edgelb-decap forwarded to the alternate (--stats).
Root only (skipped otherwise). Run by pytest (--dp, --xdp, --decap).
"""
import contextlib
import ipaddress
import json
import os
import signal
import time

import pytest

from edgelb_testlib import e2e, held
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.netns import sh, tc_wire
from edgelb_testlib.pytest_plugin import print_past_capture, require_root

TAG_PREFIX = f"sc{os.getpid() % 100000}"  # + one letter per drill: 8 characters at most
PORT = 8080
GUE_PORT = 6080
# Per VIP family. A connection's source port is random, so its Maglev slot
# is uniform over the table; adding a third backend of equal weight moves
# about 1/3 of the slots to it. The chance that none of 2 * 16 connections
# moved (a drill that proves nothing, and a negative control with no reset)
# is (2/3)^32 = 2.3e-6.
PER_FAMILY = 16
CONNECTIONS = 2 * PER_FAMILY
# Paced at CHUNK / EVERY = 10 KiB/s per connection: DOWNLOAD_BYTES lasts
# 50 s paced, longer than any drill (each is bounded by DRILL_BUDGET_S), so
# every connection is still held when the pacing ends.
DOWNLOAD_BYTES = 512 * 1024
CHUNK, EVERY, RCVBUF = 512, 0.05, 4096
HOLD_BEFORE_S = 1.0    # paced traffic before the backend is added
AFTER_CHANGE_S = 1.0   # and before the kill -9
AFTER_RESTART_S = 3.0  # paced traffic after the restart, before the pacing ends
DRILL_BUDGET_S = 60
LIFETIME_S = 150       # agents and servers exit after this, whatever happens
DATA_TAP = "scq0"      # drill c: the kernel side of edgelb-dp's net_tap port
ONE_WORKER, TWO_WORKERS = "0@0,1@1", "0@0,1@1,2@1"  # main lcore 0; workers on CPU 1


def figure(text):
    """A FIGURE line in the test's log (past pytest's capture)."""
    print_past_capture("FIGURE " + text)


def backends(topo, family, names):
    return [{"address": topo[f"BACKEND{int(n[1:])}_{family}"], "weight": 1} for n in names]


def config(topo, second_chance, names):
    vips = []
    for family in (4, 6):
        vip = {"address": topo[f"VIP{family}"], "port": PORT, "protocol": "tcp", "encap": "gue",
               "backends": backends(topo, family, names)}
        if second_chance:
            vip["second_chance"] = True
        vips.append(vip)
    return {"node": {"source_v4": topo["LB4"], "source_v6": topo["LB6"],
                     "gateway_mac": topo["ROUTER_LB_MAC"], "gue_port": GUE_PORT},
            "vips": vips}


def dataplane_argv(kind, binary, topo, sock, tag, cfg, state, lcores):
    """e2e's command line, or for lcores edgelb-dp on a net_tap port with as
    many queues as workers (net_tap spreads flows over its queues: RSS), with
    the lb's MAC so that the router's neighbour entry outlives a restart."""
    if lcores is None:
        return e2e.dataplane_argv(kind, binary, topo, sock, tag, cfg, state)
    return [binary, "--lcores", lcores, "--no-huge", "-m", "512", "--no-pci",
            f"--file-prefix={tag}", "--log-level=error",
            "--vdev", f"net_tap0,iface={DATA_TAP},mac={topo['LB_MAC']}", "--",
            "--socket", sock, "--flows", "65536", "--kernel-iface", e2e.TAP_PREFIX,
            "--config", cfg, "--state", state]


def start(kind, binary, topo, sock, tag, cfg, state, lcores, log):
    argv = dataplane_argv(kind, binary, topo, sock, tag, cfg, state, lcores)
    proc, seconds = e2e.start_dataplane(kind, binary, topo, sock, tag, log=log, argv=argv)
    if proc is not None and lcores is not None:
        # The data port's kernel side and the lb's veth as one wire; the
        # kernel's own IPv6 traffic kept off the data port.
        sh("sysctl", "-qw", f"net.ipv6.conf.{DATA_TAP}.disable_ipv6=1", ns=topo["NS_LB"])
        tc_wire("eth0", DATA_TAP, ns=topo["NS_LB"])
    return proc, seconds


def decap_attach(decap, topo, second_chance):
    """edgelb-decap on every backend's eth0 again (it replaces the program in
    place), with or without --no-second-chance."""
    for i in (1, 2, 3):
        sh(decap, "--iface", "eth0", "--mode", "generic", "--gue-port", GUE_PORT,
           *([] if second_chance else ["--no-second-chance"]), ns=topo[f"BACKEND{i}_NS"])


def no_rps(topo):
    """The lb's eth0 without RPS: each frame is handled on the CPU that sent
    it, so a flow's packets can meet both CPUs' flow tables."""
    sh("sh", "-c", "echo 0 >/sys/class/net/eth0/queues/rx-0/rps_cpus", ns=topo["NS_LB"])


def pin(procs, cpu):
    """Every thread of these processes onto one CPU. Without RPS, the lb
    handles a frame on the CPU that sent it: the client's (its ACKs) or, for
    ACKs sent as data arrives, the backend's. Moving both from one CPU to the
    other moves every flow to the other CPU's flow table, as a change of RSS
    or IRQ affinity would on a NIC."""
    for p in procs:
        sh("taskset", "-a", "-p", "-c", cpu, p.pid)


def same_address(a, b):
    return a is not None and b is not None and ipaddress.ip_address(a) == ipaddress.ip_address(b)


def explain(control, conn):
    """flow.explain of the connection's next ACK."""
    return control.call("flow.explain", src=conn["src"], dst=conn["host"], sport=conn["sport"],
                        dport=PORT, protocol="tcp")


def reaches(explained, holder):
    """Does the explained packet get to holder: as its alternate, or sent to it?"""
    return (same_address(explained.get("alternate"), holder) or
            same_address((explained.get("backend") or {}).get("address"), holder))


def address_of(topo, conn):
    family = 6 if ":" in conn["host"] else 4
    return topo[f"BACKEND{int(conn['backend'][1:])}_{family}"]


def start_servers(stack, topo):
    """The pattern server on b1..b3, killed when stack closes."""
    servers = []
    for i in (1, 2, 3):
        servers.append(held.start_server(topo[f"BACKEND{i}_NS"], f"b{i}", PORT, LIFETIME_S,
                                         [topo["VIP4"], topo["VIP6"]]))
        assert servers[-1] is not None, f"pattern server on b{i}"
        stack.callback(lambda p=servers[-1]: (p.kill(), p.wait()))
    return servers


def check_restarted(sock, lcores):
    """The restarted dataplane runs the state with b3 (and, with lcores, as
    many workers as lcores has, one RX queue each)."""
    restored = jsonrpc.call(sock, "config.get")["config"]
    assert all(len(v["backends"]) == 3 for v in restored["vips"]), \
        f"restarted on its --state, with b3: {restored}"
    if lcores is not None:
        status = jsonrpc.call(sock, "status.get")["status"]
        want = lcores.count(",")
        assert status["workers"] == want and status["ports"][0]["rx_queues"] == want, \
            f"restarted with {want} workers, one RX queue each: {status}"


def print_resets(results, t_kill):
    for r in [r for r in results if not r["complete"]][:5]:
        print(f"     reset: {r['host']} sport {r['sport']} on {r['backend']}: "
              f"{r['received']}/{r['bytes']} bytes, corrupt_at {r['corrupt_at']}, "
              f"{r['error']['error']} ({r['error']['t'] - t_kill:+.1f} s after the kill)"
              if r["error"] else f"     short: {r}")


def drill(opts, workdir, letter, kind, second_chance=True, decap_second_chance=True,
          lcores=(None, None), move_cpu=False):
    """One drill (see the top); returns its figures. Everything it starts
    is stopped, the topology removed. With
    move_cpu (XDP), the traffic's CPU changes from 0 to 1 with the restart."""
    tag = TAG_PREFIX + letter
    binary = opts.dp if kind == "dpdk" else opts.xdp
    work = os.path.join(workdir, letter)
    os.makedirs(work, exist_ok=True)
    cfg, state, sock = (os.path.join(work, n) for n in ("config.json", "state.json", "dp.sock"))
    t0 = time.monotonic()
    flows_per_worker = None
    with contextlib.ExitStack() as stack:
        topo = stack.enter_context(e2e.topology(tag, opts.decap, kind))
        assert topo is not None, "topology up"
        if kind == "xdp":
            no_rps(topo)
        held.backends_can_forward(topo)
        if not decap_second_chance:
            decap_attach(opts.decap, topo, second_chance=False)
        servers = start_servers(stack, topo)
        with open(cfg, "w") as f:
            json.dump(config(topo, second_chance, ["b1", "b2"]), f)
        log = stack.enter_context(open(os.path.join(work, "dataplane.log"), "a"))
        dp, _ = start(kind, binary, topo, sock, tag, cfg, state, lcores[0], log)
        assert dp is not None, f"{e2e.DATAPLANE[kind]} up"
        procs = {"dp": dp}
        stack.callback(lambda: e2e.stop_process(procs["dp"]))
        agent = held.start_agent(topo["NS_CLIENT"], LIFETIME_S)
        stack.callback(agent.close)
        if move_cpu:
            pin(servers + [agent.proc], 0)

        started = agent.do("start", targets=[[topo["VIP4"], PORT, PER_FAMILY],
                                             [topo["VIP6"], PORT, PER_FAMILY]],
                           bytes=DOWNLOAD_BYTES, chunk=CHUNK, every=EVERY, rcvbuf=RCVBUF)
        conns = started["connections"]
        assert not started["errors"] and all(c["backend"] in ("b1", "b2") for c in conns), \
            f"{CONNECTIONS} downloads started on b1 and b2: {started}"
        decap_before = held.decap_stats(opts.decap, topo)
        time.sleep(HOLD_BEFORE_S)

        with jsonrpc.Connection(sock) as control:
            for family in (4, 6):
                control.call("backends.set", address=topo[f"VIP{family}"], port=PORT,
                             protocol="tcp", backends=backends(topo, family, ["b1", "b2", "b3"]))
            moved_conns = [c for c in conns if not same_address(
                explain(control, c)["maglev"]["backend"], address_of(topo, c))]
        time.sleep(AFTER_CHANGE_S)

        e2e.stop_process(dp, signal.SIGKILL)
        t_kill = time.monotonic()
        dp, up_s = start(kind, binary, topo, sock, tag, cfg, state, lcores[1], log)
        assert dp is not None, f"{e2e.DATAPLANE[kind]} up again after kill -9"
        procs["dp"] = dp
        if move_cpu:
            pin(servers + [agent.proc], 1)
        check_restarted(sock, lcores[1])
        time.sleep(AFTER_RESTART_S)
        if lcores[1] is not None:
            workers = jsonrpc.call(sock, "counters.get")["counters"]["workers"]
            flows_per_worker = [w["flows_in_use"] for w in workers]
        with jsonrpc.Connection(sock) as control:
            # What explain says of a moved connection's next ACK now: it
            # reaches the backend that holds it, as the alternate of a
            # mid-stream flow or (edgelb-xdp, whose per-CPU flow table may
            # still hold the connection's entry from before the CPU move on
            # the old CPU, and explain follows the copy expiring last) as the
            # backend of its sure entry.
            answers = [(explain(control, c), address_of(topo, c)) for c in moved_conns]
            explained = sum(reaches(e, holder) for e, holder in answers)
            alternate_holder = sum(same_address(e.get("alternate"), holder) for e, holder in answers)

        results = agent.do("stop")["connections"]
        decap_counts = held.stats_delta(decap_before, held.decap_stats(opts.decap, topo))
        figures = {"drill": letter, "dataplane": kind, "second_chance_vip": second_chance,
                   "second_chance_decap": decap_second_chance, "connections": len(results),
                   "moved": len(moved_conns), "resets": sum(not r["complete"] for r in results),
                   "decap_forwarded": decap_counts and decap_counts["forwarded"],
                   "explain_reaches_holder": explained,
                   "explain_alternate_holder": alternate_holder, "restart_s": round(up_s, 2),
                   "seconds": round(time.monotonic() - t0, 1),
                   "flows_per_worker_after": flows_per_worker,
                   "decap_counters": decap_counts}  # b1..b3 summed, over the drill
        figure(json.dumps(figures))
        print_resets(results, t_kill)
        assert len(results) == CONNECTIONS, f"every download reported: {len(results)}"
        early = [r for r in results if r["paced_complete"]]
        assert not early, f"every download was still held when the drill ended: {early[:2]}"
        assert figures["seconds"] < DRILL_BUDGET_S, f"drill bounded: {figures}"
        return figures


@pytest.fixture(autouse=True)
def root(opts):
    require_root("namespaces, veth, AF_XDP, XDP")
    # meson ends a test that overruns with SIGTERM: clean up as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: pytest.exit("SIGTERM", returncode=1))


def needs(opts, name):
    if getattr(opts, name) is None:
        raise pytest.UsageError(f"this test needs --{name}")


def assert_survived(f):
    """A second-chance drill's figures: it mattered, and nothing was reset."""
    assert f["moved"] > 0, f"some connections' slots moved to b3: {f}"
    assert f["explain_reaches_holder"] == f["moved"], \
        f"flow.explain sends each moved connection's next packet to its backend, directly or as the alternate: {f}"
    assert f["resets"] == 0, f"no held connection reset: {f}"
    held.assert_forwarded(f)


def test_dpdk_restart_after_backend_added(opts, workdir):
    """a. edgelb-dp kill -9'd and restarted after b3 was added: 0 resets."""
    needs(opts, "dp")
    f = drill(opts, workdir, "a", "dpdk")
    assert_survived(f)


NEGATIVE = [("dpdk", "vip", "n"), ("dpdk", "decap", "m"), ("xdp", "vip", "y")]


@pytest.mark.parametrize("kind,off_at,letter", NEGATIVE,
                         ids=[f"{k}-{o}-off" for k, o, _ in NEGATIVE])
def test_negative_control(opts, workdir, kind, off_at, letter):
    """Drill a or b with second chance off: the moved connections are reset."""
    needs(opts, "dp" if kind == "dpdk" else "xdp")
    f = drill(opts, workdir, letter, kind, second_chance=off_at != "vip",
                 decap_second_chance=off_at != "decap", move_cpu=kind == "xdp")
    assert f["resets"] > 0, f"second chance off ({off_at}): held connections reset: {f}"
    assert f["resets"] == f["moved"], \
        f"second chance off ({off_at}): exactly the moved connections reset: {f}"
    assert f["decap_forwarded"] == 0, f"nothing forwarded with second chance off: {f}"
    if off_at == "vip":
        assert f["explain_alternate_holder"] == 0, f"no alternate with the VIPs' off: {f}"
    else:
        assert f["decap_counters"]["kept_second_chance_off"] > 0, \
            f"alternates arrived and edgelb-decap, switched off, kept them: {f}"


def test_xdp_restart_and_cpu_move_without_rps(opts, workdir):
    """b. edgelb-xdp kill -9'd and restarted over its pinned maps; no RPS,
    the traffic moved to the other CPU."""
    needs(opts, "xdp")
    f = drill(opts, workdir, "x", "xdp", move_cpu=True)
    assert_survived(f)


def test_dpdk_worker_count_changed(opts, workdir):
    """c. edgelb-dp restarted with two workers instead of one."""
    needs(opts, "dp")
    f = drill(opts, workdir, "w", "dpdk", lcores=(ONE_WORKER, TWO_WORKERS))
    assert min(f["flows_per_worker_after"]) > 0, f"both workers took flows after the restart: {f}"
    assert_survived(f)
