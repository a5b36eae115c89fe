#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""`meson install --destdir` of this build: bin/ and sbin/ hold the
programs (no test or benchmark), the man pages are roff, the example
configurations load with the daemons' loaders, the docs are there, and the
installed binaries answer --version as the build tree's do."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import package_layout as pl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir', required=True)
    ap.add_argument('--source', required=True)
    ap.add_argument('--binary', action='append', default=[])
    ap.add_argument('--examples-test', required=True)
    ap.add_argument('--project-version', required=True)
    for d in ('bindir', 'sbindir', 'sysconfdir', 'datadir', 'mandir'):
        ap.add_argument('--' + d, required=True)
    args = ap.parse_args()
    binaries = pl.parse_binaries(args.binary)
    dirs = {d: os.path.normpath(getattr(args, d))
            for d in ('bindir', 'sbindir', 'sysconfdir', 'datadir', 'mandir')}
    chk = pl.Checker()

    destdir = tempfile.mkdtemp(prefix='edgelb-install-')
    try:
        r = subprocess.run(['meson', 'install', '-C', args.build_dir, '--no-rebuild',
                            '--destdir', destdir, '--quiet'],
                           capture_output=True, text=True, timeout=300)
        if not chk.check(r.returncode == 0, f'meson install --destdir {destdir}'):
            sys.stdout.write(r.stdout + r.stderr)
            return 1
        want = pl.expected_files(dirs, binaries, args.source)
        pl.check_layout(chk, destdir, want, args.source)
        for page, section in pl.MAN_PAGES.items():
            path = destdir + os.path.join(dirs['mandir'], 'man' + section, f'{page}.{section}')
            if any(name == page for _, name, _ in binaries) and os.path.isfile(path):
                with open(path, encoding='utf-8') as f:
                    text = f.read()
                chk.check(f'.TH "{page}" "{section}"' in text and '.SH SYNOPSIS' in text,
                          f'man      {page}({section}) is roff with a SYNOPSIS')
        pl.check_versions(chk, destdir, dirs, binaries)
        pl.check_examples(chk, args.examples_test, destdir + dirs['sysconfdir'])
    finally:
        shutil.rmtree(destdir, ignore_errors=True)
    print(f'{chk.failures} failed')
    return 1 if chk.failures else 0


if __name__ == '__main__':
    sys.exit(main())
