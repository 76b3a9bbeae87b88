"""Reading and verifying capsules of format version 2 by range (design §7)."""

from __future__ import annotations

import bisect
import hmac
import os
import struct
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import crypto, keys, pages, parallel, zipfmt
from .encoding import is_hex, jcs, strict_json
from .errors import AuthorizationError, FormatError, VerificationError
from .names import CollisionGuard, check_content_name
from .seal import check_stanzas, unwrap
from .source import HttpSource, Source, open_source
from .tree import TreeVerifier, chunk_count, index_length

TAIL = 370
ROOT_CD, MANIFEST_CD, SIG_CD = 84, 87, 101
MANIFEST_NAME = "manifest.json"
SIG_NAME = "signatures/manifest.ed25519"
MAX_MANIFEST = 1 << 20
MAX_INTERIOR_PAGE = 3 + pages.FANOUT * pages.MAX_INTERIOR
WINDOW = 64  # chunks per range request


@dataclass(frozen=True)
class Entry:
    """One content entry. `name` is the real name (None when hidden and no key was given)."""

    name: str | None
    zip_name: str
    size: int
    mode: int
    encrypted: bool
    digest: str


def _lh_span(name: str) -> int:
    return zipfmt.LOCAL + len(name.encode("utf-8"))


class Capsule:
    """An opened capsule: signature, manifest and root page already verified."""

    version = 2

    def __init__(self, src: Source, manifest: dict[str, Any], manifest_bytes: bytes, root_page: bytes,
                 root_offset: int, cd_offset: int, cd_size: int, cd_count: int):
        self.source = src
        self.manifest = manifest
        self.manifest_bytes = manifest_bytes
        self.issuer = bytes.fromhex(manifest["issuer"])
        self.root = bytes.fromhex(manifest["root"])
        self.count = manifest["entries"]
        self.levels = len(pages.page_counts(self.count))
        self.seal = manifest["seal"]
        self.capsule_id = bytes.fromhex(self.seal["capsuleId"]) if self.seal else b""
        self.hidden = bool(self.seal and self.seal["hiddenNames"])
        self._root_page = root_page
        self._root_offset = root_offset
        self._cd_offset = cd_offset
        self._cd_size = cd_size
        self._cd_count = cd_count
        self._master: bytes | None = None
        self._names_key: bytes | None = None
        self._pages: OrderedDict[tuple[int, int], list[Any]] = OrderedDict()
        self.grant: Any = None  # a grants.CheckedGrant once a grant was applied
        self._grant_names: dict[str, str] = {}
        _, recs = pages.decode_page(root_page, "root page")
        self._root_records = recs

    # --- keys ---------------------------------------------------------------------------------

    @property
    def sealed(self) -> bool:
        return self.seal is not None

    @property
    def unlocked(self) -> bool:
        return self._master is not None

    def unlock(self, identities: list[bytes], passphrase: str | None) -> None:
        assert self.seal is not None
        self._master = unwrap(self.seal["recipients"], self.capsule_id, bytes.fromhex(self.seal["commitment"]),
                              identities, passphrase)
        self._names_key = crypto.names_key(self._master, self.capsule_id)

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> Capsule:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- index --------------------------------------------------------------------------------

    def _fetch_page(self, rec: pages.Interior, level: int, position: int, upper: bytes | None,
                    with_descriptor: bool = False) -> tuple[list[Any], bytes]:
        key = (level, position)
        if not with_descriptor and key in self._pages:
            self._pages.move_to_end(key)
            return self._pages[key], b""
        limit = pages.MAX_PAGE if level == 0 else MAX_INTERIOR_PAGE
        if rec.length > limit:
            raise FormatError(f"index page {level}/{position}: {rec.length} bytes, over the {limit}-byte limit")
        name = pages.page_name(level, position, self.levels)
        span = _lh_span(name)
        extra = zipfmt.DESCRIPTOR if with_descriptor else 0
        if rec.offset + span + rec.length + zipfmt.DESCRIPTOR > self._root_offset:
            raise VerificationError(f"{name}: lies outside the capsule's index region")
        raw = self.source.read(rec.offset, span + rec.length + extra)
        if raw[:span] != zipfmt.local_header(name.encode()):
            raise VerificationError(f"{name}: local header differs from the layout")
        data = raw[span : span + rec.length]
        if crypto.b3(data) != rec.hash:
            raise VerificationError(f"{name}: page does not match its signed hash")
        lvl, recs = pages.decode_page(data, name)
        if lvl != level or len(recs) != pages.records_in(self.count, level, position) or not recs:
            raise VerificationError(f"{name}: wrong level or record count")
        first = recs[0].name if level == 0 else recs[0].first
        last = (recs[-1].name if level == 0 else recs[-1].first).encode()
        if first != rec.first or (upper is not None and last >= upper):
            raise VerificationError(f"{name}: names outside the range its parent gives")
        if with_descriptor and raw[span + rec.length :] != zipfmt.data_descriptor(zlib.crc32(data), len(data)):
            raise VerificationError(f"{name}: data descriptor differs from the layout")
        self._pages[key] = recs
        if len(self._pages) > 16:
            self._pages.popitem(last=False)
        return recs, data

    def _lookup(self, zip_name: str) -> pages.Leaf:
        target = zip_name.encode("utf-8")
        recs: list[Any] = self._root_records
        level, position = self.levels - 1, 1
        upper: bytes | None = None
        while level > 0:
            firsts = [r.first.encode() for r in recs]
            i = bisect.bisect_right(firsts, target) - 1
            if i < 0:
                raise KeyError(zip_name)
            if i + 1 < len(recs):
                upper = firsts[i + 1]
            position = (position - 1) * pages.FANOUT + i + 1
            level -= 1
            recs, _ = self._fetch_page(recs[i], level, position, upper)
        names = [r.name.encode() for r in recs]
        i = bisect.bisect_left(names, target)
        if i == len(names) or names[i] != target:
            raise KeyError(zip_name)
        return recs[i]

    def _zip_name(self, name: str) -> str:
        full = name if name.startswith(("payload/", "meta/")) else "payload/" + name
        if self.hidden and full.startswith("payload/"):
            if self._names_key is None and full in self._grant_names:
                return self._grant_names[full]
            if self._names_key is None:
                raise AuthorizationError("entry names are hidden: open the capsule with an identity or passphrase")
            return "payload/" + crypto.b3_keyed(self._names_key, full.encode("utf-8"))[:16].hex()
        return full

    def _real_name(self, leaf: pages.Leaf) -> str | None:
        if not (self.hidden and leaf.name.startswith("payload/")):
            if leaf.sealed_name:
                raise VerificationError(f"{leaf.name}: a sealed name where names are not hidden")
            return leaf.name
        hexid = leaf.name[len("payload/") :]
        if not is_hex(hexid, 16) or len(leaf.sealed_name) < 17:
            raise VerificationError(f"{leaf.name}: not a hidden name")
        if self._names_key is None:
            g = self.grant.entries.get(leaf.name) if self.grant else None
            return g.name if g else None
        plain = crypto.xchacha_decrypt(self._names_key, bytes.fromhex(hexid) + b"\x00" * 8, leaf.name.encode(),
                                       leaf.sealed_name)
        if plain is None:
            raise VerificationError(f"{leaf.name}: sealed name does not decrypt")
        try:
            real = plain.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationError(f"{leaf.name}: sealed name is not UTF-8") from None
        check_content_name(real)
        if not real.startswith("payload/") or not hmac.compare_digest(
            crypto.b3_keyed(self._names_key, plain)[:16].hex(), hexid
        ):
            raise VerificationError(f"{leaf.name}: sealed name does not match its id")
        return real

    def _entry(self, leaf: pages.Leaf) -> Entry:
        try:
            check_content_name(leaf.name)
        except FormatError as e:
            raise VerificationError(f"signed index holds an invalid name: {e}") from None
        return Entry(self._real_name(leaf), leaf.name, leaf.size, leaf.mode,
                     self.sealed and leaf.name.startswith("payload/"), leaf.digest.hex())

    def _leaves(self, pages_too: bool = False) -> Iterator[Any]:
        """Leaf records in index order (and, with pages_too, ('page', ...) markers in post-order)."""

        def walk(recs: list[Any], level: int, position: int, upper: bytes | None) -> Iterator[Any]:
            if level == 0:
                yield from recs
                return
            for i, rec in enumerate(recs):
                child_upper = recs[i + 1].first.encode() if i + 1 < len(recs) else upper
                pos = (position - 1) * pages.FANOUT + i + 1
                child, data = self._fetch_page(rec, level - 1, pos, child_upper, with_descriptor=pages_too)
                yield from walk(child, level - 1, pos, child_upper)
                if pages_too:
                    yield ("page", level - 1, pos, rec, data)

        yield from walk(self._root_records, self.levels - 1, 1, None)

    # --- public API ---------------------------------------------------------------------------

    def entries(self) -> Iterator[Entry]:
        """Every content entry in index order (streams through the leaf pages)."""
        for leaf in self._leaves():
            yield self._entry(leaf)

    def stat(self, name: str) -> Entry:
        try:
            return self._entry(self._lookup(self._zip_name(name)))
        except KeyError:
            raise FormatError(f"no such entry: {name}") from None

    def iter_read(self, name: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Verified (and decrypted) plaintext of bytes [offset, offset+length) of an entry, by window."""
        try:
            leaf = self._lookup(self._zip_name(name))
        except KeyError:
            raise FormatError(f"no such entry: {name}") from None
        return _EntryReader(self, leaf).iter_range(offset, length)

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """The plaintext of `payload/<name>` (or a full `meta/…`/`payload/…` name), every byte verified."""
        return b"".join(self.iter_read(name, offset, length))

    def entry_reader(self, name: str) -> _EntryReader:
        try:
            leaf = self._lookup(self._zip_name(name))
        except KeyError:
            raise FormatError(f"no such entry: {name}") from None
        return _EntryReader(self, leaf)

    def verify(self) -> dict[str, Any]:
        """Checks every page, entry, tree, record and the whole layout (design §7 verify)."""
        try:
            return _verify(self)
        except (struct.error, ValueError, IndexError) as e:
            raise FormatError(f"malformed capsule: {e}") from None


class _EntryReader:
    """Verified random access to one entry."""

    def __init__(self, cap: Capsule, leaf: pages.Leaf, source: Any = None):
        self.cap = cap
        self.src = source or cap.source
        self.leaf = leaf
        self.size = leaf.size
        self.zip_name = leaf.name
        self.encrypted = cap.sealed and leaf.name.startswith("payload/")
        if leaf.mode not in (zipfmt.MODE_FILE, zipfmt.MODE_EXEC):
            raise VerificationError(f"{leaf.name}: mode {leaf.mode} is not 420 or 493")
        self.chunk = crypto.SEALED_CHUNK if self.encrypted else crypto.PLAIN_CHUNK
        self.stored = crypto.sealed_size(leaf.size) if self.encrypted else leaf.size
        self.n = chunk_count(self.stored, self.chunk)
        self.lh = _lh_span(leaf.name)
        self.data_start = leaf.offset + self.lh
        self.tree_name = "index/" + leaf.name
        self.tree_offset = self.data_start + self.stored + zipfmt.DESCRIPTOR
        self.tree_len = index_length(self.n)
        end = self.tree_offset + ((_lh_span(self.tree_name) + self.tree_len + zipfmt.DESCRIPTOR) if self.n > 1 else 0)
        if end > cap._root_offset:
            raise VerificationError(f"{leaf.name}: entry lies outside the capsule's data")
        self.key = b""
        self.aad = b""
        if self.encrypted:
            granted = cap.grant.entries.get(leaf.name) if cap.grant else None
            if granted is not None and granted.key is not None:
                self.key = granted.key
                self.aad = crypto.stream_aad(cap.capsule_id, leaf.name)
            elif cap._master is None:
                self.key = b""
            else:
                self.key = crypto.file_key(cap._master, cap.capsule_id, leaf.name)
                self.aad = crypto.stream_aad(cap.capsule_id, leaf.name)
        self.header_checked = False
        self.tree_header_checked = False
        self.verifier: TreeVerifier | None = None
        if self.n > 1:
            self.verifier = TreeVerifier(leaf.digest, self.n, self._fetch_tree, leaf.name)

    def _fetch_tree(self, off: int, length: int) -> bytes:
        # The tree's bytes are checked against the signed digest whatever the header says; its local
        # header is checked when it comes with them (as the qcap CLI does), and always by verify().
        span = _lh_span(self.tree_name)
        if not self.tree_header_checked and off == 0:
            raw = self.src.read(self.tree_offset, span + length)
            if raw[:span] != zipfmt.local_header(self.tree_name.encode()):
                raise VerificationError(f"{self.tree_name}: local header differs from the layout")
            self.tree_header_checked = True
            return raw[span:]
        return self.src.read(self.tree_offset + span + off, length)

    def _check_header(self, raw: bytes) -> None:
        if raw != zipfmt.local_header(self.zip_name.encode()):
            raise VerificationError(f"{self.zip_name}: local header differs from the layout")
        self.header_checked = True

    def _windows(self, first: int, last: int) -> Iterator[tuple[int, bytes, list[bytes]]]:
        """Stored bytes of chunks first..last (inclusive), WINDOW chunks per request, each window as
        (its first chunk, its bytes, the signed digest of each of its chunks)."""
        i = first
        while i <= last:
            j = min(last, i + WINDOW - 1)
            start = self.data_start + i * self.chunk
            end = self.data_start + min(self.stored, (j + 1) * self.chunk)
            if not self.header_checked:
                if i == 0:
                    raw = self.src.read(self.leaf.offset, self.lh + end - start)
                    self._check_header(raw[: self.lh])
                    raw = raw[self.lh :]
                else:
                    self._check_header(self.src.read(self.leaf.offset, self.lh))
                    raw = self.src.read(start, end - start)
            else:
                raw = self.src.read(start, end - start)
            wants = [self.verifier.leaf(k) for k in range(i, j + 1)] if self.verifier else [self.leaf.digest]
            yield i, raw, wants
            i = j + 1

    def _check(self, k: int, c: bytes, want: bytes) -> bytes:
        if crypto.b3(c) != want:
            raise VerificationError(f"{self.zip_name}: chunk {k} does not match the signed digest")
        return c

    def stored_chunks(self, first: int, last: int) -> Iterator[tuple[int, bytes]]:
        """Verified stored chunks first..last (inclusive), WINDOW chunks per request."""
        for i, raw, wants in self._windows(first, last):
            for n, want in enumerate(wants):
                yield i + n, self._check(i + n, raw[n * self.chunk : (n + 1) * self.chunk], want)

    def _plain_run(self, i: int, raw: bytes, wants: list[bytes], a: int, b: int) -> list[bytes]:
        """Checked and decrypted chunks i+a .. i+b-1 of a window (run on a worker thread)."""
        c = self.chunk
        return [self.plain_chunk(i + n, self._check(i + n, raw[n * c : (n + 1) * c], wants[n])) for n in range(a, b)]

    def plain_chunks(self, first: int, last: int) -> Iterator[tuple[int, bytes]]:
        """Verified plaintext of chunks first..last. Long windows are checked and decrypted on several
        threads (BLAKE3 and libsodium release the GIL); chunks still come out in order, and none
        after one that fails."""
        for i, raw, wants in self._windows(first, last):
            parts = parallel.split(len(wants))
            if len(parts) == 1:
                runs = [self._plain_run(i, raw, wants, 0, len(wants))]
            else:
                runs = parallel.ordered(lambda ab, i=i, raw=raw, wants=wants: self._plain_run(i, raw, wants, *ab),
                                        parts)
            k = i
            for run in runs:
                for plain in run:
                    yield k, plain
                    k += 1

    def plain_chunk(self, k: int, stored: bytes) -> bytes:
        if not self.encrypted:
            return stored
        if not self.key:
            raise AuthorizationError(f"{self.zip_name}: encrypted: open the capsule with an identity or passphrase")
        out = crypto.stream_decrypt_chunk(self.key, self.aad, k, k == self.n - 1, stored)
        if out is None:
            raise VerificationError(f"{self.zip_name}: chunk {k} fails authentication")
        return out

    def iter_range(self, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if offset < 0 or (length is not None and length < 0):
            raise FormatError("offset and length must not be negative")
        if self.encrypted and not self.key:
            raise AuthorizationError(f"{self.zip_name}: encrypted: open the capsule with an identity or passphrase")
        end = self.size if length is None else min(self.size, offset + length)
        if offset >= end:
            if offset > self.size:
                raise FormatError(f"offset {offset} is past the end of {self.zip_name} ({self.size} bytes)")
            return
        first, last = offset // crypto.PLAIN_CHUNK, (end - 1) // crypto.PLAIN_CHUNK
        for k, plain in self.plain_chunks(first, last):
            base = k * crypto.PLAIN_CHUNK
            yield plain[max(0, offset - base) : end - base]


# --- opening --------------------------------------------------------------------------------


def _parse_cd(rec: bytes, name: str) -> tuple[int, int, int]:
    if len(rec) != zipfmt.CENTRAL + len(name) or rec[:4] != b"PK\x01\x02" or rec[28:30] != len(name).to_bytes(2, "little"):
        raise FormatError(f"central directory record of {name} is malformed")
    n, crc, length, offset, mode = zipfmt.parse_central(rec)
    if n != name.encode() or rec != zipfmt.central_header(n, crc, length, offset, 420) or mode != 420:
        raise FormatError(f"central directory record of {name} differs from the layout")
    return crc, length, offset


def _check_manifest(obj: Any) -> None:
    if not isinstance(obj, dict) or set(obj) != {"qcap", "issuer", "entries", "root", "seal"}:
        raise FormatError("manifest: unknown or missing members")
    n = obj["entries"]
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < 1 << 32:
        raise FormatError("manifest: entries must be an integer below 2^32")
    if not is_hex(obj["issuer"], 32) or not is_hex(obj["root"], 32):
        raise FormatError("manifest: issuer and root are 64 lowercase hex digits")
    seal = obj["seal"]
    if seal is None:
        return
    if not isinstance(seal, dict) or set(seal) != {"aead", "capsuleId", "commitment", "recipients", "hiddenNames"}:
        raise FormatError("manifest: seal has unknown or missing members")
    if seal["aead"] != "xchacha20poly1305-stream-64k" or not is_hex(seal["capsuleId"], 16):
        raise FormatError("manifest: malformed seal")
    if not is_hex(seal["commitment"], 32) or not isinstance(seal["hiddenNames"], bool):
        raise FormatError("manifest: malformed seal")
    check_stanzas(seal["recipients"])


def open(  # noqa: A001 - the package's entry point mirrors the CLI verb
    target: str | os.PathLike[str] | Source,
    *,
    identity: Any = None,
    passphrase: str | None = None,
    trust: Iterable[Any] | None = None,
    key_passphrase: str | None = None,
    headers: dict[str, str] | None = None,
    grant: Any = None,
    purpose: str | None = None,
    revocations: Any = None,
    now: Any = None,
) -> Capsule:
    """Opens a capsule: checks the tail, the header group, the signature, the manifest and the root page.

    `identity`: an age identity (AGE-SECRET-KEY-1…), identity file or Q-Cap key file (string, bytes
    or path), or a list of them; `passphrase` opens an argon2id stanza; `trust`: Ed25519 public keys
    (hex, SPKI PEM or key file); when given, a capsule signed by another key is refused.
    `grant`: a grant (cap.json path, text or dict) checked as SPEC §11.7 with `identity` as its
    audience, `purpose`, `revocations` (a list's path, URL, text or dict) and `now` (a datetime).
    """
    src = target if hasattr(target, "read") and hasattr(target, "size") else open_source(target, headers)  # type: ignore[arg-type]
    try:
        cap = _open(src)  # type: ignore[arg-type]
        if trust is not None:
            pinned = {keys.ed25519_public_key(t) for t in trust}
            if cap.issuer not in pinned:
                raise VerificationError(f"signer {cap.issuer.hex()} (fingerprint {crypto.kid(cap.issuer)}) is not trusted")
        idents: list[bytes] = []
        for ident in identity if isinstance(identity, (list, tuple)) else ([identity] if identity is not None else []):
            idents += keys.identity_secret(ident, key_passphrase)
        if grant is not None:
            from .grant_open import apply_grant

            if not cap.sealed:
                raise AuthorizationError("a grant applies to a sealed capsule; this one is not sealed")
            try:
                cap.unlock(idents, passphrase)
            except AuthorizationError:
                pass  # the audience is usually not a recipient of the whole capsule
            apply_grant(cap, grant, idents, purpose=purpose, revocations=revocations, now=now)
        elif cap.sealed and (identity is not None or passphrase is not None):
            cap.unlock(idents, passphrase)
        return cap
    except (struct.error, ValueError, IndexError) as e:
        src.close()
        raise FormatError(f"malformed capsule: {e}") from None
    except BaseException:
        src.close()
        raise


def _open(src: Source) -> Capsule:
    # HTTP: one suffix request gives the tail and the size (a short file returns all of itself).
    tail = src.open_tail(TAIL) if isinstance(src, HttpSource) else src.read(max(0, src.size - TAIL), min(TAIL, src.size))
    size = src.size
    if size < zipfmt.END_RECORDS:
        raise FormatError(f"{src.name}: too short to be a capsule")
    end = tail[-zipfmt.END_RECORDS :]
    count, cd_size, cd_offset = zipfmt.parse_end_records(end)
    if end != zipfmt.end_records(count, cd_size, cd_offset) or cd_offset + cd_size != size - zipfmt.END_RECORDS:
        raise FormatError(f"{src.name}: not a capsule (end records differ from the layout)")
    recs = tail[: TAIL - zipfmt.END_RECORDS]
    if size < TAIL or count < 3 or cd_size < ROOT_CD + MANIFEST_CD + SIG_CD or recs[46:56] != b"pages/root":
        # Not version 2: the signed manifest (the last entries in both versions) names the version.
        from .reader_v1 import open_v1

        return open_v1(src, end)
    m_crc, m_len, m_off = _parse_cd(recs[ROOT_CD : ROOT_CD + MANIFEST_CD], MANIFEST_NAME)
    s_crc, s_len, s_off = _parse_cd(recs[ROOT_CD + MANIFEST_CD :], SIG_NAME)
    r_crc, r_len, r_off = _parse_cd(recs[:ROOT_CD], pages.ROOT_NAME)
    if m_len > MAX_MANIFEST:
        raise FormatError(f"manifest of {m_len} bytes is over the 1 MiB limit")
    if r_len > pages.MAX_PAGE or s_len != 64:
        raise FormatError("root page or signature of the wrong size")
    r_span, m_span, s_span = (_lh_span(n) for n in (pages.ROOT_NAME, MANIFEST_NAME, SIG_NAME))
    d = zipfmt.DESCRIPTOR
    if r_off + r_span + r_len + d != m_off or m_off + m_span + m_len + d != s_off or s_off + s_span + s_len + d != cd_offset:
        raise FormatError("root page, manifest and signature are not contiguous before the central directory")
    group = src.read(r_off, cd_offset - r_off)
    pos = 0
    parts = []
    for name, span, length, crc in ((pages.ROOT_NAME, r_span, r_len, r_crc), (MANIFEST_NAME, m_span, m_len, m_crc),
                                    (SIG_NAME, s_span, s_len, s_crc)):
        if group[pos : pos + span] != zipfmt.local_header(name.encode()):
            raise FormatError(f"{name}: local header differs from the layout")
        data = group[pos + span : pos + span + length]
        if zlib.crc32(data) != crc or group[pos + span + length : pos + span + length + d] != zipfmt.data_descriptor(crc, length):
            raise VerificationError(f"{name}: CRC or data descriptor differs from the layout")
        parts.append(data)
        pos += span + length + d
    root_page, mbytes, sig = parts
    obj = strict_json(mbytes, "manifest")
    if isinstance(obj, dict) and obj.get("qcap") != 2:
        raise FormatError(f"format version {obj.get('qcap')} is not supported by this reader (it reads version 2)")
    if not isinstance(obj, dict) or not is_hex(obj.get("issuer"), 32):
        raise FormatError("manifest: malformed issuer")
    crypto.ed25519_verify(bytes.fromhex(obj["issuer"]), mbytes, sig, "manifest signature")
    _check_manifest(obj)
    if jcs(obj) != mbytes:
        raise FormatError("manifest is not canonical JSON")
    if crypto.b3(root_page) != bytes.fromhex(obj["root"]):
        raise VerificationError("root page does not match the signed root")
    level, recs = pages.decode_page(root_page, "root page")
    n = obj["entries"]
    levels = len(pages.page_counts(n))
    if levels > pages.MAX_LEVELS or level != levels - 1 or len(recs) != pages.records_in(n, level, 1):
        raise VerificationError("root page: wrong level or record count for the signed entry count")
    return Capsule(src, obj, mbytes, root_page, r_off, cd_offset, cd_size, count)


# --- verify ---------------------------------------------------------------------------------


class _Window:
    """Serves verify's mostly sequential reads from 4 MiB windows: few requests over HTTP."""

    SIZE = 4 << 20

    def __init__(self, src: Source):
        self.src = src
        self.at = 0
        self.buf = b""

    def read(self, offset: int, length: int) -> bytes:
        if length > self.SIZE:
            return self.src.read(offset, length)
        if not (self.at <= offset and offset + length <= self.at + len(self.buf)):
            end = min(self.src.size, offset + self.SIZE)
            if offset + length > end:
                return self.src.read(offset, length)
            self.buf = self.src.read(offset, end - offset)
            self.at = offset
        return self.buf[offset - self.at : offset - self.at + length]


class _CdStream:
    """Reads the central directory sequentially in 1 MiB windows and compares it with the layout."""

    def __init__(self, cap: Capsule):
        self.cap = cap
        self.pos = 0
        self.buf = b""
        self.buf_at = 0
        self.count = 0

    def expect(self, name: str, crc: int, length: int, offset: int, mode: int) -> None:
        rec = zipfmt.central_header(name.encode(), crc, length, offset, mode)
        if self.pos + len(rec) > self.cap._cd_size:
            raise VerificationError("the central directory is shorter than the layout")
        got = self._take(len(rec))
        if got != rec:
            raise VerificationError(f"central directory record of {name} differs from the layout")
        self.count += 1

    def _take(self, n: int) -> bytes:
        if self.pos + n > self.buf_at + len(self.buf):
            want = max(n, min(1 << 20, self.cap._cd_size - self.pos))
            self.buf = self.cap.source.read(self.cap._cd_offset + self.pos, want)
            self.buf_at = self.pos
        s = self.pos - self.buf_at
        self.pos += n
        return self.buf[s : s + n]


def _verify(cap: Capsule) -> dict[str, Any]:
    cd = _CdStream(cap)
    win = _Window(cap.source)
    guard = CollisionGuard()
    real_guard = CollisionGuard()  # hidden names: the rules hold for the real names too
    cursor = 0
    last: bytes | None = None
    entries = 0
    total = 0
    for item in cap._leaves(pages_too=True):
        if isinstance(item, tuple):
            _, level, pos, rec, data = item
            name = pages.page_name(level, pos, cap.levels)
            if rec.offset != cursor:
                raise VerificationError(f"{name}: not where the layout puts it")
            cd.expect(name, zlib.crc32(data), len(data), cursor, zipfmt.MODE_FILE)
            cursor += _lh_span(name) + len(data) + zipfmt.DESCRIPTOR
            continue
        leaf: pages.Leaf = item
        nb = leaf.name.encode()
        if last is not None and nb <= last:
            raise VerificationError(f"{leaf.name}: index order broken across pages")
        last = nb
        check_content_name(leaf.name)
        real = cap._real_name(leaf)
        guard.add(leaf.name)
        if real is not None and real != leaf.name:
            real_guard.add(real)
        if leaf.offset != cursor:
            raise VerificationError(f"{leaf.name}: not where the layout puts it")
        r = _EntryReader(cap, leaf, win)
        # Content CRC-32s are not recomputed (SPEC §7.4): the chunk tree covers every stored byte.
        for k, stored in r.stored_chunks(0, r.n - 1):
            if r.encrypted and r.key:
                r.plain_chunk(k, stored)
        dd = win.read(r.data_start + r.stored, zipfmt.DESCRIPTOR)
        if dd != zipfmt.data_descriptor(leaf.crc32, r.stored):
            raise VerificationError(f"{leaf.name}: data descriptor differs from the layout")
        cd.expect(leaf.name, leaf.crc32, r.stored, cursor, leaf.mode)
        cursor = r.tree_offset
        if r.n > 1:
            span = _lh_span(r.tree_name)
            tcrc = 0
            for off in range(0, r.tree_len, 1 << 20):
                chunk = win.read(r.tree_offset + span + off, min(1 << 20, r.tree_len - off))
                tcrc = zlib.crc32(chunk, tcrc)
            hdr = win.read(r.tree_offset, span)
            tdd = win.read(r.tree_offset + span + r.tree_len, zipfmt.DESCRIPTOR)
            if hdr != zipfmt.local_header(r.tree_name.encode()) or tcrc != leaf.tree_crc32 or tdd != zipfmt.data_descriptor(tcrc, r.tree_len):
                raise VerificationError(f"{r.tree_name}: differs from the layout")
            cd.expect(r.tree_name, tcrc, r.tree_len, cursor, zipfmt.MODE_FILE)
            cursor += span + r.tree_len + zipfmt.DESCRIPTOR
        elif leaf.tree_crc32 != 0:
            raise VerificationError(f"{leaf.name}: a tree CRC for an entry of one chunk")
        entries += 1
        total += leaf.size
    if entries != cap.count:
        raise VerificationError("the index holds another number of entries than the manifest says")
    if cursor != cap._root_offset:
        raise VerificationError("pages/root is not where the layout puts it")
    cd.expect(pages.ROOT_NAME, zlib.crc32(cap._root_page), len(cap._root_page), cursor, zipfmt.MODE_FILE)
    cursor += _lh_span(pages.ROOT_NAME) + len(cap._root_page) + zipfmt.DESCRIPTOR
    mb = cap.manifest_bytes
    cd.expect(MANIFEST_NAME, zlib.crc32(mb), len(mb), cursor, zipfmt.MODE_FILE)
    cursor += _lh_span(MANIFEST_NAME) + len(mb) + zipfmt.DESCRIPTOR
    sig_off = cursor
    sig = cap.source.read(sig_off + _lh_span(SIG_NAME), 64)
    cd.expect(SIG_NAME, zlib.crc32(sig), 64, cursor, zipfmt.MODE_FILE)
    cursor += _lh_span(SIG_NAME) + 64 + zipfmt.DESCRIPTOR
    if cursor != cap._cd_offset or cd.pos != cap._cd_size or cd.count != cap._cd_count:
        raise VerificationError("the central directory or file length differs from the layout")
    return {"entries": entries, "bytes": total, "root": cap.root.hex(), "issuer": cap.issuer.hex(),
            "sealed": cap.sealed, "decrypted": cap.unlocked}
