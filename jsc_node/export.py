"""``jsc-node export``: a data dir's canonical blocks, with their commit seals, as concatenated RLP
(geth's ``export``, the format ``jsc-node import`` reads), gzipped when the file ends in ``.gz``.

``StoredChain`` reads blocks straight from a data dir's LevelDB, as the node stores them: the
canonical index gives a block's hash, the header is stored under that hash (for QBFT the BFT hash,
which leaves out seals and round, state/evm/headers.py), the body is the leaves of the
transaction (and withdrawal) trie under the header's roots. Every trie node read is checked
against its key (the keccak of its bytes), and so is the header against its hash, so a stored
value that was changed is a ``StoredDataError`` naming it, never a different block. It reads
through no cache (py-evm's ChainDB memoizes bodies and state/evm/patches/trie_nodes.py keeps
decoded nodes by hash, which would hide a changed node behind a good one read before):
``jsc-node verify --data-path`` (verify.py) compares a data dir with its replay through it.

A data dir is read only when no node holds it. LevelDB lets one process open a database at a
time and plyvel has no read-only open (a second open fails on LevelDB's own LOCK file), so the
data-dir lock (procutil.py) is taken for the whole read: a node running on the dir is refused with
its pid, and no node can start on the dir meanwhile.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import rlp
from eth.db.schema import SchemaV1
from eth_hash.auto import keccak

from jsc_node.consensus.block import decode_header
from jsc_node.errors import DataDirLockedError, ExportFailed, InvalidBlock, StoredDataError
from jsc_node.importer import CHAINDATA_DIR
from jsc_node.state.storage.leveldb import LevelDB

BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_LIST_HASH = keccak(rlp.encode([]))
HASH_BYTES = 32
I_UNCLES_HASH = 1
I_TX_ROOT = 4
I_RECEIPT_ROOT = 5
I_NUMBER = 8
I_WITHDRAWALS_ROOT = 16
"""Shanghai's header field (EIP-4895): a header with it has a withdrawals list in its block."""


# --- tries, read with every node checked -----------------------------------------------------


def _nibbles(path: bytes) -> tuple[list[int], bool]:
    """A hex-prefix encoded path (Yellow Paper, appendix C): its nibbles and whether it ends a leaf."""
    flag = path[0] >> 4
    nibbles = [n for byte in path for n in (byte >> 4, byte & 0x0F)]
    return nibbles[1:] if flag & 1 else nibbles[2:], bool(flag & 2)


class TrieReader:
    """Reads tries from a key-value store whose trie nodes are stored under their keccak,
    checking every node it reads: ``StoredDataError`` if one is missing or does not hash to its key."""

    def __init__(self, get: Callable[[bytes], bytes | None], what: str) -> None:
        self._get = get
        self.what = what

    def node(self, node_hash: bytes) -> bytes:
        value = self._get(node_hash)
        if value is None:
            raise StoredDataError(f"{self.what}: node 0x{node_hash.hex()} missing")
        if keccak(value) != node_hash:
            raise StoredDataError(
                f"{self.what}: node stored under 0x{node_hash.hex()} does not hash to its key "
                f"(its keccak is 0x{keccak(value).hex()}): the stored value was changed"
            )
        return value

    def leaves(self, root: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of every leaf under ``root``, in key order."""
        if root == BLANK_ROOT:
            return
        yield from self._walk(self._decode(self.node(root), root), [], root)

    def _decode(self, raw: bytes, node_hash: bytes) -> list[object]:
        try:
            node = rlp.decode(raw)
        except rlp.DecodingError as exc:
            raise StoredDataError(f"{self.what}: node 0x{node_hash.hex()} is not RLP: {exc}") from exc
        if not isinstance(node, list) or len(node) not in (2, 17):
            raise StoredDataError(f"{self.what}: node 0x{node_hash.hex()} is not a trie node")
        return node

    def _child(self, ref: object, parent: bytes) -> tuple[list[object], bytes] | None:
        """The child node a reference names, and the hash it is stored under (its parent's for a
        node embedded in its parent)."""
        if ref == b"":
            return None
        if isinstance(ref, list) and len(ref) in (2, 17):  # shorter than 32 bytes: embedded
            return ref, parent
        if isinstance(ref, bytes) and len(ref) == HASH_BYTES:
            return self._decode(self.node(ref), ref), ref
        raise StoredDataError(f"{self.what}: node 0x{parent.hex()} has a malformed child reference")

    def _walk(self, node: list[object], prefix: list[int], here: bytes) -> Iterator[tuple[bytes, bytes]]:
        if len(node) == 17:
            if node[16]:  # the value of the key that ends here, before the longer keys below it
                yield _key(prefix), _bytes(node[16], self.what)
            for i in range(16):
                child = self._child(node[i], here)
                if child is not None:
                    yield from self._walk(child[0], [*prefix, i], child[1])
            return
        path, ref = node
        if not isinstance(path, bytes) or not path:
            raise StoredDataError(f"{self.what}: node 0x{here.hex()} has a malformed path")
        nibbles, is_leaf = _nibbles(path)
        if is_leaf:
            yield _key([*prefix, *nibbles]), _bytes(ref, self.what)
            return
        child = self._child(ref, here)
        if child is None:
            raise StoredDataError(f"{self.what}: extension node 0x{here.hex()} without a child")
        yield from self._walk(child[0], [*prefix, *nibbles], child[1])


def _key(nibbles: list[int]) -> bytes:
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles) - 1, 2))


def _bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise StoredDataError(f"{what}: a leaf value is not a string")
    return value


def _index_of(key: bytes) -> int:
    """A transaction, receipt or withdrawal trie key is RLP(index)."""
    index = rlp.decode(key)
    return int.from_bytes(index, "big") if isinstance(index, bytes) else -1


def indexed_leaves(reader: TrieReader, root: bytes) -> list[bytes]:
    """The values of a trie keyed by RLP(0), RLP(1), ... in index order (transactions, receipts,
    withdrawals); ``StoredDataError`` if the indexes have a gap."""
    by_index = sorted((_index_of(k), v) for k, v in reader.leaves(root))
    if [i for i, _ in by_index] != list(range(len(by_index))):
        raise StoredDataError(f"{reader.what}: trie keys are not 0..{len(by_index) - 1}")
    return [v for _, v in by_index]


# --- the stored chain ------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredBlock:
    number: int
    hash: bytes
    """The block's hash as the canonical index holds it."""
    rlp: bytes
    """The block as the node serves it (``debug_getRawBlock``): header with seals, body."""
    header: tuple[bytes, ...]


class StoredChain:
    """The canonical chain of an open data-dir database, read and checked as the module says."""

    def __init__(self, db: LevelDB) -> None:
        self.db = db
        self.reader = TrieReader(db.get, "stored trie")

    def head_number(self) -> int:
        head = self.db.get(SchemaV1.make_canonical_head_hash_lookup_key())
        if head is None:
            raise StoredDataError("the data dir has no canonical head (no chain was written to it)")
        return self.header(head, None)[0]

    def canonical_hash(self, number: int) -> bytes:
        value = self.db.get(SchemaV1.make_block_number_to_hash_lookup_key(number))
        if value is None:
            raise StoredDataError(f"block {number}: no canonical hash stored")
        block_hash = rlp.decode(value)
        if not isinstance(block_hash, bytes) or len(block_hash) != HASH_BYTES:
            raise StoredDataError(f"block {number}: the canonical index entry is malformed")
        return block_hash

    def header(self, block_hash: bytes, number: int | None) -> tuple[int, tuple[bytes, ...]]:
        """The stored header under ``block_hash``, checked to hash to it: (number, fields)."""
        where = f"block {number}" if number is not None else f"header 0x{block_hash.hex()}"
        raw = self.db.get(block_hash)
        if raw is None:
            raise StoredDataError(f"{where}: header 0x{block_hash.hex()} missing")
        try:
            fields = rlp.decode(raw)
            got = decode_header(raw).onchain_hash
        except (rlp.DecodingError, InvalidBlock) as exc:
            raise StoredDataError(f"{where}: the stored header does not decode: {exc}") from exc
        if got != block_hash:
            raise StoredDataError(
                f"{where}: stored header hash: got 0x{got.hex()}, expected 0x{block_hash.hex()} "
                "(the header stored under the block's hash was changed)"
            )
        stored_number = int.from_bytes(fields[I_NUMBER], "big")
        if number is not None and stored_number != number:
            raise StoredDataError(f"{where}: stored header number: got {stored_number}, expected {number}")
        return stored_number, tuple(fields)

    def block(self, number: int) -> StoredBlock:
        block_hash = self.canonical_hash(number)
        _, header = self.header(block_hash, number)
        reader = TrieReader(self.db.get, f"block {number}: stored transactions")
        txs: list[object] = []
        for value in indexed_leaves(reader, header[I_TX_ROOT]):
            # A typed transaction is its bytes in a block; a legacy one its RLP list (EIP-2718).
            txs.append(rlp.decode(value) if value and value[0] >= 0xC0 else value)
        body: list[object] = [txs, self._uncles(header, number)]
        if len(header) > I_WITHDRAWALS_ROOT:
            reader = TrieReader(self.db.get, f"block {number}: stored withdrawals")
            body.append([rlp.decode(v) for v in indexed_leaves(reader, header[I_WITHDRAWALS_ROOT])])
        return StoredBlock(number, block_hash, rlp.encode([list(header), *body]), header)

    def _uncles(self, header: tuple[bytes, ...], number: int) -> list[object]:
        uncles_hash = header[I_UNCLES_HASH]
        if uncles_hash == EMPTY_LIST_HASH:
            return []
        reader = TrieReader(self.db.get, f"block {number}: stored uncles")
        uncles = rlp.decode(reader.node(uncles_hash))
        if not isinstance(uncles, list):
            raise StoredDataError(f"block {number}: stored uncles are not a list")
        return uncles

    def blocks(self, first: int, last: int) -> Iterator[StoredBlock]:
        for number in range(first, last + 1):
            yield self.block(number)


@contextmanager
def open_data_dir(data_path: Path) -> Iterator[StoredChain]:
    """The chain of a data dir no node is running on (see the module's docstring)."""
    from jsc_node.procutil import data_dir_lock

    chaindata = data_path / CHAINDATA_DIR
    if not (chaindata / "CURRENT").is_file():
        raise ExportFailed(f"{data_path} holds no chain (no {CHAINDATA_DIR}/ database)")
    try:
        with data_dir_lock(data_path):
            db = LevelDB(chaindata)
            try:
                yield StoredChain(db)
            finally:
                db.close()
    except DataDirLockedError as exc:
        raise DataDirLockedError(
            f"{exc}; LevelDB admits one process at a time: stop the node first (or run "
            "`jsc-node verify --rpc-url` against it)"
        ) from exc


def resolve_range(first: int | None, last: int | None, head: int) -> tuple[int, int]:
    """``--from``/``--to`` against the head: [first, last], checked."""
    start = 0 if first is None else first
    end = head if last is None else last
    if start < 0 or end < 0:
        raise ExportFailed(f"block numbers are not negative (--from {start} --to {end})")
    if end > head:
        raise ExportFailed(f"--to {end} is beyond the head (block {head})")
    if start > end:
        raise ExportFailed(f"--from {start} is after --to {end}")
    return start, end


@dataclass(frozen=True)
class ExportStats:
    first: int
    last: int
    blocks: int
    bytes: int
    path: Path


ExportProgress = Callable[[int, int], None]
"""(blocks written, blocks in all)."""


def export_blocks(
    data_path: Path,
    path: Path,
    first: int | None = None,
    last: int | None = None,
    progress: ExportProgress | None = None,
) -> ExportStats:
    """Write blocks ``first``..``last`` (default: 0 to the head) of ``data_path`` to ``path``.

    geth's export starts at block 0 too when no range is given; ``jsc-node import`` skips the
    genesis it already holds (a known block). The file is written beside ``path`` and renamed
    over it at the end, so a failed export leaves no half-written file."""
    from jsc_node.state import startup

    startup.install()  # keccak backend and the BFT header hash, as the node writes them
    if path.is_dir():
        raise ExportFailed(f"{path} is a directory")
    partial = path.with_name(path.name + ".partial")
    with open_data_dir(data_path) as chain:
        start, end = resolve_range(first, last, chain.head_number())
        written = 0
        try:
            with _open_output(partial, gzipped=path.name.endswith(".gz")) as out:
                for block in chain.blocks(start, end):
                    out.write(block.rlp)
                    written += 1
                    if progress is not None:
                        progress(written, end - start + 1)
            os.replace(partial, path)
        except StoredDataError as exc:
            partial.unlink(missing_ok=True)
            raise ExportFailed(f"export stopped: {exc}") from exc
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ExportFailed(f"cannot write {path}: {exc.strerror or exc}") from exc
    return ExportStats(start, end, written, path.stat().st_size, path)


@contextmanager
def _open_output(path: Path, gzipped: bool) -> Iterator[IO[bytes]]:
    if gzipped:
        with gzip.open(path, "wb") as out:
            yield cast(IO[bytes], out)
    else:
        with open(path, "wb") as out:
            yield out


__all__ = [
    "ExportStats",
    "StoredBlock",
    "StoredChain",
    "TrieReader",
    "export_blocks",
    "indexed_leaves",
    "open_data_dir",
    "resolve_range",
]
