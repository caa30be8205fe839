"""ConsensusService (jsc_node/consensus/service.py) reacting to what execution pushes over the seam,
with a fake ExecutionPort and a real engine (this node the only validator): a waiting proposer
builds again as soon as the pool has transactions, not a block period later; votes reach the
engine as ProposeVote and go into the next block built; a repeated count is passed on once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import rlp
import trio

from jsc_node.chainformat import Vote, decode_extra_data
from jsc_node.consensus.block import address_of
from jsc_node.consensus.engine import EngineConfig, QbftEngine
from jsc_node.consensus.events import Event, PendingTxs, ProposeVote
from jsc_node.consensus.service import ConsensusService, NoPeers, OwnMessageLog
from jsc_node.seam.messages import (
    BlockCommitted,
    BlockValid,
    BuiltBlock,
    HeadChanged,
    HeaderSummary,
    PendingChanged,
    VoteDiscarded,
    VoteProposed,
)
from tests.sim.fakes import make_block, make_genesis, make_keys

BLOCK_PERIOD_S = 5
CANDIDATE = b"\x65" * 20


class FakeExecution:
    """Builds empty blocks at height 1; remembers each build's time and extraData, and commits."""

    def __init__(self, genesis_rlp: bytes, genesis: Any) -> None:
        self.genesis_rlp = genesis_rlp
        self.genesis = genesis
        self.builds: list[tuple[float, bytes]] = []
        self.commits: list[bytes] = []
        self.built = trio.Event()

    async def head(self) -> HeaderSummary:
        g = self.genesis
        return HeaderSummary(0, g.onchain_hash, b"\x00" * 32, g.timestamp, g.coinbase, b"", 30_000_000)

    async def headers(self, start: int, count: int) -> tuple[bytes, ...]:
        header = rlp.encode(rlp.decode(self.genesis_rlp)[0])
        return (header,) if start == 0 else ()

    async def build_block(
        self, parent: bytes, timestamp: int, coinbase: bytes, extra_data: bytes
    ) -> BuiltBlock:
        self.builds.append((time.monotonic(), extra_data))
        self.built.set()
        raw = make_block(
            parent_hash=parent, number=1, timestamp=timestamp, coinbase=coinbase, extra_data=extra_data
        )
        return BuiltBlock(raw, b"\x01" * 32, 1, 0)

    async def validate_block(self, block: bytes) -> BlockValid:
        raise AssertionError("a lone validator validates nothing")

    async def commit_block(self, block: bytes) -> BlockCommitted:
        self.commits.append(block)
        return BlockCommitted(b"\x01" * 32, 1)

    async def next_build(self) -> tuple[float, bytes]:
        with trio.fail_after(2):
            await self.built.wait()
        self.built = trio.Event()
        return self.builds[-1]


def test_pushed_pending_count_and_votes_drive_the_proposer(tmp_path: Path) -> None:
    (key,) = make_keys(1, salt=7)
    genesis = make_genesis([address_of(key)], timestamp=int(time.time()) - BLOCK_PERIOD_S)
    execution = FakeExecution(rlp.encode([list(genesis.header), [], [], []]), genesis)
    engine = QbftEngine(key, EngineConfig(block_period_s=BLOCK_PERIOD_S, empty_block_period_s=3600))
    passed_on: list[Event] = []
    step = engine.step

    def spy(event: Event, now: float) -> Any:
        if isinstance(event, (PendingTxs, ProposeVote)):
            passed_on.append(event)
        return step(event, now)

    engine.step = spy  # type: ignore[method-assign]
    service = ConsensusService(
        engine, execution, NoPeers(), OwnMessageLog(tmp_path / "own.log"), epoch_length=30000
    )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            _, extra = await execution.next_build()  # the parent is old enough: at once
            assert decode_extra_data(extra).vote is None
            # As on subscribing: the present first. An empty pool keeps the proposer waiting.
            service.on_execution_event(PendingChanged(0))
            service.on_execution_event(VoteProposed(CANDIDATE, True))
            await trio.sleep(0.2)
            assert len(execution.builds) == 1
            assert engine.votes == {CANDIDATE: True}

            service.on_execution_event(PendingChanged(2))
            pushed = time.monotonic()
            built_at, extra = await execution.next_build()
            assert built_at - pushed < 1 < BLOCK_PERIOD_S  # not the next look, a block period on
            assert decode_extra_data(extra).vote == Vote(CANDIDATE, True)
            with trio.fail_after(2):  # a lone validator: proposed, sealed and committed
                while not execution.commits:
                    await trio.sleep(0.01)

            service.on_execution_event(HeadChanged(1, b"\x02" * 32, 2))  # the same count: not again
            service.on_execution_event(VoteDiscarded(CANDIDATE))
            service.on_execution_event(PendingChanged(1))
            await trio.sleep(0.2)
            assert engine.votes == {}
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert passed_on == [
        PendingTxs(0),
        ProposeVote(CANDIDATE, True),
        PendingTxs(2),
        PendingTxs(1),
        ProposeVote(CANDIDATE, None),
    ]
