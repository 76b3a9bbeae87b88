"""Byte sources read by range: local files and HTTP(S) servers that honour Range requests."""

from __future__ import annotations

import os
import re
import stat
import urllib.error
import urllib.request
from typing import Protocol

from .errors import FormatError

MAX_RESPONSE = 64 << 20


class Source(Protocol):
    size: int
    name: str

    def read(self, offset: int, length: int) -> bytes: ...

    def close(self) -> None: ...


class FileSource:
    """A regular local file; FIFOs and devices are refused without being opened for reading."""

    def __init__(self, path: str | os.PathLike[str]):
        self.name = os.fspath(path)
        try:
            st = os.stat(self.name)
        except OSError as e:
            raise FormatError(f"{self.name}: {e.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise FormatError(f"{self.name}: not a regular file")
        fd = os.open(self.name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FormatError(f"{self.name}: not a regular file")
        self.fd = fd
        self.size = os.fstat(fd).st_size
        self.requests = 0
        self.transferred = 0

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FormatError(f"{self.name}: truncated (read past the end of the file)")
        self.requests += 1
        self.transferred += length
        out = os.pread(self.fd, length, offset)
        while len(out) < length:
            more = os.pread(self.fd, length - len(out), offset + len(out))
            if not more:
                raise FormatError(f"{self.name}: truncated while reading")
            out += more
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)$")


# The first request asks for the last 64 KiB, as the qcap CLI does: the end records, central directory,
# manifest, signature, root page and usually the top of a large entry's tree arrive in one response,
# so a remote range read costs the same requests and bytes in both implementations.
DEFAULT_TAIL = 64 << 10


class HttpSource:
    """An HTTP(S) URL read with Range requests; every response must be 206 with the asked range.

    The suffix fetched by `open_tail` (at least `tail` bytes) is kept, and reads inside it need no
    further request.
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 60.0,
                 tail: int = DEFAULT_TAIL):
        if tail < 0 or tail > MAX_RESPONSE:
            raise ValueError(f"tail must be between 0 and {MAX_RESPONSE} bytes")
        self.name = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.tail = tail
        self.requests = 0
        self.transferred = 0
        self.size = -1
        self._tail: tuple[int, bytes] | None = None

    def _get(self, range_value: str, expect: int | None) -> tuple[bytes, int, int]:
        req = urllib.request.Request(self.name, headers={**self.headers, "Range": range_value})
        self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                if resp.status != 206:
                    raise FormatError(f"{self.name}: the server does not honour range requests (HTTP {resp.status})")
                m = _RANGE.match(resp.headers.get("Content-Range", ""))
                if not m:
                    raise FormatError(f"{self.name}: missing or malformed Content-Range")
                start, end, total = (int(x) for x in m.groups())
                n = end - start + 1
                if n > MAX_RESPONSE or (expect is not None and n != expect):
                    raise FormatError(f"{self.name}: the server sent another range than the one asked")
                body = resp.read(n + 1)
        except urllib.error.HTTPError as e:
            if e.code == 416:
                raise FormatError(f"{self.name}: truncated (range not satisfiable)") from None
            raise FormatError(f"{self.name}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise FormatError(f"{self.name}: {getattr(e, 'reason', e)}") from None
        if len(body) != n:
            raise FormatError(f"{self.name}: short response")
        self.transferred += n
        return body, start, total

    def open_tail(self, length: int) -> bytes:
        """The last `length` bytes (one request for at least `self.tail` bytes), which also gives the size."""
        try:
            body, start, total = self._get(f"bytes=-{max(length, self.tail, 1)}", None)
        except FormatError as e:
            if "HTTP 416" not in str(e) and "range not satisfiable" not in str(e):
                raise
            raise FormatError(f"{self.name}: empty file") from None
        if start + len(body) != total:
            raise FormatError(f"{self.name}: the server sent another range than the one asked")
        self.size = total
        self._tail = (start, body)
        return body[-length:] if length else b""

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FormatError(f"{self.name}: truncated (read past the end of the file)")
        if length == 0:
            return b""
        cut, cached = self._tail if self._tail else (self.size, b"")
        if offset >= cut:
            return cached[offset - cut : offset - cut + length]
        if offset + length <= cut:
            return self._fetch(offset, length)
        return self._fetch(offset, cut - offset) + cached[: offset + length - cut]

    def _fetch(self, offset: int, length: int) -> bytes:
        body, start, total = self._get(f"bytes={offset}-{offset + length - 1}", length)
        if start != offset or total != self.size:
            raise FormatError(f"{self.name}: the file changed or the server sent another range")
        return body

    def close(self) -> None:
        self._tail = None


def open_source(target: str | os.PathLike[str], headers: dict[str, str] | None = None) -> Source:
    if isinstance(target, str) and re.match(r"https?://", target, re.I):
        return HttpSource(target, headers)
    return FileSource(target)
