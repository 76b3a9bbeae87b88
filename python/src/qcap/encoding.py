"""Canonical JSON (RFC 8785), little-endian helpers and age's Bech32 key encodings."""

from __future__ import annotations

import json
import struct
from typing import Any

from .errors import FormatError


def _jcs_str(s: str) -> str:
    # json.dumps escapes exactly what JCS escapes when ensure_ascii is off (", \, controls).
    return json.dumps(s, ensure_ascii=False)


def jcs(value: Any) -> bytes:
    """RFC 8785 serialisation of strings, integers, booleans, null, lists and dicts."""
    return _jcs(value).encode("utf-8")


def _jcs(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _jcs_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(_jcs_str(k) + ":" + _jcs(v[k]) for k in keys) + "}"
    raise TypeError(f"not canonical JSON: {type(v).__name__}")


def strict_json(data: bytes, what: str) -> Any:
    """Parses JSON, refusing duplicate members, NaN/Infinity and non-integer numbers."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, val in items:
            if k in out:
                raise FormatError(f"{what}: duplicate member {k!r}")
            out[k] = val
        return out

    def bad_const(c: str) -> Any:
        raise FormatError(f"{what}: {c} is not allowed")

    def bad_float(s: str) -> Any:
        raise FormatError(f"{what}: non-integer number {s}")

    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=pairs, parse_constant=bad_const, parse_float=bad_float)
    except FormatError:
        raise
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{what}: not valid JSON ({e})") from None


def is_hex(s: Any, nbytes: int | None = None) -> bool:
    if not isinstance(s, str) or len(s) % 2 or (nbytes is not None and len(s) != 2 * nbytes):
        return False
    return all(c in "0123456789abcdef" for c in s)


def u16(v: int) -> bytes:
    return struct.pack("<H", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


# --- Bech32 (BIP 173), as age uses it: no length limit, checksum constant 1 -------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convert(data: list[int], frm: int, to: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out = []
    maxv = (1 << to) - 1
    for v in data:
        acc = (acc << frm) | v
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to - bits)) & maxv)
    elif bits >= frm or ((acc << (to - bits)) & maxv):
        return None
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    d5 = _convert(list(data), 8, 5, True)
    assert d5 is not None
    values = _hrp_expand(hrp) + d5
    pm = _polymod(values + [0] * 6) ^ 1
    check = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in d5 + check)


def bech32_decode(s: str) -> tuple[str, bytes]:
    """Returns (hrp in lowercase, data); refuses mixed case and bad checksums."""
    if s.lower() != s and s.upper() != s:
        raise FormatError("mixed case in a Bech32 string")
    s2 = s.lower()
    pos = s2.rfind("1")
    if pos < 1 or pos + 7 > len(s2) or any(ord(c) < 33 or ord(c) > 126 for c in s2):
        raise FormatError("not a Bech32 string")
    hrp = s2[:pos]
    try:
        d5 = [_CHARSET.index(c) for c in s2[pos + 1 :]]
    except ValueError:
        raise FormatError("invalid Bech32 character") from None
    if _polymod(_hrp_expand(hrp) + d5) != 1:
        raise FormatError("bad Bech32 checksum")
    data = _convert(d5[:-6], 5, 8, False)
    if data is None:
        raise FormatError("bad Bech32 padding")
    return hrp, bytes(data)


def age_recipient_encode(pub: bytes) -> str:
    return bech32_encode("age", pub)


def age_identity_encode(secret: bytes) -> str:
    return bech32_encode("age-secret-key-", secret).upper()


def age_recipient_decode(s: str) -> bytes:
    if s != s.lower():
        raise FormatError("an age recipient must be lowercase")
    hrp, data = bech32_decode(s)
    if hrp != "age":
        raise FormatError("not an age recipient (age1...)")
    if len(data) != 32:
        raise FormatError("an age recipient holds 32 bytes")
    return data


def age_identity_decode(s: str) -> bytes:
    if s != s.upper():
        raise FormatError("an age identity must be uppercase")
    hrp, data = bech32_decode(s)
    if hrp != "age-secret-key-":
        raise FormatError("not an age identity (AGE-SECRET-KEY-1...)")
    if len(data) != 32:
        raise FormatError("an age identity holds 32 bytes")
    return data
