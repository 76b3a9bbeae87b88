"""`python -m qcap`: outputs and exit codes (0, 1, 2)."""

import os
import subprocess
import sys

from conftest import REPO
from helpers import FAST_ARGON, IDENTITY, ISSUER, OTHER_IDENTITY, RECIPIENT, pack, pattern


def qc(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "qcap", *map(str, args)],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "python" / "src"), **(env or {})},
    )


def test_verify_inspect_cat(tmp_path):
    path = pack(tmp_path)
    r = qc("verify", path, "--trust", ISSUER)
    assert r.returncode == 0 and b"5 entries verified" in r.stdout and b"pinned by --trust" in r.stdout
    r = qc("inspect", path)
    assert r.returncode == 0 and b"payload/donn\xc3\xa9es/\xc3\xa9t\xc3\xa9.bin" in r.stdout
    assert qc("cat", path, "hello.txt").stdout == b"hello\n"
    r = qc("cat", path, "payload/donn\u00e9es/\u00e9t\u00e9.bin", "--offset", "65530", "--length", "100")
    assert r.returncode == 0 and r.stdout == pattern(196613)[65530:65630]


def test_exit_codes(tmp_path):
    path = pack(tmp_path, recipients=[RECIPIENT], passphrase="pw", argon2=FAST_ARGON)
    ident, other = tmp_path / "id.txt", tmp_path / "other.txt"
    ident.write_text(IDENTITY)
    other.write_text(OTHER_IDENTITY)
    assert qc("verify", path, "-i", ident).returncode == 0
    assert qc("verify", path, "--passphrase", env={"QCAP_PASSPHRASE": "pw"}).returncode == 0
    r = qc("verify", path, "-i", other)
    assert r.returncode == 1 and b"Traceback" not in r.stderr
    assert qc("cat", path, "hello.txt").returncode == 1  # sealed, no key
    assert qc("verify", path, "--trust", "11" * 32).returncode == 1
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    (tmp_path / "bad.qcap").write_bytes(bytes(data))
    assert qc("verify", tmp_path / "bad.qcap").returncode == 1
    (tmp_path / "junk.qcap").write_bytes(b"not a capsule" * 100)
    r = qc("verify", tmp_path / "junk.qcap")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert qc("verify", tmp_path / "missing.qcap").returncode == 2
    assert qc("frobnicate").returncode == 2
    assert qc("cat", path, "nope", "-i", ident).returncode == 2


def test_open_all_or_nothing(tmp_path):
    path = pack(tmp_path, recipients=[RECIPIENT])
    ident = tmp_path / "id.txt"
    ident.write_text(IDENTITY)
    out = tmp_path / "out" / "deeper"
    r = qc("open", path, "-i", ident, "-o", out, "--meta-out", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert f"warning: signer {ISSUER} ".encode() in r.stderr and b"is not pinned" in r.stderr
    assert (out / "donn\u00e9es" / "\u00e9t\u00e9.bin").read_bytes() == pattern(196613)
    assert os.stat(out / "donn\u00e9es" / "\u00e9t\u00e9.bin").st_mode & 0o100
    assert (tmp_path / "m" / "item.json").read_bytes() == b'{"type":"Feature"}'
    (out / "hello.txt").write_bytes(b"mine")
    r = qc("open", path, "-i", ident, "-o", out)
    assert r.returncode == 2 and b"already exists" in r.stderr
    assert (out / "hello.txt").read_bytes() == b"mine"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".qcap")]
    r = qc("open", path, "-i", ident, "-o", out, "--force", "--trust", ISSUER)
    assert r.returncode == 0 and b"pinned by --trust" in r.stderr and b"warning" not in r.stderr
    assert (out / "hello.txt").read_bytes() == b"hello\n"
    assert qc("open", path, "-o", tmp_path / "nokey").returncode == 1
    assert not (tmp_path / "nokey").exists()
