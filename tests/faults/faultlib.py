# SPDX-License-Identifier: BSD-3-Clause
"""What the fault and flood tests share beyond edgelb_testlib: the root
check, figures for docs/adversarial.md and edgelb-dp on net_null."""
import json
import os
import subprocess
import sys

from edgelb_testlib.proc import SKIP

FIGURE_PREFIX = "FIGURE "


def require_root(what):
    if os.geteuid() != 0:
        print("SKIP: %s needs root" % what)
        sys.exit(SKIP)


def figure(case, happened, measured):
    """One row of docs/adversarial.md, read back by tools/adversarial-report."""
    print(FIGURE_PREFIX + json.dumps({"case": case, "happened": happened, "figure": measured}),
          flush=True)


def start_dp_null(dp, work, name, extra=(), lcores="0-1"):
    """edgelb-dp on a net_null port, no NIC, no hugepages. Returns
    (proc, socket path, log path)."""
    sock = os.path.join(work, name + ".sock")
    log = os.path.join(work, name + ".log")
    with open(log, "ab") as f:
        proc = subprocess.Popen([dp, "-l", lcores, "--no-huge", "-m", "512", "--no-pci",
                                 "--file-prefix", "%s%d" % (name, os.getpid()), "--vdev",
                                 "net_null0", "--log-level=error", "--", "--socket", sock,
                                 "--kernel-iface", "none", "--flows", "65536"] + list(extra),
                                stdout=f, stderr=subprocess.STDOUT)
    return proc, sock, log
