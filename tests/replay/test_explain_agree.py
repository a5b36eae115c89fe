# SPDX-License-Identifier: BSD-3-Clause
"""flow.explain agrees with what the dataplane then does, for 10,000 random
flows, on either dataplane (--dataplane dpdk or xdp).

The capture, built here: 10,000 flows over three VIPs (IPv4 TCP, IPv6 TCP,
IPv4 UDP with GUE and a rate limit of 1 packet/s, burst 1), plus packets
for no VIP, malformed ones and too-big ones. Phase A is each flow's first
packet (TCP SYN, UDP datagram), all at t = 1 s; phase B each flow's second
(TCP ACK with data, UDP again), all at t = 1.5 s. edgelb-replay holds
before phase A, before phase B and after the end (--hold-at), serving its
socket. At each hold this script asks flow.explain about every packet of
the coming phase, giving the very frame of the capture (hex); between A and
B it changes the TCP VIP's backends (one removed, one added), so that
phase B has flow-table hits, hits whose backend left (re-picks) and, on
the UDP VIP, packets over the rate limit.

Then, for every packet, the replay's verdict line must equal the
explanation given before it (verdict, reason, backend, new flow, output
length) and every frame written to the output capture must equal, byte for
byte, the output the explanation announced. Each explanation must also be
"consistent" (its shared steps lead where the dataplane's run went), name
the flow-table decision the phase implies (miss in A; hit, or backend gone,
in B), and explain must change nothing: counters before and after the
explanations are equal. Timestamps are the same within a phase, so the
clock explain decides at (the next packet's) is each packet's own.
A fourth VIP (IPv4 TCP, GUE, second_chance) has flows of three kinds:
started by a SYN in phase A (the table is sure of them: never an
alternate), first seen mid-connection in phase A (an ACK: a mid-stream
entry, whose alternate in phase B is recomputed) and first seen in phase
B (an ACK after the change: a mid-stream miss). Its change between the
phases adds a backend and drains another, so some Maglev slots get new
owners. For these packets the explanation must say `midstream` as the
kind implies and name as `alternate` exactly the slot's owner before the
change (read by explaining the same frame before phase A) when the packet
is not sure and its slot moved, else null; every output frame of this VIP
is checked against one built here from the wire format (GUE variant 0
with edgelb's private data when there is an alternate, variant 1 without).
Root only (skipped otherwise). Run by pytest (--replay, --pktgen,
--dataplane): the run is one module fixture, each property a test.
"""
import ipaddress
import json
import os
import random
import signal
import struct
import subprocess
import time

import pytest

import replaylib as rl
from edgelb_testlib.pcap import read_pcap, write_pcap
from edgelb_testlib.csum import checksum, pseudo_header, with_ipv4_checksum
from edgelb_testlib.rpc import connect_when_ready, outcome

FLOWS = 10000
SEED = 20261124
T_A, T_B = 1000000000, 1500000000  # ns: every packet of a phase at one time
MTU = 1500

V4_TCP = {"address": "10.0.0.10", "port": 80, "protocol": "tcp"}
V6_TCP = {"address": "2001:db8::10", "port": 443, "protocol": "tcp"}
V4_UDP = {"address": "10.0.0.20", "port": 53, "protocol": "udp"}
REMOVED, ADDED = "10.200.0.2", "10.200.0.5"
V4_BACKENDS = ["10.200.0.1", "10.200.0.2", "10.200.0.3", "10.200.0.4"]
V4_BACKENDS_B = ["10.200.0.1", "10.200.0.3", "10.200.0.4", ADDED]
# Second chance: a backend added and one drained between the phases.
V4_SC = {"address": "10.0.0.30", "port": 80, "protocol": "tcp"}
SC_BACKENDS = [{"address": "10.202.0.%d" % i} for i in (1, 2, 3)]
SC_BACKENDS_B = [{"address": "10.202.0.1"}, {"address": "10.202.0.2", "state": "draining"},
                 {"address": "10.202.0.3"}, {"address": "10.202.0.4"}]
SC_FLOWS = 600  # of each kind: sc_syn, sc_mid, sc_late
GUE_PRIV_MAGIC, GUE_PRIV_SECOND_CHANCE = 0xEB, 1  # docs/second-chance.md

CONFIG = {
    "node": {"source_v4": rl.NODE_SOURCE_V4, "source_v6": rl.NODE_SOURCE_V6,
             "gateway_mac": rl.GATEWAY_MAC},
    "vips": [
        dict(V4_TCP, mtu=MTU, backends=[{"address": a} for a in V4_BACKENDS]),
        dict(V6_TCP, mtu=MTU, backends=[{"address": "fd00::200:%d" % i} for i in (1, 2, 3)]),
        dict(V4_UDP, mtu=MTU, encap="gue",
             rate_limit={"packets_per_s": 1, "packet_burst": 1},
             backends=[{"address": "10.201.0.%d" % i} for i in (1, 2, 3)]),
        dict(V4_SC, mtu=MTU, encap="gue", second_chance=True, backends=SC_BACKENDS),
    ],
}

CLIENT_MAC = bytes.fromhex("020000000101")
PORT_MAC = bytes.fromhex("020000000102")


def l4_segment(proto, src, dst, sport, dport, flags, payload):
    if proto == 6:
        hdr = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)
    else:
        hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    seg = hdr + payload
    c = checksum(pseudo_header(src, dst, proto, len(seg)) + seg) or (0xFFFF if proto == 17 else 0)
    off = 16 if proto == 6 else 6
    return seg[:off] + struct.pack("!H", c) + seg[off + 2:]


def frame(src, dst, sport, dport, proto, flags=0, payload=b"", df=True):
    """An Ethernet frame from the client, built here from the wire formats."""
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    seg = l4_segment(proto, s, d, sport, dport, flags, payload)
    if len(s) == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0x1234, 0x4000 if df else 0,
                         64, proto, 0, s, d)
        ip = with_ipv4_checksum(ip)
        return PORT_MAC + CLIENT_MAC + b"\x08\x00" + ip + seg
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(seg), proto, 64, s, d)
    return PORT_MAC + CLIENT_MAC + b"\x86\xdd" + ip + seg


def build_capture(rnd):
    """(phase A frames, phase B frames, what each flow is)."""
    flows = []
    seen = set()
    while len(flows) < FLOWS:
        r = rnd.random()
        if r < 0.6:
            vip, src = V4_TCP, "198.18.%d.%d" % (rnd.randrange(256), rnd.randrange(1, 255))
        elif r < 0.85:
            vip, src = V6_TCP, "2001:db8:c::%x:%x" % (rnd.randrange(1 << 16), rnd.randrange(1 << 16))
        else:
            vip, src = V4_UDP, "198.19.%d.%d" % (rnd.randrange(256), rnd.randrange(1, 255))
        sport = rnd.randrange(1024, 65536)
        key = (src, sport, vip["address"], vip["port"])
        if key not in seen:
            seen.add(key)
            flows.append((vip, src, sport))
    a, b = [], []
    for vip, src, sport in flows:
        proto = 6 if vip["protocol"] == "tcp" else 17
        if proto == 6:
            a.append(("flow", frame(src, vip["address"], sport, vip["port"], 6, 0x02)))
            b.append(("flow", frame(src, vip["address"], sport, vip["port"], 6, 0x18, b"x" * 100)))
        else:
            a.append(("flow", frame(src, vip["address"], sport, vip["port"], 17, 0, b"q" * 20)))
            b.append(("flow", frame(src, vip["address"], sport, vip["port"], 17, 0, b"r" * 20)))
    # What is not a flow of a VIP, spread through phase A.
    for i in range(100):
        a.insert(rnd.randrange(len(a)), ("non_vip", frame("198.18.9.%d" % (i + 1), "10.0.0.99",
                                                           1000 + i, 80, 6, 0x02)))
    for i in range(50):
        good = frame("198.18.7.%d" % (i + 1), "10.0.0.10", 2000 + i, 80, 6, 0x02)
        bad = good[:14 + 2] + struct.pack("!H", 10) + good[18:]  # IPv4 total length 10 < 20
        a.insert(rnd.randrange(len(a)), ("malformed", bad))
    for i in range(20):
        a.insert(rnd.randrange(len(a)), ("too_big", frame("198.18.8.%d" % (i + 1), "10.0.0.10",
                                                          3000 + i, 80, 6, 0x18, b"b" * 1480)))
    # Second chance: SYN-started, mid-stream in A, mid-stream in B only.
    sc = V4_SC["address"]
    for i in range(SC_FLOWS):
        syn = ("198.20.%d.%d" % (i // 250, i % 250 + 1), 1024 + i)
        mid = ("198.21.%d.%d" % (i // 250, i % 250 + 1), 1024 + i)
        late = ("198.22.%d.%d" % (i // 250, i % 250 + 1), 1024 + i)
        a.insert(rnd.randrange(len(a)), ("sc_syn", frame(syn[0], sc, syn[1], 80, 6, 0x02)))
        b.insert(rnd.randrange(len(b)), ("sc_syn", frame(syn[0], sc, syn[1], 80, 6, 0x18, b"s" * 60)))
        a.insert(rnd.randrange(len(a)), ("sc_mid", frame(mid[0], sc, mid[1], 80, 6, 0x18, b"m" * 60)))
        b.insert(rnd.randrange(len(b)), ("sc_mid", frame(mid[0], sc, mid[1], 80, 6, 0x10)))
        b.insert(rnd.randrange(len(b)), ("sc_late", frame(late[0], sc, late[1], 80, 6, 0x18, b"l" * 60)))
    return a, b


def expected_gue4(inp, backend, alternate):
    """The IP packet edgelb must send (from the outer IPv4 header on) for
    input frame inp toward IPv4 `backend`: GUE variant 1 (the inner packet
    right after UDP) without an alternate; with one, GUE variant 0: the
    4-byte header (version 0, C 0, Hlen 2 words; proto 4; flags 0) and
    edgelb's private data (magic, type, 1 hop left, family 4, the
    alternate's address) before the inner packet. The UDP source port (flow
    hash) is zeroed, in the result and by the caller in the frame compared."""
    inner = inp[14:]
    gue = b""
    if alternate is not None:
        gue = (struct.pack("!BBH", 0 << 6 | 0 << 5 | 2, 4, 0) +
               struct.pack("!BBBB", GUE_PRIV_MAGIC, GUE_PRIV_SECOND_CHANCE, 1, 4) +
               ipaddress.ip_address(alternate).packed)
    udp = struct.pack("!HHHH", 0, rl.GUE_PORT, 8 + len(gue) + len(inner), 0)
    tos, ident, frag = inner[1], struct.unpack("!H", inner[4:6])[0], struct.unpack("!H", inner[6:8])[0]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(udp) + len(gue) + len(inner), ident,
                      frag & 0x4000, 64, 17, 0, ipaddress.ip_address(rl.NODE_SOURCE_V4).packed,
                      ipaddress.ip_address(backend).packed)
    return with_ipv4_checksum(hdr) + udp + gue + inner


def check_second_chance(ck, kind, phase, p, inp, old_owner):
    """The second-chance members of explanation p of frame inp (kind, phase
    "A" or "B"); old_owner: the Maglev pick of inp before phase A."""
    ck.tally(p.get("vip", {}).get("second_chance") is True, "sc.vip", "%s: %s" % (kind, p.get("vip")))
    if p["verdict"] != "forward":
        ck.tally(False, "sc.forward", "%s %s: %s" % (kind, phase, p))
        return None
    midstream = kind == "sc_mid" or kind == "sc_late"
    ck.tally(p.get("midstream") is midstream, "sc.midstream",
             "%s %s: midstream %s" % (kind, phase, p.get("midstream")))
    pick = p["maglev"]["backend"]
    moved = phase == "B" and old_owner is not None and old_owner != pick
    # The slot's previous owner: what it had before the change, if moved.
    ck.tally(p["maglev"].get("previous", "absent") == (old_owner if moved else None), "sc.previous",
             "%s %s: previous %s, owner before %s, now %s" % (kind, phase, p["maglev"].get("previous"),
                                                               old_owner, pick))
    # Only a packet whose backend is not sure carries it, and only toward
    # another backend: a mid-stream entry of phase A goes to the old owner.
    backend = p["backend"]["address"]
    want = old_owner if midstream and moved and backend != old_owner else None
    ck.tally(p.get("alternate", "absent") == want, "sc.alternate",
             "%s %s: alternate %s, expected %s" % (kind, phase, p.get("alternate"), want))
    out = bytes.fromhex(p.get("output", ""))
    exp = expected_gue4(inp, backend, want)
    got = out[14:14 + 20] + b"\0\0" + out[14 + 22:]
    ck.tally(got == exp, "sc.wire", "%s %s: output %s, expected %s" % (kind, phase, out[14:].hex(), exp.hex()))
    enc = p.get("encap", {})
    ck.tally(enc.get("gue_variant") == (0 if want else 1) and
             enc.get("overhead") == 28 + (12 if want else 0), "sc.encap", "%s %s: %s" % (kind, phase, enc))
    return want


class Replay:
    def __init__(self, args, work, holds, n_packets):
        self.sock = os.path.join(work, "ctl.sock")
        self.out = os.path.join(work, "out.pcap")
        self.verdicts = os.path.join(work, "verdicts.jsonl")
        cmd = [args.replay, "--dataplane", args.dataplane, "--config", os.path.join(work, "config.json"),
               "--in", os.path.join(work, "in.pcap"), "--out", self.out, "--verdicts",
               self.verdicts, "--socket", self.sock, "--flows", "65536"]
        for h in holds:
            cmd += ["--hold-at", str(h)]
        self.err = open(os.path.join(work, "replay.stderr"), "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.n_packets = n_packets

    def wait_hold(self, at, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("edgelb-replay ended before holding at %d" % at)
            if line.strip() == "held before packet %d" % at:
                return
        raise TimeoutError("no hold at %d" % at)

    def release(self):
        self.proc.send_signal(signal.SIGUSR1)


def explain_all(rpc, packets, batch=200):
    """flow.explain of each frame, pipelined in batches."""
    out = []
    for start in range(0, len(packets), batch):
        chunk = packets[start:start + batch]
        reqs = []
        for i, (_kind, data) in enumerate(chunk):
            reqs.append('{"jsonrpc":"2.0","id":%d,"method":"flow.explain","params":'
                        '{"packet":"%s","output":true}}\n' % (start + i, data.hex()))
        rpc.sock.sendall("".join(reqs).encode())
        for i in range(len(chunk)):
            while b"\n" not in rpc.buf:
                more = rpc.sock.recv(1 << 20)
                if not more:
                    raise ConnectionError("socket closed during explain")
                rpc.buf += more
            line, rpc.buf = rpc.buf.split(b"\n", 1)
            resp = json.loads(line)
            if resp.get("id") != start + i or "result" not in resp:
                raise RuntimeError("flow.explain %d: %s" % (start + i, resp))
            out.append(resp["result"])
    return out


def counters(rpc):
    res, err = outcome(rpc.request("counters.get"))
    if err:
        raise RuntimeError("counters.get: %s" % err)
    return res


def run(args, work, ck):
    rnd = random.Random(SEED)
    phase_a, phase_b = build_capture(rnd)
    packets = [(T_A, d) for _k, d in phase_a] + [(T_B, d) for _k, d in phase_b]
    kinds = [k for k, _d in phase_a] + [k for k, _d in phase_b]
    write_pcap(os.path.join(work, "in.pcap"), packets, nanoseconds=True)
    rl.write_config(os.path.join(work, "config.json"), CONFIG)
    n_a, n = len(phase_a), len(packets)
    replay = Replay(args, work, [0, n_a, n], n)
    predictions = [None] * n
    try:
        replay.wait_hold(0)
        rpc = connect_when_ready(replay.sock, replay.proc, what="edgelb-replay")
        # Each second-chance frame of phase B explained under the first
        # configuration: the owner of its Maglev slot before the change.
        sc_b = [(i, f) for i, f in enumerate(phase_b) if f[0].startswith("sc_")]
        old_owner = {n_a + i: p["maglev"]["backend"]
                     for (i, _f), p in zip(sc_b, explain_all(rpc, [f for _i, f in sc_b]))}
        before = counters(rpc)
        t0 = time.monotonic()
        predictions[:n_a] = explain_all(rpc, phase_a)
        took_a = time.monotonic() - t0
        ck.tally(counters(rpc) == before, "explain.changes_nothing",
                 "counters moved while explaining phase A")
        replay.release()

        replay.wait_hold(n_a)
        res, err = outcome(rpc.request("backends.set", dict(V4_TCP, backends=[{"address": a} for a in V4_BACKENDS_B])))
        ck.tally(err is None, "backends.set", str(err))
        res, err = outcome(rpc.request("backends.set", dict(V4_SC, backends=SC_BACKENDS_B)))
        ck.tally(err is None, "backends.set", str(err))
        before = counters(rpc)
        t0 = time.monotonic()
        predictions[n_a:] = explain_all(rpc, phase_b)
        took_b = time.monotonic() - t0
        ck.tally(counters(rpc) == before, "explain.changes_nothing",
                 "counters moved while explaining phase B")
        replay.release()

        replay.wait_hold(n)
        after = explain_all(rpc, phase_b[:200])
        rpc.close()
        replay.release()
        rc = replay.proc.wait(timeout=120)
        ck.tally(rc == 0, "replay.exit", "edgelb-replay exited %d" % rc)
    finally:
        if replay.proc.poll() is None:
            replay.proc.kill()
            replay.proc.wait()

    verdicts = rl.read_jsonl(replay.verdicts)
    ck.tally(len(verdicts) == n, "verdicts.count", "%d verdict lines for %d packets" % (len(verdicts), n))
    outputs = [data for _ts, data in read_pcap(replay.out)]
    out_i = 0
    tally = {}
    sc_tally = {}
    for i, (v, p) in enumerate(zip(verdicts, predictions)):
        kind = kinds[i]
        decision = p.get("flow", {}).get("decision", "-")
        key = (("A" if i < n_a else "B"), kind, p["verdict"], p.get("reason"), decision)
        tally[key] = tally.get(key, 0) + 1
        backend = p.get("backend", {}).get("address") if p["verdict"] == "forward" else None
        said = (p["verdict"], p.get("reason"), backend, p.get("new_flow", False),
                p.get("output_length", 0))
        did = (v["verdict"], v["reason"], v["backend"], v["new_flow"], v["out_len"])
        ck.tally(said == did, "agree", "packet %d (%s): explain said %s, replay did %s" % (i, kind, said, did))
        ck.tally(p.get("consistent") is True, "consistent", "packet %d: %s" % (i, p))
        if v["verdict"] in ("forward", "reply"):
            if out_i < len(outputs):
                ck.tally(bytes.fromhex(p.get("output", "")) == outputs[out_i], "output_bytes",
                         "packet %d: output frame differs from the explained one" % i)
            out_i += 1
        if kind == "flow":
            want = ("miss",) if i < n_a else ("hit", "backend_gone_repick")
            ck.tally(decision in want, "decision", "packet %d phase %s: %s" % (i, "A" if i < n_a else "B", decision))
        if kind.startswith("sc_"):
            phase = "A" if i < n_a else "B"
            want = "hit" if phase == "B" and kind != "sc_late" else "miss"
            ck.tally(decision == want, "decision", "packet %d %s phase %s: %s" % (i, kind, phase, decision))
            alt = check_second_chance(ck, kind, phase, p, packets[i][1], old_owner.get(i))
            sc_tally[(kind, phase, alt is not None)] = sc_tally.get((kind, phase, alt is not None), 0) + 1
    ck.tally(out_i == len(outputs), "output.count", "%d frames written, %d announced" % (len(outputs), out_i))
    # After phase B, its packets hit their entries (the re-picked ones too).
    ck.tally(all(p.get("flow", {}).get("decision") == "hit" for p in after if p["verdict"] != "drop"
                 or p.get("reason") == "rate_limited"), "after.hit", "some phase-B flow not found afterwards")

    agree = sum(1 for v, p in zip(verdicts, predictions)
                if (p["verdict"], p.get("reason"), p.get("new_flow", False)) ==
                (v["verdict"], v["reason"], v["new_flow"]))
    ck.figure("dataplane %s: %d packets (%d flows), explain agreed on %d" % (args.dataplane, n, FLOWS, agree))
    ck.figure("explain rate: phase A %.0f/s, phase B %.0f/s (pipelined, with output frames)" %
              (n_a / took_a, (n - n_a) / took_b))
    for key in sorted(tally):
        ck.figure("%s %-9s %-7s %-14s %-28s %5d" % (key[0], key[1], key[2], key[3] or "-", key[4], tally[key]))
    repicks = tally.get(("B", "flow", "forward", None, "backend_gone_repick"), 0)
    limited = sum(c for k, c in tally.items() if k[0] == "B" and k[3] == "rate_limited")
    ck.tally(repicks > 0 and limited > 0, "coverage", "re-picks %d, rate-limited %d" % (repicks, limited))
    for key in sorted(sc_tally):
        ck.figure("second chance: %-7s phase %s %-16s %5d" % (key[0], key[1], "with alternate" if key[2] else "without",
                                                             sc_tally[key]))
    # Moved slots: 1 of 4 backends new, one drained (about 45% of slots).
    ck.tally(sc_tally.get(("sc_late", "B", True), 0) > SC_FLOWS // 5 and
             sc_tally.get(("sc_late", "B", False), 0) > SC_FLOWS // 5, "sc.coverage", str(sc_tally))


ck = rl.tallied_run(run, "explain_agree")


@pytest.mark.parametrize("kind", [
    "explain.changes_nothing",  # counters equal before and after each phase's explanations
    "backends.set",             # the change between the phases applied
    "replay.exit",              # edgelb-replay exits 0
    "verdicts.count",           # one verdict line per packet
    "agree",                    # each verdict is the explanation given before it
    "consistent",               # each explanation's steps lead where its run went
    "output_bytes",             # each output frame is the one explained
    "decision",                 # flow-table decision: miss in phase A; hit or re-pick in B
    "output.count",             # as many frames written as announced
    "after.hit",                # after phase B its flows are found
    "coverage",                 # phase B had re-picks and rate-limited packets
    "sc.vip",                   # second-chance VIP: explain says so
    "sc.forward",               # its packets are forwarded
    "sc.midstream",             # midstream as the packet's kind implies
    "sc.previous",              # maglev.previous: the slot's owner before the change, if moved
    "sc.alternate",             # the alternate: the previous owner, for packets not sure only
    "sc.wire",                  # output: GUE variant 0 with private data / variant 1, built here
    "sc.encap",                 # gue_variant and overhead (+12 with an IPv4 alternate)
    "sc.coverage",              # mid-stream misses in B with and without an alternate
])
def test_explanations(ck, kind):
    ck.assert_kind_passed(kind)
