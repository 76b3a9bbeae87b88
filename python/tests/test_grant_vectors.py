"""SPEC §11-§12 vectors: globs, macaroons, revocation lists and grants (with attenuation)."""

import copy

import pytest
from conftest import vector

from qcap import crypto
from qcap.encoding import age_identity_decode, jcs
from qcap.errors import AuthorizationError, FormatError, QcapError, VerificationError
from qcap.glob import Glob
from qcap.grants import (
    check_grant,
    check_revocations,
    macaroon_chain,
    parse_macaroon,
    parse_time,
    token_digest,
)


def test_globs():
    v = vector("globs.json")
    for case in v["vectors"]:
        g = Glob(case["glob"])
        assert all(g.matches(n) for n in case["matches"]), case["glob"]
        assert not any(g.matches(n) for n in case["rejects"]), case["glob"]
    for bad in v["invalid"]:
        with pytest.raises(FormatError):
            Glob(bad["glob"])
    for bad in ["", "a[b]", "a\\", "{a", "payload/***"]:
        with pytest.raises(FormatError):
            Glob(bad)
    assert Glob("payload/\\[x\\]").matches("payload/[x]")
    assert Glob("a}b,c").matches("a}b,c")


def test_macaroons():
    v = vector("macaroons.json")
    root = bytes.fromhex(v["rootKey"])
    for case in v["cases"]:
        ident = bytes.fromhex(case["identifier"])
        cav = [c.encode() for c in case["caveats"]]
        assert [s.hex() for s in macaroon_chain(root, ident, cav)] == case["signatures"]
        m = parse_macaroon(case["json"])
        assert m.identifier == ident and m.caveats == cav and m.signature.hex() == case["signatures"][-1]
    good = v["cases"][0]["json"]
    for bad in (
        dict(good, x=1),
        dict(good, i64="AA"),
        dict(good, c=[{"i": "a", "v": "x"}]),
        dict(good, c=[{"i": "a", "l": "x"}]),
        {k: val for k, val in good.items() if k != "s64"},
    ):
        with pytest.raises(FormatError):
            parse_macaroon(bad)


def test_revocations(tmp_path):
    v = vector("revocations.json")
    issuer = crypto.ed25519_public(bytes.fromhex(v["issuerSeed"]))
    bodies = [{k: x for k, x in lst.items() if k != "signature"} for lst in v["lists"]]
    assert v["signedMessage"] in [(b"qcap/v1 revocations\x00" + jcs(b)).hex() for b in bodies]
    for c in v["checks"]:
        lst, now = v["lists"][c["list"]], parse_time(c["now"])
        if c["result"] == "accepted":
            ids = check_revocations(lst, issuer, now, highest_seen=c["highestSeen"], record=False)
            assert ids == {r["id"] for r in lst["revoked"]}
        else:
            with pytest.raises(VerificationError) as e:
                check_revocations(lst, issuer, now, highest_seen=c["highestSeen"], record=False)
            assert str(e.value) == c["result"]
    with pytest.raises(VerificationError, match="another key"):
        check_revocations(v["lists"][0], bytes(32), parse_time("2030-01-02T00:00:00Z"), record=False, highest_seen=None)
    forged = dict(v["lists"][0], sequence=9)
    with pytest.raises(VerificationError, match="signature"):
        check_revocations(forged, issuer, parse_time("2030-01-02T00:00:00Z"), highest_seen=None, record=False)
    with pytest.raises(FormatError, match="unsigned"):
        check_revocations({k: x for k, x in v["lists"][0].items() if k != "signature"}, issuer, parse_time("2030-01-02T00:00:00Z"))
    # The state file remembers the highest sequence: a rolled-back list is refused afterwards.
    state = str(tmp_path / "seen.json")
    now = parse_time("2030-01-02T12:00:00Z")
    check_revocations(v["lists"][1], issuer, now, state_path=state)
    with pytest.raises(VerificationError, match="rolled back"):
        check_revocations(v["lists"][0], issuer, now, state_path=state)
    (tmp_path / "seen.json").write_text("{}")
    with pytest.raises(FormatError, match="corrupt"):
        check_revocations(v["lists"][1], issuer, now, state_path=state)


def _ctx(v, **kw):
    entries = {e["entry"] for e in v["entries"]} | {"payload/secret/x"}
    base = dict(
        issuer=crypto.ed25519_public(bytes.fromhex(v["issuerSeed"])),
        root=bytes.fromhex(v["capsuleRoot"]),
        capsule_id=bytes.fromhex(v["capsuleId"]),
        has_entry=lambda e: e in entries,
        now=parse_time(v["now"]),
    )
    base.update(kw)
    return base


def test_grant_and_attenuation():
    v = vector("grants.json")
    alice, bob = (age_identity_decode(v["identities"][n]) for n in ("alice", "bob"))
    master = bytes.fromhex(v["masterKey"])
    cid = bytes.fromhex(v["capsuleId"])
    assert crypto.hkdf(master, cid, b"qcap/v1 macaroon root").hex() == v["rootKey"]
    for e in v["entries"]:
        fk = crypto.file_key(master, cid, e["entry"])
        assert fk.hex() == e["fileKey"]
        tag = crypto.hkdf(fk, cid, b"qcap/v1 grant entry tag")
        assert tag.hex() == e["tag"]
        assert crypto.b3(tag + jcs([e["entry"], e["name"]])).hex() == e["commitment"]
    g = v["grant"]
    assert (b"qcap/v1 grant\x00" + jcs(g["file"]["issued"])).hex() == v["signedMessage"]
    assert token_digest(parse_macaroon(g["file"]["macaroon"])).hex() == g["tokenDigest"]

    ok = check_grant(g["file"], identities=[alice], master_key=master, **_ctx(v))
    assert ok.allow == "read" and ok.id == v["tokenId"]
    assert {k: e.key.hex() for k, e in ok.entries.items()} == {e["entry"]: e["fileKey"] for e in v["entries"]}

    att = v["attenuated"]
    assert token_digest(parse_macaroon(att["file"]["macaroon"])).hex() == att["tokenDigest"]
    okb = check_grant(att["file"], identities=[bob], **_ctx(v))
    assert sorted(okb.entries) == sorted(e["entry"] for e in v["entries"] if e["entry"].endswith(".md"))
    assert okb.expires == parse_time("2030-01-08T00:00:00Z")
    with pytest.raises(AuthorizationError, match="audience"):
        check_grant(att["file"], identities=[alice], **_ctx(v))


def test_grant_refusals():
    v = vector("grants.json")
    alice = age_identity_decode(v["identities"]["alice"])
    good = v["grant"]["file"]

    def refuses(grant, err=QcapError, match=None, **kw):
        with pytest.raises(err, match=match):
            check_grant(grant, identities=[alice], **_ctx(v, **kw))

    g = copy.deepcopy(good)
    g["issued"]["caveats"][3] = "expires < 2031-01-31T00:00:00Z"
    refuses(g, VerificationError, "tampered")
    refuses(good, AuthorizationError, "another capsule", root=bytes(32))
    g = copy.deepcopy(good)
    del g["macaroon"]["c"][4]
    refuses(g, AuthorizationError, "removed, changed or reordered")
    g = copy.deepcopy(good)
    g["macaroon"]["s64"] = "A" * 43
    refuses(g, AuthorizationError, "forged")
    g = copy.deepcopy(good)
    g["macaroon"]["c"].append({"i": "purpose = research"})
    refuses(g, AuthorizationError, "purpose")
    refuses(g, AuthorizationError, "do not open", purpose="research")  # appended caveat without re-wrapping
    g = copy.deepcopy(good)
    g["macaroon"]["c"].append({"i": "colour = blue"})
    refuses(g, AuthorizationError, "unknown caveat")
    refuses(good, AuthorizationError, "expired", now=parse_time("2030-01-31T00:00:00Z"))
    refuses(good, AuthorizationError, "revoked", revoked={v["tokenId"]})
    refuses(good, AuthorizationError, "not a distinct payload entry", has_entry=lambda e: False)
    refuses(dict(good, extra=1), FormatError)
    g = copy.deepcopy(good)
    g["keys"]["ciphertext"] = g["keys"]["ciphertext"][:-2] + "00"
    refuses(g, AuthorizationError, "do not open")
    with pytest.raises(QcapError):
        check_grant(good, identities=[age_identity_decode(v["identities"]["bob"])], **_ctx(v))
