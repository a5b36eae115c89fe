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

Skipped without dpkg-buildpackage or debhelper. Run by pytest
(tests/package/meson.build gives the options)."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import package_layout as pl
from edgelb_testlib.checks import Checker

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


@pytest.fixture(scope="module")
def scratch(opts):
    for tool in ('dpkg-buildpackage', 'dh', 'dpkg-deb'):
        if shutil.which(tool) is None:
            pytest.skip(f'{tool} not found (tools/install-deps installs it)')
    path = tempfile.mkdtemp(prefix='edgelb-deb-')
    yield path
    if opts.keep:
        print(f'kept {path}')
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def deb(opts, scratch):
    """The one .deb dpkg-buildpackage makes of a copy of the tree."""
    src = os.path.join(scratch, 'edgelb')
    n = copy_tree(opts.source, src)
    print(f'copied {n} files of {opts.source} to {src}', flush=True)
    env = dict(os.environ, DEB_BUILD_OPTIONS='nocheck parallel=2')
    log = os.path.join(scratch, 'dpkg-buildpackage.log')
    with open(log, 'w') as f:
        r = subprocess.run(['dpkg-buildpackage', '-b', '-us', '-uc'], cwd=src, env=env,
                           stdout=f, stderr=subprocess.STDOUT, timeout=840)
    with open(log) as f:
        tail = ''.join(f.readlines()[-60:])
    assert r.returncode == 0, f'dpkg-buildpackage -b -us -uc:\n{tail}'
    debs = sorted(f for f in os.listdir(scratch) if re.match(r'edgelb_.*\.deb$', f))
    assert len(debs) == 1, f'one binary package: {debs}'
    deb = os.path.join(scratch, debs[0])
    print(run(['dpkg-deb', '-c', deb]).stdout, flush=True)
    return deb


@pytest.fixture(scope="module")
def fields(deb):
    out = {k: run(['dpkg-deb', '-f', deb, k]).stdout.strip()
           for k in ('Package', 'Version', 'Depends', 'Recommends')}
    for k, v in out.items():
        print(f'      {k}: {v}')
    return out


@pytest.fixture(scope="module")
def unpacked(deb, scratch):
    """(root, control): the .deb's files (dpkg -x) and control area (dpkg -e)."""
    root = os.path.join(scratch, 'root')
    control = os.path.join(scratch, 'control')
    r1 = run(['dpkg', '-x', deb, root])
    r2 = run(['dpkg', '-e', deb, control])
    assert r1.returncode == 0 and r2.returncode == 0, \
        f'dpkg -x / -e into {scratch}: {r1.stderr}{r2.stderr}'
    return root, control


def test_version_is_meson_project_version(fields, opts):
    assert fields['Version'] == opts.project_version, \
        f"Version {fields['Version']} is meson's project version {opts.project_version}"


def test_depends_from_shlibs(fields):
    assert re.search(r'\blibc6\b', fields['Depends']) is not None \
        and 'libcjson1' in fields['Depends'], \
        f"Depends from shlibs (libc6, libcjson1...): {fields['Depends']}"


def test_depends_resolve_here(deb):
    # What `apt install ./edgelb_*.deb` would do, simulated (nothing is installed).
    if not shutil.which('apt-get'):
        pytest.skip('no apt-get')
    r = run(['apt-get', 'install', '--simulate', '--no-install-recommends', deb], timeout=120)
    insts = [line for line in r.stdout.splitlines() if line.startswith('Inst ')]
    assert r.returncode == 0 and any(' edgelb ' in f'{i} ' for i in insts), \
        f'apt-get install --simulate: {len(insts)} package(s) to install\n{r.stdout}{r.stderr}'


def test_layout(unpacked, opts):
    chk = Checker()
    want = pl.expected_files(DIRS, pl.parse_binaries(opts.binary), opts.source, man_suffix='.gz')
    extra = ['/usr/share/doc/edgelb/changelog.gz', '/usr/share/doc/edgelb/copyright']
    pl.check_layout(chk, unpacked[0], want, opts.source, allowed_extra=extra)
    chk.assert_passed()


def test_examples_are_conffiles(unpacked):
    conffiles = read(os.path.join(unpacked[1], 'conffiles')).split()
    missing = [ex for ex in pl.EXAMPLES if '/etc/edgelb/' + ex not in conffiles]
    assert not missing, f'not conffiles: {missing} (conffiles: {conffiles})'


def test_versions(unpacked, opts):
    chk = Checker()
    pl.check_versions(chk, unpacked[0], DIRS, pl.parse_binaries(opts.binary))
    chk.assert_passed()


def test_examples_load(unpacked, opts):
    chk = Checker()
    pl.check_examples(chk, opts.examples_test, unpacked[0] + '/etc')
    chk.assert_passed()


def test_man_pages_are_roff(unpacked, opts):
    chk = Checker()
    for page, section in pl.MAN_PAGES.items():
        path = f'{unpacked[0]}/usr/share/man/man{section}/{page}.{section}.gz'
        if any(name == page for _, name, _ in pl.parse_binaries(opts.binary)) \
                and os.path.isfile(path):
            r = run(['sh', '-c', f'zcat {path} | head -c 4096'])
            chk.check(f'.TH "{page}" "{section}"' in r.stdout, f'man      {page}({section}) is roff')
    chk.assert_passed()


def test_maintainer_scripts_start_and_enable_nothing(unpacked):
    chk = Checker()
    check_scripts(chk, unpacked[1])
    chk.assert_passed()


def test_postrm_keeps_state_until_purge(unpacked, scratch):
    """postrm in a mount namespace where /var/lib is scratch/var-lib."""
    if os.geteuid() != 0 or shutil.which('unshare') is None:
        pytest.skip('postrm run: needs root and unshare (checked by reading it)')
    varlib = os.path.join(scratch, 'var-lib')
    os.makedirs(varlib)
    postrm = os.path.join(unpacked[1], 'postrm')
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
    chk = Checker()
    chk.check('kept-after-upgrade' in out, 'postrm upgrade keeps /var/lib/edgelb')
    chk.check('kept-after-remove' in out, 'postrm remove keeps /var/lib/edgelb')
    if not chk.check(r.returncode == 0 and 'gone-after-purge' in out,
                     'postrm purge removes /var/lib/edgelb'):
        print(r.stdout + r.stderr)
    chk.assert_passed()


def test_lintian_shown(deb, capsys):
    """lintian's output is shown (past pytest's capture), not judged."""
    if not shutil.which('lintian'):
        pytest.skip('lintian not installed: not run')
    r = run(['lintian', '--tag-display-limit', '0', deb], timeout=300)
    with capsys.disabled():
        print('lintian (shown, not judged):\n' + (r.stdout + r.stderr or '(nothing)\n'))
