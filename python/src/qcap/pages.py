"""The entry index of format version 2: pages of leaf and interior records (design §4)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from .errors import FormatError

FANOUT = 1024
MAX_LEVELS = 4
MAX_LEAF = 2 + 1024 + 8 + 2 + 4 + 32 + 8 + 4 + 2 + 1040
MAX_INTERIOR = 2 + 1024 + 8 + 4 + 32
MAX_PAGE = 3 + FANOUT * MAX_LEAF
ROOT_NAME = "pages/root"


@dataclass(frozen=True)
class Leaf:
    name: str
    size: int
    mode: int
    crc32: int
    digest: bytes
    offset: int
    tree_crc32: int
    sealed_name: bytes

    def encode(self) -> bytes:
        n = self.name.encode("utf-8")
        return (
            struct.pack("<H", len(n)) + n
            + struct.pack("<QHI", self.size, self.mode, self.crc32)
            + self.digest
            + struct.pack("<QIH", self.offset, self.tree_crc32, len(self.sealed_name))
            + self.sealed_name
        )


@dataclass(frozen=True)
class Interior:
    first: str
    offset: int
    length: int
    hash: bytes

    def encode(self) -> bytes:
        n = self.first.encode("utf-8")
        return struct.pack("<H", len(n)) + n + struct.pack("<QI", self.offset, self.length) + self.hash


def page_counts(n: int) -> list[int]:
    """Pages per level, from level 0 up to the root level (whose count is 1)."""
    counts = [max(1, math.ceil(n / FANOUT))]
    while counts[-1] > 1:
        counts.append(math.ceil(counts[-1] / FANOUT))
    return counts


def records_in(n: int, level: int, position: int) -> int:
    """Record count of the page at `position` (1-based) of `level` for n entries."""
    below = n if level == 0 else page_counts(n)[level - 1]
    return max(0, min(FANOUT, below - (position - 1) * FANOUT))


def page_name(level: int, position: int, levels: int) -> str:
    if level == levels - 1:
        return ROOT_NAME
    return f"pages/{level}/{position:08d}"


def encode_page(level: int, records: list[bytes]) -> bytes:
    return struct.pack("<BH", level, len(records)) + b"".join(records)


def _name(b: bytes, what: str) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{what}: a name is not UTF-8") from None


def decode_page(data: bytes, what: str) -> tuple[int, list[Leaf] | list[Interior]]:
    """(level, records); refuses truncation, trailing bytes and unordered names."""
    if len(data) < 3:
        raise FormatError(f"{what}: truncated page")
    level, count = struct.unpack_from("<BH", data, 0)
    if count > FANOUT:
        raise FormatError(f"{what}: {count} records, more than {FANOUT}")
    pos = 3
    out: list = []
    try:
        for _ in range(count):
            (nlen,) = struct.unpack_from("<H", data, pos)
            if nlen == 0 or nlen > 1024:
                raise FormatError(f"{what}: bad name length")
            name = _name(data[pos + 2 : pos + 2 + nlen], what)
            if len(data) < pos + 2 + nlen:
                raise struct.error("short")
            pos += 2 + nlen
            if level == 0:
                size, mode, crc = struct.unpack_from("<QHI", data, pos)
                digest = data[pos + 14 : pos + 46]
                offset, tcrc, slen = struct.unpack_from("<QIH", data, pos + 46)
                pos += 60
                sealed = data[pos : pos + slen]
                if len(sealed) != slen:
                    raise struct.error("short")
                pos += slen
                out.append(Leaf(name, size, mode, crc, digest, offset, tcrc, sealed))
            else:
                offset, length = struct.unpack_from("<QI", data, pos)
                h = data[pos + 12 : pos + 44]
                if len(h) != 32:
                    raise struct.error("short")
                pos += 44
                out.append(Interior(name, offset, length, h))
    except struct.error:
        raise FormatError(f"{what}: truncated page") from None
    if pos != len(data):
        raise FormatError(f"{what}: bytes after the last record")
    names = [(r.name if level == 0 else r.first).encode("utf-8") for r in out]
    if any(a >= b for a, b in zip(names, names[1:])):
        raise FormatError(f"{what}: names are not strictly increasing")
    return level, out
