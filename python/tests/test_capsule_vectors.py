"""Whole-capsule vectors (core/test-vectors/capsules.json): the format-2 ones are reproduced byte for
byte from their inputs, key and random values, and read back."""

import json

import pytest
from conftest import pattern, vector

import qcap
from qcap import crypto


def _v2_vectors():
    out = []
    for v in vector("capsules.json")["vectors"]:
        try:
            if json.loads(v["expected"]["manifest"]).get("qcap") == 2:
                out.append(v)
        except (KeyError, ValueError):
            pass
    return out


V2 = _v2_vectors()


@pytest.mark.skipif(not V2, reason="capsules.json holds no format-2 capsules yet (set QCAP_VECTORS to another folder)")
@pytest.mark.parametrize("v", V2, ids=[v["description"][:40] for v in V2])
def test_capsule_vector(tmp_path, v):
    inputs = []
    for i in v["inputs"]:
        data = i["utf8"].encode() if "utf8" in i else pattern(i["pattern"])
        inputs.append((i["name"], data, i.get("mode", 420)))
    rnd = [bytes.fromhex(r) for r in v.get("random", [])]
    draws = iter(rnd)

    def fixed(n):
        b = next(draws)
        assert len(b) == n
        return b

    out = tmp_path / "v.qcap"
    qcap.pack(inputs, out, signing_key=v["signingSeed"], recipients=v.get("recipients", []),
              passphrase=v.get("passphrase"), hide_names=v.get("hiddenNames", v.get("hideNames", False)),
              _random=fixed)
    data = out.read_bytes()
    e = v["expected"]
    assert len(data) == e["size"]
    assert crypto.b3(data).hex() == e["blake3"]
    if "hex" in e:
        assert data.hex() == e["hex"]
    with qcap.open(out) as cap:
        assert cap.manifest_bytes.decode() == e["manifest"]
        assert cap.root.hex() == e["root"]
        cap.verify()
