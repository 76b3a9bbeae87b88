"""Entry name rules (SPEC §2 and the v2 additions): validity, case collisions, file/folder clashes."""

from __future__ import annotations

import unicodedata

from .crypto import b3
from .errors import FormatError

MAX_NAME = 1024


def check_name(name: str, what: str = "entry name") -> None:
    raw = name.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_NAME:
        raise FormatError(f"{what} {name!r}: longer than {MAX_NAME} bytes")
    if unicodedata.normalize("NFC", name) != name:
        raise FormatError(f"{what} {name!r}: not in Unicode NFC")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in name) or "\\" in name:
        raise FormatError(f"{what} {name!r}: control character or backslash")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise FormatError(f"{what} {name!r}: empty, '.' or '..' component")


def check_content_name(name: str) -> None:
    check_name(name)
    if not (name.startswith("payload/") or name.startswith("meta/")):
        raise FormatError(f"entry name {name!r}: content entries are under payload/ or meta/")


class CollisionGuard:
    """Refuses names equal after lowercasing and names that are both a file and a folder.

    Keeps 16-byte hashes of lowercased names and folders only, so memory stays small.
    """

    def __init__(self) -> None:
        self.files: set[bytes] = set()
        self.folders: set[bytes] = set()

    @staticmethod
    def _h(s: str) -> bytes:
        return b3(s.encode("utf-8", "surrogatepass"))[:16]

    def add(self, name: str) -> None:
        low = name.lower()
        h = self._h(low)
        if h in self.files:
            raise FormatError(f"entry name {name!r}: collides with another name after lowercasing")
        if h in self.folders:
            raise FormatError(f"entry name {name!r}: is also a folder of another entry")
        parts = low.split("/")
        for i in range(1, len(parts)):
            f = self._h("/".join(parts[:i]))
            if f in self.files:
                raise FormatError(f"entry name {name!r}: a folder of it is another entry")
            self.folders.add(f)
        self.files.add(h)
