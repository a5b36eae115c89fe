# SPDX-License-Identifier: BSD-3-Clause
"""Backend changes under traffic, for either dataplane (--dataplane dpdk or
xdp, the same assertions): edgelb-replay replays a clean mix slowly
(--pace-us) with its control socket open, and this script, over that
socket, (a) drains one backend of the TCP v4 VIP, (b) removes another, (c)
adds a new one, each at a chosen point of the replay. The verdict file
(every line carries the configuration epoch it was decided under) then has
to show, independently of the dataplane's code:
  - no packet decided at or after the removal's epoch goes to the removed
    backend; its flows move (new_flow) to an active backend;
  - after the drain, no new flow on the draining backend, while the flows it
    had keep going to it;
  - after the add, the new backend gets new flows;
  - every other packet keeps its flow's backend (connection tracking);
  - no packet lost: one verdict per input packet, forward + reply + kernel
    + drop = input, and nothing but what the input holds is not forwarded
    (fragments, too-big replies; no no_backend);
  - each change answers with an epoch one above the previous one, and the
    epochs appear in the verdicts where the changes were made;
  - counters.get at the end of the replay matches the verdict file for the
    VIP (packets, bytes, new flows, drops, replies, per backend).
This test's configuration has no rate limit: the golden test covers that.
Root only (skipped otherwise). Run by pytest (--replay, --pktgen, --dataplane): the run
is one module fixture; each group of its checks a test.
"""
import collections
import ipaddress
import os
import subprocess
import time

import replaylib as rl
from edgelb_testlib.pcap import read_pcap
from edgelb_testlib.pytest_plugin import group_tests
from edgelb_testlib.rpc import connect_when_ready, outcome

PACKETS = 50000
SEED = 11
PACE_US = 2000  # ~3.5 s for 50k packets, in bursts of up to 32
MTU = 1500

VIP = "10.0.0.10:80/tcp"
VIP_PARAMS = {"address": "10.0.0.10", "port": 80, "protocol": "tcp"}
B_DRAIN, B_REMOVE, B_KEEP, B_ADD = "10.200.0.1", "10.200.0.2", "10.200.0.3", "10.200.0.4"
# When each change is made: fraction of the input processed.
AT_DRAIN, AT_REMOVE, AT_ADD = 0.25, 0.45, 0.65

CONFIG = {
    "node": {"source_v4": rl.NODE_SOURCE_V4, "source_v6": rl.NODE_SOURCE_V6,
             "gateway_mac": rl.GATEWAY_MAC},
    "vips": [
        {"address": "10.0.0.10", "port": 80, "protocol": "tcp", "mtu": MTU,
         "backends": [{"address": B_DRAIN, "weight": 1}, {"address": B_REMOVE, "weight": 1},
                      {"address": B_KEEP, "weight": 2}]},
        {"address": "10.0.0.10", "port": 80, "protocol": "udp", "mtu": MTU,
         "backends": [{"address": "10.200.0.1"}]},
        {"address": "2001:db8::10", "port": 80, "protocol": "tcp", "mtu": MTU,
         "backends": [{"address": "fd00::200:1"}, {"address": "fd00::200:2"}]},
        {"address": "2001:db8::10", "port": 80, "protocol": "udp", "mtu": MTU, "encap": "gue",
         "backends": [{"address": "fd00::200:1"}]},
    ],
}

CHANGES = [
    ("drain", AT_DRAIN, [{"address": B_DRAIN, "weight": 1, "state": "draining"},
                         {"address": B_REMOVE, "weight": 1}, {"address": B_KEEP, "weight": 2}]),
    ("remove", AT_REMOVE, [{"address": B_DRAIN, "weight": 1, "state": "draining"},
                           {"address": B_KEEP, "weight": 2}]),
    ("add", AT_ADD, [{"address": B_DRAIN, "weight": 1, "state": "draining"},
                     {"address": B_KEEP, "weight": 2}, {"address": B_ADD, "weight": 1}]),
]

EXPECTED_NOT_FORWARDED = {  # truth kind -> (verdict, reason); None: the truth's reason
    "fragment": ("drop", "fragment_no_vip"),
    "big": ("reply", "too_big"),
    "malformed": ("drop", None),
    "non_vip": ("kernel", None),
}


def vip_name(t):
    proto = t.get("inner_proto") if t["kind"] == "icmp_error" else t["proto"]
    return "%s/%s" % (t["vip"], proto)


def processed(rpc):
    """Packets the replay has decided so far, from counters.get."""
    res, err = outcome(rpc.request("counters.get"))
    if err:
        raise RuntimeError("counters.get: %s" % err)
    return res["counters"]["rx"]["packets"], res


def drive(args, work, ck, n_packets, config_path, in_pcap):
    """Run the replay and make the changes; returns what the socket said."""
    sock = os.path.join(work, "ctl.sock")
    out = os.path.join(work, "out.pcap")
    verdicts = os.path.join(work, "verdicts.jsonl")
    log_out = open(os.path.join(work, "replay.stdout"), "w")
    log_err = open(os.path.join(work, "replay.stderr"), "w")
    cmd = [args.replay, "--dataplane", args.dataplane, "--config", config_path, "--in", in_pcap,
           "--out", out, "--verdicts", verdicts, "--socket", sock, "--pace-us", str(PACE_US)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log_out, stderr=log_err)
    info = {"changes": [], "final_counters": None, "final_rx": 0}
    try:
        rpc = connect_when_ready(sock, proc, what="edgelb-replay")
        res, err = outcome(rpc.request("ping"))
        ck.tally(err is None and res.get("pong") is True, "rpc.ping", str(err))
        info["epoch0"] = res["epoch"] if res else None
        ck.figure("ping: epoch %s, dataplane %s" % (info["epoch0"], res and res.get("dataplane")))
        ck.tally(res is not None and res.get("dataplane") == args.dataplane, "rpc.dataplane",
                 "ping answered dataplane %s, replay runs %s" % (res and res.get("dataplane"), args.dataplane))
        for name, at, backends in CHANGES:
            while True:
                rx, _ = processed(rpc)
                if rx >= at * n_packets:
                    break
                time.sleep(0.005)
            params = dict(VIP_PARAMS, backends=backends)
            res, err = outcome(rpc.request("backends.set", params))
            rx_after, _ = processed(rpc)
            ck.tally(err is None, "rpc.%s" % name, "backends.set: %s" % err)
            info["changes"].append({"name": name, "rx_before": rx, "rx_after": rx_after,
                                    "result": res, "error": err})
            ck.figure("%-6s at %5d packets (%.0f%%): %s" % (name, rx, 100.0 * rx / n_packets, res or err))
        res, err = outcome(rpc.request("config.get"))
        info["config"] = res
        res, err = outcome(rpc.request("status.get"))
        info["status"] = res
        # Poll counters until the replay closes its socket: the last answer
        # is the state after the last packets but a few bursts.
        while True:
            try:
                rx, res = processed(rpc)
            except (ConnectionError, OSError, ValueError):
                break
            info["final_rx"], info["final_counters"] = rx, res
            if rx >= n_packets:
                break
            time.sleep(0.001)
        rpc.close()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log_out.close()
        log_err.close()
    info["seconds"] = time.monotonic() - t0
    info["returncode"] = proc.returncode
    with open(os.path.join(work, "replay.stderr")) as f:
        info["stderr"] = f.read()
    return out, verdicts, info


def run(args, work, ck):
    in_pcap = os.path.join(work, "in.pcap")
    truth_path = os.path.join(work, "truth.jsonl")
    config_path = os.path.join(work, "config.json")
    rl.run_pktgen(args.pktgen, in_pcap, truth_path, PACKETS, SEED, ["--mix", "clean"])
    rl.write_config(config_path, CONFIG)
    frames = read_pcap(in_pcap)
    truth = rl.read_jsonl(truth_path)
    n = len(frames)

    print("== %s replay with changes (--pace-us %d)" % (args.dataplane, PACE_US))
    out_path, verdicts_path, info = drive(args, work, ck, n, config_path, in_pcap)
    print("edgelb-replay: exit %d after %.2f s" % (info["returncode"], info["seconds"]))
    ck.tally(info["returncode"] == 0, "replay.exit", info["stderr"])
    verdicts = rl.read_jsonl(verdicts_path)
    out_frames = read_pcap(out_path)

    # ---- JSON-RPC answers
    print("== control answers")
    epoch = info.get("epoch0")
    ck.tally(epoch == 1, "rpc.initial_epoch", "ping said epoch %s" % epoch)
    epochs = {}
    for ch in info["changes"]:
        res = ch["result"] or {}
        ck.tally(res.get("changed") is True, "rpc.changed", "%s: %s" % (ch["name"], res))
        ck.tally(epoch is not None and res.get("epoch") == epoch + 1, "rpc.epoch_step",
                 "%s: epoch %s after %s" % (ch["name"], res.get("epoch"), epoch))
        epoch = res.get("epoch")
        epochs[ch["name"]] = epoch
    e_drain, e_remove, e_add = epochs.get("drain"), epochs.get("remove"), epochs.get("add")
    ck.figure("epochs: drain %s, remove %s, add %s" % (e_drain, e_remove, e_add))
    cfg = (info.get("config") or {}).get("config", {})
    vip_cfg = [v for v in cfg.get("vips", []) if v["address"] == "10.0.0.10" and v["protocol"] == "tcp"]
    states = {b["address"]: b["state"] for b in (vip_cfg[0]["backends"] if vip_cfg else [])}
    ck.figure("config.get backends of %s: %s" % (VIP, states))
    ck.tally(states == {B_DRAIN: "draining", B_KEEP: "active", B_ADD: "active"}, "rpc.config",
             str(states))
    snap_epoch = ((info.get("status") or {}).get("status") or {}).get("snapshot_epoch")
    ck.tally(snap_epoch == e_add, "rpc.status_epoch", "status.get snapshot_epoch %s" % snap_epoch)

    # ---- nothing lost
    print("== counts")
    ck.tally(len(truth) == n, "truth.count", "%d truth lines, %d frames" % (len(truth), n))
    ck.tally(len(verdicts) == n, "verdicts.count", "%d verdicts for %d packets" % (len(verdicts), n))
    for i, v in enumerate(verdicts):
        ck.tally(v.get("i") == i, "verdicts.order", "line %d has i=%r" % (i, v.get("i")))
    n = min(n, len(truth), len(verdicts))
    counts = collections.Counter(v["verdict"] for v in verdicts)
    ck.figure("input %d, verdicts %s, sum %d" % (len(frames), dict(sorted(counts.items())), sum(counts.values())))
    ck.tally(sum(counts[k] for k in ("forward", "reply", "kernel", "drop")) == len(frames),
             "verdicts.sum", str(counts))
    summary = rl.parse_summary(info["stderr"])
    ck.tally(summary is not None and summary["packets"] == len(frames) and all(
        summary[k] == counts.get(k, 0) for k in ("forward", "reply", "kernel", "drop")),
        "summary.match", "summary %s, verdicts %s" % (summary, dict(counts)))
    ck.tally(len(out_frames) == counts["forward"] + counts["reply"], "out.count",
             "%d output frames for %d forwarded + %d replies" %
             (len(out_frames), counts["forward"], counts["reply"]))

    # ---- epochs in the verdicts
    seen = collections.Counter(v["epoch"] for v in verdicts[:n])
    ck.figure("packets per epoch: %s" % dict(sorted(seen.items())))
    ck.tally(all(verdicts[i]["epoch"] <= verdicts[i + 1]["epoch"] for i in range(n - 1)),
             "epoch.monotonic", "epochs go backwards")
    for ch in info["changes"]:
        e = (ch["result"] or {}).get("epoch")
        first = next((i for i in range(n) if verdicts[i]["epoch"] >= (e or 1 << 62)), None)
        ck.tally(first is not None and ch["rx_before"] <= first <= ch["rx_after"], "epoch.where",
                 "%s: epoch %s first seen at packet %s, change made between packets %d and %d" %
                 (ch["name"], e, first, ch["rx_before"], ch["rx_after"]))
        ck.figure("%-6s epoch %s from packet %s (socket saw %d..%d processed)" %
                  (ch["name"], e, first, ch["rx_before"], ch["rx_after"]))

    # ---- only what the input holds is not forwarded
    print("== not forwarded")
    nf = collections.Counter()
    for i in range(n):
        t, v = truth[i], verdicts[i]
        exp = EXPECTED_NOT_FORWARDED.get(t["kind"])
        if exp is None:
            want = ("forward", None)
        else:
            want = (exp[0], exp[1] if exp[1] is not None else t.get("reason"))
        ck.tally((v["verdict"], v["reason"]) == want, "verdict.%s" % t["kind"],
                 "packet %d (%s, flow %s, epoch %d): %s/%s, expected %s/%s" %
                 (i, t["kind"], t.get("flow"), v["epoch"], v["verdict"], v["reason"], want[0], want[1]))
        if v["verdict"] != "forward":
            nf[(t["kind"], v["verdict"], v["reason"])] += 1
        ck.tally(v["reason"] != "no_backend", "no_backend", "packet %d" % i)
    for k, c in sorted(nf.items(), key=str):
        ck.figure("%-10s %-7s %-16s %d" % (k + (c,)))

    # ---- output frames go where the verdicts say
    oi = 0
    for i in range(n):
        v = verdicts[i]
        if v["verdict"] not in ("forward", "reply"):
            continue
        if oi >= len(out_frames):
            break
        fr = out_frames[oi][1]
        oi += 1
        if v["verdict"] == "forward":
            b = ipaddress.ip_address(v["backend"])
            dst = fr[30:34] if b.version == 4 else fr[38:54]
            ck.tally(dst == b.packed and len(fr) == v["out_len"], "out.backend",
                     "packet %d: frame to %s, %d bytes; verdict %s, %d" %
                     (i, rl.addr_str(b.version, dst), len(fr), v["backend"], v["out_len"]))

    # ---- the changes, flow by flow
    print("== drain, removal, addition on %s" % VIP)
    flow_backend = {}  # truth flow -> backend of its last forwarded client packet (None: unknown)
    before_drain_on_drain = set()
    stats = collections.Counter()
    new_after_add = collections.Counter()
    for i in range(n):
        t, v = truth[i], verdicts[i]
        if v["vip"] != VIP or t["kind"] not in ("flow", "big", "rate_flood", "icmp_error"):
            continue
        fl, e, b = t["flow"], v["epoch"], v["backend"]
        fwd = v["verdict"] == "forward"
        where = "packet %d (%s, flow %s, epoch %d)" % (i, t["kind"], fl, e)
        if fwd and e >= e_remove:
            ck.tally(b != B_REMOVE, "remove.forwarded", "%s went to the removed %s" % (where, b))
        if fwd and e < e_add:
            ck.tally(b != B_ADD, "add.early", "%s went to %s before it was added" % (where, b))
        if v["new_flow"] and fwd and e >= e_drain:
            stats["new_after_drain"] += 1
            ck.tally(b != B_DRAIN, "drain.new_flow", "%s: a new flow on the draining %s" % (where, b))
        if v["new_flow"] and fwd and e >= e_add:
            new_after_add[b] += 1
        prev = flow_backend.get(fl, "none")
        if t["kind"] == "icmp_error":
            # An ICMP error follows its flow's entry while its backend is valid.
            if prev not in ("none", None) and fwd and not (prev == B_REMOVE and e >= e_remove):
                ck.tally(b == prev, "icmp.follows_flow", "%s: to %s, its flow is on %s" % (where, b, prev))
                stats["icmp_checked"] += 1
            continue
        if e < e_drain and fwd and b == B_DRAIN:
            before_drain_on_drain.add(fl)
        if not v["new_flow"] and prev not in ("none", None) and fwd:
            if prev == B_REMOVE and e >= e_remove:
                ck.tally(False, "remove.not_repicked",
                         "%s: first packet after the removal of %s not marked new_flow (to %s)" % (where, prev, b))
            else:
                ck.tally(b == prev, "sticky", "%s: to %s, the flow was on %s" % (where, b, prev))
                stats["sticky_checked"] += 1
                if fl in before_drain_on_drain and e >= e_drain:
                    stats["drained_flow_packets_after"] += 1
        if v["new_flow"] and prev == B_REMOVE and e >= e_remove:
            stats["repicked_from_removed"] += 1
            if fwd:
                ck.tally(b in (B_KEEP, B_ADD), "remove.repick_target", "%s: re-picked onto %s" % (where, b))
        if v["new_flow"] and prev == B_DRAIN and e >= e_drain:
            stats["drained_flows_reopened"] += 1
        if fwd:
            flow_backend[fl] = b
        elif v["new_flow"]:
            flow_backend[fl] = None  # picked, but the verdict does not say where
    still = {fl for fl in before_drain_on_drain if flow_backend.get(fl) == B_DRAIN}
    ck.figure("flows on %s before the drain: %d; their packets after the drain, still there: %d; "
              "flows on it at the end: %d; reopened elsewhere: %d" %
              (B_DRAIN, len(before_drain_on_drain), stats["drained_flow_packets_after"], len(still),
               stats["drained_flows_reopened"]))
    ck.tally(stats["drained_flow_packets_after"] > 0, "drain.existing_kept",
             "no packet of a pre-drain flow reached %s after the drain: nothing was tested" % B_DRAIN)
    ck.figure("new flows after the drain: %d; flows re-picked off the removed %s: %d" %
              (stats["new_after_drain"], B_REMOVE, stats["repicked_from_removed"]))
    ck.tally(stats["repicked_from_removed"] > 0, "remove.exercised", "no flow of %s came back" % B_REMOVE)
    ck.figure("packets checked for stickiness: %d, ICMP errors checked: %d" %
              (stats["sticky_checked"], stats["icmp_checked"]))
    total_add = sum(new_after_add.values())
    share = new_after_add[B_ADD] / total_add if total_add else 0.0
    ck.figure("new flows after the add: %s; share of %s %.3f (weights give 1/3)" %
              (dict(new_after_add), B_ADD, share))
    ck.tally(new_after_add[B_ADD] > 0, "add.receives", "%s got no new flow" % B_ADD)
    ck.tally(set(new_after_add) <= {B_KEEP, B_ADD}, "add.targets", str(dict(new_after_add)))
    if total_add >= 100:
        ck.tally(0.15 <= share <= 0.55, "add.share", "share %.3f of %d" % (share, total_add))

    # ---- counters.get against the verdict file
    print("== counters.get at the end vs the verdict file")
    final = info["final_counters"]
    m = info["final_rx"]
    ck.tally(final is not None, "counters.final", "no counters.get answer")
    ck.figure("last counters.get saw %d of %d packets" % (m, n))
    ck.tally(m >= 0.9 * n, "counters.late_enough", "last answer at %d packets" % m)
    if final is not None:
        cv = [x for x in final["counters"]["vips"] if x["vip"] == VIP]
        ck.tally(len(cv) == 1, "counters.vip", "no counters for %s" % VIP)
        cv = cv[0] if cv else {}
        mine = {"rx": 0, "rx_bytes": 0, "fwd": 0, "fwd_bytes": 0, "new": 0, "replies": 0}
        drops = collections.Counter()
        per_b = collections.defaultdict(collections.Counter)
        unknown_new = 0
        for i in range(m):
            v = verdicts[i]
            if v["vip"] != VIP:
                continue
            f = rl.parse_frame(frames[i][1])
            mine["rx"] += 1
            mine["rx_bytes"] += len(f.l3)
            mine["new"] += bool(v["new_flow"])
            if v["verdict"] == "forward":
                mine["fwd"] += 1
                mine["fwd_bytes"] += v["out_len"]
                per_b[v["backend"]]["packets"] += 1
                per_b[v["backend"]]["bytes"] += v["out_len"]
                per_b[v["backend"]]["new"] += bool(v["new_flow"])
            else:
                unknown_new += bool(v["new_flow"])
                if v["verdict"] == "reply":
                    mine["replies"] += 1
                drops[v["reason"]] += 1
        theirs = {"rx": cv.get("rx", {}).get("packets"), "rx_bytes": cv.get("rx", {}).get("bytes"),
                  "fwd": cv.get("forwarded", {}).get("packets"),
                  "fwd_bytes": cv.get("forwarded", {}).get("bytes"),
                  "new": cv.get("new_flows"), "replies": cv.get("too_big_replies")}
        for k in mine:
            ck.figure("%-10s verdicts %8d  counters %s" % (k, mine[k], theirs[k]))
            ck.tally(mine[k] == theirs[k], "counters.%s" % k, "verdicts %d, counters %s" % (mine[k], theirs[k]))
        their_drops = {r: c for r, c in cv.get("drops", {}).items() if c}
        ck.figure("drops: verdicts %s, counters %s" % (dict(drops), their_drops))
        ck.tally(dict(drops) == their_drops, "counters.drops", "%s vs %s" % (dict(drops), their_drops))
        listed = {b["address"]: b for b in cv.get("backends", [])}
        ck.tally(set(listed) == {B_DRAIN, B_KEEP, B_ADD}, "counters.backends", str(sorted(listed)))
        ck.tally(listed.get(B_DRAIN, {}).get("state") == "draining", "counters.drain_state",
                 str(listed.get(B_DRAIN)))
        slack = 0
        for addr, b in sorted(listed.items()):
            mb = per_b[addr]
            ck.figure("backend %-11s %-8s forwarded %6d/%8d bytes (verdicts %6d/%8d), new flows %d (verdicts %d)" %
                      (addr, b["state"], b["forwarded"]["packets"], b["forwarded"]["bytes"],
                       mb["packets"], mb["bytes"], b["new_flows"], mb["new"]))
            ck.tally(b["forwarded"]["packets"] == mb["packets"] and b["forwarded"]["bytes"] == mb["bytes"],
                     "counters.backend_forwarded", addr)
            # A new flow whose first packet was answered (too big) is counted
            # on its backend but its verdict names none.
            ck.tally(mb["new"] <= b["new_flows"] <= mb["new"] + unknown_new, "counters.backend_new",
                     "%s: %d, verdicts %d (+%d unnamed)" % (addr, b["new_flows"], mb["new"], unknown_new))
            slack += b["new_flows"] - mb["new"]
            gone = per_b.get(B_REMOVE)
            if gone and b["forwarded"]["packets"] == mb["packets"] + gone["packets"]:
                ck.tally(False, "counters.inherited",
                         "%s's counters hold its own traffic plus that of the removed %s "
                         "(%d packets, %d new flows): the backend slot was reused without "
                         "resetting its counters" % (addr, B_REMOVE, gone["packets"], gone["new"]))
        ck.tally(slack <= unknown_new, "counters.backend_new_sum", "%d > %d" % (slack, unknown_new))


ck = rl.tallied_run(run, "test_replay_changes")


# Each check's kind starts with its group.
GROUPS = {
    'rpc': 'the socket: ping, each backends.set (changed, one epoch up), config.get, status.get',
    'truth': 'one truth line per frame',
    'verdicts': 'one verdict per packet, in order, summed',
    'verdict': 'each kind of packet decided as it must be',
    'epoch': 'epochs only grow, where the changes were made',
    'drain': 'a draining backend keeps its flows and gets no new ones',
    'remove': "a removed backend's flows re-picked, onto the others",
    'add': 'an added backend gets new flows only, its share by weight',
    'sticky': 'a flow keeps its backend otherwise',
    'icmp': 'ICMP errors follow their flow',
    'no_backend': 'no packet without a backend',
    'out': 'the output frames',
    'counters': 'counters.get against the verdicts',
    'summary': "the replay's summary line",
    'replay': 'edgelb-replay exits 0',
}

test_checks, test_no_check_outside_the_groups_failed = group_tests(GROUPS)
