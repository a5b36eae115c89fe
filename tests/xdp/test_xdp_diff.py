#!/usr/bin/env python3
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
DPDK EAL): exits 77 (skipped) otherwise.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

SKIP = 77
ETH_HLEN = 14

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


def read_pcap(path):
    """Frames of a pcap (either timestamp precision), in order."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f"{path}: not a pcap")
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return frames


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    sys.stderr.write(res.stderr)
    if res.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {res.returncode}")
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--replay", required=True)
    ap.add_argument("--pktgen", required=True)
    ap.add_argument("--packets", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--keep", help="directory to keep the files in")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("skipped: needs root (BPF and DPDK EAL)")
        return SKIP

    work = args.keep or tempfile.mkdtemp(prefix="elb-xdp-diff-")
    os.makedirs(work, exist_ok=True)
    cfg = os.path.join(work, "config.json")
    pcap_in = os.path.join(work, "in.pcap")
    with open(cfg, "w") as f:
        json.dump(CONFIG, f)
    run([args.pktgen, "--out", pcap_in, "--packets", str(args.packets),
         "--seed", str(args.seed)])
    out = {}
    for dp in ("dpdk", "xdp"):
        out[dp] = (os.path.join(work, f"{dp}.pcap"), os.path.join(work, f"{dp}.jsonl"))
        run([args.replay, "--dataplane", dp, "--config", cfg, "--in", pcap_in,
             "--out", out[dp][0], "--verdicts", out[dp][1]])

    with open(out["dpdk"][1]) as f:
        dpdk_lines = f.read().splitlines()
    with open(out["xdp"][1]) as f:
        xdp_lines = f.read().splitlines()
    failures = []
    not_run = 0
    verdicts = {}
    if len(dpdk_lines) != len(xdp_lines) or len(dpdk_lines) != args.packets:
        failures.append(f"verdict lines: dpdk {len(dpdk_lines)}, xdp {len(xdp_lines)}, "
                        f"packets {args.packets}")
    mismatches = []
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
    if mismatches:
        failures.append(f"{len(mismatches)} verdict lines differ")
        for d, x in mismatches[:5]:
            print(f"  dpdk: {d}\n  xdp:  {x}")

    dpdk_frames = read_pcap(out["dpdk"][0])
    xdp_frames = read_pcap(out["xdp"][0])
    if len(dpdk_frames) != len(xdp_frames):
        failures.append(f"output frames: dpdk {len(dpdk_frames)}, xdp {len(xdp_frames)}")
    frame_diffs = [i for i, (a, b) in enumerate(zip(dpdk_frames, xdp_frames)) if a != b]
    if frame_diffs:
        failures.append(f"{len(frame_diffs)} output frames differ")
        for i in frame_diffs[:5]:
            a, b = dpdk_frames[i], xdp_frames[i]
            at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            print(f"  frame {i}: dpdk {len(a)} bytes, xdp {len(b)} bytes, first difference "
                  f"at byte {at}\n    dpdk: {a[:64].hex()}\n    xdp:  {b[:64].hex()}")

    print(f"{len(dpdk_lines)} packets: {verdicts}; {len(dpdk_lines) - not_run - len(mismatches)} "
          f"identical verdicts, {len(mismatches)} different, {not_run} shorter than "
          f"{ETH_HLEN} bytes not run by the kernel (dpdk: eth_truncated drops); "
          f"{len(dpdk_frames)} output frames, {len(frame_diffs)} different")
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        print(f"files kept in {work}")
        return 1
    if not args.keep:
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        os.rmdir(work)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
