"""Capability grants (SPEC §11): macaroons, caveats, revocation lists and the checks of §11.7."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import crypto, keys
from .encoding import is_hex, jcs, strict_json
from .errors import AuthorizationError, FormatError, VerificationError
from .glob import Glob

MAX_CAVEATS = 64
GRANT_LIMIT = 48 << 20
LIST_LIMIT = 16 << 20


# --- times --------------------------------------------------------------------------------

_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def parse_time(s: Any, what: str = "time") -> datetime:
    m = _TIME.fullmatch(s) if isinstance(s, str) else None
    if not m:
        raise FormatError(f"malformed {what}: {s!r}")
    y, mo, d, h, mi, sec = (int(x) for x in m.groups()[:6])
    frac = m.group(7)
    ms = int((frac[1:] + "000")[:3]) if frac else 0
    try:
        t = datetime(y, mo, d, h, mi, sec, ms * 1000, tzinfo=timezone.utc)
    except ValueError:
        raise FormatError(f"malformed {what}: {s!r}") from None
    off = m.group(8)
    if off != "Z":
        oh, om = int(off[1:3]), int(off[4:6])
        if oh > 23 or om > 59:
            raise FormatError(f"malformed {what}: {s!r}")
        delta = timedelta(hours=oh, minutes=om)
        t = t - delta if off[0] == "+" else t + delta
    return t


def now_utc() -> datetime:
    env = os.environ.get("QCAP_NOW")
    return parse_time(env, "QCAP_NOW") if env else datetime.now(timezone.utc)


def fmt_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- macaroons ----------------------------------------------------------------------------


def _b64url(s: Any, what: str) -> bytes:
    if not isinstance(s, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", s) or len(s) % 4 == 1:
        raise FormatError(f"malformed macaroon: {what} is not unpadded base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _field(obj: dict[str, Any], key: str, what: str) -> bytes:
    if key in obj and key + "64" in obj:
        raise FormatError(f"malformed macaroon: {what} given both ways")
    if key in obj:
        if not isinstance(obj[key], str):
            raise FormatError(f"malformed macaroon: {what}")
        return obj[key].encode("utf-8")
    if key + "64" in obj:
        return _b64url(obj[key + "64"], what)
    raise FormatError(f"malformed macaroon: missing {what}")


@dataclass
class Macaroon:
    identifier: bytes
    caveats: list[bytes]
    signature: bytes


def parse_macaroon(obj: Any) -> Macaroon:
    if not isinstance(obj, dict) or not set(obj) <= {"v", "l", "l64", "i", "i64", "c", "s64"} or obj.get("v") != 2:
        raise FormatError("malformed macaroon: unknown members or not version 2")
    ident = _field(obj, "i", "identifier")
    if "s64" not in obj:
        raise FormatError("malformed macaroon: missing signature")
    sig = _b64url(obj["s64"], "signature")
    if len(sig) != 32:
        raise FormatError("malformed macaroon: signature of the wrong length")
    cav = obj.get("c", [])
    if not isinstance(cav, list):
        raise FormatError("malformed macaroon: caveats")
    if len(cav) > MAX_CAVEATS:
        raise FormatError(f"malformed grant: more than {MAX_CAVEATS} caveats")
    caveats = []
    for c in cav:
        if not isinstance(c, dict) or set(c) & {"v", "v64", "l", "l64"}:
            raise FormatError("malformed macaroon: third-party caveats are not supported")
        if not set(c) <= {"i", "i64"}:
            raise FormatError("malformed macaroon: unknown caveat members")
        caveats.append(_field(c, "i", "caveat"))
    return Macaroon(ident, caveats, sig)


def macaroon_chain(root_key: bytes, identifier: bytes, caveats: list[bytes]) -> list[bytes]:
    derived = hmac.new(b"macaroons-key-generator", root_key, hashlib.sha256).digest()
    sigs = [hmac.new(derived, identifier, hashlib.sha256).digest()]
    for c in caveats:
        sigs.append(hmac.new(sigs[-1], c, hashlib.sha256).digest())
    return sigs


def token_digest(m: Macaroon) -> bytes:
    parts = [len(m.identifier).to_bytes(4, "big"), m.identifier]
    for c in m.caveats:
        parts += [len(c).to_bytes(4, "big"), c]
    return crypto.b3(b"".join(parts) + m.signature)


# --- caveats ------------------------------------------------------------------------------


@dataclass
class Caveats:
    capsules: list[str] = field(default_factory=list)
    auds: list[str] = field(default_factory=list)
    allows: list[str] = field(default_factory=list)
    expires: list[datetime] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)
    paths: list[Glob] = field(default_factory=list)


def parse_caveats(raw: list[bytes]) -> Caveats:
    out = Caveats()
    for b in raw:
        try:
            c = b.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthorizationError("unknown caveat (not UTF-8)") from None
        if c.startswith("capsule = "):
            v = c[len("capsule = ") :]
            if not is_hex(v, 32):
                raise AuthorizationError(f"malformed caveat {c!r}")
            out.capsules.append(v)
        elif c.startswith("aud = "):
            v = c[len("aud = ") :]
            if not is_hex(v, 8):
                raise AuthorizationError(f"malformed caveat {c!r}")
            out.auds.append(v)
        elif c.startswith("allow = "):
            v = c[len("allow = ") :]
            if v not in ("read", "inspect"):
                raise AuthorizationError(f"malformed caveat {c!r}")
            out.allows.append(v)
        elif c.startswith("expires < "):
            try:
                out.expires.append(parse_time(c[len("expires < ") :]))
            except FormatError:
                raise AuthorizationError(f"malformed caveat {c!r}") from None
        elif c.startswith("purpose = "):
            v = c[len("purpose = ") :]
            if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", v):
                raise AuthorizationError(f"malformed caveat {c!r}")
            out.purposes.append(v)
        elif c.startswith("path "):
            try:
                out.paths.append(Glob(c[len("path ") :]))
            except FormatError:
                raise AuthorizationError(f"malformed caveat {c!r}") from None
        else:
            raise AuthorizationError(f"unknown caveat {c!r}")
    return out


# --- revocation lists ---------------------------------------------------------------------


def _state_dir() -> str:
    if os.environ.get("QCAP_STATE_DIR"):
        return os.environ["QCAP_STATE_DIR"]
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "qcap")


def _read_state(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        return {"version": 1, "issuers": {}}
    if os.path.getsize(path) > LIST_LIMIT:
        raise FormatError(f"{path}: larger than the 16 MiB limit")
    with open(path, "rb") as f:
        obj = strict_json(f.read(), path)
    if not isinstance(obj, dict) or set(obj) != {"version", "issuers"} or obj["version"] != 1 or not isinstance(obj["issuers"], dict):
        raise FormatError(f"{path}: corrupt revocation state (delete it to forget what was seen)")
    for k, v in obj["issuers"].items():
        if not is_hex(k, 32) or not isinstance(v, dict) or set(v) != {"sequence", "digest"} or not isinstance(v["sequence"], int) or not is_hex(v["digest"], 32):
            raise FormatError(f"{path}: corrupt revocation state (delete it to forget what was seen)")
    return obj


def check_revocations(lst: Any, issuer: bytes, now: datetime, state_path: str | None = None,
                      highest_seen: int | None = None, record: bool = True) -> set[str]:
    """The revoked ids of a list trusted as SPEC §12.3 says; records its sequence in the state file."""
    members = {"type", "version", "issuer", "sequence", "issuedAt", "nextUpdate", "revoked", "signature"}
    if not isinstance(lst, dict):
        raise FormatError("malformed revocation list")
    if "signature" not in lst:
        raise FormatError("the revocation list is unsigned")
    if set(lst) != members or lst["type"] != "qcap-revocations" or lst["version"] != 1:
        raise FormatError("malformed revocation list: unknown or missing members")
    seq = lst["sequence"]
    if not is_hex(lst["issuer"], 32) or not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise FormatError("malformed revocation list")
    if not isinstance(lst["revoked"], list) or not is_hex(lst["signature"], 64):
        raise FormatError("malformed revocation list")
    issued_at = parse_time(lst["issuedAt"], "issuedAt")
    next_update = parse_time(lst["nextUpdate"], "nextUpdate")
    ids = set()
    for r in lst["revoked"]:
        if not isinstance(r, dict) or set(r) != {"id", "reason", "time"} or not is_hex(r["id"], 16) or not isinstance(r["reason"], str):
            raise FormatError("malformed revocation list entry")
        parse_time(r["time"], "revocation time")
        if r["id"] in ids:
            raise FormatError("malformed revocation list: duplicate id")
        ids.add(r["id"])
    if lst["issuer"] != issuer.hex():
        raise VerificationError("the revocation list is signed by another key than the capsule's issuer")
    body = {k: v for k, v in lst.items() if k != "signature"}
    try:
        crypto.ed25519_verify(issuer, b"qcap/v1 revocations\x00" + jcs(body), bytes.fromhex(lst["signature"]), "revocation list")
    except VerificationError:
        raise VerificationError("the revocation list's signature does not verify") from None
    digest = crypto.b3(jcs(body)).hex()
    state_file = state_path or os.path.join(_state_dir(), "revocations-seen.json")
    state = _read_state(state_file) if highest_seen is None else None
    seen = state["issuers"].get(issuer.hex()) if state else ({"sequence": highest_seen, "digest": None} if highest_seen is not None else None)
    if seen is not None:
        if seq < seen["sequence"]:
            raise VerificationError(
                f"the revocation list was rolled back: sequence {seq} is lower than {seen['sequence']}, already seen")
        if seq == seen["sequence"] and seen["digest"] is not None and seen["digest"] != digest:
            raise VerificationError(f"the revocation list was changed: sequence {seq} was seen with other contents")
    if next_update <= issued_at or issued_at > now + timedelta(minutes=5):
        raise VerificationError("the revocation list's times are inconsistent")
    if now > next_update + timedelta(hours=24):
        raise VerificationError(
            f"the revocation list is stale: its next update was due at {fmt_time(next_update)} (grace 24 h)")
    if record and state is not None and (seen is None or seq > seen["sequence"]):
        state["issuers"][issuer.hex()] = {"sequence": seq, "digest": digest}
        os.makedirs(os.path.dirname(state_file), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(state_file), prefix=".revocations-")
        with os.fdopen(fd, "wb") as f:
            f.write(jcs(state))
        os.replace(tmp, state_file)
    return ids


# --- grants -------------------------------------------------------------------------------


@dataclass
class GrantEntry:
    entry: str
    name: str
    key: bytes | None


@dataclass
class CheckedGrant:
    id: str
    allow: str
    audience: str
    expires: datetime | None
    entries: dict[str, GrantEntry]


def load_grant(source: Any) -> Any:
    if isinstance(source, dict):
        return source
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and source.lstrip().startswith("{")):
        path = os.fspath(source)
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise FormatError(f"{path}: not a regular file")
        if os.path.getsize(path) > GRANT_LIMIT:
            raise FormatError(f"{path}: larger than the 48 MiB limit of grant files")
        with open(path, "rb") as f:
            source = f.read()
    if isinstance(source, str):
        source = source.encode("utf-8")
    return strict_json(source, "grant")


def _parse_grant(g: Any) -> tuple[dict[str, Any], Macaroon]:
    if not isinstance(g, dict) or set(g) != {"type", "version", "macaroon", "issued", "signature", "keys"}:
        raise FormatError("malformed grant: unknown or missing members")
    if g["type"] != "qcap-grant" or g["version"] != 1 or not is_hex(g["signature"], 64):
        raise FormatError("malformed grant")
    iss = g["issued"]
    if not isinstance(iss, dict) or set(iss) != {"issuer", "capsule", "capsuleId", "id", "caveats", "chain", "entries"}:
        raise FormatError("malformed grant: issued has unknown or missing members")
    ok = is_hex(iss["issuer"], 32) and is_hex(iss["capsule"], 32) and is_hex(iss["capsuleId"], 16)
    ok = ok and is_hex(iss["id"], 16) and is_hex(iss["chain"], 32)
    ok = ok and isinstance(iss["caveats"], list) and all(isinstance(c, str) for c in iss["caveats"])
    ok = ok and isinstance(iss["entries"], list) and all(is_hex(e, 32) for e in iss["entries"])
    k = g["keys"]
    ok = ok and isinstance(k, dict) and set(k) == {"kid", "epk", "ciphertext"} and is_hex(k["kid"], 8)
    ok = ok and is_hex(k["epk"], 32) and is_hex(k["ciphertext"]) and len(k["ciphertext"]) >= 32
    if not ok or len(iss["caveats"]) > MAX_CAVEATS:
        raise FormatError("malformed grant")
    return iss, parse_macaroon(g["macaroon"])


def check_grant(
    grant: Any,
    *,
    issuer: bytes,
    root: bytes,
    capsule_id: bytes,
    has_entry: Any,
    identities: list[bytes],
    now: datetime | None = None,
    revoked: set[str] | None = None,
    purpose: str | None = None,
    master_key: bytes | None = None,
) -> CheckedGrant:
    """SPEC §11.7 steps 1-9, refusing at the first failure. `has_entry(zip_name)` says whether the
    capsule holds that payload entry."""
    g = load_grant(grant)
    iss, mac = _parse_grant(g)
    try:
        crypto.ed25519_verify(bytes.fromhex(iss["issuer"]), b"qcap/v1 grant\x00" + jcs(iss), bytes.fromhex(g["signature"]), "grant")
    except VerificationError:
        raise VerificationError("the grant was tampered with (its signature does not verify)") from None
    if iss["issuer"] != issuer.hex() or iss["capsule"] != root.hex() or iss["capsuleId"] != capsule_id.hex():
        raise AuthorizationError("the grant is for another capsule")
    n_issued = len(iss["caveats"])
    if mac.identifier != iss["id"].encode() or [c for c in mac.caveats[:n_issued]] != [c.encode("utf-8") for c in iss["caveats"]]:
        raise AuthorizationError("the grant's caveats were removed, changed or reordered")
    own = parse_caveats(mac.caveats[:n_issued])
    if len(own.capsules) != 1 or len(own.allows) != 1 or not own.auds:
        raise AuthorizationError("the grant's issuer caveats need one capsule, one allow and an aud")
    cav = parse_caveats(mac.caveats)
    if any(c != root.hex() for c in cav.capsules):
        raise AuthorizationError("the grant is for another capsule")
    if len(mac.caveats) == n_issued:
        if not hmac.compare_digest(crypto.b3(b"qcap/v1 grant chain\x00" + mac.signature).hex(), iss["chain"]):
            raise AuthorizationError("the macaroon signature is forged")
    if master_key is not None:
        root_key = crypto.hkdf(master_key, capsule_id, b"qcap/v1 macaroon root")
        if not hmac.compare_digest(macaroon_chain(root_key, mac.identifier, mac.caveats)[-1], mac.signature):
            raise AuthorizationError("the macaroon signature is forged")
    now = now or now_utc()
    expiry = min(cav.expires) if cav.expires else None
    if expiry is not None and not now < expiry:
        raise AuthorizationError(f"the grant expired at {fmt_time(expiry)}")
    if callable(revoked):
        revoked = revoked()  # the list is checked here, at step 7, not before
    if revoked is not None and iss["id"] in revoked:
        raise AuthorizationError(f"the grant {iss['id']} is revoked")
    if cav.purposes:
        if len(set(cav.purposes)) > 1:
            raise AuthorizationError("the grant names two different purposes")
        if purpose != cav.purposes[0]:
            raise AuthorizationError(f"the grant is for the purpose {cav.purposes[0]!r}: declare it")
    audience = cav.auds[-1]
    keys_obj = g["keys"]
    ident = next((i for i in identities if crypto.kid(crypto.x25519_public(i)) == audience), None)
    if ident is None:
        raise AuthorizationError(f"the grant is for the audience {audience}, not for this identity")
    if keys_obj["kid"] != audience:
        raise AuthorizationError(f"the grant's keys are for {keys_obj['kid']}, not its audience {audience}")
    epk = bytes.fromhex(keys_obj["epk"])
    aud_pub = crypto.x25519_public(ident)
    shared = crypto.x25519(ident, epk)
    if shared is None:
        raise AuthorizationError("the grant's ephemeral key is of small order")
    wrap = crypto.hkdf(shared, epk + aud_pub, b"qcap/v1 grant x25519")
    aad = b"qcap/v1 grant keys\x00" + crypto.b3(jcs(iss)) + token_digest(mac)
    plain = crypto.xchacha_decrypt(wrap, b"\x00" * 24, aad, bytes.fromhex(keys_obj["ciphertext"]))
    if plain is None:
        raise AuthorizationError("the grant's keys do not open (the token or grant was changed)")
    allow = "inspect" if "inspect" in cav.allows else "read"
    body = strict_json(plain, "grant keys")
    if not isinstance(body, dict) or set(body) != {"entries"} or not isinstance(body["entries"], list):
        raise FormatError("malformed grant keys")
    commitments = set(iss["entries"])
    out: dict[str, GrantEntry] = {}
    for e in body["entries"]:
        want = {"entry", "key", "name"} if allow == "read" else {"entry", "name", "tag"}
        if not isinstance(e, dict) or set(e) != want or not isinstance(e["entry"], str) or not isinstance(e["name"], str):
            raise AuthorizationError("the grant's keys do not match its allow caveat")
        entry, name = e["entry"], e["name"]
        if not entry.startswith("payload/") or entry in out or not has_entry(entry):
            raise AuthorizationError(f"the grant names {entry!r}, which is not a distinct payload entry of the capsule")
        if allow == "read":
            if not is_hex(e["key"], 32):
                raise FormatError("malformed grant key")
            key = bytes.fromhex(e["key"])
            tag = crypto.hkdf(key, capsule_id, b"qcap/v1 grant entry tag")
        else:
            if not is_hex(e["tag"], 32):
                raise FormatError("malformed grant tag")
            key = None
            tag = bytes.fromhex(e["tag"])
        if crypto.b3(tag + jcs([entry, name])).hex() not in commitments:
            raise AuthorizationError(f"the grant's key for {name!r} is not one the issuer signed")
        if not all(p.matches(name) for p in cav.paths):
            raise AuthorizationError(f"{name!r} is outside the grant's paths")
        out[entry] = GrantEntry(entry, name, key)
    return CheckedGrant(iss["id"], allow, audience, expiry, out)


def identities_from(identity: Any, key_passphrase: str | None = None) -> list[bytes]:
    items = identity if isinstance(identity, (list, tuple)) else ([identity] if identity is not None else [])
    out: list[bytes] = []
    for i in items:
        out += keys.identity_secret(i, key_passphrase)
    return out


__all__ = ["check_grant", "check_revocations", "parse_macaroon", "macaroon_chain", "parse_caveats", "CheckedGrant"]
