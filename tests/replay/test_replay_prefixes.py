# SPDX-License-Identifier: BSD-3-Clause
"""Prefix allow/deny lists (issue 18, docs/prefix-lists.md) replayed
through a dataplane's pipeline (edgelb-replay --prefixes), every packet's
verdict against a model written here from the specification: the longest
prefix of the VIP's list holding the client's address decides, else the
longest of the node's, else the packet goes on; a deny drops it
(source_denied) before the flow table. The model reads the lists with
Python's ipaddress, nothing of the dataplane's.

Three captures, built byte by byte here:
  1. Hand-written lists on three VIPs (IPv4 TCP, IPv6 TCP, IPv4 UDP): a
     node deny with a node allow inside it and a node deny inside that, a
     VIP allow overriding the node's deny, an allow-only VIP (deny 0/0 and
     allows). Established flows of allowed clients (some allowed only by
     an override) send throughout, beside denied and allowed sources
     opening flows, and a flow of a denied client: every verdict as
     modelled; established flows keep every packet and the backend a replay
     without lists gives them; per-VIP prefix counters and source_denied
     drops as modelled (counters.get); flow.explain names the rule the
     model names for new connections from 300 of the sources.
  2. A node list of 100,000 random nested prefixes (IPv4 and IPv6, /12 to
     /32 and /20 to /128) and a VIP list of 5,000: packets from the first
     and last address of thousands of rules and from the addresses just
     outside them, and from random addresses, beside established flows:
     every verdict as modelled, established flows untouched, counters.
  3. A configuration change under lists (config.set while the replay is
     held): a VIP's list given before the VIP exists applies from the
     change on (its packets went to the kernel before), the other VIP keeps
     its lists, its flow and the flow's backend.
Root only (skipped otherwise). Run by pytest (--replay, --dataplane): the
runs are one module fixture; each group of checks a test.
"""
import collections
import ipaddress
import json
import os
import random
import signal
import struct
import subprocess
import time

import replaylib as rl
from edgelb_testlib.csum import checksum, pseudo_header
from edgelb_testlib.frames import tcp4_frame, udp4_frame
from edgelb_testlib.pcap import write_pcap
from edgelb_testlib.pytest_plugin import group_tests
from edgelb_testlib.rpc import connect_when_ready, outcome

NS = 1000000000
T0 = 1700000000 * NS
TCP_SYN, TCP_ACK = 0x02, 0x10
CLIENT_MAC = bytes.fromhex("020000000101")
PORT_MAC = bytes.fromhex("020000000102")
NODE = {"source_v4": rl.NODE_SOURCE_V4, "source_v6": rl.NODE_SOURCE_V6,
        "gateway_mac": rl.GATEWAY_MAC}
TIMEOUTS = {"tcp_syn_ms": 60000, "tcp_established_ms": 300000, "tcp_closing_ms": 10000,
            "udp_ms": 300000}

V1 = {"address": "10.0.0.1", "port": 80, "protocol": "tcp"}
V2 = {"address": "2001:db8::1", "port": 443, "protocol": "tcp"}
V3 = {"address": "10.0.0.3", "port": 53, "protocol": "udp"}
BACKENDS = {"10.0.0.1": ["10.201.0.%d" % i for i in range(1, 5)],
            "2001:db8::1": ["fd00:201::%d" % i for i in range(1, 4)],
            "10.0.0.3": ["10.203.0.%d" % i for i in range(1, 4)]}


def vip_name(v):
    addr = "[%s]" % v["address"] if ":" in v["address"] else v["address"]
    return "%s:%d/%s" % (addr, v["port"], v["protocol"])


def config(vips):
    return {"node": NODE, "vips": [dict(v, timeouts=TIMEOUTS,
                                        backends=[{"address": b} for b in BACKENDS[v["address"]]])
                                   for v in vips]}


# --------------------------------------------------------------------------
# Frames


def tcp6_frame(src, dst, sport, dport, flags, payload_len=0):
    """Ethernet + IPv6 + TCP, the checksum right (RFC 8200 8.1)."""
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    body = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 65535, 0, 0) + \
        b"\xab" * payload_len
    body = body[:16] + struct.pack("!H", checksum(pseudo_header(s, d, 6, len(body)) + body)) + \
        body[18:]
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(body), 6, 64, s, d)
    return PORT_MAC + CLIENT_MAC + b"\x86\xdd" + ip6 + body


def frame(vip, src, sport, flags=TCP_SYN, payload_len=0):
    """A packet of client src:sport to vip (TCP flags, or a UDP datagram)."""
    if vip["protocol"] == "udp":
        return udp4_frame(PORT_MAC, CLIENT_MAC, src, vip["address"], sport, vip["port"],
                          b"q" * max(payload_len, 1))
    if ":" in vip["address"]:
        return tcp6_frame(src, vip["address"], sport, vip["port"], flags, payload_len)
    return tcp4_frame(PORT_MAC, CLIENT_MAC, src, vip["address"], sport, vip["port"], flags,
                      payload_len, df=True)


# --------------------------------------------------------------------------
# The model


class Lists:
    """The node's list and the VIPs' lists: rules (prefix text, action),
    decided by longest match: per scope, a dict per prefix length of the
    networks (as integers) to their action."""

    def __init__(self, node, vips):
        self.node = node
        self.vips = vips  # VIP name -> (vip, rules)
        self.index = {"node": self._index(node)}
        for name, (_, rules) in vips.items():
            self.index[name] = self._index(rules)

    @staticmethod
    def _index(rules):
        by_len = collections.defaultdict(dict)
        for text, action in rules:
            n = ipaddress.ip_network(text)
            by_len[(n.version, n.prefixlen)][int(n.network_address)] = (action, text)
        return by_len

    @staticmethod
    def _longest(by_len, addr):
        a = ipaddress.ip_address(addr)
        bits = 32 if a.version == 4 else 128
        value = int(a)
        for plen in range(bits, -1, -1):
            table = by_len.get((a.version, plen))
            if table:
                hit = table.get(value & ~((1 << (bits - plen)) - 1) & ((1 << bits) - 1))
                if hit:
                    return hit
        return None

    def decide(self, vip, addr):
        """(scope, action, rule) or None: the rule that decides."""
        for scope in (vip_name(vip), "node"):
            hit = self._longest(self.index[scope], addr) if scope in self.index else None
            if hit:
                return ("vip" if scope != "node" else "node", hit[0], hit[1])
        return None

    def json(self, generation):
        def scope(rules):
            return {a: [t for t, act in rules if act == a] for a in ("allow", "deny")}
        return {"generation": generation, "node": scope(self.node),
                "vips": [dict(v, **scope(rules)) for v, rules in self.vips.values()]}


# --------------------------------------------------------------------------
# Running the replay


def wait_held(proc, sock, tag, at):
    """The replay's socket once it holds before packet `at`."""
    held = "held before packet %d" % at
    if not any(line.strip() == held for line in proc.stdout):
        raise RuntimeError("edgelb-replay %s ended before holding at %d" % (tag, at))
    return connect_when_ready(sock, proc, what="edgelb-replay")


def replay(opts, work, tag, vips, lists, packets, pcap_tag=None, explain=(), holds=None):
    """edgelb-replay over packets [(ts_ns, frame)] with the prefix lists
    (None: none); returns (verdict dicts, counters.get after the last
    packet, seconds, flow.explain's results for the params in explain,
    asked then too). pcap_tag: reuse the capture another run wrote.
    holds: {packet index: fn(rpc)} called while held before that packet."""
    pcap = os.path.join(work, (pcap_tag or tag) + ".pcap")
    if pcap_tag is None:
        write_pcap(pcap, packets, nanoseconds=True)
    cfg = os.path.join(work, tag + "-config.json")
    rl.write_config(cfg, config(vips))
    verdicts = os.path.join(work, tag + "-verdicts.jsonl")
    sock = os.path.join(work, tag + ".sock")
    cmd = [opts.replay, "--dataplane", opts.dataplane or "dpdk", "--config", cfg, "--in", pcap,
           "--out", os.path.join(work, tag + "-out.pcap"), "--verdicts", verdicts,
           "--socket", sock]
    holds = dict(holds or {})
    for at in sorted(holds) + [len(packets)]:
        cmd += ["--hold-at", str(at)]
    if lists is not None:
        path = os.path.join(work, tag + "-prefixes.json")
        with open(path, "w") as f:
            json.dump(lists.json(1), f)
        cmd += ["--prefixes", path]
    t0 = time.monotonic()
    err = open(os.path.join(work, tag + ".stderr"), "w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        for at in sorted(holds):
            rpc = wait_held(proc, sock, tag, at)
            holds[at](rpc)
            rpc.close()
            proc.send_signal(signal.SIGUSR1)
        rpc = wait_held(proc, sock, tag, len(packets))
        res, e = outcome(rpc.request("counters.get"))
        if e:
            raise RuntimeError("counters.get: %s" % e)
        explained = []
        for params in explain:
            r, e = outcome(rpc.request("flow.explain", params))
            if e:
                raise RuntimeError("flow.explain %s: %s" % (params, e))
            explained.append(r)
        rpc.close()
        proc.send_signal(signal.SIGUSR1)
        proc.stdout.read()
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err.seek(0)
    stderr = err.read()
    err.close()
    if rc != 0:
        print(stderr)
        raise RuntimeError("edgelb-replay %s: exit %d" % (tag, rc))
    with open(verdicts) as f:
        got = [json.loads(line) for line in f]
    return got, res["counters"], time.monotonic() - t0, explained


def check_run(ck, case, vips, lists, packets, who, got, free, counters):
    """Every verdict against the model; established flows against the run
    without lists (free); the counters."""
    ck.tally(len(got) == len(packets) and len(free) == len(packets), case + ".count",
             "%d verdicts, %d without lists, for %d packets" % (len(got), len(free), len(packets)))
    want_matches = collections.defaultdict(collections.Counter)
    backend_of = {}
    outcomes = collections.Counter()
    for i, (v, f, (kind, vip, src, flow)) in enumerate(zip(got, free, who)):
        d = lists.decide(vip, src)
        if d:
            want_matches[vip_name(vip)][(d[0], d[1])] += 1
        deny = d is not None and d[1] == "deny"
        outcomes[(kind, "denied" if deny else "passed")] += 1
        if deny:
            ok = v["verdict"] == "drop" and v["reason"] == "source_denied" and not v["new_flow"]
        else:
            ok = v["verdict"] == "forward" and v["backend"] == f["backend"]
        if not ok:
            ck.tally(False, case + ".verdict", "packet %d (%s from %s to %s, rule %s): %s %s to %s, "
                     "without lists %s" % (i, kind, src, vip_name(vip), d, v["verdict"],
                                           v["reason"], v["backend"], f["backend"]))
        else:
            ck.tally(True, case + ".verdict")
        if kind == "established":
            ck.tally(v["verdict"] == "forward", case + ".established_kept",
                     "packet %d (%s): %s %s" % (i, src, v["verdict"], v["reason"]))
            first = backend_of.setdefault(flow, v["backend"])
            ck.tally(v["backend"] == first, case + ".sticky",
                     "packet %d: flow %s on %s, before on %s" % (i, flow, v["backend"], first))
    for k, n in sorted(outcomes.items()):
        ck.figure("%s %-12s %-7s %7d" % (case, k[0], k[1], n))
    ck.tally(outcomes[("established", "denied")] == 0, case + ".model",
             "the capture's established flows are denied by the lists")
    total_denied = 0
    for vip in vips:
        vc = next((c for c in counters["vips"] if c["vip"] == vip_name(vip)), {})
        m = want_matches[vip_name(vip)]
        want = {s: {"allowed": m[(s, "allow")], "denied": m[(s, "deny")]} for s in ("vip", "node")}
        ck.tally(vc.get("prefixes") == want, case + ".counters",
                 "%s: prefixes %s, model %s" % (vip_name(vip), vc.get("prefixes"), want))
        denied = m[("vip", "deny")] + m[("node", "deny")]
        ck.tally(vc.get("drops", {}).get("source_denied") == denied, case + ".counters",
                 "%s: source_denied %s, model %d" % (vip_name(vip),
                                                     vc.get("drops", {}).get("source_denied"),
                                                     denied))
        total_denied += denied
        ck.figure("%s %s prefix counters %s" % (case, vip_name(vip), want))
    ck.tally(counters["drops"]["source_denied"] == total_denied, case + ".counters",
             "source_denied %d, model %d" % (counters["drops"]["source_denied"], total_denied))
    return outcomes


def row_figure(outcomes, rules):
    """The measured column of a case's docs/adversarial.md row."""
    est = sum(n for (kind, _), n in outcomes.items() if kind == "established")
    denied = sum(n for (_, what), n in outcomes.items() if what == "denied")
    return ("%d rules; %d packets: %d denied (source_denied), %d of established flows, "
            "each forwarded to the backend a replay without lists picks" %
            (rules, sum(outcomes.values()), denied, est))


def established(vip, clients, start, end, gap, sport_base, who_tag="established"):
    """Events of flows from clients: a first packet at start + k ms, then
    one every gap ns until end."""
    events = []
    for k, src in enumerate(clients):
        sport = sport_base + k
        flow = (vip_name(vip), src, sport)
        t = start + k * 1000000
        events.append((t, frame(vip, src, sport, TCP_SYN), (who_tag, vip, src, flow)))
        t += 50000000
        while t < end:
            events.append((t, frame(vip, src, sport, TCP_ACK, 16), (who_tag, vip, src, flow)))
            t += gap
    return events


def finish(events):
    events.sort(key=lambda e: e[0])
    return [(T0 + e[0], e[1]) for e in events], [e[2] for e in events]


# --------------------------------------------------------------------------
# Case 1: hand-written lists


NODE_RULES = [("10.66.0.0/16", "deny"), ("10.66.5.0/24", "allow"), ("10.66.5.7/32", "deny"),
              ("10.30.0.0/16", "deny"), ("2001:db8:bad::/48", "deny")]
V1_RULES = [("10.66.9.0/24", "allow")]
V2_RULES = [("2001:db8:bad:2::/64", "allow"), ("2001:db8:bad:3::/64", "deny")]
V3_RULES = [("0.0.0.0/0", "deny"), ("10.20.0.0/16", "allow"), ("10.30.0.0/16", "allow")]


def build_case1(rng):
    events = []
    # Established: allowed by no rule, by the node's allow, by a VIP's
    # override of the node's deny.
    events += established(V1, ["10.20.%d.1" % i for i in range(20)] +
                          ["10.66.5.%d" % i for i in (1, 2, 6, 8)] + ["10.66.9.1", "10.66.9.2"],
                          0, 3 * NS, 20000000, 40000)
    events += established(V2, ["2001:db8:1::%x" % i for i in range(1, 11)] +
                          ["2001:db8:bad:2::%x" % i for i in range(1, 4)], 0, 3 * NS, 20000000,
                          41000)
    events += established(V3, ["10.20.%d.2" % i for i in range(10)] +
                          ["10.30.%d.2" % i for i in range(5)], 0, 3 * NS, 20000000, 42000)
    # A denied client's flow: every packet dropped.
    events += established(V1, ["10.66.5.7"], 0, 3 * NS, 20000000, 43000, "denied_flow")
    # Sources opening flows: SYNs from the node's denied /16 (its allowed
    # /24 and the VIP's override inside), IPv6 around the denied /48, UDP
    # from anywhere to the allow-only VIP.
    for k in range(3000):
        # 10.30.0.0/16: denied here by the node, allowed on V3 by its list.
        src = "10.%d.%d.%d" % (30 if k % 10 == 0 else 66, rng.choice([5, 9, rng.randrange(256)]),
                               rng.randrange(256))
        events.append((200000000 + k * 800000, frame(V1, src, 1024 + k),
                       ("opening", V1, src, None)))
    for k in range(2000):
        src = "2001:db8:bad:%x::%x" % (rng.randrange(5), rng.randrange(1, 65536))
        events.append((200000000 + k * 1200000, frame(V2, src, 1024 + k),
                       ("opening", V2, src, None)))
    for k in range(2000):
        src = str(ipaddress.IPv4Address(rng.choice([0x0a140000, 0x0a1e0000, 0x0b000000,
                                                    0xc0000000]) | rng.randrange(65536)))
        events.append((200000000 + k * 1200000, frame(V3, src, 1024 + k),
                       ("opening", V3, src, None)))
    return finish(events)


def run_case1(opts, work, ck):
    rng = random.Random(18001)
    vips = [V1, V2, V3]
    lists = Lists(NODE_RULES, {vip_name(V1): (V1, V1_RULES), vip_name(V2): (V2, V2_RULES),
                               vip_name(V3): (V3, V3_RULES)})
    packets, who = build_case1(rng)
    # flow.explain of a new connection from 300 of the capture's sources.
    asked = [(vip, src) for _, vip, src, _ in rng.sample(who, 300)]
    explain = [dict({"src": src, "dst": vip["address"], "sport": 65000, "dport": vip["port"],
                     "protocol": vip["protocol"]},
                    **({"tcp_flags": "S"} if vip["protocol"] == "tcp" else {}))
               for vip, src in asked]
    got, counters, dt, explained = replay(opts, work, "c1-lists", vips, lists, packets,
                                          explain=explain)
    free, _, dt2, _ = replay(opts, work, "c1-free", vips, None, packets, pcap_tag="c1-lists")
    ck.figure("case 1: %d packets, replay %.1f s with lists, %.1f s without" %
              (len(packets), dt, dt2))
    outcomes = check_run(ck, "c1", vips, lists, packets, who, got, free, counters)
    ck.row("prefix lists: node and VIP deny/allow lists (an allow-only VIP, a VIP allow "
           "overriding a node deny) on TCP v4/v6 and UDP VIPs, established flows beside",
           "every verdict as an independent longest-match model says; denied sources make no "
           "flow; established flows keep every packet and their backend; counters exact",
           row_figure(outcomes, len(lists.node) + sum(len(r) for _, r in lists.vips.values())))
    ck.figure("c1 flow.explain: %d asked, %d with a rule named, %d denied" %
              (len(explained), sum(1 for r in explained if r.get("prefix")),
               sum(1 for r in explained if r.get("reason") == "source_denied")))
    for (vip, src), r in zip(asked, explained):
        d = lists.decide(vip, src)
        want = None if d is None else {"scope": d[0], "rule": d[2], "action": d[1]}
        deny = d is not None and d[1] == "deny"
        ck.tally(r.get("prefix", "absent") == want and r.get("consistent") is True and
                 (r.get("verdict"), r.get("reason")) ==
                 (("drop", "source_denied") if deny else ("forward", None)), "c1.explain",
                 "%s to %s: prefix %s, %s %s, consistent %s; model %s" %
                 (src, vip_name(vip), r.get("prefix", "absent"), r.get("verdict"), r.get("reason"),
                  r.get("consistent"), want))
    # Every kind of rule decided some packet: the capture reaches them all.
    decided = set()
    for kind, vip, src, _ in who:
        d = lists.decide(vip, src)
        if d:
            decided.add((vip_name(vip) if d[0] == "vip" else "node", d[2]))
    want = {("node", r) for r, _ in NODE_RULES} | \
        {(vip_name(v), r) for v, rules in ((V1, V1_RULES), (V2, V2_RULES), (V3, V3_RULES))
         for r, _ in rules}
    ck.tally(decided == want, "c1.model", "rules no packet reaches: %s" % (want - decided))


# --------------------------------------------------------------------------
# Case 2: 100,000 prefixes


# Where the random prefixes live: away from the established clients
# (10.20.0.0/16), the VIPs and special addresses, also one address outside.
V4_SPACE = [(0x0c000000, 0x7dffffff), (0x81000000, 0xdeffffff)]
V6_SPACE = (0x2002 << 112, (0x3ffe << 112) - 1)


def random_prefixes(rng, n, v4_share, used):
    """n distinct random prefixes, nested: half are inside one made
    before. Lengths /8../32 and /16../128 with the edges frequent."""
    made = []
    while len(made) < n:
        v4 = rng.random() < v4_share
        bits = 32 if v4 else 128
        parent = rng.choice(made) if made and rng.random() < 0.5 else None
        if parent is not None and parent.version == (4 if v4 else 6) and parent.prefixlen < bits:
            plen = min(bits, parent.prefixlen + rng.randint(1, 12))
            base = int(parent.network_address) | rng.getrandbits(bits - parent.prefixlen)
        else:
            if v4:
                plen = rng.choice([8, 16, 24, 31, 32, rng.randint(9, 32)])
                lo, hi = rng.choice(V4_SPACE)
            else:
                plen = rng.choice([16, 32, 48, 64, 127, 128, rng.randint(17, 128)])
                lo, hi = V6_SPACE
            base = rng.randint(lo, hi)
        net = ipaddress.ip_network((base >> (bits - plen) << (bits - plen), plen))
        if plen < (12 if v4 else 20):
            continue
        if str(net) in used:
            continue
        used.add(str(net))
        made.append(net)
    return made


def build_case2(rng):
    used = set()
    node = [(str(n), rng.choice(["allow", "deny", "deny"])) for n in
            random_prefixes(rng, 100000, 0.7, used)]
    vip_v4 = [(str(n), rng.choice(["allow", "deny"])) for n in
              random_prefixes(rng, 5000, 1.0, used)]
    lists = Lists(node, {vip_name(V1): (V1, vip_v4)})
    events = []
    events += established(V1, ["10.20.%d.1" % i for i in range(30)], 0, 2 * NS, 10000000, 40000)
    events += established(V2, ["2001:db8:1::%x" % i for i in range(1, 21)], 0, 2 * NS, 10000000,
                          41000)
    # The edges of 3,000 rules of the node's list and 1,000 of the VIP's:
    # first and last address, and the addresses just outside.
    targets = [ipaddress.ip_network(r) for r, _ in rng.sample(node, 3000)] + \
        [ipaddress.ip_network(r) for r, _ in rng.sample(vip_v4, 1000)]
    addrs = []
    for net in targets:
        first, last = int(net.network_address), int(net.broadcast_address)
        cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
        addrs += [cls(a) for a in (first - 1, first, last, last + 1)]
    addrs += [ipaddress.IPv4Address(rng.randint(*rng.choice(V4_SPACE))) for _ in range(2000)]
    addrs += [ipaddress.IPv6Address(rng.randint(*V6_SPACE)) for _ in range(1000)]
    for k, a in enumerate(addrs):
        vip = V1 if a.version == 4 else V2
        events.append((100000000 + k * 100000, frame(vip, str(a), 1024 + k % 60000),
                       ("edge", vip, str(a), None)))
    packets, who = finish(events)
    return lists, packets, who


def run_case2(opts, work, ck):
    rng = random.Random(18002)
    t = time.monotonic()
    lists, packets, who = build_case2(rng)
    ck.figure("case 2: %d node rules, %d VIP rules, %d packets, built in %.1f s" %
              (len(lists.node), len(lists.vips[vip_name(V1)][1]), len(packets),
               time.monotonic() - t))
    vips = [V1, V2]
    got, counters, dt, _ = replay(opts, work, "c2-100k", vips, lists, packets)
    free, _, dt2, _ = replay(opts, work, "c2-free", vips, None, packets, pcap_tag="c2-100k")
    ck.figure("case 2: replay %.1f s with 105,000 rules, %.1f s without" % (dt, dt2))
    outcomes = check_run(ck, "c2", vips, lists, packets, who, got, free, counters)
    ck.row("prefix lists: 100,000 random nested node prefixes and a 5,000-rule VIP list, "
           "packets aimed at rule edges and random addresses",
           "every verdict as the model; established flows keep every packet and their backend",
           row_figure(outcomes, len(lists.node) + len(lists.vips[vip_name(V1)][1])) +
           "; replay %.1f s with the lists, %.1f s without" % (dt, dt2))
    scopes = collections.Counter(lists.decide(v, s)[:2] if lists.decide(v, s) else None
                                 for _, v, s, _ in who)
    ck.figure("case 2 decisions: %s" % dict(scopes))
    ck.tally(all(scopes[(s, a)] > 500 for s in ("vip", "node") for a in ("allow", "deny")),
             "c2.model", "a scope or action barely reached: %s" % dict(scopes))

# --------------------------------------------------------------------------
# Case 3: a configuration change under lists


C3_NODE = [("10.66.0.0/16", "deny")]
C3_V3 = [("0.0.0.0/0", "deny"), ("10.20.0.0/16", "allow")]


def run_case3(opts, work, ck):
    """Lists set while only V1 exists, V3's list waiting for its VIP; at
    PHASE2 a config.set adds V3. Before: V3's packets go to the kernel;
    after: V3's list decides them, and V1 (unchanged) keeps its lists, its
    flow and the flow's backend."""
    lists = Lists(C3_NODE, {vip_name(V3): (V3, C3_V3)})
    phase2 = 2 * NS
    events = established(V1, ["10.20.0.1"], 0, 4 * NS, 10000000, 40000)
    for phase, t0 in ((1, 100000000), (2, phase2 + 100000000)):
        for k in range(200):
            for vip, src in ((V1, "10.66.%d.1" % k), (V1, "10.20.%d.9" % k),
                             (V3, "10.20.%d.2" % k), (V3, "11.0.%d.2" % k),
                             (V3, "10.66.%d.3" % k)):
                events.append((t0 + k * 4000000, frame(vip, src, 2000 + 10 * k + phase),
                               ("phase%d" % phase, vip, src, None)))
    packets, who = finish(events)
    first2 = next(i for i, (ts, _) in enumerate(packets) if ts >= T0 + phase2)
    changed = []

    def add_v3(rpc):
        changed.append(outcome(rpc.request("config.set", {"config": config([V1, V3])})))

    got, counters, dt, _ = replay(opts, work, "c3-change", [V1], lists, packets,
                                  holds={first2: add_v3})
    ck.figure("case 3: %d packets, V3 added before packet %d, replay %.1f s" %
              (len(packets), first2, dt))
    ck.tally(len(changed) == 1 and changed[0][1] is None and changed[0][0]["changed"],
             "c3.config_set", "config.set: %s" % changed)
    ck.tally(len(got) == len(packets), "c3.count", "%d verdicts, %d packets" %
             (len(got), len(packets)))
    want_matches = collections.defaultdict(collections.Counter)
    backends = set()
    for i, (v, (kind, vip, src, flow)) in enumerate(zip(got, who)):
        configured = vip is V1 or i >= first2
        d = lists.decide(vip, src) if configured else None
        if d:
            want_matches[vip_name(vip)][(d[0], d[1])] += 1
        if not configured:
            want = ("kernel", None)
        elif d is not None and d[1] == "deny":
            want = ("drop", "source_denied")
        else:
            want = ("forward", None)
        ck.tally((v["verdict"], v["reason"]) == want, "c3.verdict",
                 "packet %d (%s from %s to %s, rule %s): %s %s, expected %s" %
                 (i, kind, src, vip_name(vip), d, v["verdict"], v["reason"], want))
        if kind == "established":
            backends.add(v["backend"])
    ck.tally(len(backends) == 1 and None not in backends, "c3.established_kept",
             "the flow's backends: %s" % backends)
    for vip in (V1, V3):
        vc = next((c for c in counters["vips"] if c["vip"] == vip_name(vip)), {})
        m = want_matches[vip_name(vip)]
        want = {s: {"allowed": m[(s, "allow")], "denied": m[(s, "deny")]} for s in ("vip", "node")}
        ck.tally(vc.get("prefixes") == want, "c3.counters", "%s: prefixes %s, model %s" %
                 (vip_name(vip), vc.get("prefixes"), want))
        ck.figure("c3 %s prefix counters %s" % (vip_name(vip), want))


def run(opts, work, ck):
    for name, case in (("case 1", run_case1), ("case 2", run_case2), ("case 3", run_case3)):
        t = time.monotonic()
        print("== %s" % name)
        case(opts, work, ck)
        ck.figure("%s: %.1f s in all" % (name, time.monotonic() - t))


ck = rl.tallied_run(run, "test_replay_prefixes")

GROUPS = {
    'c1': 'hand-written lists: node and VIP scopes, overrides, allow-only VIP; flows kept',
    'c2': '100,000 nested prefixes: rule edges and random sources; flows kept',
    'c3': "a config change keeps the lists; a VIP's waiting list applies once it exists",
}

test_checks, test_no_check_outside_the_groups_failed = group_tests(GROUPS)
