"""Keys given as the strings the qcap CLI reads from files (SPEC §8): PEM, hex seeds, Q-Cap key
files (clear or protected), age identities and recipients."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from typing import Any

from . import crypto
from .encoding import (
    age_identity_decode,
    age_identity_encode,
    age_recipient_decode,
    age_recipient_encode,
    is_hex,
    jcs,
    strict_json,
)
from .errors import AuthorizationError, FormatError

PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
KEY_LIMIT = 1 << 20


@dataclass(frozen=True)
class KeyFile:
    seed: bytes | None
    identity: bytes | None
    public_ed25519: bytes
    recipient: bytes


def _text(key: str | bytes | os.PathLike[str]) -> str:
    if isinstance(key, os.PathLike):
        path = os.fspath(key)
        if os.path.getsize(path) > KEY_LIMIT:
            raise FormatError(f"{path}: larger than the 1 MiB limit of key files")
        with open(path, "rb") as f:
            key = f.read()
    if isinstance(key, bytes):
        try:
            key = key.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("a key must be UTF-8 text") from None
    return key.strip()


def _pem(text: str, label: str) -> bytes | None:
    m = re.fullmatch(rf"-----BEGIN {label}-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END {label}-----", text)
    if not m:
        return None
    try:
        return base64.b64decode("".join(m.group(1).split()), validate=True)
    except ValueError:
        raise FormatError(f"malformed {label} PEM") from None


def ed25519_private_pem(seed: bytes) -> str:
    b = base64.b64encode(PKCS8_PREFIX + seed).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{b}\n-----END PRIVATE KEY-----\n"


def ed25519_public_pem(public: bytes) -> str:
    b = base64.b64encode(SPKI_PREFIX + public).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{b}\n-----END PUBLIC KEY-----\n"


def _exact(obj: Any, members: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or set(obj) != members:
        raise FormatError(f"{what}: expected exactly the members {sorted(members)}")
    return obj


def parse_key_file(text: str, passphrase: str | None = None) -> KeyFile:
    obj = strict_json(text.encode("utf-8"), "key file")
    if not isinstance(obj, dict) or obj.get("type") != "qcap-key" or obj.get("version") != 1:
        raise FormatError("not a Q-Cap key file (type qcap-key, version 1)")
    protected = "protected" in obj
    members = {"type", "version", "public"} | ({"protected"} if protected else {"signing", "identity"})
    _exact(obj, members, "key file")
    pub = _exact(obj["public"], {"ed25519", "recipient"}, "key file public")
    if not is_hex(pub["ed25519"], 32) or not isinstance(pub["recipient"], str):
        raise FormatError("key file: malformed public keys")
    public_ed = bytes.fromhex(pub["ed25519"])
    recipient = age_recipient_decode(pub["recipient"])
    if protected:
        secrets = _unprotect(obj["protected"], pub, passphrase)
    else:
        secrets = {"signing": obj["signing"], "identity": obj["identity"]}
    signing = _exact(secrets["signing"], {"ed25519"}, "key file signing")
    if not is_hex(signing["ed25519"], 32) or not isinstance(secrets["identity"], str):
        raise FormatError("key file: malformed secrets")
    seed = bytes.fromhex(signing["ed25519"])
    identity = age_identity_decode(secrets["identity"])
    if crypto.ed25519_public(seed) != public_ed or crypto.x25519_public(identity) != recipient:
        raise FormatError("key file: the public keys do not match the secrets")
    return KeyFile(seed, identity, public_ed, recipient)


def _unprotect(prot: Any, pub: dict[str, Any], passphrase: str | None) -> dict[str, Any]:
    p = _exact(prot, {"kdf", "salt", "m", "t", "p", "nonce", "ciphertext"}, "key file protected")
    if p["kdf"] != "argon2id" or not is_hex(p["salt"], 16) or not is_hex(p["nonce"], 24):
        raise FormatError("key file: malformed protected member")
    if not is_hex(p["ciphertext"]) or len(p["ciphertext"]) < 32:
        raise FormatError("key file: malformed ciphertext")
    crypto.check_argon2_params(p["m"], p["t"], p["p"])
    if passphrase is None:
        passphrase = os.environ.get("QCAP_KEY_PASSPHRASE") or os.environ.get("QCAP_PASSPHRASE")
    if not passphrase:
        raise AuthorizationError("the key file is protected: give its passphrase")
    key = crypto.argon2id(passphrase, bytes.fromhex(p["salt"]), p["m"], p["t"], p["p"])
    aad = b"qcap/v1 key file\x00" + jcs(pub)
    plain = crypto.xchacha_decrypt(key, bytes.fromhex(p["nonce"]), aad, bytes.fromhex(p["ciphertext"]))
    if plain is None:
        raise AuthorizationError("wrong passphrase or altered key file")
    return _exact(strict_json(plain, "key file secrets"), {"identity", "signing"}, "key file secrets")


def signing_seed(key: str | bytes | os.PathLike[str], passphrase: str | None = None) -> bytes:
    """The Ed25519 seed from a PKCS#8 PEM, 64 hex digits or a key file."""
    text = _text(key)
    der = _pem(text, "PRIVATE KEY")
    if der is not None:
        if len(der) != 48 or not der.startswith(PKCS8_PREFIX):
            raise FormatError("not an Ed25519 PKCS#8 private key")
        return der[16:]
    if is_hex(text.lower(), 32):
        return bytes.fromhex(text)
    if text.startswith("{"):
        kf = parse_key_file(text, passphrase)
        assert kf.seed is not None
        return kf.seed
    raise FormatError("not a signing key (PKCS#8 PEM, 64 hex digits or a Q-Cap key file)")


def identity_secret(key: str | bytes | os.PathLike[str], passphrase: str | None = None) -> list[bytes]:
    """X25519 secrets from AGE-SECRET-KEY-1 lines (an age identity file) or a key file."""
    text = _text(key)
    if text.startswith("{"):
        kf = parse_key_file(text, passphrase)
        assert kf.identity is not None
        return [kf.identity]
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(age_identity_decode(line))
    if not out:
        raise FormatError("no identity (AGE-SECRET-KEY-1...) found")
    return out


def recipient_public(key: str | bytes | os.PathLike[str]) -> bytes:
    """An X25519 recipient from age1... or a key file's public member."""
    text = _text(key)
    if text.startswith("{"):
        obj = strict_json(text.encode("utf-8"), "key file")
        if not isinstance(obj, dict) or not isinstance(obj.get("public"), dict):
            raise FormatError("not a Q-Cap key file")
        return age_recipient_decode(str(obj["public"].get("recipient")))
    return age_recipient_decode(text)


def ed25519_public_key(key: str | bytes | os.PathLike[str]) -> bytes:
    """An Ed25519 public key from 64 hex digits, an SPKI PEM or a key file."""
    text = _text(key)
    der = _pem(text, "PUBLIC KEY")
    if der is not None:
        if len(der) != 44 or not der.startswith(SPKI_PREFIX):
            raise FormatError("not an Ed25519 SPKI public key")
        return der[12:]
    if is_hex(text.lower(), 32):
        return bytes.fromhex(text)
    if text.startswith("{"):
        obj = strict_json(text.encode("utf-8"), "key file")
        if isinstance(obj, dict) and isinstance(obj.get("public"), dict) and is_hex(obj["public"].get("ed25519"), 32):
            return bytes.fromhex(obj["public"]["ed25519"])
    raise FormatError("not an Ed25519 public key (64 hex digits, SPKI PEM or a key file)")


__all__ = [
    "KeyFile", "parse_key_file", "signing_seed", "identity_secret", "recipient_public",
    "ed25519_public_key", "ed25519_private_pem", "ed25519_public_pem",
    "age_identity_encode", "age_recipient_encode",
]
