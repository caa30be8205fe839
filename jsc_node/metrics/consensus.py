"""The consensus process's metrics: an observer the QBFT service calls after each engine step
and before each commit (``ConsensusService.observer``; the pure engine is not touched), and a
task that reads the p2p host's peer counts and block sync's progress every second.

Created once by ``consensus_process`` with --metrics-enabled; without it nothing here runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

import trio

from jsc_node.consensus.events import Event, Timeout
from jsc_node.consensus.validators import proposer_for_round
from jsc_node.metrics import registry as m

NETWORK_POLL_S: Final = 1.0
COUNTED_TIMERS: Final = ("round", "resend")
"""Timer kinds counted as timeouts: the round timer (the round failed) and the RoundChange resend
while stuck. The ``block`` timer is the proposer's wait for the block period, not a failure."""


def validator_label(address: bytes) -> str:
    return "0x" + address.hex()


def missed_proposers(validators: Sequence[bytes], previous_proposer: bytes, round_: int) -> list[bytes]:
    """The proposers of rounds 0 .. round_-1 at a height decided in ``round_``: each had its turn
    and the height moved on without its block (QBFT's round-robin, ``proposer_for_round``)."""
    return [proposer_for_round(validators, previous_proposer, r) for r in range(round_)]


class _Engine(Protocol):
    @property
    def height(self) -> int | None: ...
    @property
    def round(self) -> int | None: ...


class _Block(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def coinbase(self) -> bytes: ...
    @property
    def extra(self) -> Any: ...


class _History(Protocol):
    @property
    def head(self) -> Any: ...
    def validators_at(self, height: int) -> tuple[bytes, ...]: ...


class ConsensusMetrics:
    """Implements ``consensus.service.ServiceObserver``."""

    def __init__(self) -> None:
        self._height: int | None = None
        self._round: int | None = None
        self._refused_seen = 0
        self._known: set[bytes] = set()
        for kind in COUNTED_TIMERS:
            m.QBFT_TIMEOUTS.labels(kind)  # a series from the start: a rate over it is 0, not absent

    def stepped(self, event: Event, engine: _Engine) -> None:
        if (
            isinstance(event, Timeout)
            and event.kind in COUNTED_TIMERS
            and (event.height, event.round) == (self._height, self._round)
        ):
            m.QBFT_TIMEOUTS.labels(event.kind).inc()  # a timer of the round in progress, not a stale one
        height, round_ = engine.height, engine.round
        if round_ is not None and (height, round_) != (self._height, self._round):
            if height == self._height and self._round is not None and round_ > self._round:
                m.QBFT_ROUND_CHANGES.inc()
            if round_ != self._round:
                m.QBFT_ROUND.set(round_)  # written on a change only: each write is an mmap write
        self._height, self._round = height, round_

    def committing(self, block: _Block, history: _History) -> None:
        """Before ``block`` extends ``history`` (its proposer and round are read from the block)."""
        validators = history.validators_at(block.number)
        for validator in set(validators) - self._known:  # each validator's series from its first block
            m.QBFT_PROPOSALS.labels(validator_label(validator))
            m.QBFT_PROPOSALS_MISSED.labels(validator_label(validator))
            self._known.add(validator)
        m.QBFT_PROPOSALS.labels(validator_label(block.coinbase)).inc()
        for missed in missed_proposers(validators, history.head.coinbase, block.extra.round):
            m.QBFT_PROPOSALS_MISSED.labels(validator_label(missed)).inc()

    def network_sample(self, peers: int, refused: int) -> None:
        m.P2P_PEERS.set(peers)
        if refused > self._refused_seen:
            m.P2P_PEERS_REFUSED.inc(refused - self._refused_seen)
            self._refused_seen = refused

    @staticmethod
    def sync_sample(progress: Any, local_head: int) -> None:
        """Block sync's range while catching up; this node's head for both when it is not behind."""
        if progress is None:
            m.SYNC_CURRENT.set(local_head)
            m.SYNC_HIGHEST.set(local_head)
        else:
            m.SYNC_CURRENT.set(progress.current)
            m.SYNC_HIGHEST.set(progress.highest)

    async def watch_network(self, host: Any, syncer: Any) -> None:
        """Every second: connected peers, refusals since the last look (``P2PHost.refused``), block
        sync's progress (``Syncer.progress``, its ``local_head``)."""
        while True:
            self.network_sample(host.peer_count(), host.refused)
            self.sync_sample(syncer.progress, syncer.local_head())
            await trio.sleep(NETWORK_POLL_S)
