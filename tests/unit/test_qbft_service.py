"""ConsensusService.import_synced_block (block sync's way in): a peer's block is held to the
sealed-block rule against the head before execution is asked to commit it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.consensus.block import QbftBlock, decode_block, sign_commit_seal
from jsc_node.consensus.engine import QbftEngine
from jsc_node.consensus.service import ConsensusService, NoPeers, OwnMessageLog
from jsc_node.consensus.validators import ValidatorHistory
from jsc_node.errors import InvalidBlock, InvalidSeal
from tests.sim.fakes import make_block, make_genesis, make_keys

T0 = 1_000
KEYS = sorted(make_keys(4, salt=21), key=lambda k: k.public_key.to_canonical_address())
VALS = tuple(k.public_key.to_canonical_address() for k in KEYS)
GENESIS = make_genesis(VALS, timestamp=T0)


class RecordingExecution:
    """Stands in for the seam client: records which execution call was made, answers None."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Awaitable[None]]:
        async def call(*args: Any, **kwargs: Any) -> None:
            self.calls.append(str(args[0]) if name == "request" else name)

        return call


def block(
    *, parent: bytes = GENESIS.onchain_hash, validators: tuple[bytes, ...] = VALS, signers: int = 3
) -> QbftBlock:
    extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, None, 0, ()))
    raw = make_block(parent_hash=parent, number=1, timestamp=T0 + 1, coinbase=VALS[1], extra_data=extra)
    unsealed = decode_block(raw)
    return unsealed.with_seals([sign_commit_seal(k, unsealed) for k in KEYS[:signers]])


def test_synced_blocks_meet_the_sealed_block_rule_before_commit(tmp_path: Path) -> None:
    execution = RecordingExecution()
    service = ConsensusService(
        QbftEngine(KEYS[0]), execution, NoPeers(), OwnMessageLog(tmp_path / "own"), epoch_length=30_000
    )
    service.history = ValidatorHistory(GENESIS, 30_000)
    good = block()

    async def main() -> None:
        for bad, error, what in [
            (block(parent=b"\x22" * 32), InvalidBlock, "block parent"),
            (block(validators=VALS[:3]), InvalidBlock, "block validators"),
            (block(signers=2), InvalidSeal, "commit seal count"),
        ]:
            with pytest.raises(error) as info:
                await service.import_synced_block(bad.encode())
            assert info.value.what == what
        assert execution.calls == []  # nothing refused reached execution
        assert await service.import_synced_block(good.encode()) is True
        assert execution.calls == ["commit_block"]
        assert service.history is not None
        assert service.history.head.onchain_hash == good.onchain_hash
        assert await service.import_synced_block(good.encode()) is False  # held already
        assert execution.calls == ["commit_block"]

    trio.run(main)
