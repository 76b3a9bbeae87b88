"""Opening a v2 capsule with a grant: only granted entries decrypt, bad grants are refused."""

import json

import pytest
from grantmaker import issue
from helpers import IDENTITY, OTHER_IDENTITY, RECIPIENT, SEED, pack

import qcap
from qcap import crypto
from qcap.encoding import age_identity_decode
from qcap.grants import parse_time

NOW = parse_time("2030-01-01T00:00:00Z")
BOB = age_identity_decode(OTHER_IDENTITY)
BOB_PUB = crypto.x25519_public(BOB)


@pytest.mark.parametrize("hidden", [False, True])
def test_grant_reads_only_its_entries(tmp_path, hidden):
    path = pack(tmp_path, recipients=[RECIPIENT], hide_names=hidden)
    with qcap.open(path, identity=IDENTITY) as owner:
        master = owner._master
        entries = [(e.zip_name, e.name) for e in owner.entries() if e.encrypted and e.name.endswith(".txt")]
        g = issue(owner, master, bytes.fromhex(SEED), BOB_PUB, entries, expires="2030-02-01T00:00:00Z",
                  path="payload/*.txt")
    gfile = tmp_path / "cap.json"
    gfile.write_text(json.dumps(g))
    with qcap.open(path, identity=OTHER_IDENTITY, grant=gfile, now=NOW) as cap:
        assert not cap.unlocked and cap.grant.allow == "read"
        assert cap.read("hello.txt") == b"hello\n"
        with pytest.raises(qcap.AuthorizationError):
            cap.read("exact" if not hidden else "empty")
        assert cap.read("meta/item.json") == b'{"type":"Feature"}'
    with pytest.raises(qcap.AuthorizationError, match="expired"):
        qcap.open(path, identity=OTHER_IDENTITY, grant=gfile, now=parse_time("2030-03-01T00:00:00Z"))
    with pytest.raises(qcap.AuthorizationError, match="audience"):
        qcap.open(path, identity=IDENTITY, grant=gfile, now=NOW)
    g["issued"]["caveats"][2] = "allow = inspect"
    with pytest.raises(qcap.VerificationError, match="tampered"):
        qcap.open(path, identity=OTHER_IDENTITY, grant=g, now=NOW)


def test_grant_for_another_capsule_and_paths(tmp_path):
    path = pack(tmp_path, recipients=[RECIPIENT])
    other = pack(tmp_path, "other.qcap", recipients=[RECIPIENT])
    with qcap.open(path, identity=IDENTITY) as owner:
        g = issue(owner, owner._master, bytes.fromhex(SEED), BOB_PUB, [("payload/exact", "payload/exact")],
                  path="payload/*.txt")
        g2 = issue(owner, owner._master, bytes.fromhex(SEED), BOB_PUB, [("payload/exact", "payload/exact")],
                   purpose="research")
    with pytest.raises(qcap.AuthorizationError, match="outside the grant's paths"):
        qcap.open(path, identity=OTHER_IDENTITY, grant=g, now=NOW)
    with pytest.raises(qcap.AuthorizationError, match="another capsule"):
        qcap.open(other, identity=OTHER_IDENTITY, grant=g2, now=NOW, purpose="research")
    with pytest.raises(qcap.AuthorizationError, match="purpose"):
        qcap.open(path, identity=OTHER_IDENTITY, grant=g2, now=NOW)
    with qcap.open(path, identity=OTHER_IDENTITY, grant=g2, now=NOW, purpose="research") as cap:
        assert len(cap.read("exact")) == 65536


def test_revoked_grant_and_cli(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from conftest import REPO

    from qcap.encoding import jcs

    monkeypatch.setenv("QCAP_STATE_DIR", str(tmp_path / "state"))
    path = pack(tmp_path, recipients=[RECIPIENT])
    with qcap.open(path, identity=IDENTITY) as owner:
        g = issue(owner, owner._master, bytes.fromhex(SEED), BOB_PUB, [("payload/hello.txt", "payload/hello.txt")])
    body = {"type": "qcap-revocations", "version": 1, "issuer": crypto.ed25519_public(bytes.fromhex(SEED)).hex(),
            "sequence": 1, "issuedAt": "2029-12-31T00:00:00Z", "nextUpdate": "2030-01-07T00:00:00Z",
            "revoked": [{"id": g["issued"]["id"], "reason": "key lost", "time": "2029-12-31T00:00:00Z"}]}
    lst = dict(body, signature=crypto.ed25519_sign(bytes.fromhex(SEED), b"qcap/v1 revocations\x00" + jcs(body)).hex())
    with pytest.raises(qcap.AuthorizationError, match="revoked"):
        qcap.open(path, identity=OTHER_IDENTITY, grant=g, now=NOW, revocations=lst)
    (tmp_path / "cap.json").write_text(json.dumps(g))
    (tmp_path / "bob.txt").write_text(OTHER_IDENTITY)
    (tmp_path / "list.json").write_text(json.dumps(lst))
    env = {**os.environ, "PYTHONPATH": str(REPO / "python" / "src"), "QCAP_NOW": "2030-01-01T00:00:00Z"}
    base = [sys.executable, "-m", "qcap", "cat", str(path), "hello.txt", "-i", str(tmp_path / "bob.txt"),
            "--cap", str(tmp_path / "cap.json")]
    r = subprocess.run(base, capture_output=True, env=env)
    assert r.returncode == 0 and r.stdout == b"hello\n", r.stderr
    r = subprocess.run(base + ["--revocations", str(tmp_path / "list.json")], capture_output=True, env=env)
    assert r.returncode == 1 and b"revoked" in r.stderr
    (tmp_path / "cap.json").write_text("{not json")
    assert subprocess.run(base, capture_output=True, env=env).returncode == 2
