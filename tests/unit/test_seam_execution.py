"""The execution process's side of the seam end to end: ExecutionService (jsc_node/execution_process.py)
on a real LevelDB behind a SeamServer, a trio SeamClient on the other end of the socket. What the
operator and the pool do reaches the subscriber as events, with no polling: the present on
subscribing, then transactions taken over RPC, the pending count, votes and the new head."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
import trio
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node import execution_process
from jsc_node.chainformat import QbftExtraData, decode_extra_data, encode_extra_data
from jsc_node.config import NodeConfig
from jsc_node.execution_process import ExecutionService, open_node_state
from jsc_node.genesis import load_genesis
from jsc_node.seam.client import SeamClient
from jsc_node.seam.messages import (
    Event,
    HeadChanged,
    LocalTxs,
    PendingChanged,
    VoteDiscarded,
    VoteProposed,
)
from jsc_node.seam.server import SeamServer
from tests.unit.seam_harness import AsyncioThread

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dC79C8"
# The dev genesis's own validator: the dev genesis has config.jsc, so an add vote for an address
# without a valid attestation is refused (tests/unit/test_registry_votes.py); one for a current
# validator is held like any other.
CANDIDATE = bytes.fromhex("65457670Dca8b0E041bF10faF3a6af32aFcEC649")
EVENT_KINDS = (PendingChanged, LocalTxs, VoteProposed, VoteDiscarded, HeadChanged)


def _transfer(nonce: int) -> bytes:
    signed = Account.sign_transaction(
        {
            "chainId": 1337,
            "nonce": nonce,
            "to": to_checksum_address(RECIPIENT),
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 1,
            "type": 2,
        },
        KEY,
    )
    return bytes(signed.raw_transaction)


def _sealed(block_rlp: bytes) -> bytes:
    header, *body = rlp.decode(block_rlp)
    extra = decode_extra_data(header[12])
    header[12] = encode_extra_data(dataclasses.replace(extra, seals=(b"\x01" * 65,)))
    return bytes(rlp.encode([header, *body]))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[AsyncioThread, ExecutionService, str]]:
    (tmp_path / "data").mkdir()
    db, executor, pool, backend = open_node_state(NodeConfig(data_path=tmp_path / "data"), load_genesis(None))
    loop = AsyncioThread()
    service = ExecutionService(executor, pool, backend)
    path = str(tmp_path / "seam.sock")

    async def start() -> tuple[SeamServer, asyncio.Task[None]]:
        server = SeamServer(path, service.handlers(), service.snapshot)
        service.events = server
        await server.start()
        return server, asyncio.create_task(service.relay_local_txs())

    server, relay = loop.run(start())
    yield loop, service, path
    loop.call(relay.cancel)
    loop.run(server.close())
    loop.close()
    pool.close()
    db.close()


async def _new(seen: list[Event], before: int, count: int) -> list[Event]:
    """The events after the first ``before``, once there are ``count`` of them, and no more came."""
    with trio.fail_after(10):
        while len(seen) < before + count:
            await trio.sleep(0.01)
    await trio.sleep(0.05)
    return seen[before:]


def test_pool_votes_and_head_reach_the_subscriber_as_events(node: Any) -> None:
    loop, service, path = node
    backend = service.backend
    first, second = _transfer(0), _transfer(1)
    seen: list[Event] = []

    async def main() -> None:
        # Before anyone subscribes: held, then sent as the present.
        loop.run(backend.qbft_propose_vote(CANDIDATE, True))
        loop.run(backend.send_raw_transaction(first))
        async with SeamClient.open(path) as client:
            client.listen(seen.append, *EVENT_KINDS)
            await client.subscribe()
            assert seen[:2] == [PendingChanged(1), VoteProposed(CANDIDATE, True)]
            assert await _new(seen, 2, 1) == [LocalTxs((first,))]

            assert (await client.remote_txs((second,))).accepted == 1
            assert await _new(seen, 3, 1) == [PendingChanged(2)]

            assert loop.run(backend.qbft_discard_vote(CANDIDATE)) is True
            assert loop.run(backend.qbft_discard_vote(CANDIDATE)) is False  # none held: no event
            loop.run(backend.qbft_propose_vote(CANDIDATE, False))
            assert await _new(seen, 4, 2) == [VoteDiscarded(CANDIDATE), VoteProposed(CANDIDATE, False)]

            head = await client.head()
            extra = encode_extra_data(
                QbftExtraData(b"\x00" * 32, service.executor.spec.validators, None, 0, ())
            )
            built = await client.build_block(head.hash, head.timestamp + 1, b"\x11" * 20, extra)
            assert (built.number, built.tx_count) == (1, 2)
            sealed = _sealed(built.block)
            committed = await client.commit_block(sealed)
            assert await _new(seen, 6, 1) == [HeadChanged(1, committed.hash, 0)]
            assert (await client.blocks(1, 5, 1 << 20)).blocks == (sealed,)
            assert (await client.head()).hash == committed.hash

    trio.run(main)


def test_local_transactions_wait_for_a_subscriber_that_wants_them(node: Any) -> None:
    loop, service, path = node
    raw = _transfer(0)
    seen: list[Event] = []

    async def main() -> None:
        async with SeamClient.open(path) as client:
            client.listen(seen.append, PendingChanged)
            await client.subscribe()
            loop.run(service.backend.send_raw_transaction(raw))
            assert await _new(seen, 1, 1) == [PendingChanged(1)]
        assert list(service.backend.local_txs) == [raw]  # still in the outbox
        async with SeamClient.open(path) as client:
            client.listen(seen.append, LocalTxs)
            await client.subscribe()
            assert await _new(seen, 2, 1) == [LocalTxs((raw,))]
        assert not service.backend.local_txs

    trio.run(main)


def test_a_burst_of_rpc_transactions_goes_out_in_batches_within_the_frame(
    node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, service, path = node
    monkeypatch.setattr(execution_process, "LOCAL_TX_BATCH", 3)
    monkeypatch.setattr(execution_process, "LOCAL_TX_BATCH_BYTES", 1000)
    txs = [bytes([i]) * 400 for i in range(5)] + [bytes([9]) * 1500] + [bytes([i]) * 10 for i in range(4)]
    seen: list[Event] = []

    def burst() -> None:
        service.backend.local_txs.extend(txs)  # as many send_raw_transaction calls in one go
        service.backend.on_local_tx()

    async def main() -> None:
        async with SeamClient.open(path) as client:
            client.listen(seen.append, LocalTxs)
            await client.subscribe()
            loop.call(burst)
            with trio.fail_after(10):
                while sum(len(e.txs) for e in seen if isinstance(e, LocalTxs)) < len(txs):
                    await trio.sleep(0.01)

    trio.run(main)
    # At most 3 and 1,000 bytes an event, but never less than one transaction; order kept.
    assert [len(e.txs) for e in seen if isinstance(e, LocalTxs)] == [2, 2, 1, 1, 3, 1]
    assert [tx for e in seen if isinstance(e, LocalTxs) for tx in e.txs] == txs
