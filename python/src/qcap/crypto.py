"""The primitives of SPEC §3, §5 and §6, over libsodium (PyNaCl), blake3 and argon2-cffi."""

from __future__ import annotations

import hashlib
import hmac
import math
import unicodedata

import argon2.low_level
import blake3 as _blake3
import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing

from .errors import FormatError, VerificationError

PLAIN_CHUNK = 65536
TAG = 16
SEALED_CHUNK = PLAIN_CHUNK + TAG


def b3(data: bytes) -> bytes:
    return _blake3.blake3(data).digest()


def b3_keyed(key: bytes, data: bytes) -> bytes:
    return _blake3.blake3(data, key=key).digest()


def kid(public: bytes) -> str:
    """Key id / fingerprint: BLAKE3(public key)[0:8] in hex."""
    return b3(public)[:8].hex()


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def file_key(master: bytes, capsule_id: bytes, name: str) -> bytes:
    return hkdf(master, capsule_id, b"qcap/v1 file key\x00" + name.encode("utf-8"))


def names_key(master: bytes, capsule_id: bytes) -> bytes:
    return hkdf(master, capsule_id, b"qcap/v1 names")


def commitment(master: bytes, capsule_id: bytes) -> bytes:
    return hkdf(master, capsule_id, b"qcap/v1 key commitment")


def stream_aad(capsule_id: bytes, name: str) -> bytes:
    return b"qcap/v1\x00" + capsule_id + name.encode("utf-8")


def stream_nonce(i: int, last: bool) -> bytes:
    return b"\x00" * 16 + i.to_bytes(7, "big") + (b"\x01" if last else b"\x00")


def plain_chunks(size: int) -> int:
    return max(1, math.ceil(size / PLAIN_CHUNK))


def sealed_size(size: int) -> int:
    return size + TAG * plain_chunks(size)


def xchacha_encrypt(key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


def xchacha_decrypt(key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes | None:
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key)
    except nacl.exceptions.CryptoError:
        return None


def chacha_encrypt(key: bytes, aad: bytes, plaintext: bytes) -> bytes:
    return sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad, b"\x00" * 12, key)


def chacha_decrypt(key: bytes, aad: bytes, ciphertext: bytes) -> bytes | None:
    try:
        return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(ciphertext, aad, b"\x00" * 12, key)
    except nacl.exceptions.CryptoError:
        return None


def stream_encrypt_chunk(key: bytes, aad: bytes, i: int, last: bool, chunk: bytes) -> bytes:
    return xchacha_encrypt(key, stream_nonce(i, last), aad, chunk)


def stream_decrypt_chunk(key: bytes, aad: bytes, i: int, last: bool, chunk: bytes) -> bytes | None:
    return xchacha_decrypt(key, stream_nonce(i, last), aad, chunk)


def x25519(secret: bytes, public: bytes) -> bytes | None:
    """X25519; None when the shared secret is all zero (libsodium refuses it)."""
    try:
        out = sodium.crypto_scalarmult(secret, public)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.CryptoError, RuntimeError):
        return None
    return None if out == b"\x00" * 32 else out


def x25519_public(secret: bytes) -> bytes:
    return sodium.crypto_scalarmult_base(secret)


def argon2id(passphrase: str, salt: bytes, m: int, t: int, p: int) -> bytes:
    password = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return argon2.low_level.hash_secret_raw(
        password, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32,
        type=argon2.low_level.Type.ID, version=19,
    )


def check_argon2_params(m: object, t: object, p: object) -> None:
    for v in (m, t, p):
        if not isinstance(v, int) or isinstance(v, bool):
            raise FormatError("argon2id parameters must be integers")
    assert isinstance(m, int) and isinstance(t, int) and isinstance(p, int)
    if m > 1048576 or t > 16 or p > 16 or t < 1 or p < 1 or m < 8 * p:
        raise FormatError(f"argon2id parameters out of bounds (m={m}, t={t}, p={p})")


def ed25519_public(seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return nacl.signing.SigningKey(seed).sign(message).signature


def ed25519_verify(public: bytes, message: bytes, signature: bytes, what: str) -> None:
    """RFC 8032 verification with canonical A, R and S < L; refuses a small-order key."""
    if len(public) != 32 or len(signature) != 64:
        raise VerificationError(f"{what}: malformed key or signature")
    if not sodium.crypto_core_ed25519_is_valid_point(public):
        raise VerificationError(f"{what}: the public key is of small order or not canonical")
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except nacl.exceptions.BadSignatureError:
        raise VerificationError(f"{what}: the signature does not verify") from None
