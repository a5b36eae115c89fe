# SPDX-License-Identifier: BSD-3-Clause
"""QUIC-LB connection IDs as a server makes them (draft-ietf-quic-load-balancers,
"Server Actions"), and the QUIC packets the tests send: written here from
the draft and RFC 9000/9369, on Python's cryptography package for AES, so
that a test's expectation never comes from the dataplane's decoder.
"""
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

QUIC_V1 = 0x00000001
QUIC_V2 = 0x6B3343CF


def _aes_ecb(key, block):
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def _split(p):
    n = len(p)
    half = (n + 1) // 2
    left, right = bytearray(p[:half]), bytearray(p[n // 2:n // 2 + half])
    if n & 1:
        left[-1] &= 0xF0
        right[0] &= 0x0F
    return left, right


def _join(left, right, n):
    out = bytearray(left)
    if n & 1:
        out[-1] |= right[0]
        out += right[1:]
    else:
        out += right
    return bytes(out)


def _round(key, n, pass_no, source, target, target_is_right):
    block = bytes(source) + bytes(14 - len(source)) + bytes([n, pass_no])
    pad = _aes_ecb(key, block)
    for i in range(len(target)):
        target[i] ^= pad[i]
    if n & 1:
        if target_is_right:
            target[0] &= 0x0F
        else:
            target[-1] &= 0xF0


def encode_cid(config_id, server_id, nonce, key=None):
    """The CID a server with this server ID writes under a configuration:
    first octet (config ID in the top three bits, the length that follows
    in the low five), then the server ID and nonce: as they are (no key),
    one AES block (16 octets), or the four-pass Feistel network."""
    plain = bytes(server_id) + bytes(nonce)
    n = len(plain)
    first = bytes([(config_id << 5) | (n & 0x1F)])
    if key is None:
        return first + plain
    if n == 16:
        return first + _aes_ecb(key, plain)
    left, right = _split(plain)
    _round(key, n, 1, left, right, True)
    _round(key, n, 2, right, left, False)
    _round(key, n, 3, left, right, True)
    _round(key, n, 4, right, left, False)
    return first + _join(left, right, n)


def short_packet(rng, dcid, payload_len=40):
    """A 1-RTT packet: header form 0, fixed bit 1, the DCID, protected bytes
    (rng: a random.Random)."""
    return bytes([0x40 | rng.randrange(32)]) + dcid + rng.randbytes(payload_len)


def long_packet(rng, version, kind, dcid, scid=b"", payload_len=60):
    """A long header: kind "initial", "0rtt", "handshake" (type bits per
    RFC 9000, rotated by one in QUIC v2, RFC 9369), the version, both CIDs,
    then (Initial) an empty token, and protected bytes."""
    types = {"initial": 0, "0rtt": 1, "handshake": 2}
    t = types[kind] if version != QUIC_V2 else (types[kind] + 1) % 4
    head = bytes([0xC0 | (t << 4)]) + struct.pack("!I", version)
    head += bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    if kind == "initial":
        head += b"\x00"  # token length
    return head + rng.randbytes(payload_len)
