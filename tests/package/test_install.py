# SPDX-License-Identifier: BSD-3-Clause
"""`meson install --destdir` of this build: bin/ and sbin/ hold the
programs (no test or benchmark), the man pages are roff, the example
configurations load with the daemons' loaders, the docs are there, and the
installed binaries answer --version as the build tree's do. Run by pytest
(tests/package/meson.build gives the options)."""
import os
import shutil
import subprocess
import tempfile

import pytest

import package_layout as pl
from edgelb_testlib.checks import Checker

DIR_OPTIONS = ('bindir', 'sbindir', 'sysconfdir', 'datadir', 'mandir')


@pytest.fixture(scope='module')
def install(opts):
    """(destdir, dirs, binaries) of one `meson install --destdir`."""
    binaries = pl.parse_binaries(opts.binary)
    dirs = {d: os.path.normpath(getattr(opts, d)) for d in DIR_OPTIONS}
    destdir = tempfile.mkdtemp(prefix='edgelb-install-')
    try:
        r = subprocess.run(['meson', 'install', '-C', opts.build_dir, '--no-rebuild',
                            '--destdir', destdir, '--quiet'],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f'meson install --destdir {destdir}: {r.stdout}{r.stderr}'
        yield destdir, dirs, binaries
    finally:
        shutil.rmtree(destdir, ignore_errors=True)


def test_layout(install, opts):
    destdir, dirs, binaries = install
    chk = Checker()
    pl.check_layout(chk, destdir, pl.expected_files(dirs, binaries, opts.source), opts.source)
    chk.assert_passed()


def test_man_pages_are_roff(install):
    destdir, dirs, binaries = install
    chk = Checker()
    for page, section in pl.MAN_PAGES.items():
        path = destdir + os.path.join(dirs['mandir'], 'man' + section, f'{page}.{section}')
        if any(name == page for _, name, _ in binaries) and os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                text = f.read()
            chk.check(f'.TH "{page}" "{section}"' in text and '.SH SYNOPSIS' in text,
                      f'man      {page}({section}) is roff with a SYNOPSIS')
    chk.assert_passed()


def test_versions(install):
    destdir, dirs, binaries = install
    chk = Checker()
    pl.check_versions(chk, destdir, dirs, binaries)
    chk.assert_passed()


def test_examples_load(install, opts):
    destdir, dirs, _ = install
    chk = Checker()
    pl.check_examples(chk, opts.examples_test, destdir + dirs['sysconfdir'])
    chk.assert_passed()
