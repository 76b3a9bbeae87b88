"""Capsules read over HTTP range requests, and through fsspec and pandas."""

import io

import pytest
from helpers import IDENTITY, RECIPIENT, SEED, pattern
from rangeserver import serve

import qcap


@pytest.fixture
def server(tmp_path):
    srv, handler, url = serve(tmp_path)
    yield tmp_path, handler, url
    srv.shutdown()
    srv.server_close()


CSV = "".join(f"{i},{i * i},name{i}\n" for i in range(20000)).encode()


def test_http_reads_one_entry_in_few_requests(server):
    root, handler, url = server
    inputs = [(f"f{i:05d}", str(i).encode()) for i in range(2100)] + [("big.bin", pattern(300000))]
    qcap.pack(inputs, root / "c.qcap", signing_key=SEED)
    with qcap.open(f"{url}/c.qcap") as cap:
        assert handler.log and len(handler.log) == 2  # tail, header group
        handler.log.clear()
        assert cap.read("f01234") == b"1234"
        assert len(handler.log) == 2  # leaf page, entry (header and data in one request)
        handler.log.clear()
        assert cap.read("big.bin", 200000, 1000) == pattern(300000)[200000:201000]
        # its leaf page, its local header, the index group on the path, the one chunk needed
        assert len(handler.log) == 4
        assert sorted(n for _, _, n in handler.log)[:3] == [65, 231, 65536]
        assert cap.verify()["entries"] == 2101


def test_http_keeps_the_first_suffix_response(server):
    root, handler, url = server
    qcap.pack([("z.txt", b"hello"), ("big.bin", pattern(300000))], root / "c.qcap", signing_key=SEED)
    size = (root / "c.qcap").stat().st_size
    with qcap.open(f"{url}/c.qcap") as cap:
        # the last 64 KiB hold the header group: opening is one request
        assert handler.log == [("/c.qcap", size - 65536, 65536)]
        handler.log.clear()
        assert cap.read("z.txt") == b"hello"  # inside the kept suffix: no request
        assert handler.log == []
        assert cap.read("big.bin", 10, 5) == pattern(300000)[10:15]
        assert len(handler.log) == 1 and handler.log[0][1] < size - 65536
        assert cap.verify()["entries"] == 2
    small = qcap.source.HttpSource(f"{url}/c.qcap", tail=0)
    assert len(small.open_tail(370)) == 370 and handler.log[-1][2] == 370
    with pytest.raises(ValueError):
        qcap.source.HttpSource(f"{url}/c.qcap", tail=-1)


def test_http_truncated_or_missing(server):
    root, _, url = server
    qcap.pack([("a", b"1")], root / "c.qcap", signing_key=SEED)
    (root / "t.qcap").write_bytes((root / "c.qcap").read_bytes()[:-5])
    with pytest.raises(qcap.FormatError):
        qcap.open(f"{url}/t.qcap")
    with pytest.raises(qcap.FormatError):
        qcap.open(f"{url}/missing.qcap")


def test_fsspec_seekable_file_over_http(server):
    root, handler, url = server
    qcap.pack([("table.csv", CSV), ("blob", pattern(500000))], root / "s.qcap", signing_key=SEED,
              recipients=[RECIPIENT], hide_names=True)
    fs = qcap.QcapFileSystem(fo=f"{url}/s.qcap", identity=IDENTITY)
    assert sorted(fs.ls("payload", detail=False)) == ["payload/blob", "payload/table.csv"]
    assert fs.info("payload/blob")["size"] == 500000
    with fs.open("payload/blob") as f:
        f.seek(400000)
        assert f.read(10) == pattern(500000)[400000:400010]
        f.seek(3)
        assert f.read(5) == pattern(500000)[3:8]
        assert f.tell() == 8
    assert fs.cat_file("payload/table.csv", 0, 9) == CSV[:9]
    with pytest.raises(FileNotFoundError):
        fs.info("payload/nope")
    # block size and cache: the file system's defaults, or the ones given to open()
    small = qcap.QcapFileSystem(fo=f"{url}/s.qcap", identity=IDENTITY, block_size=1 << 16, cache_type="blockcache")
    with small.open("payload/blob") as f:
        assert (f.blocksize, f.cache.name) == (1 << 16, "blockcache")
        f.seek(400000)
        assert f.read(10) == pattern(500000)[400000:400010]
    with small.open("payload/blob", block_size=1 << 17, cache_type="readahead") as f:
        assert (f.blocksize, f.cache.name) == (1 << 17, "readahead")
    with pytest.raises(qcap.FormatError):
        qcap.QcapFileSystem(fo=f"{url}/s.qcap", identity=IDENTITY, block_size=0)


def test_pandas_csv_and_parquet_from_sealed_remote_capsule(server):
    pd = pytest.importorskip("pandas")
    root, handler, url = server
    df = pd.DataFrame({"a": range(1000), "b": [f"x{i}" for i in range(1000)]})
    buf = io.BytesIO()
    try:
        df.to_parquet(buf)
        parquet = buf.getvalue()
    except ImportError:
        parquet = None
    inputs = [("table.csv", CSV)] + ([("table.parquet", parquet)] if parquet else [])
    qcap.pack(inputs, root / "p.qcap", signing_key=SEED, recipients=[RECIPIENT])
    opts = {"fo": f"{url}/p.qcap", "identity": IDENTITY}
    got = pd.read_csv("qcap://payload/table.csv", header=None, storage_options=opts)
    assert len(got) == 20000 and got.iloc[123, 1] == 123 * 123
    if parquet:
        back = pd.read_parquet("qcap://payload/table.parquet", storage_options=opts)
        assert back.equals(df)


def test_fsspec_target_protocol_other_file_systems(tmp_path):
    """A capsule reached through another fsspec file system (here memory://, as S3 would be)."""
    import fsspec

    qcap.pack([("table.csv", CSV)], tmp_path / "m.qcap", signing_key=SEED, recipients=[RECIPIENT])
    mem = fsspec.filesystem("memory")
    mem.pipe("/caps/m.qcap", (tmp_path / "m.qcap").read_bytes())
    fs = qcap.QcapFileSystem(fo="/caps/m.qcap", target_protocol="memory", identity=IDENTITY)
    with fs.open("payload/table.csv") as f:
        f.seek(100)
        assert f.read(20) == CSV[100:120]
    data = bytearray((tmp_path / "m.qcap").read_bytes())
    data[200] ^= 1
    mem.pipe("/caps/bad.qcap", bytes(data))
    fs2 = qcap.QcapFileSystem(fo="/caps/bad.qcap", target_protocol="memory", identity=IDENTITY, skip_instance_cache=True)
    with pytest.raises(qcap.VerificationError):
        fs2.cat_file("payload/table.csv")
