#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The Debian package, built and unpacked:

1. copies the source tree as it is (tracked and untracked files that git
   does not ignore, uncommitted changes included, and .git so that the
   binaries report the same `git describe` as the build tree's);
2. runs `dpkg-buildpackage -b -us -uc` there (DEB_BUILD_OPTIONS=nocheck
   parallel=2: the tests are this command's, not the package build's);
3. unpacks the .deb into a scratch root (dpkg -x) and its control area
   (dpkg -e), and checks: every file in its place and nothing else, man pages
   and example configurations as conffiles, the version (debian/changelog's
   against meson's project version), Depends from shlibs, the installed
   binaries' --version against the build tree's, the examples with the real
   loaders;
   and `apt-get install --simulate` of the .deb (its Depends resolve here);
4. the maintainer scripts: no unit enabled or started at install or upgrade
   (read from postinst/prerm), and, in a private mount namespace where
   /var/lib is a scratch directory (root only), /var/lib/edgelb kept by
   `postrm upgrade` and `postrm remove`, removed by `postrm purge`;
5. lintian, when installed: its output is shown, not judged.

Exit 77 (skipped) without dpkg-buildpackage or debhelper."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import package_layout as pl

DIRS = {'bindir': '/usr/bin', 'sbindir': '/usr/sbin', 'sysconfdir': '/etc',
        'datadir': '/usr/share', 'mandir': '/usr/share/man'}


def copy_tree(source, dest):
    """The working tree as git sees it (not ignored), plus .git."""
    r = subprocess.run(['git', '-C', source, 'ls-files', '-z', '--cached', '--others',
                        '--exclude-standard'], capture_output=True, check=True)
    n = 0
    for rel in sorted(set(r.stdout.decode().split('\0')) - {''}):
        src = os.path.join(source, rel)
        if not os.path.lexists(src):
            continue  # deleted in the working tree
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)
        n += 1
    shutil.copytree(os.path.join(source, '.git'), os.path.join(dest, '.git'), symlinks=True)
    return n


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def enclosing_if(lines, i):
    """The nearest `if` line above lines[i]: the condition a command runs under
    in debhelper's snippets (one level is enough for them)."""
    for j in range(i - 1, -1, -1):
        if lines[j].lstrip().startswith('if '):
            return lines[j]
    return ''


def check_scripts(chk, control):
    """What the maintainer scripts do to units: dh_installsystemd --no-enable
    --no-start (enable only a unit the admin had enabled, start none) and
    restart-after-upgrade (prerm stops on remove only); postrm purges the
    state."""
    postinst = read(os.path.join(control, 'postinst')).splitlines()
    prerm = read(os.path.join(control, 'prerm')).splitlines()
    postrm = read(os.path.join(control, 'postrm'))
    starts = [line.strip() for line in postinst
              if re.search(r'(deb-systemd-invoke|systemctl)\s.*\b(start|restart|try-restart|reload)\b',
                           line)]
    chk.check(not starts, 'postinst starts no unit' + (f': {starts}' if starts else ''))
    enables = [line.strip() for i, line in enumerate(postinst)
               if re.search(r'(deb-systemd-helper|systemctl)\s+enable\b', line)
               and 'was-enabled' not in enclosing_if(postinst, i)]
    chk.check(not enables, 'postinst enables no unit (only one the admin had enabled)' +
              (f': {enables}' if enables else ''))
    stops = [(line.strip(), enclosing_if(prerm, i).strip()) for i, line in enumerate(prerm)
             if re.search(r'(deb-systemd-invoke|systemctl)\s+stop\b', line)]
    bad = [s for s in stops if 'remove' not in s[1] or 'upgrade' in s[1]]
    stopped = ' '.join(s[0] for s in stops)
    chk.check(stops and not bad and all(u in stopped for u in ('edgelb-cp', 'edgelb-dp@', 'edgelb-xdp@')),
              f'prerm stops the daemons on remove only, not on upgrade: {stopped}' +
              (f' BAD: {bad}' if bad else ''))
    chk.check('rm -rf /var/lib/edgelb' in postrm, 'postrm removes /var/lib/edgelb (on purge)')


def read(path):
    if not os.path.isfile(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


def check_purge(chk, control, scratch):
    """postrm in a mount namespace where /var/lib is scratch/var-lib."""
    if os.geteuid() != 0 or shutil.which('unshare') is None:
        print('skip  postrm run: needs root and unshare (checked by reading it above)')
        return
    varlib = os.path.join(scratch, 'var-lib')
    os.makedirs(varlib)
    postrm = os.path.join(control, 'postrm')
    script = f'''set -e
mount --make-rprivate /
mount --bind {varlib} /var/lib
mkdir -p /var/lib/edgelb && echo '{{}}' > /var/lib/edgelb/dp.json
sh {postrm} upgrade 0.1.0; test -f /var/lib/edgelb/dp.json; echo kept-after-upgrade
sh {postrm} remove;        test -f /var/lib/edgelb/dp.json; echo kept-after-remove
sh {postrm} purge;         test ! -e /var/lib/edgelb;        echo gone-after-purge
'''
    r = run(['unshare', '--mount', 'sh', '-c', script], timeout=60)
    out = r.stdout.split()
    chk.check('kept-after-upgrade' in out, 'postrm upgrade keeps /var/lib/edgelb')
    chk.check('kept-after-remove' in out, 'postrm remove keeps /var/lib/edgelb')
    if not chk.check(r.returncode == 0 and 'gone-after-purge' in out,
                     'postrm purge removes /var/lib/edgelb'):
        sys.stdout.write(r.stdout + r.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--source', required=True)
    ap.add_argument('--binary', action='append', default=[])
    ap.add_argument('--examples-test', required=True)
    ap.add_argument('--project-version', required=True)
    ap.add_argument('--keep', action='store_true', help='keep the scratch directory')
    args = ap.parse_args()
    for tool in ('dpkg-buildpackage', 'dh', 'dpkg-deb'):
        if shutil.which(tool) is None:
            print(f'{tool} not found (tools/install-deps installs it): skipped')
            return 77
    binaries = pl.parse_binaries(args.binary)
    chk = pl.Checker()
    scratch = tempfile.mkdtemp(prefix='edgelb-deb-')
    try:
        src = os.path.join(scratch, 'edgelb')
        n = copy_tree(args.source, src)
        print(f'copied {n} files of {args.source} to {src}', flush=True)

        env = dict(os.environ, DEB_BUILD_OPTIONS='nocheck parallel=2')
        log = os.path.join(scratch, 'dpkg-buildpackage.log')
        with open(log, 'w') as f:
            r = subprocess.run(['dpkg-buildpackage', '-b', '-us', '-uc'], cwd=src, env=env,
                               stdout=f, stderr=subprocess.STDOUT, timeout=840)
        if not chk.check(r.returncode == 0, 'dpkg-buildpackage -b -us -uc'):
            sys.stdout.write(''.join(open(log).readlines()[-60:]))
            return 1
        debs = sorted(f for f in os.listdir(scratch) if re.match(r'edgelb_.*\.deb$', f))
        if not chk.check(len(debs) == 1, f'one binary package: {debs}'):
            return 1
        deb = os.path.join(scratch, debs[0])

        fields = {k: run(['dpkg-deb', '-f', deb, k]).stdout.strip()
                  for k in ('Package', 'Version', 'Depends', 'Recommends')}
        for k, v in fields.items():
            print(f'      {k}: {v}')
        chk.check(fields['Version'] == args.project_version,
                  f"Version {fields['Version']} is meson's project version {args.project_version}")
        chk.check(re.search(r'\blibc6\b', fields['Depends']) is not None
                  and 'libcjson1' in fields['Depends'], 'Depends from shlibs (libc6, libcjson1...)')
        print(run(['dpkg-deb', '-c', deb]).stdout, flush=True)
        # Its Depends resolve on this machine: what `apt install ./edgelb_*.deb`
        # would do, simulated (nothing is installed).
        if shutil.which('apt-get'):
            r = run(['apt-get', 'install', '--simulate', '--no-install-recommends', deb],
                    timeout=120)
            insts = [line for line in r.stdout.splitlines() if line.startswith('Inst ')]
            if not chk.check(r.returncode == 0 and any(' edgelb ' in f'{i} ' for i in insts),
                             f'apt-get install --simulate: {len(insts)} package(s) to install'):
                sys.stdout.write(r.stdout + r.stderr)

        root = os.path.join(scratch, 'root')
        control = os.path.join(scratch, 'control')
        r1 = run(['dpkg', '-x', deb, root])
        r2 = run(['dpkg', '-e', deb, control])
        if not chk.check(r1.returncode == 0 and r2.returncode == 0, f'dpkg -x / -e into {scratch}'):
            sys.stdout.write(r1.stderr + r2.stderr)
            return 1

        want = pl.expected_files(DIRS, binaries, args.source, man_suffix='.gz')
        extra = ['/usr/share/doc/edgelb/changelog.gz', '/usr/share/doc/edgelb/copyright']
        pl.check_layout(chk, root, want, args.source, allowed_extra=extra)
        conffiles = read(os.path.join(control, 'conffiles')).split()
        for ex in pl.EXAMPLES:
            chk.check('/etc/edgelb/' + ex in conffiles, f'conffile /etc/edgelb/{ex}')
        pl.check_versions(chk, root, DIRS, binaries)
        pl.check_examples(chk, args.examples_test, root + '/etc')
        for page, section in pl.MAN_PAGES.items():
            path = f'{root}/usr/share/man/man{section}/{page}.{section}.gz'
            if any(name == page for _, name, _ in binaries) and os.path.isfile(path):
                r = run(['sh', '-c', f'zcat {path} | head -c 4096'])
                chk.check(f'.TH "{page}" "{section}"' in r.stdout,
                          f'man      {page}({section}) is roff')

        check_scripts(chk, control)
        check_purge(chk, control, scratch)

        if shutil.which('lintian'):
            r = run(['lintian', '--tag-display-limit', '0', deb], timeout=300)
            print('lintian (shown, not judged):\n' + (r.stdout + r.stderr or '(nothing)\n'))
        else:
            print('lintian not installed: not run')
    finally:
        if args.keep:
            print(f'kept {scratch}')
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f'{chk.failures} failed')
    return 1 if chk.failures else 0


if __name__ == '__main__':
    sys.exit(main())
