# SPDX-License-Identifier: BSD-3-Clause
"""Checks that count instead of stopping at the first failure: for tests
that walk many packets or phases and report every difference at the end.
Under pytest a test ends with assert_passed(), which fails it with every
failed check named."""
import contextlib
import sys
import time


class Checker:
    """check() prints one line per check ("ok   TEXT" / "FAIL TEXT");
    tally() counts failures by kind and prints only the first max_print of
    each (for per-packet checks)."""

    def __init__(self, name=None, max_print=10):
        self.name = name
        self.max_print = max_print
        self.failures = []
        self.by_kind = {}
        self.examples = {}
        self.t0 = time.monotonic()

    def check(self, ok, text):
        print(("ok   " if ok else "FAIL ") + text, flush=True)
        if not ok:
            self.failures.append(text)
        return bool(ok)

    def tally(self, ok, kind, detail=""):
        if ok:
            return True
        n = self.by_kind.get(kind, 0)
        self.by_kind[kind] = n + 1
        if n < self.max_print:
            self.examples.setdefault(kind, []).append(detail)
            print("FAIL [%s] %s" % (kind, detail), flush=True)
        elif n == self.max_print:
            print("FAIL [%s] ... (more not printed)" % kind, flush=True)
        return False

    def figure(self, text):
        """A measured figure beside the checks (indented, not a check);
        shown past pytest's capture, in the test's log."""
        plugin = sys.modules.get("edgelb_testlib.pytest_plugin")
        (plugin.print_past_capture if plugin else print)("  " + text)

    def row(self, case, happened, measured):
        """A row of docs/adversarial.md (tools/adversarial-report): the
        case, what the checks hold, the figures of this run."""
        from edgelb_testlib.pytest_plugin import adversarial_row
        adversarial_row(case, happened, measured)

    @property
    def failed(self):
        return len(self.failures) + sum(self.by_kind.values())

    def report(self):
        """Lines naming every failed check and kind."""
        lines = list(self.failures)
        lines += ["%-40s %d" % (kind, n) for kind, n in sorted(self.by_kind.items())]
        return lines

    def finish(self, name=None):
        """Prints the summary; the script's exit status (0 or 1)."""
        name = name or self.name
        name = (name + ": ") if name else ""
        print("%s%.1f s, %d failed checks" % (name, time.monotonic() - self.t0, self.failed))
        for line in self.report():
            print("  FAILED " + line)
        return 1 if self.failed else 0

    @contextlib.contextmanager
    def scope(self):
        """A block whose checks must all pass (under pytest: the test fails
        naming them); checks made before it do not count."""
        start = len(self.failures)
        yield self
        new = self.failures[start:]
        assert not new, "failed checks:\n  " + "\n  ".join(new)

    def assert_group_passed(self, group):
        """No tally() of kind GROUP or GROUP.* failed (the first named)."""
        kinds = [k for k in self.by_kind if k == group or k.startswith(group + ".")]
        assert not kinds, "\n".join("%d failed [%s]:\n  %s" % (
            self.by_kind[k], k, "\n  ".join(self.examples[k])) for k in sorted(kinds))

    def failed_kinds_outside(self, groups):
        """Failed kinds that belong to none of groups."""
        return sorted(k for k in self.by_kind if k.split(".")[0] not in groups)

    def assert_kind_passed(self, kind):
        """No tally() of this kind failed (the first failures named)."""
        n = self.by_kind.get(kind, 0)
        assert n == 0, "%d failed [%s]:\n  %s" % (n, kind, "\n  ".join(self.examples[kind]))

    def assert_passed(self):
        assert not self.failed, "failed checks:\n  " + "\n  ".join(self.report())
