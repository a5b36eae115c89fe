# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-xdp over maps pinned by a version with another layout (an upgrade).

The pins are made here with bpftool, as an older edgelb-xdp would have
left them, on a bpffs mounted for the test in a mount namespace of its own,
and the agent runs generic mode on a veth pair of a network namespace of
its own (nothing leaves it):
  - counters maps ("counters", "vip_counters") pinned with another value
    size: the agent replaces them, says so on stderr once per map, starts,
    serves counters.get, and the pins then have the program's layout;
  - admission control's state, replaceable as the counters are: the source
    sketch ("source_cells") pinned for another number of CPUs (fewer
    entries) is replaced the same way;
  - a map that holds state ("node") pinned with another layout: the agent
    refuses to start (exit status not 0) rather than lose that state, and
    leaves the pin as it was.
Root only (skipped otherwise).
"""
import json
import os
import subprocess
import tempfile

import pytest

from edgelb_testlib import netns
from edgelb_testlib import rpc as jsonrpc
from edgelb_testlib.netns import sh
from edgelb_testlib.proc import stop_and_collect
from edgelb_testlib.pytest_plugin import require_root


def map_info(path):
    return json.loads(sh("bpftool", "-j", "map", "show", "pinned", path).stdout)


def pin_map(path, kind, key, value, entries, name):
    sh("bpftool", "map", "create", path, "type", kind, "key", str(key), "value", str(value),
       "entries", str(entries), "name", name)


@pytest.fixture(scope="module")
def rig():
    require_root("BPF maps, a bpffs mount, a network namespace")
    netns.enter_private_mount_namespace()
    netns.enter_private_net_namespace()
    work = tempfile.mkdtemp(prefix="elb-stale-pins-")
    bpffs = os.path.join(work, "bpffs")
    os.mkdir(bpffs)
    sh("mount", "-t", "bpf", "bpf", bpffs)
    netns.veth_pair("elbpin0", "elbpin1")
    yield {"work": work, "bpffs": bpffs}
    sh("umount", bpffs, check=False)


def start_agent(opts, rig, pin_dir):
    sock = os.path.join(rig["work"], os.path.basename(pin_dir) + ".sock")
    err = open(os.path.join(rig["work"], os.path.basename(pin_dir) + ".err"), "w+")
    proc = subprocess.Popen([opts.agent, "--iface", "elbpin0", "--mode", "generic",
                             "--socket", sock, "--pin-dir", pin_dir],
                            stdout=subprocess.DEVNULL, stderr=err)
    return proc, sock, err


def test_counters_pinned_with_another_layout_are_replaced(opts, rig):
    pin_dir = os.path.join(rig["bpffs"], "counters-old")
    os.mkdir(pin_dir)
    pin_map(os.path.join(pin_dir, "counters"), "percpu_array", 4, 8, 1, "counters")
    pin_map(os.path.join(pin_dir, "vip_counters"), "percpu_array", 4, 16, 256, "vip_counters")
    pin_map(os.path.join(pin_dir, "source_cells"), "array", 4, 16, 1024, "source_cells")
    proc, sock, err = start_agent(opts, rig, pin_dir)
    try:
        jsonrpc.connect_when_ready(sock, proc, timeout=60, what="edgelb-xdp").close()
        counters = jsonrpc.call(sock, "counters.get")
        assert "source_new_flows_limited" in counters["counters"]["drops"]
        for name in ("counters", "vip_counters"):
            info = map_info(os.path.join(pin_dir, name))
            assert info["bytes_value"] not in (8, 16), (name, info)
        # One sketch of 4 x 2^16 cells per possible CPU.
        info = map_info(os.path.join(pin_dir, "source_cells"))
        assert info["max_entries"] >= 4 << 16 and info["max_entries"] % (4 << 16) == 0, info
    finally:
        stop_and_collect(proc)
    err.seek(0)
    text = err.read()
    assert proc.returncode == 0, text
    for name in ("counters", "vip_counters", "source_cells"):
        lines = [l for l in text.splitlines()
                 if f"{pin_dir}/{name} was pinned by a version with another layout" in l]
        assert len(lines) == 1, text
    assert "backend_counters was pinned" not in text


def test_state_pinned_with_another_layout_stops_the_load(opts, rig):
    pin_dir = os.path.join(rig["bpffs"], "node-old")
    os.mkdir(pin_dir)
    node = os.path.join(pin_dir, "node")
    pin_map(node, "array", 4, 8, 1, "node")
    proc, _, err = start_agent(opts, rig, pin_dir)
    try:
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            stop_and_collect(proc)
    err.seek(0)
    text = err.read()
    assert rc != 0, text
    assert "cannot load the XDP program" in text, text
    assert map_info(node)["bytes_value"] == 8
