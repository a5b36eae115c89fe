#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-cp refuses a dataplane whose protocol it does not speak.

Three fake dataplanes (Unix sockets answering the dataplane protocol from
Python, no DPDK, no root): "good" answers ping with edgelb-cp's protocol,
"future" with protocol + 1, "old" with no protocol member at all. Checks:
  - `ping` of edgelb-cp names its version and protocol;
  - "good" gets a config.set (so the fakes are convincing), the other two get
    nothing but pings: no config.set, no counters.get, no vip.tables;
  - each refusal is a `dataplane_refused` event and a log line naming the
    dataplane, the protocol it speaks and the one edgelb-cp speaks;
  - dataplanes.get reports them with state "refused", their protocol and
    the reason in last_error; `edgelbctl dataplanes` shows "refused".
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cplib import Harness, Subscriber, rpc, run_in_workdir, wait_for  # noqa: E402


class FakeDataplane:
    """Answers ping with `protocol` (None: leaves the member out) and
    accepts whatever else comes, recording every method called."""

    def __init__(self, path, protocol):
        self.protocol = protocol
        self.methods = []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        threading.Thread(target=self.accept, daemon=True).start()

    def called(self, method):
        with self.lock:
            return self.methods.count(method)

    def accept(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def answer(self, req):
        method = req.get("method")
        with self.lock:
            self.methods.append(method)
        if method == "ping":
            r = {"pong": True, "epoch": 1, "dataplane": "fake", "instance": "00000000000000f1",
                 "version": "fake-9.9"}
            if self.protocol is not None:
                r["protocol"] = self.protocol
            return {"result": r}
        if method == "config.set":
            return {"result": {"epoch": 2, "changed": True}}
        if method == "counters.get":
            return {"result": {"epoch": 2, "counters": {"vips": []}}}
        if method == "vip.tables":
            return {"result": {"epoch": 2, "vips": []}}
        return {"error": {"code": -32601, "message": "method not found"}}

    def serve(self, conn):
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(1 << 20)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req = json.loads(line)
                    reply = {"jsonrpc": "2.0", "id": req.get("id")}
                    reply.update(self.answer(req))
                    conn.sendall((json.dumps(reply) + "\n").encode())

    def close(self):
        self.srv.close()


class Test(Harness):
    def __init__(self, args, work):
        super().__init__(work)
        self.args = args
        self.cp_sock = os.path.join(work, "cp.sock")
        self.config = os.path.join(work, "cp.json")
        self.sockets = {n: os.path.join(work, n + ".sock") for n in ("good", "future", "old")}

    def run(self):
        config = {
            "node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
            "dataplanes": [{"name": n, "socket": s} for n, s in self.sockets.items()],
            "vips": [{"address": "198.51.100.1", "port": 80, "protocol": "tcp",
                      "backends": [{"address": "10.77.0.1"}]}]}
        with open(self.config, "w") as f:
            json.dump(config, f)
        fakes = []
        try:
            self.start("cp", [self.args.cp, "--config", self.config, "--socket", self.cp_sock])
            wait_for("edgelb-cp's socket", lambda: "result" in rpc(self.cp_sock, "vip.list"), 10)
            out = subprocess.run([self.args.cp, "--version"], capture_output=True, text=True)
            name, version, _, speaks = out.stdout.split()
            speaks = int(speaks)
            pong = rpc(self.cp_sock, "ping").get("result", {})
            self.check(pong.get("pong") is True and pong.get("version") == version and
                       pong.get("protocol") == speaks,
                       f"edgelb-cp ping: {json.dumps(pong)} (--version: {out.stdout.strip()})")
            # Subscribed before the dataplanes exist: no event can be missed.
            sub = Subscriber(self.cp_sock, 1000)
            fakes = [FakeDataplane(self.sockets["good"], speaks),
                     FakeDataplane(self.sockets["future"], speaks + 1),
                     FakeDataplane(self.sockets["old"], None)]
            good, future, old = fakes
            wait_for("config.set to the good dataplane", lambda: good.called("config.set") > 0, 10)
            wait_for("pings answered by the refused ones",
                     lambda: future.called("ping") >= 2 and old.called("ping") >= 2, 10)
            # counters.get goes out every second to a managed dataplane.
            wait_for("counters.get to the good dataplane",
                     lambda: good.called("counters.get") > 0, 10)
            for fake, n in ((future, "future"), (old, "old")):
                with fake.lock:
                    others = sorted(set(m for m in fake.methods if m != "ping"))
                self.check(others == [], f"{n}: nothing but pings ({others or 'none'})")

            want = {"future": f"dataplane future speaks protocol {speaks + 1}, "
                              f"edgelb-cp speaks {speaks}: not managed",
                    "old": "dataplane old does not say which protocol it speaks, "
                           f"edgelb-cp speaks {speaks}: not managed"}
            for n, text in want.items():
                e, _ = sub.wait_event(lambda ev, n=n: ev.get("type") == "dataplane_refused" and
                                      ev.get("dataplane") == n, 5)
                self.check(e is not None and e.get("error") == text and
                           e.get("expected_protocol") == speaks and
                           e.get("protocol") == (speaks + 1 if n == "future" else None),
                           f"{n}: event {json.dumps(e)}")
            with open(os.path.join(self.work, "cp.log"), errors="replace") as f:
                log = f.read()
            for n, text in want.items():
                self.check(log.count(text) == 1, f"{n}: logged once: '{text}'")

            dps = {d["name"]: d for d in rpc(self.cp_sock, "dataplanes.get")["result"]["dataplanes"]}
            g = dps["good"]
            self.check(g["state"] == "managed" and g["protocol"] == speaks and g["in_sync"] and
                       g["version"] == "fake-9.9", f"good: {json.dumps(g)}")
            for n, text in want.items():
                d = dps[n]
                self.check(d["connected"] and d["state"] == "refused" and not d["in_sync"] and
                           d["pushed_generation"] == 0 and d["last_error"] == text and
                           d["protocol"] == (speaks + 1 if n == "future" else None),
                           f"{n}: dataplanes.get {json.dumps(d)}")
            ctl = subprocess.run([self.args.ctl, "--socket", self.cp_sock, "dataplanes"],
                                 capture_output=True, text=True)
            rows = {l.split()[0]: l.split()[1] for l in ctl.stdout.splitlines()[1:] if l.split()}
            self.check(rows == {"good": "yes", "future": "refused", "old": "refused"},
                       f"edgelbctl dataplanes: {rows}")
        finally:
            self.stop_all()
            for fake in fakes:
                fake.close()
        return 1 if self.failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cp", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    return run_in_workdir(Test, args, "elb-cp-proto-")


if __name__ == "__main__":
    sys.exit(main())
