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


def ip(*argv):
    subprocess.run(["ip", *argv], check=True)


def main_in_netns(script, test_class, setup_netns, prefix, timeout):
    """The tests' main: --dp/--cp/--ctl, root or skip (77), then the same
    script again inside a network namespace of its own (unshare -n), where
    setup_netns() adds addresses and links, and test_class(args, work).run()
    runs in a temporary directory (--keep keeps it)."""
    import argparse
    import shutil
    import sys
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--dp", required=True)
    ap.add_argument("--cp", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--in-netns", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (DPDK EAL, a network namespace)")
        return 77
    if not args.in_netns:
        argv = ["unshare", "-n", sys.executable, os.path.abspath(script), "--in-netns"]
        argv += sys.argv[1:]
        return subprocess.run(argv, timeout=timeout).returncode
    ip("link", "set", "lo", "up")
    setup_netns()
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        rc = test_class(args, work).run()
    finally:
        if args.keep:
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("PASS" if rc == 0 else "FAILED")
    return rc
