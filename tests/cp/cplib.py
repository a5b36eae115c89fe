# SPDX-License-Identifier: BSD-3-Clause
"""What the control-plane integration tests share beyond edgelb_testlib: a
harness of named processes with counted checks, the module fixture that
runs one in a network namespace of the test's own, the test that edgelb-cp
exits cleanly, a fake dataplane, a real edgelb-dp on net_null, and the rig
of the feature tests (edgelb-cp between the fake and, as root, the real
edgelb-dp)."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from edgelb_testlib import netns, rpc
from edgelb_testlib.checks import Checker
from edgelb_testlib.proc import Daemons, sanitizer_reports, wait_for
from edgelb_testlib.pytest_plugin import require_root


class Harness:
    """Named processes logging to WORK/NAME.log, and counted checks; the
    options (args) and edgelb-cp's socket and configuration file paths."""

    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.cp_sock = os.path.join(work, "cp.sock")
        self.config = os.path.join(work, "cp.json")
        self.daemons = Daemons(work)
        self.procs = self.daemons.procs
        self.checker = Checker()

    @property
    def failures(self):
        return self.checker.failed

    def check(self, cond, text):
        return self.checker.check(cond, text)

    def start(self, name, argv, **kw):
        self.daemons.start(name, argv, **kw)

    def stop(self, name, sig=signal.SIGTERM):
        stopped = self.daemons.stop(name, sig)
        if stopped is None:
            return
        p = stopped[1]
        if name == "cp" and sig == signal.SIGTERM:
            # A clean exit on SIGTERM, and nothing from the sanitizers (an
            # ASan build reports leaks and errors there).
            bad = sanitizer_reports(self.daemons.log("cp"))
            self.check(p.returncode == 0 and not bad,
                       f"edgelb-cp exited with {p.returncode}" + (f": {bad[0]}" if bad else ""))

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name, signal.SIGKILL if name.startswith("http") else signal.SIGTERM)


def env_fixture(env_class, setup_netns=None):
    """The module fixture `env` of a test file: env_class(opts, workdir)
    set up (setup()), teardown() at the end. With setup_netns, in a network
    namespace of the test's own, where setup_netns() has added addresses and
    links. Assign it in the module: env = env_fixture(Env, setup_netns)."""
    @pytest.fixture(scope="module")
    def env(opts, workdir):
        if setup_netns is not None:
            require_root("DPDK EAL, a network namespace")
            # Before any thread starts: unshare(2) wants a single-threaded process.
            netns.enter_private_net_namespace()
            setup_netns()
        e = env_class(opts, workdir)
        try:
            e.setup()
            yield e
        finally:
            e.teardown()
    return env


def cp_exits_cleanly(env):
    """edgelb-cp exits 0 on SIGTERM, nothing from the sanitizers. Assign it
    last in a test file (pytest runs tests in the module's order):
    test_cp_exits_cleanly = cp_exits_cleanly."""
    with env.checker.scope():
        env.stop("cp")


class FakeDataplane:
    """A dataplane from Python on a Unix socket: answers ping with
    `protocol` (None: leaves the member out) and `instance`, config.set
    (the epoch one higher each time) after `delay` seconds, or not before
    release() while held, prefixes.set (refused with `prefixes_refusal`
    when set), and counters.get and vip.tables empty; anything else is
    "method not found". Records every method called (called()) and each
    config.set and prefixes.set (sets, prefix_sets): (time received, time
    answered, its params), on time.monotonic's clock."""

    def __init__(self, path, protocol, instance="00000000000000f1"):
        self.protocol = protocol
        self.instance = instance
        self.delay = 0.0
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()
        self.methods = []
        self.sets = []
        self.prefix_sets = []
        self.prefixes_refusal = None
        self.conns = []
        self.epoch = 1
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        threading.Thread(target=self.accept, daemon=True).start()

    def called(self, method):
        with self.lock:
            return self.methods.count(method)

    def hold(self):
        """config.set answers wait until release()."""
        self.gate.clear()

    def release(self):
        self.gate.set()

    def accept(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def answer(self, req):
        method = req.get("method")
        with self.lock:
            self.methods.append(method)
        if method == "ping":
            r = {"pong": True, "epoch": self.epoch, "dataplane": "fake",
                 "instance": self.instance, "version": "fake-9.9"}
            if self.protocol is not None:
                r["protocol"] = self.protocol
            return {"result": r}
        if method == "config.set":
            received = time.monotonic()
            time.sleep(self.delay)
            self.gate.wait()
            with self.lock:
                self.epoch += 1
                self.sets.append((received, time.monotonic(), req.get("params")))
            return {"result": {"epoch": self.epoch, "changed": True}}
        if method == "prefixes.set":
            received = time.monotonic()
            params = req.get("params")
            with self.lock:
                refusal = self.prefixes_refusal
                if refusal is None:
                    self.prefix_sets.append((received, time.monotonic(), params))
            if refusal is not None:
                return {"error": {"code": -32002, "message": refusal}}
            lists = [params["prefixes"].get("node", {})] + params["prefixes"].get("vips", [])
            rules = sum(len(s.get("allow", [])) + len(s.get("deny", [])) for s in lists)
            return {"result": {"generation": params["prefixes"].get("generation", 0),
                               "rules": rules}}
        if method == "counters.get":
            return {"result": {"epoch": self.epoch, "counters": {"vips": []}}}
        if method == "vip.tables":
            return {"result": {"epoch": self.epoch, "vips": []}}
        return {"error": {"code": -32601, "message": "method not found"}}

    def serve(self, conn):
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(1 << 20)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req = json.loads(line)
                    reply = {"jsonrpc": "2.0", "id": req.get("id")}
                    reply.update(self.answer(req))
                    try:
                        conn.sendall((json.dumps(reply) + "\n").encode())
                    except OSError:
                        return

    def close(self):
        """Gone, as a killed dataplane: no more connections taken, those
        open shut down."""
        self.release()
        self.srv.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def start_null_dataplane(daemons, dp, sock, state, file_prefix, name="dp"):
    """A real edgelb-dp (binary dp) on net_null, no NIC nor hugepages, its
    socket sock and state file state, started under daemons as name;
    returns once it answers."""
    proc = daemons.start(name, [
        dp, "-l", "0-1", "--no-huge", "-m", "256", "--no-pci",
        "--file-prefix=" + file_prefix, "--log-level=error", "--vdev", "net_null0",
        "--", "--socket", sock, "--state", state, "--kernel-iface", "none", "--flows", "4096"])
    rpc.connect_when_ready(sock, proc, timeout=60, what="edgelb-dp").close()


def stop_cp_cleanly(daemons, name="cp"):
    """SIGTERM edgelb-cp: it exits 0, nothing from the sanitizers."""
    stopped = daemons.stop(name, signal.SIGTERM)
    assert stopped is not None
    status, _ = stopped
    bad = sanitizer_reports(daemons.log(name))
    assert status == 0 and not bad, f"edgelb-cp exited with {status}: {bad[:1]}"


class CpRig:
    """edgelb-cp (opts.cp, opts.ctl) managing a FakeDataplane and, as root
    with --dp, a real edgelb-dp on net_null ("fake" and "dp"), all in work:
    the rig of the feature tests (test_cp_admission, _prefixes, _quic). A
    test's rig starts it with start(config), config from base_config; its
    module fixture is env_fixture(Env), without a namespace of its own."""

    def __init__(self, opts, work, tag, cp_args=()):
        self.opts = opts
        self.work = work
        self.cp_sock = os.path.join(work, "cp.sock")
        self.config = os.path.join(work, "cp.json")
        self.fake_sock = os.path.join(work, "fake.sock")
        self.dp_sock = os.path.join(work, "dp.sock")
        self.dp_state = os.path.join(work, "dp-state.json")
        self.dp_prefix = "elb-%s-%d" % (tag, os.getpid())
        self.cp_args = list(cp_args)
        self.daemons = Daemons(work)
        self.fake = None
        self.real_dp = opts.dp is not None and os.geteuid() == 0

    def base_config(self, vips, node=None, read_only_peer=False):
        """edgelb-cp's configuration: the node, the dataplanes, vips. The
        fake's tables never agree with edgelb-cp's: no re-push of the same
        state during a test. read_only_peer (as root): user nobody may read
        through the operator socket."""
        dataplanes = [{"name": "fake", "socket": self.fake_sock}]
        if self.real_dp:
            dataplanes.append({"name": "dp", "socket": self.dp_sock})
        config = {"node": node or {"source_v4": "192.0.2.10", "source_v6": "2001:db8::1",
                                   "gateway_mac": "02:00:00:00:00:01"},
                  "dataplanes": dataplanes, "fleet": {"disagree_after_ms": 3600000},
                  "vips": vips}
        if read_only_peer and os.geteuid() == 0:
            os.chmod(self.work, 0o755)  # nobody reaches the socket
            config["operator"] = {"socket_mode": "0660", "socket_group": "nogroup",
                                  "read": {"users": ["nobody"]}}
        return config

    def start(self, config):
        with open(self.config, "w") as f:
            json.dump(config, f)
        out = subprocess.run([self.opts.cp, "--version"], capture_output=True, text=True)
        self.fake = FakeDataplane(self.fake_sock, int(out.stdout.split()[-1]))
        if self.real_dp:
            start_null_dataplane(self.daemons, self.opts.dp, self.dp_sock, self.dp_state,
                                 self.dp_prefix)
        self.start_cp()

    def start_cp(self):
        cp = self.daemons.start("cp", [self.opts.cp, "--config", self.config,
                                       "--socket", self.cp_sock, *self.cp_args])
        wait_for("edgelb-cp's socket", lambda: rpc.answers(self.cp_sock, "vip.list"), 10, cp)
        self.wait_in_sync()

    def stop_cp(self):
        stop_cp_cleanly(self.daemons)

    def teardown(self):
        self.daemons.stop_all(signal.SIGKILL)
        if self.fake is not None:
            self.fake.close()
        subprocess.run(["rm", "-rf", "/var/run/dpdk/" + self.dp_prefix], check=False)

    def dataplanes(self):
        return rpc.call(self.cp_sock, "dataplanes.get")["dataplanes"]

    def wait_in_sync(self):
        wait_for("every dataplane in sync", lambda: all(d["in_sync"] for d in self.dataplanes()),
                 20, self.daemons.procs.get("cp"))

    def ctl(self, *argv, user=None):
        """edgelbctl on edgelb-cp's socket, as user (uid, gid) if given."""
        def drop():
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        return subprocess.run([self.opts.ctl, "--socket", self.cp_sock, *argv],
                              capture_output=True, text=True, timeout=60,
                              preexec_fn=drop if user else None)

