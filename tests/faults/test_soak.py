#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Soak: thousands of backend changes over the control socket while traffic
flows through the DPDK pipeline (edgelb-replay --socket; single-threaded,
so every verdict carries the exact epoch it was decided under).

The replay and the driver move in lockstep, so that neither a loaded
machine nor a fast one changes what is tested: the replay holds every
PACKETS_PER_CHANGE packets (--hold-every), serving its socket; at each
hold the driver makes one change and releases it (SIGUSR1). The driver
alternately removes one backend of eight and adds it back (backends.set,
cycling through them), and pipelines a counters.get behind each change:
its rx is the packet index at which the acknowledgement was sent. Then,
independently of the dataplane's code:
  - every acknowledged change has its own epoch, one above the previous;
  - no packet at or after the index of an acknowledgement is decided under
    an older epoch;
  - every forwarded packet goes to a backend in the set of its epoch: zero
    packets to a backend after its removal was acknowledged (until its
    re-addition was);
  - PACKETS_PER_CHANGE packets were decided under every epoch;
  - the replay exits 0 (no crash) and its resident size at the end is
    within 16 MiB of that after the first 100 changes (reported).
--changes N sets the count (default 10000); a longer run, one command:
  PYTHONPATH=tests/pylib python3 tests/faults/test_soak.py --replay build/tools/replay/edgelb-replay --changes 200000
Root only (DPDK EAL; exit 77 otherwise).
"""
import argparse
import collections
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import faultlib as fl
from edgelb_testlib import checks, rpc
from edgelb_testlib.csum import with_ipv4_checksum
from edgelb_testlib.pcap import write_pcap
from edgelb_testlib.proc import rss_kib, wait_for

VIP = "198.51.100.20"
POOL = ["203.0.113.%d" % i for i in range(1, 9)]
CLIENT_FLOWS = 2000
PACKETS_PER_CHANGE = 40    # the replay holds every this many packets for the next change
RSS_GROWTH_MAX_KIB = 16 * 1024


def frame(client, sport, flags):
    ip = with_ipv4_checksum(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0,
                                        bytes(client), bytes([198, 51, 100, 20])))
    tcp = struct.pack("!HHIIBBHHH", sport, 80, 1, 0, 0x50, flags, 65535, 0, 0)
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + tcp + b"\0" * 6


def write_client_pcap(path, n_packets):
    """Client flows round robin: SYN first, then ACKs, 10 us apart."""
    frames = [frame([203, 0, 113, 100 + i % 100], 1024 + i, 0x02) for i in range(CLIENT_FLOWS)]
    frames += [frame([203, 0, 113, 100 + i % 100], 1024 + i, 0x10) for i in range(CLIENT_FLOWS)]
    write_pcap(path, ((1000000000 + i * 10000,
                       frames[i] if i < CLIENT_FLOWS else frames[CLIENT_FLOWS + i % CLIENT_FLOWS])
                      for i in range(n_packets)))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replay", required=True)
    ap.add_argument("--changes", type=int, default=10000)
    ap.add_argument("--keep", help="keep the work files here")
    args = ap.parse_args()
    fl.require_root("edgelb-replay (DPDK EAL)")
    ck = checks.Checker("test_soak")
    work = args.keep or tempfile.mkdtemp(prefix="elb-soak-")
    os.makedirs(work, exist_ok=True)
    try:
        return run(args, work, ck)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work, ck):
    n_packets = args.changes * PACKETS_PER_CHANGE + CLIENT_FLOWS * 2
    pcap, conf = os.path.join(work, "in.pcap"), os.path.join(work, "config.json")
    verdicts_path, sock = os.path.join(work, "verdicts.jsonl"), os.path.join(work, "soak.sock")
    write_client_pcap(pcap, n_packets)
    with open(conf, "w") as f:
        json.dump({"node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:fe"},
                   "vips": [{"address": VIP, "port": 80, "protocol": "tcp", "maglev_size": 1021,
                             "backends": [{"address": b} for b in POOL]}]}, f)
    log = open(os.path.join(work, "replay.log"), "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([args.replay, "--dataplane", "dpdk", "--config", conf, "--in", pcap,
                             "--out", "/dev/null", "--verdicts", verdicts_path, "--socket", sock,
                             "--hold-every", str(PACKETS_PER_CHANGE), "--flows", "65536"],
                            stdout=subprocess.PIPE, stderr=log)
    sets = {1: set(POOL)}
    acks = []  # (epoch, rx at the ack, removed or added backend)
    rss_start = rss_end = None
    t_changes = 0.0
    error = None
    try:
        wait_for("replay socket", lambda: os.path.exists(sock), 30, proc)
        c = rpc.Connection(sock, timeout=30)
        current = set(POOL)
        n = 0
        for line in proc.stdout:
            log.write(line)
            if not line.startswith(b"held before packet"):
                continue
            if n == args.changes or error is not None:
                proc.send_signal(signal.SIGUSR1)  # the rest of the capture, unchanged
                continue
            victim = POOL[(n // 2) % len(POOL)]
            nxt = current - {victim} if n % 2 == 0 else current | {victim}
            params = {"address": VIP, "port": 80, "protocol": "tcp",
                      "backends": [{"address": b} for b in sorted(nxt)]}
            c.send_line(json.dumps({"jsonrpc": "2.0", "id": 2 * n, "method": "backends.set",
                                    "params": params}).encode() + b"\n" +
                        json.dumps({"jsonrpc": "2.0", "id": 2 * n + 1,
                                    "method": "counters.get"}).encode() + b"\n")
            r1, r2 = c.read_line(), c.read_line()
            if r1 is None or r2 is None:
                error = "the replay closed the socket after %d changes" % n
                proc.send_signal(signal.SIGUSR1)
                continue
            r1, r2 = json.loads(r1), json.loads(r2)
            if "result" not in r1:
                error = "change %d refused: %s" % (n, r1)
                proc.send_signal(signal.SIGUSR1)
                continue
            epoch = r1["result"]["epoch"]
            acks.append((epoch, r2["result"]["counters"]["rx"]["packets"], victim))
            sets[epoch] = set(nxt)
            current = nxt
            if n == 99:
                rss_start = rss_kib(proc.pid)[0]
            n += 1
            if n == args.changes:
                rss_end = rss_kib(proc.pid)[0]
                t_changes = time.monotonic() - t0
            proc.send_signal(signal.SIGUSR1)
        if error is None and n < args.changes:
            error = "the replay ended after %d changes" % n
        c.close()
        rc = proc.wait(600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    ck.check(error is None, "driver: %s" % (error or "all %d changes acknowledged" % args.changes))
    ck.check(rc == 0, "replay exit %s after %.1f s (changes took %.1f s)" %
             (rc, time.monotonic() - t0, t_changes))

    epochs = [e for e, _, _ in acks]
    ck.check(epochs == list(range(2, 2 + len(acks))), "epochs one apart, 2..%d" % (1 + len(acks)))
    with open(verdicts_path) as f:
        verdicts = [json.loads(l) for l in f if l.strip()]
    ck.check(len(verdicts) == n_packets, "%d verdicts for %d packets" % (len(verdicts), n_packets))

    # Epoch at each packet must be at least that of every ack sent before it.
    stale = 0
    ai = 0
    floor = 1
    for i, v in enumerate(verdicts):
        while ai < len(acks) and acks[ai][1] <= i:
            floor = acks[ai][0]
            ai += 1
        stale += v["epoch"] < floor
    ck.check(stale == 0, "packets decided under an epoch older than an ack sent before them: %d" % stale)

    to_removed = collections.Counter()
    forwarded = 0
    for v in verdicts:
        if v["verdict"] != "forward":
            continue
        forwarded += 1
        allowed = sets.get(v["epoch"])
        if allowed is None or v["backend"] not in allowed:
            to_removed[v["backend"]] += 1
    ck.check(not to_removed, "packets forwarded to a backend outside its epoch's set: %d %s" %
             (sum(to_removed.values()), dict(to_removed)))
    not_fwd = collections.Counter((v["verdict"], v["reason"]) for v in verdicts if v["verdict"] != "forward")
    ck.check(not not_fwd, "every packet forwarded (%d), others: %s" % (forwarded, dict(not_fwd)))
    seen = {v["epoch"] for v in verdicts}
    with_traffic = sum(e in seen for e in epochs)
    under = collections.Counter(v["epoch"] for v in verdicts)
    ck.check(with_traffic == len(epochs) and
             all(under[e] == PACKETS_PER_CHANGE for e in epochs[:-1]),
             "changes with %d packets decided under them: %d of %d" %
             (PACKETS_PER_CHANGE, sum(under[e] == PACKETS_PER_CHANGE for e in epochs[:-1]) +
              (1 if epochs and under[epochs[-1]] else 0), len(epochs)))
    repicked = sum(v["new_flow"] for v in verdicts[CLIENT_FLOWS:])
    if rss_start is not None and rss_end is not None:
        ck.check(rss_end - rss_start <= RSS_GROWTH_MAX_KIB,
                 "resident size after 100 changes %.1f MiB, after %d: %.1f MiB" %
                 (rss_start / 1024, len(acks), rss_end / 1024))
    else:
        ck.check(False, "resident size not measured")
    fl.figure("soak: %d backend changes (remove/re-add one of 8) over the socket while %d packets "
              "flowed through the DPDK pipeline" % (len(acks), n_packets),
              "zero packets to a backend after its removal was acknowledged; no crash; memory flat",
              "packets to a removed backend: %d; stale-epoch packets after an ack: %d; exit %s; "
              "flows re-picked %d; RSS %.1f MiB after 100 changes, %.1f MiB at the end; %.0f s" %
              (sum(to_removed.values()), stale, rc, repicked, (rss_start or 0) / 1024,
               (rss_end or 0) / 1024, t_changes))
    return ck.finish()


if __name__ == "__main__":
    sys.exit(main())
