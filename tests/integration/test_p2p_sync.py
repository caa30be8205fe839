"""Block sync's request/response protocol between two real libp2p hosts on 127.0.0.1, and the
catch-up driver against a peer serving a chain (seal checks live in the consensus service: the
``import_block`` here only records what it is given)."""

from __future__ import annotations

import struct

import pytest
import rlp
import trio

from jsc_node.errors import InvalidBlock, P2PError, SyncError
from jsc_node.p2p.sync import (
    MAX_BLOCKS_PER_REQUEST,
    PeerStatus,
    SyncClient,
    Syncer,
    SyncProgress,
    SyncServer,
    protocol_id,
)
from tests.integration.test_p2p_gossip import CHAIN_ID, KEYS, STEP_TIMEOUT_S, link, nodes, prepare, run

pytestmark = pytest.mark.timeout(120)
GENESIS = b"\x11" * 32


class FakeChain:
    """A served chain of opaque 'blocks' (sync's transport does not look inside them)."""

    def __init__(self, height: int, size: int = 100) -> None:
        self.blocks = [n.to_bytes(4, "big") * (size // 4) for n in range(height + 1)]
        self.requests: list[tuple[int, int]] = []

    async def status(self) -> PeerStatus:
        return PeerStatus(len(self.blocks) - 1, b"\x22" * 32, GENESIS)

    async def blocks_from(self, start: int, count: int, max_bytes: int) -> list[bytes]:
        self.requests.append((start, count))
        out: list[bytes] = []
        for raw in self.blocks[start : start + count]:
            out.append(raw)
            if sum(map(len, out)) >= max_bytes:
                break
        return out


class Source:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain

    async def status(self) -> PeerStatus:
        return await self.chain.status()

    async def blocks(self, start: int, count: int, max_bytes: int) -> list[bytes]:
        return await self.chain.blocks_from(start, count, max_bytes)


def test_status_and_blocks_by_range() -> None:
    async def main() -> None:
        chain = FakeChain(300)
        async with nodes([KEYS[0], KEYS[1]]) as (a, b):
            SyncServer(a.host, CHAIN_ID, Source(chain)).install()
            await link(b, a)
            client = SyncClient(b.host, CHAIN_ID)
            with trio.fail_after(STEP_TIMEOUT_S):
                assert await client.status(a.host.peer_id) == PeerStatus(300, b"\x22" * 32, GENESIS)
                got = await client.blocks(a.host.peer_id, 5, 10)
                assert got == chain.blocks[5:15]
                # The server caps a request at MAX_BLOCKS_PER_REQUEST; beyond its head: nothing.
                assert len(await client.blocks(a.host.peer_id, 1, 1000)) == MAX_BLOCKS_PER_REQUEST
                assert await client.blocks(a.host.peer_id, 301, 5) == []

    run(main)


def test_malformed_requests_are_reset_and_the_server_keeps_serving() -> None:
    async def main() -> None:
        chain = FakeChain(10)
        async with nodes([KEYS[0], KEYS[1]]) as (a, b):
            server = SyncServer(a.host, CHAIN_ID, Source(chain))
            server.install()
            await link(b, a)
            garbage = [
                struct.pack(">I", 3) + b"\xff\xff\xff",  # not RLP
                struct.pack(">I", 2) + rlp.encode([9])[:2],  # unknown kind
                struct.pack(">I", 1_000_000),  # frame over the request limit
                struct.pack(">I", len(rlp.encode([1, 0, 0]))) + rlp.encode([1, 0, 0]),  # count 0
            ]
            for frame in garbage:
                with trio.fail_after(STEP_TIMEOUT_S):
                    stream = await b.host.libp2p.new_stream(a.host.peer_id, [protocol_id(CHAIN_ID)])
                    await stream.write(frame)
                    assert not await _answer_byte(stream)
            assert server.refused == len(garbage)
            client = SyncClient(b.host, CHAIN_ID)
            with trio.fail_after(STEP_TIMEOUT_S):
                assert (await client.status(a.host.peer_id)).number == 10
            # Gossip on the same connection is unaffected.
            await a.gossip.broadcast(prepare(KEYS[0], 1))
            with trio.fail_after(STEP_TIMEOUT_S):
                assert await b.gossip.receive() == prepare(KEYS[0], 1)

    run(main)


async def _answer_byte(stream: object) -> bytes:
    """The first byte of an answer; b"" when the server reset or closed the stream instead."""
    try:
        return bytes(await stream.read(1))  # type: ignore[attr-defined]
    except Exception:  # StreamReset / StreamEOF: the refusal we expect
        return b""


def test_a_peer_without_the_protocol_gives_a_sync_error() -> None:
    async def main() -> None:
        async with nodes([KEYS[0], KEYS[1]]) as (a, b):
            await link(b, a)
            with trio.fail_after(STEP_TIMEOUT_S), pytest.raises(SyncError):
                await SyncClient(b.host, CHAIN_ID).status(a.host.peer_id)
            assert issubclass(SyncError, P2PError)

    run(main)


def test_syncer_catches_up_in_batches_and_reports_progress() -> None:
    async def main() -> None:
        chain = FakeChain(200)
        async with nodes([KEYS[0], KEYS[1]]) as (a, b):
            SyncServer(a.host, CHAIN_ID, Source(chain)).install()
            await link(b, a)
            local = [chain.blocks[0]]
            reports: list[SyncProgress | None] = []

            async def import_block(raw: bytes) -> bool:
                if int.from_bytes(raw[:4], "big") <= len(local) - 1:
                    return False
                assert raw == chain.blocks[len(local)], "blocks arrive in order"
                local.append(raw)
                return True

            async def report(progress: SyncProgress | None) -> None:
                reports.append(progress)

            syncer = Syncer(
                SyncClient(b.host, CHAIN_ID),
                b.host,
                GENESIS,
                lambda: len(local) - 1,
                import_block,
                report,
                batch=32,
            )
            with trio.fail_after(STEP_TIMEOUT_S * 3):
                assert await syncer.sync_once() == 200
            assert local == chain.blocks
            assert reports[-1] is None  # eth_syncing back to false
            progress = [r for r in reports if r is not None]
            assert progress[0] == SyncProgress(0, 32, 200)
            assert progress[-1] == SyncProgress(0, 200, 200)
            assert all(count <= 32 for _, count in chain.requests)
            # Nothing ahead: a second round fetches nothing.
            assert await syncer.sync_once() == 0

    run(main)


def test_a_peer_serving_an_invalid_block_is_banned_and_another_peer_is_used() -> None:
    async def main() -> None:
        good, bad = FakeChain(40), FakeChain(50)
        bad.blocks[7] = b"evil"
        async with nodes([KEYS[0], KEYS[1], KEYS[2]]) as (honest, liar, b):
            SyncServer(honest.host, CHAIN_ID, Source(good)).install()
            SyncServer(liar.host, CHAIN_ID, Source(bad)).install()
            await link(b, honest)
            await link(b, liar)
            local = [good.blocks[0]]

            async def import_block(raw: bytes) -> bool:
                if raw == b"evil":
                    raise InvalidBlock("commit seal count", got=0, expected=3)
                local.append(raw)
                return True

            syncer = Syncer(
                SyncClient(b.host, CHAIN_ID), b.host, GENESIS, lambda: len(local) - 1, import_block
            )
            with trio.fail_after(STEP_TIMEOUT_S * 3):
                await syncer.sync_once()
            # The liar claimed the higher head, served block 7 bad: banned; the honest peer's
            # 40 blocks were imported instead.
            assert b.host.bans.active(liar.host.peer_id)
            assert len(local) - 1 == 40
            assert local == good.blocks

    run(main)
