#!/usr/bin/env python3
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
Root only (exit 77 otherwise).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "replay"))
from replaylib import RpcClient, read_pcap  # noqa: E402  (the tests' shared helpers)

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
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def tap_rx_packets():
    with open(f"/sys/class/net/{TAP}/statistics/rx_packets") as f:
        return int(f.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dp", required=True)
    ap.add_argument("--replay", required=True)
    ap.add_argument("--pktgen", required=True)
    ap.add_argument("--lcores", default="0-1",
                    help="EAL --lcores: '0@0,1@1,2@1' runs two workers on this 2-CPU machine")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (TAP interface)")
        return 77

    tmp = tempfile.mkdtemp(prefix="elb-dp-test-")
    cfg, inp = os.path.join(tmp, "config.json"), os.path.join(tmp, "in.pcap")
    out_dp, out_replay = os.path.join(tmp, "out-dp.pcap"), os.path.join(tmp, "out-replay.pcap")
    verdicts, sock = os.path.join(tmp, "verdicts.jsonl"), os.path.join(tmp, "dp.sock")
    with open(cfg, "w") as f:
        json.dump(CONFIG, f)
    # Rate floods off: with no limit configured they would only be flows.
    subprocess.run([args.pktgen, "--out", inp, "--packets", "20000", "--seed", "11",
                    "--rate-flows", "0"], check=True, stdout=subprocess.DEVNULL)
    n_in = len(read_pcap(inp))

    subprocess.run([args.replay, "--config", cfg, "--in", inp, "--out", out_replay,
                    "--verdicts", verdicts], check=True, stderr=subprocess.DEVNULL)
    want = {"forward": 0, "reply": 0, "kernel": 0, "drop": 0}
    with open(verdicts) as f:
        for line in f:
            want[json.loads(line)["verdict"]] += 1

    dp = subprocess.Popen(
        [args.dp, "--lcores", args.lcores, "--no-huge", "-m", "512", "--no-pci",
         f"--file-prefix=elb-dp-test-{os.getpid()}", "--log-level=error",
         "--vdev", f"net_pcap0,rx_pcap={inp},tx_pcap={out_dp}", "--",
         "--config", cfg, "--socket", sock, "--flows", "65536", "--kernel-iface", "elbtest"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while not os.path.exists(sock) and time.time() < deadline and dp.poll() is None:
            time.sleep(0.2)
        check(os.path.exists(sock), "control socket appears")
        rpc = RpcClient(sock)
        counters = None
        while time.time() < deadline:
            counters = rpc.call("counters.get")[0]["counters"]
            if counters["rx"]["packets"] >= n_in:
                break
            time.sleep(0.2)
        check(counters["rx"]["packets"] == n_in, f"rx {counters['rx']['packets']} == input {n_in}")
        got = {"forward": counters["forwarded"]["packets"],
               "reply": counters["too_big_replies"]["packets"],
               "kernel": counters["to_kernel"]["packets"],
               "drop": counters["dropped"]["packets"]}
        check(got == want, f"verdict counts {got} == replay's {want}")
        time.sleep(1.0)  # the kernel reads the TAP queue asynchronously
        tap_rx = tap_rx_packets()
        check(tap_rx >= want["kernel"],
              f"TAP {TAP} received {tap_rx} >= {want['kernel']} packets for the kernel")

        # Kernel to wire: the kernel ARPs for a neighbour out of the TAP interface.
        subprocess.run(["ip", "link", "set", TAP, "up"], check=True)
        subprocess.run(["ip", "addr", "add", "198.51.100.1/24", "dev", TAP], check=True)
        subprocess.run(["ping", "-c", "2", "-W", "1", "-I", TAP, "198.51.100.77"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        status = rpc.call("status.get")[0]
        check(status["status"]["ports"][0]["kernel_port"], "status.get shows the kernel port")
        n_workers = status["status"]["workers"]
        check(len(counters["workers"]) == n_workers, f"counters list all {n_workers} workers")

        # A live change: the old snapshot is freed once every worker has
        # passed a quiescent point, which idle workers do continuously.
        change, error = rpc.call("backends.set", {
            "address": "10.0.0.10", "port": 80, "protocol": "tcp",
            "backends": [{"address": "10.200.0.1"}, {"address": "10.200.0.9"}]})
        check(error is None and change["changed"], "a backend change applies")
        time.sleep(0.5)
        waiting = rpc.call("status.get")[0]["status"]["snapshots_awaiting_reclaim"]
        check(waiting == 0, f"old snapshot reclaimed after the change ({waiting} waiting)")
    finally:
        dp.send_signal(signal.SIGTERM)
        try:
            output, _ = dp.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            dp.kill()
            output, _ = dp.communicate()
    check(dp.returncode == 0, f"SIGTERM: exit status {dp.returncode} == 0")
    check("final counters" in output, "final counters printed")

    dp_frames = [data for _, data in read_pcap(out_dp)]
    replay_frames = [data for _, data in read_pcap(out_replay)]
    gateway = bytes.fromhex(CONFIG["node"]["gateway_mac"].replace(":", ""))
    port_mac = replay_frames[0][6:12] if replay_frames else b""
    # Balancer output goes to the gateway; the rest is the kernel's own
    # (ARP, and the IPv6 router solicitations of an interface coming up).
    forwarded = [f for f in dp_frames if f[0:6] == gateway]
    kernel = [f for f in dp_frames if f[0:6] != gateway]
    arp = [f for f in kernel if f[12:14] == b"\x08\x06" and f[28:32] == bytes([198, 51, 100, 1])]
    check(len(arp) >= 1, f"{len(arp)} ARP request(s) from the kernel went out of the data port")
    check(all(f[6:12] == port_mac for f in kernel),
          f"all {len(kernel)} kernel frames carry the port's MAC {port_mac.hex(':')}")
    check(len(forwarded) == len(replay_frames),
          f"edgelb-dp sent {len(forwarded)} frames, replay {len(replay_frames)}")
    same = sum(1 for a, b in zip(forwarded, replay_frames) if a == b)
    check(same == len(replay_frames), f"{same} of {len(replay_frames)} frames byte-identical to replay's")
    print(f"{len(FAILURES)} check(s) failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
