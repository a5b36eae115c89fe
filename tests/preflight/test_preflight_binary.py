# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-preflight as a program, on the fixture trees of tests/preflight/fixtures.

For each fixture: the binary run from the fixture's directory with its `args`
and --json must report exactly the findings of its hand-written `expected`
(id, subject, status, in order) and exit with its status; the same run without
--json must print one aligned line per finding (the fix after "  ->  " when
there is one) and a line of totals. Then usage errors (exit 2), --help, and
edgelb-dp's defaults: what edgelb-preflight reports must be the values of
dataplane/dpdk/dp_sizes.h, read here from the header. Run by pytest
(tests/preflight/meson.build gives --preflight, --fixture-dir, --dp-sizes):
one test per fixture tree and per usage error.
"""
import json
import os
import re
import subprocess

import pytest

USAGE_ERRORS = ([], ["--dataplane"], ["--dataplane", "xdp"], ["--dataplane", "vpp"],
                ["--dataplane", "xdp", "--iface", "eth0", "--root", "/nonexistent"],
                ["--dataplane", "xdp", "--iface", "eth0", "--mbufs", "100"],
                ["--dataplane", "dpdk", "--lcores", "zero", "--port", "03:00.0"],
                ["--dataplane", "dpdk", "--lcores", "0-1", "--port", "eth0"])

LINE = re.compile(r"^(PASS|WARN|FAIL)  (\S+) *  (\S.*)$")


def read_expected(path):
    findings, exit_status = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            if fields[0] == "exit":
                exit_status = int(fields[1])
            elif len(fields) == 3:
                findings.append((fields[0], fields[1], fields[2]))
            else:
                findings.append((fields[0], "", fields[1]))
    return findings, exit_status


def run(binary, args, cwd=None):
    return subprocess.run([binary] + args, cwd=cwd, capture_output=True, text=True, timeout=60)


def pytest_generate_tests(metafunc):
    if "tree" in metafunc.fixturenames:
        fixtures = metafunc.config.option.fixture_dir
        names = sorted(n for n in os.listdir(fixtures)
                       if os.path.isfile(os.path.join(fixtures, n, "expected")))
        metafunc.parametrize("tree", [os.path.join(fixtures, n) for n in names], ids=names)


def skip_without_dpdk(proc):
    if proc.returncode == 2 and "no DPDK" in proc.stderr:
        pytest.skip("built without DPDK")


def test_fixture(opts, tree):
    """--json reports exactly the expected findings and exit status; the text
    run prints one aligned line per finding and the totals."""
    binary, name = opts.preflight, os.path.basename(tree)
    failures = []
    with open(os.path.join(tree, "args")) as f:
        args = f.read().split()
    want, want_exit = read_expected(os.path.join(tree, "expected"))

    proc = run(binary, args + ["--json"], cwd=tree)
    skip_without_dpdk(proc)
    doc = json.loads(proc.stdout)
    got = [(f["id"], f["subject"], f["status"]) for f in doc["findings"]]
    if got != want:
        failures.append(f"{name}: findings\n  got  {got}\n  want {want}")
    if proc.returncode != want_exit or doc["exit_status"] != want_exit:
        failures.append(f"{name}: exit {proc.returncode} (json {doc['exit_status']}), "
                        f"want {want_exit}")
    counts = {s: sum(1 for f in doc["findings"] if f["status"] == s)
              for s in ("pass", "warn", "fail")}
    if doc["summary"] != counts:
        failures.append(f"{name}: summary {doc['summary']}, counted {counts}")
    for f in doc["findings"]:
        if f["status"] != "pass" and not f["fix"]:
            failures.append(f"{name}: {f['id']} {f['subject']}: {f['status']} without a fix")

    text = run(binary, args, cwd=tree)
    lines = text.stdout.splitlines()
    if text.returncode != want_exit:
        failures.append(f"{name}: text run exit {text.returncode}, want {want_exit}")
    assert len(lines) == len(doc["findings"]) + 1, \
        "\n".join(failures + [f"{name}: {len(lines)} lines for {len(doc['findings'])} findings"])
    width = max(len(f["id"]) for f in doc["findings"])
    for line, f in zip(lines, doc["findings"]):
        m = LINE.match(line)
        if not m or m.group(1) != f["status"].upper() or m.group(2) != f["id"]:
            failures.append(f"{name}: line {line!r} for {f}")
            continue
        # Aligned: the text starts in the same column on every line.
        if m.start(3) != 4 + 2 + width + 2:
            failures.append(f"{name}: misaligned {line!r}")
        rest = m.group(3)
        prefix = f["subject"] + ": " if f["subject"] else ""
        expect = prefix + f["text"] + ("  ->  " + f["fix"] if f["fix"] else "")
        if rest != expect:
            failures.append(f"{name}: line {rest!r}, want {expect!r}")
    totals = f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail"
    if lines[-1] != totals:
        failures.append(f"{name}: last line {lines[-1]!r}, want {totals!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=lambda a: " ".join(a) or "no-arguments")
def test_usage_error(opts, args):
    proc = run(opts.preflight, args)
    assert proc.returncode == 2 and "usage:" in proc.stderr and not proc.stdout, \
        f"usage {args}: exit {proc.returncode}, stderr {proc.stderr!r}"


def test_help(opts):
    proc = run(opts.preflight, ["--help"])
    assert proc.returncode == 0 and "usage:" in proc.stdout, f"--help: exit {proc.returncode}"


def c_define(path, name):
    with open(path) as f:
        m = re.search(r"^#define " + name + r"\s+(.+?)\s*(/\*.*)?$", f.read(), re.M)
    assert m, f"{path}: no #define {name}"
    # "(1u << 20)", "16383u", "256": C integer expressions of this form.
    return eval(re.sub(r"(\d+)u\b", r"\1", m.group(1)))


def test_defaults_are_edgelb_dps(opts):
    """What preflight reports as edgelb-dp's sizes are dp_sizes.h's, read here."""
    root = os.path.join(opts.fixture_dir, "tuned-dpdk", "root")
    proc = run(opts.preflight, ["--dataplane", "dpdk", "--lcores", "0-2",
                                "--port", "0000:03:00.0", "--root", root, "--json"])
    skip_without_dpdk(proc)
    doc = json.loads(proc.stdout)
    failures = []
    for key, value in (("flows", c_define(opts.dp_sizes, "DP_DEFAULT_FLOWS")),
                       ("mbufs", c_define(opts.dp_sizes, "DP_DEFAULT_MBUFS"))):
        if doc["inputs"][key] != value:
            failures.append(f"default --{key}: preflight {doc['inputs'][key]}, edgelb-dp {value}")
    for key, name in (("mbuf_cache", "DP_MBUF_CACHE"), ("kernel_rx_desc", "DP_KERNEL_RX_DESC")):
        value = c_define(opts.dp_sizes, name)
        if doc["memory"][key] != value:
            failures.append(f"{key}: preflight {doc['memory'][key]}, edgelb-dp's {name} {value}")
    assert not failures, "\n".join(failures)
