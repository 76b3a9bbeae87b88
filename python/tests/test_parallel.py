"""Chunks checked and decrypted on several threads, and files written from a second thread."""

import io
import subprocess
import sys

import pytest
from helpers import IDENTITY, RECIPIENT, SEED, pattern

import qcap
from qcap import parallel
from qcap.writeback import write_blocks

CHUNKS = 150  # three windows of up to 64 chunks


@pytest.fixture(params=[1, 3])
def workers(request, monkeypatch):
    monkeypatch.setattr(parallel, "WORKERS", request.param)
    return request.param


def test_split_covers_every_chunk_once(monkeypatch):
    monkeypatch.setattr(parallel, "WORKERS", 4)
    assert parallel.split(1) == [(0, 1)]
    assert parallel.split(15) == [(0, 15)]  # under two runs of MIN_RUN: one run
    assert parallel.split(16) == [(0, 8), (8, 16)]
    assert parallel.split(64) == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert parallel.split(63) == [(0, 16), (16, 32), (32, 48), (48, 63)]
    monkeypatch.setattr(parallel, "WORKERS", 1)
    assert parallel.split(64) == [(0, 64)]


def test_ordered_keeps_order_and_stops_at_the_first_failure():
    def fn(part):
        if part == (2, 3):
            raise ValueError("part 2")
        return part[0]

    assert list(parallel.ordered(fn, [(0, 1), (1, 2)])) == [0, 1]
    got = []
    with pytest.raises(ValueError, match="part 2"):
        for x in parallel.ordered(fn, [(0, 1), (1, 2), (2, 3), (3, 4)]):
            got.append(x)
    assert got == [0, 1]


@pytest.mark.parametrize("hidden", [False, True])
def test_sealed_reads_agree_whatever_the_workers(tmp_path, workers, hidden):
    data = pattern(CHUNKS * 65536 - 1234)
    out = tmp_path / "c.qcap"
    qcap.pack([("big.bin", data)], out, signing_key=SEED, recipients=[RECIPIENT], hide_names=hidden)
    with qcap.open(out, identity=IDENTITY) as cap:
        assert cap.read("big.bin") == data
        assert cap.read("big.bin", 70 * 65536 - 5, 40 * 65536) == data[70 * 65536 - 5 : 110 * 65536 - 5]
        assert cap.verify()["entries"] == 1


def test_a_bad_chunk_stops_the_read_after_verified_chunks_only(tmp_path, workers):
    data = pattern(CHUNKS * 65536)
    out = tmp_path / "c.qcap"
    qcap.pack([("big.bin", data)], out, signing_key=SEED, recipients=[RECIPIENT])
    with qcap.open(out, identity=IDENTITY) as cap:
        r = cap.entry_reader("big.bin")
        at = r.data_start + 100 * r.chunk + 7  # chunk 100: in the second window's second half
    raw = bytearray(out.read_bytes())
    raw[at] ^= 0x20
    out.write_bytes(bytes(raw))
    got = bytearray()
    with qcap.open(out, identity=IDENTITY) as cap, pytest.raises(qcap.VerificationError, match="chunk 100 "):
        for block in cap.iter_read("big.bin"):
            got += block
    assert len(got) <= 100 * 65536 and got == data[: len(got)]


def test_write_blocks_in_order_with_few_batches():
    blocks = [bytes([i]) * 70000 for i in range(40)]
    out = io.BytesIO()
    assert write_blocks(iter(blocks), out) == len(out.getvalue()) == 40 * 70000
    assert out.getvalue() == b"".join(blocks)
    assert write_blocks(iter([]), io.BytesIO()) == 0


def test_write_blocks_raises_the_producers_failure():
    def blocks():
        yield b"x" * (3 << 20)
        raise qcap.VerificationError("chunk 9 does not match the signed digest")

    with pytest.raises(qcap.VerificationError, match="chunk 9"):
        write_blocks(blocks(), io.BytesIO())


def test_write_blocks_raises_the_writers_failure_and_stops_reading():
    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            raise OSError(28, "No space left on device")

    produced = []

    def blocks():
        for i in range(1000):
            produced.append(i)
            yield b"y" * 65536

    with pytest.raises(OSError, match="No space left"):
        write_blocks(blocks(), Full())
    assert len(produced) < 1000  # stopped soon after the failure, not after the whole stream


def test_cli_open_writes_the_whole_payload(tmp_path):
    data = pattern(CHUNKS * 65536 + 3)
    cap = tmp_path / "c.qcap"
    qcap.pack([("d/big.bin", data), ("small", b"s")], cap, signing_key=SEED, recipients=[RECIPIENT])
    (tmp_path / "id.txt").write_text(IDENTITY)
    r = subprocess.run([sys.executable, "-m", "qcap", "open", str(cap), "-i", str(tmp_path / "id.txt"),
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "d" / "big.bin").read_bytes() == data
    assert (tmp_path / "out" / "small").read_bytes() == b"s"
