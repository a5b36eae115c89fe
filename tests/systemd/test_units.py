#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""systemd-analyze verify of edgelb's units (systemd/*.service, as meson
renders them for the install).

verify refuses a unit whose ExecStart= binary does not exist, and the
daemons are not installed here: each unit is copied with the installed
path (SBINDIR/edgelb-x) replaced by the build's binary, templates are
verified as an instance (edgelb-dp@dp, edgelb-xdp@eth1), and every line
verify prints fails the test (a warning is an ignored directive). First
the check is shown to bite: a unit with a bad value and an unknown key
must make verify complain. Also checks the units carry what the daemons
rely on (Type=notify, WatchdogSec=, a capability bounding set), and that
systemd-tmpfiles applies edgelb.conf (in a scratch root) with its modes.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
INSTANCES = {"edgelb-dp@.service": "edgelb-dp@dp.service",
             "edgelb-xdp@.service": "edgelb-xdp@eth1.service"}
REQUIRED = ["Type=notify", "NotifyAccess=main", "Restart=on-failure",
            r"RuntimeDirectory=(\S+ )*edgelb( \S+)*", "RuntimeDirectoryPreserve=yes",
            "StateDirectory=edgelb", "NoNewPrivileges=yes", "ProtectSystem=strict"]


def verify(paths):
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no"] + paths,
                       capture_output=True, text=True)
    return r.returncode, [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]


def check_tmpfiles(conf, root, failures):
    os.makedirs(os.path.join(root, "run"))
    os.makedirs(os.path.join(root, "var/lib"))
    r = subprocess.run(["systemd-tmpfiles", "--create", "--root", root, conf],
                       capture_output=True, text=True)
    made = {}
    for d in ("run/edgelb", "run/edgelb/bgp", "var/lib/edgelb"):
        p = os.path.join(root, d)
        made[d] = oct(os.stat(p).st_mode & 0o7777) if os.path.isdir(p) else None
    print(f"systemd-tmpfiles --create {os.path.basename(conf)}: exit {r.returncode} "
          f"{(r.stdout + r.stderr).strip()!r}; {made}")
    if r.returncode != 0 or (r.stdout + r.stderr).strip() or made != {
            "run/edgelb": "0o755", "run/edgelb/bgp": "0o755", "var/lib/edgelb": "0o700"}:
        failures.append("edgelb.conf: systemd-tmpfiles did not create the directories as written")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sbindir", required=True)
    ap.add_argument("--daemon", action="append", default=[], help="NAME=build path")
    ap.add_argument("--tmpfiles", required=True, help="edgelb.conf")
    ap.add_argument("units", nargs="+")
    args = ap.parse_args()
    if shutil.which("systemd-analyze") is None:
        print("skipped: no systemd-analyze (Debian package systemd)")
        return SKIP
    daemons = dict(d.split("=", 1) for d in args.daemon)
    failures = []
    work = tempfile.mkdtemp(prefix="elb-units-")
    try:
        paths = []
        for unit in args.units:
            name = os.path.basename(unit)
            with open(unit) as f:
                text = f.read()
            for key in REQUIRED:
                if not re.search("^" + key + "$", text, re.M):
                    failures.append(f"{name}: no {key}")
            for key in ("WatchdogSec", "CapabilityBoundingSet", "AmbientCapabilities"):
                if not re.search("^" + key + "=.+$", text, re.M):
                    failures.append(f"{name}: no {key}=")
            exe = re.search(r"^ExecStart=(\S+)", text, re.M).group(1)
            base = os.path.basename(exe)
            if os.path.dirname(exe) != args.sbindir:
                failures.append(f"{name}: ExecStart={exe}, not in {args.sbindir}")
            if base not in daemons:
                print(f"{name}: {base} not built here: not verified")
                continue
            text = text.replace(exe, daemons[base])
            path = os.path.join(work, INSTANCES.get(name, name))
            with open(path, "w") as f:
                f.write(text)
            paths.append(path)
        # The check bites: a bad value and an unknown key are reported.
        bad = os.path.join(work, "edgelb-bad.service")
        with open(paths[0]) as f:
            text = f.read()
        with open(bad, "w") as f:
            f.write(re.sub(r"^WatchdogSec=.*$", "WatchdogSec=soon", text, flags=re.M) +
                    "\n[Service]\nCapabilityBoundingSett=CAP_BPF\n")
        rc, lines = verify([bad])
        print("a broken copy:", *lines, sep="\n  ")
        if not any("soon" in ln for ln in lines) or not any("CapabilityBoundingSett" in ln
                                                           for ln in lines):
            failures.append("systemd-analyze verify did not report a bad value and an unknown "
                            "key: the check would not catch them")
        rc, lines = verify(paths)
        print(f"systemd-analyze verify {' '.join(os.path.basename(p) for p in paths)}: "
              f"exit {rc}, {len(lines)} line(s)")
        for ln in lines:
            print("  " + ln)
        if rc != 0 or lines:
            failures.append("systemd-analyze verify complained")
        check_tmpfiles(args.tmpfiles, os.path.join(work, "root"), failures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
