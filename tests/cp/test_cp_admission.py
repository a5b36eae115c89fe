# SPDX-License-Identifier: BSD-3-Clause
"""A VIP's admission control (issue 18, docs/admission.md) through edgelb-cp
and edgelbctl, end to end to the dataplanes.

edgelb-cp manages a fake dataplane (cplib.FakeDataplane: a Unix socket
answering the dataplane protocol from Python, recording every config.set)
and, with root and --dp, a real edgelb-dp on net_null (its own parser,
config.get and state file). Two VIPs: an IPv4 one with settings other than
the defaults (encap gue, mtu 1400, an SLO) so that `vip limits` is seen to
keep them, and an IPv6 one. Checks:
  - absent: every VIP shows admission off (vip.get, vip.list, config.set,
    `vip get`, `vip limits` without options);
  - `edgelbctl vip limits` sets the budget and per-source limits, changes
    them (a rate alone keeps its burst, --source LEN replaces that length's
    whole entry, LEN:off removes it) and prints them; the VIP's other
    settings and backends stay; what edgelb-cp holds is exactly what the
    dataplanes receive (config.set; the real one's config.get and state
    file);
  - vip.add and vip.update over raw JSON-RPC take "admission", and vip.update
    without it switches admission off (a replacement, as documented);
  - refusals name the field (edgelbctl: exit 1 with edgelb-cp's message;
    usage errors exit 2 before anything is sent) and change nothing: same
    vip.get, same config file bytes, same generation, no config.set;
  - the limits survive an edgelb-cp restart (config file) and are pushed
    again; --clear removes them all;
  - edgelb-cp exits 0 on SIGTERM, nothing from the sanitizers.
Run by pytest (--cp, --ctl, optional --dp).
"""
import json


from edgelb_testlib import rpc
from edgelb_testlib.proc import wait_for
from cplib import CpRig, env_fixture

V4 = {"address": "198.51.100.1", "port": 80, "protocol": "tcp"}
V6 = {"address": "2001:db8::10", "port": 443, "protocol": "tcp"}
V4_NAME, V6_NAME = "198.51.100.1:80/tcp", "[2001:db8::10]:443/tcp"
NEW_VIP = {"address": "198.51.100.7", "port": 53, "protocol": "udp"}
OFF = {"new_flows_per_s": 0, "new_flow_burst": 0, "sources": []}
EXIT_REFUSED, EXIT_USAGE = 1, 2


def source(prefix_len, pps=0, burst=0, new=0, new_burst=0):
    """One entry of "sources" as edgelb-cp writes it: every member."""
    return {"prefix_len": prefix_len, "packets_per_s": pps, "packet_burst": burst,
            "new_flows_per_s": new, "new_flow_burst": new_burst}


def same_vip(vip, key):
    return all(vip[k] == v for k, v in key.items())


class Env(CpRig):
    def __init__(self, opts, work):
        super().__init__(opts, work, "admission")

    def setup(self):
        self.start(self.base_config([
            dict(V4, encap="gue", mtu=1400, slo={"availability": 0.9995},
                 backends=[{"address": "10.77.0.1"}, {"address": "10.77.0.2", "weight": 3}]),
            dict(V6, backends=[{"address": "2001:db8:1::1"}])]))

    def vip_config(self, key):
        return rpc.call(self.cp_sock, "vip.get", key)["config"]

    def admission(self, key):
        return self.vip_config(key)["admission"]

    def pushed_vip(self, key):
        """The VIP in the fake's last config.set."""
        with self.fake.lock:
            params = self.fake.sets[-1][2]
        return next(v for v in params["config"]["vips"] if same_vip(v, key))

    def real_vip(self, key):
        """The VIP as the real edgelb-dp has it (config.get) and as its state
        file has it."""
        live = rpc.call(self.dp_sock, "config.get")["config"]
        with open(self.dp_state) as f:
            saved = json.load(f)
        return (next(v for v in live["vips"] if same_vip(v, key)),
                next(v for v in saved["vips"] if same_vip(v, key)))

    def expect_everywhere(self, key, admission):
        """edgelb-cp holds admission for the VIP and every dataplane has it."""
        self.wait_in_sync()
        assert self.admission(key) == admission
        assert self.pushed_vip(key)["admission"] == admission
        if self.real_dp:
            live, saved = self.real_vip(key)
            assert live["admission"] == admission
            assert saved["admission"] == admission

    def snapshot(self):
        """What a refused change must leave as it was: the file's bytes,
        the VIPs, the generation, the config.sets the fake got."""
        with open(self.config, "rb") as f:
            file_bytes = f.read()
        with self.fake.lock:
            sets = (len(self.fake.sets), self.fake.sets[-1][2]["config"])
        gens = [d.get("pushed_generation")
                for d in rpc.call(self.cp_sock, "dataplanes.get")["dataplanes"]]
        return (file_bytes, sets, gens, self.vip_config(V4), self.vip_config(V6))


env = env_fixture(Env)


def test_absent_is_off(env):
    for key in (V4, V6):
        env.expect_everywhere(key, OFF)
    listed = rpc.call(env.cp_sock, "vip.list")["vips"]
    assert [v["admission"] for v in listed] == [OFF, OFF]
    r = env.ctl("vip", "get", V4_NAME)
    assert r.returncode == 0 and r.stdout.endswith("limits: none\n"), r
    r = env.ctl("vip", "limits", V4_NAME)
    assert (r.returncode, r.stdout) == (0, "limits: none\n"), r
    r = env.ctl("--json", "vip", "limits", V4_NAME)
    assert r.returncode == 0 and json.loads(r.stdout) == OFF, r


def test_ctl_sets_the_limits(env):
    before = env.vip_config(V4)
    r = env.ctl("vip", "limits", V4_NAME, "--new-flows-per-s", "50000", "--new-flow-burst",
                "5000", "--source", "32:pps=2000,burst=200,new=100,new-burst=20",
                "--source", "24:pps=20000,burst=2000")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ok (generation ")
    assert lines[1:] == [
        "limits: VIP new flows 50000/s (burst 5000)",
        "  per source /32: packets 2000/s (burst 200), new flows 100/s (burst 20)",
        "  per source /24: packets 20000/s (burst 2000), new flows unlimited"], r.stdout
    want = {"new_flows_per_s": 50000, "new_flow_burst": 5000,
            "sources": [source(32, 2000, 200, 100, 20), source(24, 20000, 2000)]}
    env.expect_everywhere(V4, want)
    # Everything else as it was: settings, SLO, backends.
    after = env.vip_config(V4)
    assert {k: v for k, v in after.items() if k != "admission"} == \
        {k: v for k, v in before.items() if k != "admission"}
    assert after["encap"] == "gue" and after["mtu"] == 1400
    assert after["slo"] == {"availability": 0.9995}
    assert [b["address"] for b in after["backends"]] == ["10.77.0.1", "10.77.0.2"]
    assert env.admission(V6) == OFF
    r = env.ctl("vip", "get", V4_NAME)
    assert r.returncode == 0 and r.stdout.splitlines()[-3:] == lines[1:], r.stdout
    listed = rpc.call(env.cp_sock, "vip.list")["vips"]
    assert [v["admission"] for v in listed] == [want, OFF]


def test_ctl_changes_part_of_the_limits(env):
    # A rate alone keeps its burst; a length given again is replaced whole.
    r = env.ctl("vip", "limits", V4_NAME, "--new-flows-per-s", "60000",
                "--source", "32:new=10,new-burst=5")
    assert r.returncode == 0, r
    env.expect_everywhere(V4, {"new_flows_per_s": 60000, "new_flow_burst": 5000,
                               "sources": [source(32, new=10, new_burst=5),
                                           source(24, 20000, 2000)]})
    # LEN:off removes that length's limit, the other stays.
    r = env.ctl("vip", "limits", V4_NAME, "--source", "32:off")
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[1:] == [
        "limits: VIP new flows 60000/s (burst 5000)",
        "  per source /24: packets 20000/s (burst 2000), new flows unlimited"]
    env.expect_everywhere(V4, {"new_flows_per_s": 60000, "new_flow_burst": 5000,
                               "sources": [source(24, 20000, 2000)]})
    # IPv6 lengths on the IPv6 VIP; --json prints the generation and the limits.
    r = env.ctl("--json", "vip", "limits", V6_NAME, "--source", "64:pps=500,burst=50",
                "--source", "48:new=1000,new-burst=100")
    assert r.returncode == 0, r
    want6 = {"new_flows_per_s": 0, "new_flow_burst": 0,
             "sources": [source(64, 500, 50), source(48, new=1000, new_burst=100)]}
    out = json.loads(r.stdout)
    assert out["admission"] == want6 and out["generation"] >= 1
    env.expect_everywhere(V6, want6)


def test_raw_rpc_add_and_update(env):
    adm = {"new_flows_per_s": 1000, "new_flow_burst": 100,
           "sources": [{"prefix_len": 32, "packets_per_s": 10, "packet_burst": 5}]}
    full = {"new_flows_per_s": 1000, "new_flow_burst": 100, "sources": [source(32, 10, 5)]}
    result = rpc.call(env.cp_sock, "vip.add",
                      dict(NEW_VIP, backends=[{"address": "10.77.0.9"}], admission=adm))
    assert result["generation"] >= 1
    env.expect_everywhere(NEW_VIP, full)
    # vip.update replaces the settings: given, admission is the new one...
    adm2 = {"sources": [{"prefix_len": 24, "new_flows_per_s": 5, "new_flow_burst": 5}]}
    rpc.call(env.cp_sock, "vip.update", dict(NEW_VIP, admission=adm2))
    env.expect_everywhere(NEW_VIP, {"new_flows_per_s": 0, "new_flow_burst": 0,
                                    "sources": [source(24, new=5, new_burst=5)]})
    assert [b["address"] for b in env.vip_config(NEW_VIP)["backends"]] == ["10.77.0.9"]
    # ... and not given, admission is off, as every setting not given.
    rpc.call(env.cp_sock, "vip.update", dict(NEW_VIP))
    env.expect_everywhere(NEW_VIP, OFF)
    rpc.call(env.cp_sock, "vip.remove", NEW_VIP)
    env.wait_in_sync()


# (params of vip.update for V4 beside its key, the error's field and message)
REFUSALS = [
    ({"admission": []}, "admission", "admission: must be an object"),
    ({"admission": {"budget": 1}}, "admission.budget", "admission.budget: unknown member"),
    ({"admission": {"new_flows_per_s": 100}}, "admission.new_flow_burst",
     "admission.new_flow_burst: must be at least 1 when new_flows_per_s is set"),
    ({"admission": {"new_flows_per_s": 1000000000001, "new_flow_burst": 1}},
     "admission.new_flows_per_s",
     "admission.new_flows_per_s: must be an integer in 0..1000000000000"),
    ({"admission": {"sources": [{"prefix_len": 32, "packets_per_s": 1, "packet_burst": 1},
                                {"prefix_len": 24, "packets_per_s": 1, "packet_burst": 1},
                                {"prefix_len": 16, "packets_per_s": 1, "packet_burst": 1}]}},
     "admission.sources", "admission.sources: at most 2 entries (prefix lengths)"),
    ({"admission": {"sources": [{"packets_per_s": 1, "packet_burst": 1}]}},
     "admission.sources[0].prefix_len", "admission.sources[0].prefix_len: missing"),
    ({"admission": {"sources": [{"prefix_len": 64, "packets_per_s": 1, "packet_burst": 1}]}},
     "admission.sources[0].prefix_len",
     "admission.sources[0].prefix_len: must be an integer in 1..32 for an IPv4 VIP"),
    ({"admission": {"sources": [{"prefix_len": 32, "packets_per_s": 1, "packet_burst": 1},
                                {"prefix_len": 24}]}},
     "admission.sources[1]",
     "admission.sources[1]: limits nothing: set packets_per_s or new_flows_per_s (or leave "
     "the entry out)"),
    ({"admission": {"sources": [{"prefix_len": 32, "packets_per_s": 1, "packet_burst": 1},
                                {"prefix_len": 32, "new_flows_per_s": 1,
                                 "new_flow_burst": 1}]}},
     "admission.sources[1].prefix_len",
     "admission.sources[1].prefix_len: duplicate of sources[0]"),
    ({"admission": {"sources": [{"prefix_len": 32, "new_flows_per_s": 1,
                                 "new_flow_burst": 1, "pps": 3}]}},
     "admission.sources[0].pps", "admission.sources[0].pps: unknown member"),
]


def test_refusals_name_the_field_and_change_nothing(env):
    before = env.snapshot()
    settings = {k: v for k, v in before[3].items() if k != "backends"}
    for params, field, message in REFUSALS:
        reply = rpc.request(env.cp_sock, "vip.update", dict(settings, **params))
        assert reply.get("error", {}).get("message") == message, (params, reply)
        assert reply["error"]["code"] == -32602
        assert reply["error"].get("data", {}).get("field") == field, reply
        assert env.snapshot() == before, params
    # The same through vip.add of a new VIP: not added.
    reply = rpc.request(env.cp_sock, "vip.add", dict(NEW_VIP, admission={"new_flows_per_s": 9}))
    assert reply["error"]["message"] == \
        "admission.new_flow_burst: must be at least 1 when new_flows_per_s is set", reply
    assert rpc.request(env.cp_sock, "vip.get", NEW_VIP)["error"]["code"] == -32001
    assert env.snapshot() == before

    # edgelbctl: edgelb-cp's message, exit 1, nothing changed.
    for argv, message in [
            (["--source", "16:pps=100"],
             "admission.sources[1].packet_burst: must be at least 1 when packets_per_s is set"),
            (["--source", "33:pps=1,burst=1"],
             "admission.sources[1].prefix_len: must be an integer in 1..32 for an IPv4 VIP"),
            (["--source", "32:pps=1,burst=1", "--source", "16:pps=1,burst=1"],
             "admission.sources: at most 2 entries (prefix lengths)"),
            (["--new-flows-per-s", "1000000000001"],
             "admission.new_flows_per_s: must be an integer in 0..1000000000000")]:
        r = env.ctl("vip", "limits", V4_NAME, *argv)
        assert r.returncode == EXIT_REFUSED and message in r.stderr, (argv, r)
        assert r.stdout == ""
        assert env.snapshot() == before, argv
    # Usage errors: exit 2 before anything is asked.
    for argv in (["--source", "24"], ["--source", "24:"], ["--source", "24:foo=1"],
                 ["--source", "24:pps=1,pps=2"], ["--source", "x:pps=1"],
                 ["--new-flows-per-s", "-1"], ["--new-flows-per-s", "1e3"],
                 ["--new-flows-per-s"], ["--new-flow-burst", "9007199254740993"],
                 ["--clear", "--clear"], ["--bogus"]):
        r = env.ctl("vip", "limits", V4_NAME, *argv)
        assert r.returncode == EXIT_USAGE and "usage: edgelbctl" in r.stderr, (argv, r)
    r = env.ctl("vip", "limits", "198.51.100.1/tcp", "--clear")
    assert r.returncode == EXIT_USAGE, r
    r = env.ctl("vip", "limits", "198.51.100.99:80/tcp", "--clear")
    assert r.returncode == EXIT_REFUSED and "no VIP 198.51.100.99:80/tcp" in r.stderr, r
    assert env.snapshot() == before


def test_limits_survive_a_cp_restart(env):
    want4, want6 = env.admission(V4), env.admission(V6)
    assert want4 != OFF and want6 != OFF
    env.stop_cp()
    with open(env.config) as f:
        saved = json.load(f)
    assert [v["admission"] for v in saved["vips"]] == [want4, want6]
    with env.fake.lock:
        n_sets = len(env.fake.sets)
    env.start_cp()
    # The new edgelb-cp pushes its state again, limits included.
    wait_for("the state pushed again", lambda: len(env.fake.sets) > n_sets, 10)
    env.expect_everywhere(V4, want4)
    env.expect_everywhere(V6, want6)


def test_clear_removes_every_limit(env):
    r = env.ctl("vip", "limits", V4_NAME, "--clear")
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[1:] == ["limits: none"]
    env.expect_everywhere(V4, OFF)
    # --clear then options: only what is given.
    r = env.ctl("vip", "limits", V6_NAME, "--clear", "--new-flows-per-s", "10",
                "--new-flow-burst", "2")
    assert r.returncode == 0, r
    env.expect_everywhere(V6, {"new_flows_per_s": 10, "new_flow_burst": 2, "sources": []})
    r = env.ctl("vip", "limits", V6_NAME, "--clear")
    assert r.returncode == 0, r
    env.expect_everywhere(V6, OFF)


def test_help_lists_vip_limits(env):
    r = env.ctl("--help")
    assert r.returncode == 0 and "  vip limits VIP [--new-flows-per-s N]" in r.stdout
    assert "vip limits" in r.stdout.split("Changes:")[1]


def test_cp_exits_cleanly(env):
    env.stop_cp()
