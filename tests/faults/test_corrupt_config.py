# SPDX-License-Identifier: BSD-3-Clause
"""A corrupt or half-written configuration file at start, for edgelb-cp
(--config), edgelb-dp (--config and --state) and edgelb-xdp (--config and
--state): the daemon must exit non-zero with a message naming the file and
the problem, leave the file byte for byte as it was, and write nothing
beside it. A leftover temporary file of a crashed atomic write
("<file>.tmp.<pid>", elb_atomic_write_file's name) must not be taken for
the file: with a good file beside it, the good file is what is served;
without one, the daemon does not load it.
Root only (DPDK EAL, XDP attach; skipped otherwise). Run by pytest (--cp,
--dp, --xdp; without --xdp its cases are skipped): one test per daemon,
option and corruption, and one per daemon and option for the leftover
file; a FIGURE line per daemon for tools/adversarial-report.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import faultlib as fl
from edgelb_testlib import rpc
from edgelb_testlib.checks import Checker
from edgelb_testlib.proc import stop, wait_for
from edgelb_testlib.pytest_plugin import require_root

VIP = {"address": "198.51.100.1", "port": 80, "protocol": "tcp",
       "backends": [{"address": "203.0.113.1"}, {"address": "203.0.113.2"}]}
DP_CONFIG = {"node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
             "vips": [VIP]}
GOOD_DP = json.dumps(DP_CONFIG, indent=1).encode()


def cp_config(dp_sock):
    return json.dumps({"node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
                       "dataplanes": [{"name": "dp0", "socket": dp_sock}],
                       "vips": [VIP]}, indent=1).encode()


def corruptions(good):
    """(name, bytes, words one of which the error must contain)."""
    return [
        ("half-written (first half of a good file)", good[:len(good) // 2], ["parse", "json", "end"]),
        ("empty", b"", ["parse", "json", "empty", "end"]),
        ("NUL bytes (a crash that extended the file)", good[:40] + b"\0" * 4096, ["parse", "json", "nul"]),
        ("invalid UTF-8 in a string", good.replace(b"198.51.100.1", b"198.51.100.\xff", 1),
         ["utf", "address", "parse", "json"]),
        ("not an object", b"[1, 2, 3]\n", ["object"]),
        ("trailing garbage", good + b"\n}{\n", ["parse", "json", "trailing", "garbage"]),
        ("a NUL byte, then garbage, after a good file", good + b"\0}{", ["nul", "parse", "json"]),
    ]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dir_listing(d):
    return sorted(os.listdir(d))


# Known bugs in files this test's author may not change, reported: the
# check still runs; it counts as a failure if it starts to pass (remove the
# entry then) and is reported, not counted, while it fails.
KNOWN_BUGS = set()  # (daemon, kind, name) known to be accepted; none now


class Run:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.ck = Checker("test_corrupt_config")
        self.tag = str(os.getpid() % 100000)
        self.iface = None
        self.bpffs = None
        self.known = []
        self.messages = {}  # (daemon, kind, corruption) -> the daemon's error

    def run_to_exit(self, argv, timeout=15):
        try:
            p = subprocess.run(argv, capture_output=True, timeout=timeout)
            return p.returncode, (p.stdout + p.stderr).decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            return None, ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace")

    # ---- the daemons, started on one file; `kind` says which option it is
    def argv(self, daemon, kind, path, sock):
        if daemon == "edgelb-cp":
            return [self.args.cp, "--config", path, "--socket", sock]
        if daemon == "edgelb-dp":
            return [self.args.dp, "-l", "0-1", "--no-huge", "-m", "512", "--no-pci",
                    "--file-prefix", "cc" + self.tag, "--vdev", "net_null0", "--log-level=error",
                    "--", "--" + kind, path, "--socket", sock, "--kernel-iface", "none",
                    "--flows", "4096"]
        return [self.args.xdp, "--iface", self.iface, "--mode", "generic", "--" + kind, path,
                "--socket", sock, "--flows", "4096", "--pin-dir", self.bpffs]

    def one_corrupt(self, daemon, kind, name, data, words, good):
        d = tempfile.mkdtemp(dir=self.work)
        path = os.path.join(d, "state.json" if kind == "state" else "config.json")
        with open(path, "wb") as f:
            f.write(data)
        before = sha(path)
        listing = dir_listing(d)
        rc, out = self.run_to_exit(self.argv(daemon, kind, path, os.path.join(self.work, "x.sock")))
        first = next((l for l in out.splitlines() if path in l), out.strip()[-200:])
        named = path in out and any(w in out.lower() for w in words)
        if (daemon, kind, name) in KNOWN_BUGS:
            refused = rc not in (0, None) and named
            self.ck.check(not refused, "%s --%s %s: KNOWN BUG, still accepted (exit %s); "
                          "passing now means it was fixed: remove it from KNOWN_BUGS" %
                          (daemon, kind, name, rc))
            self.known.append("%s --%s %s: accepted" % (daemon, kind, name))
            shutil.rmtree(d, ignore_errors=True)
            return first.strip()
        self.ck.check(rc not in (0, None), "%s --%s %s: exits %s" % (daemon, kind, name, rc))
        self.ck.check(named, "%s --%s %s: the error names the file and the problem: %s" %
                      (daemon, kind, name, first.strip()))
        self.ck.check(sha(path) == before, "%s --%s %s: file unchanged" % (daemon, kind, name))
        self.ck.check(dir_listing(d) == listing, "%s --%s %s: nothing written beside it (%s)" %
                      (daemon, kind, name, dir_listing(d)))
        if daemon == "edgelb-xdp":
            link = subprocess.run(["ip", "-d", "link", "show", self.iface], capture_output=True,
                                  text=True).stdout
            self.ck.check("prog/xdp" not in link, "%s --%s %s: no XDP program left attached to %s" %
                          (daemon, kind, name, self.iface))
        shutil.rmtree(d, ignore_errors=True)
        return first.strip()

    def leftover_tmp(self, daemon, kind, good, serves):
        """A crashed atomic write left <file>.tmp.<pid> (garbage, or a newer
        half-written config). With the good file beside it: started on the
        good one, the tmp untouched. Without it: no start from the tmp."""
        d = tempfile.mkdtemp(dir=self.work)
        path = os.path.join(d, "state.json" if kind == "state" else "config.json")
        tmp = path + ".tmp.4242"
        with open(path, "wb") as f:
            f.write(good)
        with open(tmp, "wb") as f:
            f.write(good.replace(b"203.0.113.2", b"203.0.113.9")[: len(good) - 7])
        tmp_sha, good_sha = sha(tmp), sha(path)
        sock = os.path.join(self.work, "t%s.sock" % daemon[-2:])
        proc = subprocess.Popen(self.argv(daemon, kind, path, sock), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            method = "ping" if daemon != "edgelb-cp" else "vip.list"
            wait_for(daemon + " socket",
                     lambda: "result" in rpc.request(sock, method, timeout=10.0), 30, proc)
            served = serves(sock)
            self.ck.check(served == ["203.0.113.1", "203.0.113.2"],
                          "%s --%s with a leftover %s: serves the good file's backends %s" %
                          (daemon, kind, os.path.basename(tmp), served))
        except (RuntimeError, TimeoutError) as e:
            self.ck.check(False, "%s --%s with a leftover tmp file: %s" % (daemon, kind, e))
        finally:
            rc = stop(proc)
        self.ck.check(rc == 0, "%s: exit %s on SIGTERM" % (daemon, rc))
        self.ck.check(os.path.exists(tmp) and sha(tmp) == tmp_sha,
                      "%s --%s: the leftover tmp file is left as it was" % (daemon, kind))
        if kind == "config":
            self.ck.check(sha(path) == good_sha, "%s --%s: the good file is unchanged" % (daemon, kind))
        # Without the good file: the tmp must not be loaded. The dataplane's
        # state file may be absent (then --config or empty is the start):
        # it must then not serve the tmp's backends.
        os.unlink(path)
        if kind == "state":
            proc = subprocess.Popen(self.argv(daemon, kind, path, sock), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                wait_for(daemon + " socket",
                         lambda: "result" in rpc.request(sock, "ping", timeout=10.0), 30, proc)
                vips = rpc.request(sock, "config.get", timeout=10.0)["result"]["config"]["vips"]
                self.ck.check(vips == [], "%s --state missing, tmp beside: starts empty, not "
                              "from the tmp (%d VIPs)" % (daemon, len(vips)))
            except (RuntimeError, TimeoutError) as e:
                self.ck.check(False, "%s --state missing: %s" % (daemon, e))
            finally:
                stop(proc)
        else:
            rc, out = self.run_to_exit(self.argv(daemon, kind, path, sock))
            self.ck.check(rc not in (0, None) and path in out,
                          "%s --%s missing, tmp beside: refuses to start (%s): %s" %
                          (daemon, kind, rc, out.strip().splitlines()[-1] if out.strip() else ""))
        self.ck.check(sha(tmp) == tmp_sha, "%s --%s: the tmp is still untouched" % (daemon, kind))
        shutil.rmtree(d, ignore_errors=True)

    def setup_xdp(self):
        self.iface = "elbcc" + self.tag
        peer = "elbcp" + self.tag
        subprocess.run(["ip", "link", "add", self.iface, "type", "veth", "peer", "name", peer],
                       check=True)
        subprocess.run(["ip", "link", "set", self.iface, "up"], check=True)
        subprocess.run(["ip", "link", "set", peer, "up"], check=True)
        self.bpffs = os.path.join(self.work, "bpffs")
        os.makedirs(self.bpffs)
        subprocess.run(["mount", "-t", "bpf", "bpf", self.bpffs], check=True)

    def teardown_xdp(self):
        if self.iface:
            subprocess.run(["ip", "link", "del", self.iface], stderr=subprocess.DEVNULL)
        if self.bpffs:
            subprocess.run(["umount", self.bpffs], stderr=subprocess.DEVNULL)

    def good(self, daemon):
        """The good file of daemon: a config or a state file."""
        if daemon == "edgelb-cp":
            return cp_config(os.path.join(self.work, "absent-dp.sock"))
        return GOOD_DP

    def emit_figures(self):
        targets = [t for t in TARGETS if any(k[:2] == t for k in self.messages)]
        for daemon in sorted({t[0] for t in targets}):
            ex = self.messages.get((daemon, "config", CORRUPTIONS[0]), "")
            fl.figure("corrupt config at start: %s (%s)" % (daemon, ", ".join(
                      sorted({"--" + k for d, k in targets if d == daemon}))),
                      "7 corruptions each (half-written, empty, NUL-filled, invalid UTF-8, not an "
                      "object, trailing garbage, NUL then garbage): exit non-zero naming the file, "
                      "file unchanged; "
                      "a leftover .tmp.<pid> is never loaded" +
                      ("; except the BUG rows below" if any(b[0] == daemon for b in KNOWN_BUGS) else ""),
                      "e.g. `%s`" % ex.replace(self.work, "…")[:160])
        for k in self.known:
            fl.figure("corrupt config at start: " + k.split(":")[0], "BUG: started as if the file "
                      "were good (controlplane/cp_config.c cp_config_parse ignores what follows the "
                      "first JSON value, a NUL byte included)",
                      "exit code none (kept running)")


def dp_backends(sock):
    cfg = rpc.request(sock, "config.get", timeout=10.0)["result"]["config"]
    return sorted(b["address"] for v in cfg["vips"] for b in v["backends"])


def cp_backends(sock):
    res = rpc.request(sock, "config.get", timeout=10.0)["result"]
    cfg = res.get("config", res)
    return sorted(b["address"] for v in cfg["vips"] for b in v["backends"])


TARGETS = [("edgelb-cp", "config"), ("edgelb-dp", "config"), ("edgelb-dp", "state"),
           ("edgelb-xdp", "config"), ("edgelb-xdp", "state")]
CORRUPTIONS = [name for name, _, _ in corruptions(GOOD_DP)]


@pytest.fixture(scope="module")
def run(opts, workdir):
    """The daemons' runs, a veth and a bpffs for edgelb-xdp (with --xdp);
    the figures printed at the end."""
    require_root("edgelb-dp (EAL) and edgelb-xdp")
    r = Run(opts, workdir)
    try:
        if opts.xdp:
            r.setup_xdp()
        yield r
        r.emit_figures()
    finally:
        r.teardown_xdp()
        fl.remove_eal_runtime("cc" + r.tag)


def needs(run, daemon):
    if daemon == "edgelb-xdp" and not run.args.xdp:
        pytest.skip("no --xdp")


@pytest.mark.parametrize("daemon,kind", TARGETS, ids=["%s-%s" % t for t in TARGETS])
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupt_file_refused(run, daemon, kind, corruption):
    needs(run, daemon)
    good = run.good(daemon)
    _, data, words = next(c for c in corruptions(good) if c[0] == corruption)
    with run.ck.scope():
        run.messages[(daemon, kind, corruption)] = run.one_corrupt(daemon, kind, corruption,
                                                                   data, words, good)


@pytest.mark.parametrize("daemon,kind", TARGETS, ids=["%s-%s" % t for t in TARGETS])
def test_leftover_tmp_never_loaded(run, daemon, kind):
    needs(run, daemon)
    with run.ck.scope():
        run.leftover_tmp(daemon, kind, run.good(daemon),
                         cp_backends if daemon == "edgelb-cp" else dp_backends)
