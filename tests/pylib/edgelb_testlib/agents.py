#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The processes test_e2e.py and test_e2e_cp.py run inside their namespaces.

backend NAME VIP4 VIP6 UDP_PORTS LIFETIME_S [OWN_ADDRESS]
    HTTP on VIP4:80 and [VIP6]:80 (and OWN_ADDRESS:80, where a health check
    reaches the backend) answering "NAME\\n" (HTTP/1.1, keep-alive),
    or, for GET /bytes/N, N bytes: "NAME\\n" and filler,
    and UDP on VIP4 and VIP6 at each of UDP_PORTS (comma-separated)
    answering "NAME" to any datagram. Exits after
    LIFETIME_S seconds whatever happens, so a lost test leaves nothing running.

client LIFETIME_S
    An agent driven by JSON lines on stdin, one JSON line of result on stdout
    per command; exits on EOF or after LIFETIME_S. Commands:
      {"op": "burst", "host": H, "n": N, "parallel": P}
          N new TCP connections (one GET each), P at a time
      {"op": "upload", "host": H, "bytes": B}
          one POST of B bytes on a new connection: full-sized segments, which
          need path MTU discovery through the balancer (encapsulation overhead)
      {"op": "open", "host": H} / {"op": "again"} / {"op": "close"}
          one kept-alive connection and requests on it
      {"op": "udp", "host": H, "port": P, "n": N}
          N request/response exchanges, each from a new socket (new source port)
      {"op": "load_start", "host": H, "rate": R, "seconds": S} / {"op": "load_stop"}
          new connections at R per second for at most S seconds in the
          background; load_stop waits for it and returns every connection's
          start time, backend or error ("timeout": T, optional, how long each
          waits for its connect and its answer: CONNECT_TIMEOUT by default)
      {"op": "hold_start", "host": H, "n": N, "every": E, "seconds": S} / {"op": "hold_stop"}
          N long-lived kept-alive connections in the background, each doing a
          GET every E seconds for at most S seconds; a connection stops at its
          first error. hold_stop returns, per connection, its first backend,
          every backend it saw, its request count and its errors (with times)
      {"op": "now"}
          the agent's CLOCK_MONOTONIC (the one the results' times use)
"""
import http.client
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

CONNECT_TIMEOUT = 3.0


def run_backend(name, vip4, vip6, udp_ports, lifetime, own_address=None):
    body = (name + "\n").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path.startswith("/bytes/"):
                # "NAME\n" then filler up to N bytes in all: a long transfer
                # that the client paces by reading slowly (tests/upgrade).
                self.send_bytes(int(self.path[len("/bytes/"):]))
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_bytes(self, n):
            n = max(n, len(body))
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(body)
            left, filler = n - len(body), b"x" * 65536
            while left > 0:
                self.wfile.write(filler[:min(left, len(filler))])
                left -= min(left, len(filler))

        def do_POST(self):
            # "NAME LENGTH": proof that the whole upload arrived.
            length = int(self.headers["Content-Length"])
            received = 0
            while received < length:
                chunk = self.rfile.read(min(65536, length - received))
                if not chunk:
                    break
                received += len(chunk)
            reply = f"{name} {received}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    class Server4(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

        def handle_error(self, request, client_address):
            # A health checker closes once it has the status line; the reset
            # that meets the body is no error. Clients see real failures.
            pass

        def server_bind(self):
            # HTTPServer's own asks socket.getfqdn() for the address: a
            # reverse DNS query that, from a namespace with a default
            # route, waits 5 s for a resolver it cannot reach.
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = self.server_address[:2]

    class Server6(Server4):
        address_family = socket.AF_INET6

    servers = [Server4((vip4, 80), Handler), Server6((vip6, 80), Handler)]
    if own_address:
        servers.append(Server4((own_address, 80), Handler))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()

    def udp_echo(family, address, port):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((address, port))
        while True:
            _, peer = sock.recvfrom(2048)
            sock.sendto(name.encode(), peer)

    for port in udp_ports:
        for family, address in ((socket.AF_INET, vip4), (socket.AF_INET6, vip6)):
            threading.Thread(target=udp_echo, args=(family, address, port), daemon=True).start()
    print("ready", flush=True)
    time.sleep(lifetime)
    os._exit(0)


def http_get(host, conn=None, timeout=CONNECT_TIMEOUT):
    """One GET; returns (backend name, connection). New connection if conn is None."""
    if conn is None:
        conn = http.client.HTTPConnection(host, 80, timeout=timeout)
    conn.request("GET", "/")
    resp = conn.getresponse()
    data = resp.read().decode().strip()
    if resp.status != 200:
        raise OSError(f"HTTP {resp.status}")
    return data, conn


def one_connection(host, timeout=CONNECT_TIMEOUT):
    start = time.monotonic()
    try:
        name, conn = http_get(host, timeout=timeout)
        conn.close()
        end = time.monotonic()
        return {"t": start, "end": end, "backend": name, "ms": (end - start) * 1000}
    except (OSError, http.client.HTTPException) as e:
        return {"t": start, "end": time.monotonic(), "error": f"{type(e).__name__}: {e}"}


def summarize(results):
    shares, errors = {}, []
    for r in results:
        if "backend" in r:
            shares[r["backend"]] = shares.get(r["backend"], 0) + 1
        else:
            errors.append(r["error"])
    return {"ok": sum(shares.values()), "failed": len(errors), "shares": shares,
            "errors": errors[:5]}


class Load:
    def __init__(self, host, rate, seconds, timeout=CONNECT_TIMEOUT):
        self.results, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self.run, args=(host, rate, seconds, timeout))
        self.thread.start()

    def run(self, host, rate, seconds, timeout):
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures, start = [], time.monotonic()
            while not self.stop.is_set() and time.monotonic() - start < seconds:
                futures.append(pool.submit(one_connection, host, timeout))
                time.sleep(1.0 / rate)
            self.results = [f.result() for f in futures]


class Held:
    """Long-lived kept-alive connections doing a request every `every` s.
    A request may wait HOLD_TIMEOUT: a dataplane restart can delay packets
    (TCP retransmits them) without breaking the connection."""
    HOLD_TIMEOUT = 8.0

    def __init__(self, host, n, every, seconds):
        self.stop = threading.Event()
        self.results = [{"first": None, "backends": [], "requests": 0, "errors": []}
                        for _ in range(n)]
        self.threads = [threading.Thread(target=self.run, args=(r, host, every, seconds))
                        for r in self.results]
        for t in self.threads:
            t.start()

    def run(self, result, host, every, seconds):
        conn, start = None, time.monotonic()
        while not self.stop.is_set() and time.monotonic() - start < seconds:
            t = time.monotonic()
            try:
                name, conn = http_get(host, conn, self.HOLD_TIMEOUT)
            except (OSError, http.client.HTTPException) as e:
                result["errors"].append({"t": t, "error": f"{type(e).__name__}: {e}"})
                break
            result["requests"] += 1
            if result["first"] is None:
                result["first"] = name
            if name not in result["backends"]:
                result["backends"].append(name)
            self.stop.wait(every)
        if conn is not None:
            conn.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        return self.results


def udp_flood(host, port, pps, seconds, quiet_every):
    """One flow (one socket, one 5-tuple) sends pps datagrams/s for `seconds`;
    a second flow sends one every `quiet_every` s meanwhile. Counts the
    answers each gets, up to 0.5 s after the last send."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    flood, quiet = socket.socket(family, socket.SOCK_DGRAM), socket.socket(family, socket.SOCK_DGRAM)
    counts = {"flood_sent": 0, "flood_answered": 0, "quiet_sent": 0, "quiet_answered": 0}
    stop = threading.Event()

    def count(sock, key):
        sock.settimeout(0.5)
        while True:
            try:
                sock.recvfrom(2048)
                counts[key] += 1
            except OSError:
                if stop.is_set():
                    return

    readers = [threading.Thread(target=count, args=(flood, "flood_answered")),
               threading.Thread(target=count, args=(quiet, "quiet_answered"))]
    for r in readers:
        r.start()
    start = time.monotonic()
    next_quiet = start
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        target = int((now - start) * pps)
        while counts["flood_sent"] < target:
            flood.sendto(b"flood", (host, port))
            counts["flood_sent"] += 1
        if now >= next_quiet:
            quiet.sendto(b"quiet", (host, port))
            counts["quiet_sent"] += 1
            next_quiet += quiet_every
        time.sleep(0.0005)
    counts["elapsed"] = round(time.monotonic() - start, 3)
    stop.set()
    for r in readers:
        r.join()
    flood.close()
    quiet.close()
    return counts


def run_client(lifetime):
    threading.Timer(lifetime, lambda: os._exit(3)).start()
    held, load, holds = None, None, None
    for line in sys.stdin:
        cmd = json.loads(line)
        op, out = cmd["op"], {}
        t0 = time.monotonic()
        try:
            if op == "burst":
                with ThreadPoolExecutor(max_workers=cmd["parallel"]) as pool:
                    results = list(pool.map(one_connection, [cmd["host"]] * cmd["n"]))
                out = summarize(results)
            elif op == "upload":
                conn = http.client.HTTPConnection(cmd["host"], 80, timeout=10)
                conn.request("POST", "/", body=b"x" * cmd["bytes"])
                resp = conn.getresponse()
                out = {"reply": resp.read().decode().strip()}
                conn.close()
            elif op == "open":
                name, held = http_get(cmd["host"])
                out = {"backend": name}
            elif op == "again":
                name, held = http_get(None, held)
                out = {"backend": name}
            elif op == "close":
                held.close()
                held = None
            elif op == "udp":
                results = []
                for _ in range(cmd["n"]):
                    family = socket.AF_INET6 if ":" in cmd["host"] else socket.AF_INET
                    s = socket.socket(family, socket.SOCK_DGRAM)
                    s.settimeout(1.0)
                    try:
                        s.sendto(b"who", (cmd["host"], cmd["port"]))
                        results.append({"backend": s.recvfrom(2048)[0].decode()})
                    except OSError as e:
                        results.append({"error": f"{type(e).__name__}: {e}"})
                    finally:
                        s.close()
                out = summarize(results)
            elif op == "udp_flood":
                out = udp_flood(cmd["host"], cmd["port"], cmd["pps"], cmd["seconds"],
                                cmd["quiet_every"])
            elif op == "load_start":
                load = Load(cmd["host"], cmd["rate"], cmd["seconds"],
                            cmd.get("timeout", CONNECT_TIMEOUT))
            elif op == "load_stop":
                load.stop.set()
                load.thread.join()
                out = {"results": load.results, "now": time.monotonic()}
            elif op == "hold_start":
                holds = Held(cmd["host"], cmd["n"], cmd["every"], cmd["seconds"])
                # Every connection has its backend before the caller goes on.
                deadline = time.monotonic() + 10
                while (any(r["first"] is None and not r["errors"] for r in holds.results)
                       and time.monotonic() < deadline):
                    time.sleep(0.01)
                out = {"first": [r["first"] for r in holds.results]}
            elif op == "hold_stop":
                out = {"connections": holds.finish()}
            elif op == "now":
                out = {"now": time.monotonic()}
        except (OSError, http.client.HTTPException) as e:
            out = {"error": f"{type(e).__name__}: {e}"}
        out["seconds"] = round(time.monotonic() - t0, 3)
        print(json.dumps(out), flush=True)
    os._exit(0)


if __name__ == "__main__":
    if sys.argv[1] == "backend":
        run_backend(sys.argv[2], sys.argv[3], sys.argv[4],
                    [int(p) for p in sys.argv[5].split(",")], float(sys.argv[6]),
                    sys.argv[7] if len(sys.argv) > 7 else None)
    else:
        run_client(float(sys.argv[2]))
