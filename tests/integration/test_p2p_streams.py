"""Whole messages on a libp2p stream: two tasks writing to one yamux stream at once must not mix
their bytes (jsc_node/p2p/yamux.py). py-libp2p 0.8.1 interleaved the frames of two large writes,
and its pubsub writes to a peer's stream from more than one task (the per-peer queue, gossip
replies): a receiver parsed the mix as a malformed frame and banned an honest validator."""

from __future__ import annotations

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.utils.varint import encode_varint_prefixed, read_varint_prefixed_bytes_limited

from tests.integration.test_p2p_gossip import KEYS, STEP_TIMEOUT_S, link, nodes, run

pytestmark = pytest.mark.timeout(120)
PROTOCOL = TProtocol("/jsc-test/whole-messages/1")
MESSAGE_BYTES = 600 * 1024  # more than yamux's 256 KiB window: the writer waits for updates
WRITERS = 4


def test_concurrent_large_writes_on_one_stream_arrive_whole() -> None:
    async def main() -> None:
        received: list[bytes] = []
        done = trio.Event()

        async def handler(stream: object) -> None:
            for _ in range(WRITERS):
                received.append(await read_varint_prefixed_bytes_limited(stream, 2 * MESSAGE_BYTES))  # type: ignore[arg-type]
            done.set()

        async with nodes([KEYS[0], KEYS[1]]) as (a, b):
            await link(a, b)
            b.host.libp2p.set_stream_handler(PROTOCOL, handler)
            stream = await a.host.libp2p.new_stream(b.host.peer_id, [PROTOCOL])
            with trio.fail_after(STEP_TIMEOUT_S * 4):
                async with trio.open_nursery() as nursery:
                    for i in range(WRITERS):
                        nursery.start_soon(
                            stream.write, encode_varint_prefixed(bytes([i + 1]) * MESSAGE_BYTES)
                        )
                await done.wait()
        assert sorted(m[0] for m in received) == list(range(1, WRITERS + 1))
        for message in received:
            assert len(message) == MESSAGE_BYTES
            assert message == bytes([message[0]]) * MESSAGE_BYTES, "bytes of two writes were mixed"

    run(main)
