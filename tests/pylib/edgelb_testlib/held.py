#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Held TCP downloads whose every byte names the backend that sent it: a
pattern server for the backends and a client agent that paces the
transfers (a small receive window, a little read at a time) and checks
every byte. Used by tests/e2e/test_second_chance.py and
tests/fleet/test_second_chance_fleet.py, which also share the backends'
set-up and counters below.

The pattern: a download of B bytes from backend NAME is the first B bytes of
RECORD-byte records, record k being "NAME:" then k in decimal, zero-padded to
fill the record, then "\\n". A byte anywhere in the stream therefore says
which backend sent it and where it belongs: a connection that changed
backend, lost or repeated data is caught at the first wrong byte.

server NAME PORT LIFETIME_S ADDRESS...
    TCP on every ADDRESS at PORT (IPv4 or IPv6, bound as given: the VIPs on
    the backend's lo). A client sends "B\\n"; the server sends B bytes of
    NAME's pattern and closes. Prints "ready" once listening; exits after
    LIFETIME_S whatever happens, so a lost test leaves nothing running.

client LIFETIME_S
    Driven by JSON lines on stdin, one JSON line of result per command on
    stdout; exits on EOF or after LIFETIME_S.
    {"op": "start", "targets": [[HOST, PORT, N], ...], "bytes": B,
     "chunk": C, "every": E, "rcvbuf": R}
        N connections to each HOST:PORT, each with SO_RCVBUF R set before it
        connects (the window scale is agreed in the handshake), asking for B
        bytes and reading them C at a time every E seconds: the backend
        sends only as fast as the client opens its window. Returns once
        every connection has its first record (the backend's name) or an
        error: {"connections": [{host, port, src, sport, backend}, ...],
        "errors": [...]}
    {"op": "progress"}
        bytes received so far, per connection: {"received": [...]}
    {"op": "stop"}
        ends the pacing: each connection reads the rest at full speed, then
        checks the end of the stream. Returns per connection: host, port,
        src, sport, backend, bytes (asked), received, complete (every byte,
        in order, the right pattern, then the server's close), corrupt_at
        (offset of the first wrong byte, or null), paced_complete (complete
        before stop: it did not span the whole drill), error (ECONNRESET,
        EPIPE, a timeout...: {"t", "error"}), t_start, t_end
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

RECORD = 32
# A read that waits longer is an error: a dataplane restart delays the
# client's window updates (the backend's zero-window probes back off), not
# this long.
READ_TIMEOUT_S = 30.0
FAST_CHUNK = 65536
SEND_CHUNK = 16384


def pattern(name, offset, length):
    """Bytes [offset, offset + length) of backend `name`'s stream."""
    prefix = (name + ":").encode()
    digits = RECORD - len(prefix) - 1
    if digits < 6:
        raise ValueError(f"backend name {name!r} too long for {RECORD}-byte records")
    first, last = offset // RECORD, (offset + length + RECORD - 1) // RECORD
    records = b"".join(prefix + str(k).zfill(digits).encode() + b"\n"
                       for k in range(first, last))
    start = offset - first * RECORD
    return records[start:start + length]


def name_of(first_record):
    """The backend name in a stream's first record, or None."""
    name, sep, rest = first_record.partition(b":")
    if not sep or not rest.endswith(b"\n"):
        return None
    return name.decode(errors="replace")


def run_server(name, port, lifetime, addresses):
    def serve(conn):
        try:
            conn.settimeout(lifetime)
            request = b""
            while not request.endswith(b"\n") and len(request) < 32:
                data = conn.recv(32)
                if not data:
                    return
                request += data
            total = int(request.strip())
            sent = 0
            while sent < total:
                n = min(SEND_CHUNK, total - sent)
                conn.sendall(pattern(name, sent, n))
                sent += n
        except (OSError, ValueError):
            pass  # the client sees what went wrong; this side only serves
        finally:
            conn.close()

    def accept(listener):
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(256)
        threading.Thread(target=accept, args=(listener,), daemon=True).start()
    print("ready", flush=True)
    time.sleep(lifetime)
    os._exit(0)


class Download:
    """One paced download on a thread of its own."""

    def __init__(self, host, port, nbytes, chunk, every, rcvbuf, fast):
        self.host, self.port, self.nbytes = host, port, nbytes
        self.chunk, self.every, self.rcvbuf = chunk, every, rcvbuf
        self.fast = fast  # set: read the rest at full speed
        self.named = threading.Event()
        self.r = {"host": host, "port": port, "src": None, "sport": None, "backend": None,
                  "bytes": nbytes, "received": 0, "complete": False, "corrupt_at": None,
                  "paced_complete": False, "error": None, "t_start": time.monotonic(),
                  "t_end": None}
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def check(self, data):
        """data, the next bytes of the stream, against the backend's pattern."""
        r = self.r
        want = pattern(r["backend"], r["received"], len(data))
        if data != want:
            wrong = next(i for i in range(len(data)) if data[i] != want[i])
            r["corrupt_at"] = r["received"] + wrong
            raise ValueError(f"byte {r['corrupt_at']} is not {r['backend']}'s")
        r["received"] += len(data)

    def run(self):
        r = self.r
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.settimeout(READ_TIMEOUT_S)
            sock.connect((self.host, self.port))
            r["src"], r["sport"] = sock.getsockname()[:2]
            sock.sendall(f"{self.nbytes}\n".encode())
            first = b""
            while len(first) < RECORD:
                data = sock.recv(RECORD - len(first))
                if not data:
                    raise ConnectionError("closed before the first record")
                first += data
            r["backend"] = name_of(first)
            if r["backend"] is None:
                r["corrupt_at"] = 0
                raise ValueError(f"first record {first!r} names no backend")
            self.check(first)
            self.named.set()
            while r["received"] < self.nbytes:
                fast = self.fast.is_set()
                data = sock.recv(FAST_CHUNK if fast else self.chunk)
                if not data:
                    raise ConnectionError(f"closed after {r['received']} of {self.nbytes} bytes")
                self.check(data)
                if not fast:
                    self.fast.wait(self.every)
            if sock.recv(1):
                r["corrupt_at"] = self.nbytes
                raise ValueError("more bytes than asked for")
            r["complete"] = True
            r["paced_complete"] = not self.fast.is_set()
        except (OSError, ValueError) as e:  # ConnectionResetError, BrokenPipeError, timeout
            r["error"] = {"t": time.monotonic(), "error": f"{type(e).__name__}: {e}"}
        finally:
            r["t_end"] = time.monotonic()
            self.named.set()
            sock.close()


def run_client(lifetime):
    threading.Timer(lifetime, lambda: os._exit(3)).start()
    downloads, fast = [], threading.Event()
    for line in sys.stdin:
        cmd = json.loads(line)
        op, out = cmd["op"], {}
        if op == "start":
            fast = threading.Event()
            downloads = [Download(host, port, cmd["bytes"], cmd["chunk"], cmd["every"],
                                  cmd["rcvbuf"], fast)
                         for host, port, n in cmd["targets"] for _ in range(n)]
            deadline = time.monotonic() + 20
            for d in downloads:
                d.named.wait(max(0.0, deadline - time.monotonic()))
            out = {"connections": [{k: d.r[k] for k in ("host", "port", "src", "sport",
                                                         "backend")} for d in downloads],
                   "errors": [d.r["error"] for d in downloads if d.r["error"]]}
        elif op == "progress":
            out = {"received": [d.r["received"] for d in downloads]}
        elif op == "stop":
            fast.set()
            for d in downloads:
                d.thread.join()
            out = {"connections": [d.r for d in downloads]}
            downloads = []
        print(json.dumps(out), flush=True)
    os._exit(0)


def start_agent(ns, lifetime):
    """The client agent (this file's client) in namespace ns, driven from the
    test: e2e.Client on this script. Imported here, not at the top: the
    namespaces run this file as a plain script, without the package."""
    from edgelb_testlib.e2e import Client  # pylint: disable=import-outside-toplevel

    return Client(ns, lifetime, script=os.path.abspath(__file__), what="held-download agent")


def start_server(ns, name, port, lifetime, addresses):
    """The pattern server in namespace ns; returns the process once it listens
    (None, the process reaped, if it did not come up)."""
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                             "server", name, str(port), str(lifetime), *addresses],
                            stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        proc.wait()
        return None
    return proc


# --- the backends of tools/netns-topology, for second-chance drills ---------
# (imported here, not at the top: this file also runs as a script in the
# namespaces, where only the standard library is needed)

def backends_can_forward(topo):
    """What edgelb-decap needs on the topology's backends b1..b3 to hand a
    packet to another one: it takes the next hop's MAC from bpf_fib_lookup,
    which answers only
      - for an interface with forwarding on (net.ipv{4,6}.conf.IF.forwarding;
        else the packet is kept: kept_forwarding_off), and
      - with a neighbour entry for the next hop (an XDP program cannot start
        an ARP or ND resolution, and backends that never talked to each
        other have none; else kept_fib_failed): permanent entries for the
        other backends here."""
    from edgelb_testlib.netns import sh  # pylint: disable=import-outside-toplevel
    for i in (1, 2, 3):
        ns = topo[f"BACKEND{i}_NS"]
        sh("sysctl", "-qw", "net.ipv4.conf.eth0.forwarding=1",
           "net.ipv6.conf.eth0.forwarding=1", ns=ns)
        for j in (1, 2, 3):
            if i != j:
                for family in (4, 6):
                    sh("ip", "neigh", "replace", topo[f"BACKEND{j}_{family}"],
                       "lladdr", topo[f"BACKEND{j}_MAC"], "dev", "eth0", "nud", "permanent",
                       ns=ns)


def decap_stats(decap, topo):
    """The backends' edgelb-decap counters (--stats: one JSON object per
    interface), summed over b1..b3; None when there are none."""
    from edgelb_testlib.netns import sh  # pylint: disable=import-outside-toplevel
    total = {}
    for i in (1, 2, 3):
        out = sh(decap, "--iface", "eth0", "--stats", ns=topo[f"BACKEND{i}_NS"], check=False)
        if out.returncode != 0:
            return None
        for name, value in json.loads(out.stdout).items():
            if name not in ("iface", "prog_id"):
                total[name] = total.get(name, 0) + value
    return total


def stats_delta(before, after):
    """after - before, counter by counter (None if either is)."""
    if before is None or after is None:
        return None
    return {name: value - before.get(name, 0) for name, value in after.items()}


if __name__ == "__main__":
    if sys.argv[1] == "server":
        run_server(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:])
    else:
        run_client(float(sys.argv[2]))


# edgelb-decap's counters of packets it should have forwarded but kept.
UNFORWARDED = ("kept_fib_failed", "kept_forwarding_off")


def assert_forwarded(figures):
    """A drill's decap counters (figures["decap_counters"], summed over the
    backends): the backends that had to forward did, and none kept a packet
    for want of a route, a neighbour or forwarding."""
    counters = figures["decap_counters"]
    assert counters is not None and all(counters.get(k, 0) == 0 for k in UNFORWARDED), \
        f"edgelb-decap could forward every packet it had to: {figures}"
    assert figures["decap_forwarded"] > 0, \
        f"the moved connections' packets were forwarded by b3's edgelb-decap: {figures}"
