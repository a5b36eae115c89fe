# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-dp keeps each Maglev slot's previous owner across a kill -9 and
restart on its state file (second chance's restart state,
docs/second-chance.md).

edgelb-dp runs on a net_pcap port with nothing to read (no hugepages, no
TAP), with --state. Its VIP (GUE, second_chance) starts with 3 backends.
For 240 client 5-tuples, flow.explain of a mid-connection packet (a TCP
ACK: the dataplane has no entry for it, so its backend is not sure) says
which backend Maglev gives it. Checks:
  - before any change no slot has a previous owner: no alternate;
  - a backend is added: a tuple whose slot moved to another backend names
    its old backend as `alternate` (and `maglev.previous`), the others
    none; the history file <state>.owners.1 is written;
  - a second backend is added: slots moved again name the owner under the
    second configuration, slots moved only by the first keep the first
    owner (the chain);
  - kill -9 and a restart on the same state file: status.get says the two
    history configurations were applied, the epoch is 1, and every tuple's
    previous owner and alternate are exactly those before the kill;
  - negative control: kill -9, the history files removed, restart: the
    state file alone gives no previous owners, so no alternate anywhere.
Root only (skipped otherwise). Run by pytest (--dp).
"""
import json
import os
import signal
import subprocess

import pytest

from edgelb_testlib import rpc
from edgelb_testlib.pcap import write_pcap
from edgelb_testlib.proc import stop_and_collect
from edgelb_testlib.pytest_plugin import require_root

VIP = {"address": "10.0.0.10", "port": 80, "protocol": "tcp"}
BACKENDS = [{"address": "10.200.0.%d" % i} for i in (1, 2, 3)]
ADDED_1, ADDED_2 = "10.200.0.4", "10.200.0.5"
CONFIG = {
    "node": {"source_v4": "192.168.10.1", "gateway_mac": "02:00:00:00:00:fe"},
    "vips": [dict(VIP, encap="gue", second_chance=True, maglev_size=4093, backends=BACKENDS)],
}
TUPLES = [("198.51.100.%d" % (1 + i % 240), 40000 + i) for i in range(240)]


class Dataplane:
    """edgelb-dp on the work directory's state file; kill() is kill -9."""

    def __init__(self, opts, work, run):
        self.sock = os.path.join(work, "dp.sock")
        self.prefix = "elb-owners-%d-%d" % (os.getpid(), run)
        cmd = [opts.dp, "--lcores", opts.lcores or "0-1", "--no-huge", "-m", "256", "--no-pci",
               "--file-prefix=" + self.prefix, "--log-level=error",
               "--vdev", "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (
                   os.path.join(work, "empty.pcap"), os.path.join(work, "out-%d.pcap" % run)),
               "--", "--config", os.path.join(work, "config.json"),
               "--state", os.path.join(work, "state.json"), "--socket", self.sock,
               "--flows", "4096", "--kernel-iface", "none"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.conn = rpc.connect_when_ready(self.sock, self.proc, timeout=60, what="edgelb-dp")

    def kill(self):
        self.conn.close()
        self.proc.send_signal(signal.SIGKILL)
        output, _ = stop_and_collect(self.proc)
        return output

    def close(self):
        self.conn.close()
        if self.proc.poll() is None:
            stop_and_collect(self.proc)
        # kill -9 leaves the EAL's runtime files behind.
        subprocess.run(["rm", "-rf", "/var/run/dpdk/" + self.prefix], check=False)


def explain_all(conn):
    """{tuple: (maglev pick, maglev.previous, alternate, midstream)} of a
    TCP ACK of each tuple."""
    out = {}
    for src, sport in TUPLES:
        r = conn.call("flow.explain", dict(src=src, dst=VIP["address"], sport=sport, dport=80,
                                           protocol="tcp", tcp_flags="A"))
        assert r["verdict"] == "forward" and r["consistent"], f"{src}:{sport}: {r}"
        out[(src, sport)] = (r["maglev"]["backend"], r["maglev"]["previous"], r["alternate"],
                             r["midstream"])
    return out


@pytest.fixture(scope="module")
def drill(opts, workdir):
    """The whole drill: {phase: explanations or status}."""
    require_root("DPDK EAL")
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump(CONFIG, f)
    write_pcap(os.path.join(workdir, "empty.pcap"), [])
    state = os.path.join(workdir, "state.json")
    seen = {}
    dps = []
    try:
        dp = Dataplane(opts, workdir, 0)
        dps.append(dp)
        seen["start"] = explain_all(dp.conn)
        for name, added in (("change1", [ADDED_1]), ("change2", [ADDED_1, ADDED_2])):
            r = dp.conn.call("backends.set", dict(VIP, backends=BACKENDS + [
                {"address": a} for a in added]))
            assert r["changed"], f"{name} applied"
            seen[name] = explain_all(dp.conn)
        seen["history_files"] = sorted(f for f in os.listdir(workdir) if ".owners." in f)
        seen["killed_output"] = dp.kill()

        dp = Dataplane(opts, workdir, 1)
        dps.append(dp)
        seen["restart_status"] = dp.conn.call("status.get")
        seen["restart"] = explain_all(dp.conn)
        dp.kill()

        for f in seen["history_files"]:
            os.unlink(os.path.join(workdir, f))
        dp = Dataplane(opts, workdir, 2)
        dps.append(dp)
        seen["bare_status"] = dp.conn.call("status.get")
        seen["bare"] = explain_all(dp.conn)
        assert os.path.exists(state)
    finally:
        for dp in dps:
            dp.close()
    return seen


def test_no_previous_owner_before_any_change(drill):
    bad = [t for t, (_pick, prev, alt, mid) in drill["start"].items()
           if prev is not None or alt is not None or mid is not True]
    assert not bad, f"{len(bad)} tuples with a previous owner before any change: {bad[:3]}"


def test_first_change_names_the_old_owner(drill):
    moved = 0
    for t, (pick, prev, alt, _mid) in drill["change1"].items():
        old = drill["start"][t][0]
        want = old if pick != old else None
        moved += want is not None
        assert (prev, alt) == (want, want), f"{t}: previous {prev}, alternate {alt}, expected {want}"
    # One backend of four is new: about a quarter of the slots moved to it.
    assert len(TUPLES) // 8 < moved < len(TUPLES) // 2, f"{moved} of {len(TUPLES)} tuples moved"


def test_second_change_keeps_the_chain(drill):
    chained = 0
    for t, (pick, prev, alt, _mid) in drill["change2"].items():
        before = drill["change1"][t]
        if pick != before[0]:
            want = before[0]  # moved again: the owner under the first change
        else:
            want = before[1] if before[1] != pick else None  # unmoved: kept
            chained += want is not None
        assert (prev, alt) == (want, want), f"{t}: previous {prev}, alternate {alt}, expected {want}"
    assert chained > 0, "some slot moved by the first change only keeps its previous owner"


def test_history_files_written(drill):
    assert drill["history_files"] == ["state.json.owners.1", "state.json.owners.2"], \
        f"history files {drill['history_files']}"


def test_restart_applies_the_history(drill):
    control = drill["restart_status"]["control"]
    assert control["owner_history_applied"] == 2 and control["owner_history_failures"] == 0, \
        f"status.get control {control}"
    assert drill["restart_status"]["epoch"] == 1, f"epoch {drill['restart_status']['epoch']}"


def test_restart_keeps_previous_owners(drill):
    diff = [(t, drill["change2"][t], drill["restart"][t]) for t in drill["change2"]
            if drill["restart"][t] != drill["change2"][t]]
    assert not diff, f"{len(diff)} tuples explained differently after the restart: {diff[:3]}"
    assert sum(1 for v in drill["restart"].values() if v[2] is not None) > len(TUPLES) // 8


def test_without_history_no_alternate(drill):
    control = drill["bare_status"]["control"]
    assert control["owner_history_applied"] == 0, f"status.get control {control}"
    picks = {t: v[0] for t, v in drill["change2"].items()}
    assert {t: v[0] for t, v in drill["bare"].items()} == picks, "same table without history"
    bad = [t for t, (_pick, prev, alt, _mid) in drill["bare"].items()
           if prev is not None or alt is not None]
    assert not bad, f"{len(bad)} tuples with an alternate from the state file alone: {bad[:3]}"
