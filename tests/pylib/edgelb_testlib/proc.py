# SPDX-License-Identifier: BSD-3-Clause
"""Processes under test: waiting for a condition, daemons logging to a
file each, stopping them (SIGKILL after a grace period), and the resident
memory and open descriptors of a live one."""
import os
import signal
import subprocess
import time

from edgelb_testlib.rpc import RpcError

SKIP = 77  # the exit status meson counts as a skipped test


class WaitTimeout(AssertionError, TimeoutError):
    """wait_for's condition never held: a failed check under pytest, a
    TimeoutError for scripts that catch one."""


def poll_until(predicate, timeout, step=0.02):
    """Seconds until predicate() is true (errors and error replies count as
    false), or None."""
    errors = (OSError, ValueError, KeyError, TypeError, RuntimeError, RpcError)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():
                return time.monotonic() - start
        except errors:
            pass
        time.sleep(step)
    return None


def wait_for(what, predicate, timeout, proc=None, step=0.02):
    """Seconds until predicate() is true (errors count as false); WaitTimeout
    after timeout seconds, RuntimeError if proc exits first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: the process exited (%d) first" % (what, proc.returncode))
        try:
            if predicate():
                return time.monotonic() - start
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(step)
    raise WaitTimeout("timed out after %s s waiting for %s" % (timeout, what))


def stop(proc, sig=signal.SIGTERM, timeout=10):
    """Signal proc and reap it; SIGKILL if it outlives timeout. Its exit
    status, or None when it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def stop_and_collect(proc, sig=signal.SIGTERM, timeout=30):
    """Signal proc (if it still runs), then (stdout, stderr) it left in its
    pipes; SIGKILL if it outlives timeout. proc.returncode is then set."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def sanitizer_reports(log_text):
    """The lines of a log where ASan/UBSan reported something."""
    return [l for l in log_text.splitlines() if "Sanitizer" in l or "runtime error" in l]


class Daemons:
    """Named processes, each logging stdout and stderr to WORK/NAME.log;
    stop_all() at the end (also after a failure)."""

    def __init__(self, work):
        self.work = work
        self.procs = {}

    def log_path(self, name):
        return os.path.join(self.work, name + ".log")

    def start(self, name, argv, **kw):
        with open(self.log_path(name), "ab") as log:
            self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
        return self.procs[name]

    def log(self, name):
        with open(self.log_path(name), errors="replace") as f:
            return f.read()

    def stop(self, name, sig=signal.SIGTERM, timeout=5):
        """(exit status or None if killed, the process), or None if not running."""
        p = self.procs.pop(name, None)
        if p is None:
            return None
        return stop(p, sig, timeout), p

    def stop_all(self, sig=signal.SIGTERM):
        for name in list(self.procs):
            self.stop(name, sig)


def rss_kib(pid):
    """(VmRSS, VmHWM) of a live process in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))
