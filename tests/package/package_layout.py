# SPDX-License-Identifier: BSD-3-Clause
"""What an edgelb install holds, shared by test_install.py (meson install
--destdir) and test_package.py (the .deb unpacked): the expected files under
a root, the check that nothing else is there, and --version of each
installed binary against the build tree's. Each check_* takes an
edgelb_testlib.checks.Checker: every file is checked, every failure named."""
import os
import subprocess
import sys


def parse_binaries(specs):
    """'sbin:edgelb-dp=/build/dataplane/dpdk/edgelb-dp' -> [(kind, name, path)]."""
    out = []
    for spec in specs:
        kind, rest = spec.split(':', 1)
        name, path = rest.split('=', 1)
        if kind not in ('bin', 'sbin'):
            raise SystemExit(f'--binary {spec}: kind is bin or sbin')
        out.append((kind, name, path))
    return out


MAN_PAGES = {'edgelb-dp': '8', 'edgelb-xdp': '8', 'edgelb-cp': '8', 'edgelb-preflight': '8',
             'edgelb-decap': '8', 'edgelb-replay': '1', 'edgelb-pktgen': '1',
             'edgelbctl': '1'}
EXAMPLES = ('dp.json.example', 'cp.json.example')


def source_docs(source):
    """README.md and docs/*.md, as meson installs them."""
    docs = ['README.md']
    docs += sorted(f for f in os.listdir(os.path.join(source, 'docs')) if f.endswith('.md'))
    return docs


def source_units(source):
    """The systemd units and tmpfiles.d entries in systemd/, if that folder
    exists (installed by systemd/meson.build)."""
    d = os.path.join(source, 'systemd')
    if not os.path.isdir(d):
        return [], []
    # A unit may be a template (NAME.service.in) that meson configures.
    names = sorted(n[:-3] if n.endswith('.in') else n for n in os.listdir(d))
    return ([n for n in names if n.endswith(('.service', '.socket', '.timer'))],
            [n for n in names if n.endswith('.conf')])


def expected_files(dirs, binaries, source, man_suffix=''):
    """Paths (absolute, as installed) that must exist. dirs: bindir, sbindir,
    sysconfdir, datadir, mandir (absolute)."""
    want = {}
    for kind, name, _ in binaries:
        want[os.path.join(dirs[kind + 'dir'], name)] = 'binary'
    built = {name for _, name, _ in binaries}
    for page, section in MAN_PAGES.items():
        if page not in built:
            continue  # edgelb-dp and edgelb-replay without DPDK
        want[os.path.join(dirs['mandir'], 'man' + section, f'{page}.{section}{man_suffix}')] = 'man'
    for ex in EXAMPLES:
        want[os.path.join(dirs['sysconfdir'], 'edgelb', ex)] = 'example'
    for doc in source_docs(source):
        want[os.path.join(dirs['datadir'], 'doc', 'edgelb', doc)] = 'doc'
    return want


def walk(root):
    """Every file and symlink under root, as absolute installed paths."""
    found = set()
    for d, _, files in os.walk(root):
        for f in files:
            found.add('/' + os.path.relpath(os.path.join(d, f), root))
    return found


def check_layout(chk, root, want, source, allowed_extra=()):
    """Every wanted file under root; the units of systemd/ under a
    systemd/system directory, its tmpfiles entry under tmpfiles.d; nothing
    else but allowed_extra. Returns the set found."""
    found = walk(root)
    for path, kind in sorted(want.items()):
        full = root + path
        ok = os.path.isfile(full)
        if ok and kind == 'binary':
            ok = os.access(full, os.X_OK)
        if ok and kind == 'man':
            ok = os.path.getsize(full) > 0
        chk.check(ok, f'{kind:8} {path}')
    units, tmpfiles = source_units(source)
    extra = found - set(want) - set(allowed_extra)
    for unit in units:
        hits = [p for p in extra if p.endswith('/systemd/system/' + unit)]
        chk.check(len(hits) == 1, f'unit     {hits[0] if hits else unit}')
        extra -= set(hits)
    for conf in tmpfiles:
        hits = [p for p in extra if p.endswith('/tmpfiles.d/' + conf)]
        chk.check(len(hits) == 1, f'tmpfiles {hits[0] if hits else conf}')
        extra -= set(hits)
    chk.check(not extra, 'nothing else installed' + (f': {sorted(extra)}' if extra else ''))
    return found


def version_of(path):
    r = subprocess.run([path, '--version'], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def check_versions(chk, root, dirs, binaries):
    """Each installed binary answers --version from where it is installed,
    with what the build tree's binary says."""
    for kind, name, build_path in binaries:
        installed = root + os.path.join(dirs[kind + 'dir'], name)
        want = version_of(build_path)
        got = version_of(installed) if os.path.isfile(installed) else (None, '', 'missing')
        chk.check(got[0] == 0 and got[1] == want[1] and want[1].startswith(name + ' '),
                  f'version  {installed[len(root):]}: {got[1] or got[2]!r} '
                  f'(build tree: {want[1]!r})')


def check_examples(chk, examples_test, sysconfdir_root):
    """The installed example configurations load with the daemons' loaders."""
    files = [os.path.join(sysconfdir_root, 'edgelb', ex) for ex in EXAMPLES]
    r = subprocess.run([examples_test] + files, capture_output=True, text=True, timeout=60)
    ok = chk.check(r.returncode == 0, f'examples load with the real loaders: {files}')
    if not ok:
        sys.stdout.write(r.stdout + r.stderr)
