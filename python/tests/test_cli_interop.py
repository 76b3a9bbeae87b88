"""The TypeScript `qcap` CLI and this package agree: byte-identical unsealed capsules, and each
opens the other's sealed capsules. Uses the CLI of this checkout (QCAP_CLI, else core/dist)."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO
from helpers import IDENTITY, RECIPIENT, SEED, pattern

import qcap

CLI = os.environ.get("QCAP_CLI", str(REPO / "core" / "dist" / "cli" / "main.js"))


def run(*args, check=True):
    r = subprocess.run(["node", CLI, *map(str, args)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "QCAP_CONFIG_DIR": os.environ.get("QCAP_TEST_CONFIG", "/nonexistent")})
    if check and r.returncode != 0:
        raise AssertionError(f"qcap {' '.join(map(str, args))}: exit {r.returncode}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    if shutil.which("node") is None or not os.path.exists(CLI):
        pytest.skip(f"the qcap CLI is not built ({CLI}): run npm run build")
    root = tmp_path_factory.mktemp("interop")
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    (data / "hello.txt").write_bytes(b"hello\n")
    (data / "sub" / "big.bin").write_bytes(pattern(196613))
    (data / "sub" / "big.bin").chmod(0o755)
    (data / "empty").write_bytes(b"")
    (data / "donn\u00e9es.csv").write_bytes(b"a,b\n1,2\n")
    (root / "stac").mkdir()
    (root / "stac" / "item.json").write_bytes(b'{"type":"Feature"}')
    (root / "seed.hex").write_text(SEED + "\n")
    (root / "id.txt").write_text(IDENTITY + "\n")
    probe = root / "probe.qcap"
    run("pack", data, "-o", probe, "--sign-key", root / "seed.hex", "--unsealed")
    with zipfile.ZipFile(probe) as z:
        version = json.loads(z.read("manifest.json"))["qcap"]
    root.joinpath("version").write_text(str(version))
    return root


def needs_v2(tree):
    version = int((tree / "version").read_text())
    if version != 2:
        pytest.skip(f"the qcap CLI of this checkout writes format version {version}; this package writes 2")


def test_unsealed_is_byte_identical(tree):
    needs_v2(tree)
    ts = tree / "ts.qcap"
    run("pack", tree / "data", "--meta", tree / "stac", "-o", ts, "--sign-key", tree / "seed.hex", "--unsealed")
    py = tree / "py.qcap"
    qcap.pack(tree / "data", py, signing_key=tree / "seed.hex", meta=tree / "stac")
    assert py.read_bytes() == ts.read_bytes()


def test_many_entries_byte_identical(tree):
    needs_v2(tree)
    many = tree / "many"
    many.mkdir()
    for i in range(1100):
        (many / f"f{i:04d}").write_bytes(str(i).encode())
    ts, py = tree / "ts-many.qcap", tree / "py-many.qcap"
    run("pack", many, "-o", ts, "--sign-key", tree / "seed.hex", "--unsealed")
    qcap.pack(many, py, signing_key=SEED)
    assert py.read_bytes() == ts.read_bytes()


def test_python_opens_cli_sealed_hidden(tree):
    # Either format version: the CLI's capsules open in Python (version 1 through the adaptor).
    ts = tree / "ts-s.qcap"
    run("pack", tree / "data", "--meta", tree / "stac", "-o", ts, "--sign-key", tree / "seed.hex",
        "-r", RECIPIENT, "--hide-names")
    with qcap.open(ts, identity=IDENTITY) as cap:
        assert cap.hidden and cap.version == int((tree / "version").read_text())
        assert cap.read("sub/big.bin") == pattern(196613)
        assert cap.read("donn\u00e9es.csv") == b"a,b\n1,2\n"
        assert cap.verify()["decrypted"]


def test_cli_opens_python_sealed_hidden(tree):
    needs_v2(tree)
    py = tree / "py-s.qcap"
    qcap.pack(tree / "data", py, signing_key=SEED, meta=tree / "stac", recipients=[RECIPIENT], hide_names=True)
    out = tree / "out"
    run("open", py, "-i", tree / "id.txt", "-o", out)
    for p in ("hello.txt", "sub/big.bin", "empty", "donn\u00e9es.csv"):
        assert (out / p).read_bytes() == (tree / "data" / p).read_bytes()
    assert os.stat(out / "sub" / "big.bin").st_mode & 0o111
    assert run("verify", py).returncode == 0
    assert run("cat", py, "payload/hello.txt", "-i", tree / "id.txt").stdout == "hello\n"


def test_both_refuse_a_flipped_byte(tree):
    needs_v2(tree)
    py = tree / "py.qcap"
    if not py.exists():
        qcap.pack(tree / "data", py, signing_key=SEED, meta=tree / "stac")
    data = bytearray(py.read_bytes())
    data[100] ^= 1
    bad = tree / "bad.qcap"
    bad.write_bytes(bytes(data))
    assert run("verify", bad, check=False).returncode == 1
    r = subprocess.run([sys.executable, "-m", "qcap", "verify", str(bad)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO / "python" / "src")})
    assert r.returncode == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("hidden", [False, True])
def test_python_honours_cli_grants(tree, hidden):
    from helpers import OTHER_IDENTITY

    from qcap import crypto
    from qcap.encoding import age_identity_decode, age_recipient_encode

    bob = age_recipient_encode(crypto.x25519_public(age_identity_decode(OTHER_IDENTITY)))
    cap_file = tree / f"ts-g{hidden}.qcap"
    run("pack", tree / "data", "-o", cap_file, "--sign-key", tree / "seed.hex", "-r", RECIPIENT, "--force",
        *(["--hide-names"] if hidden else []))
    grant = tree / f"cap{hidden}.json"
    run("grant", cap_file, "--to", bob, "-i", tree / "id.txt", "--sign-key", tree / "seed.hex",
        "--paths", "payload/sub/**", "--expires", "2099-01-01T00:00:00Z", "-o", grant, "--force")
    with qcap.open(cap_file, identity=OTHER_IDENTITY, grant=grant) as cap:
        assert cap.read("sub/big.bin", 1000, 10) == pattern(196613)[1000:1010]
        with pytest.raises(qcap.AuthorizationError):
            cap.read("hello.txt")
    data = json.loads(grant.read_text())
    data["macaroon"]["c"].pop()
    with pytest.raises(qcap.QcapError):
        qcap.open(cap_file, identity=OTHER_IDENTITY, grant=data)
