"""The ``pending`` block: the block this node would build next from its pool (geth's miner
``Pending``, miner/miner.go ``getPending``), for JSON-RPC reads at the ``pending`` tag.

It is built as the proposer builds (``Executor.build_block``): on the head, the head's gas limit,
the pool's executable transactions best first (``TxPool.pending_for_block``) through the one build
loop (``apply_transactions``, which stops when the block is full and leaves out what does not
apply), the block's system calls. What the execution side cannot know it takes as geth does for its
own pending block: the fee recipient is the zero address (geth's default
``--miner.pending.feeRecipient``), the timestamp the one the next proposal would carry
(QBFT: ``max(parent + blockperiodseconds, now)``; otherwise ``max(parent + 1, now)``), and under
QBFT the extra data holds the head's validators, no vote, round 0, no seals.

Everything is written to an overlay over LevelDB that is never flushed: the chain is unchanged.
:class:`PendingBlocks` keeps the last one per (head hash, pool version), so a burst of reads builds
it once (a pool big enough to make the build slow is followed at most every few build times, as
geth's miner reuses its pending block for up to 2 s), and registers its state root with the
executor (``Executor.side_states``) so that ``eth_call`` and kin, which build their state from a
header, find its trie nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

from eth.abc import BlockAPI, BlockHeaderAPI
from eth.consensus.context import ConsensusContext
from eth.db.chain import ChainDB

from jsc_node.chainformat import VANITY_BYTES, QbftExtraData, decode_extra_data, encode_extra_data
from jsc_node.errors import InvalidBlock
from jsc_node.state.chain import ChainReader
from jsc_node.state.evm.executor import Executor, apply_transactions
from jsc_node.state.evm.forks import Fork, fork_of_vm
from jsc_node.state.storage.leveldb import Overlay
from jsc_node.views import BlockView, ReceiptView

PENDING_FEE_RECIPIENT: Final = b"\x00" * 20
"""geth's default ``--miner.pending.feeRecipient``."""
ZERO_HASH: Final = b"\x00" * 32
CHEAP_BUILD_S: Final = 0.05
"""A pending block built faster than this is rebuilt on every pool change."""
PENDING_TTL_S: Final = 2.0
"""geth's ``pendingTTL`` (miner/pending.go): the longest a pending block is reused on an unchanged
head while the pool moves."""
REUSE_PER_BUILD_S: Final = 4
"""A slower pending block is reused for this many times its build time (at most
``PENDING_TTL_S``): under a stream of transactions and pending reads, building takes at most a
fifth of the event loop."""
SIDE_STATES_KEPT: Final = 4
"""Pending states whose trie nodes stay reachable: a call that took the previous pending header
still finds its state while a newer pending block replaces it."""


@dataclass(frozen=True)
class PendingBlock:
    """A built, never committed block on the head, with its overlay and a reader over it."""

    block: BlockAPI
    overlay: Overlay
    reader: ChainReader
    key: tuple[bytes, int]
    """(head hash, pool version) it was built for."""

    @property
    def header(self) -> BlockHeaderAPI:
        return self.block.header

    def state(self, executor: Executor) -> Any:
        """A read-only py-evm state after the pending block (writes go to a throwaway overlay)."""
        header = self.header
        vm_class = executor.schedule.vm_class_for_header(header)
        return vm_class.build_state(Overlay(self.overlay).atomic(), header, executor.chain_context)

    def view(self, full_txs: bool) -> BlockView:
        """geth's pending block: ``hash``, ``nonce`` and ``miner`` print as null (internal/ethapi
        ``GetBlockByNumber``); transactions carry the block's computed hash, as geth's do."""
        return replace(self.reader.block_view(self.header, full_txs), pending=True)

    def receipts(self) -> list[ReceiptView]:
        return self.reader.receipt_views(self.header)


def pending_timestamp(executor: Executor, parent: BlockHeaderAPI, now_s: float) -> int:
    qbft = executor.spec.qbft
    period = qbft.block_period_s if qbft is not None else 1
    return max(int(parent.timestamp) + period, int(now_s))


def pending_extra_data(parent: BlockHeaderAPI) -> bytes:
    """QBFT extra data for the next block as a proposer starts it: the head's validators, no
    vote, round 0, no seals; empty on a chain whose blocks are not QBFT's (an imported chain)."""
    try:
        validators = decode_extra_data(parent.extra_data).validators
    except InvalidBlock:
        return b""
    return encode_extra_data(QbftExtraData(vanity=b"\x00" * VANITY_BYTES, validators=validators))


def build_pending_block(
    executor: Executor, parent: BlockHeaderAPI, transactions: Iterable[Any], pool_version: int, now_s: float
) -> PendingBlock:
    """Build the block after ``parent`` (the head) from ``transactions`` (py-evm txs, best first;
    those that do not apply are left out with their sender's later ones)."""
    timestamp = pending_timestamp(executor, parent, now_s)
    vm_class = executor.schedule.vm_class(parent.block_number + 1, timestamp)
    fork = fork_of_vm(vm_class)
    overlay = Overlay(executor.db)
    atomic = overlay.atomic()
    params: dict[str, Any] = {
        "coinbase": PENDING_FEE_RECIPIENT,
        "timestamp": timestamp,
        "extra_data": pending_extra_data(parent),
        "gas_limit": parent.gas_limit,
    }
    if fork >= Fork.CANCUN:
        params["parent_beacon_block_root"] = ZERO_HASH  # as Executor.build_block
    header = vm_class.create_header_from_parent(parent, **params)
    vm = vm_class(header, ChainDB(atomic), executor.chain_context, ConsensusContext(atomic))
    vm.block_preprocessing(vm.get_block())
    header = vm.get_header().copy(gas_used=0)
    applied = apply_transactions(vm, header, transactions, all_must_apply=False)
    withdrawals = () if fork >= Fork.SHANGHAI else None
    filled = vm.set_block_transactions_and_withdrawals(
        vm.get_block(), applied.header, applied.transactions, applied.receipts, withdrawals=withdrawals
    )
    block = vm.mine_block(vm.block_postprocessing(filled)).block
    chaindb = ChainDB(atomic)
    chaindb.persist_block(block)  # body and receipts readable through the overlay
    key = (bytes(parent.hash), pool_version)
    return PendingBlock(block, overlay, ChainReader(chaindb, executor.schedule), key)


class PendingBlocks:
    """The pending block of the current (head hash, pool version), built on first use.

    Used from the event loop thread only (the pool is read there); the build is bounded by the
    block's gas limit and the pool's own size limits, as a proposal is. A build that took longer
    than ``CHEAP_BUILD_S`` is reused on the same head for ``REUSE_PER_BUILD_S`` times its length
    (at most ``PENDING_TTL_S``) even if the pool moved meanwhile."""

    def __init__(
        self,
        executor: Executor,
        candidates: Callable[[], Iterable[Any]],
        pool_version: Callable[[], int],
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._executor = executor
        self._candidates = candidates
        self._pool_version = pool_version
        self._clock = clock
        self._monotonic = monotonic
        self._current: PendingBlock | None = None
        self._built_at = 0.0
        self._build_s = 0.0
        self.builds = 0
        """How many pending blocks were built (a burst of reads builds one)."""

    def get(self, head: Any = None) -> PendingBlock:
        """The pending block on ``head``: the head RPC reads see (NodeBackend.head, which can be
        one block behind the executor's while a commit is published); the executor's by default."""
        if head is None:
            head = self._executor.head  # read once: a commit in the worker thread may move it
        version = self._pool_version()
        current = self._current
        if current is not None and current.key[0] == bytes(head.hash):
            if current.key[1] == version:
                return current
            if self._build_s > CHEAP_BUILD_S:
                reuse_s = min(PENDING_TTL_S, REUSE_PER_BUILD_S * self._build_s)
                if self._monotonic() - self._built_at < reuse_s:
                    return current
        started = self._monotonic()
        built = build_pending_block(self._executor, head, self._candidates(), version, self._clock())
        self._built_at = self._monotonic()
        self._build_s = self._built_at - started
        self.builds += 1
        self._current = built
        side = self._executor.side_states
        root = bytes(built.header.state_root)
        side.pop(root, None)  # newest last: the oldest go first
        side[root] = built.overlay
        while len(side) > SIDE_STATES_KEPT:
            del side[next(iter(side))]
        return built


__all__ = [
    "PENDING_FEE_RECIPIENT",
    "PendingBlock",
    "PendingBlocks",
    "build_pending_block",
    "pending_extra_data",
    "pending_timestamp",
]
