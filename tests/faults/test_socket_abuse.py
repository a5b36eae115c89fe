# SPDX-License-Identifier: BSD-3-Clause
"""The operator socket under abuse, against edgelb-cp's operator socket and
edgelb-dp's control socket (net_null port, no NIC): the same cases on each.
  - hundreds of concurrent clients, each answered; beyond the client limit
    (1024) a clear -32000 refusal, never a hang;
  - a client that sends half a line and stalls: the others are answered
    meanwhile, and the staller is disconnected after the stall timeout;
  - a line over the 8 MiB limit: -32600, connection closed;
  - deeply nested JSON (100000 levels, and 900 inside params): an error
    answer, the daemon alive;
  - invalid UTF-8 in the method and in the id: an error answer that is
    itself valid UTF-8 JSON;
  - memory: resident size before, at the peak (several clients holding
    almost 8 MiB half-lines) and after they are dropped.
Root only (EAL; skipped otherwise). Run by pytest (--cp, --dp): each daemon
started once, one test per case in the order above (-k edgelb-dp or -k
edgelb-cp for one daemon); its FIGURE lines for tools/adversarial-report.
"""
import json
import os
import resource
import socket
import subprocess
import time

import pytest

import faultlib as fl
from edgelb_testlib import rpc
from edgelb_testlib.checks import Checker
from edgelb_testlib.proc import open_fds, rss_kib, stop, wait_for
from edgelb_testlib.pytest_plugin import require_root

CONCURRENT = 300
OVER_LIMIT = 1100          # ELB_RPC_MAX_CLIENTS is 1024
MAX_MESSAGE = 8 << 20      # ELB_RPC_MAX_MESSAGE
STALL_S = 10               # ELB_RPC_STALL_TIMEOUT_MS
HOLDERS = 8                # clients holding almost MAX_MESSAGE each

# Known bugs in files this test's author may not change (elb_rpc.c), as
# (target, case): reported, not counted, while they fail; a pass fails the
# test so that the entry is removed.
FOREIGN_UID = 65533
KNOWN_BUGS = set()  # (daemon, case) pairs that are known to fail; none now


def cheapest_read(target):
    """The method each daemon answers at least cost."""
    return "ping" if target == "edgelb-dp" else "vip.list"


def eof_within(sock, timeout):
    """True if the server closes the connection within timeout (data before
    the close is read and dropped)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 16):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


class Target:
    def __init__(self, name, proc, sock):
        self.name, self.proc, self.sock = name, proc, sock
        self.ck = Checker(name)
        self.method = cheapest_read(name)
        self.req = ('{"jsonrpc":"2.0","id":1,"method":"%s"}\n' % self.method).encode()
        self.figures = {}
        self.bugs = {}  # case -> what the known bug did this run
        self.rss_start, _ = rss_kib(proc.pid)
        self.fds_start = open_fds(proc.pid)

    def connect(self):
        """A client whose lines the case writes itself, raw."""
        return rpc.Connection(self.sock, timeout=10)

    def answered(self, timeout=10):
        """Seconds a fresh client waits for an answer, or None."""
        t0 = time.monotonic()
        try:
            ok = "result" in rpc.request(self.sock, self.method, timeout=timeout)
        except (OSError, ValueError):
            return None
        return time.monotonic() - t0 if ok else None

    def check(self, ok, text, case=None):
        if case is not None and (self.name, case) in KNOWN_BUGS:
            self.ck.check(not ok, "%s: KNOWN BUG still there: %s" % (self.name, text))
            self.bugs.setdefault(case.split("_")[0], text)
            return
        self.ck.check(ok, "%s: %s" % (self.name, text))

    def concurrent(self):
        socks = [self.connect() for _ in range(CONCURRENT)]
        for s in socks:
            s.send_line(self.req)
        ok = 0
        for s in socks:
            try:
                line = s.read_line(10)
                ok += bool(line and b'"result"' in line)
            except OSError:
                pass
            s.close()
        self.check(ok == CONCURRENT, "%d concurrent clients, %d answered" % (CONCURRENT, ok))
        self.figures["concurrent"] = "%d/%d answered" % (ok, CONCURRENT)

    def over_limit(self):
        socks, answers = [], {"result": 0, "-32000": 0, "closed": 0, "other": 0}
        t0 = time.monotonic()
        for _ in range(OVER_LIMIT):
            try:
                socks.append(self.connect())
            except OSError:
                answers["other"] += 1
        # All connected before any is answered or closed, so the limit is
        # reached whatever the server's accept pace.
        time.sleep(1.0)
        for s in socks:
            try:
                s.send_line(self.req)
            except OSError:
                pass
        for s in socks:
            try:
                line = s.read_line(10)
            except OSError:
                line = None
            if line is None:
                answers["closed"] += 1
            elif b'"result"' in line:
                answers["result"] += 1
            elif b"-32000" in line:
                answers["-32000"] += 1
            else:
                answers["other"] += 1
            s.close()
        took = time.monotonic() - t0
        self.check(answers["-32000"] >= OVER_LIMIT - 1024 and
                   answers["result"] + answers["-32000"] == OVER_LIMIT,
                   "%d clients at once: %s in %.1f s" % (OVER_LIMIT, answers, took), "over_limit")
        self.figures["over_limit"] = "%d served, %d refused with -32000, %d closed without a word" % (
            answers["result"], answers["-32000"], answers["closed"] + answers["other"])
        self.check(self.answered() is not None, "answers after the crowd left")

    def oversized(self):
        s = self.connect()
        chunk = b"x" * (1 << 20)
        sent = 0
        try:
            while sent <= MAX_MESSAGE + (1 << 20):
                s.send_line(chunk)
                sent += len(chunk)
        except OSError:
            pass  # closed on us while sending: expected
        try:
            line = s.read_line(10)
        except OSError:
            line = None
        closed = eof_within(s.sock, 5)
        s.close()
        ok = line is not None and b"-32600" in line and closed
        self.check(ok, "a line over 8 MiB (%d MiB sent): %s, closed %s" %
                   (sent >> 20, (line or b"no answer")[:160], closed), "oversized")
        self.figures["oversized"] = (line or b"no answer").decode(errors="replace")[:120]

    def error_answer(self, payload, what, case):
        """Send one line; expect a JSON-RPC error answer, valid UTF-8."""
        s = self.connect()
        try:
            s.send_line(payload)
            line = s.read_line(10)
        except OSError as e:
            line = None
            what += " (%s)" % e
        finally:
            s.close()
        obj = None
        if line:
            try:
                obj = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                obj = None
        ok = isinstance(obj, dict) and "error" in obj
        self.check(ok, "%s: %s" % (what, (line or b"no answer")[:200]), case)
        self.check(self.proc.poll() is None and self.answered() is not None,
                   "%s: still answering" % what)
        return (obj or {}).get("error", {}).get("code"), line

    def nesting(self):
        deep = b"[" * 100000 + b"]" * 100000
        code, _ = self.error_answer(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":' + deep +
                                    b"}}\n", "100000 nested arrays in params", "nesting")
        code2, _ = self.error_answer(b'{"jsonrpc":"2.0","id":1,"method":"config.get","params":{"a":' +
                                     b'{"a":' * 900 + b"1" + b"}" * 900 + b"}}\n",
                                     "900 nested objects in params", "nesting900")
        self.figures["nesting"] = "100000 levels: error %s; 900 levels: error %s" % (code, code2)

    def invalid_utf8(self):
        code, line = self.error_answer(b'{"jsonrpc":"2.0","id":1,"method":"pi\xffng"}\n',
                                       "invalid UTF-8 in the method", "utf8_method")
        code2, line2 = self.error_answer(b'{"jsonrpc":"2.0","id":"\xc3\x28","method":"nosuch"}\n',
                                         "invalid UTF-8 in the id", "utf8_id")
        code3, line3 = self.error_answer(b'\xff\xfe{"jsonrpc":"2.0","id":1,"method":"ping"}\n',
                                         "invalid UTF-8 before the JSON", "utf8_prefix")
        def shown(code, line):
            if code is not None:
                return "error %s" % code
            return "answer not UTF-8: `%s`" % (line or b"none")[:90].decode("ascii", "backslashreplace")

        self.figures["utf8"] = "method: %s; id: %s; before: %s" % (
            shown(code, line), shown(code2, line2), shown(code3, line3))

    def stall_and_memory(self):
        """HOLDERS clients each send almost MAX_MESSAGE without a newline and
        stall; one more sends half a request. The others must be answered
        meanwhile; all of them are dropped after the stall timeout."""
        pid = self.proc.pid
        rss0, _ = rss_kib(pid)
        holders = []
        body = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"p" * (MAX_MESSAGE - 1024)
        for _ in range(HOLDERS):
            s = self.connect()
            s.send_line(body)
            holders.append(s)
        half = self.connect()
        half.send_line(b'{"jsonrpc":"2.0","id":7,"met')
        t_stall = time.monotonic()
        time.sleep(0.5)
        peak_rss, _ = rss_kib(pid)
        waits = [self.answered(5) for _ in range(20)]
        slowest = max((w for w in waits if w is not None), default=None)
        self.check(all(w is not None for w in waits),
                   "while %d clients stall (%d holding ~8 MiB), 20 others answered, slowest %s s" %
                   (HOLDERS + 1, HOLDERS, "%.3f" % slowest if slowest is not None else "-"))
        dropped = eof_within(half.sock, STALL_S + 10)
        after = time.monotonic() - t_stall
        self.check(dropped and STALL_S - 1 <= after <= STALL_S + 10,
                   "half-line staller disconnected after %.1f s (timeout %d s)" % (after, STALL_S),
                   "stall")
        held_dropped = sum(eof_within(s.sock, 3) for s in holders)
        for s in holders + [half]:
            s.close()
        self.check(held_dropped == HOLDERS, "%d of %d 8-MiB holders disconnected" %
                   (held_dropped, HOLDERS), "stall")
        time.sleep(0.5)
        rss1, hwm = rss_kib(pid)
        self.figures["stall"] = "%s after %.1f s; others answered meanwhile (slowest %s s)" % (
            "dropped" if dropped else "NOT dropped", after,
            "%.3f" % slowest if slowest is not None else "-")
        self.figures["memory_hold"] = (rss0, peak_rss, rss1)

    def foreign_uid(self):
        """A peer whose uid is in no access list, with the socket file made
        world-writable (a careless chmod): the credentials still refuse it."""
        os.chmod(self.sock, 0o666)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            result = {"line": "", "closed": False}
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(FOREIGN_UID)
                os.setuid(FOREIGN_UID)
                with rpc.Connection(self.sock, timeout=5) as s:
                    try:
                        s.send_line(self.req)
                    except OSError:
                        pass  # already closed on us: the refusal is still there to read
                    result["line"] = (s.read_line(5) or b"").decode(errors="replace")
                    result["closed"] = eof_within(s.sock, 5)
            except Exception as e:  # reported to the parent, never raised in the child
                result["error"] = repr(e)
            os.write(w, json.dumps(result).encode())
            os._exit(0)
        os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
        os.close(r)
        os.waitpid(pid, 0)
        os.chmod(self.sock, 0o660)
        got = json.loads(data or b"{}")
        ok = ("-32020" in got.get("line", "") and "may not use this socket" in got["line"] and
              got.get("closed"))
        self.check(ok, "uid %d (no access), socket file 0666: %s" % (FOREIGN_UID, got))
        self.check(self.answered() is not None, "answers root after the refusal")
        self.figures["foreign_uid"] = "`%s`, then closed: %s" % (got.get("line", "")[:110],
                                                              got.get("closed"))

    def run_case(self, case):
        """One case; its checks must pass and the daemon must outlive it."""
        with self.ck.scope():
            getattr(self, case)()
            self.check(self.proc.poll() is None,
                       "alive after %s (exit status %s)" % (case, self.proc.returncode))

    def bounded(self):
        """Descriptors and memory after every case: back to the start."""
        rss_end, hwm = rss_kib(self.proc.pid)
        fds_end = open_fds(self.proc.pid)
        self.check(fds_end <= self.fds_start + 2, "open fds %d at start, %d at the end" %
                   (self.fds_start, fds_end))
        r0, rpeak, r1 = self.figures.get("memory_hold", (0, 0, 0))
        bound = self.rss_start + HOLDERS * (MAX_MESSAGE >> 10) * 2 + 64 * 1024
        self.check(hwm <= bound, "peak resident %d MiB (start %d MiB, bound %d MiB)" %
                   (hwm >> 10, self.rss_start >> 10, bound >> 10))
        self.check(rss_end <= self.rss_start + 64 * 1024,
                   "resident %d MiB at the end, %d MiB at the start" % (rss_end >> 10,
                                                                       self.rss_start >> 10),
                   "memory_end")
        self.figures["memory"] = ("RSS start %.1f MiB, with %d clients holding ~8 MiB half-lines "
                                  "%.1f MiB, after they were dropped %.1f MiB, end %.1f MiB, peak "
                                  "(VmHWM) %.1f MiB" % (self.rss_start / 1024, HOLDERS,
                                                        rpeak / 1024, r1 / 1024, rss_end / 1024,
                                                        hwm / 1024))


BUG_TEXT = {}  # case -> what a KNOWN_BUGS entry did, for the report; none now


def emit_figures(t):
    f = t.figures
    n = t.name + (" operator socket" if t.name == "edgelb-cp" else " control socket")

    def happened(case, normal):
        return BUG_TEXT[case] if case in t.bugs else normal

    fl.figure("%s: %d concurrent clients" % (n, CONCURRENT), "all answered", f.get("concurrent", "-"))
    fl.figure("%s: %d clients at once (limit 1024)" % (n, OVER_LIMIT),
              "the others refused with -32000 and closed", f.get("over_limit", "-"))
    fl.figure("%s: half a line, then a stall; 8 clients holding ~8 MiB half-lines" % n,
              happened("stall", "others answered; stallers disconnected after the 10 s timeout"),
              f.get("stall", "-"))
    fl.figure("%s: a line over 8 MiB" % n, "-32600, connection closed", "`%s`" % f.get("oversized", "-"))
    fl.figure("%s: deeply nested JSON" % n, "error answer, daemon alive", f.get("nesting", "-"))
    fl.figure("%s: invalid UTF-8 (in the method, in a string id, before the JSON)" % n,
              happened("utf8", "error answers in valid UTF-8"), f.get("utf8", "-"))
    fl.figure("%s: a peer whose uid is not allowed (socket file chmod 0666)" % n,
              "refused with -32020 naming the uid, disconnected; others answered",
              f.get("foreign_uid", "-"))
    fl.figure("%s: memory under all of the above" % n, "bounded; back down once the clients are dropped",
              f.get("memory", "-"))


def start_edgelb_dp(opts, work):
    dp, dp_sock, _ = fl.start_dp_null(opts.dp, work, "abusedp")
    return dp, dp_sock, lambda: "result" in rpc.request(dp_sock, "ping", timeout=10.0)


def start_edgelb_cp(opts, work):
    cfg = os.path.join(work, "cp.json")
    with open(cfg, "w") as f:
        json.dump({"node": {"source_v4": "192.0.2.10"},
                   "dataplanes": [{"name": "dp0", "socket": os.path.join(work, "none.sock")}],
                   "vips": [{"address": "198.51.100.1", "port": 80, "protocol": "tcp",
                             "backends": [{"address": "203.0.113.1"}]}]}, f)
    cp_sock = os.path.join(work, "cp.sock")
    with open(os.path.join(work, "cp.log"), "wb") as log:
        cp = subprocess.Popen([opts.cp, "--config", cfg, "--socket", cp_sock], stdout=log,
                              stderr=subprocess.STDOUT)
    return cp, cp_sock, lambda: "result" in rpc.request(cp_sock, "vip.list", timeout=10.0)


@pytest.fixture(scope="module")
def abuse_workdir(workdir):
    require_root("edgelb-dp (EAL)")
    # Room for OVER_LIMIT sockets on our side and the daemons' (inherited).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    os.chmod(workdir, 0o755)  # the foreign-uid peer must reach the socket file
    return workdir


@pytest.fixture(scope="module", params=["edgelb-dp", "edgelb-cp"])
def target(request, opts, abuse_workdir):
    """The daemon under abuse; its figures printed once its cases ran."""
    start = start_edgelb_dp if request.param == "edgelb-dp" else start_edgelb_cp
    proc, sock, answers = start(opts, abuse_workdir)
    try:
        wait_for(request.param + " socket", answers, 30, proc)
        t = Target(request.param, proc, sock)
        yield t
        emit_figures(t)
    finally:
        stop(proc)
        fl.remove_eal_runtime(fl.eal_prefix("abusedp"))


def test_concurrent_clients_answered(target):
    target.run_case("concurrent")


def test_over_the_client_limit_refused(target):
    target.run_case("over_limit")


def test_oversized_line_refused(target):
    target.run_case("oversized")


def test_deep_nesting_answered_with_an_error(target):
    target.run_case("nesting")


def test_invalid_utf8_answered_in_utf8(target):
    target.run_case("invalid_utf8")


def test_foreign_uid_refused(target):
    target.run_case("foreign_uid")


def test_stallers_dropped_others_answered(target):
    target.run_case("stall_and_memory")


def test_memory_and_descriptors_bounded(target):
    with target.ck.scope():
        target.bounded()


def test_exits_0_on_sigterm(target):
    rc = stop(target.proc)
    assert rc == 0, "%s (pid %d): exit %s on SIGTERM" % (target.name, target.proc.pid, rc)
