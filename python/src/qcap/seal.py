"""Recipient stanzas (SPEC §5.3): wrapping the master key and unwrapping it."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from . import crypto
from .encoding import is_hex
from .errors import AuthorizationError, FormatError

MAX_STANZAS = 256


def wrap_x25519(master: bytes, capsule_id: bytes, recipient: bytes, eph: bytes) -> dict[str, Any]:
    epk = crypto.x25519_public(eph)
    shared = crypto.x25519(eph, recipient)
    if shared is None:
        raise FormatError("the recipient key is of small order")
    wrap = crypto.hkdf(shared, epk + recipient, b"qcap/v1 x25519")
    return {
        "type": "x25519",
        "kid": crypto.kid(recipient),
        "epk": epk.hex(),
        "wrappedKey": crypto.chacha_encrypt(wrap, capsule_id, master).hex(),
    }


def wrap_argon2id(
    master: bytes, capsule_id: bytes, passphrase: str, salt: bytes, m: int = 65536, t: int = 3, p: int = 1
) -> dict[str, Any]:
    if passphrase == "":
        raise FormatError("the passphrase is empty")
    crypto.check_argon2_params(m, t, p)
    wrap = crypto.argon2id(passphrase, salt, m, t, p)
    return {
        "type": "argon2id",
        "salt": salt.hex(),
        "m": m,
        "t": t,
        "p": p,
        "wrappedKey": crypto.chacha_encrypt(wrap, capsule_id, master).hex(),
    }


def check_stanzas(stanzas: Any) -> None:
    if not isinstance(stanzas, list):
        raise FormatError("manifest: recipients must be a list")
    if len(stanzas) > MAX_STANZAS:
        raise FormatError(f"manifest: {len(stanzas)} recipient stanzas, more than {MAX_STANZAS}")
    argon = 0
    for s in stanzas:
        if not isinstance(s, dict):
            raise FormatError("manifest: malformed recipient stanza")
        if s.get("type") == "x25519":
            ok = set(s) == {"type", "kid", "epk", "wrappedKey"} and is_hex(s["kid"], 8)
            ok = ok and is_hex(s["epk"], 32) and is_hex(s["wrappedKey"], 48)
        elif s.get("type") == "argon2id":
            ok = set(s) == {"type", "salt", "m", "t", "p", "wrappedKey"} and is_hex(s["salt"], 16)
            ok = ok and is_hex(s["wrappedKey"], 48)
            argon += 1
            if ok:
                crypto.check_argon2_params(s["m"], s["t"], s["p"])
        else:
            ok = False
        if not ok:
            raise FormatError("manifest: malformed recipient stanza")
    if argon > 1:
        raise FormatError("manifest: more than one argon2id stanza")


def unwrap(
    stanzas: list[dict[str, Any]],
    capsule_id: bytes,
    expected_commitment: bytes,
    identities: list[bytes],
    passphrase: str | None,
    on_try: Callable[[], None] | None = None,
) -> bytes:
    """The master key, from the first stanza a given key opens whose commitment matches."""
    tried = False
    for s in stanzas:
        wrapped = bytes.fromhex(s["wrappedKey"])
        if s["type"] == "x25519":
            for ident in identities:
                pub = crypto.x25519_public(ident)
                if crypto.kid(pub) != s["kid"]:
                    continue
                tried = True
                epk = bytes.fromhex(s["epk"])
                shared = crypto.x25519(ident, epk)
                if shared is None:
                    continue
                wrap = crypto.hkdf(shared, epk + pub, b"qcap/v1 x25519")
                master = crypto.chacha_decrypt(wrap, capsule_id, wrapped)
                if master is not None and _committed(master, capsule_id, expected_commitment):
                    return master
        elif passphrase is not None:
            tried = True
            wrap = crypto.argon2id(passphrase, bytes.fromhex(s["salt"]), s["m"], s["t"], s["p"])
            master = crypto.chacha_decrypt(wrap, capsule_id, wrapped)
            if master is not None and _committed(master, capsule_id, expected_commitment):
                return master
    if not tried:
        raise AuthorizationError("no given identity or passphrase is a recipient of this capsule")
    raise AuthorizationError("the given keys do not open this capsule")


def _committed(master: bytes, capsule_id: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(crypto.commitment(master, capsule_id), expected)
