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
  PYTHONPATH=tests/pylib python3 -m pytest -p edgelb_testlib.pytest_plugin \\
      tests/faults/test_soak.py --replay build/tools/replay/edgelb-replay --changes 200000
Root only (DPDK EAL; skipped otherwise). Run by pytest: one soak for the
file, one test per property above; its FIGURE line for tools/adversarial-report.
"""
import collections
import json
import os
import signal
import subprocess
import time
import types

import pytest

import faultlib as fl
from edgelb_testlib import rpc
from edgelb_testlib.frames import tcp4_frame
from edgelb_testlib.pcap import write_pcap
from edgelb_testlib.proc import rss_kib, wait_for
from edgelb_testlib.pytest_plugin import require_root

VIP = "198.51.100.20"
POOL = ["203.0.113.%d" % i for i in range(1, 9)]
CLIENT_FLOWS = 2000
PACKETS_PER_CHANGE = 40    # the replay holds every this many packets for the next change
RSS_GROWTH_MAX_KIB = 16 * 1024
DEFAULT_CHANGES = 10000


def frame(client, sport, flags):
    return tcp4_frame(fl.DST_MAC, fl.SRC_MAC, client, VIP, sport, 80, flags, df=True)


def write_client_pcap(path, n_packets):
    """Client flows round robin: SYN first, then ACKs, 10 us apart."""
    clients = [("203.0.113.%d" % (100 + i % 100), 1024 + i) for i in range(CLIENT_FLOWS)]
    frames = [frame(c, sport, 0x02) for c, sport in clients]
    frames += [frame(c, sport, 0x10) for c, sport in clients]
    write_pcap(path, ((1000000000 + i * 10000,
                       frames[i] if i < CLIENT_FLOWS else frames[CLIENT_FLOWS + i % CLIENT_FLOWS])
                      for i in range(n_packets)))


def drive(binary, changes, work):
    """The replay and the changes in lockstep. Returns what happened:
    error (None or why the driver stopped), rc, acks [(epoch, rx at the
    ack, backend)], sets {epoch: backends}, rss_start/rss_end (KiB),
    t_changes, t_all, n_packets, verdicts."""
    n_packets = changes * PACKETS_PER_CHANGE + CLIENT_FLOWS * 2
    pcap, conf = os.path.join(work, "in.pcap"), os.path.join(work, "config.json")
    verdicts_path, sock = os.path.join(work, "verdicts.jsonl"), os.path.join(work, "soak.sock")
    write_client_pcap(pcap, n_packets)
    with open(conf, "w") as f:
        json.dump({"node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:fe"},
                   "vips": [{"address": VIP, "port": 80, "protocol": "tcp", "maglev_size": 1021,
                             "backends": [{"address": b} for b in POOL]}]}, f)
    log = open(os.path.join(work, "replay.log"), "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "--dataplane", "dpdk", "--config", conf, "--in", pcap,
                             "--out", "/dev/null", "--verdicts", verdicts_path, "--socket", sock,
                             "--hold-every", str(PACKETS_PER_CHANGE), "--flows", "65536"],
                            stdout=subprocess.PIPE, stderr=log)
    sets = {1: set(POOL)}
    acks = []  # (epoch, rx at the ack, removed or added backend)
    rss_start = rss_end = None
    t_changes = 0.0
    error = None
    rc = None
    try:
        wait_for("replay socket", lambda: os.path.exists(sock), 30, proc)
        c = rpc.Connection(sock, timeout=30)
        current = set(POOL)
        n = 0
        for line in proc.stdout:
            log.write(line)
            if not line.startswith(b"held before packet"):
                continue
            if n == changes or error is not None:
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
            if n == changes:
                rss_end = rss_kib(proc.pid)[0]
                t_changes = time.monotonic() - t0
            proc.send_signal(signal.SIGUSR1)
        if error is None and n < changes:
            error = "the replay ended after %d changes" % n
        c.close()
        rc = proc.wait(600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    with open(verdicts_path) as f:
        verdicts = [json.loads(l) for l in f if l.strip()]
    return types.SimpleNamespace(error=error, rc=rc, acks=acks, sets=sets, rss_start=rss_start,
                                 rss_end=rss_end, t_changes=t_changes,
                                 t_all=time.monotonic() - t0, n_packets=n_packets,
                                 verdicts=verdicts, changes=changes)


def stale_packets(acks, verdicts):
    """Packets decided under an epoch older than an ack sent before them."""
    stale = 0
    ai = 0
    floor = 1
    for i, v in enumerate(verdicts):
        while ai < len(acks) and acks[ai][1] <= i:
            floor = acks[ai][0]
            ai += 1
        stale += v["epoch"] < floor
    return stale


def outside_their_set(sets, verdicts):
    """{backend: packets forwarded to it under an epoch whose set lacks it}."""
    to_removed = collections.Counter()
    for v in verdicts:
        if v["verdict"] != "forward":
            continue
        allowed = sets.get(v["epoch"])
        if allowed is None or v["backend"] not in allowed:
            to_removed[v["backend"]] += 1
    return to_removed


@pytest.fixture(scope="module")
def soak(opts, workdir):
    require_root("edgelb-replay (DPDK EAL)")
    changes = int(opts.changes) if opts.changes else DEFAULT_CHANGES
    r = drive(opts.replay, changes, workdir)
    r.epochs = [e for e, _, _ in r.acks]
    r.stale = stale_packets(r.acks, r.verdicts)
    r.to_removed = outside_their_set(r.sets, r.verdicts)
    r.under = collections.Counter(v["epoch"] for v in r.verdicts)
    repicked = sum(v["new_flow"] for v in r.verdicts[CLIENT_FLOWS:])
    fl.figure("soak: %d backend changes (remove/re-add one of 8) over the socket while %d packets "
              "flowed through the DPDK pipeline" % (len(r.acks), r.n_packets),
              "zero packets to a backend after its removal was acknowledged; no crash; memory flat",
              "packets to a removed backend: %d; stale-epoch packets after an ack: %d; exit %s; "
              "flows re-picked %d; RSS %.1f MiB after 100 changes, %.1f MiB at the end; %.0f s" %
              (sum(r.to_removed.values()), r.stale, r.rc, repicked, (r.rss_start or 0) / 1024,
               (r.rss_end or 0) / 1024, r.t_changes))
    return r


def test_every_change_acknowledged(soak):
    assert soak.error is None, "driver: %s" % soak.error


def test_replay_exits_0(soak):
    assert soak.rc == 0, "replay exit %s after %.1f s (changes took %.1f s)" % (
        soak.rc, soak.t_all, soak.t_changes)


def test_epochs_one_apart(soak):
    assert soak.epochs == list(range(2, 2 + len(soak.acks))), \
        "epochs one apart, 2..%d: %s..." % (1 + len(soak.acks), soak.epochs[:10])


def test_a_verdict_per_packet(soak):
    assert len(soak.verdicts) == soak.n_packets, \
        "%d verdicts for %d packets" % (len(soak.verdicts), soak.n_packets)


def test_no_stale_epoch_after_an_ack(soak):
    assert soak.stale == 0, \
        "packets decided under an epoch older than an ack sent before them: %d" % soak.stale


def test_no_packet_to_a_backend_outside_its_epochs_set(soak):
    assert not soak.to_removed, "packets forwarded to a backend outside its epoch's set: %d %s" % (
        sum(soak.to_removed.values()), dict(soak.to_removed))


def test_every_packet_forwarded(soak):
    not_fwd = collections.Counter((v["verdict"], v["reason"]) for v in soak.verdicts
                                  if v["verdict"] != "forward")
    forwarded = len(soak.verdicts) - sum(not_fwd.values())
    assert not not_fwd, "every packet forwarded (%d), others: %s" % (forwarded, dict(not_fwd))


def test_packets_under_every_epoch(soak):
    epochs, under = soak.epochs, soak.under
    with_traffic = sum(e in under for e in epochs)
    assert with_traffic == len(epochs) and \
        all(under[e] == PACKETS_PER_CHANGE for e in epochs[:-1]), \
        "changes with %d packets decided under them: %d of %d" % (
            PACKETS_PER_CHANGE, sum(under[e] == PACKETS_PER_CHANGE for e in epochs[:-1]) +
            (1 if epochs and under[epochs[-1]] else 0), len(epochs))


def test_memory_flat(soak):
    assert soak.rss_start is not None and soak.rss_end is not None, "resident size not measured"
    assert soak.rss_end - soak.rss_start <= RSS_GROWTH_MAX_KIB, \
        "resident size after 100 changes %.1f MiB, after %d: %.1f MiB" % (
            soak.rss_start / 1024, len(soak.acks), soak.rss_end / 1024)
