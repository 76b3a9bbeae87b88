"""Round trips of the v2 writer and reader, sealed and unsealed, and the reader's refusals."""

import zipfile

import pytest
from helpers import FAST_ARGON, IDENTITY, ISSUER, OTHER_IDENTITY, RECIPIENT, SEED, pack, pattern, sample_inputs

import qcap
from qcap import pages


def expected(name):
    for item in sample_inputs():
        if item[0] == name:
            return item[1]
    raise KeyError(name)


def test_unsealed_round_trip_and_standard_zip(tmp_path):
    path = pack(tmp_path)
    with qcap.open(path, trust=[ISSUER]) as cap:
        names = [e.name for e in cap.entries()]
        assert names == sorted(names, key=lambda n: n.encode())
        assert names[0] == "meta/item.json" and len(names) == 5
        for item in sample_inputs():
            assert cap.read(item[0]) == item[1]
        big = expected("donn\u00e9es/\u00e9t\u00e9.bin")
        for off, ln in [(0, 1), (65535, 2), (65536, 65536), (131000, 65613), (196612, 10), (196613, 5), (5, 0)]:
            assert cap.read("donn\u00e9es/\u00e9t\u00e9.bin", off, ln) == big[off : off + ln]
        assert cap.stat("donn\u00e9es/\u00e9t\u00e9.bin").mode == 493
        report = cap.verify()
        assert report["entries"] == 5 and report["root"] == cap.manifest["root"]
        with pytest.raises(qcap.FormatError, match="no such entry"):
            cap.read("missing")
    # Any ZIP tool extracts an unsealed capsule.
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert z.read("payload/hello.txt") == b"hello\n"
        assert z.namelist()[-3:] == ["pages/root", "manifest.json", "signatures/manifest.ed25519"]


def test_deterministic_unsealed(tmp_path):
    assert pack(tmp_path, "a.qcap").read_bytes() == pack(tmp_path, "b.qcap").read_bytes()


def test_folder_input_modes(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "run.sh").write_bytes(b"#!/bin/sh\n")
    (src / "sub" / "run.sh").chmod(0o755)
    (src / "a.csv").write_bytes(b"x,y\n1,2\n")
    meta = tmp_path / "stac.json"
    meta.write_bytes(b"{}")
    out = tmp_path / "f.qcap"
    qcap.pack(src, out, signing_key=SEED, meta=meta)
    with qcap.open(out) as cap:
        got = {e.name: e.mode for e in cap.entries()}
        assert got == {"meta/stac.json": 420, "payload/a.csv": 420, "payload/sub/run.sh": 493}
        cap.verify()


@pytest.mark.parametrize("hidden", [False, True])
def test_sealed_round_trip(tmp_path, hidden):
    path = pack(tmp_path, recipients=[RECIPIENT], passphrase="pw", argon2=FAST_ARGON, hide_names=hidden)
    with qcap.open(path, identity=IDENTITY) as cap:
        assert cap.unlocked
        assert sorted(e.name for e in cap.entries()) == sorted(
            n if n.startswith("meta/") else "payload/" + n for n, *_ in sample_inputs()
        )
        for item in sample_inputs():
            assert cap.read(item[0]) == item[1]
        big = expected("donn\u00e9es/\u00e9t\u00e9.bin")
        assert cap.read("donn\u00e9es/\u00e9t\u00e9.bin", 65530, 70000) == big[65530 : 65530 + 70000]
        assert cap.verify()["decrypted"]
        if hidden:
            assert all(len(e.zip_name) == 8 + 32 for e in cap.entries() if e.encrypted)
    with qcap.open(path, passphrase="pw") as cap:
        assert cap.read("hello.txt") == b"hello\n"
    with pytest.raises(qcap.AuthorizationError):
        qcap.open(path, identity=OTHER_IDENTITY)
    with pytest.raises(qcap.AuthorizationError):
        qcap.open(path, passphrase="wrong")
    # Without keys: public metadata reads, the signature and ciphertext verify, payload is refused.
    with qcap.open(path) as cap:
        assert cap.read("meta/item.json") == b'{"type":"Feature"}'
        assert not cap.verify()["decrypted"]
        with pytest.raises(qcap.AuthorizationError):
            cap.read("hello.txt")


def test_many_entries_two_levels(tmp_path):
    inputs = [(f"f{i:05d}", str(i).encode()) for i in range(2100)]
    path = pack(tmp_path, inputs=inputs)
    with qcap.open(path) as cap:
        assert cap.levels == 2 == len(pages.page_counts(2100))
        for i in (0, 1023, 1024, 2047, 2048, 2099):
            assert cap.read(f"f{i:05d}") == str(i).encode()
        n0 = cap.source.requests
        cap._pages.clear()
        assert cap.read("f01500") == b"1500"
        assert cap.source.requests - n0 == 2  # leaf page, entry
        assert sum(1 for _ in cap.entries()) == 2100
        assert cap.verify()["entries"] == 2100
        with pytest.raises(qcap.FormatError):
            cap.read("f99999")
    with zipfile.ZipFile(path) as z:
        assert "pages/0/00000003" in z.namelist() and "pages/0/00000004" not in z.namelist()


def test_empty_capsule(tmp_path):
    path = pack(tmp_path, inputs=[])
    with qcap.open(path) as cap:
        assert list(cap.entries()) == []
        assert cap.verify()["entries"] == 0


def test_every_flipped_byte_is_refused(tmp_path):
    data = pack(tmp_path, inputs=[("a", b"abc"), ("b", pattern(70000))]).read_bytes()
    bad = tmp_path / "bad.qcap"
    # Every byte outside the bulk data, and a sample inside it.
    positions = set(range(0, 400)) | set(range(len(data) - 1500, len(data))) | set(range(0, len(data), 61))
    for i in sorted(positions):
        b = bytearray(data)
        b[i] ^= 0x01
        bad.write_bytes(bytes(b))
        with pytest.raises(qcap.QcapError):
            with qcap.open(bad) as cap:
                cap.verify()


def test_truncation_and_appended_bytes(tmp_path):
    data = pack(tmp_path).read_bytes()
    bad = tmp_path / "bad.qcap"
    for cut in (0, 1, 100, len(data) // 2, len(data) - 371, len(data) - 1):
        bad.write_bytes(data[:cut])
        with pytest.raises(qcap.QcapError):
            qcap.open(bad).verify()
    bad.write_bytes(b"\x00" + data)
    with pytest.raises(qcap.QcapError):
        qcap.open(bad).verify()


def test_untrusted_signer(tmp_path):
    path = pack(tmp_path)
    with pytest.raises(qcap.VerificationError, match="not trusted"):
        qcap.open(path, trust=["11" * 32])


@pytest.mark.parametrize(
    "names",
    [
        ["../x"],
        ["a/../b"],
        ["a\\b"],
        ["A", "a"],
        ["A", "a/b"],
        ["a", "a"],
        ["x\x01"],
        ["x\x7f"],
        ["\u00e9", "e\u0301"],
        [""],
        ["a/"],
    ],
)
def test_bad_names_refused_by_writer(tmp_path, names):
    out = tmp_path / "x.qcap"
    with pytest.raises(qcap.FormatError):
        qcap.pack([(n, b"1") for n in names], out, signing_key=SEED)
    assert list(tmp_path.iterdir()) == []


def test_no_overwrite_and_no_partial_output(tmp_path):
    path = pack(tmp_path)
    before = path.read_bytes()
    with pytest.raises(qcap.FormatError, match="exists"):
        qcap.pack([("a", b"1")], path, signing_key=SEED)
    assert path.read_bytes() == before

    def boom():
        yield ("a", b"1")
        raise RuntimeError("input failed")

    with pytest.raises(RuntimeError):
        qcap.pack(boom(), tmp_path / "y.qcap", signing_key=SEED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.qcap"]


def test_fifo_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(qcap.FormatError, match="regular"):
        qcap.open(fifo)
