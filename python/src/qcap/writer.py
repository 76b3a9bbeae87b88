"""Packing a capsule of format version 2 in one streaming pass (design §1-§6)."""

from __future__ import annotations

import os
import stat
import tempfile
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Union

from . import crypto, keys, pages, zipfmt
from .encoding import jcs
from .errors import FormatError, QcapError
from .names import CollisionGuard, check_content_name
from .seal import MAX_STANZAS, wrap_argon2id, wrap_x25519

Content = Union[bytes, str, "os.PathLike[str]"]
KeyInput = Union[str, bytes, "os.PathLike[str]"]
READ = 1 << 20


@dataclass
class _Input:
    real: str
    zip_name: str
    mode: int
    content: Content


@dataclass
class _Seal:
    master: bytes
    capsule_id: bytes
    names_key: bytes
    hidden: bool


def _mode_of(st_mode: int) -> int:
    return zipfmt.MODE_EXEC if st_mode & 0o111 else zipfmt.MODE_FILE


def _walk(folder: str, prefix: str) -> list[tuple[str, Content, int]]:
    out: list[tuple[str, Content, int]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                raise FormatError(f"{full}: not a regular file (links and devices are not packed)")
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            out.append((prefix + rel, full, _mode_of(st.st_mode)))
    return out


def _items(source: Any, prefix: str) -> list[tuple[str, Content, int]]:
    if source is None:
        return []
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            return _walk(path, prefix)
        if os.path.isfile(path):
            return [(prefix + os.path.basename(path), path, _mode_of(os.stat(path).st_mode))]
        raise FormatError(f"{path}: no such file or folder")
    if isinstance(source, Mapping):
        source = source.items()
    out = []
    for item in source:
        name, content, *rest = item
        if not isinstance(name, str):
            raise FormatError("input names must be strings")
        full = name if name.startswith(("payload/", "meta/")) else prefix + name
        perms = rest[0] if rest else 0o644
        if not isinstance(perms, int) or isinstance(perms, bool) or not 0 <= perms <= 0o7777:
            raise FormatError(f"{name}: mode must be permission bits such as 0o644")
        out.append((full, content, _mode_of(perms)))
    return out


def _open(content: Content) -> IO[bytes]:
    if isinstance(content, (bytes, bytearray, memoryview)):
        import io

        return io.BytesIO(bytes(content))
    if hasattr(content, "read"):
        return content  # type: ignore[return-value]
    return open(os.fspath(content), "rb")


def _read_full(f: IO[bytes], n: int) -> bytes:
    parts = []
    while n > 0:
        b = f.read(n)
        if not b:
            break
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


class _Out:
    """The capsule file being written, with its central directory spooled to a temporary file."""

    def __init__(self, f: IO[bytes]):
        self.f = f
        self.pos = 0
        self.cd = tempfile.TemporaryFile()
        self.cd_size = 0
        self.count = 0

    def write(self, b: bytes) -> None:
        self.f.write(b)
        self.pos += len(b)

    def central(self, name: bytes, crc: int, length: int, offset: int, mode: int) -> None:
        rec = zipfmt.central_header(name, crc, length, offset, mode)
        self.cd.write(rec)
        self.cd_size += len(rec)
        self.count += 1

    def small_entry(self, name: str, data: bytes) -> int:
        """Writes a whole entry held in memory (pages, trees, manifest, signature); returns its offset."""
        n = name.encode("utf-8")
        offset = self.pos
        crc = zlib.crc32(data)
        self.write(zipfmt.local_header(n))
        self.write(data)
        self.write(zipfmt.data_descriptor(crc, len(data)))
        self.central(n, crc, len(data), offset, zipfmt.MODE_FILE)
        return offset


class _Index:
    """One open page per level; a full page is written when the next record for its level arrives."""

    def __init__(self, out: _Out):
        self.out = out
        self.open: list[list[bytes]] = [[]]
        self.first: list[str] = [""]
        self.written: list[int] = [0]

    def add(self, level: int, record: bytes, first: str) -> None:
        while len(self.open) <= level:
            self.open.append([])
            self.first.append("")
            self.written.append(0)
        if not self.open[level]:
            self.first[level] = first
        self.open[level].append(record)

    def make_room(self) -> None:
        """Called when another entry arrives: full pages are then not the root, and post-order puts
        each one right after its last child."""
        level = 0
        while level < len(self.open) and len(self.open[level]) == pages.FANOUT:
            self._flush(level, root=False)
            level += 1

    def _flush(self, level: int, root: bool) -> bytes:
        data = pages.encode_page(level, self.open[level])
        self.written[level] += 1
        name = pages.ROOT_NAME if root else f"pages/{level}/{self.written[level]:08d}"
        offset = self.out.small_entry(name, data)
        first = self.first[level]
        self.open[level] = []
        if not root:
            self.add(level + 1, pages.Interior(first, offset, len(data), crypto.b3(data)).encode(), first)
        return data

    def finish(self) -> bytes:
        level = 0
        while True:
            above = len(self.open) > level + 1 and self.open[level + 1]
            if self.written[level] == 0 and not above:
                return self._flush(level, root=True)
            self._flush(level, root=False)
            level += 1


def _write_entry(out: _Out, index: _Index, item: _Input, seal: _Seal | None) -> None:
    name = item.zip_name.encode("utf-8")
    encrypt = seal is not None and item.zip_name.startswith("payload/")
    offset = out.pos
    out.write(zipfmt.local_header(name))
    crc = 0
    size = 0
    stored = 0
    leaves = bytearray()  # level-0 digests, 32 bytes a chunk
    key = aad = b""
    if encrypt:
        assert seal is not None
        key = crypto.file_key(seal.master, seal.capsule_id, item.zip_name)
        aad = crypto.stream_aad(seal.capsule_id, item.zip_name)
    with _open(item.content) as f:
        chunk = _read_full(f, crypto.PLAIN_CHUNK)
        i = 0
        while True:
            nxt = _read_full(f, crypto.PLAIN_CHUNK) if len(chunk) == crypto.PLAIN_CHUNK else b""
            last = not nxt
            size += len(chunk)
            s = crypto.stream_encrypt_chunk(key, aad, i, last, chunk) if encrypt else chunk
            leaves += crypto.b3(s)
            crc = zlib.crc32(s, crc)
            stored += len(s)
            out.write(s)
            if last:
                break
            chunk = nxt
            i += 1
    out.write(zipfmt.data_descriptor(crc, stored))
    out.central(name, crc, stored, offset, item.mode)
    digest, tree_bytes = _tree(leaves)
    tree_crc = 0
    if tree_bytes:
        tree_crc = zlib.crc32(tree_bytes)
        out.small_entry("index/" + item.zip_name, tree_bytes)
    sealed_name = b""
    if seal is not None and seal.hidden and encrypt:
        nonce = bytes.fromhex(item.zip_name[len("payload/") :]) + b"\x00" * 8
        sealed_name = crypto.xchacha_encrypt(seal.names_key, nonce, name, item.real.encode("utf-8"))
    leaf = pages.Leaf(item.zip_name, size, item.mode, crc, digest, offset, tree_crc, sealed_name)
    index.add(0, leaf.encode(), item.zip_name)


def _tree(leaves: bytearray) -> tuple[bytes, bytes]:
    from .tree import build

    return build(leaves)


def pack(
    source: Any,
    out: str | os.PathLike[str],
    *,
    signing_key: KeyInput,
    recipients: Iterable[KeyInput] = (),
    passphrase: str | None = None,
    meta: Any = None,
    hide_names: bool = False,
    key_passphrase: str | None = None,
    argon2: tuple[int, int, int] = (65536, 3, 1),
    overwrite: bool = False,
    _random: Callable[[int], bytes] = os.urandom,
) -> dict[str, Any]:
    """Packs `source` (a folder, or an iterable of (name, bytes | path[, permission bits])) into `out`.

    Names not under `payload/` or `meta/` are put under `payload/`; a file with any execute bit
    (mode & 0o111) is packed as 493, others as 420.

    Sealed when recipients or a passphrase are given. The file is written to a temporary name beside
    `out` and moved into place only when complete. Returns the manifest as a dict.
    """
    seed = keys.signing_seed(signing_key, key_passphrase)
    rcpts = [keys.recipient_public(r) for r in recipients]
    if passphrase is not None and passphrase == "":
        raise FormatError("the passphrase is empty")
    sealed = bool(rcpts) or passphrase is not None
    if hide_names and not sealed:
        raise FormatError("hidden names need a sealed capsule (a recipient or a passphrase)")
    if len(rcpts) + (passphrase is not None) > MAX_STANZAS:
        raise FormatError(f"more than {MAX_STANZAS} recipients")

    raw = _items(source, "payload/") + _items(meta, "meta/")
    seal_obj: dict[str, Any] | None = None
    seal: _Seal | None = None
    if sealed:
        master, cid = _random(32), _random(16)
        stanzas = [wrap_x25519(master, cid, r, _random(32)) for r in rcpts]
        if passphrase is not None:
            m, t, p = argon2
            stanzas.append(wrap_argon2id(master, cid, passphrase, _random(16), m, t, p))
        seal = _Seal(master, cid, crypto.names_key(master, cid), hide_names)
        seal_obj = {
            "aead": "xchacha20poly1305-stream-64k",
            "capsuleId": cid.hex(),
            "commitment": crypto.commitment(master, cid).hex(),
            "recipients": stanzas,
            "hiddenNames": hide_names,
        }

    guard = CollisionGuard()
    items: list[_Input] = []
    for real, content, mode in raw:
        real = unicodedata.normalize("NFC", real)
        check_content_name(real)
        guard.add(real)
        zip_name = real
        if seal is not None and seal.hidden and real.startswith("payload/"):
            zip_name = "payload/" + crypto.b3_keyed(seal.names_key, real.encode("utf-8"))[:16].hex()
        items.append(_Input(real, zip_name, mode, content))
    items.sort(key=lambda it: it.zip_name.encode("utf-8"))
    for a, b in zip(items, items[1:]):
        if a.zip_name == b.zip_name:
            raise FormatError(f"duplicate entry name {a.real!r}")
    if len(items) >= 1 << 32:
        raise FormatError("too many entries")

    target = os.fspath(out)
    if not overwrite and os.path.lexists(target):
        raise FormatError(f"{target}: already exists")
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".qcap-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            o = _Out(f)
            index = _Index(o)
            for it in items:
                index.make_room()
                _write_entry(o, index, it, seal)
            root_page = index.finish()
            manifest = {
                "qcap": 2,
                "issuer": crypto.ed25519_public(seed).hex(),
                "entries": len(items),
                "root": crypto.b3(root_page).hex(),
                "seal": seal_obj,
            }
            mbytes = jcs(manifest)
            o.small_entry("manifest.json", mbytes)
            o.small_entry("signatures/manifest.ed25519", crypto.ed25519_sign(seed, mbytes))
            cd_offset = o.pos
            o.cd.seek(0)
            while True:
                b = o.cd.read(READ)
                if not b:
                    break
                o.write(b)
            o.cd.close()
            o.write(zipfmt.end_records(o.count, o.cd_size, cd_offset))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644 & ~_umask())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise FormatError(f"{target}: already exists") from None
            os.unlink(tmp)
        return manifest
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


__all__ = ["pack", "QcapError"]
