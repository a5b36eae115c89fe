# SPDX-License-Identifier: BSD-3-Clause
"""Golden replay test: edgelb-replay over 100k generated frames, every
verdict and every output byte checked against what this script computes on
its own from the input frames, the truth file and the configuration.

Checked:
  - one verdict per input packet, in order; the replay's summary line and
    OUT.pcap agree with the verdict counts;
  - malformed frames: drop with the truth's reason; non-VIP: kernel;
    fragments: drop fragment_no_vip (port VIPs take no fragments);
  - big frames: an ICMP too-big reply (v4 type 3 code 4 / v6 type 2, MTU =
    1500 - the VIP's encapsulation overhead) from the VIP to the client,
    checksums recomputed here, quoting the start of the packet;
  - every forwarded frame byte-exact (except the IPv6 flow label and GUE
    source port, which must only be constant per flow);
  - flow stickiness, ICMP errors to their flow's backend, new_flow marks;
  - the per-flow rate limit simulated here (GCRA, integer ns) packet for
    packet;
  - backend shares of new TCP v4 flows against weights 1:1:2;
  - determinism: a second run gives identical verdicts and output frames.
Root only (skipped otherwise). Run by pytest (--replay, --pktgen): the run
is one module fixture; each group of its checks a test.
"""
import collections
import ipaddress
import os
import struct
import subprocess
import time

import replaylib as rl
from edgelb_testlib.pcap import read_pcap
from edgelb_testlib.pytest_plugin import group_tests

PACKETS = 100000
SEED = 7
MTU = 1500
RATE_PPS = 1000
RATE_BURST = 50
RL_VIP = "10.0.0.10:80/tcp"
SHARE_TOLERANCE = 0.04  # absolute, on each backend's share of new flows

V4_TCP_BACKENDS = [("10.200.0.1", 1), ("10.200.0.2", 1), ("10.200.0.3", 2)]

CONFIG = {
    "node": {"source_v4": rl.NODE_SOURCE_V4, "source_v6": rl.NODE_SOURCE_V6,
             "gateway_mac": rl.GATEWAY_MAC},
    "vips": [
        {"address": "10.0.0.10", "port": 80, "protocol": "tcp", "mtu": MTU,
         "rate_limit": {"packets_per_s": RATE_PPS, "packet_burst": RATE_BURST},
         "backends": [{"address": a, "weight": w} for a, w in V4_TCP_BACKENDS]},
        {"address": "10.0.0.10", "port": 80, "protocol": "udp", "mtu": MTU, "encap": "ipip",
         "backends": [{"address": "10.200.0.1"}]},
        {"address": "2001:db8::10", "port": 80, "protocol": "tcp", "mtu": MTU,
         "backends": [{"address": "fd00::200:1"}, {"address": "fd00::200:2"}]},
        {"address": "2001:db8::10", "port": 80, "protocol": "udp", "mtu": MTU, "encap": "gue",
         "backends": [{"address": "fd00::200:1"}]},
    ],
}

# Per verdict VIP name: (GUE?, backend family, configured backends).
VIPS = {
    "10.0.0.10:80/tcp": (False, 4, {a for a, _ in V4_TCP_BACKENDS}),
    "10.0.0.10:80/udp": (False, 4, {"10.200.0.1"}),
    "[2001:db8::10]:80/tcp": (False, 6, {"fd00::200:1", "fd00::200:2"}),
    "[2001:db8::10]:80/udp": (True, 6, {"fd00::200:1"}),
}

VIP_KINDS = ("flow", "rate_flood", "big")  # client packets that make or use a flow entry
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10


def run_replay(args, work, tag, config_path, in_pcap):
    out = os.path.join(work, "out-%s.pcap" % tag)
    verdicts = os.path.join(work, "verdicts-%s.jsonl" % tag)
    t0 = time.monotonic()
    proc = subprocess.run([args.replay, "--dataplane", "dpdk", "--config", config_path, "--in",
                           in_pcap, "--out", out, "--verdicts", verdicts],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    dt = time.monotonic() - t0
    print("edgelb-replay run %s: exit %d in %.2f s" % (tag, proc.returncode, dt))
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr)
        raise SystemExit("edgelb-replay failed")
    return out, verdicts, proc.stderr, proc.stdout


def vip_name(truth):
    """Truth VIP plus protocol, in the verdict file's spelling."""
    proto = truth.get("inner_proto") if truth["kind"] == "icmp_error" else truth["proto"]
    return "%s/%s" % (truth["vip"], proto)


def simulate_rate_limit(truth, frames, parsed, t0_ns):
    """Per-flow GCRA in integer ns: interval 1e9/pps, tolerance burst *
    interval; a packet passes if max(tat, now) + interval - now <= tolerance.
    Applies to the client packets of the limited VIP (not ICMP errors, not
    fragments, not malformed frames). Returns {index: passed}."""
    interval = 1000000000 // RATE_PPS
    tolerance = RATE_BURST * interval
    tat = {}
    result = {}
    for i, t in enumerate(truth):
        if t["kind"] not in VIP_KINDS or vip_name(t) != RL_VIP:
            continue
        f = parsed[i]
        key = rl.flow_key(f)
        now = frames[i][0] - t0_ns
        start = max(tat.get(key, 0), now)
        if start + interval - now <= tolerance:
            tat[key] = start + interval
            result[i] = True
        else:
            result[i] = False
    return result


def run(args, work, ck):
    in_pcap = os.path.join(work, "in.pcap")
    truth_path = os.path.join(work, "truth.jsonl")
    config_path = os.path.join(work, "config.json")
    rl.run_pktgen(args.pktgen, in_pcap, truth_path, PACKETS, SEED)
    rl.write_config(config_path, CONFIG)
    out1, verdicts1, stderr1, stdout1 = run_replay(args, work, "1", config_path, in_pcap)

    truth = rl.read_jsonl(truth_path)
    frames = read_pcap(in_pcap)
    verdicts = rl.read_jsonl(verdicts1)
    out_frames = read_pcap(out1)
    gw_mac = rl.mac_bytes(rl.GATEWAY_MAC)

    # ---- one verdict per packet, in order
    print("== counts")
    n = len(frames)
    ck.tally(n == PACKETS, "input.count", "pcap has %d frames, asked for %d" % (n, PACKETS))
    ck.tally(len(truth) == n, "truth.count", "truth %d lines, pcap %d" % (len(truth), n))
    ck.tally(len(verdicts) == n, "verdicts.count", "%d verdicts for %d packets" % (len(verdicts), n))
    for i, v in enumerate(verdicts):
        ck.tally(v.get("i") == i, "verdicts.order", "line %d has i=%r" % (i, v.get("i")))
    for i, t in enumerate(truth[:n]):
        ck.tally(t["i"] == i and t["len"] == len(frames[i][1]), "truth.frame",
                 "truth %d: i %d len %d, frame %d bytes" % (i, t["i"], t["len"], len(frames[i][1])))
    n = min(n, len(truth), len(verdicts))
    counts = collections.Counter(v["verdict"] for v in verdicts)
    ck.figure("input %d, verdicts: %s" % (len(frames), dict(sorted(counts.items()))))
    ck.tally(sum(counts.values()) == len(frames), "verdicts.sum", str(counts))
    summary = rl.parse_summary(stderr1)
    ck.tally(summary is not None, "summary.present", stderr1)
    if summary:
        ck.figure("replay summary: %s" % summary)
        ck.tally(summary["packets"] == len(frames) and all(
            summary[k] == counts.get(k, 0) for k in ("forward", "reply", "kernel", "drop")),
            "summary.match", "summary %s vs verdicts %s" % (summary, dict(counts)))
    ck.tally(len(out_frames) == counts["forward"] + counts["reply"], "out.count",
             "OUT.pcap has %d frames, verdicts say %d forwarded + %d replies" %
             (len(out_frames), counts["forward"], counts["reply"]))

    parsed = [rl.parse_frame(fr) for _, fr in frames[:n]]
    t0_ns = frames[0][0]

    # ---- rate limit, simulated here
    sim = simulate_rate_limit(truth[:n], frames, parsed, t0_ns)

    # ---- per-kind verdicts
    print("== verdicts per kind")
    kinds = collections.Counter((t["kind"], v["verdict"], v["reason"])
                                for t, v in zip(truth[:n], verdicts[:n]))
    for k, c in sorted(kinds.items(), key=str):
        ck.figure("%-12s %-8s %-24s %6d" % (k[0], k[1], k[2], c))
    for i in range(n):
        t, v, f = truth[i], verdicts[i], parsed[i]
        kind = t["kind"]
        where = "packet %d (%s, flow %s)" % (i, kind, t.get("flow"))
        if kind == "malformed":
            ck.tally(v["verdict"] == "drop" and v["reason"] == t["reason"], "malformed",
                     "%s: %s/%s, truth reason %s" % (where, v["verdict"], v["reason"], t["reason"]))
        elif kind == "non_vip":
            ck.tally(v["verdict"] == "kernel", "non_vip", "%s: %s/%s" % (where, v["verdict"], v["reason"]))
        elif kind == "fragment":
            ck.tally(v["verdict"] == "drop" and v["reason"] == "fragment_no_vip", "fragment",
                     "%s: %s/%s" % (where, v["verdict"], v["reason"]))
            ck.tally(f is not None and f.fragment, "fragment.parsed", where)
        elif kind == "icmp_error":
            ck.tally(v["verdict"] == "forward" and v["vip"] == vip_name(t), "icmp_error",
                     "%s: %s/%s vip %s" % (where, v["verdict"], v["reason"], v["vip"]))
        elif kind in VIP_KINDS:
            ck.tally(f is not None and not f.fragment and rl.addr_str(f.family, f.dst) ==
                     str(ipaddress.ip_address(t["vip"].rsplit(":", 1)[0].strip("[]"))),
                     "truth.parsed", "%s: my parse disagrees with the truth" % where)
            ck.tally(v["vip"] == vip_name(t), "vip.match",
                     "%s: verdict vip %s, truth %s" % (where, v["vip"], vip_name(t)))
            limited = sim.get(i) is False
            if limited:
                want = ("drop", "rate_limited")
            elif kind == "big":
                want = ("reply", "too_big")
            else:
                want = ("forward", None)
            ck.tally((v["verdict"], v["reason"]) == want, "verdict.%s" % kind,
                     "%s: %s/%s, expected %s/%s (rate-limit simulation: %s)" %
                     (where, v["verdict"], v["reason"], want[0], want[1],
                      "limited" if limited else "passes"))
        else:
            ck.tally(False, "truth.kind", "%s: unknown kind" % where)
        if v["verdict"] == "forward":
            ck.tally(v["backend"] in VIPS.get(v["vip"], (0, 0, set()))[2], "backend.configured",
                     "%s: backend %s not a backend of %s" % (where, v["backend"], v["vip"]))

    # ---- output frames
    print("== output frames")
    port_mac = out_frames[0][1][6:12] if out_frames else b""
    announced = rl.port_mac_from_stdout(stdout1)
    ck.figure("port MAC: %s in the first output frame, %s announced by the replay for its port" %
              (rl.mac_str(port_mac), announced and rl.mac_str(announced)))
    # What we send must come from our port's address: a zero or foreign
    # source MAC is dropped or mislearned by the switch.
    ck.tally(port_mac == announced, "out.port_mac",
             "output frames leave with source MAC %s, the port's MAC is %s" %
             (rl.mac_str(port_mac), announced and rl.mac_str(announced)))
    ck.tally(port_mac != b"\0" * 6 and not port_mac[0] & 1, "out.port_mac_unicast",
             "source MAC %s is not a unicast station address" % rl.mac_str(port_mac))
    hashed = collections.defaultdict(set)  # (flow, icmp?, field) -> values
    exact = collections.Counter()
    replies = collections.Counter()
    quote_lens = collections.Counter()
    oi = 0
    for i in range(n):
        v = verdicts[i]
        if v["verdict"] not in ("forward", "reply"):
            continue
        if oi >= len(out_frames):
            ck.tally(False, "out.missing", "no output frame for packet %d" % i)
            break
        out = out_frames[oi][1]
        oi += 1
        t, f = truth[i], parsed[i]
        where = "packet %d (%s, flow %s)" % (i, t["kind"], t.get("flow"))
        ck.tally(out[6:12] == port_mac, "out.src_mac", "%s: source MAC %s" % (where, rl.mac_str(out[6:12])))
        ck.tally(len(out) == v["out_len"], "out.len",
                 "%s: frame %d bytes, verdict out_len %d" % (where, len(out), v["out_len"]))
        if f is None or v["vip"] not in VIPS:
            ck.tally(False, "out.unparsed", where)
            continue
        gue, bfam, _ = VIPS[v["vip"]]
        if v["verdict"] == "forward":
            exp, mask = rl.expected_forward(f, v["backend"], gue, port_mac, gw_mac)
            diff = rl.compare_masked(out, exp, mask)
            if ck.tally(diff is None, "forward.bytes", "%s -> %s: %s" % (where, v["backend"], diff)):
                exact["forward"] += 1
            for name, val in rl.masked_values(out, mask).items():
                if name == "gue_sport":
                    ck.tally(val & 0xC000 == 0xC000, "gue.sport_range",
                             "%s: GUE source port %d outside 49152..65535" % (where, val))
                hashed[(t.get("flow"), t["kind"] == "icmp_error", name)].add(val)
        else:
            mtu = MTU - rl.encap_overhead(bfam, gue)
            exp = rl.expected_too_big(f, mtu, port_mac, gw_mac)
            ip_ok, icmp_ok = rl.verify_icmp_checksums(out)
            ck.tally(ip_ok, "reply.ip_checksum", where)
            ck.tally(icmp_ok, "reply.icmp_checksum", where)
            diff = rl.compare_masked(out, exp, [])
            if ck.tally(diff is None, "reply.bytes", "%s: %s" % (where, diff)):
                exact["reply"] += 1
            l3 = out[14:]
            if f.family == 4:
                icmp_type, icmp_code, icmp_mtu = l3[20], l3[21], struct.unpack_from("!H", l3, 26)[0]
                quote = l3[28:]
            else:
                icmp_type, icmp_code, icmp_mtu = l3[40], l3[41], struct.unpack_from("!I", l3, 44)[0]
                quote = l3[48:]
            replies[(v["vip"], icmp_type, icmp_code, icmp_mtu)] += 1
            quote_lens[len(quote)] += 1
            ck.tally(f.l3.startswith(quote) and len(quote) >= f.l4_off + 8, "reply.quote",
                     "%s: quote of %d bytes is not the packet's start" % (where, len(quote)))
    ck.tally(oi == len(out_frames), "out.extra", "%d output frames left over" % (len(out_frames) - oi))
    ck.figure("byte-exact: %d forwarded, %d replies" % (exact["forward"], exact["reply"]))
    for k, c in sorted(replies.items()):
        ck.figure("too-big replies for %-22s type %d code %d MTU %d: %d" % (k + (c,)))
    for (vip, typ, code, mtu) in replies:
        gue, bfam, _ = VIPS[vip]
        ck.tally(mtu == MTU - rl.encap_overhead(bfam, gue), "reply.mtu", "%s: MTU %d" % (vip, mtu))
        ck.tally((typ, code) == ((3, 4) if vip.startswith("10.") else (2, 0)), "reply.type",
                 "%s: type %d code %d" % (vip, typ, code))
    ck.figure("quote lengths: %s" % dict(sorted(quote_lens.items())))
    multi = {k: s for k, s in hashed.items() if len(s) != 1}
    ck.figure("hash-derived fields: %d (flow, field) groups, %d with more than one value" %
              (len(hashed), len(multi)))
    for k, s in list(multi.items())[:5]:
        ck.tally(False, "hash.per_flow", "flow %s (icmp=%s) %s takes values %s" % (k[0], k[1], k[2], sorted(s)))
    for k, s in hashed.items():
        if k[1] and len(s) == 1:
            flow_vals = hashed.get((k[0], False, k[2]))
            if flow_vals and len(flow_vals) == 1:
                ck.tally(flow_vals == s, "hash.icmp_vs_flow",
                         "flow %s: %s %s on its ICMP errors, %s on its packets" %
                         (k[0], k[2], sorted(s), sorted(flow_vals)))

    # ---- stickiness, ICMP errors, new_flow
    print("== stickiness")
    flow_backends = collections.defaultdict(set)
    for i in range(n):
        t, v = truth[i], verdicts[i]
        if t["kind"] in VIP_KINDS and v["verdict"] == "forward":
            flow_backends[t["flow"]].add(v["backend"])
    split = {fl: b for fl, b in flow_backends.items() if len(b) > 1}
    ck.figure("truth flows forwarded: %d, on more than one backend: %d" % (len(flow_backends), len(split)))
    for fl, b in list(split.items())[:10]:
        ck.tally(False, "sticky", "flow %s went to %s" % (fl, sorted(b)))
    icmp_ok = icmp_unknown = 0
    for i in range(n):
        t, v = truth[i], verdicts[i]
        if t["kind"] != "icmp_error" or v["verdict"] != "forward":
            continue
        b = flow_backends.get(t["flow"])
        if not b:
            icmp_unknown += 1
            continue
        if ck.tally(v["backend"] in b, "icmp.backend",
                    "packet %d: ICMP error about flow %s to %s, the flow is on %s" %
                    (i, t["flow"], v["backend"], sorted(b))):
            icmp_ok += 1
    ck.figure("ICMP errors on their flow's backend: %d (flow never forwarded: %d)" % (icmp_ok, icmp_unknown))

    # new_flow: the first client packet of a 5-tuple, or a SYN (no ACK)
    # after a FIN or RST of the tuple; never an ICMP error.
    state = {}
    new_count = collections.Counter()
    for i in range(n):
        t, v, f = truth[i], verdicts[i], parsed[i]
        if t["kind"] == "icmp_error":
            ck.tally(not v["new_flow"], "new_flow.icmp", "packet %d" % i)
            continue
        if t["kind"] not in VIP_KINDS:
            ck.tally(not v["new_flow"], "new_flow.other", "packet %d (%s)" % (i, t["kind"]))
            continue
        key = rl.flow_key(f)
        flags = f.l3[f.l4_off + 13] if f.proto == rl.IPPROTO_TCP else 0
        prev = state.get(key)
        if prev is None:
            want = True
        else:
            want = prev == "closing" and flags & (TCP_SYN | TCP_ACK) == TCP_SYN
        if f.proto == rl.IPPROTO_TCP:
            if flags & (TCP_FIN | TCP_RST):
                state[key] = "closing"
            elif prev != "closing" or flags & (TCP_SYN | TCP_ACK) == TCP_SYN:
                state[key] = "open"
        else:
            state[key] = "open"
        new_count[want] += 1
        ck.tally(bool(v["new_flow"]) == want, "new_flow",
                 "packet %d (%s, flow %s, flags %#x): new_flow %s, expected %s" %
                 (i, t["kind"], t["flow"], flags, v["new_flow"], want))
    ck.figure("client packets expected to start a flow: %d, to use one: %d" %
              (new_count[True], new_count[False]))

    # ---- rate limiting
    print("== rate limiting (%d pps, burst %d, on %s)" % (RATE_PPS, RATE_BURST, RL_VIP))
    got = {i for i in range(n) if verdicts[i]["reason"] == "rate_limited"}
    want = {i for i, passed in sim.items() if not passed}
    ck.figure("simulated drops %d, replay drops %d, only simulated %d, only replayed %d" %
              (len(want), len(got), len(want - got), len(got - want)))
    for i in sorted(want - got)[:10]:
        ck.tally(False, "rate.missing", "packet %d (%s, flow %s): simulation drops it, replay: %s" %
                 (i, truth[i]["kind"], truth[i]["flow"], verdicts[i]["verdict"]))
    for i in sorted(got - want)[:10]:
        ck.tally(False, "rate.extra", "packet %d (%s, flow %s, vip %s): replay drops it, simulation passes" %
                 (i, truth[i]["kind"], truth[i]["flow"], verdicts[i]["vip"]))
    ck.tally(not (want ^ got), "rate.match", "%d mismatches" % len(want ^ got))
    other = collections.Counter(verdicts[i]["vip"] for i in got if verdicts[i]["vip"] != RL_VIP)
    ck.tally(not other, "rate.other_vips", "rate_limited drops on other VIPs: %s" % dict(other))
    flood = collections.defaultdict(collections.Counter)
    for i in range(n):
        if truth[i]["kind"] == "rate_flood":
            flood[(vip_name(truth[i]), truth[i]["flow"])][verdicts[i]["verdict"]] += 1
    for (vip, fl), c in sorted(flood.items(), key=str):
        total = sum(c.values())
        ck.figure("rate flood flow %s on %s: %d packets, %d forwarded, %d dropped" %
                  (fl, vip, total, c["forward"], c["drop"]))
        if vip == RL_VIP:
            ck.tally(c["drop"] >= total / 2, "rate.flood_dropped", "flow %s: %s" % (fl, dict(c)))
        else:
            ck.tally(c["forward"] == total, "rate.flood_other_vip", "flow %s on %s: %s" % (fl, vip, dict(c)))
    ck.tally(any(vip == RL_VIP for vip, _ in flood), "rate.flood_present",
             "the seed gives no rate flood on the limited VIP")
    limited_flows = collections.Counter(truth[i]["flow"] for i in got)
    ck.figure("flows with rate-limited packets: %d (client flows above 1000 pps at times: %d)" %
              (len(limited_flows), sum(1 for fl in limited_flows
                                       if any(truth[i]["kind"] == "flow" and truth[i]["flow"] == fl
                                              for i in got))))

    # ---- backend shares
    print("== backend shares of new TCP v4 flows")
    new_flows = collections.Counter(v["backend"] for v in verdicts[:n]
                                    if v["vip"] == RL_VIP and v["new_flow"] and v["verdict"] == "forward")
    total = sum(new_flows.values())
    wsum = sum(w for _, w in V4_TCP_BACKENDS)
    for addr, w in V4_TCP_BACKENDS:
        share = new_flows[addr] / total if total else 0
        ck.figure("%s weight %d: %d new flows, share %.3f (expected %.3f +- %.2f)" %
                  (addr, w, new_flows[addr], share, w / wsum, SHARE_TOLERANCE))
        ck.tally(abs(share - w / wsum) <= SHARE_TOLERANCE, "shares",
                 "%s: share %.3f, expected %.3f" % (addr, share, w / wsum))
    ck.tally(total >= 1000, "shares.sample", "only %d new flows" % total)

    # ---- determinism
    print("== determinism")
    out2, verdicts2, _, _ = run_replay(args, work, "2", config_path, in_pcap)
    with open(verdicts1, "rb") as a, open(verdicts2, "rb") as b:
        same_v = a.read() == b.read()
    ck.tally(same_v, "determinism.verdicts", "the two verdict files differ")
    o2 = read_pcap(out2)
    same_o = len(o2) == len(out_frames) and all(x[1] == y[1] for x, y in zip(out_frames, o2))
    ck.tally(same_o, "determinism.out", "OUT.pcap packet data differs (%d vs %d frames)" %
             (len(out_frames), len(o2)))
    ck.figure("second run: verdicts identical %s, %d output frames identical %s" %
              (same_v, len(o2), same_o))


ck = rl.tallied_run(run, "test_replay_golden")


# Each check's kind starts with its group.
GROUPS = {
    'input': 'the input',
    'truth': 'the truth file against the frames',
    'verdicts': 'one verdict per packet, in order, summed',
    'summary': "the replay's summary line",
    'verdict': 'each kind of packet decided as computed here',
    'vip': 'the VIP matched',
    'backend': 'only configured backends',
    'new_flow': 'new flows where computed',
    'sticky': 'a flow keeps its backend',
    'hash': 'the flow hash: per flow, ICMP errors with their flow',
    'icmp': "ICMP errors to their flow's backend",
    'icmp_error': 'ICMP errors',
    'fragment': 'fragments',
    'malformed': 'malformed frames dropped',
    'non_vip': 'non-VIP traffic',
    'forward': 'forwarded bytes',
    'gue': 'GUE source ports in range',
    'reply': 'ICMP too-big replies: bytes, checksums, MTU, quote',
    'rate': 'rate limits: the flood cut, others untouched',
    'shares': 'backend shares by weight',
    'out': 'the output frames',
    'determinism': 'a second run gives the same bytes',
}

test_checks, test_no_check_outside_the_groups_failed = group_tests(GROUPS)
