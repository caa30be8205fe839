"""Real py-libp2p hosts on 127.0.0.1 (port 0), one trio loop per test: mesh, delivery on every
topic, the 2,000-message burst (regression test for py-libp2p's silent drops), garbage
rejection with peer banning. Figures are printed (run with -s), not asserted."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import rlp
import trio
from eth_keys.datatypes import PrivateKey
from libp2p.custom_types import TProtocol
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11
from libp2p.tools.anyio_service import background_trio_service
from prometheus_client import REGISTRY

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.consensus.block import address_of, decode_block, sign_commit_seal
from jsc_node.consensus.messages import encode_message, make_prepare
from jsc_node.consensus.service import GossipPort
from jsc_node.p2p.gossip import Gossip, GossipSettings, Kind, new_pubsub, subscribe_sized
from jsc_node.p2p.host import P2PHost, PeerAllowlist
from tests.sim.fakes import make_block, make_keys

pytestmark = pytest.mark.timeout(120)

KEYS = make_keys(6, salt=11)
VALIDATORS = frozenset(address_of(k) for k in KEYS[:4])
CHAIN_ID = 4242
STEP_TIMEOUT_S = 10.0


@dataclass
class Node:
    key: PrivateKey
    host: P2PHost
    gossip: Gossip


def run(test: Callable[[], Awaitable[None]]) -> None:
    trio.run(test)


@asynccontextmanager
async def nodes(
    keys: list[PrivateKey],
    allowlist: PeerAllowlist | None = None,
    settings: GossipSettings | None = None,
) -> AsyncIterator[list[Node]]:
    """Started hosts + gossip, not yet connected; all stopped on exit."""
    async with trio.open_nursery() as nursery:
        started = []
        for key in keys:
            host = P2PHost(key.to_bytes(), allowlist or PeerAllowlist(VALIDATORS), listen_port=0)
            await nursery.start(host.run)
            gossip = Gossip(host, CHAIN_ID, lambda address: address in VALIDATORS, settings)
            await nursery.start(gossip.run)
            started.append(Node(key, host, gossip))
        yield started
        nursery.cancel_scope.cancel()


async def link(a: Node, b: Node, kinds: tuple[Kind, ...] = (Kind.QBFT,)) -> None:
    with trio.fail_after(STEP_TIMEOUT_S):
        await a.host.connect(b.host.listen_addrs()[0])
        for kind in kinds:
            await a.gossip.wait_for_mesh(b.host.peer_id, STEP_TIMEOUT_S, kind)
            await b.gossip.wait_for_mesh(a.host.peer_id, STEP_TIMEOUT_S, kind)


def prepare(key: PrivateKey, n: int) -> bytes:
    return encode_message(make_prepare(key, n + 1, 0, n.to_bytes(32, "big")))


async def receive_n(gossip: Gossip, n: int, into: list[bytes], stall_s: float) -> None:
    """Receive until ``n`` messages are ``into``, or until none has come for ``stall_s`` (a loss
    shows as a stall; a loaded machine only slows the arrivals). The caller caps the total."""
    while len(into) < n:
        with trio.move_on_after(stall_s):
            into.append(await gossip.receive())
            continue
        return


async def nothing_arrives(receive: Callable[[], Awaitable[object]], wait_s: float = 1.0) -> bool:
    with trio.move_on_after(wait_s):
        await receive()
        return False
    return True


def sealed_block(number: int, signers: list[PrivateKey]) -> bytes:
    validators = tuple(sorted(VALIDATORS))

    def block(seals: tuple[bytes, ...]) -> bytes:
        extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, None, 0, seals))
        return make_block(
            parent_hash=b"\x11" * 32,
            number=number,
            timestamp=1_700_000_000 + number,
            coinbase=validators[0],
            extra_data=extra,
        )

    unsealed = decode_block(block(()))
    return block(tuple(sign_commit_seal(k, unsealed) for k in signers))


# --- tests ------------------------------------------------------------------------------------


def test_two_hosts_mesh_and_deliver_every_topic() -> None:
    async def main() -> None:
        async with nodes(KEYS[:2]) as (a, b):
            t0 = time.perf_counter()
            await link(a, b, (Kind.QBFT, Kind.TXS, Kind.BLOCKS))
            connect_s = time.perf_counter() - t0
            assert a.host.peer_count() == 1
            assert b.host.peers()[0].address == address_of(a.key)
            assert b.host.peers()[0].inbound
            # The py-libp2p queues we size really have our sizes (see GossipSettings).
            assert a.gossip.pubsub.peer_queues[b.host.peer_id]._queue.max_size == 8192
            port: GossipPort = a.gossip  # what consensus.service.ConsensusService takes
            assert port is a.gossip

            with trio.fail_after(STEP_TIMEOUT_S):
                message = prepare(a.key, 1)
                await a.gossip.broadcast(message)
                assert await b.gossip.receive() == message

                txs = [bytes([2]) + i.to_bytes(2, "big") * 50 for i in range(300)]
                assert await b.gossip.publish_txs(txs) == 1  # one message carries them all
                assert await a.gossip.receive_txs() == txs

                block = sealed_block(7, list(KEYS[:3]))
                await a.gossip.publish_block(block)
                assert await b.gossip.receive_block() == block
            # A node's own broadcasts are not delivered back to it.
            assert await nothing_arrives(a.gossip.receive, 0.3)

            latencies = []
            with trio.fail_after(STEP_TIMEOUT_S):
                for n in range(50):
                    message = prepare(a.key, 100 + n)
                    sent = time.perf_counter()
                    await a.gossip.broadcast(message)
                    assert await b.gossip.receive() == message
                    latencies.append(time.perf_counter() - sent)
            print(
                f"\n[p2p] 2 hosts: connect+subscribe+mesh {connect_s * 1000:.0f} ms; "
                f"QBFT one-way latency median {statistics.median(latencies) * 1000:.2f} ms "
                f"(max {max(latencies) * 1000:.2f} ms)"
            )

    run(main)


async def ring_of_four(ring: list[Node]) -> float:
    """Link four nodes in a ring (every message needs one forward to reach the far node)."""
    t0 = time.perf_counter()
    for i in range(4):
        await link(ring[i], ring[(i + 1) % 4])
    return time.perf_counter() - t0


def test_four_hosts_mesh_and_every_peer_gets_every_message() -> None:
    async def main() -> None:
        async with nodes(KEYS[:4]) as ring:
            connect_s = await ring_of_four(ring)
            assert all(node.host.peer_count() == 2 for node in ring)
            assert all(len(node.gossip.mesh_peers()) == 2 for node in ring)
            with trio.fail_after(STEP_TIMEOUT_S):
                for sender in ring:
                    message = prepare(sender.key, 1)
                    await sender.gossip.broadcast(message)
                    for node in ring:
                        if node is not sender:
                            assert await node.gossip.receive() == message
            print(f"\n[p2p] 4 hosts (ring): connect+subscribe+mesh {connect_s * 1000:.0f} ms")

    run(main)


BURST_STALL_S = 20.0
"""The burst fails when a peer has received nothing for this long: about 100 msg/s arrive at each
peer on an idle machine, 13 msg/s at load 9 (CI's two cores busy with the suite's other worker)."""
BURST_CAP_S = 300.0
"""And when the whole burst is not in by then, progress or not."""


@pytest.mark.slow
@pytest.mark.timeout(BURST_CAP_S + 60)
def test_burst_of_2000_qbft_messages_arrives_whole_at_every_peer() -> None:
    """With py-libp2p's defaults 20 of these 2,000 arrive (spam limit 10 msg/s), and with its
    queues of 32 about 1,500 (measured with this module's helpers, 2 hosts). The wait is on
    progress, not a fixed time: a silent drop leaves a peer short for good (a stall of
    BURST_STALL_S), while a loaded machine only delivers more slowly (18 s idle, over 60 s at
    load 9)."""

    async def main() -> None:
        count = 2000
        sent = [prepare(KEYS[0], n) for n in range(count)]
        async with nodes(KEYS[:4]) as ring:
            await ring_of_four(ring)
            got: dict[int, list[bytes]] = {i: [] for i in range(1, 4)}
            t0 = time.perf_counter()
            with trio.move_on_after(BURST_CAP_S):
                async with trio.open_nursery() as nursery:
                    for i in got:
                        nursery.start_soon(receive_n, ring[i].gossip, count, got[i], BURST_STALL_S)
                    for message in sent:
                        await ring[0].gossip.broadcast(message)
            elapsed = time.perf_counter() - t0
            for i in got:
                assert len(got[i]) == count, f"node {i} got {len(got[i])} of {count} in {elapsed:.0f} s"
                assert sorted(got[i]) == sorted(sent)
                assert ring[i].gossip.invalid_counts == {}
            print(
                f"\n[p2p] burst: {count} QBFT msgs to 3 peers (ring of 4, one trio loop) in "
                f"{elapsed:.2f} s ({count / elapsed:.0f} msg/s delivered to every peer), 0 lost"
            )

    run(main)


def test_garbage_is_not_forwarded_and_the_sender_is_banned() -> None:
    """attacker -> victim -> honest. The attacker is an allowlisted peer running a raw pubsub
    with no validators; the victim must drop its garbage, not forward it, and ban it."""
    settings = GossipSettings(max_qbft_bytes=64 * 1024, invalid_message_limit=8)
    good = prepare(KEYS[0], 1)
    garbage = [
        b"",
        b"\x00\x01\x02",  # not RLP
        rlp.encode([b"\x13", b"\x01"]),  # RLP, wrong shape
        rlp.encode([b"\x13", rlp.encode([1, 0, b"\x00" * 32]), b"\x01" * 64 + b"\x05"]),  # bad signature
        b"\xc0" * (64 * 1024 + 1),  # oversized
        rlp.encode([b"\x99", b"", b""]),  # unknown type
        good[:-1],  # truncated
        b"\xff" * 100,
        b"one more",
        b"and more",
    ]

    # Issue 14's per-topic gossip counters (one registry for every host in this process).
    counts = {what: gossip_count(what) for what in ("received", "forwarded", "rejected")}

    async def main() -> None:
        async with nodes(KEYS[:2], settings=settings) as (victim, honest):
            await link(honest, victim)
            attacker_host = P2PHost(KEYS[2].to_bytes(), PeerAllowlist(VALIDATORS), listen_port=0)
            pubsub, router = new_pubsub(attacker_host, settings)
            async with trio.open_nursery() as nursery:
                await nursery.start(attacker_host.run)
                async with background_trio_service(pubsub), background_trio_service(router):
                    await pubsub.wait_until_ready()
                    topic = victim.gossip.topics[Kind.QBFT]
                    await subscribe_sized(pubsub, topic, 64)
                    with trio.fail_after(STEP_TIMEOUT_S):
                        await attacker_host.connect(victim.host.listen_addrs()[0])
                        await victim.gossip.wait_for_mesh(attacker_host.peer_id, STEP_TIMEOUT_S)
                    await pubsub.publish(topic, good)  # a valid one first: delivered and forwarded
                    with trio.fail_after(STEP_TIMEOUT_S):
                        assert await victim.gossip.receive() == good
                        assert await honest.gossip.receive() == good
                    for data in garbage:
                        await pubsub.publish(topic, data)
                    with trio.fail_after(STEP_TIMEOUT_S):
                        while victim.host.is_connected(attacker_host.peer_id):
                            await trio.sleep(0.05)
                    assert victim.host.bans.active(attacker_host.peer_id)
                    assert victim.gossip.rejected[attacker_host.peer_id] >= settings.invalid_message_limit
                    assert honest.gossip.rejected == {}  # nothing reached it to reject
                    assert await nothing_arrives(victim.gossip.receive, 0.5)
                    assert await nothing_arrives(honest.gossip.receive, 0.5)
                    # Banned: a redial is refused after the handshake.
                    with pytest.raises(Exception, match=r"cannot connect|closed|timed out"):
                        await attacker_host.connect(victim.host.listen_addrs()[0])
                    assert victim.host.refused >= 1
                    # The victim stays healthy: honest traffic still flows both ways.
                    with trio.fail_after(STEP_TIMEOUT_S):
                        after = prepare(KEYS[1], 2)
                        await honest.gossip.broadcast(after)
                        assert await victim.gossip.receive() == after
                    rejected = victim.gossip.rejected[attacker_host.peer_id]
                    print(f"\n[p2p] garbage: victim rejected {rejected}, banned the sender, forwarded none")
                nursery.cancel_scope.cancel()

    run(main)
    grew = {what: gossip_count(what) - before for what, before in counts.items()}
    # good at the victim and at the honest node, after at the victim; every garbage message the
    # victim validated (before the ban took effect) rejected; nothing counted twice.
    assert grew["forwarded"] >= 3
    assert settings.invalid_message_limit <= grew["rejected"] <= len(garbage)
    assert grew["received"] >= grew["forwarded"] + grew["rejected"]


def gossip_count(what: str, topic: str = "qbft") -> float:
    return REGISTRY.get_sample_value(f"jsc_gossip_messages_{what}_total", {"topic": topic}) or 0.0


def test_a_malformed_pubsub_frame_bans_its_sender_and_the_node_keeps_running() -> None:
    """Below the gossip payloads: a peer writing a frame that is not a pubsub protobuf at all.
    py-libp2p's own handler lets the DecodeError end the whole host; ours contains it."""

    async def main() -> None:
        async with nodes([KEYS[0], KEYS[1], KEYS[2]]) as (victim, attacker, honest):
            await link(attacker, victim)
            await link(honest, victim)
            with trio.fail_after(STEP_TIMEOUT_S):
                stream = await attacker.host.libp2p.new_stream(
                    victim.host.peer_id, [TProtocol(PROTOCOL_ID_V11)]
                )
                await stream.write(bytes([5]) + b"\xff\xff\xff\xff\xff")  # varint length 5, junk
                while not victim.host.bans.active(attacker.host.peer_id):
                    await trio.sleep(0.05)
            assert victim.gossip.malformed_frames == 1
            with trio.fail_after(STEP_TIMEOUT_S):
                while attacker.host.peer_id in victim.host.connected_peers():
                    await trio.sleep(0.05)
            await honest.gossip.broadcast(prepare(KEYS[2], 1))
            with trio.fail_after(STEP_TIMEOUT_S):
                assert await victim.gossip.receive() == prepare(KEYS[2], 1)

    run(main)
