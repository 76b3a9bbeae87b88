"""Issues grants as SPEC §11.4-§11.5 describe, for tests of opening capsules with grants."""

import base64
import os

from qcap import crypto
from qcap.encoding import jcs
from qcap.grants import macaroon_chain


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def issue(cap, master: bytes, seed: bytes, audience_pub: bytes, entries, *, allow="read", expires=None,
          purpose=None, path=None):
    """entries: list of (zip name, real name)."""
    cid = cap.capsule_id
    token_id = os.urandom(16).hex()
    caveats = [f"capsule = {cap.root.hex()}", f"aud = {crypto.kid(audience_pub)}", f"allow = {allow}"]
    caveats += [f"expires < {expires}"] if expires else []
    caveats += [f"purpose = {purpose}"] if purpose else []
    caveats += [f"path {path}"] if path else []
    root_key = crypto.hkdf(master, cid, b"qcap/v1 macaroon root")
    sig = macaroon_chain(root_key, token_id.encode(), [c.encode() for c in caveats])[-1]
    plain, commitments = [], []
    for entry, name in entries:
        fk = crypto.file_key(master, cid, entry)
        tag = crypto.hkdf(fk, cid, b"qcap/v1 grant entry tag")
        commitments.append(crypto.b3(tag + jcs([entry, name])).hex())
        plain.append({"entry": entry, "key": fk.hex(), "name": name} if allow == "read"
                     else {"entry": entry, "name": name, "tag": tag.hex()})
    issued = {
        "issuer": crypto.ed25519_public(seed).hex(), "capsule": cap.root.hex(), "capsuleId": cid.hex(),
        "id": token_id, "caveats": caveats, "chain": crypto.b3(b"qcap/v1 grant chain\x00" + sig).hex(),
        "entries": sorted(commitments),
    }
    parts = [len(token_id).to_bytes(4, "big"), token_id.encode()]
    for c in caveats:
        parts += [len(c.encode()).to_bytes(4, "big"), c.encode()]
    token_digest = crypto.b3(b"".join(parts) + sig)
    aad = b"qcap/v1 grant keys\x00" + crypto.b3(jcs(issued)) + token_digest
    e = os.urandom(32)
    epk = crypto.x25519_public(e)
    wrap = crypto.hkdf(crypto.x25519(e, audience_pub), epk + audience_pub, b"qcap/v1 grant x25519")
    ct = crypto.xchacha_encrypt(wrap, b"\x00" * 24, aad, jcs({"entries": plain}))
    return {
        "type": "qcap-grant", "version": 1,
        "macaroon": {"v": 2, "l": "qcap", "i": token_id, "c": [{"i": c} for c in caveats], "s64": b64(sig)},
        "issued": issued,
        "signature": crypto.ed25519_sign(seed, b"qcap/v1 grant\x00" + jcs(issued)).hex(),
        "keys": {"kid": crypto.kid(audience_pub), "epk": epk.hex(), "ciphertext": ct.hex()},
    }
