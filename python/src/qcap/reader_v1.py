"""The read-only adaptor for format version 1 capsules (SPEC §14): the whole central directory and
the manifest's entry list are read, and the layout they imply is compared with the file."""

from __future__ import annotations

import zlib
from typing import Any

from . import crypto, pages, zipfmt
from .encoding import is_hex, jcs, strict_json
from .errors import AuthorizationError, FormatError, VerificationError
from .names import CollisionGuard, check_content_name, check_name
from .seal import check_stanzas
from .source import Source
from .tree import chunk_count, index_length

MAX_MANIFEST_V1 = 512 << 20
MAX_CD = 1 << 30


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return crypto.b3(b"")
    if len(leaves) == 1:
        return crypto.b3(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return crypto.b3(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _check_manifest_v1(obj: Any) -> None:
    if not isinstance(obj, dict) or set(obj) != {"qcap", "issuer", "chunkSize", "entries", "root", "seal"}:
        raise FormatError("manifest: unknown or missing members")
    if obj["chunkSize"] != 65536 or not is_hex(obj["issuer"], 32) or not is_hex(obj["root"], 32):
        raise FormatError("manifest: malformed")
    if not isinstance(obj["entries"], list):
        raise FormatError("manifest: entries must be a list")
    for e in obj["entries"]:
        keys = {"name", "size", "mode", "crc32", "digest"}
        if not isinstance(e, dict) or not (set(e) == keys or set(e) == keys | {"indexCrc32"}):
            raise FormatError("manifest: malformed entry")
        if not isinstance(e["name"], str) or not isinstance(e["size"], int) or isinstance(e["size"], bool):
            raise FormatError("manifest: malformed entry")
        if e["size"] < 0 or e["size"] >= 1 << 53 or e["mode"] not in (420, 493):
            raise FormatError("manifest: malformed entry size or mode")
        if not is_hex(e["crc32"], 4) or not is_hex(e["digest"], 32) or ("indexCrc32" in e and not is_hex(e["indexCrc32"], 4)):
            raise FormatError("manifest: malformed entry")
    seal = obj["seal"]
    if seal is None:
        return
    if not isinstance(seal, dict) or set(seal) != {"aead", "capsuleId", "commitment", "recipients", "names"}:
        raise FormatError("manifest: seal has unknown or missing members")
    if seal["aead"] != "xchacha20poly1305-stream-64k" or not is_hex(seal["capsuleId"], 16) or not is_hex(seal["commitment"], 32):
        raise FormatError("manifest: malformed seal")
    if seal["names"] is not None and not is_hex(seal["names"]):
        raise FormatError("manifest: malformed seal names")
    check_stanzas(seal["recipients"])


def open_v1(src: Source, tail98: bytes) -> Any:
    size = src.size
    count, cd_size, cd_offset = zipfmt.parse_end_records(tail98)
    if cd_size > MAX_CD:
        raise FormatError("central directory over the 1 GiB limit")
    cd = src.read(cd_offset, cd_size)
    records = []
    pos = 0
    seen = CollisionGuard()
    for _ in range(count):
        if pos + zipfmt.CENTRAL > len(cd) or cd[pos : pos + 4] != b"PK\x01\x02":
            raise FormatError("central directory record malformed")
        n = int.from_bytes(cd[pos + 28 : pos + 30], "little")
        rec = cd[pos : pos + zipfmt.CENTRAL + n]
        name_b, crc, length, offset, mode = zipfmt.parse_central(rec)
        if rec != zipfmt.central_header(name_b, crc, length, offset, mode):
            raise FormatError("central directory record differs from the layout")
        try:
            name = name_b.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("central directory: a name is not UTF-8") from None
        check_name(name)
        seen.add(name)
        records.append((name, crc, length, offset, mode))
        pos += len(rec)
    if pos != len(cd) or len(records) < 2:
        raise FormatError("central directory differs from the layout")
    (mname, mcrc, mlen, moff, _), (sname, scrc, slen, _, _) = records[-2], records[-1]
    if mname != "manifest.json" or sname != "signatures/manifest.ed25519" or slen != 64:
        raise FormatError("the last entries are not manifest.json and its signature")
    if mlen > MAX_MANIFEST_V1:
        raise FormatError("manifest over the 512 MiB limit")
    group = src.read(moff, cd_offset - moff)
    mspan, sspan = 50 + 13, 50 + 27
    if len(group) != mspan + mlen + 24 + sspan + 64 + 24:
        raise FormatError("manifest and signature are not where the layout puts them")
    mbytes = group[mspan : mspan + mlen]
    sig = group[mspan + mlen + 24 + sspan :][:64]
    if group[:mspan] != zipfmt.local_header(b"manifest.json") or group[mspan + mlen : mspan + mlen + 24] != zipfmt.data_descriptor(mcrc, mlen):
        raise FormatError("manifest.json differs from the layout")
    s_at = mspan + mlen + 24
    if group[s_at : s_at + sspan] != zipfmt.local_header(b"signatures/manifest.ed25519") or group[s_at + sspan + 64 :] != zipfmt.data_descriptor(scrc, 64):
        raise FormatError("signatures/manifest.ed25519 differs from the layout")
    obj = strict_json(mbytes, "manifest")
    if not isinstance(obj, dict) or not is_hex(obj.get("issuer"), 32):
        raise FormatError("manifest: malformed issuer")
    crypto.ed25519_verify(bytes.fromhex(obj["issuer"]), mbytes, sig, "manifest signature")
    if obj.get("qcap") != 1:
        v = obj.get("qcap")
        if v == 2:
            raise FormatError("a version 2 manifest without pages/root before it")
        raise FormatError(f"format version {v} is not supported by this release")
    _check_manifest_v1(obj)
    if jcs(obj) != mbytes or zlib.crc32(mbytes) != mcrc or zlib.crc32(sig) != scrc:
        raise FormatError("manifest is not canonical or its CRC differs")
    sealed = obj["seal"] is not None
    entries = obj["entries"]
    names = [e["name"] for e in entries]
    pay = [n for n in names if n.startswith("payload/")]
    meta = [n for n in names if n.startswith("meta/")]
    if names != sorted(pay, key=str.encode) + sorted(meta, key=str.encode) or len(set(names)) != len(names):
        raise FormatError("manifest: entries out of order")
    guard = CollisionGuard()
    leaves, layout, mth_leaves, off = [], [], [], 0
    for e in entries:
        check_content_name(e["name"])
        guard.add(e["name"])
        enc = sealed and e["name"].startswith("payload/")
        stored = crypto.sealed_size(e["size"]) if enc else e["size"]
        chunks = chunk_count(stored, crypto.SEALED_CHUNK if enc else crypto.PLAIN_CHUNK)
        if (chunks > 1) != ("indexCrc32" in e):
            raise FormatError(f"manifest: {e['name']}: indexCrc32 present iff it has a tree entry")
        tcrc = int(e["indexCrc32"], 16) if chunks > 1 else 0
        leaf = pages.Leaf(e["name"], e["size"], e["mode"], int(e["crc32"], 16), bytes.fromhex(e["digest"]), off, tcrc, b"")
        leaves.append(leaf)
        layout.append((e["name"], leaf.crc32, stored, off, e["mode"]))
        off += 50 + len(e["name"].encode()) + stored + 24
        if chunks > 1:
            tname = "index/" + e["name"]
            layout.append((tname, tcrc, index_length(chunks), off, 420))
            off += 50 + len(tname.encode()) + index_length(chunks) + 24
        mth_leaves.append(e["name"].encode() + b"\x00" + e["size"].to_bytes(8, "little") + leaf.digest)
    if _mth(mth_leaves).hex() != obj["root"]:
        raise VerificationError("the manifest's root does not match its entries")
    layout.append(("manifest.json", mcrc, mlen, off, 420))
    off += mspan + mlen + 24
    layout.append(("signatures/manifest.ed25519", scrc, 64, off, 420))
    off += sspan + 64 + 24
    if [(n, c, ln, o, m) for n, c, ln, o, m in records] != layout or off != cd_offset or cd_offset + cd_size + 98 != size:
        raise VerificationError("the central directory or file length differs from the layout the manifest implies")
    global _CLASS
    if _CLASS is None:
        _CLASS = _make_class()
    return _CLASS(src, obj, mbytes, leaves, moff, cd_offset, cd_size, count)


_CLASS: Any = None


def _make_class() -> type:
    """A Capsule whose index is the manifest's entry list (made lazily: reader imports this module)."""
    from .reader import Capsule

    class _V1(Capsule):
        version = 1

        def __init__(self, src: Source, manifest: dict[str, Any], mbytes: bytes, leaves: list[pages.Leaf],
                     moff: int, cd_offset: int, cd_size: int, cd_count: int):
            self.source = src
            self.manifest = manifest
            self.manifest_bytes = mbytes
            self.issuer = bytes.fromhex(manifest["issuer"])
            self.root = bytes.fromhex(manifest["root"])
            self.count = len(leaves)
            self.levels = 0
            self.seal = manifest["seal"]
            self.capsule_id = bytes.fromhex(self.seal["capsuleId"]) if self.seal else b""
            self.hidden = bool(self.seal and self.seal["names"])
            self._root_offset = moff
            self._cd_offset, self._cd_size, self._cd_count = cd_offset, cd_size, cd_count
            self._master = None
            self._names_key = None
            self._by_name = {leaf.name: leaf for leaf in leaves}
            self._leaf_list = leaves
            self._real: dict[str, str] = {}
            self.grant = None
            self._grant_names = {}

        def unlock(self, identities: list[bytes], passphrase: str | None) -> None:
            super().unlock(identities, passphrase)
            if self.hidden:
                assert self._names_key is not None
                plain = crypto.xchacha_decrypt(self._names_key, b"\x00" * 24, self.capsule_id, bytes.fromhex(self.seal["names"]))
                if plain is None:
                    raise VerificationError("the sealed names do not decrypt")
                real = strict_json(plain, "sealed names")
                zips = [leaf.name for leaf in self._leaf_list if leaf.name.startswith("payload/")]
                if not isinstance(real, list) or len(real) != len(zips) or real != sorted(real, key=str.encode):
                    raise VerificationError("the sealed names do not match the entries")
                guard = CollisionGuard()
                for i, (z, r) in enumerate(zip(zips, real)):
                    if z != f"payload/{i + 1:08d}" or not isinstance(r, str) or not r.startswith("payload/"):
                        raise VerificationError("the sealed names do not match the entries")
                    check_content_name(r)
                    guard.add(r)
                self._real = dict(zip(zips, real))

        def _lookup(self, zip_name: str) -> pages.Leaf:
            return self._by_name[zip_name]

        def _leaves(self, pages_too: bool = False) -> Any:
            return iter(self._leaf_list)

        def _zip_name(self, name: str) -> str:
            full = name if name.startswith(("payload/", "meta/")) else "payload/" + name
            if self.hidden and full.startswith("payload/"):
                for z, r in {**{g.entry: g.name for g in (self.grant.entries.values() if self.grant else [])}, **self._real}.items():
                    if r == full:
                        return z
                if not self._real:
                    raise AuthorizationError("entry names are hidden: open the capsule with an identity or passphrase")
                raise KeyError(full)
            return full

        def _real_name(self, leaf: pages.Leaf) -> str | None:
            if self.hidden and leaf.name.startswith("payload/"):
                if leaf.name in self._real:
                    return self._real[leaf.name]
                g = self.grant.entries.get(leaf.name) if self.grant else None
                return g.name if g else None
            return leaf.name

        def verify(self) -> dict[str, Any]:
            from .reader import _EntryReader

            total = 0
            for leaf in self._leaf_list:
                r = _EntryReader(self, leaf)
                for k, stored in r.stored_chunks(0, r.n - 1):
                    if r.encrypted and r.key:
                        r.plain_chunk(k, stored)
                if self.source.read(r.data_start + r.stored, 24) != zipfmt.data_descriptor(leaf.crc32, r.stored):
                    raise VerificationError(f"{leaf.name}: data descriptor differs from the layout")
                if r.n > 1:
                    span = 50 + len(r.tree_name.encode())
                    raw = self.source.read(r.tree_offset, span + r.tree_len + 24)
                    if raw[:span] != zipfmt.local_header(r.tree_name.encode()) or raw[span + r.tree_len :] != zipfmt.data_descriptor(leaf.tree_crc32, r.tree_len):
                        raise VerificationError(f"{r.tree_name}: differs from the layout")
                total += leaf.size
            return {"entries": len(self._leaf_list), "bytes": total, "root": self.root.hex(), "issuer": self.issuer.hex(),
                    "sealed": self.sealed, "decrypted": self.unlocked, "version": 1}

    return _V1

