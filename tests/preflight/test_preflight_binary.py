#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-preflight as a program, on the fixture trees of tests/preflight/fixtures.

For each fixture: the binary run from the fixture's directory with its `args`
and --json must report exactly the findings of its hand-written `expected`
(id, subject, status, in order) and exit with its status; the same run without
--json must print one aligned line per finding (the fix after "  ->  " when
there is one) and a line of totals. Then usage errors (exit 2), --help, and
edgelb-dp's defaults: what edgelb-preflight reports must be the values of
dataplane/dpdk/dp_sizes.h, read here from the header.
"""
import argparse
import json
import os
import re
import subprocess
import sys

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


def check_fixture(binary, directory, failures):
    name = os.path.basename(directory)
    with open(os.path.join(directory, "args")) as f:
        args = f.read().split()
    want, want_exit = read_expected(os.path.join(directory, "expected"))

    proc = run(binary, args + ["--json"], cwd=directory)
    if proc.returncode == 2 and "no DPDK" in proc.stderr:
        print(f"{name}: skipped (built without DPDK)")
        return
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

    text = run(binary, args, cwd=directory)
    lines = text.stdout.splitlines()
    if text.returncode != want_exit:
        failures.append(f"{name}: text run exit {text.returncode}, want {want_exit}")
    if len(lines) != len(doc["findings"]) + 1:
        failures.append(f"{name}: {len(lines)} lines for {len(doc['findings'])} findings")
        return
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
    print(f"{name}: {len(got)} findings, exit {proc.returncode}: ok"
          if not [x for x in failures if x.startswith(name + ":")] else f"{name}: FAILED")


def check_usage(binary, fixtures, failures):
    for args in ([], ["--dataplane"], ["--dataplane", "xdp"], ["--dataplane", "vpp"],
                 ["--dataplane", "xdp", "--iface", "eth0", "--root", "/nonexistent"],
                 ["--dataplane", "xdp", "--iface", "eth0", "--mbufs", "100"],
                 ["--dataplane", "dpdk", "--lcores", "zero", "--port", "03:00.0"],
                 ["--dataplane", "dpdk", "--lcores", "0-1", "--port", "eth0"]):
        proc = run(binary, args)
        if proc.returncode != 2 or "usage:" not in proc.stderr or proc.stdout:
            failures.append(f"usage {args}: exit {proc.returncode}, stderr {proc.stderr!r}")
    proc = run(binary, ["--help"])
    if proc.returncode != 0 or "usage:" not in proc.stdout:
        failures.append(f"--help: exit {proc.returncode}")


def c_define(path, name):
    with open(path) as f:
        m = re.search(r"^#define " + name + r"\s+(.+?)\s*(/\*.*)?$", f.read(), re.M)
    if not m:
        raise SystemExit(f"{path}: no #define {name}")
    # "(1u << 20)", "16383u", "256": C integer expressions of this form.
    return eval(re.sub(r"(\d+)u\b", r"\1", m.group(1)))


def check_defaults(binary, fixtures, dp_sizes, failures):
    """What preflight reports as edgelb-dp's sizes are dp_sizes.h's, read here."""
    root = os.path.join(fixtures, "tuned-dpdk", "root")
    proc = run(binary, ["--dataplane", "dpdk", "--lcores", "0-2", "--port", "0000:03:00.0",
                        "--root", root, "--json"])
    if proc.returncode == 2 and "no DPDK" in proc.stderr:
        print("defaults: skipped (built without DPDK)")
        return
    doc = json.loads(proc.stdout)
    for key, value in (("flows", c_define(dp_sizes, "DP_DEFAULT_FLOWS")),
                       ("mbufs", c_define(dp_sizes, "DP_DEFAULT_MBUFS"))):
        if doc["inputs"][key] != value:
            failures.append(f"default --{key}: preflight {doc['inputs'][key]}, edgelb-dp {value}")
    for key, name in (("mbuf_cache", "DP_MBUF_CACHE"), ("kernel_rx_desc", "DP_KERNEL_RX_DESC")):
        value = c_define(dp_sizes, name)
        if doc["memory"][key] != value:
            failures.append(f"{key}: preflight {doc['memory'][key]}, edgelb-dp's {name} {value}")
    print("defaults: as in dp_sizes.h" if not failures else "defaults: checked")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--dp-sizes", required=True)
    args = parser.parse_args()
    failures = []
    for name in sorted(os.listdir(args.fixtures)):
        directory = os.path.join(args.fixtures, name)
        if os.path.isfile(os.path.join(directory, "expected")):
            check_fixture(args.binary, directory, failures)
    check_usage(args.binary, args.fixtures, failures)
    check_defaults(args.binary, args.fixtures, args.dp_sizes, failures)
    for failure in failures:
        print("FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
