# SPDX-License-Identifier: BSD-3-Clause
"""Shared helpers of the fault and flood tests (stdlib only): checks that
collect failures, figures for docs/adversarial.md, JSON-RPC over a Unix
socket, resident memory of a process, and edgelb-dp on net_null."""
import json
import os
import socket
import subprocess
import sys
import time

SKIP = 77
FIGURE_PREFIX = "FIGURE "


def require_root(what):
    if os.geteuid() != 0:
        print("SKIP: %s needs root" % what)
        sys.exit(SKIP)


class Checker:
    """Counts failed checks; each check prints one line."""

    def __init__(self, name):
        self.name = name
        self.failures = 0
        self.t0 = time.monotonic()

    def check(self, ok, text):
        print(("ok   " if ok else "FAIL ") + text, flush=True)
        if not ok:
            self.failures += 1
        return ok

    def finish(self):
        print("%s: %.1f s, %d failed checks" % (self.name, time.monotonic() - self.t0, self.failures))
        return 1 if self.failures else 0


def figure(case, happened, measured):
    """One row of docs/adversarial.md, read back by tools/adversarial-report."""
    print(FIGURE_PREFIX + json.dumps({"case": case, "happened": happened, "figure": measured}),
          flush=True)


def rss_kib(pid):
    """(VmRSS, VmHWM) of a live process in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Rpc:
    """One connection, one request at a time."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def send_line(self, data):
        self.sock.sendall(data)

    def read_line(self):
        """The next response line as raw bytes, or None at EOF."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def call(self, method, params=None):
        """The whole response object."""
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        self.next_id += 1
        if params is not None:
            req["params"] = params
        self.send_line(json.dumps(req).encode() + b"\n")
        line = self.read_line()
        if line is None:
            raise ConnectionError("the server closed the connection")
        return json.loads(line)

    def close(self):
        self.sock.close()


def rpc(path, method, params=None, timeout=10.0):
    c = Rpc(path, timeout)
    try:
        return c.call(method, params)
    finally:
        c.close()


def wait_for(what, predicate, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: the process exited (%d) first" % (what, proc.returncode))
        try:
            if predicate():
                return
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.02)
    raise TimeoutError("timed out after %s s waiting for %s" % (timeout, what))


def start_dp_null(dp, work, name, extra=(), lcores="0-1"):
    """edgelb-dp on a net_null port, no NIC, no hugepages. Returns
    (proc, socket path, log path)."""
    sock = os.path.join(work, name + ".sock")
    log = os.path.join(work, name + ".log")
    with open(log, "ab") as f:
        proc = subprocess.Popen([dp, "-l", lcores, "--no-huge", "-m", "512", "--no-pci",
                                 "--file-prefix", "%s%d" % (name, os.getpid()), "--vdev",
                                 "net_null0", "--log-level=error", "--", "--socket", sock,
                                 "--kernel-iface", "none", "--flows", "65536"] + list(extra),
                                stdout=f, stderr=subprocess.STDOUT)
    return proc, sock, log


def stop(proc, timeout=10):
    """SIGTERM, then the exit code (SIGKILL after timeout: returns None)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
