# SPDX-License-Identifier: BSD-3-Clause
"""The XDP program against the DPDK pipeline, packet by packet.

Generates 100k frames with edgelb-pktgen (the default mix: malformed
frames, non-VIP traffic, fragments, ICMP errors, big DF packets, rate
floods, client flows), replays them through edgelb-replay --dataplane dpdk
and --dataplane xdp with the same configuration, and requires:
  - the same verdict line for every packet (verdict, reason, VIP, backend,
    new_flow, output length, epoch);
  - the same transmitted frames, in the same order, byte for byte (both
    replays put the net_pcap port's MAC, 02:70:63:61:70:00, in the Ethernet
    source, so the whole frame is compared).

One exception, checked rather than skipped: the kernel's BPF_PROG_TEST_RUN
refuses frames shorter than an Ethernet header (14 bytes), so the XDP
replay writes "not_run" for them (no NIC hands such a frame to XDP either).
For each, the DPDK verdict must be a drop for eth_truncated; their number is
printed.

Second chance (issue 16): the same comparison on a second capture for
VIPs with "second_chance" (IPv4 and IPv6, GUE), whose backends change twice
during the replay (a backend added, then one drained), so that Maglev slots
have previous owners; the SYNs of two flows in three are taken out of the
capture, so those flows are learned mid-stream (the packets that carry the
alternate, GUE variant 0). Both replays hold at the same packets
(--hold-at) and get the same backends.set there. Besides no difference,
the outputs must hold variant-0 frames over both outer families.

Admission control (issue 18): the same comparison on a third capture, two
pktgen mixes 2.5 s apart, for VIPs with source limits (IPv4 /32 packets/s
and /24 new flows/s, IPv6 /64 and /48) and new-flow budgets small enough
that the mix's new flows put them in flood mode, which the gap ends (a
whole quiet window) before the second mix starts it again. Besides no
difference, the verdicts must hold both source-limit drops, flood-mode
(stateless) forwards, and stateful new flows of a budgeted VIP after its
stateless ones.

Prefix lists (issue 18): the first capture again with prefix lists (node
denies, a VIP that denies 0.0.0.0/0 and allows some networks, VIP allows
overriding node denies), compared the same way; and each replay's
source_denied drops against a model of the lists written here (Python
ipaddress, longest match), on pktgen's truth of each packet's client.

QUIC routing by connection ID (issue 19): the same comparison on a fourth
capture, built here with edgelb_testlib.quiclb, for a UDP VIP with three
QUIC-LB configurations beside a plain UDP VIP: Initials (v1 and v2),
0-RTT, Handshakes (v1 and v2) and 1-RTT packets with the servers' CIDs,
clients that move to a new address and port mid-connection, CIDs that
route nowhere (config ID 0b111, a config ID not configured, a server ID
no backend has, cut short), other versions' long headers, empty
datagrams, and fragments (dropped alike: a fragment has no port). The server a connection's CIDs name is drawn at
random, not the one its Initial reached, so flow entries are re-pinned.
The three configurations are plaintext, single-pass AES (16 octets,
keyed) and an odd four-pass shape (keyed), so both dataplanes' AES and
Feistel network decode the same CIDs. Besides no difference, every routing outcome must occur and every packet routed by
CID must reach the backend whose server ID the capture encoded.

Any other difference is a bug in one of the dataplanes. Root only (BPF,
DPDK EAL): skipped otherwise. Run by pytest (--replay, --pktgen).
"""
import ipaddress
import json
import os
import signal
import struct
import subprocess
import time

import pytest

from edgelb_testlib.frames import ipv4_header, udp4_frame
from edgelb_testlib.pcap import read_pcap, write_pcap
from edgelb_testlib.pytest_plugin import require_root
from edgelb_testlib.quiclb import QUIC_V1, QUIC_V2, encode_cid, long_packet, short_packet
from edgelb_testlib.rpc import connect_when_ready, outcome

ETH_HLEN = 14
PACKETS = 100000
SEED = 5

CONFIG = {
    "node": {"source_v4": "192.168.10.1", "source_v6": "fd00::1",
             "gateway_mac": "02:00:00:00:00:fe"},
    "vips": [
        {"address": "10.0.0.10", "port": 80, "protocol": "tcp",
         "rate_limit": {"packets_per_s": 1000, "packet_burst": 50},
         "backends": [{"address": "10.200.0.1"}, {"address": "10.200.0.2"},
                      {"address": "10.200.0.3", "weight": 2}]},
        {"address": "10.0.0.10", "port": 80, "protocol": "udp",
         "backends": [{"address": "10.200.0.1"}]},
        {"address": "2001:db8::10", "port": 80, "protocol": "tcp",
         "backends": [{"address": "fd00::200:1"}, {"address": "fd00::200:2"}]},
        {"address": "2001:db8::10", "port": 80, "protocol": "udp", "encap": "gue",
         "backends": [{"address": "fd00::200:1"}]},
    ],
}


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)} exited {res.returncode}: {res.stderr}"


def replay_one(opts, workdir, tag, dp, cfg, pcap_in, extra=()):
    """(verdict lines, output frames) of one dataplane's replay of pcap_in
    under the config file cfg; files named after tag; extra: more
    edgelb-replay arguments."""
    pcap = os.path.join(workdir, f"{tag}{dp}.pcap")
    verdicts = os.path.join(workdir, f"{tag}{dp}.jsonl")
    run([opts.replay, "--dataplane", dp, "--config", cfg, "--in", pcap_in,
         "--out", pcap, "--verdicts", verdicts] + list(extra))
    with open(verdicts) as f:
        lines = f.read().splitlines()
    return lines, [data for _ts, data in read_pcap(pcap)]


def replay_both(opts, workdir, tag, config, pcap_in):
    """{dataplane: (verdict lines, output frames)} of both replays of
    pcap_in under config; files named after tag."""
    cfg = os.path.join(workdir, f"{tag}config.json")
    with open(cfg, "w") as f:
        json.dump(config, f)
    return {dp: replay_one(opts, workdir, tag, dp, cfg, pcap_in) for dp in ("dpdk", "xdp")}


@pytest.fixture(scope="module")
def replays(opts, workdir):
    """{dataplane: (verdict lines, output frames)} of both replays of one pcap."""
    require_root("BPF and DPDK EAL")
    pcap_in = os.path.join(workdir, "in.pcap")
    run([opts.pktgen, "--out", pcap_in, "--packets", str(PACKETS), "--seed", str(SEED)])
    return replay_both(opts, workdir, "", CONFIG, pcap_in)


def test_one_verdict_line_per_packet(replays):
    dpdk, xdp = len(replays["dpdk"][0]), len(replays["xdp"][0])
    assert dpdk == xdp == PACKETS, f"verdict lines: dpdk {dpdk}, xdp {xdp}, packets {PACKETS}"


def compare_verdicts(dpdk_lines, xdp_lines):
    """Every verdict line the same, but for frames shorter than an Ethernet
    header, which the kernel does not run (DPDK: eth_truncated drops)."""
    not_run, verdicts, mismatches = 0, {}, []
    for d, x in zip(dpdk_lines, xdp_lines):
        dv = json.loads(d)
        verdicts[dv["verdict"]] = verdicts.get(dv["verdict"], 0) + 1
        if d == x:
            continue
        xv = json.loads(x)
        if (xv.get("verdict") == "not_run" and xv.get("len", ETH_HLEN) < ETH_HLEN
                and dv["verdict"] == "drop" and dv["reason"] == "eth_truncated"):
            not_run += 1
            continue
        mismatches.append((d, x))
    print(f"{len(dpdk_lines)} packets: {verdicts}; {len(dpdk_lines) - not_run - len(mismatches)} "
          f"identical verdicts, {len(mismatches)} different, {not_run} shorter than "
          f"{ETH_HLEN} bytes not run by the kernel (dpdk: eth_truncated drops)")
    assert not mismatches, f"{len(mismatches)} verdict lines differ:\n" + "\n".join(
        f"  dpdk: {d}\n  xdp:  {x}" for d, x in mismatches[:5])


def test_same_verdicts(replays):
    compare_verdicts(replays["dpdk"][0], replays["xdp"][0])


def test_same_number_of_output_frames(replays):
    dpdk, xdp = len(replays["dpdk"][1]), len(replays["xdp"][1])
    assert dpdk == xdp, f"output frames: dpdk {dpdk}, xdp {xdp}"


def compare_frames(dpdk_frames, xdp_frames):
    diffs = [i for i, (a, b) in enumerate(zip(dpdk_frames, xdp_frames)) if a != b]
    shown = []
    for i in diffs[:5]:
        a, b = dpdk_frames[i], xdp_frames[i]
        at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
        shown.append(f"  frame {i}: dpdk {len(a)} bytes, xdp {len(b)} bytes, first difference "
                     f"at byte {at}\n    dpdk: {a[:64].hex()}\n    xdp:  {b[:64].hex()}")
    assert not diffs, f"{len(diffs)} of {len(dpdk_frames)} output frames differ\n" + \
        "\n".join(shown)


def test_same_output_frames(replays):
    compare_frames(replays["dpdk"][1], replays["xdp"][1])


# ---- second chance ----

SC_PACKETS = 60000
SC_SEED = 7
SC_HOLDS = (20000, 40000)
SC_GUE_PORT = 6080

SC_V4 = {"address": "10.0.0.10", "port": 80, "protocol": "tcp"}
SC_V6 = {"address": "2001:db8::10", "port": 80, "protocol": "tcp"}
SC_V4_BACKENDS = [[{"address": "10.200.0.1"}, {"address": "10.200.0.2"},
                   {"address": "10.200.0.3"}],
                  [{"address": "10.200.0.1"}, {"address": "10.200.0.2"},
                   {"address": "10.200.0.3"}, {"address": "10.200.0.4"}],
                  [{"address": "10.200.0.1", "state": "draining"}, {"address": "10.200.0.2"},
                   {"address": "10.200.0.3"}, {"address": "10.200.0.4"}]]
SC_V6_BACKENDS = [[{"address": "fd00::200:1"}, {"address": "fd00::200:2"}],
                  [{"address": "fd00::200:1"}, {"address": "fd00::200:2"},
                   {"address": "fd00::200:3"}],
                  [{"address": "fd00::200:1"}, {"address": "fd00::200:2", "state": "draining"},
                   {"address": "fd00::200:3"}]]

SC_CONFIG = {
    "node": {"source_v4": "192.168.10.1", "source_v6": "fd00::1",
             "gateway_mac": "02:00:00:00:00:fe", "gue_port": SC_GUE_PORT},
    "vips": [
        dict(SC_V4, encap="gue", second_chance=True, backends=SC_V4_BACKENDS[0]),
        # UDP with second chance on: never an alternate (the backend side
        # forwards only TCP), on both dataplanes.
        {"address": "10.0.0.10", "port": 80, "protocol": "udp", "encap": "gue",
         "second_chance": True, "backends": [{"address": "10.200.0.1"}]},
        dict(SC_V6, encap="gue", second_chance=True, backends=SC_V6_BACKENDS[0]),
    ],
}


def tcp_syn_only(frame):
    """The source port of a TCP segment with SYN and without ACK (802.1Q or
    not), else None."""
    if len(frame) < 14:
        return None
    etype, off = struct.unpack_from("!H", frame, 12)[0], 14
    if etype == 0x8100 and len(frame) >= 18:
        etype, off = struct.unpack_from("!H", frame, 16)[0], 18
    if etype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0xF) * 4
        frag = struct.unpack_from("!H", frame, off + 6)[0]
        if frame[off + 9] != 6 or frag & 0x3FFF:
            return None
        l4 = off + ihl
    elif etype == 0x86DD and len(frame) >= off + 40:
        if frame[off + 6] != 6:
            return None  # extension headers: kept as they are
        l4 = off + 40
    else:
        return None
    if len(frame) < l4 + 14:
        return None
    sport = struct.unpack_from("!H", frame, l4)[0]
    return sport if frame[l4 + 13] & 0x12 == 0x02 else None


def replay_with_changes(opts, workdir, dp, cfg, pcap_in):
    """Replay pcap_in holding at SC_HOLDS; at hold i, the backends of step
    i + 1. Returns (verdict lines, output frames)."""
    pcap = os.path.join(workdir, f"sc-{dp}.pcap")
    verdicts = os.path.join(workdir, f"sc-{dp}.jsonl")
    sock = os.path.join(workdir, f"sc-{dp}.sock")
    cmd = [opts.replay, "--dataplane", dp, "--config", cfg, "--in", pcap_in, "--out", pcap,
           "--verdicts", verdicts, "--socket", sock]
    for h in SC_HOLDS:
        cmd += ["--hold-at", str(h)]
    err = open(os.path.join(workdir, f"sc-{dp}.stderr"), "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        rpc = connect_when_ready(sock, proc, what="edgelb-replay")
        for step, at in enumerate(SC_HOLDS, start=1):
            deadline = time.monotonic() + 120
            while True:
                assert time.monotonic() < deadline, f"{dp}: no hold at {at}"
                line = proc.stdout.readline()
                assert line, f"{dp}: edgelb-replay ended before holding at {at}"
                if line.strip() == f"held before packet {at}":
                    break
            for vip, backends in ((SC_V4, SC_V4_BACKENDS), (SC_V6, SC_V6_BACKENDS)):
                res, e = outcome(rpc.request("backends.set", dict(vip, backends=backends[step])))
                assert e is None and res.get("changed") is True, f"{dp} backends.set: {e} {res}"
            proc.send_signal(signal.SIGUSR1)
        rpc.close()
        proc.stdout.read()
        assert proc.wait(timeout=120) == 0, f"{dp} replay exited {proc.returncode}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
    with open(verdicts) as f:
        lines = f.read().splitlines()
    return lines, [data for _ts, data in read_pcap(pcap)]


@pytest.fixture(scope="module")
def sc_replays(opts, workdir):
    """Both replays of the second-chance capture, and how many SYNs it lost."""
    require_root("BPF and DPDK EAL")
    cfg = os.path.join(workdir, "sc-config.json")
    full = os.path.join(workdir, "sc-full.pcap")
    pcap_in = os.path.join(workdir, "sc-in.pcap")
    with open(cfg, "w") as f:
        json.dump(SC_CONFIG, f)
    run([opts.pktgen, "--out", full, "--packets", str(SC_PACKETS), "--seed", str(SC_SEED)])
    kept, dropped = [], 0
    for ts, frame in read_pcap(full):
        sport = tcp_syn_only(frame)
        if sport is not None and sport % 3 != 0:
            dropped += 1
            continue
        kept.append((ts, frame))
    write_pcap(pcap_in, kept, nanoseconds=True)
    out = {dp: replay_with_changes(opts, workdir, dp, cfg, pcap_in) for dp in ("dpdk", "xdp")}
    return out, len(kept), dropped


def gue_variant0_family(frame):
    """(outer family, inner protocol) of a GUE variant-0 frame to
    SC_GUE_PORT, else None."""
    if len(frame) < 14 + 40 + 8 + 4:
        return None
    etype = struct.unpack_from("!H", frame, 12)[0]
    if etype == 0x0800 and frame[14 + 9] == 17:
        udp = 14 + (frame[14] & 0xF) * 4
        family = 4
    elif etype == 0x86DD and frame[14 + 6] == 17:
        udp = 14 + 40
        family = 6
    else:
        return None
    if struct.unpack_from("!H", frame, udp + 2)[0] != SC_GUE_PORT:
        return None
    gue = frame[udp + 8]
    # Variant 1 starts with the inner IP version (4 or 6: 0b01..); variant 0 with 0b00.
    if gue >> 6 != 0 or not gue & 0x1F:
        return None
    inner = udp + 8 + 4 + (gue & 0x1F) * 4
    inner_proto = frame[inner + 9] if frame[udp + 9] == 4 else frame[inner + 6]
    return family, inner_proto


def test_second_chance_same_verdicts(sc_replays):
    (out, n, dropped) = sc_replays
    dpdk_lines, xdp_lines = out["dpdk"][0], out["xdp"][0]
    assert len(dpdk_lines) == len(xdp_lines) == n
    mismatches = []
    for d, x in zip(dpdk_lines, xdp_lines):
        if d == x:
            continue
        xv, dv = json.loads(x), json.loads(d)
        if not (xv.get("verdict") == "not_run" and dv.get("reason") == "eth_truncated"):
            mismatches.append((d, x))
    epochs = sorted({json.loads(d).get("epoch") for d in dpdk_lines})
    print(f"{n} packets ({dropped} SYNs taken out), epochs {epochs}: "
          f"{len(mismatches)} verdict lines differ")
    assert len(epochs) == 3, f"epochs in the verdicts: {epochs}"
    assert not mismatches, f"{len(mismatches)} verdict lines differ:\n" + "\n".join(
        f"  dpdk: {d}\n  xdp:  {x}" for d, x in mismatches[:5])


def test_second_chance_same_output_frames(sc_replays):
    (out, _n, _dropped) = sc_replays
    dpdk_frames, xdp_frames = out["dpdk"][1], out["xdp"][1]
    assert len(dpdk_frames) == len(xdp_frames)
    diffs = [i for i, (a, b) in enumerate(zip(dpdk_frames, xdp_frames)) if a != b]
    by_family, inner_protos = {4: 0, 6: 0}, set()
    for frame in dpdk_frames:
        v0 = gue_variant0_family(frame)
        if v0:
            by_family[v0[0]] += 1
            inner_protos.add(v0[1])
    print(f"{len(dpdk_frames)} output frames, {len(diffs)} different; with an alternate "
          f"(GUE variant 0): {by_family[4]} over IPv4, {by_family[6]} over IPv6")
    assert not diffs, f"{len(diffs)} of {len(dpdk_frames)} output frames differ, first {diffs[:5]}"
    assert by_family[4] > 100 and by_family[6] > 100, f"alternates exercised: {by_family}"
    # TCP only (an IPv6 inner's first next header may be an extension header).
    assert 6 in inner_protos and 17 not in inner_protos, \
        f"inner protocols with an alternate: {inner_protos}"


# ---- admission control ----

ADM_PACKETS = 60000
ADM_SEEDS = (11, 12)
ADM_GAP_NS = 2500000000  # more than two flood windows: the first new flow after it ends flood mode

ADM_V4 = {"new_flows_per_s": 2000, "new_flow_burst": 100,
          "sources": [{"prefix_len": 32, "packets_per_s": 3000, "packet_burst": 40},
                      {"prefix_len": 24, "new_flows_per_s": 2000, "new_flow_burst": 40}]}
ADM_V6 = {"new_flows_per_s": 1000, "new_flow_burst": 50,
          "sources": [{"prefix_len": 64, "packets_per_s": 2000, "packet_burst": 30},
                      {"prefix_len": 48, "new_flows_per_s": 1000, "new_flow_burst": 20}]}

ADM_CONFIG = {
    "node": CONFIG["node"],
    "vips": [
        dict(CONFIG["vips"][0], admission=ADM_V4),
        dict(CONFIG["vips"][1], admission={"new_flows_per_s": 300, "new_flow_burst": 10}),
        dict(CONFIG["vips"][2], admission=ADM_V6),
        CONFIG["vips"][3],
    ],
}


@pytest.fixture(scope="module")
def adm_replays(opts, workdir):
    """Both replays of two pktgen mixes ADM_GAP_NS apart under ADM_CONFIG."""
    require_root("BPF and DPDK EAL")
    mixes = []
    for seed in ADM_SEEDS:
        path = os.path.join(workdir, f"adm-mix{seed}.pcap")
        run([opts.pktgen, "--out", path, "--packets", str(ADM_PACKETS), "--seed", str(seed)])
        mixes.append(read_pcap(path))
    first, second = mixes
    shift = first[-1][0] + ADM_GAP_NS - second[0][0]
    pcap_in = os.path.join(workdir, "adm-in.pcap")
    write_pcap(pcap_in, first + [(ts + shift, frame) for ts, frame in second], nanoseconds=True)
    return replay_both(opts, workdir, "adm-", ADM_CONFIG, pcap_in)


def test_admission_same_verdicts(adm_replays):
    dpdk_lines, xdp_lines = adm_replays["dpdk"][0], adm_replays["xdp"][0]
    assert len(dpdk_lines) == len(xdp_lines) == 2 * ADM_PACKETS
    compare_verdicts(dpdk_lines, xdp_lines)
    # What the comparison covered, on the DPDK side (equal to the XDP one).
    # Flood mode of the UDP VIP, whose every new flow asks the budget (no
    # mid-stream UDP): entered in each mix, left in the gap between them.
    reasons, stateless, udp_new = {}, 0, ([], [])
    for line in dpdk_lines:
        v = json.loads(line)
        if v.get("reason") in ("source_rate_limited", "source_new_flows_limited"):
            reasons[v["reason"]] = reasons.get(v["reason"], 0) + 1
        stateless += bool(v.get("stateless"))
        if v.get("vip") == "10.0.0.10:80/udp" and (v.get("new_flow") or v.get("stateless")):
            udp_new[v["i"] >= ADM_PACKETS].append(bool(v.get("stateless")))
    print(f"source-limit drops {reasons}, stateless forwards {stateless}; UDP VIP new flows "
          f"per mix (stateless/all): {[(sum(m), len(m)) for m in udp_new]}")
    assert reasons.get("source_rate_limited", 0) > 100, reasons
    assert reasons.get("source_new_flows_limited", 0) > 100, reasons
    assert stateless > 1000, stateless
    first, second = udp_new
    assert not first[0] and any(first), "the first mix enters flood mode"
    assert not second[0] and any(second), "the gap ended flood mode, the second mix enters it"


def test_admission_same_output_frames(adm_replays):
    dpdk_frames, xdp_frames = adm_replays["dpdk"][1], adm_replays["xdp"][1]
    assert len(dpdk_frames) == len(xdp_frames)
    compare_frames(dpdk_frames, xdp_frames)


# ---- prefix lists ----

# The capture of the first comparison, with prefix lists: pktgen's clients
# are 198.18.0.0/16 and 2001:db8:c1::/48, so these rules cut through them.
# The node denies a quarter of the IPv4 clients and half of the IPv6 ones;
# the IPv4 TCP VIP serves only some networks (deny 0.0.0.0/0, allows
# inside, one of which overrides the node's deny, and a denied host inside
# an allow); the IPv6 TCP VIP allows part of the node's denied half and
# denies part of the rest; the UDP VIPs have no list (the node decides).
PREFIXES = {
    "generation": 3,
    "node": {"deny": ["198.18.0.0/18", "2001:db8:c1:8000::/49"]},
    "vips": [
        {"address": "10.0.0.10", "port": 80, "protocol": "tcp",
         "deny": ["0.0.0.0/0", "198.18.1.7/32"],
         "allow": ["198.18.0.0/17", "198.18.128.0/20", "198.18.200.0/24"]},
        {"address": "2001:db8::10", "port": 80, "protocol": "tcp",
         "allow": ["2001:db8:c1:8000::/50"], "deny": ["2001:db8:c1:4000::/50"]},
    ],
}


@pytest.fixture(scope="module")
def prefix_replays(opts, workdir):
    """Replays of the first capture with PREFIXES, each made when a test
    first asks for it (so that one dataplane's failure leaves the other's
    model check standing): replay(dp) -> (verdict lines, output frames);
    and truth: pktgen's truth lines."""
    require_root("BPF and DPDK EAL")
    cfg = os.path.join(workdir, "config.json")
    pcap_in = os.path.join(workdir, "pl-in.pcap")
    prefixes = os.path.join(workdir, "prefixes.json")
    truth = os.path.join(workdir, "pl-truth.jsonl")
    with open(cfg, "w") as f:
        json.dump(CONFIG, f)
    with open(prefixes, "w") as f:
        json.dump(PREFIXES, f)
    run([opts.pktgen, "--out", pcap_in, "--truth", truth, "--packets", str(PACKETS), "--seed",
         str(SEED)])
    with open(truth) as f:
        truth_lines = [json.loads(line) for line in f]
    done = {}

    def replay(dp):
        if dp not in done:
            done[dp] = replay_one(opts, workdir, "pl-", dp, cfg, pcap_in,
                                  ["--prefixes", prefixes])
        return done[dp]

    return replay, truth_lines


def test_prefixes_same_verdicts(prefix_replays):
    replay, _truth = prefix_replays
    dpdk_lines, xdp_lines = replay("dpdk")[0], replay("xdp")[0]
    assert len(dpdk_lines) == len(xdp_lines) == PACKETS
    compare_verdicts(dpdk_lines, xdp_lines)
    denied, by_vip = 0, {}
    for d in dpdk_lines:
        dv = json.loads(d)
        if dv.get("reason") == "source_denied":
            denied += 1
            by_vip[dv.get("vip")] = by_vip.get(dv.get("vip"), 0) + 1
    print(f"{denied} source_denied (by VIP: {by_vip})")
    # Every VIP's packets met a deny: the VIPs' own lists and the node's.
    assert len(by_vip) == len(CONFIG["vips"]) and min(by_vip.values()) > 100, \
        f"denies by VIP: {by_vip}"


def test_prefixes_same_output_frames(prefix_replays):
    replay, _truth = prefix_replays
    dpdk_frames, xdp_frames = replay("dpdk")[1], replay("xdp")[1]
    assert len(dpdk_frames) == len(xdp_frames), \
        f"output frames: dpdk {len(dpdk_frames)}, xdp {len(xdp_frames)}"
    compare_frames(dpdk_frames, xdp_frames)
    # The lists let traffic through too (allows, no rule).
    assert len(dpdk_frames) > PACKETS // 10, f"only {len(dpdk_frames)} frames forwarded"


def modelled_deny(vip, client):
    """Whether PREFIXES deny client (an ip_address) for the VIP named as in
    the verdict lines ("10.0.0.10:80/tcp", "[2001:db8::10]:80/tcp"): the
    longest prefix of the VIP's list, else of the node's (docs/prefix-lists.md),
    independently of both dataplanes."""
    def longest(lists):
        best = None
        for action in ("allow", "deny"):
            for text in lists.get(action, []):
                net = ipaddress.ip_network(text)
                if net.version == client.version and client in net and \
                        (best is None or net.prefixlen > best[0]):
                    best = (net.prefixlen, action)
        return best and best[1]

    for v in PREFIXES["vips"]:
        addr = f"[{v['address']}]" if ":" in v["address"] else v["address"]
        if vip == f"{addr}:{v['port']}/{v['protocol']}":
            decided = longest(v)
            if decided:
                return decided == "deny"
    return longest(PREFIXES["node"]) == "deny"


@pytest.mark.parametrize("dp", ["xdp", "dpdk"])
def test_prefixes_decided_as_modelled(prefix_replays, dp):
    """Each packet that found a VIP is dropped as source_denied exactly
    when the model denies its client (for an ICMP error, its flow's)."""
    replay, truth_lines = prefix_replays
    wrong, checked, denied = [], 0, 0
    for line, truth in zip(replay(dp)[0], truth_lines):
        v = json.loads(line)
        if v.get("vip") is None or not truth.get("client"):
            continue
        client = ipaddress.ip_address(truth["client"].rsplit(":", 1)[0].strip("[]"))
        want = modelled_deny(v["vip"], client)
        got = v.get("reason") == "source_denied"
        checked += 1
        denied += want
        if want != got:
            wrong.append((line, truth["client"], want))
    print(f"{dp}: {checked} packets to VIPs checked against the model, {denied} denied, "
          f"{len(wrong)} unlike it")
    assert checked > PACKETS // 2 and denied > 1000, f"checked {checked}, denied {denied}"
    assert not wrong, f"{len(wrong)} packets unlike the model:\n" + "\n".join(
        f"  {line} (client {c}, model: {'deny' if w else 'not deny'})" for line, c, w in wrong[:5])


# ---- QUIC routing by connection ID ----

QUIC_CONNECTIONS = 300
QUIC_SID_LEN = 3
# config ID -> nonce length: 8 octets (plaintext), 16 (single pass), 11
# (an odd four-pass shape); and the keys of the last two.
QUIC_NONCES = {0: 5, 1: 13, 2: 8}
QUIC_KEYS = {0: None, 1: bytes.fromhex("8f95f09245765f80256934e50c66207f"),
             2: bytes.fromhex("fdf726a9893ec05c0632d3956680baf0")}
QUIC_BACKENDS = ["10.203.0.%d" % i for i in range(1, 7)]
QUIC_VIP = {"address": "10.0.0.20", "port": 443, "protocol": "udp"}
QUIC_PLAIN_VIP = {"address": "10.0.0.21", "port": 443, "protocol": "udp"}
REPLAY_MACS = bytes.fromhex("027063617000") + bytes.fromhex("02000000aa01")


def quic_sid(backend):
    return bytes([0x5A, 0x00, backend + 1])


def quic_config(configs):
    """The VIP config; configs: {config ID: (nonce length, key or None)}."""
    vip = dict(QUIC_VIP, backends=[{"address": b, "quic_server_id": quic_sid(i).hex()}
                                   for i, b in enumerate(QUIC_BACKENDS)])
    vip["quic"] = {"server_id_length": QUIC_SID_LEN,
                   "configs": [dict({"id": i, "nonce_length": n}, **({"key": k.hex()} if k else {}))
                               for i, (n, k) in configs.items()]}
    plain = dict(QUIC_PLAIN_VIP, backends=[{"address": b} for b in QUIC_BACKENDS[:3]])
    return {"node": CONFIG["node"], "vips": [vip, plain]}


def quic_frame(src, sport, vip, payload):
    return udp4_frame(REPLAY_MACS[:6], REPLAY_MACS[6:], src, vip["address"], sport, vip["port"],
                      payload)


def quic_fragment(src, sport, payload):
    """The first fragment (MF set) of a QUIC VIP datagram."""
    udp = struct.pack("!HHHH", sport, QUIC_VIP["port"], 8 + len(payload), 0) + payload
    head = bytearray(ipv4_header(src, QUIC_VIP["address"], 17, len(udp), ident=77))
    head[6:8] = struct.pack("!H", 0x2000)  # MF, offset 0
    head[10:12] = b"\0\0"
    head = bytes(head[:10]) + struct.pack("!H", _ipv4_csum(bytes(head))) + bytes(head[12:])
    return REPLAY_MACS + b"\x08\x00" + head + udp


def _ipv4_csum(header):
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def quic_capture(rng):
    """[(frame, expectation)]: expectation (outcome, backend index or None,
    connection or None)."""
    streams = []
    for c in range(QUIC_CONNECTIONS):
        out = []
        streams.append(out)
        src, sport = "10.40.%d.%d" % (c // 200, 1 + c % 200), 30000 + c
        moved, msport = "10.41.%d.%d" % (c // 200, 1 + c % 200), 31000 + c
        server = rng.randrange(len(QUIC_BACKENDS))
        cfg = c % 3
        version = QUIC_V2 if c % 2 else QUIC_V1
        cids = [encode_cid(cfg, quic_sid(server), rng.randbytes(QUIC_NONCES[cfg]),
                           QUIC_KEYS[cfg]) for _ in range(2)]
        out.append((quic_frame(src, sport, QUIC_VIP,
                               long_packet(rng, version, "initial", rng.randbytes(8))),
                    ("client_cid", server, c)))
        if c % 5 == 0:
            out.append((quic_frame(src, sport, QUIC_VIP,
                                   long_packet(rng, version, "0rtt", rng.randbytes(8))),
                        ("client_cid", None, c)))
        out.append((quic_frame(src, sport, QUIC_VIP,
                               long_packet(rng, version, "handshake", cids[0], rng.randbytes(8))),
                    ("by_cid", server, c)))
        for cid in (cids[0], cids[0], cids[1]):
            out.append((quic_frame(src, sport, QUIC_VIP, short_packet(rng, cid)),
                        ("by_cid", server, c)))
        for cid in (cids[1], cids[1], cids[0]):
            out.append((quic_frame(moved, msport, QUIC_VIP, short_packet(rng, cid)),
                        ("by_cid", server, c)))
    out = []
    streams.append(out)
    for i in range(120):
        src, sport = "10.42.0.%d" % (1 + i), 32000 + i
        nonce = rng.randbytes(5)
        kind = i % 8
        if kind == 0:
            payload, want = short_packet(rng, encode_cid(7, quic_sid(1), nonce)), "no_config_codepoint"
        elif kind == 1:
            payload, want = short_packet(rng, encode_cid(4, quic_sid(1), nonce)), "unknown_config"
        elif kind == 2:
            payload, want = short_packet(rng, encode_cid(0, b"\x5a\x09\x09", nonce)), "unknown_server"
        elif kind == 3:  # the datagram ends inside the CID
            payload, want = bytes([0x40]) + encode_cid(1, quic_sid(2), rng.randbytes(13),
                                                       QUIC_KEYS[1])[:10], "cid_too_short"
        elif kind == 4:
            payload = long_packet(rng, 0xFF00001D, "handshake", encode_cid(0, quic_sid(2), nonce))
            want = "other_version"
        elif kind == 5:
            payload, want = b"", "not_quic"
        elif kind == 6:
            # A fragment says no port: a port's VIP never gets it
            # (fragment_no_vip), QUIC or not.
            out.append((quic_fragment(src, sport, short_packet(rng, encode_cid(0, quic_sid(3), nonce))),
                        (None, None, None)))
            continue
        else:
            payload, want = long_packet(rng, QUIC_V1, "handshake", b""), "cid_too_short"
        out.append((quic_frame(src, sport, QUIC_VIP, payload), (want, None, None)))
    for i in range(200):
        out.append((quic_frame("10.43.0.%d" % (1 + i % 60), 33000 + i, QUIC_PLAIN_VIP,
                               short_packet(rng, encode_cid(0, quic_sid(0), rng.randbytes(5)))),
                    (None, None, None)))
    # Interleaved at random, each connection's packets in their order (the
    # Initial first: its flow entry is then re-pinned by the Handshake).
    streams = [st[::-1] for st in streams[:-1]] + [[p] for p in streams[-1]]
    merged = []
    while streams:
        i = rng.randrange(len(streams))
        merged.append(streams[i].pop())
        if not streams[i]:
            streams[i] = streams[-1]
            streams.pop()
    return merged


@pytest.fixture(scope="module")
def quic_replays(opts, workdir):
    """Both replays of the QUIC capture, and the capture's expectations."""
    require_root("BPF and DPDK EAL")
    import random
    rng = random.Random(1919)
    capture = quic_capture(rng)
    pcap_in = os.path.join(workdir, "quic-in.pcap")
    write_pcap(pcap_in, [(1000000 * i, f) for i, (f, _) in enumerate(capture)], nanoseconds=True)
    config = quic_config({i: (n, QUIC_KEYS[i]) for i, n in QUIC_NONCES.items()})
    return replay_both(opts, workdir, "quic-", config, pcap_in), [e for _, e in capture]


def test_quic_same_verdicts(quic_replays):
    out, expect = quic_replays
    dpdk_lines, xdp_lines = out["dpdk"][0], out["xdp"][0]
    assert len(dpdk_lines) == len(xdp_lines) == len(expect)
    compare_verdicts(dpdk_lines, xdp_lines)
    outcomes, wrong = {}, []
    repinned = 0
    for i, (line, (want, server, _c)) in enumerate(zip(dpdk_lines, expect)):
        v = json.loads(line)
        outcomes[v.get("quic")] = outcomes.get(v.get("quic"), 0) + 1
        if want == "client_cid" and server is not None:
            # A connection's Initial: the 5-tuple's pick, which its
            # server's CIDs override afterwards when it differs.
            repinned += v.get("backend") != QUIC_BACKENDS[server]
            server = None
        if v.get("quic") != want or (server is not None and
                                     v.get("backend") != QUIC_BACKENDS[server]):
            wrong.append((i, want, server, line))
    print(f"QUIC capture: {len(expect)} packets, outcomes {outcomes}; {repinned} connections "
          f"whose flow entry the server's CID re-pinned")
    # Servers drawn at random: most Initials went elsewhere first.
    assert repinned > QUIC_CONNECTIONS // 2, repinned
    assert not wrong, f"{len(wrong)} packets not routed as built, first: {wrong[:3]}"
    assert all(outcomes.get(k) for k in ("by_cid", "client_cid", "other_version", "not_quic",
                                          "no_config_codepoint", "unknown_config",
                                          "cid_too_short", "unknown_server")), outcomes


def test_quic_same_output_frames(quic_replays):
    out, _ = quic_replays
    dpdk_frames, xdp_frames = out["dpdk"][1], out["xdp"][1]
    assert len(dpdk_frames) == len(xdp_frames)
    compare_frames(dpdk_frames, xdp_frames)
