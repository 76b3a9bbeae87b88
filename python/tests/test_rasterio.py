"""A GeoTIFF inside a sealed remote capsule, read by rasterio through the fsspec file system."""

import fsspec
import pytest
from helpers import IDENTITY, RECIPIENT, SEED
from rangeserver import serve

import qcap

rasterio = pytest.importorskip("rasterio", reason="rasterio is not installed (pip install 'qcap[raster]')")
np = pytest.importorskip("numpy")
from rasterio.transform import from_origin  # noqa: E402
from rasterio.windows import Window  # noqa: E402

WIDTH, HEIGHT, TILE = 2048, 2048, 256


def _geotiff(path):
    """An uncompressed, tiled two-band GeoTIFF of 16 MiB with pseudo-random pixels."""
    data = np.random.default_rng(7).integers(0, 65535, size=(2, HEIGHT, WIDTH), dtype=np.uint16)
    profile = {
        "driver": "GTiff", "width": WIDTH, "height": HEIGHT, "count": 2, "dtype": "uint16",
        "crs": "EPSG:32633", "transform": from_origin(500000, 5000000, 10, 10),
        "tiled": True, "blockxsize": TILE, "blockysize": TILE, "compress": "none",
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return data


@pytest.fixture
def sealed_raster(tmp_path):
    data = _geotiff(tmp_path / "raster.tif")
    tif = (tmp_path / "raster.tif").read_bytes()
    other = np.random.default_rng(8).bytes(8 << 20)  # another entry the reads must not touch
    qcap.pack([("scene/raster.tif", tif), ("scene/other.bin", other)], tmp_path / "r.qcap", signing_key=SEED,
              recipients=[RECIPIENT])
    srv, handler, url = serve(tmp_path)
    yield data, len(tif), (tmp_path / "r.qcap").stat().st_size, handler, f"{url}/r.qcap"
    srv.shutdown()
    srv.server_close()


def _fetched(handler):
    return sum(n for path, _, n in handler.log if path == "/r.qcap")


def test_windowed_read_fetches_only_the_tiles_it_needs(sealed_raster):
    data, tif_size, capsule_size, handler, url = sealed_raster
    handler.log.clear()
    # An fsspec OpenFile: rasterio reads it through GDAL's virtual file system, by range.
    of = fsspec.open("qcap://payload/scene/raster.tif", fo=url, identity=IDENTITY)
    with rasterio.open(of) as ds:
        assert (ds.width, ds.height, ds.count, ds.crs.to_epsg()) == (WIDTH, HEIGHT, 2, 32633)
        assert ds.transform == from_origin(500000, 5000000, 10, 10)
        win = Window(1800, 1900, 100, 60)  # inside the last row of tiles
        got = ds.read(window=win)
    assert np.array_equal(got, data[:, 1900:1960, 1800:1900])
    fetched = _fetched(handler)
    assert 0 < fetched < tif_size // 2, f"{fetched} bytes fetched for a {tif_size}-byte GeoTIFF"


def test_file_object_reads_the_raster_and_not_the_rest(sealed_raster):
    data, tif_size, capsule_size, handler, url = sealed_raster
    handler.log.clear()
    fs = qcap.QcapFileSystem(fo=url, identity=IDENTITY)
    # A plain file object: rasterio copies the whole entry into memory, but no other entry is read.
    with fs.open("payload/scene/raster.tif") as f, rasterio.open(f) as ds:
        assert np.array_equal(ds.read(2), data[1])
    fetched = _fetched(handler)
    assert tif_size <= fetched < capsule_size - (8 << 20), f"{fetched} of {capsule_size} bytes fetched"


# GDAL's virtual file system reports the reader's exception as unraisable and fails the read.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_flipped_pixel_byte_is_refused(sealed_raster, tmp_path):
    data, tif_size, capsule_size, handler, url = sealed_raster
    raw = bytearray((tmp_path / "r.qcap").read_bytes())
    with qcap.open(tmp_path / "r.qcap", identity=IDENTITY) as cap:
        entry = cap.entry_reader("scene/raster.tif")
        at = entry.data_start + entry.stored - 1000  # in the last chunk: the last tile's pixels
    raw[at] ^= 1
    (tmp_path / "r.qcap").write_bytes(bytes(raw))
    of = fsspec.open("qcap://payload/scene/raster.tif", fo=url, identity=IDENTITY)
    with rasterio.open(of) as ds:
        assert np.array_equal(ds.read(1, window=Window(0, 0, TILE, TILE)), data[0, :TILE, :TILE])
        with pytest.raises(rasterio.errors.RasterioIOError):
            ds.read(window=Window(WIDTH - TILE, HEIGHT - TILE, TILE, TILE))
    fs = qcap.QcapFileSystem(fo=url, identity=IDENTITY)
    with pytest.raises(qcap.VerificationError, match="does not match the signed digest"):
        fs.cat_file("payload/scene/raster.tif", tif_size - 2000, tif_size)
