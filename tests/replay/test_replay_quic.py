# SPDX-License-Identifier: BSD-3-Clause
"""QUIC routing by connection ID (issue 19) replayed through either
dataplane (edgelb-replay --dataplane dpdk or xdp, from --dataplane; dpdk
when not given), against truth built here: the
CIDs are made as a QUIC server makes them (edgelb_testlib.quiclb, on
Python's cryptography package, from the draft), never by the dataplane's
decoder.

A UDP VIP with three QUIC-LB configurations (config 0 plaintext, 1 single
pass, 2 four pass, the last two keyed), 8 backends each with a server ID,
beside a plain UDP VIP. Two captures:
  1. the Initials of 90 connections, from the clients' first addresses:
     each goes where the 5-tuple sends it (the same backend as a replay of
     a configuration without "quic"); that backend is the connection's
     server, which then chooses CIDs with its own server ID;
  2. the connections as they go on: the Initial again, a Handshake
     (QUIC v1 or v2) and 1-RTT packets with the server's CID, then the
     client moves (new address and port: a phone leaving Wi-Fi) and sends
     1-RTT packets with a new CID of the same server and with the old one.
     Beside them: CIDs that name no route (config ID 0b111, a config ID not
     configured, a server ID no backend has, too short) and plain UDP to
     the other VIP.
Checks: every packet of every connection reaches its server, before and
after the move; every packet a CID does not route (and the plain UDP) goes
where a replay without "quic" sends it; each packet's routing outcome (the
verdict line's "quic") is the one the capture was built for, and
counters.get's per-outcome counts equal the capture's.
Root only (skipped otherwise). Run by pytest (--replay, --dataplane).
"""
import collections
import random

import replaylib as rl
from edgelb_testlib.pytest_plugin import group_tests
from edgelb_testlib.quiclb import QUIC_V1, QUIC_V2, encode_cid, long_packet, short_packet

NS = 1000000000
T0 = 1700000000 * NS
NODE = {"source_v4": rl.NODE_SOURCE_V4, "source_v6": rl.NODE_SOURCE_V6,
        "gateway_mac": rl.GATEWAY_MAC}
QUIC_VIP = {"address": "10.0.0.4", "port": 443, "protocol": "udp"}
QUIC_VIP_NAME = "10.0.0.4:443/udp"
PLAIN_VIP = {"address": "10.0.0.5", "port": 53, "protocol": "udp"}
BACKENDS = ["10.201.0.%d" % i for i in range(1, 9)]
PLAIN_BACKENDS = ["10.202.0.%d" % i for i in range(1, 5)]
SID_LEN = 2
KEY1 = bytes.fromhex("8f95f09245765f80256934e50c66207f")
KEY2 = bytes.fromhex("fdf726a9893ec05c0632d3956680baf0")
# config ID -> (nonce length, key)
CONFIGS = {0: (6, None), 1: (14, KEY1), 2: (8, KEY2)}
CONNECTIONS = 90
TIMEOUTS = {"tcp_syn_ms": 60000, "tcp_established_ms": 300000, "tcp_closing_ms": 10000,
            "udp_ms": 300000}


def server_id(backend_index):
    return bytes([0x01, backend_index + 1])


def config(with_quic, configs):
    vip = dict(QUIC_VIP, timeouts=TIMEOUTS,
               backends=[{"address": b} for b in BACKENDS])
    if with_quic:
        vip["quic"] = {"server_id_length": SID_LEN,
                       "configs": [dict({"id": i, "nonce_length": n},
                                        **({"key": k.hex()} if k else {}))
                                   for i, (n, k) in configs.items()]}
        for i, b in enumerate(vip["backends"]):
            b["quic_server_id"] = server_id(i).hex()
    plain = dict(PLAIN_VIP, timeouts=TIMEOUTS, backends=[{"address": b} for b in PLAIN_BACKENDS])
    return {"node": NODE, "vips": [vip, plain]}


def client(c, moved):
    """Connection c's client address and port, before or after it moves."""
    if moved:
        return "10.31.%d.%d" % (c // 200, 1 + c % 200), 50000 + c
    return "10.30.%d.%d" % (c // 200, 1 + c % 200), 40000 + c


def frame(src, sport, vip, payload):
    return rl.ipv4_frame(src, vip["address"], rl.IPPROTO_UDP, sport, vip["port"], payload=payload)


def initials(rng):
    """Capture 1: each connection's Initial, with the DCID its client chose."""
    out = []
    for c in range(CONNECTIONS):
        src, sport = client(c, False)
        dcid = rng.randbytes(8)
        out.append((c, dcid, frame(src, sport, QUIC_VIP,
                                   long_packet(rng, QUIC_V1, "initial", dcid, rng.randbytes(8)))))
    return out


def build(rng, first, server_of, configs):
    """Capture 2: [(frame, expectation)] where expectation is
    ("server", backend, outcome) or ("5-tuple", None, outcome)."""
    packets = []
    for c, dcid, initial in first:
        s = server_of[c]
        cr = c % 3
        nonce_len, key = configs[cr]
        cid1 = encode_cid(cr, server_id(s), rng.randbytes(nonce_len), key)
        cid2 = encode_cid(cr, server_id(s), rng.randbytes(nonce_len), key)
        version = QUIC_V2 if c % 4 == 3 else QUIC_V1
        src, sport = client(c, False)
        moved, msport = client(c, True)
        packets.append((initial, ("server", s, "client_cid")))
        packets.append((frame(src, sport, QUIC_VIP, long_packet(rng, version, "handshake", cid1,
                                                               rng.randbytes(8))),
                        ("server", s, "by_cid")))
        for _ in range(4):
            packets.append((frame(src, sport, QUIC_VIP, short_packet(rng, cid1)),
                            ("server", s, "by_cid")))
        # The move: a new CID, then the old one again (a NAT rebinding).
        for cid in (cid2, cid2, cid2, cid1, cid1):
            packets.append((frame(moved, msport, QUIC_VIP, short_packet(rng, cid)),
                            ("server", s, "by_cid")))
    # CIDs that route nowhere: each on a 5-tuple of its own.
    misses = []
    for i in range(30):
        nonce = rng.randbytes(6)
        kind = i % 5
        if kind == 0:
            cid = encode_cid(7, server_id(i % 8), nonce)  # a server without a configuration
            outcome = "no_config_codepoint"
        elif kind == 1:
            cid = encode_cid(5, server_id(i % 8), nonce)  # config 5: not configured
            outcome = "unknown_config"
        elif kind == 2:
            cid = encode_cid(0, bytes([0x09, 0x99]), nonce)  # no backend has 0x0999
            outcome = "unknown_server"
        elif kind == 3:
            cid = encode_cid(1, server_id(i % 8), rng.randbytes(14), KEY1)[:12]  # cut short
            outcome = "cid_too_short"
        else:
            cid = None
            outcome = "client_cid"
        src = "10.32.0.%d" % (1 + i)
        if cid is None:
            payload = long_packet(rng, QUIC_V1, "0rtt", rng.randbytes(8))
        elif kind == 3:
            payload = bytes([0x40]) + cid  # the datagram ends inside the CID
        else:
            payload = short_packet(rng, cid)
        misses.append((frame(src, 45000 + i, QUIC_VIP, payload), ("5-tuple", None, outcome)))
    plain = [(frame("10.33.0.%d" % (1 + i % 50), 46000 + i, PLAIN_VIP, rng.randbytes(30)),
              ("5-tuple", None, None)) for i in range(200)]
    # Interleaved as a capture would have them: connections in order,
    # misses and plain UDP spread between.
    extra = misses + plain
    rng.shuffle(extra)
    out = []
    step = max(1, len(packets) // len(extra))
    for i, p in enumerate(packets):
        out.append(p)
        if i % step == 0 and extra:
            out.append(extra.pop())
    out.extend(extra)
    return out


def run(args, work, ck):
    dataplane = args.dataplane or "dpdk"
    configs = CONFIGS
    rng = random.Random(19)
    first = initials(rng)
    cap1 = [(T0 + i * 1000000, f) for i, (_, _, f) in enumerate(first)]
    with_quic, _, _ = rl.replay_capture(args, work, "initials", config(True, configs), cap1,
                                         dataplane=dataplane)
    without, _, _ = rl.replay_capture(args, work, "initials-plain", config(False, configs), cap1,
                                      dataplane=dataplane)
    server_of = {}
    for (c, _, _), v, w in zip(first, with_quic, without):
        ck.tally(v["verdict"] == "forward" and v["backend"] == w["backend"], "initial.by_5tuple",
                 "connection %d: Initial to %s, without quic %s" % (c, v["backend"], w["backend"]))
        ck.tally(v.get("quic") == "client_cid", "initial.outcome",
                 "connection %d: quic %s" % (c, v.get("quic")))
        if v["backend"] in BACKENDS:
            server_of[c] = BACKENDS.index(v["backend"])
    servers_used = len(set(server_of.values()))
    ck.tally(len(server_of) == CONNECTIONS and servers_used >= 6, "initial.spread",
             "%d connections placed, on %d servers" % (len(server_of), servers_used))
    if len(server_of) != CONNECTIONS:
        return

    capture = build(rng, first, server_of, configs)
    cap2 = [(T0 + i * 100000, f) for i, (f, _) in enumerate(capture)]
    got, counters, _ = rl.replay_capture(args, work, "moves", config(True, configs), cap2, counters=True,
                                         dataplane=dataplane)
    ref, _, _ = rl.replay_capture(args, work, "moves-plain", config(False, configs), cap2,
                                  dataplane=dataplane)
    ck.tally(len(got) == len(capture) == len(ref), "moves.count",
             "%d verdicts, %d reference, %d packets" % (len(got), len(ref), len(capture)))
    want_outcomes = collections.Counter()
    moved_ok = moved_differs = 0
    for i, ((_, (kind, server, outcome)), v, r) in enumerate(zip(capture, got, ref)):
        ck.tally(v["verdict"] == "forward", "moves.forwarded", "packet %d: %s" % (i, v))
        if outcome is not None:
            want_outcomes[outcome] += 1
        ck.tally(v.get("quic") == outcome, "moves.outcome",
                 "packet %d: quic %s, built for %s" % (i, v.get("quic"), outcome))
        if kind == "server":
            ok = v["backend"] == BACKENDS[server]
            ck.tally(ok, "moves.server", "packet %d to %s, its server is %s" %
                     (i, v["backend"], BACKENDS[server]))
            moved_ok += ok
            moved_differs += r["backend"] != BACKENDS[server]
        else:
            ck.tally(v["backend"] == r["backend"], "moves.fallback",
                     "packet %d (%s) to %s, without quic %s" % (i, outcome, v["backend"], r["backend"]))
    # The moved packets would have gone elsewhere by the 5-tuple: the
    # server ID is what kept them.
    ck.tally(moved_differs > 100, "moves.server",
             "only %d connection packets would have changed backend without quic" % moved_differs)
    ck.figure("%d connection packets on their server; %d of them a 5-tuple replay sends "
              "elsewhere" % (moved_ok, moved_differs))
    vc = next((v for v in counters["vips"] if v["vip"] == QUIC_VIP_NAME), {})
    got_outcomes = {k: n for k, n in vc.get("quic", {}).items() if n}
    ck.tally(got_outcomes == dict(want_outcomes), "moves.counters",
             "counters.get quic %s, capture %s" % (got_outcomes, dict(want_outcomes)))
    plain_vc = next((v for v in counters["vips"] if v["vip"] == "10.0.0.5:53/udp"), {})
    ck.tally("quic" not in plain_vc, "moves.counters", "the plain VIP reports quic counters")


ck = rl.tallied_run(run, "test_replay_quic")

GROUPS = {
    'initial': 'Initials go by the 5-tuple, as without quic',
    'moves': 'connections keep their server through a move; what no CID routes, as without quic',
}

test_checks, test_no_check_outside_the_groups_failed = group_tests(GROUPS)
