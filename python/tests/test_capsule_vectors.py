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
              passphrase=v.get("passphrase"), hide_names=v.get("hideNames", False),
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


def _pages():
    try:
        return vector("pages.json")
    except FileNotFoundError:
        return None


PAGES = _pages()


@pytest.mark.skipif(PAGES is None, reason="core/test-vectors/pages.json is not there yet")
@pytest.mark.parametrize("i", range(len(PAGES["vectors"]) if PAGES else 0))
def test_pages_vector(tmp_path, i):
    from qcap import pages, zipfmt

    v = PAGES["vectors"][i]
    if "files" in v:
        inputs = [(f["name"], f["utf8"].encode() if "utf8" in f else pattern(f["pattern"])) for f in v["files"]]
    else:
        inputs = [(f"payload/f{j:04d}", pattern(j)) for j in range(int(v["generated"]))]
    out = tmp_path / "p.qcap"
    qcap.pack(inputs, out, signing_key=PAGES["signingSeed"])
    data = out.read_bytes()
    e = v["expected"]
    assert pages.page_counts(e["entries"]) == e["shape"]
    for p in e["pages"]:
        name = p["name"].encode()
        assert data[p["offset"] : p["offset"] + 50 + len(name)] == zipfmt.local_header(name)
        body = data[p["offset"] + 50 + len(name) : p["offset"] + 50 + len(name) + p["length"]]
        assert crypto.b3(body).hex() == p["blake3"]
        assert body[0] == p["level"] and int.from_bytes(body[1:3], "little") == p["count"]
        if "hex" in p:
            assert body.hex() == p["hex"]
    assert len(data) == e["size"] and crypto.b3(data).hex() == e["blake3"]
    with qcap.open(out) as cap:
        assert cap.root.hex() == e["root"] and cap.manifest_bytes.decode() == e["manifest"]
        assert cap.verify()["entries"] == e["entries"]


def test_refused_name_sets(tmp_path):
    refused = vector("capsules.json").get("refused", [])
    if not refused:
        pytest.skip("capsules.json lists no refused name sets yet")
    for r in refused:
        with pytest.raises(qcap.FormatError):
            qcap.pack([(n, b"1") for n in r["names"]], tmp_path / "r.qcap", signing_key="11" * 32)
