"""ZIP records exactly as SPEC §7.2: every entry ZIP64, stored, with a data descriptor."""

from __future__ import annotations

import struct

LOCAL = 50
DESCRIPTOR = 24
CENTRAL = 74
END_RECORDS = 98  # ZIP64 end (56) + locator (20) + end (22)
MODE_FILE = 420
MODE_EXEC = 493


def local_size(name: bytes) -> int:
    return LOCAL + len(name)


def local_header(name: bytes) -> bytes:
    return (
        struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0x0808, 0, 0, 0x0021, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name), 20)
        + name
        + struct.pack("<HHQQ", 1, 16, 0, 0)
    )


def data_descriptor(crc: int, length: int) -> bytes:
    return struct.pack("<IIQQ", 0x08074B50, crc, length, length)


def central_header(name: bytes, crc: int, length: int, offset: int, mode: int) -> bytes:
    attrs = ((0o100000 | mode) << 16) & 0xFFFFFFFF
    return (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50, 0x032D, 45, 0x0808, 0, 0, 0x0021, crc, 0xFFFFFFFF, 0xFFFFFFFF,
            len(name), 28, 0, 0, 0, attrs, 0xFFFFFFFF,
        )
        + name
        + struct.pack("<HHQQQ", 1, 24, length, length, offset)
    )


def parse_central(rec: bytes) -> tuple[bytes, int, int, int, int]:
    """(name, crc, length, offset, mode) of one central header; the caller rebuilds and compares it."""
    n = struct.unpack_from("<H", rec, 28)[0]
    name = rec[46 : 46 + n]
    crc = struct.unpack_from("<I", rec, 16)[0]
    attrs = struct.unpack_from("<I", rec, 38)[0]
    length, _, offset = struct.unpack_from("<QQQ", rec, 46 + n + 4)
    return name, crc, length, offset, (attrs >> 16) & 0o7777


def end_records(count: int, cd_size: int, cd_offset: int) -> bytes:
    zip64_at = cd_offset + cd_size
    return (
        struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x032D, 45, 0, 0, count, count, cd_size, cd_offset)
        + struct.pack("<IIQI", 0x07064B50, 0, zip64_at, 1)
        + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    )


def parse_end_records(tail: bytes) -> tuple[int, int, int]:
    """(count, cd_size, cd_offset) from the last 98 bytes; the caller rebuilds and compares them."""
    count, _, cd_size, cd_offset = struct.unpack_from("<QQQQ", tail, 24)
    return count, cd_size, cd_offset
