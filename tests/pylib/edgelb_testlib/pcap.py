# SPDX-License-Identifier: BSD-3-Clause
"""Classic pcap files (Ethernet), read from the format, not by a library."""
import struct


def read_pcap(path):
    """[(ts_ns, bytes)] of a classic pcap file, microsecond or nanosecond."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError("%s: no pcap header" % path)
    magic_le = struct.unpack("<I", data[:4])[0]
    if magic_le in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
        magic = magic_le
    else:
        magic = struct.unpack(">I", data[:4])[0]
        endian = ">"
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            raise ValueError("%s: not a pcap file (magic %08x)" % (path, magic_le))
    frac = 1 if magic == 0xA1B23C4D else 1000
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("%s: link type %d, not Ethernet" % (path, linktype))
    rec = struct.Struct(endian + "IIII")
    out = []
    off = 24
    n = len(data)
    while off < n:
        if off + 16 > n:
            raise ValueError("%s: truncated record header at %d" % (path, off))
        sec, sub, incl, orig = rec.unpack_from(data, off)
        off += 16
        if off + incl > n:
            raise ValueError("%s: truncated record at %d" % (path, off))
        if incl != orig:
            raise ValueError("%s: record at %d captured %d of %d bytes" % (path, off, incl, orig))
        out.append((sec * 1000000000 + sub * frac, data[off:off + incl]))
        off += incl
    return out


def write_pcap(path, records, nanoseconds=False):
    """A classic pcap (Ethernet; microsecond or nanosecond timestamps) of
    (ts_ns, frame) records."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D if nanoseconds else 0xA1B2C3D4, 2, 4, 0, 0,
                            65535, 1))
        for ts, frame in records:
            sub = ts % 1000000000 if nanoseconds else (ts % 1000000000) // 1000
            f.write(struct.pack("<IIII", ts // 1000000000, sub, len(frame), len(frame)))
            f.write(frame)
