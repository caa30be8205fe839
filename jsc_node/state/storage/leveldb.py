"""LevelDB (plyvel) under py-evm's database API, and the write overlay a block executes in.

A block never writes to LevelDB while it executes: every write py-evm makes (state trie nodes,
transaction and receipt tries, header, canonical index, tx lookups) lands in an ``Overlay`` that
reads through to LevelDB. Committing the block flushes the overlay in one LevelDB write batch, so
a crash leaves either the whole block or nothing (ARCHITECTURE.md: one write batch per block).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import plyvel
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseAtomicDB, BaseDB

from jsc_node.errors import DataDirLockedError, StorageError

_DELETED = object()


class LevelDB(BaseAtomicDB):  # type: ignore[misc]
    """py-evm's AtomicDatabaseAPI over a plyvel database. Only the execution process opens it."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self._db = plyvel.DB(str(path), create_if_missing=True, compression="snappy")
        except plyvel.IOError as exc:
            if "lock" in str(exc).lower():
                raise DataDirLockedError(
                    f"database {path} is in use by another jsc-node process (LevelDB lock held)"
                ) from exc
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        except plyvel.Error as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        self.path = path

    def close(self) -> None:
        self._db.close()

    @property
    def closed(self) -> bool:
        return bool(self._db.closed)

    def __getitem__(self, key: bytes) -> bytes:
        value = self._db.get(key)
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        value = self._db.get(key)
        return default if value is None else bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value)

    def __delitem__(self, key: bytes) -> None:
        if self._db.get(key) is None:
            raise KeyError(key)
        self._db.delete(key)

    def _exists(self, key: bytes) -> bool:
        return self._db.get(key) is not None

    @contextmanager
    def atomic_batch(self) -> Iterator[Any]:
        with AtomicDB(self).atomic_batch() as batch:
            yield batch

    def write(self, puts: dict[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        """Write everything in one LevelDB batch, synced to disk before returning."""
        with self._db.write_batch(transaction=True, sync=True) as batch:
            for key in deletes:
                batch.delete(key)
            for key, value in puts.items():
                batch.put(key, value)

    def iterate_prefix(self, prefix: bytes, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._db.iterator(prefix=prefix, reverse=reverse):
            yield bytes(key), bytes(value)


class Overlay(BaseDB):  # type: ignore[misc]
    """Pending writes over a base database; reads fall through. Not itself atomic: wrap it
    in ``atomic()`` to hand to py-evm."""

    def __init__(self, base: LevelDB | Overlay) -> None:
        self.base = base
        self.writes: dict[bytes, Any] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self.writes.get(key)
        if value is None:
            return self.base[key]
        if value is _DELETED:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self.writes[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        value = self.writes.get(key)
        if value is None:
            return key in self.base
        return value is not _DELETED

    def atomic(self) -> AtomicDB:
        return AtomicDB(self)

    def flush(self) -> None:
        """Move every pending write into the base: one LevelDB batch, or into a parent overlay."""
        puts = {k: v for k, v in self.writes.items() if v is not _DELETED}
        deletes = {k for k, v in self.writes.items() if v is _DELETED}
        if isinstance(self.base, LevelDB):
            self.base.write(puts, deletes)
        else:
            for key in deletes:
                self.base.writes[key] = _DELETED
            self.base.writes.update(puts)
        self.writes.clear()
