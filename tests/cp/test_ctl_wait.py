# SPDX-License-Identifier: BSD-3-Clause
"""edgelbctl's changes return once the dataplanes acknowledged them, and its
command table.

edgelb-cp with three fake dataplanes (cplib.FakeDataplane: Unix sockets
answering the dataplane protocol from Python, no DPDK): "a" and "b" speak
edgelb-cp's protocol and can delay or hold their config.set answer; "old"
speaks another one and is refused. Times are taken on the fakes' side and
in this process with one clock (time.monotonic). Checks:
  - the command table: every command is in `--help`; unknown commands, a
    wrong number of arguments and a bad --wait-timeout give the usage on
    stderr and exit 2;
  - `backend drain` with "a" answering config.set 1 s late returns after
    "a" answered the config.set carrying the drain, prints the generation
    both fakes then have, and the refused "old" is not waited for;
  - `--no-wait` returns before the fake answered;
  - `--wait-timeout 1` with "a" holding its answer: exit 6 after about 1 s,
    stderr says the change is committed and names "a" (connected), not "b"
    or "old"; "a" is in sync once it answers;
  - `backend drain --wait`: its "draining ..." line comes after the
    acknowledgement;
  - a disconnected dataplane is waited for: exit 6 naming it "not connected".
Run by pytest (--cp, --ctl): one edgelb-cp for the file, the tests in order.
"""
import json
import os
import signal
import subprocess
import time
import types

import pytest

from edgelb_testlib import rpc
from edgelb_testlib.proc import Daemons, wait_for
from cplib import FakeDataplane

VIP = "198.51.100.1:80/tcp"
B1, B2, B3 = "10.77.0.1", "10.77.0.2", "10.77.0.3"
EXIT_USAGE, EXIT_NOT_ACKNOWLEDGED = 2, 6
# Every command edgelbctl(1) documents: the help must list each.
COMMANDS = ["vip list", "vip get", "vip limits", "vip quic", "backend add", "backend remove", "backend drain",
            "backend resume", "backend undrain", "backend weight", "deny add", "deny del",
            "allow add", "allow del", "prefixes list", "prefixes load", "health", "counters",
            "slo", "config",
            "dataplanes", "fleet", "stats", "events", "explain", "node", "node drain",
            "node resume", "call"]
USAGE_ERRORS = [["bogus"], ["vip", "frobnicate"], ["vip", "get"], ["vip", "list", "extra"],
                ["backend", "add", VIP], ["health", "x"], ["node", "resume", "x"], ["call"],
                ["--wait-timeout", "0", "vip", "list"], ["--wait-timeout", "x", "vip", "list"],
                []]


def backend_state(params, address):
    for v in params["config"]["vips"]:
        for b in v.get("backends", []):
            if b["address"] == address:
                return b.get("state", "active")
    return None


class Env:
    """edgelb-cp managing the fakes a, b and old; edgelbctl against it."""

    def __init__(self, opts, work):
        self.opts = opts
        self.cp_sock = os.path.join(work, "cp.sock")
        self.sockets = {n: os.path.join(work, n + ".sock") for n in ("a", "b", "old")}
        self.daemons = Daemons(work)
        self.fakes = {}

    def start(self, work):
        config = os.path.join(work, "cp.json")
        with open(config, "w") as f:
            json.dump({"node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
                       "dataplanes": [{"name": n, "socket": s} for n, s in self.sockets.items()],
                       "vips": [{"address": "198.51.100.1", "port": 80, "protocol": "tcp",
                                 "backends": [{"address": b} for b in (B1, B2, B3)]}]}, f)
        out = subprocess.run([self.opts.cp, "--version"], capture_output=True, text=True)
        speaks = int(out.stdout.split()[-1])
        self.fakes = {"a": FakeDataplane(self.sockets["a"], speaks, "00000000000000a1"),
                      "b": FakeDataplane(self.sockets["b"], speaks, "00000000000000b1"),
                      "old": FakeDataplane(self.sockets["old"], speaks + 1, "00000000000000c1")}
        cp = self.daemons.start("cp", [self.opts.cp, "--config", config, "--socket", self.cp_sock])
        wait_for("edgelb-cp's socket", lambda: "vips" in rpc.call(self.cp_sock, "vip.list"), 10, cp)
        wait_for("a and b in sync", lambda: self.in_sync("a", "b"), 10, cp)
        wait_for("old refused", lambda: self.dataplanes()["old"]["state"] == "refused", 10, cp)

    def stop(self):
        self.daemons.stop_all(signal.SIGTERM)
        for fake in self.fakes.values():
            fake.close()

    def ctl(self, *argv, timeout=30):
        """edgelbctl ARGV: (completed process, seconds it took, monotonic end)."""
        t0 = time.monotonic()
        r = subprocess.run([self.opts.ctl, "--socket", self.cp_sock, *argv],
                           capture_output=True, text=True, timeout=timeout)
        t1 = time.monotonic()
        return r, t1 - t0, t1

    def dataplanes(self):
        return {d["name"]: d for d in rpc.call(self.cp_sock, "dataplanes.get")["dataplanes"]}

    def in_sync(self, *names):
        dps = self.dataplanes()
        return all(dps[n]["in_sync"] for n in names)


@pytest.fixture(scope="module")
def env(opts, workdir):
    e = Env(opts, workdir)
    try:
        e.start(workdir)
        yield e
    finally:
        e.stop()


# --- the command table ---------------------------------------------------

def test_help_lists_every_command_and_the_wait_options(env):
    r, _, _ = env.ctl("--help")
    listed = []
    for l in r.stdout.splitlines():
        # "  backend drain VIP BACKEND ...   help": the words are the
        # lower-case ones before the arguments.
        if not l.startswith("  ") or l[2:3] == " ":
            continue
        words = []
        for w in l[2:].split("  ")[0].split():
            if not (w.isalpha() and w.islower()):
                break
            words.append(w)
        listed.append(" ".join(words))
    assert r.returncode == 0 and r.stdout.startswith("usage: edgelbctl"), \
        f"--help: exit {r.returncode}"
    assert sorted(listed) == sorted(COMMANDS), \
        f"--help lists every command once: missing or extra {sorted(set(COMMANDS) ^ set(listed))}"
    assert "--no-wait" in r.stdout and "--wait-timeout" in r.stdout, "--help: the wait options"


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=[" ".join(a) or "(nothing)" for a in USAGE_ERRORS])
def test_usage_error(env, argv):
    r, _, _ = env.ctl(*argv)
    assert r.returncode == EXIT_USAGE and r.stdout == "" and \
        r.stderr.startswith("usage: edgelbctl"), \
        f"edgelbctl {' '.join(argv) or '(nothing)'}: usage on stderr, exit {r.returncode}"


def test_bad_vip(env):
    r, _, _ = env.ctl("backend", "add", "not-a-vip", B1)
    assert r.returncode == EXIT_USAGE and "a VIP is ADDRESS:PORT/PROTO" in r.stderr, \
        f"a bad VIP: exit {r.returncode}, {r.stderr.strip()!r}"


def test_dataplanes_table(env):
    r, _, _ = env.ctl("dataplanes")
    rows = {l.split()[0]: l.split()[1] for l in r.stdout.splitlines()[1:] if l.split()}
    assert r.returncode == 0 and rows == {"a": "yes", "b": "yes", "old": "refused"}, \
        f"edgelbctl dataplanes: {rows}"


# --- a change waits for the acknowledgements -----------------------------

@pytest.fixture(scope="module")
def late_drain(env):
    """`backend drain` of B1 with a answering config.set 1 s late: the
    command, its time, when it ended, a's config.sets meanwhile and the
    dataplanes afterwards."""
    a, b = env.fakes["a"], env.fakes["b"]
    a.delay = 1.0
    n_a, n_b = len(a.sets), len(b.sets)
    r, took, end = env.ctl("backend", "drain", VIP, B1)
    a.delay = 0.0
    with a.lock:
        sets = a.sets[n_a:]
    generation = int(r.stdout.split()[-1].rstrip(")")) if r.returncode == 0 else -1
    return types.SimpleNamespace(r=r, took=took, end=end, generation=generation,
                                 drained=[s for s in sets if backend_state(s[2], B1) == "draining"],
                                 b_answered=len(b.sets) > n_b, dps=env.dataplanes())


def test_change_prints_its_generation(late_drain):
    r = late_drain.r
    assert r.returncode == 0 and r.stdout == f"ok (generation {late_drain.generation})\n" and \
        r.stderr == "", \
        f"backend drain with a 1 s late: exit {r.returncode}, {r.stdout.strip()!r} " \
        f"{r.stderr.strip()!r}"


def test_change_returns_after_the_late_dataplane_answered(late_drain):
    drained, end, took = late_drain.drained, late_drain.end, late_drain.took
    print(f"it returned {end - drained[0][1] if drained else float('nan'):.3f} s after a "
          f"answered the config.set with {B1} draining ({took:.2f} s in all)")
    assert len(drained) == 1 and drained[0][1] <= end and took >= 0.95, \
        f"it returned after a answered the config.set with {B1} draining " \
        f"(a's: {drained}; returned at {end}, {took:.2f} s in all)"


def test_generation_acknowledged_by_both(late_drain):
    dps, generation = late_drain.dps, late_drain.generation
    assert dps["a"]["pushed_generation"] >= generation and \
        dps["b"]["pushed_generation"] >= generation and late_drain.b_answered, \
        f"generation {generation} acknowledged by a ({dps['a']['pushed_generation']}) and " \
        f"b ({dps['b']['pushed_generation']})"


def test_refused_dataplane_not_waited_for(env, late_drain):
    dps, old = late_drain.dps, env.fakes["old"]
    assert not old.sets and dps["old"]["state"] == "refused" and \
        dps["old"]["pushed_generation"] == 0 and late_drain.took < 2.5, \
        f"the refused dataplane (generation {dps['old']['pushed_generation']}, " \
        f"{len(old.sets)} config.set) was not waited for ({late_drain.took:.2f} s)"


def test_json_output(env, late_drain):
    r, took, _ = env.ctl("--json", "backend", "undrain", VIP, B1)
    body = json.loads(r.stdout) if r.returncode == 0 else {}
    assert r.returncode == 0 and list(body) == ["generation"] and took < 2.5, \
        f"--json backend undrain: exit {r.returncode}, {body} in {took:.2f} s"


def test_no_wait_returns_before_the_answer(env):
    """--no-wait returns at the commit, before the dataplane answered."""
    a = env.fakes["a"]
    wait_for("a in sync", lambda: env.in_sync("a"), 5)
    a.delay = 1.5
    n_a = len(a.sets)
    try:
        r, took, end = env.ctl("--no-wait", "backend", "weight", VIP, B2, "7")
        wait_for("a's answer", lambda: len(a.sets) > n_a, 5)
    finally:
        a.delay = 0.0
    answered = a.sets[n_a][1]
    assert r.returncode == 0 and r.stdout.startswith("ok (generation ") and \
        end < answered and took < 1.0, \
        f"--no-wait: exit {r.returncode} after {took:.2f} s, {answered - end:.2f} s before " \
        "a answered"


def test_wait_timeout_names_the_holding_dataplane(env):
    """A dataplane that does not answer: exit 6 naming it; in sync once it answers."""
    a = env.fakes["a"]
    wait_for("a in sync", lambda: env.in_sync("a", "b"), 5)
    a.hold()
    try:
        r, took, _ = env.ctl("--wait-timeout", "1", "backend", "weight", VIP, B2, "9")
    finally:
        a.release()
    first = r.stderr.splitlines()[0] if r.stderr else ""
    named = [l.split(":")[0].strip() for l in r.stderr.splitlines()[1:]]
    t = wait_for("a in sync after it answered", lambda: env.in_sync("a", "b"), 5)
    print(f"a in sync {t:.2f} s after it answered")
    assert r.returncode == EXIT_NOT_ACKNOWLEDGED and 0.95 <= took < 2.5 and \
        r.stdout.startswith("ok (generation ") and "is committed" in first, \
        f"a holding config.set, --wait-timeout 1: exit {r.returncode} after {took:.2f} s: " \
        f"{first!r}"
    assert named == ["a"] and "  a: connected, has generation " in r.stderr, \
        f"the message names a (connected), not b or old: {r.stderr.splitlines()[1:]}"


def test_drain_wait_prints_after_the_acknowledgement(env):
    """backend drain --wait: the acknowledgement comes before "draining"."""
    a = env.fakes["a"]
    a.delay = 1.0
    n_a = len(a.sets)
    t0 = time.monotonic()
    p = subprocess.Popen([env.opts.ctl, "--socket", env.cp_sock, "backend", "drain", VIP, B3,
                          "--wait", "--timeout", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        t_line = time.monotonic()
        rest, err = p.communicate(timeout=30)
    finally:
        a.delay = 0.0
        if p.poll() is None:
            p.kill()
            p.wait()
    drained = [s for s in a.sets[n_a:] if backend_state(s[2], B3) == "draining"]
    assert line.startswith(f"draining {B3} (generation ") and len(drained) == 1 and \
        drained[0][1] <= t_line and t_line - t0 >= 0.95, \
        f"drain --wait: {line.strip()!r} " \
        f"{t_line - drained[0][1] if drained else -1:.3f} s after a acknowledged the drain"
    # The fakes report no flows, so the drain ends by its timeout: exit 4.
    assert p.returncode == 4 and f"{B3}: drained (timeout) after 2." in rest, \
        f"drain --wait then ended by its --timeout 2: exit {p.returncode}, {rest.strip()!r} " \
        f"{err.strip()!r}"


def test_disconnected_dataplane_is_waited_for(env):
    """A dataplane gone away is waited for (it gets the state when it
    reconnects): exit 6, named "not connected"; --no-wait does not wait."""
    env.fakes["b"].close()
    os.unlink(env.sockets["b"])
    wait_for("b disconnected", lambda: not env.dataplanes()["b"]["connected"], 5)
    r, took, _ = env.ctl("--wait-timeout", "0.5", "backend", "add", VIP, "10.77.0.4")
    assert r.returncode == EXIT_NOT_ACKNOWLEDGED and "  b: not connected," in r.stderr and \
        "  a:" not in r.stderr and 0.45 <= took < 2, \
        f"b gone: exit {r.returncode} after {took:.2f} s: {r.stderr.splitlines()[1:]}"
    r, took, _ = env.ctl("--no-wait", "backend", "remove", VIP, "10.77.0.4")
    assert r.returncode == 0 and took < 1.0, \
        f"--no-wait with b gone: exit {r.returncode} after {took:.2f} s"


def test_cp_exits_cleanly_on_sigterm(env):
    stopped = env.daemons.stop("cp", signal.SIGTERM)
    assert stopped is not None and stopped[0] == 0, f"edgelb-cp on SIGTERM: exit {stopped}"
