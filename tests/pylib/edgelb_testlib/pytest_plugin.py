# SPDX-License-Identifier: BSD-3-Clause
"""The pytest side of the tests (loaded by meson with
`-p edgelb_testlib.pytest_plugin`): the command-line options every test
file takes (the binaries under test and a few settings), declared once, and
the exit status meson reads: 77 (skipped) when every test of a file was
skipped, as the scripts' exit 77 was."""
import json
import os
import shutil
import tempfile

import pytest

from edgelb_testlib.proc import SKIP

# Paths given by meson (tests/*/meson.build).
PATH_OPTIONS = {
    "--dp": "edgelb-dp",
    "--cp": "edgelb-cp",
    "--ctl": "edgelbctl",
    "--xdp": "edgelb-xdp",
    "--agent": "edgelb-xdp (the agent under test)",
    "--replay": "edgelb-replay",
    "--pktgen": "edgelb-pktgen",
    "--decap": "edgelb-decap",
    "--preflight": "edgelb-preflight",
    "--examples-test": "the examples test (tests/package/test_examples)",
    "--fixture-dir": "the fixture directory (pytest has --fixtures)",
    "--dp-sizes": "dataplane/dpdk/dp_sizes.h",
    "--peer-pass-obj": "a BPF object passing every frame (the veth peer's program)",
    "--tmpfiles": "the built tmpfiles.d file",
    "--units-dir": "the systemd units as meson rendered them",
    "--exe": "the daemon's binary (systemd tests)",
    "--source": "the source tree",
    "--build-dir": "the build tree",
}
# Settings of one file or another.
VALUE_OPTIONS = {
    "--dataplane": "dpdk or xdp",
    "--mode": "XDP attach mode: generic or native",
    "--lcores": "edgelb-dp's EAL lcores",
    "--daemon": "which daemon (systemd tests): cp, dp or xdp",
    "--sbindir": "the configured sbindir",
    "--bindir": "the configured bindir",
    "--sysconfdir": "the configured sysconfdir",
    "--datadir": "the configured datadir",
    "--mandir": "the configured mandir",
    "--project-version": "meson's project version",
    "--changes": "how many backend changes the soak makes (tests/faults/test_soak.py)",
    "--drill": "the upgrade drill (tests/upgrade): xdp or dpdk",
}


def pytest_addoption(parser):
    group = parser.getgroup("edgelb", "edgelb binaries and settings")
    for name, what in {**PATH_OPTIONS, **VALUE_OPTIONS}.items():
        group.addoption(name, default=None, help=what)
    group.addoption("--keep", action="store_true",
                    help="keep the work files (their path is printed)")
    group.addoption("--binary", action="append", default=[],
                    help="KIND:NAME=PATH of an installed program (repeated; package tests)")
    group.addoption("--unit", action="append", default=[], help="a systemd unit file (repeated)")
    group.addoption("--built-daemon", action="append", default=[],
                    help="NAME=PATH of a daemon built here (repeated; systemd units)")


@pytest.fixture(scope="session")
def opts(request):
    """The parsed options (opts.dp, opts.cp, ...; None when not given)."""
    return request.config.option


def require_root(what):
    """Skip (meson: SKIP) unless root, with the scripts' reason."""
    if os.geteuid() != 0:
        pytest.skip(f"needs root ({what})")


def group_tests(groups):
    """For a file whose run tallies its checks by kind (a module fixture
    `ck`, an edgelb_testlib.checks.Checker): a test per group of kinds
    (GROUP or GROUP.*) and one that no kind outside them failed. Assign
    them in the module:
    test_checks, test_no_check_outside_the_groups_failed = group_tests(GROUPS)"""
    @pytest.mark.parametrize("group", list(groups))
    def test_checks(ck, group):
        ck.assert_group_passed(group)

    def test_no_check_outside_the_groups_failed(ck):
        other = ck.failed_kinds_outside(groups)
        assert not other, "failed: %s" % other

    return test_checks, test_no_check_outside_the_groups_failed


@pytest.fixture(scope="module")
def workdir(request):
    """A fresh work directory for the module's files, removed afterwards
    unless --keep or a test failed (then its path is printed)."""
    work = tempfile.mkdtemp(prefix="elb-" + request.module.__name__ + "-")
    failed_before = request.session.testsfailed
    yield work
    if request.config.option.keep or request.session.testsfailed > failed_before:
        print("files kept in", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


class _Outcomes:
    def __init__(self):
        self.ran = 0      # passed or failed
        self.skipped = 0


_CONFIG = None  # the session's, once configured


def pytest_configure(config):
    global _CONFIG
    _CONFIG = config
    config._edgelb_outcomes = _Outcomes()


ADVERSARIAL_ROW_PREFIX = "FIGURE "


def adversarial_row(case, happened, measured):
    """One row of docs/adversarial.md's table, printed past the capture:
    tools/adversarial-report runs the test and reads its rows back (the
    result column is the test's exit status)."""
    print_past_capture(ADVERSARIAL_ROW_PREFIX + json.dumps(
        {"case": case, "happened": happened, "figure": measured}))


def print_past_capture(text):
    """text as a line of its own on pytest's terminal even while the test's
    output is captured (sys.__stdout__ is captured too): figures, which
    meson's log keeps whether the test passed or not."""
    capman = _CONFIG.pluginmanager.getplugin("capturemanager") if _CONFIG else None
    if capman is None:
        print(text, flush=True)
        return
    with capman.global_and_fixture_disabled():
        writer = _CONFIG.get_terminal_writer()
        if writer.width_of_current_line:  # after the progress dots
            writer.line()
        writer.line(text)
        writer.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    tally = item.config._edgelb_outcomes
    if report.skipped and report.when in ("setup", "call"):
        tally.skipped += 1
    elif report.when == "call":
        tally.ran += 1


def pytest_sessionfinish(session, exitstatus):
    tally = session.config._edgelb_outcomes
    if exitstatus == 0 and tally.ran == 0 and tally.skipped > 0:
        session.exitstatus = SKIP
