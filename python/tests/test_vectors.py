"""The format-independent vectors of core/test-vectors/ (SPEC §9)."""

import pytest
from conftest import pattern, vector

from qcap import crypto, keys, tree
from qcap.encoding import age_identity_decode, age_recipient_decode, jcs
from qcap.errors import AuthorizationError, FormatError, VerificationError
from qcap.seal import unwrap, wrap_argon2id, wrap_x25519


def chunk_digests(data: bytes, size: int) -> list[bytes]:
    n = tree.chunk_count(len(data), size)
    return [crypto.b3(data[i * size : (i + 1) * size]) for i in range(n)]


def test_tree():
    v = vector("tree.json")
    for case in v["vectors"]:
        data = pattern(case["size"])
        digest, index = tree.build(chunk_digests(data, v["chunkSize"]))
        assert digest.hex() == case["digest"]
        assert len(index) == case["indexLength"] == tree.index_length(tree.chunk_count(len(data), 65536))
        assert (crypto.b3(index).hex() if index else None) == case["indexBlake3"]


def test_tree_verifier_checks_every_group():
    data = pattern(67108865)
    leaves = chunk_digests(data, 65536)
    digest, index = tree.build(leaves)
    fetch = lambda off, n: index[off : off + n]  # noqa: E731
    v = tree.TreeVerifier(digest, len(leaves), fetch, "e")
    assert v.leaf(0) == leaves[0] and v.leaf(1024) == leaves[1024] and v.leaf(1024) == leaves[-1]
    bad = bytearray(index)
    bad[40] ^= 1
    v2 = tree.TreeVerifier(digest, len(leaves), lambda off, n: bytes(bad[off : off + n]), "e")
    with pytest.raises(VerificationError):
        v2.leaf(0)


def test_kdf():
    v = vector("kdf.json")
    m, cid = bytes.fromhex(v["masterKey"]), bytes.fromhex(v["capsuleId"])
    assert crypto.names_key(m, cid).hex() == v["namesKey"]
    for e in v["entries"]:
        assert e["name"].encode().hex() == e["nameUtf8"]
        assert crypto.file_key(m, cid, e["name"]).hex() == e["fileKey"]
        assert crypto.stream_aad(cid, e["name"]).hex() == e["aad"]


def test_stream():
    v = vector("stream.json")
    key, aad = bytes.fromhex(v["fileKey"]), bytes.fromhex(v["aad"])
    cid = bytes.fromhex(v["capsuleId"])
    assert crypto.file_key(bytes.fromhex(v["masterKey"]), cid, v["name"]).hex() == v["fileKey"]
    assert crypto.stream_aad(cid, v["name"]) == aad
    for case in v["cases"]:
        plain = bytes.fromhex(case["plaintext"]) if "plaintext" in case else pattern(case["plaintextLength"])
        m = crypto.plain_chunks(len(plain))
        stored = b"".join(
            crypto.stream_encrypt_chunk(key, aad, i, i == m - 1, plain[i * 65536 : (i + 1) * 65536]) for i in range(m)
        )
        assert len(stored) == crypto.sealed_size(len(plain))
        if "stored" in case:
            assert stored.hex() == case["stored"]
        else:
            assert len(stored) == case["storedLength"]
            assert crypto.b3(stored).hex().startswith(case["storedBlake3"])
        tags = [stored[i * 65552 : (i + 1) * 65552][-16:] for i in range(m)]
        assert [t.hex() for t in tags] == case["tags"]
        # Each chunk decrypts alone; the last-chunk flag and the position are authenticated.
        first = stored[:65552]
        assert crypto.stream_decrypt_chunk(key, aad, 0, m == 1, first) == plain[:65536]
        assert crypto.stream_decrypt_chunk(key, aad, 0, m != 1, first) is None
        assert crypto.stream_decrypt_chunk(key, aad, 1, m == 1, first) is None


def test_recipients():
    v = vector("recipients.json")
    m, cid = bytes.fromhex(v["masterKey"]), bytes.fromhex(v["capsuleId"])
    commit = crypto.commitment(m, cid)
    for x in v["x25519"]:
        assert age_identity_decode(x["identity"]).hex() == x["identitySecret"]
        assert age_recipient_decode(x["recipient"]).hex() == x["recipientPublic"]
        eph = bytes.fromhex(x["ephemeralSecret"])
        assert crypto.x25519_public(eph).hex() == x["epk"]
        assert crypto.x25519(eph, bytes.fromhex(x["recipientPublic"])).hex() == x["shared"]
        stanza = wrap_x25519(m, cid, bytes.fromhex(x["recipientPublic"]), eph)
        assert stanza == x["stanza"]
        ident = bytes.fromhex(x["identitySecret"])
        assert unwrap([stanza], cid, commit, [ident], None) == m
        with pytest.raises(AuthorizationError):
            unwrap([stanza], cid, bytes(32), [ident], None)
    for a in v["argon2id"]:
        s = a["stanza"]
        assert a["passphrase"].encode().hex() == a["passphraseUtf8"]
        assert crypto.argon2id(a["passphrase"], bytes.fromhex(s["salt"]), s["m"], s["t"], s["p"]).hex() == a["wrapKey"]
        assert wrap_argon2id(m, cid, a["passphrase"], bytes.fromhex(s["salt"]), s["m"], s["t"], s["p"]) == s
        assert unwrap([s], cid, commit, [], a["passphrase"]) == m
        with pytest.raises(AuthorizationError):
            unwrap([s], cid, commit, [], a["passphrase"] + "x")


def test_age_keys():
    v = vector("age-keys.json")
    for k in v["keys"] + [v["ageKeygen"]]:
        secret = bytes.fromhex(k["secret"])
        assert keys.age_identity_encode(secret) == k["identity"]
        assert age_identity_decode(k["identity"]) == secret
        pub = crypto.x25519_public(secret)
        assert keys.age_recipient_encode(pub) == k["recipient"]
        assert age_recipient_decode(k["recipient"]) == pub
        if "publicKey" in k:
            assert pub.hex() == k["publicKey"]
    for bad in v["invalidRecipients"]:
        with pytest.raises(FormatError):
            age_recipient_decode(bad["input"])
    for bad in v["invalidIdentities"]:
        with pytest.raises(FormatError):
            age_identity_decode(bad["input"])


def test_ed25519():
    v = vector("ed25519.json")
    for s in v["signatures"]:
        seed, msg = bytes.fromhex(s["seed"]), bytes.fromhex(s["message"])
        assert crypto.ed25519_public(seed).hex() == s["publicKey"]
        assert crypto.ed25519_sign(seed, msg).hex() == s["signature"]
        crypto.ed25519_verify(bytes.fromhex(s["publicKey"]), msg, bytes.fromhex(s["signature"]), "t")
        with pytest.raises(VerificationError):
            crypto.ed25519_verify(bytes.fromhex(s["publicKey"]), msg + b"x", bytes.fromhex(s["signature"]), "t")
    p = v["pem"]
    seed = bytes.fromhex(p["seed"])
    assert keys.signing_seed(p["privateKeyPem"]) == seed
    assert keys.ed25519_private_pem(seed).strip() == p["privateKeyPem"].strip()
    pub = crypto.ed25519_public(seed)
    assert keys.ed25519_public_key(p["publicKeyPem"]) == pub
    assert keys.ed25519_public_pem(pub).strip() == p["publicKeyPem"].strip()
    # A small-order public key is refused whatever the signature.
    with pytest.raises(VerificationError):
        crypto.ed25519_verify(bytes(32), b"", bytes(64), "t")


def test_keyfiles():
    v = vector("keyfiles.json")
    text = jcs(v["file"]).decode()
    kf = keys.parse_key_file(text, v["passphrase"])
    assert kf.seed.hex() == v["seed"]
    assert keys.age_identity_encode(kf.identity) == v["identity"]
    assert jcs({"identity": v["identity"], "signing": {"ed25519": v["seed"]}}).decode() == v["plaintext"]
    assert keys.signing_seed(text, v["passphrase"]).hex() == v["seed"]
    with pytest.raises(AuthorizationError):
        keys.parse_key_file(text, v["passphrase"] + "!")
    edited = dict(v["file"], public=dict(v["file"]["public"], ed25519="00" * 32))
    with pytest.raises(AuthorizationError):
        keys.parse_key_file(jcs(edited).decode(), v["passphrase"])
    clear = {
        "type": "qcap-key",
        "version": 1,
        "signing": {"ed25519": v["seed"]},
        "identity": v["identity"],
        "public": v["file"]["public"],
    }
    assert keys.parse_key_file(jcs(clear).decode()).seed.hex() == v["seed"]
    with pytest.raises(FormatError):
        keys.parse_key_file(jcs(dict(clear, extra=1)).decode())
