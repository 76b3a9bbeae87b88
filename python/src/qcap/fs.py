"""An fsspec file system over one capsule: files are seekable and every range read is verified.

    fs = QcapFileSystem(fo="https://host/data.qcap", identity=KEY)
    pandas.read_csv(fs.open("payload/table.csv"))
    pandas.read_csv("qcap://payload/table.csv", storage_options={"fo": "https://host/data.qcap", "identity": KEY})

Files fetch `block_size` bytes (default 4 MiB) at a time through fsspec's `cache_type` cache (default
"readahead", best for reading front to back). For formats read by seeking back and forth (HDF5 and
netCDF-4, GeoTIFF), `block_size=1 << 20, cache_type="blockcache"` fetches far less.

Paths are the entries' real names (`payload/…`, `meta/…`). HTTP(S) and local capsules are read by
this package's own range reader; other protocols (`target_protocol="s3"`, …) through fsspec. The
chained form `qcap://payload/x.csv::https://host/data.qcap` works too where fsspec's HTTP file
system (aiohttp) is installed.
"""

from __future__ import annotations

from typing import Any

try:
    import fsspec
    from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
except ImportError as e:  # an optional extra
    raise ImportError('QcapFileSystem needs fsspec: pip install "qcap[fsspec]"') from e

from .errors import FormatError
from .reader import Capsule
from .reader import open as open_capsule


class _FsspecSource:
    """A capsule file reached through another fsspec file system (S3, GCS, …), read by range."""

    def __init__(self, fs: AbstractFileSystem, path: str):
        self.fs = fs
        self.path = path
        self.name = path
        self.size = int(fs.info(path)["size"])
        self.requests = 0

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or offset + length > self.size:
            raise FormatError(f"{self.name}: truncated (read past the end of the file)")
        self.requests += 1
        data = self.fs.cat_file(self.path, start=offset, end=offset + length)
        if len(data) != length:
            raise FormatError(f"{self.name}: short read")
        return data

    def close(self) -> None:
        pass


class QcapFile(AbstractBufferedFile):
    def __init__(self, fs: QcapFileSystem, path: str, size: int, **kw: Any):
        self._reader = fs.capsule.entry_reader(path)
        super().__init__(fs, path, mode="rb", size=size, cache_type=kw.pop("cache_type", None) or fs.cache_type, **kw)

    def _fetch_range(self, start: int, end: int) -> bytes:
        return b"".join(self._reader.iter_range(start, end - start))


class QcapFileSystem(AbstractFileSystem):
    """Read-only file system of the content entries of one capsule."""

    protocol = "qcap"
    root_marker = ""

    def __init__(
        self,
        capsule: Capsule | None = None,
        fo: Any = None,
        *,
        identity: Any = None,
        passphrase: str | None = None,
        trust: Any = None,
        target_protocol: str | None = None,
        target_options: dict[str, Any] | None = None,
        block_size: int = 4 << 20,
        cache_type: str = "readahead",
        **kw: Any,
    ):
        super().__init__(**kw)
        if not isinstance(block_size, int) or block_size < 1:
            raise FormatError("block_size must be a positive number of bytes")
        self.block_size = block_size
        self.cache_type = cache_type
        if capsule is None:
            if fo is None:
                raise FormatError("QcapFileSystem needs a capsule or fo (a path or URL of a capsule)")
            target: Any = fo
            if isinstance(fo, str) and target_protocol not in (None, "file", "http", "https"):
                outer = fsspec.filesystem(target_protocol, **(target_options or {}))
                target = _FsspecSource(outer, fo)
            elif isinstance(fo, str) and target_protocol in ("http", "https") and "://" not in fo:
                target = f"{target_protocol}://{fo}"
            capsule = open_capsule(target, identity=identity, passphrase=passphrase, trust=trust)
        self.capsule = capsule
        self._listing: dict[str, list[dict[str, Any]]] | None = None

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        path = path.split("::", 1)[0]
        if path.startswith("qcap://"):
            path = path[len("qcap://") :]
        return path.strip("/")

    def _dirs(self) -> dict[str, list[dict[str, Any]]]:
        if self._listing is None:
            tree: dict[str, list[dict[str, Any]]] = {"": []}
            for e in self.capsule.entries():
                name = e.name or e.zip_name
                parts = name.split("/")
                for i in range(1, len(parts)):
                    d = "/".join(parts[:i])
                    if d not in tree:
                        tree[d] = []
                        tree["/".join(parts[: i - 1])].append({"name": d, "size": 0, "type": "directory"})
                tree["/".join(parts[:-1])].append({"name": name, "size": e.size, "type": "file", "mode": e.mode})
            self._listing = tree
        return self._listing

    def ls(self, path: str, detail: bool = True, **kw: Any) -> list[Any]:
        path = self._strip_protocol(path)
        dirs = self._dirs()
        if path in dirs:
            out = dirs[path]
        else:
            out = [self.info(path)]
        return out if detail else [o["name"] for o in out]

    def info(self, path: str, **kw: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if path.startswith(("payload/", "meta/")):
            try:
                e = self.capsule.stat(path)
                return {"name": path, "size": e.size, "type": "file", "mode": e.mode}
            except FormatError:
                pass
        if path in self._dirs():
            return {"name": path, "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True,
              cache_options: Any = None, **kw: Any) -> QcapFile:
        if mode != "rb":
            raise NotImplementedError("capsules are read-only")
        path = self._strip_protocol(path)
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(path)
        return QcapFile(self, path, info["size"], block_size=block_size or self.block_size, cache_options=cache_options,
                        cache_type=kw.get("cache_type"))

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kw: Any) -> bytes:
        path = self._strip_protocol(path)
        size = self.info(path)["size"]
        s = 0 if start is None else (start if start >= 0 else max(0, size + start))
        e = size if end is None else (end if end >= 0 else max(0, size + end))
        return self.capsule.read(path, s, max(0, e - s))


fsspec.register_implementation("qcap", QcapFileSystem, clobber=True)
