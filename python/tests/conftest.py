import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VECTORS = Path(os.environ.get("QCAP_VECTORS", REPO / "core" / "test-vectors"))


def vector(name: str):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def pattern(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


@pytest.fixture
def vectors():
    return vector
