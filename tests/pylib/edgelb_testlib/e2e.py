# SPDX-License-Identifier: BSD-3-Clause
"""The end-to-end topology (tools/netns-topology: client, router, lb and
three backends in namespaces), the dataplanes on the lb's veth, and the
agents of agents.py in the namespaces; with the checks the
drivers count (check, FAILURES). Used by tests/e2e, tests/dp, tests/fleet,
tests/upgrade and tools/live-demo. Runs in the caller's namespace."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from edgelb_testlib import rpc
from edgelb_testlib.checks import Checker
from edgelb_testlib.netns import sh

HERE = os.path.dirname(os.path.abspath(__file__))
TOPOLOGY = os.path.join(HERE, "..", "..", "..", "tools", "netns-topology", "netns-topology")
AGENTS = os.path.join(HERE, "agents.py")
DATAPLANE = {"dpdk": "edgelb-dp", "xdp": "edgelb-xdp"}
TAP_PREFIX = "elb"
# The drivers' checks: each prints a line, the failed ones stay in FAILURES.
CHECKS = Checker()
check = CHECKS.check
FAILURES = CHECKS.failures


class Client:
    """An agent in the client namespace, driven one JSON line at a time:
    agents.py's client, or another script's (held.py's held downloads)."""

    def __init__(self, ns, lifetime, script=AGENTS, what="client agent"):
        self.what = what
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, script, "client", str(lifetime)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def do(self, op, **args):
        self.proc.stdin.write(json.dumps(dict(op=op, **args)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.what} gone during {op}")
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def shares_ok(what, shares, total, weights, tolerance):
    """Each backend's share of `total` within `tolerance` (absolute) of its weight's."""
    weight_sum = sum(weights.values())
    for name, weight in weights.items():
        got = shares.get(name, 0) / total if total else 0.0
        want = weight / weight_sum
        check(abs(got - want) <= tolerance,
              f"{what}: {name} served {got:.1%} (weight share {want:.1%} +- {tolerance:.0%})")
    check(set(shares) <= set(weights), f"{what}: only known backends answered ({sorted(shares)})")


@contextlib.contextmanager
def topology(tag, decap, dataplane):
    """tools/netns-topology up TAG ... down TAG (also after a failure), and for
    the XDP dataplane a bpffs of its own: `ip netns exec` remounts /sys,
    hiding /sys/fs/bpf, and the namespace's shell inherits a mount made here.
    Yields the topology's KEY=VALUE description as a dict, plus PIN_DIR."""
    env = dict(os.environ, EDGELB_DECAP=os.path.abspath(decap),
               LB_ADDRESS="none" if dataplane == "dpdk" else "iface")
    bpffs = f"/tmp/elb-e2e-bpffs-{os.getpid()}"
    if dataplane == "xdp":
        os.makedirs(bpffs, exist_ok=True)
        subprocess.run(["mount", "-t", "bpf", "bpf", bpffs], check=True)
    try:
        up = subprocess.run([TOPOLOGY, "up", tag], env=env, text=True, capture_output=True)
        if not check(up.returncode == 0, f"topology {tag} up ({up.stderr.strip()[:300]})"):
            yield None
            return
        topo = dict(line.split("=", 1) for line in up.stdout.splitlines() if "=" in line)
        topo["PIN_DIR"] = os.path.join(bpffs, "edgelb")
        yield topo
    finally:
        subprocess.run([TOPOLOGY, "down", tag], env=env, capture_output=True)
        # EAL's runtime directory of a DPDK dataplane run with --file-prefix=TAG.
        shutil.rmtree(f"/var/run/dpdk/{tag}", ignore_errors=True)
        if dataplane == "xdp":
            subprocess.run(["umount", bpffs], capture_output=True)
            os.rmdir(bpffs)


def dataplane_argv(kind, binary, topo, sock, tag, config=None, state=None):
    """The dataplane on the lb's veth: edgelb-dp through net_af_xdp, or
    edgelb-xdp in generic mode with its maps pinned in the topology's bpffs."""
    if kind == "dpdk":
        argv = [binary, "-l", "0-1", "--no-huge", "-m", "512", "--no-pci",
                f"--file-prefix={tag}", "--log-level=error",
                "--vdev", f"net_af_xdp0,iface={topo['LB_IFACE']}", "--",
                "--socket", sock, "--flows", "65536", "--kernel-iface", TAP_PREFIX]
    else:
        argv = [binary, "--iface", topo["LB_IFACE"], "--mode", "generic", "--socket", sock,
                "--flows", "65536", "--pin-dir", topo["PIN_DIR"]]
    return argv + (["--config", config] if config else []) + (["--state", state] if state else [])


def dataplane_answers(sock):
    return "instance" in rpc.call(sock, "status.get")


def start_dataplane(kind, binary, topo, sock, tag, config=None, log=None, timeout=60,
                    state=None, argv=None):
    """Starts the dataplane in the lb namespace and waits until its socket
    answers (a socket file left by a killed one does not count). For DPDK,
    then puts the node's addresses and routes on its TAP port, as an
    operator's network configuration would. argv replaces dataplane_argv's
    command line (another port or lcores; the same socket and TAP prefix).
    Returns (process, seconds), the process None if it did not come up."""
    if os.path.exists(sock):
        os.unlink(sock)
    t0 = time.monotonic()
    proc = subprocess.Popen(["ip", "netns", "exec", topo["NS_LB"]] +
                            (argv or dataplane_argv(kind, binary, topo, sock, tag, config, state)),
                            stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while (time.monotonic() - t0 < timeout and proc.poll() is None
           and not dataplane_answers_quietly(sock)):
        time.sleep(0.02)
    up = time.monotonic() - t0
    if not check(proc.poll() is None and dataplane_answers_quietly(sock),
                 f"{DATAPLANE[kind]} up on the lb's veth in {up:.1f} s"):
        stop_process(proc, signal.SIGKILL)
        return None, up
    if kind == "dpdk":
        tap, lb = f"{TAP_PREFIX}0", topo["NS_LB"]
        sh("ip", "addr", "add", f"{topo['LB4']}/{topo['LB4_PREFIX']}", "dev", tap, ns=lb)
        sh("ip", "addr", "add", f"{topo['LB6']}/{topo['LB6_PREFIX']}", "dev", tap, "nodad", ns=lb)
        sh("ip", "link", "set", tap, "up", ns=lb)
        sh("ip", "route", "add", "default", "via", topo["LB_GATEWAY4"], ns=lb)
        sh("ip", "-6", "route", "add", "default", "via", topo["LB_GATEWAY6"], ns=lb)
    return proc, up


def dataplane_answers_quietly(sock):
    try:
        return dataplane_answers(sock)
    except (OSError, ValueError, rpc.RpcError):
        return False


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    """Signal proc and reap it (SIGKILL if it outlives timeout); its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode


def start_backend(topo, index, name, udp_ports, lifetime, health=False):
    """agents.py backend in backend namespace `index` (1..3); with
    health, it also serves HTTP on the backend's own IPv4 address (where a
    health check reaches it). Returns the process once it is serving."""
    argv = ["ip", "netns", "exec", topo[f"BACKEND{index}_NS"], sys.executable, AGENTS,
            "backend", name, topo["VIP4"], topo["VIP6"],
            ",".join(str(p) for p in sorted(udp_ports)), str(lifetime)]
    if health:
        argv.append(topo[f"BACKEND{index}_4"])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    check(proc.stdout.readline().strip() == "ready", f"backend {name} serving")
    return proc
