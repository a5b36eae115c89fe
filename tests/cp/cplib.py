# SPDX-License-Identifier: BSD-3-Clause
"""What the control-plane integration tests share: a JSON-RPC call, waiting
for a condition, and a harness of named processes with ok/FAIL checks."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
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
    import sys

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
    return run_in_workdir(test_class, args, prefix)


def run_in_workdir(test_class, args, prefix):
    """test_class(args, work).run() in a fresh work directory, removed
    afterwards unless args.keep; prints PASS or FAILED, returns its status."""

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


def veth_pairs(n):
    """lb0/peer0 ... lb{n-1}/peer{n-1}: a dataplane on lbI, its wire on peerI."""
    for i in range(n):
        ip("link", "add", f"lb{i}", "type", "veth", "peer", "name", f"peer{i}")
        ip("link", "set", f"lb{i}", "up")
        ip("link", "set", f"peer{i}", "up")


def ip_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_frame(dst_mac, src_mac, src_ip, dst_ip, sport, dport, flags, payload_len=0, df=False):
    """Ethernet + IPv4 + TCP, built here byte by byte (not by the code under test)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + payload_len
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000 if df else 0, 64, 6, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack(
        "!BBH", 0, 6, len(tcp) + payload_len)
    body = tcp + b"\xab" * payload_len
    csum = ip_checksum(pseudo + body)
    body = body[:16] + struct.pack("!H", csum) + body[18:]
    return dst_mac + src_mac + b"\x08\x00" + ip + body


def mac_of(iface):
    # Not from /sys: under unshare -n it still shows the parent namespace.
    out = subprocess.run(["ip", "-j", "link", "show", "dev", iface], check=True,
                         capture_output=True, text=True).stdout
    return bytes.fromhex(json.loads(out)[0]["address"].replace(":", ""))


class Subscriber:
    """A `subscribe`d connection: snapshots and events as they come."""

    def __init__(self, path, interval_ms):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                                       "params": {"interval_ms": interval_ms}}) + "\n").encode())
        self.buf = b""
        self.snapshots, self.events = [], []
        self.first = self.read(5)

    def read(self, timeout):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise OSError("subscription closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def pump(self, seconds):
        """Collect what arrives during `seconds`."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                msg = self.read(left)
            except (socket.timeout, TimeoutError):
                return
            if msg.get("method") == "snapshot":
                self.snapshots.append(msg["params"])
            elif msg.get("method") == "event":
                self.events.append(msg["params"])

    def wait_event(self, predicate, timeout):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            for e in self.events:
                if predicate(e):
                    return e, time.monotonic() - start
            self.pump(0.05)
        return None, timeout
