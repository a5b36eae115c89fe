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

Any other difference is a bug in one of the dataplanes. Root only (BPF,
DPDK EAL): skipped otherwise. Run by pytest (--replay, --pktgen).
"""
import json
import os
import subprocess

import pytest

from edgelb_testlib.pcap import read_pcap
from edgelb_testlib.pytest_plugin import require_root

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


@pytest.fixture(scope="module")
def replays(opts, workdir):
    """{dataplane: (verdict lines, output frames)} of both replays of one pcap."""
    require_root("BPF and DPDK EAL")
    cfg = os.path.join(workdir, "config.json")
    pcap_in = os.path.join(workdir, "in.pcap")
    with open(cfg, "w") as f:
        json.dump(CONFIG, f)
    run([opts.pktgen, "--out", pcap_in, "--packets", str(PACKETS), "--seed", str(SEED)])
    out = {}
    for dp in ("dpdk", "xdp"):
        pcap, verdicts = os.path.join(workdir, f"{dp}.pcap"), os.path.join(workdir, f"{dp}.jsonl")
        run([opts.replay, "--dataplane", dp, "--config", cfg, "--in", pcap_in,
             "--out", pcap, "--verdicts", verdicts])
        with open(verdicts) as f:
            lines = f.read().splitlines()
        out[dp] = (lines, [data for _ts, data in read_pcap(pcap)])
    return out


def test_one_verdict_line_per_packet(replays):
    dpdk, xdp = len(replays["dpdk"][0]), len(replays["xdp"][0])
    assert dpdk == xdp == PACKETS, f"verdict lines: dpdk {dpdk}, xdp {xdp}, packets {PACKETS}"


def test_same_verdicts(replays):
    """Every verdict line the same, but for frames shorter than an Ethernet
    header, which the kernel does not run (DPDK: eth_truncated drops)."""
    dpdk_lines, xdp_lines = replays["dpdk"][0], replays["xdp"][0]
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


def test_same_number_of_output_frames(replays):
    dpdk, xdp = len(replays["dpdk"][1]), len(replays["xdp"][1])
    assert dpdk == xdp, f"output frames: dpdk {dpdk}, xdp {xdp}"


def test_same_output_frames(replays):
    dpdk_frames, xdp_frames = replays["dpdk"][1], replays["xdp"][1]
    diffs = [i for i, (a, b) in enumerate(zip(dpdk_frames, xdp_frames)) if a != b]
    shown = []
    for i in diffs[:5]:
        a, b = dpdk_frames[i], xdp_frames[i]
        at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
        shown.append(f"  frame {i}: dpdk {len(a)} bytes, xdp {len(b)} bytes, first difference "
                     f"at byte {at}\n    dpdk: {a[:64].hex()}\n    xdp:  {b[:64].hex()}")
    assert not diffs, f"{len(diffs)} of {len(dpdk_frames)} output frames differ\n" + \
        "\n".join(shown)
