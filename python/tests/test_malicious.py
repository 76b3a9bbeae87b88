"""Capsules a dishonest signer could make: validly signed, but breaking the format's rules. The
writer is made to write the given ZIP names in the given order; the reader must refuse each."""

import pytest
from helpers import SEED

import qcap
from qcap import writer


def crafted(tmp_path, monkeypatch, zip_names):
    it = iter(zip_names)
    orig = writer._write_entry

    def rename(o, index, item, seal):
        item.zip_name = next(it)
        orig(o, index, item, seal)

    monkeypatch.setattr(writer, "_write_entry", rename)
    out = tmp_path / "evil.qcap"
    qcap.pack([(f"payload/f{i:03d}", b"x" * i) for i in range(len(zip_names))], out, signing_key=SEED)
    monkeypatch.undo()
    return out


@pytest.mark.parametrize(
    "zip_names",
    [
        ["payload/../../etc/x"],
        ["payload/./x"],
        ["payload//x"],
        ["payload/A", "payload/a"],
        ["payload/a", "payload/a/b"],
        ["payload/a", "payload/a"],
        ["payload/b", "payload/a"],
        ["payload/x\x01"],
        ["other/x"],
        ["manifest.json"],
        ["payload/e\u0301"],
        ["payload/a\\b"],
        ["payload/" + "a" * 1020],
        ["payload/\u03a3A", "payload/\u03c3a"],
    ],
)
def test_signed_bad_names_are_refused(tmp_path, monkeypatch, zip_names):
    path = crafted(tmp_path, monkeypatch, zip_names)
    with pytest.raises(qcap.QcapError):
        with qcap.open(path) as cap:
            cap.verify()


def test_crafted_capsule_control(tmp_path, monkeypatch):
    path = crafted(tmp_path, monkeypatch, ["payload/a", "payload/b"])
    with qcap.open(path) as cap:
        assert cap.verify()["entries"] == 2


def test_open_never_writes_outside_its_folder(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from conftest import REPO

    for names in (["payload/../../escape"], ["payload/A", "payload/a"]):
        path = crafted(tmp_path, monkeypatch, names)
        out = tmp_path / "out"
        r = subprocess.run([sys.executable, "-m", "qcap", "open", str(path), "-o", str(out)], capture_output=True,
                           env={**os.environ, "PYTHONPATH": str(REPO / "python" / "src")})
        assert r.returncode in (1, 2) and b"Traceback" not in r.stderr
        assert not out.exists() and not (tmp_path.parent / "escape").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.qcap"]
        path.unlink()
