# SPDX-License-Identifier: BSD-3-Clause
"""The tests' JSON-RPC 2.0 client: one request or reply per line on a Unix
socket (docs/dataplane-protocol.md, docs/control-protocol.md), written from
the protocol, not from the servers' code.

Connection keeps one connection for several calls; call() and request() are
one-shot (a connection of their own, for servers that restart). call()
returns the result and raises RpcError on an error reply; request() returns
the whole reply for tests that look at the error object itself.
Subscription reads a `subscribe` stream of notifications."""
import json
import socket
import time


class RpcError(Exception):
    """An error reply: code, message and data as the server sent them."""

    def __init__(self, method, error):
        self.method = method
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")
        super().__init__(f"{method}: {error}")


def _params(params, named):
    if named:
        if params is not None:
            raise TypeError("params given both as a dict and by name")
        return named
    return params


class Connection:
    """One connection, one request at a time (ids 1, 2, ...)."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""
        self.next_id = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_line(self, data):
        """Raw bytes as they are (the caller adds the newline, or not)."""
        self.sock.sendall(data)

    def read_line(self, timeout=None):
        """The next line as raw bytes without its newline, or None at EOF.
        With timeout, socket.timeout when nothing complete comes in time."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def request(self, method, params=None, **named):
        """The whole reply object of one request (checked: version and id)."""
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        self.next_id += 1
        params = _params(params, named)
        if params is not None:
            req["params"] = params
        self.send_line(json.dumps(req).encode() + b"\n")
        line = self.read_line()
        if line is None:
            raise ConnectionError(f"{method}: the server closed the connection")
        reply = json.loads(line)
        if reply.get("id") != req["id"] or reply.get("jsonrpc") != "2.0":
            raise ValueError(f"bad JSON-RPC reply {reply!r} to {req!r}")
        return reply

    def call(self, method, params=None, **named):
        """The result of one request; RpcError on an error reply."""
        reply = self.request(method, params, **named)
        if "error" in reply:
            raise RpcError(method, reply["error"])
        return reply["result"]

    def close(self):
        self.sock.close()


def outcome(reply):
    """(result, error) of a reply: one of them None."""
    return reply.get("result"), reply.get("error")


def request(path, method, params=None, timeout=5.0):
    """The whole reply of one request on a connection of its own."""
    with Connection(path, timeout) as c:
        return c.request(method, params)


def call(path, method, params=None, timeout=5.0, **named):
    """The result of one request on a connection of its own (RpcError on an
    error reply)."""
    with Connection(path, timeout) as c:
        return c.call(method, params, **named)


def answers(path, method="status.get", timeout=5.0):
    """Whether a server answers on path now (a socket file left by a killed
    one does not count)."""
    try:
        call(path, method, timeout=timeout)
        return True
    except (OSError, ValueError, RpcError):
        return False


def connect_when_ready(path, proc, timeout=30.0, what="the server"):
    """A Connection once proc's socket accepts one; RuntimeError if proc
    exits first, TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}) before its socket was up")
        try:
            return Connection(path)
        except OSError:
            pass
        time.sleep(0.005)
    raise TimeoutError(f"no socket at {path}")


class Subscription(Connection):
    """A `subscribe`d connection: snapshots and events as they come."""

    def __init__(self, path, interval_ms):
        super().__init__(path, 5.0)
        self.snapshots, self.events = [], []
        self.send_line((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                                    "params": {"interval_ms": interval_ms}}) + "\n").encode())
        self.first = self.read(5)

    def read(self, timeout):
        """The next message; OSError when the server ended the stream."""
        line = self.read_line(timeout)
        if line is None:
            raise OSError("subscription closed")
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
        """(the first event predicate accepts, seconds), or (None, timeout)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            for e in self.events:
                if predicate(e):
                    return e, time.monotonic() - start
            self.pump(0.05)
        return None, timeout
