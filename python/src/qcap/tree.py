"""Chunk trees of one entry (SPEC §3.1): level sizes, building and verified leaf look-ups."""

from __future__ import annotations

import math
from collections.abc import Callable

from .crypto import b3
from .errors import VerificationError

FANOUT = 1024
HASH = 32


def chunk_count(stored: int, chunk: int) -> int:
    return max(1, math.ceil(stored / chunk))


def level_counts(n: int) -> list[int]:
    """Node counts per level, from the leaves (n) up to and including the single top."""
    counts = [n]
    while counts[-1] > 1:
        counts.append(math.ceil(counts[-1] / FANOUT))
    return counts


def index_length(n: int) -> int:
    """Byte length of the index entry (0 for a one-chunk entry)."""
    return HASH * sum(level_counts(n)[:-1]) if n > 1 else 0


def build(leaves: list[bytes] | bytes | bytearray) -> tuple[bytes, bytes]:
    """(digest, tree entry bytes) from the level-0 digests (a list, or their concatenation)."""
    level0 = bytes(leaves) if isinstance(leaves, (bytes, bytearray)) else b"".join(leaves)
    if len(level0) == HASH:
        return level0, b""
    out = bytearray()
    joined = level0
    while len(joined) > HASH:
        out += joined
        joined = b"".join(b3(joined[i : i + FANOUT * HASH]) for i in range(0, len(joined), FANOUT * HASH))
    return joined, bytes(out)


class TreeVerifier:
    """Hands out level-0 digests, each checked top-down against the entry digest.

    Keeps one verified group per level, so a sequential read fetches each group once and memory
    stays at most 32 KiB per level.
    """

    def __init__(self, digest: bytes, n: int, fetch_index: Callable[[int, int], bytes], what: str):
        self.digest = digest
        self.counts = level_counts(n)
        self.top = len(self.counts) - 1
        self.starts = [0]
        for c in self.counts[:-1]:
            self.starts.append(self.starts[-1] + c * HASH)
        self.fetch_index = fetch_index
        self.cache: dict[int, tuple[int, bytes]] = {}
        self.what = what

    def node(self, level: int, i: int) -> bytes:
        if level == self.top:
            return self.digest
        group = i // FANOUT
        cached = self.cache.get(level)
        if cached is None or cached[0] != group:
            first = group * FANOUT
            count = min(FANOUT, self.counts[level] - first)
            data = self.fetch_index(self.starts[level] + first * HASH, count * HASH)
            if b3(data) != self.node(level + 1, group):
                raise VerificationError(f"{self.what}: index entry does not match the signed digest")
            cached = (group, data)
            self.cache[level] = cached
        off = (i % FANOUT) * HASH
        return cached[1][off : off + HASH]

    def leaf(self, i: int) -> bytes:
        return self.node(0, i)
