# SPDX-License-Identifier: BSD-3-Clause
"""systemd-analyze verify of edgelb's units (systemd/*.service, as meson
renders them for the install). Run by pytest (tests/systemd/meson.build
gives --unit, --built-daemon, --sbindir, --tmpfiles).

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
import os
import re
import shutil
import subprocess

import pytest

INSTANCES = {"edgelb-dp@.service": "edgelb-dp@dp.service",
             "edgelb-xdp@.service": "edgelb-xdp@eth1.service"}
REQUIRED = ["Type=notify", "NotifyAccess=main", "Restart=on-failure",
            r"RuntimeDirectory=(\S+ )*edgelb( \S+)*", "RuntimeDirectoryPreserve=yes",
            "StateDirectory=edgelb", "NoNewPrivileges=yes", "ProtectSystem=strict"]


def verify(paths):
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no"] + paths,
                       capture_output=True, text=True)
    return r.returncode, [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def units(opts):
    """{unit name: its text as rendered}."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze (Debian package systemd)")
    out = {}
    for unit in opts.unit:
        with open(unit) as f:
            out[os.path.basename(unit)] = f.read()
    return out


def exec_start(text):
    return re.search(r"^ExecStart=(\S+)", text, re.M).group(1)


@pytest.fixture(scope="module")
def copies(units, opts, workdir):
    """Paths of the units copied with ExecStart= on the build's daemons
    (instances for the templates); units of daemons not built here left out."""
    daemons = dict(d.split("=", 1) for d in opts.built_daemon)
    paths = []
    for name, text in units.items():
        exe = exec_start(text)
        base = os.path.basename(exe)
        if base not in daemons:
            print(f"{name}: {base} not built here: not verified")
            continue
        path = os.path.join(workdir, INSTANCES.get(name, name))
        with open(path, "w") as f:
            f.write(text.replace(exe, daemons[base]))
        paths.append(path)
    assert paths, "no unit of a daemon built here"
    return paths


def test_units_carry_what_the_daemons_rely_on(units, opts):
    missing = []
    for name, text in units.items():
        missing += [f"{name}: no {key}" for key in REQUIRED
                    if not re.search("^" + key + "$", text, re.M)]
        missing += [f"{name}: no {key}=" for key in
                    ("WatchdogSec", "CapabilityBoundingSet", "AmbientCapabilities")
                    if not re.search("^" + key + "=.+$", text, re.M)]
        exe = exec_start(text)
        if os.path.dirname(exe) != opts.sbindir:
            missing.append(f"{name}: ExecStart={exe}, not in {opts.sbindir}")
    assert not missing, "\n".join(missing)


def test_verify_reports_a_bad_value_and_an_unknown_key(copies, workdir):
    bad = os.path.join(workdir, "edgelb-bad.service")
    with open(copies[0]) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(re.sub(r"^WatchdogSec=.*$", "WatchdogSec=soon", text, flags=re.M) +
                "\n[Service]\nCapabilityBoundingSett=CAP_BPF\n")
    _, lines = verify([bad])
    print("a broken copy:", *lines, sep="\n  ")
    assert any("soon" in ln for ln in lines) and any("CapabilityBoundingSett" in ln
                                                    for ln in lines), \
        "systemd-analyze verify did not report a bad value and an unknown key: " \
        "the check would not catch them"


def test_verify_accepts_the_units(copies):
    rc, lines = verify(copies)
    assert rc == 0 and not lines, \
        f"systemd-analyze verify {' '.join(os.path.basename(p) for p in copies)} complained: " \
        f"exit {rc}:\n  " + "\n  ".join(lines)


def test_tmpfiles_creates_the_directories(units, opts, workdir):
    root = os.path.join(workdir, "root")
    os.makedirs(os.path.join(root, "run"))
    os.makedirs(os.path.join(root, "var/lib"))
    r = subprocess.run(["systemd-tmpfiles", "--create", "--root", root, opts.tmpfiles],
                       capture_output=True, text=True)
    made = {}
    for d in ("run/edgelb", "run/edgelb/bgp", "var/lib/edgelb"):
        p = os.path.join(root, d)
        made[d] = oct(os.stat(p).st_mode & 0o7777) if os.path.isdir(p) else None
    said = (r.stdout + r.stderr).strip()
    assert r.returncode == 0 and not said and made == {
        "run/edgelb": "0o755", "run/edgelb/bgp": "0o755", "var/lib/edgelb": "0o700"}, \
        (f"edgelb.conf: systemd-tmpfiles --create did not create the directories as written: "
         f"exit {r.returncode} {said!r}; {made}")
