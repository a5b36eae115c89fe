# SPDX-License-Identifier: BSD-3-Clause
"""What the control-plane integration tests share: a JSON-RPC call, waiting
for a condition, and a harness of named processes with ok/FAIL checks."""
import json
import os
import signal
import socket
import subprocess
import time


def rpc(path, method, params=None, timeout=5.0):
    req = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        req["params"] = params
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def wait_for(what, predicate, timeout):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():
                return time.monotonic() - start
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Harness:
    """Named processes logging to WORK/NAME.log, and counted checks."""

    def __init__(self, work):
        self.work = work
        self.procs = {}
        self.failures = 0

    def check(self, cond, text):
        print(("ok   " if cond else "FAIL ") + text, flush=True)
        if not cond:
            self.failures += 1

    def start(self, name, argv, **kw):
        log = open(os.path.join(self.work, name + ".log"), "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
        log.close()

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if name == "cp" and sig == signal.SIGTERM:
            # A clean exit on SIGTERM, and nothing from the sanitizers (an
            # ASan build reports leaks and errors there).
            with open(os.path.join(self.work, "cp.log"), errors="replace") as f:
                log = f.read()
            bad = [l for l in log.splitlines() if "Sanitizer" in l or "runtime error" in l]
            self.check(p.returncode == 0 and not bad,
                       f"edgelb-cp exited with {p.returncode}" + (f": {bad[0]}" if bad else ""))

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name, signal.SIGKILL if name.startswith("http") else signal.SIGTERM)
