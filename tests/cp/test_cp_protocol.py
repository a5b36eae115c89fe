# SPDX-License-Identifier: BSD-3-Clause
"""edgelb-cp refuses a dataplane whose protocol it does not speak.

Three fake dataplanes (Unix sockets answering the dataplane protocol from
Python, no DPDK, no root): "good" answers ping with edgelb-cp's protocol,
"future" with protocol + 1, "old" with no protocol member at all. Checks:
  - `ping` of edgelb-cp names its version and protocol;
  - "good" gets a config.set (so the fakes are convincing), the other two get
    nothing but pings: no config.set, no counters.get, no vip.tables;
  - each refusal is a `dataplane_refused` event and a log line naming the
    dataplane, the protocol it speaks and the one edgelb-cp speaks;
  - dataplanes.get reports them with state "refused", their protocol and
    the reason in last_error; `edgelbctl dataplanes` shows "refused";
  - backend.resume ends a drain, and backend.undrain, its deprecated name
    (listed so by rpc.methods), does the same; backend.preview takes
    "resume" and "undrain" alike; `edgelbctl backend resume` and its
    deprecated `backend undrain` too;
  - edgelb-cp exits 0 on SIGTERM, nothing from the sanitizers.
Run by pytest (--cp, --ctl).
"""
import json
import os
import signal
import subprocess
import types

import pytest

from edgelb_testlib import rpc
from edgelb_testlib.proc import Daemons, sanitizer_reports, wait_for
from cplib import FakeDataplane


NAMES = ("good", "future", "old")


@pytest.fixture(scope="module")
def cp(opts, workdir):
    """edgelb-cp managing the three fakes, a subscription opened before they
    exist, once each fake was called as below. Yields a namespace: daemons,
    sock, version, speaks, sub, fakes (by name)."""
    sockets = {n: os.path.join(workdir, n + ".sock") for n in NAMES}
    cp_sock, cfg = os.path.join(workdir, "cp.sock"), os.path.join(workdir, "cp.json")
    config = {
        "node": {"source_v4": "192.0.2.10", "gateway_mac": "02:00:00:00:00:01"},
        "dataplanes": [{"name": n, "socket": s} for n, s in sockets.items()],
        "vips": [{"address": "198.51.100.1", "port": 80, "protocol": "tcp",
                  "backends": [{"address": "10.77.0.1"}]}]}
    with open(cfg, "w") as f:
        json.dump(config, f)
    daemons = Daemons(workdir)
    fakes = {}
    try:
        daemons.start("cp", [opts.cp, "--config", cfg, "--socket", cp_sock])
        wait_for("edgelb-cp's socket", lambda: "result" in rpc.request(cp_sock, "vip.list"), 10)
        out = subprocess.run([opts.cp, "--version"], capture_output=True, text=True)
        _, version, _, speaks = out.stdout.split()
        speaks = int(speaks)
        # Subscribed before the dataplanes exist: no event can be missed.
        sub = rpc.Subscription(cp_sock, 1000)
        fakes = {"good": FakeDataplane(sockets["good"], speaks),
                 "future": FakeDataplane(sockets["future"], speaks + 1),
                 "old": FakeDataplane(sockets["old"], None)}
        good, future, old = fakes["good"], fakes["future"], fakes["old"]
        wait_for("config.set to the good dataplane", lambda: good.called("config.set") > 0, 10)
        wait_for("pings answered by the refused ones",
                 lambda: future.called("ping") >= 2 and old.called("ping") >= 2, 10)
        # counters.get goes out every second to a managed dataplane.
        wait_for("counters.get to the good dataplane",
                 lambda: good.called("counters.get") > 0, 10)
        yield types.SimpleNamespace(
            daemons=daemons, sock=cp_sock, version=version, version_line=out.stdout.strip(),
            speaks=speaks, sub=sub, fakes=fakes)
    finally:
        daemons.stop_all(signal.SIGKILL)
        for fake in fakes.values():
            fake.close()


def refusals(speaks):
    """{refused dataplane: the error edgelb-cp gives for it}."""
    return {"future": f"dataplane future speaks protocol {speaks + 1}, "
                      f"edgelb-cp speaks {speaks}: not managed",
            "old": "dataplane old does not say which protocol it speaks, "
                   f"edgelb-cp speaks {speaks}: not managed"}


def test_ping_names_version_and_protocol(cp):
    pong = rpc.request(cp.sock, "ping").get("result", {})
    assert pong.get("pong") is True and pong.get("version") == cp.version and \
        pong.get("protocol") == cp.speaks, \
        f"edgelb-cp ping: {json.dumps(pong)} (--version: {cp.version_line})"


def test_ping_and_status_served_by_the_rpc_server(cp):
    """ping, status.get and rpc.methods come from the RPC server itself
    (as on the dataplanes), with edgelb-cp's members in ping and status."""
    pong = rpc.request(cp.sock, "ping").get("result", {})
    assert list(pong) == ["pong", "controlplane", "generation", "protocol", "version"], \
        f"ping members in order: {list(pong)}"
    status = rpc.request(cp.sock, "status.get").get("result", {})
    assert status.get("controlplane") == "edgelb-cp" and \
        status.get("generation") == pong["generation"] and status.get("dataplanes") == 3 and \
        status.get("dataplanes_in_sync") == 1 and "control" in status, \
        f"status.get: {json.dumps(status)}"
    methods = {m["name"]: m for m in
               rpc.request(cp.sock, "rpc.methods").get("result", {}).get("methods", [])}
    for name in ("ping", "status.get", "rpc.methods", "vip.list", "backend.drain"):
        assert name in methods, f"rpc.methods lacks {name}: {sorted(methods)}"
    assert methods["ping"]["read_only"] and not methods["backend.drain"]["read_only"]


@pytest.mark.parametrize("name", ["future", "old"])
def test_refused_dataplane_gets_only_pings(cp, name):
    fake = cp.fakes[name]
    with fake.lock:
        others = sorted(set(m for m in fake.methods if m != "ping"))
    assert others == [], f"{name}: nothing but pings ({others or 'none'})"


@pytest.mark.parametrize("name", ["future", "old"])
def test_refusal_event(cp, name):
    e, _ = cp.sub.wait_event(lambda ev: ev.get("type") == "dataplane_refused" and
                             ev.get("dataplane") == name, 5)
    assert e is not None and e.get("error") == refusals(cp.speaks)[name] and \
        e.get("expected_protocol") == cp.speaks and \
        e.get("protocol") == (cp.speaks + 1 if name == "future" else None), \
        f"{name}: event {json.dumps(e)}"


@pytest.mark.parametrize("name", ["future", "old"])
def test_refusal_logged_once(cp, name):
    text = refusals(cp.speaks)[name]
    assert cp.daemons.log("cp").count(text) == 1, f"{name}: logged once: '{text}'"


def dataplanes(cp):
    return {d["name"]: d
            for d in rpc.request(cp.sock, "dataplanes.get")["result"]["dataplanes"]}


def test_good_dataplane_managed(cp):
    g = dataplanes(cp)["good"]
    assert g["state"] == "managed" and g["protocol"] == cp.speaks and g["in_sync"] and \
        g["version"] == "fake-9.9", f"good: {json.dumps(g)}"


@pytest.mark.parametrize("name", ["future", "old"])
def test_refused_in_dataplanes_get(cp, name):
    d = dataplanes(cp)[name]
    assert d["connected"] and d["state"] == "refused" and not d["in_sync"] and \
        d["pushed_generation"] == 0 and d["last_error"] == refusals(cp.speaks)[name] and \
        d["protocol"] == (cp.speaks + 1 if name == "future" else None), \
        f"{name}: dataplanes.get {json.dumps(d)}"


def test_edgelbctl_dataplanes(cp, opts):
    ctl = subprocess.run([opts.ctl, "--socket", cp.sock, "dataplanes"],
                         capture_output=True, text=True)
    rows = {l.split()[0]: l.split()[1] for l in ctl.stdout.splitlines()[1:] if l.split()}
    assert rows == {"good": "yes", "future": "refused", "old": "refused"}, \
        f"edgelbctl dataplanes: {rows}"


VIP = {"address": "198.51.100.1", "port": 80, "protocol": "tcp"}
VIP_TEXT, BACKEND = "198.51.100.1:80/tcp", "10.77.0.1"


def test_rpc_methods_lists_undrain_as_deprecated(cp):
    methods = {m["name"]: m for m in
               rpc.request(cp.sock, "rpc.methods").get("result", {}).get("methods", [])}
    assert methods.get("backend.resume") == {"name": "backend.resume", "read_only": False}, \
        f"backend.resume: {methods.get('backend.resume')}"
    assert methods.get("backend.undrain") == {
        "name": "backend.undrain", "read_only": False, "deprecated": True,
        "replaced_by": "backend.resume"}, f"backend.undrain: {methods.get('backend.undrain')}"


def backend_health(cp):
    """(state, drain_state) of BACKEND as health.get has it."""
    for v in rpc.request(cp.sock, "health.get")["result"]["vips"]:
        for b in v["backend_health"]:
            if b["address"] == BACKEND:
                return b["state"], b["drain_state"]
    return None


def good_has(cp, generation):
    return dataplanes(cp)["good"]["pushed_generation"] >= generation


def drain(cp):
    """Drains BACKEND; returns the drain's generation once the good
    dataplane has it."""
    r = rpc.request(cp.sock, "backend.drain", dict(VIP, backend=BACKEND))
    generation = r.get("result", {}).get("generation", -1)
    assert backend_health(cp) == ("draining", "draining"), \
        f"after backend.drain ({json.dumps(r)}): {backend_health(cp)}"
    wait_for("the good dataplane has the drain", lambda: good_has(cp, generation), 5)
    return generation


@pytest.mark.parametrize("method", ["backend.resume", "backend.undrain"])
def test_resume_ends_a_drain(cp, method):
    """The same effect by either name: the next generation, the backend
    active with no drain, pushed to the managed dataplane."""
    generation = drain(cp)
    r = rpc.request(cp.sock, method, dict(VIP, backend=BACKEND))
    assert r.get("result") == {"generation": generation + 1}, f"{method}: {json.dumps(r)}"
    assert backend_health(cp) == ("active", "none"), f"after {method}: {backend_health(cp)}"
    wait_for("the good dataplane has it", lambda: good_has(cp, generation + 1), 5)
    # Again: nothing to end, the same answer (no new generation).
    r = rpc.request(cp.sock, method, dict(VIP, backend=BACKEND))
    assert r.get("result") == {"generation": generation + 1}, f"{method} again: {json.dumps(r)}"


def test_preview_takes_resume_and_undrain(cp):
    drain(cp)
    answers = {change: rpc.request(cp.sock, "backend.preview",
                                   dict(VIP, backend=BACKEND, change=change))
               for change in ("resume", "undrain", "undo")}
    resume = answers["resume"].get("result", {})
    sides = [(b["old"]["state"], b["new"]["state"]) for b in resume.get("backends", [])
             if b["address"] == BACKEND]
    assert sides == [("draining", "active")] and \
        answers["undrain"].get("result") == resume, \
        f"preview of resume {json.dumps(resume)}, of undrain {json.dumps(answers['undrain'])}"
    assert answers["undo"].get("error", {}).get("message") == \
        "change: must be one of add, remove, drain, resume, weight", \
        f"an unknown change: {json.dumps(answers['undo'])}"
    rpc.request(cp.sock, "backend.resume", dict(VIP, backend=BACKEND))


@pytest.mark.parametrize("words", [["backend", "resume"], ["backend", "undrain"]])
def test_edgelbctl_resume_and_its_deprecated_alias(cp, opts, words):
    generation = drain(cp)
    ctl = subprocess.run([opts.ctl, "--socket", cp.sock, *words, VIP_TEXT, BACKEND],
                         capture_output=True, text=True, timeout=30)
    assert ctl.returncode == 0 and ctl.stdout == f"ok (generation {generation + 1})\n", \
        f"edgelbctl {' '.join(words)}: exit {ctl.returncode}, {ctl.stdout!r} {ctl.stderr!r}"
    assert backend_health(cp) == ("active", "none") and good_has(cp, generation + 1), \
        f"after edgelbctl {' '.join(words)}: {backend_health(cp)}, " \
        f"good at {dataplanes(cp)['good']['pushed_generation']}"


def test_edgelbctl_help_names_undrain_deprecated(opts):
    """`backend undrain` is listed, its help (on the line after its
    synopsis) saying what replaces it."""
    ctl = subprocess.run([opts.ctl, "--help"], capture_output=True, text=True)
    lines = ctl.stdout.splitlines()
    at = [i for i, l in enumerate(lines) if l.startswith("  backend undrain VIP BACKEND")]
    assert ctl.returncode == 0 and any(l.startswith("  backend resume VIP BACKEND") for l in lines) \
        and len(at) == 1 and lines[at[0] + 1].strip() == "deprecated: backend resume", \
        f"edgelbctl --help: {lines}"


def test_sigterm_clean_exit(cp):
    # A clean exit on SIGTERM, and nothing from the sanitizers (an ASan
    # build reports leaks and errors there).
    rc, _ = cp.daemons.stop("cp")
    bad = sanitizer_reports(cp.daemons.log("cp"))
    assert rc == 0 and not bad, f"edgelb-cp exited with {rc}" + (f": {bad[0]}" if bad else "")
