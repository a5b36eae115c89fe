# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-preflight on this host (--root /), against what this test reads itself.

Runs the binary for XDP on the interface of the default route and for DPDK on
that interface's PCI device with the first two online CPUs (main + one
worker), and checks each finding whose answer this test can work out from the
files alone: kernel release, BPF JIT, bpffs, lockdown, RX queues, governors,
a VIP's MTU against the interface's,
isolcpus, nohz_full, hugetlbfs, the NIC's driver, IRQ affinities. Nothing is
taken from the code under test. Reads only, except that securityfs is mounted
when /sys/kernel/security is empty, so that the lockdown mode can be read,
in a mount namespace of the test's own (it ends with the test). Skipped
without a default route or, for the DPDK half, without two CPUs or a PCI
NIC. Run by pytest (--preflight).
"""
import glob
import json
import os
import re
import subprocess
import tempfile

import pytest

from edgelb_testlib import netns

PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
# Drivers the kernel documents as running XDP natively; a driver outside this
# short list may be on the tool's longer one, so it is not judged.
WELL_KNOWN_NATIVE = {"virtio_net", "veth", "ixgbe", "i40e", "ice", "mlx5_core", "mlx4_core",
                     "bnxt_en", "nfp", "ena", "igb", "igc", "qede", "tun"}


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cpu_list(text):
    cpus = set()
    if not text or text == "(null)":
        return cpus
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            cpus.update(range(int(a), int(b) + 1))
        else:
            cpus.add(int(part))
    return cpus


def mounts():
    with open("/proc/mounts") as f:
        return [line.split()[:3] for line in f]


def mounted(fs_type, where=None):
    return any(t == fs_type and (where is None or w == where) for _, w, t in mounts())


def default_route_iface():
    with open("/proc/net/route") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == "00000000" and int(fields[3], 16) & 1:
                return fields[0]
    return None


def pci_address(iface):
    path = os.path.realpath(f"/sys/class/net/{iface}/device")
    for part in reversed(path.split("/")):
        if PCI.match(part):
            return part
    return None


def governor_status(cpus):
    governors = [read(f"/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor") for c in cpus]
    if all(g == "performance" for g in governors):
        return "pass"
    return "warn"  # missing (a VM, no driver) or not performance


def run(binary, args):
    proc = subprocess.run([binary] + args + ["--json"], capture_output=True, text=True,
                          timeout=60)
    text = subprocess.run([binary] + args, capture_output=True, text=True, timeout=60)
    print("$ edgelb-preflight " + " ".join(args))
    print(text.stdout, end="")
    return proc, json.loads(proc.stdout)


def statuses(doc):
    found = {}
    for f in doc["findings"]:
        found.setdefault(f["id"], []).append(f["status"])
    return found


def expect(found, finding_id, status, why, failures):
    got = found.get(finding_id)
    if got is None or any(s != status for s in got):
        failures.append(f"{finding_id}: got {got}, want {status} ({why})")
    else:
        print(f"  ok {finding_id}: {status} ({why})")


def check_exit(proc, doc, failures):
    any_fail = any(f["status"] == "fail" for f in doc["findings"])
    if proc.returncode != (1 if any_fail else 0):
        failures.append(f"exit {proc.returncode} with fail findings: {any_fail}")


@pytest.fixture(scope="module")
def iface():
    """The interface of the default route; as root, in a mount namespace of
    the test's own with securityfs mounted if nothing is there."""
    if os.geteuid() == 0:
        # The securityfs mounted below ends with the test.
        netns.enter_private_mount_namespace()
    name = default_route_iface()
    if name is None or not os.path.exists(f"/sys/class/net/{name}"):
        pytest.skip("no default route")
    if (os.geteuid() == 0 and not mounted("securityfs")
            and not os.listdir("/sys/kernel/security")):
        subprocess.run(["mount", "-t", "securityfs", "securityfs", "/sys/kernel/security"],
                       check=True)
    return name


# One VIP whose outer packets may reach 1500 bytes, toward an IPv4 backend.
CONFIG = {"node": {"source_v4": "192.0.2.10"},
          "vips": [{"address": "198.51.100.1", "port": 443, "protocol": "tcp", "mtu": 1500,
                    "backends": [{"address": "10.0.0.1"}]}]}


def test_xdp_findings(opts, iface):
    binary, failures = opts.preflight, []
    online = sorted(cpu_list(read("/sys/devices/system/cpu/online")))
    bpffs_before = mounted("bpf", "/sys/fs/bpf")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as config:
        json.dump(CONFIG, config)
        config.flush()
        proc, doc = run(binary, ["--dataplane", "xdp", "--iface", iface, "--config", config.name])
    found = statuses(doc)
    check_exit(proc, doc, failures)

    # XDP_TX sends out of the interface: its MTU bounds the outer packets.
    iface_mtu = int(read(f"/sys/class/net/{iface}/mtu"))
    expect(found, "mtu", "pass" if 1500 <= iface_mtu else "fail",
           f"VIP mtu 1500, {iface} MTU {iface_mtu}", failures)

    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    expect(found, "kernel", "pass" if (major, minor) >= (5, 10) else "fail",
           f"release {os.uname().release}", failures)
    jit = read("/proc/sys/net/core/bpf_jit_enable")
    expect(found, "bpf-jit", "pass" if jit == "1" else "warn", f"bpf_jit_enable {jit}", failures)
    if mounted("bpf", "/sys/fs/bpf") == bpffs_before:
        # Without one edgelb-xdp mounts its own: a warn, not a fail.
        expect(found, "bpffs", "pass" if bpffs_before else "warn",
               "bpffs on /sys/fs/bpf" if bpffs_before else "no bpffs on /sys/fs/bpf", failures)
    lockdown = read("/sys/kernel/security/lockdown")
    if lockdown is not None:
        mode = re.search(r"\[(\w+)\]", lockdown).group(1)
        # integrity and confidentiality refuse the flow counter's iterator.
        expect(found, "lockdown", "pass" if mode == "none" else "warn",
               f"lockdown {mode}", failures)
    elif mounted("securityfs"):
        expect(found, "lockdown", "pass", "securityfs without a lockdown file", failures)
    driver_link = f"/sys/class/net/{iface}/device/driver"
    if os.path.islink(driver_link):
        driver = os.path.basename(os.readlink(driver_link))
        if driver in WELL_KNOWN_NATIVE:
            expect(found, "xdp-driver", "pass", f"driver {driver}", failures)
    queues = len(glob.glob(f"/sys/class/net/{iface}/queues/rx-*"))
    expect(found, "rx-queues", "pass" if queues >= len(online) or len(online) <= 1 else "warn",
           f"{queues} RX queues, {len(online)} CPUs", failures)
    expect(found, "cpufreq", governor_status(online), "governors of the online CPUs", failures)
    assert not failures, "\n".join(failures)


def test_dpdk_findings(opts, iface):
    binary, failures = opts.preflight, []
    online = sorted(cpu_list(read("/sys/devices/system/cpu/online")))
    address = pci_address(iface)
    if len(online) < 2 or address is None:
        pytest.skip(f"DPDK half: {len(online)} CPUs, PCI device {address}")
    main_lcore, worker = online[0], online[1]
    hugetlbfs_before = mounted("hugetlbfs")
    proc, doc = run(binary, ["--dataplane", "dpdk", "--lcores", f"{main_lcore},{worker}",
                             "--port", address])
    found = statuses(doc)
    check_exit(proc, doc, failures)

    if mounted("hugetlbfs") == hugetlbfs_before:
        expect(found, "hugetlbfs", "pass" if hugetlbfs_before else "fail",
               "hugetlbfs in /proc/mounts" if hugetlbfs_before else "no hugetlbfs mounted",
               failures)
    isolated = cpu_list(read("/sys/devices/system/cpu/isolated"))
    expect(found, "isolcpus", "pass" if worker in isolated else "warn",
           f"isolated: {sorted(isolated)}", failures)
    nohz = read("/sys/devices/system/cpu/nohz_full")
    expect(found, "nohz_full", "pass" if worker in cpu_list(nohz) else "warn",
           f"nohz_full: {nohz}", failures)
    on_worker = []
    for path in glob.glob("/proc/irq/[0-9]*/smp_affinity_list"):
        if worker in cpu_list(read(path)):
            on_worker.append(path.split("/")[3])
    expect(found, "irq-affinity", "warn" if on_worker else "pass",
           f"{len(on_worker)} IRQs may run on CPU {worker}", failures)
    driver_link = f"/sys/bus/pci/devices/{address}/driver"
    driver = os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else None
    want = ("pass" if driver in ("vfio-pci", "mlx5_core", "mlx4_core")
            else "warn" if driver in ("uio_pci_generic", "igb_uio") else "fail")
    expect(found, "nic-driver", want, f"{address} on {driver}", failures)
    expect(found, "cpufreq", governor_status([main_lcore, worker]),
           f"governors of CPUs {main_lcore},{worker}", failures)
    assert not failures, "\n".join(failures)
