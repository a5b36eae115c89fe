#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""What test_fleet.py runs in its namespaces beyond agents.py (the e2e agents).

client LIFETIME_S
    agents.py's client, except for the held connections, which this
    agent keeps itself so that they can go to several VIPs at once and say
    which 5-tuple each is (what flow.explain is asked about):
      {"op": "hold_start", "hosts": [H, ...], "n": N or [N, ...], "every": E, "seconds": S}
          N kept-alive connections to each host (or "host": H), as
          agents.py's (a list: N for each host); returns {"first": [...]}
      {"op": "hold_info"}
          per connection: host, src (the client's address), sport, first backend
      {"op": "hold_stop"}
          per connection as agents.py's, plus host and sport
    Every other command goes to agents.py's client unchanged.

listen ADDRESS PORT LIFETIME_S
    Accepts TCP connections on ADDRESS:PORT and closes them (what a "tcp"
    health check wants), until LIFETIME_S. Prints "ready" once listening.
"""
import json
import os
import socket
import sys
import threading
import time

from edgelb_testlib import agents as e2e_agents


class PortHeld(e2e_agents.Held):
    """e2e_agents.Held that records each connection's own address and port."""

    def __init__(self, host, n, every, seconds):
        self.host = host
        super().__init__(host, n, every, seconds)

    def run(self, result, host, every, seconds):
        result["host"] = host
        conn, start = None, time.monotonic()
        while not self.stop.is_set() and time.monotonic() - start < seconds:
            t = time.monotonic()
            try:
                name, conn = e2e_agents.http_get(host, conn, self.HOLD_TIMEOUT)
            except (OSError, e2e_agents.http.client.HTTPException) as e:
                result["errors"].append({"t": t, "error": f"{type(e).__name__}: {e}"})
                break
            if "sport" not in result and conn.sock is not None:
                local = conn.sock.getsockname()
                result["src"], result["sport"] = local[0], local[1]
            result["requests"] += 1
            if result["first"] is None:
                result["first"] = name
            if name not in result["backends"]:
                result["backends"].append(name)
            self.stop.wait(every)
        if conn is not None:
            conn.close()


class Commands:
    """stdin for e2e_agents.run_client, minus the commands handled here (each
    answered on stdout before the next line is read, as run_client does)."""

    def __init__(self, stream):
        self.stream = stream
        self.holds = []

    def all(self):
        return [r for h in self.holds for r in h.results]

    def handle(self, cmd):
        op = cmd["op"]
        if op == "hold_start":
            hosts = cmd.get("hosts") or [cmd["host"]]
            counts = cmd["n"] if isinstance(cmd["n"], list) else [cmd["n"]] * len(hosts)
            self.holds = [PortHeld(h, n, cmd["every"], cmd["seconds"])
                          for h, n in zip(hosts, counts)]
            deadline = time.monotonic() + 10
            while (any(r["first"] is None and not r["errors"] for r in self.all())
                   and time.monotonic() < deadline):
                time.sleep(0.01)
            return {"first": [r["first"] for r in self.all()]}
        if op == "hold_info":
            return {"connections": [{k: r.get(k) for k in ("host", "src", "sport", "first",
                                                            "backends", "errors")}
                                    for r in self.all()]}
        if op == "hold_stop":
            for h in self.holds:
                h.stop.set()
            for h in self.holds:
                h.finish()
            out = {"connections": self.all()}
            self.holds = []
            return out
        return None

    def __iter__(self):
        for line in self.stream:
            cmd = json.loads(line)
            t0 = time.monotonic()
            out = self.handle(cmd)
            if out is None:
                yield line
                continue
            out["seconds"] = round(time.monotonic() - t0, 3)
            print(json.dumps(out), flush=True)


def listen(address, port, lifetime):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(64)
    threading.Timer(lifetime, lambda: os._exit(0)).start()
    print("ready", flush=True)
    while True:
        conn, _ = sock.accept()
        conn.close()


if __name__ == "__main__":
    if sys.argv[1] == "listen":
        listen(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        e2e_agents.sys.stdin = Commands(sys.stdin)
        e2e_agents.run_client(float(sys.argv[2]))
