"""The execution process's metrics, wired around ``ExecutionService`` without changing it: the
seam's block handlers timed, a listener on each commit (head, transactions per block, inclusion
time), the pool's admissions timed, and the pool's counts and the RPC tallies passed on every second.

Called once from ``execution_process.serve`` when --metrics-enabled; without it none of this runs
and the RPC meter stays off (one attribute test per call)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from prometheus_client import Histogram

from jsc_node.metrics import registry as m

REFRESH_S: Final = 1.0
ARRIVALS_MAX: Final = 50_000
"""Admission times kept for transactions not yet in a block; beyond this the oldest go (a
transaction dropped from the pool never reaches a block, so its entry would stay forever)."""


class _Pool(Protocol):
    def status(self) -> tuple[int, int]: ...
    def subscribe(self, listener: Callable[[Sequence[Any]], None]) -> Callable[[], None]: ...


class _Service(Protocol):
    on_commit: list[Any]


Handlers = dict[type, Callable[[Any], Awaitable[Any]]]


class Arrivals:
    """When each pooled transaction became pending here (admitted, or promoted once its nonce gap
    closed), by hash, until its block commits. Monotonic seconds."""

    def __init__(self, limit: int = ARRIVALS_MAX, clock: Callable[[], float] = time.monotonic) -> None:
        self._at: dict[bytes, float] = {}
        self._limit = limit
        self._clock = clock

    def __len__(self) -> int:
        return len(self._at)

    def admitted(self, txs: Iterable[Any]) -> None:
        now = self._clock()
        at = self._at
        for pooled in txs:
            at.setdefault(pooled.hash, now)
        while len(at) > self._limit:
            del at[next(iter(at))]  # dicts keep insertion order: the oldest first

    def included(self, tx_hashes: Iterable[bytes]) -> list[float]:
        """Seconds from arrival to now of each of these that arrived here (others are skipped: a
        block from a peer may hold transactions this pool never saw)."""
        now = self._clock()
        waits = []
        for tx_hash in tx_hashes:
            arrived = self._at.pop(tx_hash, None)
            if arrived is not None:
                waits.append(now - arrived)
        return waits


def _timed(histogram: Histogram, handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    async def timed(request: Any) -> Any:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            histogram.observe(time.perf_counter() - started)

    return timed


def instrument_execution(service: _Service, pool: _Pool, handlers: Handlers, head_number: int) -> Handlers:
    """The seam's handler table with build, validate and commit timed (from the request's arrival
    to its answer: execution, the LevelDB write for a commit, and any wait for the block lane);
    commit and pool listeners installed; the RPC meter on. Needs the running event loop."""
    from jsc_node.seam.messages import BuildBlockRequest, CommitBlockRequest, ValidateBlockRequest

    timed = dict(handlers)
    for kind, histogram in (
        (BuildBlockRequest, m.BLOCK_BUILD),
        (ValidateBlockRequest, m.BLOCK_VALIDATE),
        (CommitBlockRequest, m.BLOCK_COMMIT),
    ):
        timed[kind] = _timed(histogram, handlers[kind])
    arrivals = Arrivals()
    pool.subscribe(arrivals.admitted)

    def committed(executed: Any) -> None:
        number = executed.number
        m.CHAIN_HEAD.set(number)
        m.CHAIN_FINALIZED.set(number)  # QBFT: a committed block is final
        txs = executed.block.transactions
        m.BLOCK_TRANSACTIONS.observe(len(txs))
        for wait in arrivals.included(bytes(tx.hash) for tx in txs):
            m.TX_INCLUSION.observe(wait)
        _pool_counts(pool)

    service.on_commit.append(committed)
    m.CHAIN_HEAD.set(head_number)
    m.CHAIN_FINALIZED.set(head_number)
    m.RPC_METER.enabled = True
    task = asyncio.get_running_loop().create_task(_refresh(pool))
    _tasks.add(task)  # held: the loop keeps only a weak reference
    return timed


_tasks: set[asyncio.Task[None]] = set()


def _pool_counts(pool: _Pool) -> None:
    pending, queued = pool.status()
    m.TXPOOL_PENDING.set(pending)
    m.TXPOOL_QUEUED.set(queued)


async def _refresh(pool: _Pool) -> None:
    """Every second: the pool's counts, and the RPC calls tallied since the last time."""
    while True:
        _pool_counts(pool)
        m.RPC_METER.flush()
        await asyncio.sleep(REFRESH_S)
