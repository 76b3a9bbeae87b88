"""Version 1 capsules stay readable (SPEC §14): the vectors kept whole (capsules-v1.json, or the
full-hex ones of capsules.json while it still holds version 1) open, verify and read."""

import json

import pytest
from conftest import VECTORS, pattern, vector

import qcap
from qcap.encoding import age_identity_encode


def _v1():
    doc = vector("capsules-v1.json") if (VECTORS / "capsules-v1.json").exists() else vector("capsules.json")
    out = [v for v in doc["vectors"] if "hex" in v["expected"] and json.loads(v["expected"]["manifest"])["qcap"] == 1]
    return doc.get("identity"), out


IDENT, V1 = _v1()


@pytest.mark.skipif(not V1, reason="no whole version 1 capsules among the vectors")
@pytest.mark.parametrize("v", V1, ids=[v["description"][:30] for v in V1])
def test_v1_vector_reads(tmp_path, v):
    path = tmp_path / "v1.qcap"
    data = bytes.fromhex(v["expected"]["hex"])
    path.write_bytes(data)
    identity = age_identity_encode(bytes.fromhex(IDENT)) if v["recipients"] and IDENT else None
    with qcap.open(path, identity=identity) as cap:
        assert cap.version == 1 and cap.root.hex() == v["expected"]["root"]
        for i in v["inputs"]:
            want = i["utf8"].encode() if "utf8" in i else pattern(i["pattern"])
            assert cap.read(i["name"]) == want
            assert cap.read(i["name"], 3, 70000) == want[3:70003]
        assert cap.verify()["entries"] == len(v["inputs"])
    for pos in (10, len(data) // 2, len(data) - 150, len(data) - 30):
        bad = bytearray(data)
        bad[pos] ^= 1
        path.write_bytes(bytes(bad))
        with pytest.raises(qcap.QcapError):
            with qcap.open(path, identity=identity) as cap:
                cap.verify()
                for i in v["inputs"]:
                    cap.read(i["name"])


def test_unknown_version_is_named(tmp_path):
    from helpers import SEED

    from qcap import crypto, zipfmt
    from qcap.encoding import jcs

    # A signed manifest saying version 3, in the version 1 container layout.
    m = jcs({"qcap": 3, "issuer": crypto.ed25519_public(bytes.fromhex(SEED)).hex()})
    sig = crypto.ed25519_sign(bytes.fromhex(SEED), m)
    import zlib

    body = b""
    cd = b""
    for name, data in ((b"manifest.json", m), (b"signatures/manifest.ed25519", sig)):
        cd += zipfmt.central_header(name, zlib.crc32(data), len(data), len(body), 420)
        body += zipfmt.local_header(name) + data + zipfmt.data_descriptor(zlib.crc32(data), len(data))
    path = tmp_path / "v3.qcap"
    path.write_bytes(body + cd + zipfmt.end_records(2, len(cd), len(body)))
    with pytest.raises(qcap.FormatError, match="format version 3 is not supported"):
        qcap.open(path)
