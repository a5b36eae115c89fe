# SPDX-License-Identifier: BSD-3-Clause
"""The Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-headers,
written from the RFCs: the tests' own oracle, not the dataplane's code."""
import struct


def ones_sum(data, start=0):
    """The 16-bit one's complement sum of data (odd length: a zero byte
    added), folded, starting from start."""
    if len(data) % 2:
        data = data + b"\0"
    s = start + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data, start=0):
    """The Internet checksum of data: 0 over a header whose checksum is right."""
    return (~ones_sum(data, start)) & 0xFFFF


def pseudo_header(src, dst, proto, length):
    """The pseudo-header of a TCP/UDP/ICMPv6 checksum: src and dst packed
    addresses (4 bytes: IPv4, RFC 793; 16: IPv6, RFC 8200 8.1)."""
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def ipv6_pseudo_sum(src, dst, length, next_header):
    return ones_sum(pseudo_header(src, dst, next_header, length))


def with_ipv4_checksum(header):
    """An IPv4 header (checksum field zero) with its checksum filled in."""
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]
