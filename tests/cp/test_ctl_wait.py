#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""edgelbctl's changes return once the dataplanes acknowledged them, and its
command table.

edgelb-cp with three fake dataplanes (Unix sockets answering the dataplane
protocol from Python, no DPDK): "a" and "b" speak edgelb-cp's protocol and
can delay or hold their config.set answer; "old" speaks another one and is
refused. Times are taken on the fakes' side and in this process with one
clock (time.monotonic). Checks:
  - `backend drain` with "a" answering config.set 1 s late returns after
    "a" answered the config.set carrying the drain, prints the generation
    both fakes then have, and the refused "old" is not waited for;
  - `--no-wait` returns before the fake answered;
  - `--wait-timeout 1` with "a" holding its answer: exit 6 after about 1 s,
    stderr says the change is committed and names "a" (connected), not "b"
    or "old"; "a" is in sync once it answers;
  - `backend drain --wait`: its "draining ..." line comes after the
    acknowledgement;
  - a disconnected dataplane is waited for: exit 6 naming it "not connected";
  - the command table: every command is in `--help`; unknown commands, a
    wrong number of arguments and a bad --wait-timeout give the usage on
    stderr and exit 2.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# ---------------------------------------------------------------------------
# Minimal helpers, kept here until tests/pylib offers the same: a JSON-RPC
# call, a polling wait, counted checks, a fake dataplane.


def rpc(path, method, params=None, timeout=5):
    """One JSON-RPC request on a fresh connection; the reply object."""
    req = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        req["params"] = params
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise ConnectionError(f"{path}: closed before the reply to {method}")
            buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])


def wait_for(what, cond, timeout):
    """Poll cond() until it is true; seconds waited, or RuntimeError."""
    t0 = time.monotonic()
    while True:
        try:
            if cond():
                return time.monotonic() - t0
        except (OSError, KeyError, ValueError, ConnectionError):
            pass
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, cond, text):
        print(("ok    " if cond else "FAIL  ") + text, flush=True)
        if not cond:
            self.failed += 1
        return cond


class FakeDataplane:
    """Answers the dataplane protocol: ping with `protocol`, config.set after
    `delay` seconds, or not before release() while held. Records each
    config.set: (time received, time answered, its params)."""

    def __init__(self, path, protocol, instance):
        self.protocol = protocol
        self.instance = instance
        self.delay = 0.0
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()
        self.sets = []
        self.pings = 0
        self.conns = []
        self.epoch = 1
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        threading.Thread(target=self.accept, daemon=True).start()

    def hold(self):
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
        if method == "ping":
            with self.lock:
                self.pings += 1
            return {"pong": True, "epoch": self.epoch, "dataplane": "fake",
                    "instance": self.instance, "version": "fake-9.9",
                    "protocol": self.protocol}
        if method == "config.set":
            received = time.monotonic()
            time.sleep(self.delay)
            self.gate.wait()
            with self.lock:
                self.epoch += 1
                self.sets.append((received, time.monotonic(), req.get("params")))
            return {"epoch": self.epoch, "changed": True}
        if method == "counters.get":
            return {"epoch": self.epoch, "counters": {"vips": []}}
        if method == "vip.tables":
            return {"epoch": self.epoch, "vips": []}
        return None

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
                    result = self.answer(req)
                    reply = {"jsonrpc": "2.0", "id": req.get("id")}
                    if result is None:
                        reply["error"] = {"code": -32601, "message": "method not found"}
                    else:
                        reply["result"] = result
                    try:
                        conn.sendall((json.dumps(reply) + "\n").encode())
                    except OSError:
                        return

    def close(self):
        """Gone, as a killed dataplane: socket file and connections."""
        self.release()
        self.srv.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


# ---------------------------------------------------------------------------

VIP = "198.51.100.1:80/tcp"
B1, B2, B3 = "10.77.0.1", "10.77.0.2", "10.77.0.3"
EXIT_USAGE, EXIT_NOT_ACKNOWLEDGED = 2, 6
# Every command edgelbctl(1) documents: the help must list each.
COMMANDS = ["vip list", "vip get", "backend add", "backend remove", "backend drain",
            "backend undrain", "backend weight", "health", "counters", "slo", "config",
            "dataplanes", "fleet", "stats", "events", "explain", "node", "node drain",
            "node resume", "call"]


def backend_state(params, address):
    for v in params["config"]["vips"]:
        for b in v.get("backends", []):
            if b["address"] == address:
                return b.get("state", "active")
    return None


class Test(Checks):
    def __init__(self, args, work):
        super().__init__()
        self.args = args
        self.work = work
        self.cp_sock = os.path.join(work, "cp.sock")
        self.config = os.path.join(work, "cp.json")
        self.sockets = {n: os.path.join(work, n + ".sock") for n in ("a", "b", "old")}
        self.cp = None

    def ctl(self, *argv, timeout=30):
        """edgelbctl ARGV: (completed process, seconds it took, monotonic end)."""
        t0 = time.monotonic()
        r = subprocess.run([self.args.ctl, "--socket", self.cp_sock, *argv],
                           capture_output=True, text=True, timeout=timeout)
        t1 = time.monotonic()
        return r, t1 - t0, t1

    def dataplanes(self):
        return {d["name"]: d for d in rpc(self.cp_sock, "dataplanes.get")["result"]["dataplanes"]}

    def in_sync(self, *names):
        dps = self.dataplanes()
        return all(dps[n]["in_sync"] for n in names)

    def run(self):
        config = {
            "node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
            "dataplanes": [{"name": n, "socket": s} for n, s in self.sockets.items()],
            "vips": [{"address": "198.51.100.1", "port": 80, "protocol": "tcp",
                      "backends": [{"address": b} for b in (B1, B2, B3)]}]}
        with open(self.config, "w") as f:
            json.dump(config, f)
        out = subprocess.run([self.args.cp, "--version"], capture_output=True, text=True)
        speaks = int(out.stdout.split()[-1])
        a = FakeDataplane(self.sockets["a"], speaks, "00000000000000a1")
        b = FakeDataplane(self.sockets["b"], speaks, "00000000000000b1")
        old = FakeDataplane(self.sockets["old"], speaks + 1, "00000000000000c1")
        log = open(os.path.join(self.work, "cp.log"), "w")
        self.cp = subprocess.Popen([self.args.cp, "--config", self.config, "--socket",
                                    self.cp_sock], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for("edgelb-cp's socket", lambda: "result" in rpc(self.cp_sock, "vip.list"), 10)
            wait_for("a and b in sync", lambda: self.in_sync("a", "b"), 10)
            wait_for("old refused", lambda: self.dataplanes()["old"]["state"] == "refused", 10)
            self.table()
            self.acknowledged(a, b, old)
            self.no_wait(a)
            self.held(a, b)
            self.drain_wait(a)
            self.disconnected(b)
        finally:
            self.cp.send_signal(signal.SIGTERM)
            try:
                self.cp.wait(10)
            except subprocess.TimeoutExpired:
                self.cp.kill()
                self.cp.wait()
            log.close()
            for fake in (a, b, old):
                fake.close()
        return 1 if self.failed else 0

    def table(self):
        r, _, _ = self.ctl("--help")
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
        self.check(r.returncode == 0 and r.stdout.startswith("usage: edgelbctl") and
                   sorted(listed) == sorted(COMMANDS) and "--no-wait" in r.stdout and
                   "--wait-timeout" in r.stdout,
                   f"--help: exit {r.returncode}, lists every command once "
                   f"({sorted(set(COMMANDS) ^ set(listed)) or 'none missing or extra'}) "
                   "and the wait options")
        for argv in (["bogus"], ["vip", "frobnicate"], ["vip", "get"],
                     ["vip", "list", "extra"], ["backend", "add", VIP], ["health", "x"],
                     ["node", "resume", "x"], ["call"], ["--wait-timeout", "0", "vip", "list"],
                     ["--wait-timeout", "x", "vip", "list"], []):
            r, _, _ = self.ctl(*argv)
            self.check(r.returncode == EXIT_USAGE and r.stdout == "" and
                       r.stderr.startswith("usage: edgelbctl"),
                       f"edgelbctl {' '.join(argv) or '(nothing)'}: usage on stderr, exit "
                       f"{r.returncode}")
        r, _, _ = self.ctl("backend", "add", "not-a-vip", B1)
        self.check(r.returncode == EXIT_USAGE and "a VIP is ADDRESS:PORT/PROTO" in r.stderr,
                   f"a bad VIP: exit {r.returncode}, {r.stderr.strip()!r}")
        r, _, _ = self.ctl("dataplanes")
        rows = {l.split()[0]: l.split()[1] for l in r.stdout.splitlines()[1:] if l.split()}
        self.check(r.returncode == 0 and rows == {"a": "yes", "b": "yes", "old": "refused"},
                   f"edgelbctl dataplanes: {rows}")

    def acknowledged(self, a, b, old):
        """A change returns after the slow dataplane answered; the refused
        one is not waited for."""
        a.delay = 1.0
        n_a, n_b = len(a.sets), len(b.sets)
        r, took, end = self.ctl("backend", "drain", VIP, B1)
        a.delay = 0.0
        with a.lock:
            sets = a.sets[n_a:]
        drained = [s for s in sets if backend_state(s[2], B1) == "draining"]
        generation = int(r.stdout.split()[-1].rstrip(")")) if r.returncode == 0 else -1
        dps = self.dataplanes()
        self.check(r.returncode == 0 and r.stdout == f"ok (generation {generation})\n" and
                   r.stderr == "", f"backend drain with a 1 s late: exit {r.returncode}, "
                   f"{r.stdout.strip()!r} {r.stderr.strip()!r}")
        self.check(len(drained) == 1 and drained[0][1] <= end and took >= 0.95,
                   f"it returned {end - drained[0][1] if drained else float('nan'):.3f} s "
                   f"after a answered the config.set with {B1} draining "
                   f"({took:.2f} s in all)")
        self.check(dps["a"]["pushed_generation"] >= generation and
                   dps["b"]["pushed_generation"] >= generation and len(b.sets) > n_b,
                   f"generation {generation} acknowledged by a "
                   f"({dps['a']['pushed_generation']}) and b ({dps['b']['pushed_generation']})")
        self.check(not old.sets and dps["old"]["state"] == "refused" and
                   dps["old"]["pushed_generation"] == 0 and took < 2.5,
                   f"the refused dataplane (generation {dps['old']['pushed_generation']}, "
                   f"{len(old.sets)} config.set) was not waited for")
        r, took, _ = self.ctl("--json", "backend", "undrain", VIP, B1)
        body = json.loads(r.stdout) if r.returncode == 0 else {}
        self.check(r.returncode == 0 and list(body) == ["generation"] and took < 2.5,
                   f"--json backend undrain: exit {r.returncode}, {body} in {took:.2f} s")

    def no_wait(self, a):
        """--no-wait returns at the commit, before the dataplane answered."""
        wait_for("a in sync", lambda: self.in_sync("a"), 5)
        a.delay = 1.5
        n_a = len(a.sets)
        r, took, end = self.ctl("--no-wait", "backend", "weight", VIP, B2, "7")
        wait_for("a's answer", lambda: len(a.sets) > n_a, 5)
        a.delay = 0.0
        answered = a.sets[n_a][1]
        self.check(r.returncode == 0 and r.stdout.startswith("ok (generation ") and
                   end < answered and took < 1.0,
                   f"--no-wait: exit {r.returncode} after {took:.2f} s, "
                   f"{answered - end:.2f} s before a answered")

    def held(self, a, b):
        """A dataplane that does not answer: exit 6 naming it."""
        wait_for("a in sync", lambda: self.in_sync("a", "b"), 5)
        a.hold()
        r, took, _ = self.ctl("--wait-timeout", "1", "backend", "weight", VIP, B2, "9")
        first = r.stderr.splitlines()[0] if r.stderr else ""
        named = [l.split(":")[0].strip() for l in r.stderr.splitlines()[1:]]
        self.check(r.returncode == EXIT_NOT_ACKNOWLEDGED and 0.95 <= took < 2.5 and
                   r.stdout.startswith("ok (generation ") and "is committed" in first,
                   f"a holding config.set, --wait-timeout 1: exit {r.returncode} after "
                   f"{took:.2f} s: {first!r}")
        self.check(named == ["a"] and "  a: connected, has generation " in r.stderr,
                   f"the message names a (connected), not b or old: {r.stderr.splitlines()[1:]}")
        a.release()
        t = wait_for("a in sync after it answered", lambda: self.in_sync("a", "b"), 5)
        self.check(True, f"a in sync {t:.2f} s after it answered")

    def drain_wait(self, a):
        """backend drain --wait: the acknowledgement comes before "draining"."""
        a.delay = 1.0
        n_a = len(a.sets)
        t0 = time.monotonic()
        p = subprocess.Popen([self.args.ctl, "--socket", self.cp_sock, "backend", "drain", VIP,
                              B3, "--wait", "--timeout", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        t_line = time.monotonic()
        rest, err = p.communicate(timeout=30)
        a.delay = 0.0
        drained = [s for s in a.sets[n_a:] if backend_state(s[2], B3) == "draining"]
        self.check(line.startswith(f"draining {B3} (generation ") and len(drained) == 1 and
                   drained[0][1] <= t_line and t_line - t0 >= 0.95,
                   f"drain --wait: {line.strip()!r} {t_line - drained[0][1] if drained else -1:.3f}"
                   " s after a acknowledged the drain")
        # The fakes report no flows, so the drain ends by its timeout: exit 4.
        self.check(p.returncode == 4 and f"{B3}: drained (timeout) after 2." in rest,
                   f"drain --wait then ended by its --timeout 2: exit {p.returncode}, "
                   f"{rest.strip()!r} {err.strip()!r}")

    def disconnected(self, b):
        """A dataplane gone away is waited for (it gets the state when it
        reconnects): exit 6, named "not connected"."""
        b.close()
        os.unlink(self.sockets["b"])
        wait_for("b disconnected", lambda: not self.dataplanes()["b"]["connected"], 5)
        r, took, _ = self.ctl("--wait-timeout", "0.5", "backend", "add", VIP, "10.77.0.4")
        self.check(r.returncode == EXIT_NOT_ACKNOWLEDGED and "  b: not connected," in r.stderr
                   and "  a:" not in r.stderr and 0.45 <= took < 2,
                   f"b gone: exit {r.returncode} after {took:.2f} s: "
                   f"{r.stderr.splitlines()[1:]}")
        r, took, _ = self.ctl("--no-wait", "backend", "remove", VIP, "10.77.0.4")
        self.check(r.returncode == 0 and took < 1.0,
                   f"--no-wait with b gone: exit {r.returncode} after {took:.2f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cp", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="elb-ctl-wait-")
    try:
        rc = Test(args, work).run()
    except Exception as e:  # a helper's RuntimeError: the test failed
        print(f"FAIL  {e}", flush=True)
        rc = 1
    if rc != 0 or args.keep:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
