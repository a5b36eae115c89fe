# SPDX-License-Identifier: BSD-3-Clause
"""Frames built here byte by byte from the wire formats (not by the code
under test)."""
import socket
import struct

from edgelb_testlib.csum import checksum, pseudo_header, with_ipv4_checksum


def ipv4_header(src, dst, proto, payload_len, ident=1, df=False, ttl=64):
    """An IPv4 header (no options) with its checksum; src and dst dotted."""
    return with_ipv4_checksum(struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident & 0xFFFF, 0x4000 if df else 0, ttl,
        proto, 0, socket.inet_aton(src), socket.inet_aton(dst)))


def udp4_frame(dst_mac, src_mac, src, dst, sport, dport, payload, ident=0):
    """Ethernet + IPv4 + UDP (UDP checksum 0: none, as IPv4 allows)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return dst_mac + src_mac + b"\x08\x00" + ipv4_header(src, dst, 17, len(udp), ident) + udp


def tcp4_frame(dst_mac, src_mac, src, dst, sport, dport, flags, payload_len=0, df=False):
    """Ethernet + IPv4 + TCP (sequence 1000, window 65535), the payload
    payload_len bytes of 0xab, both checksums right."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 65535, 0, 0)
    body = tcp + b"\xab" * payload_len
    pseudo = pseudo_header(socket.inet_aton(src), socket.inet_aton(dst), 6, len(body))
    body = body[:16] + struct.pack("!H", checksum(pseudo + body)) + body[18:]
    return dst_mac + src_mac + b"\x08\x00" + ipv4_header(src, dst, 6, len(body), 1, df) + body
