"""A netCDF-4 file inside a sealed remote capsule, read by xarray (h5netcdf) through the fsspec file system."""

import pytest
from helpers import IDENTITY, RECIPIENT, SEED
from rangeserver import serve

import qcap

xr = pytest.importorskip("xarray", reason="xarray is not installed (pip install 'qcap[netcdf]')")
pytest.importorskip("h5netcdf", reason="h5netcdf is not installed (pip install 'qcap[netcdf]')")
np = pytest.importorskip("numpy")

SIDE, CHUNK = 2048, 256


@pytest.fixture
def sealed_netcdf(tmp_path):
    rng = np.random.default_rng(11)
    ds = xr.Dataset(
        {"t": (("y", "x"), rng.standard_normal((SIDE, SIDE), dtype=np.float32))},
        coords={"y": np.arange(SIDE), "x": np.arange(SIDE) * 10.0},
        attrs={"title": "sample"},
    )
    ds.to_netcdf(tmp_path / "grid.nc", engine="h5netcdf", encoding={"t": {"chunksizes": (CHUNK, CHUNK)}})
    nc = (tmp_path / "grid.nc").read_bytes()
    qcap.pack([("grid.nc", nc), ("other.bin", rng.bytes(8 << 20))], tmp_path / "n.qcap", signing_key=SEED,
              recipients=[RECIPIENT])
    srv, handler, url = serve(tmp_path)
    yield ds, len(nc), handler, f"{url}/n.qcap"
    srv.shutdown()
    srv.server_close()


def test_xarray_reads_a_slice_fetching_part_of_the_file(sealed_netcdf):
    ds, nc_size, handler, url = sealed_netcdf
    handler.log.clear()
    # HDF5 seeks back and forth between its metadata and the chunks: smaller blocks, kept in an LRU.
    fs = qcap.QcapFileSystem(fo=url, identity=IDENTITY, block_size=1 << 20, cache_type="blockcache")
    with fs.open("payload/grid.nc") as f, xr.open_dataset(f, engine="h5netcdf") as remote:
        assert remote.attrs["title"] == "sample"
        got = remote["t"][1900:1960, 1800:1900].values
        assert np.array_equal(remote["x"].values, ds["x"].values)
    assert np.array_equal(got, ds["t"].values[1900:1960, 1800:1900])
    fetched = sum(n for path, _, n in handler.log if path == "/n.qcap")
    assert 0 < fetched < nc_size // 2, f"{fetched} bytes fetched for a {nc_size}-byte netCDF file"
