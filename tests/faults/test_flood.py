# SPDX-License-Identifier: BSD-3-Clause
"""Floods through the real DPDK pipeline (edgelb-replay, a flow table of
4096 entries = 512 buckets of 8 ways), pcaps written here from the wire
format:
  1. SYN flood from random sources at 8 times the table's capacity while
     established flows run (at 1/8 and at 1/2 of the capacity), backend set
     unchanged: every established flow stays on its backend, every flood SYN
     is still forwarded (insertion never fails); figure: how many
     established flows were evicted (re-inserted: new_flow on a mid-stream
     packet) at each density.
  2. The same flood with a backend removed, then one added, in the middle
     (over --socket): established flows on the removed backend move, the
     others stay unless they were evicted and Maglev's table moved their
     slot; figures: moved / kept / evicted.
  3. One flow flooding at 100 times its rate limit beside 200 ordinary
     flows under the same limit: none of the ordinary flows' packets is
     dropped; the flooder's excess is (rate_limited).
Root only (DPDK EAL; skipped otherwise). Run by pytest (--replay): one test
per case; each prints its FIGURE line for tools/adversarial-report.
"""
import collections
import json
import os
import random
import subprocess
import time

import pytest

import faultlib as fl
from edgelb_testlib import rpc
from edgelb_testlib.checks import Checker
from edgelb_testlib.frames import tcp4_frame
from edgelb_testlib.pcap import write_pcap
from edgelb_testlib.proc import wait_for
from edgelb_testlib.pytest_plugin import require_root

FLOWS = 4096               # --flows: 512 buckets x 8 ways
FLOOD = 8 * FLOWS          # flood SYNs, each from a new random source
ROUNDS = 16                # packets per established flow during the flood
VIP = "198.51.100.10"
BACKENDS = ["203.0.113.%d" % i for i in range(1, 5)]
REMOVED, ADDED = BACKENDS[3], "203.0.113.5"
SYN, ACK = 0x02, 0x10


def frame(src, sport, flags, pad=0):
    """A TCP frame from src:sport to the VIP, pad bytes of payload."""
    return tcp4_frame(fl.DST_MAC, fl.SRC_MAC, src, VIP, sport, 80, flags, pad, df=True)


def write_frames(path, frames, step_ns):
    """frames step_ns apart from 1 s."""
    write_pcap(path, ((1000000000 + i * step_ns, fr) for i, fr in enumerate(frames)))


def config(rate=None):
    vip = {"address": VIP, "port": 80, "protocol": "tcp",
           "backends": [{"address": b} for b in BACKENDS]}
    if rate:
        vip["rate_limit"] = {"packets_per_s": rate[0], "packet_burst": rate[1]}
    return {"node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:fe"}, "vips": [vip]}


def flood_traffic(n_established, seed):
    """Established flows (client 203.0.113.x, SYN then ACKs) and FLOOD SYNs
    from random 192.0.2.x:port sources, interleaved. Returns (frames,
    kinds): kind is ("est", flow index) or ("flood", None)."""
    rnd = random.Random(seed)
    est = [("203.0.113.%d" % (100 + i % 100), 1024 + i) for i in range(n_established)]
    frames, kinds = [], []
    for k, (src, sport) in enumerate(est):
        frames.append(frame(src, sport, SYN))
        kinds.append(("est", k))
    for k, (src, sport) in enumerate(est):
        frames.append(frame(src, sport, ACK))
        kinds.append(("est", k))
    seen = set()
    per_round = FLOOD // ROUNDS
    for _ in range(ROUNDS):
        flood = []
        while len(flood) < per_round:
            s = (rnd.randrange(1, 255), rnd.randrange(1024, 65536))
            if s not in seen:
                seen.add(s)
                flood.append(frame("192.0.2.%d" % s[0], s[1], SYN))
        # Established packets spread evenly through the flood.
        step = max(1, per_round // n_established)
        order = list(range(n_established))
        rnd.shuffle(order)
        j = 0
        for i, f in enumerate(flood):
            frames.append(f)
            kinds.append(("flood", None))
            if i % step == step - 1 and j < n_established:
                k = order[j]
                j += 1
                frames.append(frame(est[k][0], est[k][1], ACK))
                kinds.append(("est", k))
        for k in order[j:]:
            frames.append(frame(est[k][0], est[k][1], ACK))
            kinds.append(("est", k))
    return frames, kinds


def replay(binary, work, name, frames, cfg, step_ns=1000, changes=None):
    """Run edgelb-replay; `changes` [(fraction, backends)] are made over the
    socket when that fraction of the packets is decided. Returns (verdicts,
    [(epoch, rx at the ack)], exit code)."""
    pcap, conf = os.path.join(work, name + ".pcap"), os.path.join(work, name + ".json")
    write_frames(pcap, frames, step_ns)
    with open(conf, "w") as f:
        json.dump(cfg, f)
    verdicts = os.path.join(work, name + ".jsonl")
    cmd = [binary, "--dataplane", "dpdk", "--config", conf, "--in", pcap, "--out",
           os.path.join(work, name + ".out.pcap"), "--verdicts", verdicts, "--flows", str(FLOWS)]
    acks = []
    if not changes:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        rc = p.returncode
    else:
        sock = os.path.join(work, name + ".sock")
        proc = subprocess.Popen(cmd + ["--socket", sock, "--pace-us", "300"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for("replay socket", lambda: os.path.exists(sock), 30, proc)
            c = rpc.Connection(sock)
            for at, backends in changes:
                while c.request("counters.get")["result"]["counters"]["rx"]["packets"] < at * len(frames):
                    time.sleep(0.002)
                r = c.request("backends.set", {"address": VIP, "port": 80, "protocol": "tcp",
                                            "backends": [{"address": b} for b in backends]})
                rx = c.request("counters.get")["result"]["counters"]["rx"]["packets"]
                acks.append((r["result"]["epoch"], rx))
            c.close()
            rc = proc.wait(300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return fl_read_jsonl(verdicts), acks, rc


def fl_read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def established_outcome(kinds, verdicts):
    """Per established flow: list of (packet index, backend, new_flow, epoch)."""
    flows = collections.defaultdict(list)
    for i, (kind, k) in enumerate(kinds):
        if kind == "est":
            v = verdicts[i]
            flows[k].append((i, v.get("backend") if v["verdict"] == "forward" else None,
                             v["new_flow"], v["epoch"]))
    return flows


def syn_flood_unchanged(binary, work, ck, n_est, seed):
    frames, kinds = flood_traffic(n_est, seed)
    verdicts, _, rc = replay(binary, work, "flood%d" % n_est, frames, config())
    ck.check(rc == 0 and len(verdicts) == len(frames), "flood with %d established: replay exit %d, "
             "%d verdicts for %d packets" % (n_est, rc, len(verdicts), len(frames)))
    flows = established_outcome(kinds, verdicts)
    moved = [k for k, pk in flows.items() if len({b for _, b, _, _ in pk}) != 1 or pk[0][1] is None]
    # A mid-stream packet marked new_flow: its entry had been evicted.
    evicted = [k for k, pk in flows.items() if any(n for _, _, n, _ in pk[1:])]
    flood_fwd = sum(1 for i, (kind, _) in enumerate(kinds) if kind == "flood"
                    and verdicts[i]["verdict"] == "forward")
    ck.check(not moved, "%d established flows (1/%d of the table) through %d flood SYNs: %d "
             "changed backend" % (n_est, FLOWS // n_est, FLOOD, len(moved)))
    ck.check(flood_fwd == FLOOD, "every flood SYN forwarded (%d of %d): insertion never fails" %
             (flood_fwd, FLOOD))
    ck.check(len(evicted) < n_est, "not every established flow was evicted (%d of %d)" %
             (len(evicted), n_est))
    return len(moved), len(evicted), len(frames)


def syn_flood_changes(binary, work, ck, n_est, seed):
    frames, kinds = flood_traffic(n_est, seed)
    changes = [(0.4, BACKENDS[:3]), (0.7, BACKENDS[:3] + [ADDED])]
    verdicts, acks, rc = replay(binary, work, "floodchg", frames, config(), changes=changes)
    ck.check(rc == 0 and len(verdicts) == len(frames) and len(acks) == 2,
             "flood with changes: exit %d, %d verdicts, acks %s" % (rc, len(verdicts), acks))
    if len(acks) != 2:
        return None
    (e_rm, rx_rm), (e_add, rx_add) = acks
    late = [i for i in range(rx_rm, len(verdicts)) if verdicts[i]["epoch"] < e_rm]
    ck.check(not late, "no packet after the removal's ack decided under an older epoch (%d)" % len(late))
    after_rm = [i for i, v in enumerate(verdicts) if v["epoch"] >= e_rm and v.get("backend") == REMOVED
                and v["verdict"] == "forward"]
    ck.check(not after_rm, "no packet to %s after its removal was acknowledged (%d)" %
             (REMOVED, len(after_rm)))
    flows = established_outcome(kinds, verdicts)
    stats = collections.Counter()
    for k, pk in flows.items():
        first = pk[0][1]
        backends = [b for _, b, _, _ in pk]
        moved_at = [(i, n) for (i, b, n, _), prev in zip(pk[1:], backends) if b != prev]
        ck.check(all(n for _, n in moved_at), "flow %d changes backend only at a re-pick" % k) \
            if moved_at else None
        evicted = any(n for _, _, n, _ in pk[1:])
        if first == REMOVED:
            stats["on_removed"] += 1
            stats["on_removed_moved"] += backends[-1] != REMOVED
        elif backends[-1] != first:
            stats["moved_backend_stayed"] += 1
            stats["moved_to_added"] += backends[-1] == ADDED
        else:
            stats["kept"] += 1
        # Flows of the removed backend are re-picked by the removal itself.
        stats["evicted"] += evicted and first != REMOVED
    ck.check(stats["on_removed"] == stats["on_removed_moved"],
             "every established flow of the removed backend moved (%d of %d)" %
             (stats["on_removed_moved"], stats["on_removed"]))
    ck.check(stats["moved_backend_stayed"] <= stats["evicted"],
             "only evicted flows can move off a backend that stayed (%d moved, %d evicted)" %
             (stats["moved_backend_stayed"], stats["evicted"]))
    return stats


def rate_isolation(binary, work, ck, seed):
    """One flow at 100 kpps against a 1000 pps limit (burst 10); 200 other
    flows at 50 pps each, same VIP and limit, for 0.5 s of pcap time."""
    rnd = random.Random(seed)
    frames, kinds = [], []
    others = [("203.0.113.%d" % (1 + i % 200), 2000 + i) for i in range(200)]
    for k, (src, sport) in enumerate(others):
        frames.append(frame(src, sport, SYN))
        kinds.append(("other", k))
    # 10 us per packet: the flooder sends 9 of every 10 packets (90 kpps);
    # the tenth goes to the next of the 200 others (10 kpps, 50 pps each).
    for i in range(50000):
        if i % 10 == 9:
            k = (i // 10) % 200
            frames.append(frame(others[k][0], others[k][1], ACK))
            kinds.append(("other", k))
        else:
            frames.append(frame("192.0.2.99", 4444, ACK, pad=rnd.randrange(0, 64)))
            kinds.append(("flooder", None))
    verdicts, _, rc = replay(binary, work, "ratelimit", frames, config((1000, 10)), step_ns=10000)
    ck.check(rc == 0 and len(verdicts) == len(frames), "rate flood replay: exit %d" % rc)
    res = collections.Counter()
    for (kind, _), v in zip(kinds, verdicts):
        res[(kind, v["verdict"], v["reason"])] += 1
    other_total = sum(c for (k, _, _), c in res.items() if k == "other")
    other_fwd = res[("other", "forward", None)]
    fl_total = sum(c for (k, _, _), c in res.items() if k == "flooder")
    fl_fwd = res[("flooder", "forward", None)]
    fl_limited = res[("flooder", "drop", "rate_limited")]
    ck.check(other_fwd == other_total, "ordinary flows: %d of %d packets forwarded" % (other_fwd, other_total))
    seconds = len(frames) * 10e-6
    ck.check(fl_fwd <= 1000 * seconds + 10 + 2 and fl_limited == fl_total - fl_fwd,
             "flooder: %d of %d forwarded (limit allows %d), the rest rate_limited" %
             (fl_fwd, fl_total, int(1000 * seconds + 10)))
    return other_fwd, other_total, fl_fwd, fl_total


@pytest.fixture(scope="module")
def ck():
    """The file's counted checks; each test asserts its own (ck.scope())."""
    return Checker("test_flood")


@pytest.fixture(scope="module")
def binary(opts):
    require_root("edgelb-replay (DPDK EAL)")
    return opts.replay


@pytest.mark.parametrize("n_est", [FLOWS // 8, FLOWS // 2], ids=["eighth", "half"])
def test_syn_flood_backends_unchanged(binary, workdir, ck, n_est):
    with ck.scope():
        moved, evicted, _ = syn_flood_unchanged(binary, workdir, ck, n_est, 7)
        fl.figure("SYN flood %d SYNs (8x a %d-flow table) from random sources, %d established "
                  "flows (1/%d of the table), backends unchanged" % (FLOOD, FLOWS, n_est,
                                                                    FLOWS // n_est),
                  "every established flow stayed on its backend; every SYN forwarded",
                  "%d of %d established flows moved; %d evicted (re-inserted mid-stream on the "
                  "same backend by Maglev)" % (moved, n_est, evicted))


def test_syn_flood_while_the_set_changes(binary, workdir, ck):
    with ck.scope():
        st = syn_flood_changes(binary, workdir, ck, FLOWS // 2, 8)
        if st is not None:
            fl.figure("SYN flood as above (%d established), a backend removed at 40%%, one added "
                      "at 70%%" % (FLOWS // 2),
                      "flows of the removed backend moved; others moved only if evicted and "
                      "their Maglev slot changed",
                      "on the removed backend %d (all moved); kept %d; moved though their "
                      "backend stayed %d (%d to the added one); evicted during the flood %d" %
                      (st["on_removed"], st["kept"], st["moved_backend_stayed"],
                       st["moved_to_added"], st["evicted"]))


def test_rate_limit_isolates_the_flooder(binary, workdir, ck):
    with ck.scope():
        o_f, o_t, f_f, f_t = rate_isolation(binary, workdir, ck, 9)
        fl.figure("one flow at 90 kpps against a 1000 pps limit, 200 flows at 50 pps beside it",
                  "no packet of the other flows dropped; the flooder held to its limit",
                  "others %d/%d forwarded; flooder %d/%d forwarded" % (o_f, o_t, f_f, f_t))
