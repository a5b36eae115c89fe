# SPDX-License-Identifier: BSD-3-Clause
"""Network namespaces, veth pairs and commands run inside them (every
namespace made here is removed again, also after a failure), and a mount
namespace of the test's own."""
import contextlib
import ctypes
import json
import os
import subprocess

CLONE_NEWNS = 0x00020000   # <sched.h>
CLONE_NEWNET = 0x40000000  # <sched.h>


def sh(*cmd, ns=None, check=True, **kw):
    """cmd (in namespace ns when given): its CompletedProcess, text output
    captured; CalledProcessError on a non-zero exit when check."""
    full = (["ip", "netns", "exec", ns] if ns else []) + [str(c) for c in cmd]
    return subprocess.run(full, check=check, text=True, capture_output=True, **kw)


def ip(*argv, ns=None):
    """`ip ARGV...` (in namespace ns), raising on failure; stdout shown."""
    subprocess.run((["ip", "netns", "exec", ns] if ns else []) + ["ip", *map(str, argv)],
                   check=True)


def veth_pair(a, b, b_ns=None):
    """The veth pair a/b, both ends up; b moved into namespace b_ns."""
    sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
    if b_ns:
        sh("ip", "link", "set", b, "netns", b_ns)
    sh("ip", "link", "set", a, "up")
    sh("ip", "link", "set", b, "up", ns=b_ns)


def veth_into_namespace(a, b, ns, a_cidr, b_cidr):
    """A new namespace ns (lo up) joined to this one by the veth pair a/b:
    a stays here with a_cidr, b goes into ns with b_cidr; both up. The
    caller removes ns (delete(ns)): b goes with it, and a with b."""
    sh("ip", "netns", "add", ns)
    veth_pair(a, b, b_ns=ns)
    sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "addr", "add", a_cidr, "dev", a)
    sh("ip", "addr", "add", b_cidr, "dev", b, ns=ns)


def veth_pairs(n):
    """lb0/peer0 ... lb{n-1}/peer{n-1}: a dataplane on lbI, its wire on peerI."""
    for i in range(n):
        veth_pair(f"lb{i}", f"peer{i}")


def tc_wire(a, b, ns=None):
    """Interfaces a and b (in namespace ns) joined as one wire: a frame
    arriving on either leaves by the other, untouched (tc ingress, u32 match
    all, mirred redirect). Any ingress filters already there are replaced:
    one left pointing at a device since re-created would drop everything."""
    for src, dst in ((a, b), (b, a)):
        sh("tc", "qdisc", "del", "dev", src, "ingress", ns=ns, check=False)
        sh("tc", "qdisc", "add", "dev", src, "ingress", ns=ns)
        sh("tc", "filter", "add", "dev", src, "parent", "ffff:", "protocol", "all",
           "u32", "match", "u32", "0", "0",
           "action", "mirred", "egress", "redirect", "dev", dst, ns=ns)


def mac_of(iface, ns=None):
    """The MAC of iface as 6 bytes. Not from /sys: under unshare -n it still
    shows the parent namespace."""
    out = sh("ip", "-j", "link", "show", "dev", iface, ns=ns).stdout
    return bytes.fromhex(json.loads(out)[0]["address"].replace(":", ""))


def delete(ns):
    """Namespace ns removed if it is there (its veth ends go with it)."""
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@contextlib.contextmanager
def namespace(ns):
    """A fresh namespace ns with lo up for the block, removed afterwards
    (one left by an earlier run is removed first)."""
    delete(ns)
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "set", "lo", "up", ns=ns)
        yield ns
    finally:
        delete(ns)


def enter_private_mount_namespace():
    """This process (single-threaded: unshare(2) refuses otherwise) and its
    children in a mount namespace of their own, propagation private: mounts
    made from now on end with the process and are not seen outside."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "unshare(CLONE_NEWNS): " + os.strerror(err))
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)


def enter_private_net_namespace():
    """This process (single-threaded) and its children in a network
    namespace of their own with lo up: addresses and routes made from now
    on are the test's alone and go with it. (/sys still shows the parent
    namespace's interfaces: ask `ip` instead.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "unshare(CLONE_NEWNET): " + os.strerror(err))
    ip("link", "set", "lo", "up")
