# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-dp as a process: start-up config, control socket, exception path,
SIGTERM.

edgelb-dp reads a generated pcap through a net_pcap port (no hugepages), with
a TAP interface for the exception path. Checks:
  - what it forwards is byte for byte what edgelb-replay forwards for the
    same input and config (the config has no rate limit and long timeouts,
    so the clock, TSC here and pcap there, cannot change a verdict);
  - counters.get over the socket: rx equals the input, the verdict counts
    equal replay's;
  - the packets not for a VIP reach the kernel: the TAP interface's RX
    counter grows by the to_kernel count;
  - what the kernel sends goes out of the data port: ARP requests from the
    TAP interface's address appear in the output pcap with the port's MAC;
  - SIGTERM: exit status 0 and the final counters printed.
Root only (skipped otherwise). Run by pytest (--dp, --replay, --pktgen, --lcores).
"""
import json
import os
import subprocess
import time

import pytest

from edgelb_testlib import rpc
from edgelb_testlib.pcap import read_pcap
from edgelb_testlib.proc import stop_and_collect
from edgelb_testlib.pytest_plugin import require_root

CONFIG = {
    "node": {"source_v4": "192.168.10.1", "source_v6": "fd00::1",
             "gateway_mac": "02:00:00:00:00:fe"},
    "vips": [
        {"address": "10.0.0.10", "port": 80, "protocol": "tcp",
         "timeouts": {"tcp_established_ms": 3600000, "tcp_syn_ms": 3600000,
                      "tcp_closing_ms": 3600000, "udp_ms": 3600000},
         "backends": [{"address": "10.200.0.1"}, {"address": "10.200.0.2"},
                      {"address": "10.200.0.3", "weight": 2}]},
        {"address": "10.0.0.10", "port": 80, "protocol": "udp",
         "backends": [{"address": "10.200.0.1"}]},
        {"address": "2001:db8::10", "port": 80, "protocol": "tcp",
         "backends": [{"address": "fd00::200:1"}, {"address": "fd00::200:2"}]},
        {"address": "2001:db8::10", "port": 80, "protocol": "udp",
         "backends": [{"address": "fd00::200:1"}]},
    ],
}
TAP = "elbtest0"


@pytest.fixture(scope="module")
def inputs(opts, workdir):
    """The generated pcap, its config, and what edgelb-replay makes of it:
    (paths, number of input frames, verdict counts)."""
    require_root("TAP interface")
    paths = {name: os.path.join(workdir, name) for name in
             ("config.json", "in.pcap", "out-dp.pcap", "out-replay.pcap", "verdicts.jsonl",
              "dp.sock")}
    with open(paths["config.json"], "w") as f:
        json.dump(CONFIG, f)
    # Rate floods off: with no limit configured they would only be flows.
    subprocess.run([opts.pktgen, "--out", paths["in.pcap"], "--packets", "20000", "--seed", "11",
                    "--rate-flows", "0"], check=True, stdout=subprocess.DEVNULL)
    n_in = len(read_pcap(paths["in.pcap"]))
    subprocess.run([opts.replay, "--config", paths["config.json"], "--in", paths["in.pcap"],
                    "--out", paths["out-replay.pcap"], "--verdicts", paths["verdicts.jsonl"]],
                   check=True, stderr=subprocess.DEVNULL)
    want = {"forward": 0, "reply": 0, "kernel": 0, "drop": 0}
    with open(paths["verdicts.jsonl"]) as f:
        for line in f:
            want[json.loads(line)["verdict"]] += 1
    return paths, n_in, want


@pytest.fixture(scope="module")
def dp(opts, inputs):
    """edgelb-dp on the pcap (net_pcap port, TAP for the kernel); killed at
    the end if a test did not stop it."""
    paths = inputs[0]
    proc = subprocess.Popen(
        [opts.dp, "--lcores", opts.lcores or "0-1", "--no-huge", "-m", "512", "--no-pci",
         f"--file-prefix=elb-dp-test-{os.getpid()}", "--log-level=error",
         "--vdev", f"net_pcap0,rx_pcap={paths['in.pcap']},tx_pcap={paths['out-dp.pcap']}", "--",
         "--config", paths["config.json"], "--socket", paths["dp.sock"], "--flows", "65536",
         "--kernel-iface", "elbtest"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def control(dp, inputs):
    """A connection to the control socket, once it appears (60 s at most)."""
    sock = inputs[0]["dp.sock"]
    deadline = time.time() + 60
    while not os.path.exists(sock) and time.time() < deadline and dp.poll() is None:
        time.sleep(0.2)
    assert os.path.exists(sock), "control socket appears"
    with rpc.Connection(sock) as conn:
        yield conn


@pytest.fixture(scope="module")
def counters(control, inputs):
    """counters.get once rx has reached the input's size (or 60 s)."""
    n_in = inputs[1]
    deadline = time.time() + 60
    while True:
        c = control.call("counters.get")["counters"]
        if c["rx"]["packets"] >= n_in or time.time() >= deadline:
            return c
        time.sleep(0.2)


def test_rx_counts_the_input(counters, inputs):
    n_in = inputs[1]
    assert counters["rx"]["packets"] == n_in, f"rx {counters['rx']['packets']} == input {n_in}"


def test_verdict_counts_are_replays(counters, inputs):
    want = inputs[2]
    got = {"forward": counters["forwarded"]["packets"],
           "reply": counters["too_big_replies"]["packets"],
           "kernel": counters["to_kernel"]["packets"],
           "drop": counters["dropped"]["packets"]}
    assert got == want, f"verdict counts {got} == replay's {want}"


def test_tap_receives_the_kernels_packets(counters, inputs):
    want = inputs[2]
    time.sleep(1.0)  # the kernel reads the TAP queue asynchronously
    with open(f"/sys/class/net/{TAP}/statistics/rx_packets") as f:
        tap_rx = int(f.read())
    assert tap_rx >= want["kernel"], \
        f"TAP {TAP} received {tap_rx} >= {want['kernel']} packets for the kernel"


@pytest.fixture(scope="module")
def kernel_pinged(counters):
    """Kernel to wire: the kernel ARPs for a neighbour out of the TAP interface."""
    subprocess.run(["ip", "link", "set", TAP, "up"], check=True)
    subprocess.run(["ip", "addr", "add", "198.51.100.1/24", "dev", TAP], check=True)
    subprocess.run(["ping", "-c", "2", "-W", "1", "-I", TAP, "198.51.100.77"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_status_shows_the_kernel_port(control, kernel_pinged):
    status = control.call("status.get")
    assert status["status"]["ports"][0]["kernel_port"], "status.get shows the kernel port"


def test_counters_list_every_worker(control, counters, kernel_pinged):
    n_workers = control.call("status.get")["status"]["workers"]
    assert len(counters["workers"]) == n_workers, f"counters list all {n_workers} workers"


def test_backend_change_reclaims_the_old_snapshot(control, kernel_pinged):
    # A live change: the old snapshot is freed once every worker has
    # passed a quiescent point, which idle workers do continuously.
    change, error = rpc.outcome(control.request("backends.set", {
        "address": "10.0.0.10", "port": 80, "protocol": "tcp",
        "backends": [{"address": "10.200.0.1"}, {"address": "10.200.0.9"}]}))
    assert error is None and change["changed"], f"a backend change applies ({error})"
    # The control thread reclaims on its own timer: on a loaded machine
    # that can take longer than a fixed pause, so poll (bounded).
    deadline = time.monotonic() + 5
    while True:
        waiting = control.call("status.get")["status"]["snapshots_awaiting_reclaim"]
        if waiting == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert waiting == 0, f"old snapshot reclaimed after the change ({waiting} waiting)"


@pytest.fixture(scope="module")
def stopped(dp, kernel_pinged):
    """SIGTERM: (exit status, what edgelb-dp printed)."""
    output, _ = stop_and_collect(dp)
    return dp.returncode, output


def test_sigterm_exits_0(stopped):
    assert stopped[0] == 0, f"SIGTERM: exit status {stopped[0]} == 0"


def test_final_counters_printed(stopped):
    assert "final counters" in stopped[1], "final counters printed"


@pytest.fixture(scope="module")
def outputs(stopped, inputs):
    """(frames forwarded to the gateway, the kernel's frames, replay's
    frames, the port's MAC) of the output pcaps."""
    paths = inputs[0]
    dp_frames = [data for _, data in read_pcap(paths["out-dp.pcap"])]
    replay_frames = [data for _, data in read_pcap(paths["out-replay.pcap"])]
    gateway = bytes.fromhex(CONFIG["node"]["gateway_mac"].replace(":", ""))
    port_mac = replay_frames[0][6:12] if replay_frames else b""
    # Balancer output goes to the gateway; the rest is the kernel's own
    # (ARP, and the IPv6 router solicitations of an interface coming up).
    forwarded = [f for f in dp_frames if f[0:6] == gateway]
    kernel = [f for f in dp_frames if f[0:6] != gateway]
    return forwarded, kernel, replay_frames, port_mac


def test_kernel_arp_goes_out_of_the_data_port(outputs):
    kernel = outputs[1]
    arp = [f for f in kernel if f[12:14] == b"\x08\x06" and f[28:32] == bytes([198, 51, 100, 1])]
    assert len(arp) >= 1, f"{len(arp)} ARP request(s) from the kernel went out of the data port"


def test_kernel_frames_carry_the_port_mac(outputs):
    kernel, port_mac = outputs[1], outputs[3]
    assert all(f[6:12] == port_mac for f in kernel), \
        f"all {len(kernel)} kernel frames carry the port's MAC {port_mac.hex(':')}"


def test_forwarded_as_many_frames_as_replay(outputs):
    forwarded, replay_frames = outputs[0], outputs[2]
    assert len(forwarded) == len(replay_frames), \
        f"edgelb-dp sent {len(forwarded)} frames, replay {len(replay_frames)}"


def test_forwarded_frames_are_replays(outputs):
    forwarded, replay_frames = outputs[0], outputs[2]
    same = sum(1 for a, b in zip(forwarded, replay_frames) if a == b)
    assert same == len(replay_frames), \
        f"{same} of {len(replay_frames)} frames byte-identical to replay's"
