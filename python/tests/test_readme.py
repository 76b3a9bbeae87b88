"""The README's Python example runs as written (its URL, recipient and issuer filled in)."""

import os
import re

import pytest
from conftest import REPO
from helpers import IDENTITY, ISSUER, RECIPIENT, SEED
from rangeserver import serve


def test_readme_example(tmp_path, monkeypatch):
    pytest.importorskip("pandas")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Using the Python SDK") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(3000)))
    (tmp_path / "publisher.key").write_text(SEED)
    (tmp_path / "me.key").write_text(IDENTITY)
    srv, _, url = serve(tmp_path)
    try:
        code = code.replace("https://example.org/data.qcap", f"{url}/data.qcap")
        code = code.replace('"age1…"', repr(RECIPIENT)).replace("<issuer hex>", ISSUER)
        monkeypatch.chdir(tmp_path)
        scope: dict = {}
        exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the documented example itself
        assert scope["head"].startswith(b"a,b\n0,0\n") and len(scope["head"]) == 1024
        assert len(scope["df"]) == 3000
    finally:
        srv.shutdown()
        srv.server_close()
    assert os.path.exists(tmp_path / "data.qcap")
