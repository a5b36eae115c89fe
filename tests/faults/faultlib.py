# SPDX-License-Identifier: BSD-3-Clause
"""What the fault and flood tests share beyond edgelb_testlib: figures for
docs/adversarial.md, the frames' Ethernet addresses and edgelb-dp on
net_null."""
import os
import shutil
import subprocess

from edgelb_testlib.pytest_plugin import adversarial_row
# The Ethernet addresses of the frames written into the fault tests' pcaps.
DST_MAC, SRC_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


# One row of docs/adversarial.md, read back by tools/adversarial-report.
figure = adversarial_row


def eal_prefix(name):
    """The EAL file prefix of start_dp_null's edgelb-dp called name."""
    return "%s%d" % (name, os.getpid())


def remove_eal_runtime(prefix):
    """EAL's runtime directory of a stopped edgelb-dp started with --file-prefix."""
    shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)


def start_dp_null(dp, work, name, extra=(), lcores="0-1"):
    """edgelb-dp on a net_null port, no NIC, no hugepages (EAL prefix
    eal_prefix(name)). Returns (proc, socket path, log path)."""
    sock = os.path.join(work, name + ".sock")
    log = os.path.join(work, name + ".log")
    with open(log, "ab") as f:
        proc = subprocess.Popen([dp, "-l", lcores, "--no-huge", "-m", "512", "--no-pci",
                                 "--file-prefix", eal_prefix(name), "--vdev",
                                 "net_null0", "--log-level=error", "--", "--socket", sock,
                                 "--kernel-iface", "none", "--flows", "65536"] + list(extra),
                                stdout=f, stderr=subprocess.STDOUT)
    return proc, sock, log
