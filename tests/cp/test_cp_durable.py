# SPDX-License-Identifier: BSD-3-Clause
"""Changes are durable before they are answered, counted by the writes
that carry them (issue 17's group commit), and edgelb-dp's owners-history
entry costs no write of its own.

edgelb-cp with one fake dataplane (cplib.FakeDataplane, no DPDK). Checks:
  - 60 changes pipelined on one connection, two of them refused in the
    middle (a backend.add of a backend already there, a weight out of
    range): each refused one gets its own error, every other one its
    generation, in request order, generations never going down;
  - edgelb-cp killed with SIGKILL as soon as the last answer arrived, then
    restarted on its config file: every answered change is in the
    config it loaded (each backend has the weight of its last answered
    change), the refused ones are not;
  - changes then a config.get pipelined behind them on one connection:
    answered in order, the read sees every change;
  - restarted, the same 60 again: status.get counts the 58 changes and
    at most 58 config writes (one atomic, fsync'ed write carries one
    change or a group of them), and the dataplane's acknowledged
    generation is that of the last change's answer;
  - with root, the config's directory immutable (chattr +i): each change
    of a pipelined group is answered -32010, a read behind them sees the
    config as it was, and the next change once writable is written.
With root (DPDK EAL), edgelb-dp with --state on net_null: a config.set that
moves the Maglev tables makes "<state>.owners.1" a second link to the
state file it replaces (same inode: no second write, no second fsync),
whose content is the config before the change; a second change shifts it
to owners.2; after kill -9 and a restart both history entries are applied.
Run by pytest (--cp, and --dp for the dataplane part).
"""
import json
import os
import signal
import socket
import subprocess

import pytest

from edgelb_testlib import rpc
from edgelb_testlib.proc import Daemons, wait_for
from edgelb_testlib.pytest_plugin import require_root
from cplib import FakeDataplane

VIP = {"address": "198.51.100.1", "port": 80, "protocol": "tcp"}
BACKENDS = ["10.77.0.%d" % i for i in range(1, 7)]
N_CHANGES = 60
REFUSED = {20: ("backend.add", {"backend": BACKENDS[0]}, -32006),
           41: ("backend.weight", {"backend": BACKENDS[1], "weight": 65536}, -32602)}


def change(i):
    """Request i of the pipelined run: (method, params, expected error or None)."""
    if i in REFUSED:
        method, extra, code = REFUSED[i]
        return method, dict(VIP, **extra), code
    return "backend.weight", dict(VIP, backend=BACKENDS[i % len(BACKENDS)], weight=100 + i), None


class Cp:
    def __init__(self, opts, work):
        self.opts = opts
        self.work = work
        self.sock = os.path.join(work, "cp.sock")
        self.config = os.path.join(work, "cp.json")
        self.daemons = Daemons(work)
        out = subprocess.run([opts.cp, "--version"], capture_output=True, text=True, check=True)
        self.fake = FakeDataplane(os.path.join(work, "dp.sock"), int(out.stdout.split()[-1]))
        with open(self.config, "w") as f:
            json.dump({"node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
                       "dataplanes": [{"name": "dp0", "socket": os.path.join(work, "dp.sock")}],
                       "vips": [dict(VIP, backends=[{"address": b} for b in BACKENDS])]}, f)

    def start(self):
        cp = self.daemons.start("cp", [self.opts.cp, "--config", self.config, "--socket", self.sock])
        wait_for("edgelb-cp's socket", lambda: rpc.answers(self.sock), 10, cp)
        wait_for("dp0 in sync", lambda: rpc.call(self.sock, "dataplanes.get")
                 ["dataplanes"][0]["in_sync"], 10, cp)

    def kill(self):
        self.daemons.stop("cp", signal.SIGKILL)


@pytest.fixture(scope="module")
def cp(opts, workdir):
    env = Cp(opts, workdir)
    try:
        env.start()
        yield env
    finally:
        env.daemons.stop_all()
        env.fake.close()


def weights(config):
    return {b["address"]: b.get("weight", 1)
            for v in config["vips"] for b in v["backends"]}


def test_pipelined_changes_answered_in_order_refused_alone(cp):
    conn = rpc.Connection(cp.sock)
    lines = []
    for i in range(N_CHANGES):
        method, params, _ = change(i)
        lines.append(json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                                 "params": params}).encode() + b"\n")
    conn.send_line(b"".join(lines))
    replies = [json.loads(conn.read_line(timeout=20)) for _ in range(N_CHANGES)]
    # Killed at once: whatever was answered must already be on disk.
    cp.kill()
    conn.close()
    last_generation = 0
    for i, reply in enumerate(replies):
        _, _, code = change(i)
        assert reply["id"] == i
        if code is not None:
            assert reply["error"]["code"] == code, reply
            continue
        assert "error" not in reply, reply
        assert reply["result"]["generation"] >= last_generation
        last_generation = reply["result"]["generation"]


def test_every_answered_change_survives_kill_9(cp):
    expected = weights({"vips": [{"backends": [{"address": b} for b in BACKENDS]}]})
    for i in range(N_CHANGES):
        method, params, code = change(i)
        if code is None:
            expected[params["backend"]] = params["weight"]
    # The file as a restart reads it, then the restarted daemon's own view.
    with open(cp.config) as f:
        assert weights(json.load(f)) == expected
    cp.start()
    assert weights(rpc.call(cp.sock, "config.get")["config"]) == expected
    assert weights(rpc.call(cp.sock, "config.get")["pushed"]) == expected
    assert not any(n.startswith("cp.json.tmp") for n in os.listdir(cp.work))


def test_writes_counted(cp):
    # The counters of the killed process, read before the kill, are gone;
    # the restarted one counts from zero: run a second pipelined batch.
    before = rpc.call(cp.sock, "status.get")
    assert before["config_writes"] == 0 and before["changes"] == 0
    conn = rpc.Connection(cp.sock)
    conn.send_line(b"".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": change(i)[0],
                                        "params": change(i)[1]}).encode() + b"\n"
                            for i in range(N_CHANGES)))
    replies = [json.loads(conn.read_line(timeout=20)) for _ in range(N_CHANGES)]
    conn.close()
    accepted = sum("result" in r for r in replies)
    assert accepted == N_CHANGES - len(REFUSED)
    after = rpc.call(cp.sock, "status.get")
    assert after["changes"] == accepted
    # One atomic write carries one change or a group of them, never none.
    assert 1 <= after["config_writes"] < accepted
    assert after["persist_failures"] == 0
    metrics_writes = after["config_writes"]
    # The acknowledgement names the generation that carries the last change.
    last = max(r["result"]["generation"] for r in replies if "result" in r)
    wait_for("dp0 acknowledged the last change",
             lambda: rpc.call(cp.sock, "dataplanes.get")["dataplanes"][0]
             ["pushed_generation"] >= last, 10)
    assert rpc.call(cp.sock, "dataplanes.get")["dataplanes"][0]["pushed_generation"] == last
    assert metrics_writes == rpc.call(cp.sock, "status.get")["config_writes"]


def pipeline_weights_then_read(sock, first_weight, n):
    """n backend.weight changes (backend i to first_weight + i) and a
    config.get behind them, sent in one write on one connection; the n + 1
    answers, in the order they arrived."""
    conn = rpc.Connection(sock)
    lines = [json.dumps({"jsonrpc": "2.0", "id": i, "method": "backend.weight",
                         "params": dict(VIP, backend=BACKENDS[i], weight=first_weight + i)}).encode()
             for i in range(n)]
    lines.append(json.dumps({"jsonrpc": "2.0", "id": n, "method": "config.get"}).encode())
    conn.send_line(b"\n".join(lines) + b"\n")
    replies = [json.loads(conn.read_line(timeout=20)) for _ in range(n + 1)]
    conn.close()
    return replies


def test_read_after_changes_on_one_connection_sees_them(cp):
    """Changes waiting for their group's write, then a read pipelined
    behind them: answered in order, and the read sees every change."""
    replies = pipeline_weights_then_read(cp.sock, 300, 3)
    assert [r["id"] for r in replies] == [0, 1, 2, 3]
    seen = weights(replies[3]["result"]["config"])
    assert [seen[BACKENDS[i]] for i in range(3)] == [300, 301, 302]
    assert replies[3]["result"]["generation"] == replies[2]["result"]["generation"]


def test_failed_write_refuses_each_change_of_the_group(opts, tmp_path):
    """The config's directory made immutable (no temporary file, no
    rename): every change of the group gets -32010, a read pipelined
    behind them sees none of them, nothing counted as applied; writable
    again, the next change is written."""
    require_root("chattr +i")
    work = str(tmp_path)
    env = Cp(opts, work)
    locked = False
    try:
        env.start()
        before = weights(rpc.call(env.sock, "config.get")["config"])
        if subprocess.run(["chattr", "+i", work], capture_output=True).returncode != 0:
            pytest.skip("no immutable attribute on this filesystem")
        locked = True
        replies = pipeline_weights_then_read(env.sock, 500, 5)
        assert [r["id"] for r in replies] == list(range(6))
        for reply in replies[:5]:
            assert reply["error"]["code"] == -32010, reply
            assert reply["error"]["message"].startswith("not applied: "), reply
        assert weights(replies[5]["result"]["config"]) == before
        status = rpc.call(env.sock, "status.get")
        assert status["changes"] == 0 and status["config_writes"] == 0
        assert status["persist_failures"] >= 1
        subprocess.run(["chattr", "-i", work], check=True)
        locked = False
        assert rpc.call(env.sock, "backend.weight",
                        dict(VIP, backend=BACKENDS[0], weight=600))["generation"] > 0
        with open(env.config) as f:
            assert weights(json.load(f))[BACKENDS[0]] == 600
        assert rpc.call(env.sock, "status.get")["config_writes"] == 1
    finally:
        if locked:
            subprocess.run(["chattr", "-i", work], check=False)
        env.daemons.stop_all()
        env.fake.close()


# ---------------------------------------------------------------------------
# edgelb-dp: the owners-history entry is a link to the replaced state file.

DP_CONFIG = {"node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
             "vips": [dict(VIP, maglev_size=4093,
                           backends=[{"address": b, "weight": 1} for b in BACKENDS])]}


def with_weight(weight):
    config = json.loads(json.dumps(DP_CONFIG))
    config["vips"][0]["backends"][0]["weight"] = weight
    return config


class Dp:
    def __init__(self, opts, work, run):
        self.sock = os.path.join(work, "dp.sock")
        self.state = os.path.join(work, "dp-state.json")
        self.prefix = "elb-durable-%d-%d" % (os.getpid(), run)
        self.daemons = Daemons(work)
        self.proc = self.daemons.start("dp%d" % run, [
            opts.dp, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci",
            "--file-prefix=" + self.prefix, "--log-level=error", "--vdev", "net_null0", "--",
            "--socket", self.sock, "--state", self.state, "--kernel-iface", "none",
            "--flows", "4096"])
        self.conn = rpc.connect_when_ready(self.sock, self.proc, timeout=60, what="edgelb-dp")

    def stop(self, sig):
        self.conn.close()
        self.daemons.stop_all(sig)
        subprocess.run(["rm", "-rf", "/var/run/dpdk/" + self.prefix], check=False)


def dp_config_of(path):
    with open(path) as f:
        return weights(json.load(f))


def test_dp_history_entry_is_a_link_to_the_replaced_state(opts, tmp_path):
    if opts.dp is None:
        pytest.skip("no --dp")
    require_root("DPDK EAL")
    work = str(tmp_path)
    dp = Dp(opts, work, 1)
    try:
        dp.conn.call("config.set", config=with_weight(1))
        first = os.stat(dp.state)
        assert not os.path.exists(dp.state + ".owners.1")
        dp.conn.call("config.set", config=with_weight(5))
        owners1 = os.stat(dp.state + ".owners.1")
        assert (owners1.st_ino, owners1.st_dev) == (first.st_ino, first.st_dev)
        assert owners1.st_nlink == 1  # the state file is a new one
        assert os.stat(dp.state).st_ino != first.st_ino
        assert dp_config_of(dp.state + ".owners.1")[BACKENDS[0]] == 1
        assert dp_config_of(dp.state)[BACKENDS[0]] == 5
        second = os.stat(dp.state)
        dp.conn.call("config.set", config=with_weight(9))
        assert os.stat(dp.state + ".owners.2").st_ino == first.st_ino
        assert os.stat(dp.state + ".owners.1").st_ino == second.st_ino
        assert dp_config_of(dp.state + ".owners.2")[BACKENDS[0]] == 1
        assert dp_config_of(dp.state + ".owners.1")[BACKENDS[0]] == 5
        assert dp_config_of(dp.state)[BACKENDS[0]] == 9
        control = dp.conn.call("status.get")["control"]
        assert control["owner_history_failures"] == 0
        assert control["persist_failures"] == 0
    finally:
        dp.stop(signal.SIGKILL)
    dp = Dp(opts, work, 2)
    try:
        control = dp.conn.call("status.get")["control"]
        assert control["owner_history_applied"] == 2
        assert dp.conn.call("config.get")["config"]["vips"][0]["backends"][0]["weight"] == 9
    finally:
        dp.stop(signal.SIGTERM)
