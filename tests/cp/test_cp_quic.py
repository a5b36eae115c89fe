# SPDX-License-Identifier: BSD-3-Clause
"""QUIC routing's configuration (issue 19, docs/quic-lb.md) through
edgelb-cp and edgelbctl to the dataplanes.

edgelb-cp manages a fake dataplane (cplib.FakeDataplane, recording every
config.set) and, with root and --dp, a real edgelb-dp on net_null.
Checks:
  - a UDP VIP with "quic" (plaintext and keyed configurations) and backends
    with server IDs, added over JSON-RPC: what the fake receives, member
    for member; the real edgelb-dp takes it (in sync, its config.get);
  - refusals naming the field: "quic" on a TCP VIP, a key that is not 32
    hex digits (its text never echoed), a server ID of the wrong length or
    already taken; nothing changes;
  - `backend add --quic-server-id`;
  - keys are secrets: a peer that may only read (nobody) sees each key's
    check value (AES-128 of a zero block under the key, first 3 octets,
    computed here with Python's cryptography) in vip.get and config.get,
    never the key; root sees the key;
  - `vip quic`: set with the key read from a file, shown with its check,
    switched off.
Run by pytest (--cp, --ctl, optional --dp).
"""
import json
import os
import pwd

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from edgelb_testlib import rpc
from cplib import CpRig, env_fixture

VIP = {"address": "198.51.100.4", "port": 443, "protocol": "udp"}
VIP_NAME = "198.51.100.4:443/udp"
KEY = "8f95f09245765f80256934e50c66207f"
KEY2 = "fdf726a9893ec05c0632d3956680baf0"
EXIT_REFUSED, EXIT_USAGE = 1, 2


def key_check(hex_key):
    enc = Cipher(algorithms.AES(bytes.fromhex(hex_key)), modes.ECB()).encryptor()
    return (enc.update(bytes(16)) + enc.finalize())[:3].hex()


QUIC = {"server_id_length": 2,
        "configs": [{"id": 0, "nonce_length": 6}, {"id": 1, "nonce_length": 14, "key": KEY}]}


class Env(CpRig):
    def __init__(self, opts, work):
        super().__init__(opts, work, "quic")

    def setup(self):
        self.start(self.base_config([], node={"source_v4": "192.0.2.10",
                                              "gateway_mac": "02:00:00:00:00:01"},
                                    read_only_peer=True))

    def pushed_vip(self):
        """The VIP in the fake's last config.set."""
        with self.fake.lock:
            params = self.fake.sets[-1][2]
        return next(v for v in params["config"]["vips"] if v["port"] == VIP["port"])



env = env_fixture(Env)


def refused(env, method, params, field, text):
    before = rpc.call(env.cp_sock, "config.get")
    reply = rpc.request(env.cp_sock, method, params)
    err = reply.get("error")
    assert err is not None, reply
    assert err["message"] == text, err
    assert (err.get("data") or {}).get("field") == field, err
    assert rpc.call(env.cp_sock, "config.get") == before


def test_vip_with_quic_pushed(env):
    backends = [{"address": "10.77.0.1", "quic_server_id": "0101"},
                {"address": "10.77.0.2", "quic_server_id": "0102"}]
    rpc.call(env.cp_sock, "vip.add", dict(VIP, quic=QUIC, backends=backends))
    env.wait_in_sync()
    got = env.pushed_vip()
    assert got["quic"] == QUIC
    assert [(b["address"], b.get("quic_server_id")) for b in got["backends"]] == \
        [("10.77.0.1", "0101"), ("10.77.0.2", "0102")]
    if env.real_dp:
        dp_vip = next(v for v in rpc.call(env.dp_sock, "config.get")["config"]["vips"]
                      if v["port"] == VIP["port"])
        assert dp_vip["quic"] == QUIC


def test_refusals_name_the_field(env):
    tcp = {"address": "198.51.100.5", "port": 443, "protocol": "tcp"}
    refused(env, "vip.add", dict(tcp, quic=QUIC), "quic",
            "quic: QUIC runs over UDP: a \"tcp\" VIP cannot route by it")
    secret = "not-a-key-but-a-secret-of-32-ch"
    bad = {"server_id_length": 2, "configs": [{"id": 1, "nonce_length": 14, "key": secret}]}
    reply = rpc.request(env.cp_sock, "vip.update", dict(VIP, quic=bad))
    assert reply["error"]["message"] == \
        "quic.configs[0].key: must be 32 hexadecimal digits (an AES-128 key)", reply
    assert secret not in json.dumps(reply)
    refused(env, "backend.add", dict(VIP, backend="10.77.0.3", quic_server_id="010203"),
            "quic_server_id", "quic_server_id: must be 2 octets (quic.server_id_length), not 3")
    refused(env, "backend.add", dict(VIP, backend="10.77.0.3", quic_server_id="0101"),
            "quic_server_id", "quic_server_id: backends[0] has it already")


def test_backend_add_with_server_id(env):
    r = env.ctl("backend", "add", VIP_NAME, "10.77.0.3", "--quic-server-id", "0A03")
    assert r.returncode == 0, r
    env.wait_in_sync()
    got = env.pushed_vip()
    assert [b.get("quic_server_id") for b in got["backends"]] == ["0101", "0102", "0a03"]
    r = env.ctl("backend", "add", VIP_NAME, "10.77.0.4", "--quic-server-id", "0g03")
    assert r.returncode == EXIT_REFUSED and \
        "quic_server_id: must be 1..15 octets in hexadecimal" in r.stderr, r


def test_read_only_peer_sees_key_checks(env):
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another uid")
    nobody = pwd.getpwnam("nobody")
    r = env.ctl("--json", "vip", "get", VIP_NAME, user=(nobody.pw_uid, nobody.pw_gid))
    assert r.returncode == 0, r
    assert KEY not in r.stdout
    shown = json.loads(r.stdout)["config"]["quic"]["configs"]
    assert shown == [{"id": 0, "nonce_length": 6},
                     {"id": 1, "nonce_length": 14, "key_check": key_check(KEY)}]
    r = env.ctl("--json", "config", user=(nobody.pw_uid, nobody.pw_gid))
    assert r.returncode == 0, r
    assert KEY not in r.stdout and key_check(KEY) in r.stdout
    # Root (a peer that may write) reads the key: it could set it anyway.
    assert rpc.call(env.cp_sock, "vip.get", VIP)["config"]["quic"] == QUIC
    assert KEY in json.dumps(rpc.call(env.cp_sock, "config.get"))


def test_ctl_vip_quic(env):
    key_file = os.path.join(env.work, "quic.key")
    with open(key_file, "w") as f:
        f.write(KEY2 + "\n")
    os.chmod(key_file, 0o600)
    r = env.ctl("vip", "quic", VIP_NAME, "--config", "2:8:" + key_file, "--config", "0:6")
    assert r.returncode == 0, r
    assert KEY2 not in r.stdout and KEY2 not in r.stderr
    assert "config 2: nonce 8 octets, encrypted, key check %s" % key_check(KEY2) in r.stdout, r
    env.wait_in_sync()
    assert env.pushed_vip()["quic"] == {
        "server_id_length": 2,
        "configs": [{"id": 2, "nonce_length": 8, "key": KEY2}, {"id": 0, "nonce_length": 6}]}
    r = env.ctl("vip", "quic", VIP_NAME)
    assert r.returncode == 0 and r.stdout == (
        "quic: server ID 2 octets\n"
        "  config 2: nonce 8 octets, encrypted, key check %s\n"
        "  config 0: nonce 6 octets, plaintext\n" % key_check(KEY2)), r
    r = env.ctl("vip", "quic", VIP_NAME, "--config", "9:8")
    assert r.returncode == EXIT_REFUSED and "configs[0].id: must be an integer in 0..6" in r.stderr, r
    r = env.ctl("vip", "quic", VIP_NAME, "--off", "--config", "0:6")
    assert r.returncode == EXIT_USAGE, r
    # Off: the backends' server IDs go first (a server ID needs "quic").
    for b in ("10.77.0.1", "10.77.0.2", "10.77.0.3"):
        rpc.call(env.cp_sock, "backend.remove", dict(VIP, backend=b))
    r = env.ctl("vip", "quic", VIP_NAME, "--off")
    assert r.returncode == 0 and r.stdout.endswith("quic: off\n"), r
    env.wait_in_sync()
    assert "quic" not in env.pushed_vip()


def test_cp_exits_cleanly(env):
    env.stop_cp()
