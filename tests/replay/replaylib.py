# SPDX-License-Identifier: BSD-3-Clause
"""Shared helpers of the edgelb-replay integration tests.

Everything here is written from the wire formats (pcap, Ethernet, 802.1Q,
IPv4, IPv6, ICMP, UDP, JSON-RPC 2.0 lines), not from the dataplane's code:
the tests use it as an independent oracle.
"""
import ipaddress
import json
import os
import signal
import struct
import subprocess
import time

import pytest

from edgelb_testlib.checks import Checker
from edgelb_testlib.csum import (checksum, ipv6_pseudo_sum, ones_sum, pseudo_header,
                                 with_ipv4_checksum)
from edgelb_testlib.pcap import write_pcap
from edgelb_testlib.pytest_plugin import require_root
from edgelb_testlib.rpc import connect_when_ready, outcome

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100

IPPROTO_ICMP = 1
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ICMPV6 = 58
IPV6_EXT_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options
IPV6_FRAGMENT = 44

PROTO_NAMES = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp"}
TCP_SYN, TCP_ACK = 0x02, 0x10

# The node of both tests' configurations.
NODE_SOURCE_V4 = "192.168.10.1"
NODE_SOURCE_V6 = "fd00::1"
GATEWAY_MAC = "02:00:00:00:00:fe"
GUE_PORT = 6080  # the node's default gue_port (elb_config.h)


def tallied_run(run, name):
    """The module fixture `ck` of a replay test: run(opts, workdir, ck) once,
    as root, its checks tallied in ck (a Checker named name, and the
    dataplane) for the tests that follow. Assign it after run():
    ck = tallied_run(run, NAME)."""
    @pytest.fixture(scope="module")
    def ck(opts, workdir):
        require_root("edgelb-replay (DPDK EAL)")
        ck = Checker(name + (" (%s)" % opts.dataplane if opts.dataplane else ""))
        run(opts, workdir, ck)
        ck.finish()
        return ck
    return ck


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def port_mac_from_stdout(stdout):
    """The MAC edgelb-replay announces for its (single) port, or None:
    "edgelb-dp: port 0 net_pcap0 mac 02:70:63:61:70:00, 1 RX queue"."""
    for line in stdout.splitlines():
        words = line.replace(",", " ").split()
        if "port" in words and "mac" in words:
            try:
                return mac_bytes(words[words.index("mac") + 1])
            except (ValueError, IndexError):
                return None
    return None


def mac_str(b):
    return ":".join("%02x" % x for x in b)


# --------------------------------------------------------------------------
# Frames


class Frame:
    """What the tests need to know about one input frame."""

    __slots__ = ("l3_off", "vlan", "family", "l3", "tos", "ipv4_id", "df", "src", "dst",
                 "proto", "sport", "dport", "fragment", "l4_off")


def parse_frame(frame):
    """Parse Ethernet[/802.1Q]/IPv4|IPv6 far enough for the tests. Returns a
    Frame, or None for what is not an IP packet (or too broken to be one)."""
    if len(frame) < 14:
        return None
    f = Frame()
    etype = struct.unpack_from("!H", frame, 12)[0]
    off = 14
    f.vlan = None
    if etype == ETH_VLAN:
        if len(frame) < 18:
            return None
        f.vlan = struct.unpack_from("!H", frame, 14)[0] & 0xFFF
        etype = struct.unpack_from("!H", frame, 16)[0]
        off = 18
    f.l3_off = off
    f.fragment = False
    f.sport = f.dport = None
    if etype == ETH_IPV4:
        if len(frame) < off + 20:
            return None
        vihl, tos, total, ipid, frag, _ttl, proto = struct.unpack_from("!BBHHHBB", frame, off)
        ihl = (vihl & 0xF) * 4
        if vihl >> 4 != 4 or ihl < 20 or total < ihl or off + total > len(frame):
            return None
        f.family = 4
        f.l3 = frame[off:off + total]
        f.tos = tos
        f.ipv4_id = ipid
        f.df = bool(frag & 0x4000)
        f.fragment = bool(frag & 0x3FFF)
        f.src = f.l3[12:16]
        f.dst = f.l3[16:20]
        f.proto = proto
        f.l4_off = ihl
    elif etype == ETH_IPV6:
        if len(frame) < off + 40:
            return None
        vtf, plen, nh = struct.unpack_from("!IHB", frame, off)
        if vtf >> 28 != 6 or off + 40 + plen > len(frame):
            return None
        f.family = 6
        f.l3 = frame[off:off + 40 + plen]
        f.tos = (vtf >> 20) & 0xFF
        f.ipv4_id = 0
        f.df = True
        f.src = f.l3[8:24]
        f.dst = f.l3[24:40]
        p = 40
        while nh in IPV6_EXT_HEADERS or nh == IPV6_FRAGMENT:
            if p + 8 > len(f.l3):
                return None
            if nh == IPV6_FRAGMENT:
                f.fragment = True
                nh = f.l3[p]
                p += 8
            else:
                nxt, hlen = f.l3[p], (f.l3[p + 1] + 1) * 8
                nh = nxt
                p += hlen
        f.proto = nh
        f.l4_off = p
    else:
        return None
    if f.proto in (IPPROTO_TCP, IPPROTO_UDP) and not f.fragment and f.l4_off + 4 <= len(f.l3):
        f.sport, f.dport = struct.unpack_from("!HH", f.l3, f.l4_off)
    return f


def addr_str(family, raw):
    return str(ipaddress.ip_address(raw if family == 6 else raw[:4]))


def flow_key(f):
    """The client-to-VIP 5-tuple of a parsed frame, as a hashable tuple."""
    return (f.family, f.src, f.sport, f.dst, f.dport, f.proto)


# --------------------------------------------------------------------------
# Expected output frames, built from the wire formats


def encap_overhead(backend_family, gue):
    return (20 if backend_family == 4 else 40) + (8 if gue else 0)


def expected_forward(f, backend, gue, port_mac, gw_mac, gue_port=GUE_PORT):
    """The frame edgelb must send toward `backend` for input frame f:
    untagged Ethernet from our port to the gateway, outer IP (and GUE's UDP),
    then f's IP packet unchanged. Returns (bytes, mask): mask lists the
    (offset, length) ranges that are hash-derived (IPv6 flow label, GUE
    source port) and compared separately."""
    b = ipaddress.ip_address(backend)
    inner = f.l3
    mask = []
    if b.version == 4:
        eth = gw_mac + port_mac + struct.pack("!H", ETH_IPV4)
        payload_len = len(inner) + (8 if gue else 0)
        proto = IPPROTO_UDP if gue else IPPROTO_IPIP
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, f.tos, 20 + payload_len,
                          f.ipv4_id if f.family == 4 else 0, 0x4000 if f.df else 0, 64, proto, 0,
                          ipaddress.ip_address(NODE_SOURCE_V4).packed, b.packed)
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        l4 = 14 + 20
    else:
        eth = gw_mac + port_mac + struct.pack("!H", ETH_IPV6)
        payload_len = len(inner) + (8 if gue else 0)
        if gue:
            nh = IPPROTO_UDP
        else:
            nh = IPPROTO_IPV6 if f.family == 6 else IPPROTO_IPIP
        hdr = struct.pack("!IHBB16s16s", 6 << 28 | f.tos << 20, payload_len, nh, 64,
                          ipaddress.ip_address(NODE_SOURCE_V6).packed, b.packed)
        mask.append(("flow_label", 14 + 1, 3))
        l4 = 14 + 40
    udp = b""
    if gue:
        udp = struct.pack("!HHHH", 0, gue_port, 8 + len(inner), 0)
        mask.append(("gue_sport", l4, 2))
    return eth + hdr + udp + inner, mask


def compare_masked(actual, expected, mask):
    """None if equal outside the masked bits, else a description of the
    first difference. Masked: the low 20 bits of the IPv6 first word (flow
    label) and the GUE source port."""
    if len(actual) != len(expected):
        return "length %d, expected %d" % (len(actual), len(expected))
    a = bytearray(actual)
    e = bytearray(expected)
    for name, off, n in mask:
        if name == "flow_label":
            a[off] &= 0xF0
            e[off] &= 0xF0
            a[off + 1:off + 3] = b"\0\0"
            e[off + 1:off + 3] = b"\0\0"
        else:
            a[off:off + n] = b"\0" * n
            e[off:off + n] = b"\0" * n
    if a == e:
        return None
    i = next(k for k in range(len(a)) if a[k] != e[k])
    return "first difference at byte %d: got %s, expected %s" % (
        i, bytes(a[i:i + 8]).hex(), bytes(e[i:i + 8]).hex())


def masked_values(actual, mask):
    out = {}
    for name, off, n in mask:
        if name == "flow_label":
            out[name] = struct.unpack_from("!I", actual, off - 1)[0] & 0xFFFFF
        else:
            out[name] = struct.unpack_from("!H", actual, off)[0]
    return out


ICMP_QUOTE_MAX = 128  # ELB_ICMP_QUOTE_MAX, documented in elb_encap.h


def expected_too_big(f, mtu_for_client, port_mac, gw_mac):
    """The ICMP "too big" reply to f's sender, from the VIP: fragmentation
    needed (type 3 code 4, RFC 1191) for IPv4, packet too big (type 2, RFC
    4443) for IPv6, quoting the start of f's IP packet."""
    quote = f.l3[:ICMP_QUOTE_MAX]
    if f.family == 4:
        eth = gw_mac + port_mac + struct.pack("!H", ETH_IPV4)
        icmp = struct.pack("!BBHHH", 3, 4, 0, 0, min(mtu_for_client, 0xFFFF)) + quote
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(icmp), 0, 0, 64, IPPROTO_ICMP, 0,
                         f.dst, f.src)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        return eth + ip + icmp
    eth = gw_mac + port_mac + struct.pack("!H", ETH_IPV6)
    icmp = struct.pack("!BBHI", 2, 0, 0, mtu_for_client) + quote
    s = checksum(icmp, ipv6_pseudo_sum(f.dst, f.src, len(icmp), IPPROTO_ICMPV6))
    icmp = icmp[:2] + struct.pack("!H", s) + icmp[4:]
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(icmp), IPPROTO_ICMPV6, 64, f.dst, f.src)
    return eth + ip + icmp


def verify_icmp_checksums(frame):
    """Independent check of a reply's checksums: (ip_ok, icmp_ok)."""
    etype = struct.unpack_from("!H", frame, 12)[0]
    if etype == ETH_IPV4:
        ihl = (frame[14] & 0xF) * 4
        total = struct.unpack_from("!H", frame, 16)[0]
        ip_ok = ones_sum(frame[14:14 + ihl]) == 0xFFFF
        icmp_ok = ones_sum(frame[14 + ihl:14 + total]) == 0xFFFF
        return ip_ok, icmp_ok
    plen = struct.unpack_from("!H", frame, 18)[0]
    src, dst = frame[22:38], frame[38:54]
    s = ones_sum(frame[54:54 + plen], ipv6_pseudo_sum(src, dst, plen, IPPROTO_ICMPV6))
    return True, s == 0xFFFF


# --------------------------------------------------------------------------
# Running the tools


def run_pktgen(pktgen, out, truth, packets, seed, extra=()):
    cmd = [pktgen, "--out", out, "--truth", truth, "--packets", str(packets), "--seed",
           str(seed)] + list(extra)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_config(path, config):
    with open(path, "w") as f:
        json.dump(config, f, indent=1)


SUMMARY_PREFIX = "edgelb-replay: "


def parse_summary(stderr):
    """The replay's closing line: {packets, forward, reply, kernel, drop}."""
    for line in stderr.splitlines():
        if line.startswith(SUMMARY_PREFIX) and " packets: " in line:
            words = line[len(SUMMARY_PREFIX):].replace(",", "").split()
            return {"packets": int(words[0]), "forward": int(words[2]),
                    "reply": int(words[4]), "kernel": int(words[6]), "drop": int(words[10])}
    return None


# The MACs of the captures the tests build byte by byte: client to port.
REPLAY_CLIENT_MAC = bytes.fromhex("020000000101")
REPLAY_PORT_MAC = bytes.fromhex("020000000102")


def ipv4_frame(src, dst, proto, sport, dport, flags=0, payload=b""):
    """Ethernet (client to the replay's port) + IPv4 (DF, TTL 64) + TCP
    (flags; ack 1 with ACK) or UDP with payload; checksums correct."""
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if proto == IPPROTO_TCP:
        seg = struct.pack("!HHIIBBHHH", sport, dport, 1, 1 if flags & TCP_ACK else 0, 5 << 4, flags,
                          65535, 0, 0) + payload
        c = checksum(pseudo_header(s, d, proto, len(seg)) + seg)
        seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    else:
        seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        c = checksum(pseudo_header(s, d, proto, len(seg)) + seg) or 0xFFFF
        seg = seg[:6] + struct.pack("!H", c) + seg[8:]
    ip = with_ipv4_checksum(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0x1234, 0x4000,
                                        64, proto, 0, s, d))
    return REPLAY_PORT_MAC + REPLAY_CLIENT_MAC + b"\x08\x00" + ip + seg



def replay_capture(args, work, tag, config, packets, counters=False, raw=False, extra=(),
                   dataplane="dpdk"):
    """Run edgelb-replay --dataplane DATAPLANE over packets [(ts_ns, frame)]
    (written as TAG.pcap); returns (verdict lines: dicts, or the file's text
    if raw, counters.get result after the last packet or None, seconds).
    extra: more edgelb-replay arguments (e.g. --prefixes FILE)."""
    pcap = os.path.join(work, tag + ".pcap")
    t_write = time.monotonic()
    if not os.path.exists(pcap):
        write_pcap(pcap, packets, nanoseconds=True)
    t_write = time.monotonic() - t_write
    cfg = os.path.join(work, tag + "-config.json")
    write_config(cfg, config)
    verdicts = os.path.join(work, tag + "-verdicts.jsonl")
    cmd = [args.replay, "--dataplane", dataplane, "--config", cfg, "--in", pcap, "--out",
           os.path.join(work, tag + "-out.pcap"), "--verdicts", verdicts] + list(extra)
    got = None
    t0 = time.monotonic()
    if counters:
        sock = os.path.join(work, tag + ".sock")
        cmd += ["--socket", sock, "--hold-at", str(len(packets))]
        err = open(os.path.join(work, tag + ".stderr"), "w+")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            held = "held before packet %d" % len(packets)
            for line in proc.stdout:
                if line.strip() == held:
                    break
            else:
                raise RuntimeError("edgelb-replay %s ended before holding" % tag)
            rpc = connect_when_ready(sock, proc, what="edgelb-replay")
            res, e = outcome(rpc.request("counters.get"))
            if e:
                raise RuntimeError("counters.get: %s" % e)
            got = res["counters"]
            rpc.close()
            proc.send_signal(signal.SIGUSR1)
            proc.stdout.read()
            rc = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read()
        err.close()
    else:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=300)
        rc, stderr = p.returncode, p.stderr
    dt = time.monotonic() - t0
    if rc != 0:
        print(stderr)
        raise RuntimeError("edgelb-replay %s: exit %d" % (tag, rc))
    t_read = time.monotonic()
    if raw:
        with open(verdicts) as f:
            lines = f.read()
    else:
        with open(verdicts) as f:
            lines = [json.loads(line) for line in f]
    print("%s: pcap written in %.1f s, replay %.1f s, verdicts read in %.1f s" %
          (tag, t_write, dt, time.monotonic() - t_read))
    return lines, got, dt



# --------------------------------------------------------------------------
# JSON-RPC over the Unix socket
