"""Writing a stream of blocks to a file from a second thread.

Checking and decrypting the next blocks (BLAKE3 and libsodium release the GIL) then overlaps the
kernel's copy of the previous ones, which costs about half as much again when opening a capsule.
Memory stays bounded: at most DEPTH batches of about BATCH bytes wait for the writer. Batches are
lists of the blocks as they came: joining them would allocate (and fault in) fresh memory each time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from typing import BinaryIO

BATCH = 1 << 20
DEPTH = 4


def write_blocks(blocks: Iterable[bytes], out: BinaryIO) -> int:
    """Writes every block to `out` in order and returns the bytes written. A failure on either side
    (producing the blocks or writing them) is raised here, once the writer has stopped."""
    pending: queue.Queue[list[bytes] | None] = queue.Queue(DEPTH)
    failed: list[BaseException] = []

    def writer() -> None:
        while (data := pending.get()) is not None:
            if failed:
                continue  # drain, so that the producer never waits on a writer that gave up
            try:
                for block in data:
                    out.write(block)
            except BaseException as e:  # noqa: BLE001 - handed to the producer
                failed.append(e)

    thread = threading.Thread(target=writer, name="qcap-writeback", daemon=True)
    thread.start()
    batch: list[bytes] = []
    size = total = 0
    try:
        for block in blocks:
            batch.append(block)
            size += len(block)
            if size >= BATCH:
                if failed:
                    break
                pending.put(batch)
                total += size
                batch, size = [], 0
        else:
            if batch and not failed:
                pending.put(batch)
                total += size
    finally:
        pending.put(None)
        thread.join()
    if failed:
        raise failed[0]
    return total
