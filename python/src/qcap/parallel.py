"""A shared pool of worker threads for checking and decrypting chunks.

BLAKE3 and libsodium release the GIL, so a window of chunks split into a few runs is checked and
decrypted on several cores. Small windows stay on the calling thread, where a hand-off costs more
than it saves.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MIN_RUN = 8  # chunks (512 KiB): shorter runs are not worth a hand-off
WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)))

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def split(n: int) -> list[tuple[int, int]]:
    """[a, b) runs covering 0..n: one per worker, none shorter than MIN_RUN (one run when n is small)."""
    runs = max(1, min(WORKERS, n // MIN_RUN))
    size = -(-n // runs)
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="qcap")
        return _pool


def ordered(fn: Callable[[tuple[int, int]], T], parts: list[tuple[int, int]]) -> Iterator[T]:
    """fn over every part on the pool, results in order. The first part runs on the calling thread;
    when a part fails, the parts not started yet are cancelled and the failure is raised in order."""
    pool = _executor()
    futures: list[Future[T]] = [pool.submit(fn, p) for p in parts[1:]]
    try:
        yield fn(parts[0])
        for f in futures:
            yield f.result()
    finally:
        for f in futures:
            f.cancel()
        for f in futures:
            if not f.cancelled():
                f.exception()  # wait: a window's bytes must not be used after the caller moves on
