"""The transaction pool's journal: one file of raw transactions, each record a 4-byte big-endian
length and the tx, appended and fsynced before the pool acknowledges the tx, so an acknowledged
tx survives kill -9. At start the pool re-admits what ``load`` reads (a torn last record, left by
a crash mid-append, is ignored) and ``rewrite`` replaces the file with the live txs through a
fsynced temporary file and a rename; the pool compacts it that way when garbage records outgrow
the live ones (``needs_compaction``). Appends may come from a worker thread (the pool's group
commit) as well as the event loop: a lock orders every write of the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from jsc_node.errors import StorageError

logger = logging.getLogger(__name__)

RECORD_HEADER = struct.Struct(">I")  # record = 4-byte big-endian length + raw tx
MAX_RECORD_BYTES = 16 * 1024 * 1024  # a longer length prefix means a corrupt tail
COMPACT_MIN_RECORDS = 1024  # rewrite when garbage records exceed max(this, live txs)


class TxJournal:
    """The journal file at ``path``; ``records`` counts the records in it, live or not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self._file: BinaryIO | None = None
        # The file is written from the event loop (append, rewrite) and from the pool's
        # group-commit worker thread (append); this lock orders those writes.
        self._lock = threading.RLock()

    @property
    def tmp_path(self) -> Path:
        return self.path.with_name(self.path.name + ".tmp")

    def load(self) -> list[bytes]:
        """The raw txs of the file, oldest first; a rewrite left half-done is discarded."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp_path)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise StorageError(f"cannot read tx journal {self.path}: {exc}") from exc
        return list(decode_records(data, self.path))

    def append(self, raws: Iterable[bytes]) -> None:
        """Append + flush + fsync; StorageError (and the file closed) if that fails."""
        records = list(raws)
        payload = encode_records(records)
        with self._lock:
            try:
                if self._file is None:
                    self._file = open(self.path, "ab")  # noqa: SIM115 (long-lived)
                self._file.write(payload)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                self.close()
                raise StorageError(f"cannot append to tx journal {self.path}: {exc}") from exc
            self.records += len(records)

    def rewrite(self, raws: Iterable[bytes]) -> None:
        """Replace the file with ``raws``: a temp file, fsync, rename, fsync of the directory."""
        live = list(raws)
        with self._lock:
            self.close()
            try:
                with open(self.tmp_path, "wb") as out:
                    out.write(encode_records(live))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(self.tmp_path, self.path)
                _fsync_dir(self.path.parent)
            except OSError as exc:
                raise StorageError(f"cannot rewrite tx journal {self.path}: {exc}") from exc
            self.records = len(live)

    def needs_compaction(self, live: int) -> bool:
        """More garbage than ``live`` txs (and at least COMPACT_MIN_RECORDS records)."""
        return self.records > max(COMPACT_MIN_RECORDS, 2 * live)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def encode_records(raws: Iterable[bytes]) -> bytes:
    return b"".join(RECORD_HEADER.pack(len(raw)) + raw for raw in raws)


def decode_records(data: bytes, path: Path) -> Iterator[bytes]:
    """The records of ``data`` (read from ``path``, named in warnings) up to a torn or corrupt one."""
    offset = 0
    size = len(data)
    while offset < size:
        if offset + RECORD_HEADER.size > size:
            logger.warning("tx journal %s: torn record header at byte %d ignored", path, offset)
            return
        (length,) = RECORD_HEADER.unpack_from(data, offset)
        start = offset + RECORD_HEADER.size
        if length == 0 or length > MAX_RECORD_BYTES:
            logger.warning(
                "tx journal %s: corrupt record length %d at byte %d; rest ignored", path, length, offset
            )
            return
        if start + length > size:
            logger.warning("tx journal %s: torn last record at byte %d ignored", path, offset)
            return
        yield data[start : start + length]
        offset = start + length


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["TxJournal", "decode_records", "encode_records"]
