#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The client test_upgrade.py runs in its client namespace: tests/fleet's
client (edgelb_testlib's fleet_agents.py: agents.py's commands, held keep-alive
connections with their 5-tuples) plus long transfers paced by the client.

client LIFETIME_S
    {"op": "stream_start", "hosts": [H, ...], "n": [N, ...], "bytes": B,
     "chunk": C, "every": E, "rcvbuf": R}
        N connections to each host, each with SO_RCVBUF R (a small receive
        window) set before it connects, one GET /bytes/B, and the body read
        C bytes at a time every E seconds: the backend can send only as fast
        as the client opens its window, so the transfer lasts B / (C / E)
        seconds at least. Returns once every connection has its status line
        and the first line of its body (the backend's name):
        {"started": n, "errors": [...]}
    {"op": "stream_info"}
        per connection: host, src, sport, backend, received, complete
    {"op": "stream_stop"}
        ends the pacing: each connection reads the rest of its body at full
        speed; returns per connection host, src, sport, backend, bytes
        (Content-Length), received, complete (all of it, the connection
        then closed by the backend), paced_complete (complete before
        stream_stop: then it did not span the whole window), error (with
        the time it happened), t_start, t_end
    Every other command goes to fleet_agents.py's client.
"""
import socket
import sys
import threading
import time

from edgelb_testlib import agents as e2e_agents
from edgelb_testlib import fleet_agents

# A read that waits longer than this is an error: the dataplane restart
# delays the window updates (TCP retransmits and probes) but not this long.
STREAM_TIMEOUT_S = 30.0
FAST_CHUNK = 65536


class Stream:
    """One paced transfer on a thread of its own."""

    def __init__(self, host, nbytes, chunk, every, rcvbuf, fast):
        self.host, self.nbytes, self.chunk, self.every, self.rcvbuf = (host, nbytes, chunk,
                                                                       every, rcvbuf)
        self.fast = fast  # set: read the rest at full speed
        self.headers_done = threading.Event()
        self.r = {"host": host, "src": None, "sport": None, "backend": None, "bytes": None,
                  "received": 0, "complete": False, "paced_complete": False, "error": None,
                  "t_start": time.monotonic(), "t_end": None}
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        r = self.r
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # Before connect: the window scale is agreed in the handshake.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.settimeout(STREAM_TIMEOUT_S)
            sock.connect((self.host, 80))
            local = sock.getsockname()
            r["src"], r["sport"] = local[0], local[1]
            host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
            sock.sendall(f"GET /bytes/{self.nbytes} HTTP/1.1\r\nHost: {host}\r\n"
                         "Connection: close\r\n\r\n".encode())
            buf = b""
            while b"\r\n\r\n" not in buf or b"\n" not in buf.split(b"\r\n\r\n", 1)[1]:
                data = sock.recv(self.chunk)
                if not data:
                    raise ConnectionError("closed before the body's first line")
                buf += data
            head, body = buf.split(b"\r\n\r\n", 1)
            lines = head.decode(errors="replace").split("\r\n")
            if " 200 " not in lines[0] + " ":
                raise ConnectionError(f"status {lines[0]!r}")
            length = [int(l.split(":", 1)[1]) for l in lines[1:]
                      if l.lower().startswith("content-length:")]
            r["bytes"] = length[0] if length else None
            r["backend"] = body.split(b"\n", 1)[0].decode(errors="replace")
            r["received"] = len(body)
            self.headers_done.set()
            while r["bytes"] is None or r["received"] < r["bytes"]:
                fast = self.fast.is_set()
                data = sock.recv(FAST_CHUNK if fast else self.chunk)
                if not data:
                    break
                r["received"] += len(data)
                if not fast:
                    self.fast.wait(self.every)
            r["complete"] = r["bytes"] is not None and r["received"] == r["bytes"]
            r["paced_complete"] = r["complete"] and not self.fast.is_set()
            if r["complete"] and sock.recv(1):
                r["complete"] = False
                r["error"] = {"t": time.monotonic(), "error": "more than Content-Length"}
        except OSError as e:  # ConnectionResetError, timeout, ...
            r["error"] = {"t": time.monotonic(), "error": f"{type(e).__name__}: {e}"}
        finally:
            r["t_end"] = time.monotonic()
            self.headers_done.set()
            sock.close()


class Commands(fleet_agents.Commands):
    def __init__(self, stream):
        super().__init__(stream)
        self.streams = []
        self.fast = threading.Event()

    def handle(self, cmd):
        op = cmd["op"]
        if op == "stream_start":
            self.fast = threading.Event()
            self.streams = []
            for host, n in zip(cmd["hosts"], cmd["n"]):
                for _ in range(n):
                    self.streams.append(Stream(host, cmd["bytes"], cmd["chunk"], cmd["every"],
                                               cmd["rcvbuf"], self.fast))
            deadline = time.monotonic() + 15
            for s in self.streams:
                s.headers_done.wait(max(0.0, deadline - time.monotonic()))
            return {"started": sum(s.r["backend"] is not None for s in self.streams),
                    "errors": [s.r["error"] for s in self.streams if s.r["error"]]}
        if op == "stream_info":
            return {"connections": [dict(s.r) for s in self.streams]}
        if op == "stream_stop":
            self.fast.set()
            for s in self.streams:
                s.thread.join()
            out = {"connections": [s.r for s in self.streams]}
            self.streams = []
            return out
        return super().handle(cmd)


if __name__ == "__main__":
    e2e_agents.sys.stdin = Commands(sys.stdin)
    e2e_agents.run_client(float(sys.argv[2]))
