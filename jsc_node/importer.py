"""``jsc-node import``: concatenated RLP blocks into a data dir (geth's ``import``, Besu's
``blocks import``), through the same validation and commit path as live blocks.

Each block goes through ``Executor.validate_block`` then ``Executor.commit_block`` (one LevelDB
batch per block, the block becomes head). The genesis decides the rules:

- with ``config.qbft``: each block must pass ``consensus.rules.validate_sealed_block`` against the
  head, as a block from block sync does: it extends the head (number, parent hash), its header
  keeps the QBFT rules (timestamp, mixHash, coinbase a validator), its extraData lists the
  validator set after the parent's votes, and its commit seals come from a quorum of that set
  (``consensus.validators.ValidatorHistory``, replayed from the headers already held);
- without it: an imported chain whose seals (PoW/PoS) are not checked; py-evm's rules per fork,
  uncles as ``Chain.validate_uncles`` (state/evm/executor.py).

Import stops at the first invalid block with ``ImportFailed`` (number, hash, reason). Blocks that
are already canonical are skipped, so an interrupted import can be run again.

``ChainImporter.apply_block`` is the one path a block takes into a chain outside a running node:
``jsc-node import`` and ``jsc-node verify`` (verify.py, which replays a chain into a scratch dir)
both use it. It also runs the extra per-block rules it is given (``BlockRule``: the parent
header, the block, and the validator-set change the block makes), before execution.

This module wires consensus and state together, as the ``*_process.py`` mains do.
"""

from __future__ import annotations

import gzip
import mmap
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI
from eth.db.trie import make_trie_root_and_nodes
from eth_hash.auto import keccak

from jsc_node.chainformat import Vote
from jsc_node.consensus.block import QbftBlock, decode_block
from jsc_node.consensus.rules import validate_sealed_block
from jsc_node.consensus.validators import ValidatorHistory
from jsc_node.errors import ImportFailed, InvalidBlock
from jsc_node.genesis import GenesisSpec
from jsc_node.state import startup
from jsc_node.state.evm.executor import ExecutedBlock, Executor
from jsc_node.state.storage.leveldb import LevelDB

# Where the node keeps its chain inside the data dir (node.py opens the same path).
CHAINDATA_DIR = "chaindata"


@dataclass(frozen=True)
class RawBlock:
    """One block's RLP as read from a file, with where it came from (for error messages)."""

    rlp: bytes
    source: str
    index: int
    """0-based position of the block in its file."""


@dataclass
class ImportStats:
    imported: int = 0
    """Blocks validated and committed."""
    known: int = 0
    """Blocks skipped because they were already canonical."""
    txs: int = 0
    elapsed_s: float = 0.0
    head_number: int = 0
    head_hash: bytes = b""

    @property
    def blocks_per_s(self) -> float:
        return self.imported / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def txs_per_s(self) -> float:
        return self.txs / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressCallback = Callable[[ImportStats], None]


# --- reading ---------------------------------------------------------------------------------


def split_rlp_items(data: bytes | mmap.mmap, source: str = "") -> Iterator[bytes]:
    """The top-level RLP items of ``data``, back to back (geth's export format)."""
    for begin, end in _item_spans(data, source):
        yield data[begin:end]


def _item_spans(data: bytes | mmap.mmap, source: str) -> Iterator[tuple[int, int]]:
    position = 0
    index = 0
    size = len(data)
    while position < size:
        try:
            _prefix, _type, length, start = rlp.codec.consume_length_prefix(data, position)
        except (rlp.DecodingError, IndexError) as exc:  # IndexError: a prefix cut short by EOF
            reason = exc if isinstance(exc, rlp.DecodingError) else "length prefix cut short"
            raise ImportFailed(
                None, None, f"not RLP at byte {position}: {reason}", _where(source, index)
            ) from exc
        end = start + length
        if end > size:
            raise ImportFailed(
                None,
                None,
                f"RLP item at byte {position} runs past the end of the file",
                _where(source, index),
            )
        yield position, end
        position = end
        index += 1


@contextmanager
def _file_data(path: Path) -> Iterator[bytes | mmap.mmap]:
    """A file's bytes: mapped (a chain export can be larger than memory), or gunzipped for
    ``*.gz`` (as geth's import)."""
    handle = None
    try:
        if str(path).endswith(".gz"):
            data: bytes | mmap.mmap = gzip.decompress(Path(path).read_bytes())
        else:
            handle = open(path, "rb")  # noqa: SIM115  (closed below, after the mapping)
            size = os.fstat(handle.fileno()).st_size
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except OSError as exc:  # gzip.BadGzipFile is an OSError too
        if handle is not None:
            handle.close()
        raise ImportFailed(None, None, f"cannot read {path}: {exc.strerror or exc}") from exc
    except EOFError as exc:
        raise ImportFailed(None, None, f"cannot read {path}: truncated gzip data") from exc
    try:
        yield data
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
        if handle is not None:
            handle.close()


def iter_block_files(paths: Sequence[Path]) -> Generator[RawBlock, None, None]:
    """Every block of every file, in order, one at a time."""
    for path in paths:
        with _file_data(path) as data:
            for i, item in enumerate(split_rlp_items(data, str(path))):
                yield RawBlock(item, str(path), i)


def count_blocks(paths: Sequence[Path]) -> int:
    """How many blocks the files hold (reads only the RLP length prefixes)."""
    total = 0
    for path in paths:
        with _file_data(path) as data:
            total += sum(1 for _ in _item_spans(data, str(path)))
    return total


def read_block_files(paths: Sequence[Path]) -> list[RawBlock]:
    """Every block of every file, in order, in memory."""
    return list(iter_block_files(paths))


def _where(source: str, index: int) -> str:
    return f"{source} item {index}" if source else f"item {index}"


# --- importing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidatorSetChange:
    """What one QBFT block does to the validator set: its proposer's vote, and the set that
    validates it (``before``) and its successor (``after``, once the vote tally is applied)."""

    number: int
    proposer: bytes
    vote: Vote | None
    """The vote in the block's extraData (ignored by the tally at an epoch block)."""
    before: tuple[bytes, ...]
    after: tuple[bytes, ...]

    @property
    def added(self) -> tuple[bytes, ...]:
        return tuple(a for a in self.after if a not in self.before)

    @property
    def removed(self) -> tuple[bytes, ...]:
        return tuple(a for a in self.before if a not in self.after)


BlockRule = Callable[[Executor, BlockHeaderAPI, QbftBlock, ValidatorSetChange], None]
"""A per-block rule beyond the sealed-block rule and execution: given the executor (the parent's
state is ``executor.state_at(parent)``), the parent header, the block and the validator-set change
it makes; raises InvalidBlock. Run after the sealed-block rule, before the block executes."""


class QbftBlockCheck:
    """The sealed-block rule for imported QBFT blocks, against the head and the validators of
    each height."""

    def __init__(self, executor: Executor, epoch_length: int) -> None:
        chaindb = executor.chaindb
        headers = (
            rlp.encode(chaindb.get_canonical_block_header_by_number(number))
            for number in range(1, executor.head.block_number + 1)
        )
        self.history = ValidatorHistory.replay(rlp.encode(executor.genesis), epoch_length, headers)

    def validate(self, view: QbftBlock) -> None:
        validate_sealed_block(view, self.history.as_head())

    def change(self, view: QbftBlock) -> ValidatorSetChange:
        """The validator-set change ``view`` (valid on the head) makes, without appending it."""
        history = self.history
        after = history.tally.apply_block(view.number, view.coinbase, view.extra.vote, history.epoch_length)
        return ValidatorSetChange(
            view.number,
            view.coinbase,
            view.extra.vote,
            history.validators_at(view.number),
            after.validators,
        )

    def append(self, view: QbftBlock) -> None:
        self.history.append(view)


@dataclass(frozen=True)
class AppliedBlock:
    """A block validated and committed by ``ChainImporter.apply_block``."""

    number: int
    hash: bytes
    executed: ExecutedBlock
    """The executed block and its receipts."""
    change: ValidatorSetChange | None
    """The validator-set change (QBFT chains only)."""

    @property
    def tx_count(self) -> int:
        return len(self.executed.block.transactions)


class ChainImporter:
    """Imports blocks one by one into an open Executor."""

    def __init__(self, executor: Executor, spec: GenesisSpec, rules: Sequence[BlockRule] = ()) -> None:
        self.executor = executor
        self.spec = spec
        self.qbft = QbftBlockCheck(executor, spec.qbft.epoch_length) if spec.qbft is not None else None
        self.rules = tuple(rules)

    def import_block(self, raw: bytes) -> int | None:
        """Validate and commit one block; returns its transaction count, or None if it was
        already canonical. Raises InvalidBlock."""
        applied = self.apply_block(raw)
        return None if applied is None else applied.tx_count

    def apply_block(self, raw: bytes) -> AppliedBlock | None:
        """Validate and commit one block: the sealed-block rule (QBFT), the extra rules,
        execution, commit. None if it was already canonical. Raises InvalidBlock."""
        view = decode_block(raw) if self.qbft is not None else None
        block = self.executor.decode_block(raw)
        if self._is_canonical(int(block.number), bytes(block.hash)):
            return None
        change = None
        if self.qbft is not None and view is not None:
            self.qbft.validate(view)
            validate_transactions_root(block)
            change = self.qbft.change(view)
            if self.rules:
                parent = self.executor.header_by_hash(block.header.parent_hash)
                for rule in self.rules:
                    rule(self.executor, parent, view, change)
        self.executor.validate_block(raw)
        executed = self.executor.commit_block(raw)
        if self.qbft is not None and view is not None:
            self.qbft.append(view)
        return AppliedBlock(int(block.number), bytes(block.hash), executed, change)

    def _is_canonical(self, number: int, block_hash: bytes) -> bool:
        return self.executor.canonical_hash(number) == block_hash

    def import_blocks(
        self, blocks: Iterable[RawBlock], progress: ProgressCallback | None = None
    ) -> ImportStats:
        stats = ImportStats()
        started = time.perf_counter()
        for item in blocks:
            try:
                txs = self.import_block(item.rlp)
            except InvalidBlock as exc:
                number, block_hash = identify_block(item.rlp, bft=self.qbft is not None)
                raise ImportFailed(
                    number,
                    block_hash,
                    invalid_reason(exc, number, block_hash),
                    _where(item.source, item.index),
                ) from exc
            if txs is None:
                stats.known += 1
            else:
                stats.imported += 1
                stats.txs += txs
            stats.elapsed_s = time.perf_counter() - started
            if progress is not None:
                progress(stats)
        stats.elapsed_s = time.perf_counter() - started
        head = self.executor.head
        stats.head_number = int(head.block_number)
        stats.head_hash = bytes(head.hash)
        return stats


def validate_transactions_root(block: BlockAPI) -> None:
    """The body is the one the header (and so the seals) commit to, checked before execution as
    geth's ``BlockValidator.ValidateBody`` does (core/block_validator.go): a changed transaction
    is reported as that, not as whatever executing it goes on to break. py-evm checks it too, after
    execution; the root is cached (eth.db.trie), so it is computed once."""
    got, _ = make_trie_root_and_nodes(block.transactions)
    if got != block.header.transaction_root:
        raise InvalidBlock(
            "transaction root hash mismatch (calculated from the body, header value)",
            got=bytes(got),
            expected=bytes(block.header.transaction_root),
        )


def identify_block(raw: bytes, bft: bool) -> tuple[int | None, bytes | None]:
    """Number and hash of a block for an error message, as far as its RLP allows (a QBFT block's
    hash leaves out its seals and round)."""
    try:
        items = rlp.decode(raw)
        header = items[0]
        number = int.from_bytes(header[8], "big")
    except (rlp.DecodingError, IndexError, TypeError):  # undecodable: the reason says why
        return None, None
    if bft:
        try:
            return number, bytes(decode_block(raw).onchain_hash)
        except InvalidBlock:
            pass
    return number, keccak(rlp.encode(header))


def invalid_reason(exc: InvalidBlock, number: int | None, block_hash: bytes | None) -> str:
    text = str(exc)
    if block_hash is not None:
        # Executor's messages start with "block N 0x... is invalid: "; the error names the block.
        prefix = f"block {number} 0x{block_hash.hex()} is invalid: "
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def import_files(
    data_path: Path,
    spec: GenesisSpec,
    paths: Sequence[Path],
    progress: Callable[[int], ProgressCallback] | None = None,
) -> ImportStats:
    """Import block files into ``data_path`` (created with ``spec``'s genesis if new).

    ``progress(total_blocks)`` returns the per-block callback (the CLI draws a progress bar).
    Holds the data dir lock for the whole import: a running node and an import never share a dir.
    """
    from jsc_node.procutil import data_dir_lock  # the node's own lock, so `run` refuses the dir meanwhile

    startup.install()
    total = count_blocks(paths)  # reads every file once up front: a file error stops before any block
    with data_dir_lock(data_path):
        db = LevelDB(data_path / CHAINDATA_DIR)
        try:
            executor = Executor(db, spec)
            importer = ChainImporter(executor, spec)
            with closing(iter_block_files(paths)) as blocks:
                return importer.import_blocks(blocks, progress(total) if progress is not None else None)
        finally:
            db.close()


__all__ = [
    "AppliedBlock",
    "BlockRule",
    "ChainImporter",
    "ImportStats",
    "QbftBlockCheck",
    "RawBlock",
    "ValidatorSetChange",
    "count_blocks",
    "identify_block",
    "import_files",
    "invalid_reason",
    "iter_block_files",
    "read_block_files",
    "split_rlp_items",
]
