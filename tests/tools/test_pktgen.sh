#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# edgelb-pktgen, checked against tshark, an independent decoder:
#   - 100k frames with a fixed seed: the pcap has nanosecond timestamps that
#     increase, and the truth file one line per frame with its length and time;
#   - no bad checksum in a well-formed frame (IPv4 header, TCP, UDP, ICMP,
#     ICMPv6), with tshark verifying all of them;
#   - tshark decodes the well-formed frames as the truth says: frame by frame
#     (family, VLAN, addresses, ports, TCP flags, fragments, ICMP type), and in
#     the counts of SYNs, ICMPv6 "packet too big" and fragments, taken with
#     tshark's own display filters;
#   - every malformation name appears; every --single kind writes one frame;
#   - the same seed gives identical files, another seed different ones;
#   - the time 100k frames take is printed, not asserted.
# Usage: test_pktgen.sh PATH/TO/edgelb-pktgen. Exit 77 (skipped) without
# tshark or python3.
set -euo pipefail

for tool in tshark mergecap python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done

PKTGEN=$(realpath "${1:?usage: $0 path/to/edgelb-pktgen}")
SEED=20240229
PACKETS=100000

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# tshark verifies no checksum unless asked; ICMP and ICMPv6 it always does.
TSHARK_CHECKSUMS=(-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE)

echo "== generate $PACKETS frames, seed $SEED"
start=$EPOCHREALTIME
"$PKTGEN" --out a.pcap --truth a.jsonl --packets "$PACKETS" --seed "$SEED"
end=$EPOCHREALTIME
echo "time for $PACKETS frames (pcap and truth): $(python3 -c "print(f'{$end - $start:.3f}')") s"

echo "== determinism"
"$PKTGEN" --out b.pcap --truth b.jsonl --packets "$PACKETS" --seed "$SEED" 2>/dev/null
"$PKTGEN" --out c.pcap --truth c.jsonl --packets "$PACKETS" --seed $((SEED + 1)) 2>/dev/null
cmp a.pcap b.pcap
cmp a.jsonl b.jsonl
if cmp -s a.pcap c.pcap || cmp -s a.jsonl c.jsonl; then
	echo "FAIL: seeds $SEED and $((SEED + 1)) gave identical output"
	exit 1
fi
echo "same seed: identical; other seed: different"

echo "== tshark: bad checksums"
BAD_CHECKSUM='ip.checksum.status == "Bad" || tcp.checksum.status == "Bad"'
BAD_CHECKSUM+=' || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad"'
BAD_CHECKSUM+=' || icmpv6.checksum.status == "Bad"'
tshark -r a.pcap "${TSHARK_CHECKSUMS[@]}" -Y "$BAD_CHECKSUM" -T fields -e frame.number \
	>bad_checksum.txt

echo "== tshark: display-filter counts"
tshark -r a.pcap -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' -T fields -e frame.number >syn.txt
tshark -r a.pcap -Y 'icmpv6.type == 2' -T fields -e frame.number >ptb.txt
tshark -r a.pcap -Y 'ip.flags.mf == 1 || ip.frag_offset > 0 || ipv6.fraghdr' \
	-T fields -e frame.number >frag.txt

echo "== tshark: per-frame decode"
FIELDS=(frame.number frame.len frame.time_epoch eth.type vlan.id ip.version ip.src ip.dst
	ip.len ip.flags.mf ip.frag_offset ipv6.src ipv6.dst ipv6.plen ipv6.fraghdr.offset
	ipv6.fraghdr.more tcp.srcport tcp.dstport tcp.flags udp.srcport udp.dstport icmp.type
	icmp.code icmpv6.type icmpv6.code arp.opcode ip.checksum.status tcp.checksum.status
	udp.checksum.status icmp.checksum.status icmpv6.checksum.status)
tshark -r a.pcap "${TSHARK_CHECKSUMS[@]}" -T fields -E separator='|' -E occurrence=a \
	-E aggregator=, $(printf -- '-e %s ' "${FIELDS[@]}") >fields.txt

echo "== --single kinds"
singles=()
"$PKTGEN" --single list >single_kinds.txt
while read -r kind; do
	"$PKTGEN" --single "$kind" --seed 3 --out "single_$kind.pcap" --truth "single_$kind.jsonl"
	singles+=("single_$kind.pcap")
	cat "single_$kind.jsonl" >>singles.jsonl
done <single_kinds.txt
mergecap -a -w singles.pcap "${singles[@]}"
tshark -r singles.pcap "${TSHARK_CHECKSUMS[@]}" -T fields -E separator='|' -E occurrence=a \
	-E aggregator=, $(printf -- '-e %s ' "${FIELDS[@]}") >singles_fields.txt

magic=$(od -An -tx1 -N4 a.pcap | tr -d ' \n')
echo "pcap magic: $magic"

python3 - "$PACKETS" "$magic" "${FIELDS[@]}" <<'PY'
import ipaddress
import json
import sys
from collections import Counter

packets = int(sys.argv[1])
magic = sys.argv[2]
fields = sys.argv[3:]
failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 30:
        print("FAIL:", msg)


def load_truth(path):
    return [json.loads(line) for line in open(path)]


def load_fields(path):
    rows = []
    for line in open(path):
        values = line.rstrip("\n").split("|")
        rows.append({name: [v for v in value.split(",") if v != ""]
                     for name, value in zip(fields, values)})
    return rows


def frame_numbers(path):
    return {int(x) for x in open(path) if x.strip()}


def first(row, name, default=None):
    values = row.get(name) or []
    return values[0] if values else default


def endpoint(text):
    """'1.2.3.4:80' or '[2001:db8::1]:80' -> (ip_address, port)"""
    addr, port = text.rsplit(":", 1)
    return ipaddress.ip_address(addr.strip("[]")), int(port)


def ns_of_epoch(text):
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}
WELL_FORMED_KINDS = {"flow", "icmp_error", "rate_flood", "big", "fragment", "non_vip"}
REASONS = ["eth_truncated", "vlan_truncated", "ipv4_truncated", "ipv4_bad_version",
           "ipv4_bad_ihl", "ipv4_options_truncated", "ipv4_bad_total_len", "ipv4_bad_fragment",
           "ipv6_truncated", "ipv6_bad_version", "ipv6_bad_payload_len", "ipv6_ext_truncated",
           "ipv6_ext_chain", "ipv6_bad_fragment", "tcp_truncated", "tcp_bad_doff",
           "udp_truncated", "udp_bad_len", "icmp_truncated", "icmp_inner_truncated",
           "icmp_inner_bad"]


def quote_is_partial(row, t):
    """An ICMP error quoting less than the whole packet. tshark computes the
    quoted TCP checksum over the bytes present and calls it bad, though the
    generator's is right for the whole packet: it is Good when the quote is
    whole, which check_frame() requires. (A partial UDP quote stays unverified.)"""
    l2 = 18 if "vlan" in t else 14
    if t["family"] == 4:
        lens = row.get("ip.len") or []
        if len(lens) < 2:
            return False
        quote = int(first(row, "frame.len")) - l2 - 20 - 8
        return quote < int(lens[1])
    plens = row.get("ipv6.plen") or []
    if len(plens) < 2:
        return False
    quote = int(first(row, "frame.len")) - l2 - 40 - 8
    return quote < 40 + int(plens[1])


def check_frame(row, t, where):
    """What tshark decoded against what the truth says, for a well-formed frame."""
    kind, family = t["kind"], t["family"]
    # Checksums: all verified ones good, but the quoted L4 of a partial quote.
    for name in ("ip.checksum.status", "udp.checksum.status", "icmp.checksum.status",
                 "icmpv6.checksum.status"):
        if "0" in (row.get(name) or []):
            fail(f"{where}: {kind}: bad {name}")
    tcp_status = row.get("tcp.checksum.status") or []
    if "0" in tcp_status:
        if kind != "icmp_error" or not quote_is_partial(row, t):
            fail(f"{where}: {kind}: bad tcp checksum")
    if kind == "icmp_error" and not quote_is_partial(row, t):
        inner = tcp_status + (row.get("udp.checksum.status") or [])
        if inner != ["1"]:
            fail(f"{where}: whole quote, inner L4 checksum status {inner}, want Good")

    vlan = first(row, "vlan.id")
    if ("vlan" in t) != (vlan is not None) or (vlan is not None and int(vlan) != t["vlan"]):
        fail(f"{where}: vlan {vlan} vs truth {t.get('vlan')}")

    if t["proto"] == "arp":
        if first(row, "arp.opcode") != "1":
            fail(f"{where}: not an ARP request")
        return
    if family == 4 and first(row, "ip.version") != "4":
        fail(f"{where}: not IPv4")
    if family == 6 and not row.get("ipv6.src"):
        fail(f"{where}: not IPv6")
    src = ipaddress.ip_address(first(row, "ip.src" if family == 4 else "ipv6.src", "0.0.0.0"))
    dst = ipaddress.ip_address(first(row, "ip.dst" if family == 4 else "ipv6.dst", "0.0.0.0"))

    if t["vip"] is not None and kind != "icmp_error":
        vip_addr, vip_port = endpoint(t["vip"])
        client_addr, client_port = endpoint(t["client"])
        if dst != vip_addr or src != client_addr:
            fail(f"{where}: {src} -> {dst}, truth {t['client']} -> {t['vip']}")
        # tshark shows a fragmented datagram's UDP header only once reassembled.
        if kind != "fragment":
            proto = t["proto"]
            sport = first(row, proto + ".srcport")
            dport = first(row, proto + ".dstport")
            if sport is None or int(sport) != client_port or int(dport) != vip_port:
                fail(f"{where}: {proto} ports {sport}->{dport}, truth {t['client']} -> {t['vip']}")
    if t["proto"] == "tcp" and kind in ("flow", "rate_flood", "big", "non_vip"):
        flags = first(row, "tcp.flags")
        want = sum(FLAG_BITS[c] for c in t["tcp_flags"])
        if flags is None or int(flags, 16) != want:
            fail(f"{where}: tcp flags {flags}, truth {t['tcp_flags']}")
    if kind == "big":
        ip_len = int(first(row, "ip.len")) if family == 4 else 40 + int(first(row, "ipv6.plen"))
        if not 1481 <= ip_len <= 1500:
            fail(f"{where}: big packet of IP length {ip_len}")
    if kind == "fragment":
        if family == 4:
            mf = first(row, "ip.flags.mf")
            offset = int(first(row, "ip.frag_offset", "0"))
        else:
            mf = first(row, "ipv6.fraghdr.more")
            offset = int(first(row, "ipv6.fraghdr.offset", "0"))
        is_first = t["frag"] == "first"
        if is_first != (offset == 0) or (is_first and mf not in ("1", "True")):
            fail(f"{where}: fragment offset {offset} mf {mf}, truth {t['frag']}")
    if kind == "icmp_error":
        vip_addr, _ = endpoint(t["vip"])
        if dst != vip_addr:
            fail(f"{where}: ICMP error to {dst}, not the VIP")
        proto = "icmp" if family == 4 else "icmpv6"
        if (int(first(row, proto + ".type", "-1")) != t["icmp_type"] or
                int(first(row, proto + ".code", "-1")) != t["icmp_code"]):
            fail(f"{where}: ICMP {first(row, proto + '.type')}/{first(row, proto + '.code')}, "
                 f"truth {t['icmp_type']}/{t['icmp_code']}")
        # The quoted packet goes from the VIP to the flow's client.
        inner_src = (row.get("ip.src" if family == 4 else "ipv6.src") or [None, None])[1:2]
        client_addr, _ = endpoint(t["client"])
        if inner_src != [vip_addr.compressed]:
            fail(f"{where}: quoted source {inner_src}, want the VIP {vip_addr}")
        inner_dst = (row.get("ip.dst" if family == 4 else "ipv6.dst") or [None, None])[1:2]
        if inner_dst != [client_addr.compressed]:
            fail(f"{where}: quoted destination {inner_dst}, want the client {client_addr}")
    if kind == "non_vip" and "dst" in t and dst != ipaddress.ip_address(t["dst"]):
        fail(f"{where}: non-VIP frame to {dst}, truth {t['dst']}")


# --- the 100k capture -------------------------------------------------------
truth = load_truth("a.jsonl")
rows = load_fields("fields.txt")
if magic != "4d3cb2a1":
    fail(f"pcap magic {magic}: not a nanosecond pcap")
if len(truth) != packets or len(rows) != packets:
    fail(f"{len(truth)} truth lines, {len(rows)} frames decoded, want {packets}")

previous_ts = None
for index, (t, row) in enumerate(zip(truth, rows)):
    where = f"frame {index + 1}"
    if t["i"] != index:
        fail(f"{where}: truth index {t['i']}")
    if int(first(row, "frame.len")) != t["len"]:
        fail(f"{where}: length {first(row, 'frame.len')}, truth {t['len']}")
    ts = ns_of_epoch(first(row, "frame.time_epoch"))
    if ts != t["ts_ns"]:
        fail(f"{where}: time {ts}, truth {t['ts_ns']}")
    if previous_ts is not None and ts <= previous_ts:
        fail(f"{where}: time does not increase")
    previous_ts = ts
    if t["kind"] in WELL_FORMED_KINDS:
        check_frame(row, t, where)
    elif t["kind"] != "malformed" or t["reason"] not in REASONS or t["expect"] != "drop":
        fail(f"{where}: kind {t['kind']} reason {t['reason']}")

well_formed = {t["i"] + 1 for t in truth if t["kind"] in WELL_FORMED_KINDS}

bad = frame_numbers("bad_checksum.txt")
bad_well_formed = bad & well_formed
explained = {n for n in bad_well_formed if truth[n - 1]["kind"] == "icmp_error"
             and quote_is_partial(rows[n - 1], truth[n - 1])}
print(f"bad checksums: {len(bad)} frames flagged by tshark, {len(bad - well_formed)} malformed, "
      f"{len(explained)} ICMP errors quoting part of a TCP segment (checksum over the whole "
      f"segment; tshark sums the part), {len(bad_well_formed - explained)} other")
if bad_well_formed - explained:
    fail(f"bad checksums in well-formed frames {sorted(bad_well_formed - explained)[:10]}")
good = sum(1 for row in rows if "1" in (row.get("tcp.checksum.status") or []))
if good < packets // 2:
    fail(f"only {good} TCP checksums verified good: is tshark checking them?")


def compare(name, tshark_frames, want):
    got = len(tshark_frames & well_formed)
    print(f"{name}: truth {want}, tshark {got}")
    if got != want:
        fail(f"{name}: truth {want}, tshark {got}")


compare("TCP SYN (syn && !ack)", frame_numbers("syn.txt"),
        sum(1 for t in truth if t["kind"] in WELL_FORMED_KINDS and t["tcp_flags"] == "S"))
compare("ICMPv6 packet too big", frame_numbers("ptb.txt"),
        sum(1 for t in truth if t["kind"] in WELL_FORMED_KINDS and t.get("icmp_type") == 2
            and t["family"] == 6))
compare("IP fragments", frame_numbers("frag.txt"),
        sum(1 for t in truth if t["kind"] == "fragment"))
# Each datagram reassembled, its UDP checksum (over all fragments) verified good.
reassembled = sum(1 for t, row in zip(truth, rows) if t["kind"] == "fragment"
                  and (row.get("udp.checksum.status") or []) == ["1"])
datagrams = sum(1 for t in truth if t.get("frag") == "first")
print(f"fragmented datagrams: truth {datagrams}, reassembled by tshark with a good UDP checksum "
      f"{reassembled}")
if reassembled != datagrams:
    fail(f"{datagrams} datagrams, {reassembled} reassembled with a good checksum")

kinds = Counter(t["kind"] for t in truth)
reasons = Counter(t["reason"] for t in truth if t["kind"] == "malformed")
print("kinds:", ", ".join(f"{k} {v} ({100.0 * v / packets:.1f}%)" for k, v in kinds.most_common()))
print("families:", dict(Counter(t["family"] for t in truth)))
frag_needed = sum(1 for t in truth if t["kind"] == "icmp_error" and t["family"] == 4
                  and t["icmp_type"] == 3 and t["icmp_code"] == 4)
print("vlan-tagged:", sum(1 for t in truth if "vlan" in t),
      " ICMPv4 fragmentation needed:", frag_needed)
for kind in WELL_FORMED_KINDS | {"malformed"}:
    if kinds[kind] == 0:
        fail(f"no frame of kind {kind}")
missing = [r for r in REASONS if reasons[r] == 0]
if missing:
    fail(f"malformations missing: {missing}")

# --- one frame per --single kind -------------------------------------------
singles = load_truth("singles.jsonl")
single_rows = load_fields("singles_fields.txt")
single_names = open("single_kinds.txt").read().split()
if not len(singles) == len(single_rows) == len(single_names):
    fail(f"{len(single_names)} --single kinds, {len(singles)} truths, {len(single_rows)} frames")
for name, t, row in zip(single_names, singles, single_rows):
    if t["i"] != 0:
        fail(f"--single {name}: more than one frame")
    if name in REASONS:
        if t["kind"] != "malformed" or t["reason"] != name:
            fail(f"--single {name}: truth says {t['kind']} {t['reason']}")
    elif t["kind"] in WELL_FORMED_KINDS:
        check_frame(row, t, f"--single {name}")
    else:
        fail(f"--single {name}: kind {t['kind']}")
missing = [r for r in REASONS if r not in single_names]
if missing:
    fail(f"--single lacks {missing}")
print(f"--single: {len(singles)} kinds, one frame each")

if failures:
    print(f"{len(failures)} failures")
    sys.exit(1)
print("pktgen: all checks passed")
PY
