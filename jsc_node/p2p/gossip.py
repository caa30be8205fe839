"""Gossipsub topics of one chain, validated before they are forwarded.

Topics (``<id>`` is the chain id in decimal):
- ``/jsc/<id>/txs/1``     a BATCH of raw transactions: ``RLP([tx, tx, ...])``, each tx its raw
  signed bytes (typed ``type || payload`` or legacy RLP). Gossip cost is per message, not per
  byte (FIELD-NOTES: ~1,000 msg/s at best), so transactions always travel many to a message.
- ``/jsc/<id>/blocks/1``  one committed block's RLP, commit seals in its extraData.
- ``/jsc/<id>/qbft/1``    one QBFT message (``consensus/messages.py`` envelope).

Validation (a py-libp2p topic validator, run before a message is delivered or forwarded):
size limit per topic, exactly one topic per message, decodes, and for consensus messages and
block seals the signer is a validator (``is_validator``, supplied by the caller). Two outcomes
on failure, as in go-libp2p's Reject/Ignore: *reject* (malformed, bad signature, oversized)
drops the message and counts against the peer that forwarded it; *ignore* (a signer outside the
caller's current validator set, which honest peers at a validator-set change can forward) drops
it without blame. A peer with ``invalid_message_limit`` rejections is banned by the host
(disconnected, refused for ``ban_s``). Chain id: topics carry it, and a node subscribes only to
its own chain's topics; py-libp2p ignores messages on topics it is not subscribed to.

py-libp2p 0.8.1 drops messages silently in several places; every one is set explicitly in
``GossipSettings`` with the number we chose and why. Measured on this machine: see the tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import rlp
import trio
from libp2p.peer.id import ID
from libp2p.pubsub import pubsub as pubsub_module
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue
from libp2p.tools.anyio_service import background_trio_service

from jsc_node.consensus.block import decode_block, recover_seal_signers
from jsc_node.consensus.messages import decode_message
from jsc_node.errors import InvalidBlock, InvalidGossip, InvalidMessage, P2PError
from jsc_node.metrics.registry import gossip_counters
from jsc_node.p2p.host import P2PHost

log = logging.getLogger("jsc_node.p2p")

MiB = 1024 * 1024


class Kind(Enum):
    TXS = "txs"
    BLOCKS = "blocks"
    QBFT = "qbft"


def topic_name(chain_id: int, kind: Kind) -> str:
    return f"/jsc/{chain_id}/{kind.value}/1"


@dataclass(frozen=True)
class GossipSettings:
    """Every gossip limit in one place. The first group replaces py-libp2p 0.8.1 defaults that
    drop messages with at most a DEBUG/WARNING log line (FIELD-NOTES); the 2,000-message burst
    test (tests/integration/test_p2p_gossip.py) is their regression test."""

    # -- py-libp2p silent drops ----------------------------------------------------------------
    subscription_queue: int = 8192
    """Per-topic delivery channel (py-libp2p ``SUBSCRIPTION_CHANNEL_SIZE`` 32, overflow dropped
    with a WARNING). Holds a 2,000-message burst four times over while the consumer is busy."""
    outbound_queue: int = 8192
    """Per-peer outbound RPC queue (py-libp2p ``RpcQueue`` 32, overflow dropped at DEBUG). Our
    own publishes also wait while any queue is over half full (``publish_wait_max_s``)."""
    pending_per_peer: int = 1024
    """Messages held for a peer whose subscription has not arrived yet (py-libp2p 100, oldest
    dropped)."""
    spam_protection: bool = False
    """py-libp2p's per-forwarder rate limit (default on, 10 msg/s per topic) also drops our own
    publishes (4 of 1,000 arrived). Off: peers are permissioned and scored by invalid messages."""
    max_messages_per_topic_per_second: float = 100_000.0
    """Only read if ``spam_protection`` is turned on."""
    eclipse_protection: bool = False
    """py-libp2p's mesh IP-diversity rule (default 3 distinct IPs) means nothing between a few
    known validators, several of them on one host in tests and in docker/compose."""
    adaptive_gossip: bool = False
    """py-libp2p re-tunes mesh degree and heartbeat from a "health" score; we want fixed ones."""
    max_rpc_bytes: int = 12 * MiB
    """Largest pubsub RPC frame, in and out (py-libp2p 1 MiB: a larger frame resets the stream,
    a larger outbound message is dropped). Above the largest topic limit plus framing."""

    # -- topic limits (reject above) -----------------------------------------------------------
    max_qbft_bytes: int = 10 * MiB
    """A proposal carries its block plus a justification of signed round changes and prepares."""
    max_block_bytes: int = 8 * MiB
    """A 30M-gas block of zero-byte calldata at the EIP-7623 floor (10 gas/byte) is ~3 MB."""
    max_tx_batch_bytes: int = 2 * MiB
    max_tx_bytes: int = 128 * 1024
    """geth's txMaxSize."""
    max_txs_per_batch: int = 1024

    # -- peer scoring --------------------------------------------------------------------------
    invalid_message_limit: int = 10
    """Rejected messages a forwarding peer may send before the host bans it."""
    ban_s: float = 600.0

    # -- mesh ------------------------------------------------------------------------------------
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    heartbeat_interval_s: int = 1
    """py-libp2p default 120 s; mesh repair after a peer loss should take seconds."""
    seen_ttl_s: int = 120
    publish_wait_max_s: float = 2.0
    """How long our own publish waits for a congested peer's outbound queue before going ahead
    (that peer then drops at its queue limit; a consensus broadcast must not block forever)."""


# --- codecs -----------------------------------------------------------------------------------


def encode_tx_batch(raw_txs: Sequence[bytes]) -> bytes:
    encoded: bytes = rlp.encode(list(raw_txs))
    return encoded


def decode_tx_batch(data: bytes, settings: GossipSettings) -> list[bytes]:
    """Raises InvalidGossip naming the rule broken."""
    if len(data) > settings.max_tx_batch_bytes:
        raise InvalidGossip("tx batch size", got=len(data), expected=f"<= {settings.max_tx_batch_bytes}")
    try:
        items = rlp.decode(data, strict=True)
    except (rlp.DecodingError, rlp.DeserializationError) as exc:
        raise InvalidGossip(f"tx batch is not valid RLP: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise InvalidGossip("tx batch must be a non-empty RLP list")
    if len(items) > settings.max_txs_per_batch:
        raise InvalidGossip("tx batch count", got=len(items), expected=f"<= {settings.max_txs_per_batch}")
    for item in items:
        if not isinstance(item, bytes) or not item:
            raise InvalidGossip("tx batch item must be a non-empty RLP string")
        if len(item) > settings.max_tx_bytes:
            raise InvalidGossip("tx size", got=len(item), expected=f"<= {settings.max_tx_bytes}")
    return items


def split_tx_batches(raw_txs: Sequence[bytes], settings: GossipSettings) -> list[list[bytes]]:
    """Group raw txs into batches under the count and byte limits (RLP framing included)."""
    batches: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    budget = settings.max_tx_batch_bytes - 9  # the list's own RLP header
    for tx in raw_txs:
        if not tx or len(tx) > settings.max_tx_bytes:
            raise InvalidGossip("tx size", got=len(tx), expected=f"1..{settings.max_tx_bytes}")
        cost = len(rlp.encode(tx))
        if current and (len(current) >= settings.max_txs_per_batch or size + cost > budget):
            batches.append(current)
            current, size = [], 0
        current.append(tx)
        size += cost
    if current:
        batches.append(current)
    return batches


class Verdict(Enum):
    ACCEPT = "accept"
    IGNORE = "ignore"
    """Drop without blaming the forwarder (go-libp2p ValidationIgnore)."""


def message_limit(kind: Kind, settings: GossipSettings) -> int:
    if kind is Kind.QBFT:
        return settings.max_qbft_bytes
    if kind is Kind.BLOCKS:
        return settings.max_block_bytes
    return settings.max_tx_batch_bytes


def validate_size(kind: Kind, data: bytes, settings: GossipSettings) -> None:
    limit = message_limit(kind, settings)
    if len(data) > limit:
        raise InvalidGossip(f"{kind.value} message size", got=len(data), expected=f"<= {limit}")


def validate_gossip(
    kind: Kind, data: bytes, settings: GossipSettings, is_validator: Callable[[bytes], bool]
) -> Verdict:
    """Raises InvalidGossip, InvalidMessage or InvalidBlock for a message to reject (the
    forwarder is blamed); returns IGNORE for one to drop without blame."""
    validate_size(kind, data, settings)
    if kind is Kind.TXS:
        decode_tx_batch(data, settings)
    elif kind is Kind.QBFT:
        message = decode_message(data)
        if not is_validator(message.sender):
            log.debug("consensus message signed by non-validator 0x%s", message.sender.hex())
            return Verdict.IGNORE
    else:
        block = decode_block(data)
        if not block.extra.seals:
            raise InvalidGossip("committed block without commit seals")
        for signer in recover_seal_signers(block):
            if not is_validator(signer):
                log.debug("block %d sealed by non-validator 0x%s", block.number, signer.hex())
                return Verdict.IGNORE
    return Verdict.ACCEPT


# --- the gossip service -----------------------------------------------------------------------


class _SizedQueues(dict[ID, RpcQueue]):
    """``Pubsub.peer_queues``: sizes each per-peer outbound queue as py-libp2p registers it
    (``Pubsub._handle_new_peer`` builds ``RpcQueue()`` with the 32-RPC default, then stores it
    here before any message is queued)."""

    def __init__(self, max_size: int, max_message_size: int) -> None:
        super().__init__()
        self.max_size = max_size
        self.max_message_size = max_message_size

    def __setitem__(self, peer_id: ID, queue: RpcQueue) -> None:
        queue._queue.max_size = self.max_size
        queue.max_message_size = self.max_message_size
        super().__setitem__(peer_id, queue)


def new_pubsub(host: P2PHost, settings: GossipSettings) -> tuple[Pubsub, GossipSub]:
    """A py-libp2p Pubsub + GossipSub pair with every limit of ``settings`` applied."""
    router = GossipSub(
        # meshsub 1.1 only: 1.2+ sends an IDONTWANT control message to every mesh peer for every
        # message received (cost is per message), 1.3+ adds extension handshakes we do not use.
        protocols=[PROTOCOL_ID_V11],
        degree=settings.degree,
        degree_low=settings.degree_low,
        degree_high=settings.degree_high,
        heartbeat_interval=settings.heartbeat_interval_s,
        adaptive_gossip_enabled=settings.adaptive_gossip,
        spam_protection_enabled=settings.spam_protection,
        max_messages_per_topic_per_second=settings.max_messages_per_topic_per_second,
        eclipse_protection_enabled=settings.eclipse_protection,
        max_pending_messages_per_peer=settings.pending_per_peer,
    )
    pubsub = Pubsub(
        host.libp2p,
        router,
        seen_ttl=settings.seen_ttl_s,
        strict_signing=True,
        max_inbound_rpc_size=settings.max_rpc_bytes,
    )
    if not isinstance(pubsub.peer_queues, dict) or not hasattr(RpcQueue(), "_queue"):
        raise P2PError("py-libp2p pubsub internals changed: cannot size the outbound queues")
    pubsub.peer_queues = _SizedQueues(settings.outbound_queue, settings.max_rpc_bytes)
    # Message IDs are origin peer ID + seqno, and py-libp2p starts seqno at the Unix time in
    # seconds, +1 per publish: a node restarted after publishing faster than 1 msg/s would reuse
    # seqnos, and peers drop those as already seen (seen_ttl) or as equivocation. Nanoseconds
    # keep seqnos increasing across restarts (and fit the 8-byte seqno).
    pubsub.counter = time.time_ns()
    return pubsub, router


async def subscribe_sized(pubsub: Pubsub, topic: str, size: int) -> Any:
    """``Pubsub.subscribe`` with a delivery channel of ``size`` instead of the module's 32: the
    channel is built from ``SUBSCRIPTION_CHANNEL_SIZE`` before subscribe's first checkpoint, so
    setting it around the call affects this subscription alone."""
    previous = pubsub_module.SUBSCRIPTION_CHANNEL_SIZE
    pubsub_module.SUBSCRIPTION_CHANNEL_SIZE = size
    try:
        subscription: Any = await pubsub.subscribe(topic)
    finally:
        pubsub_module.SUBSCRIPTION_CHANNEL_SIZE = previous
    got = subscription.receive_channel.statistics().max_buffer_size
    if got != size:
        raise P2PError(f"subscription channel for {topic}: got size {got}, expected {size}")
    return subscription


class Gossip:
    """The three topics of one chain on a running ``P2PHost``. Start with
    ``await nursery.start(gossip.run)`` after the host is running.

    ``broadcast``/``receive`` are the QBFT topic (``consensus.service.GossipPort``); a node's own
    messages are not delivered back to it."""

    def __init__(
        self,
        host: P2PHost,
        chain_id: int,
        is_validator: Callable[[bytes], bool],
        settings: GossipSettings | None = None,
    ) -> None:
        self.host = host
        self.chain_id = chain_id
        self.is_validator = is_validator
        self.settings = settings or GossipSettings()
        self.topics = {kind: topic_name(chain_id, kind) for kind in Kind}
        self.pubsub, self.router = new_pubsub(host, self.settings)
        # py-libp2p's pubsub stream handler lets a protobuf DecodeError (any peer writing a
        # malformed RPC frame) escape into the swarm's nursery, which ends the whole host: the
        # consensus process exited. Our handler contains it and bans the peer.
        for protocol in self.router.get_protocols():
            host.libp2p.set_stream_handler(protocol, self._guarded_stream_handler)
        self.malformed_frames = 0
        self._own_id = host.peer_id.to_bytes()
        self._subscriptions: dict[Kind, Any] = {}
        self._nursery: trio.Nursery | None = None
        self.invalid_counts: dict[ID, int] = {}
        """Rejected messages per forwarding peer toward the ban limit (reset when banned)."""
        self.rejected: dict[ID, int] = {}
        """Rejected messages per forwarding peer since start."""
        self.ignored = 0
        self.published = dict.fromkeys(Kind, 0)
        self.delivered = dict.fromkeys(Kind, 0)

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with (
            background_trio_service(self.pubsub),
            background_trio_service(self.router),
            trio.open_nursery() as nursery,
        ):
            self._nursery = nursery
            await self.pubsub.wait_until_ready()
            for kind, topic in self.topics.items():
                self.pubsub.set_topic_validator(topic, self._validator(kind), False)
                self._subscriptions[kind] = await subscribe_sized(
                    self.pubsub, topic, self.settings.subscription_queue
                )
            task_status.started()
            await trio.sleep_forever()

    async def wait_for_mesh(self, peer_id: ID, timeout_s: float = 5.0, kind: Kind = Kind.QBFT) -> None:
        """Until ``peer_id`` is in our mesh for a topic; raises trio.TooSlowError."""
        await self.pubsub.wait_for_mesh(peer_id, self.topics[kind], timeout_s)

    def mesh_peers(self, kind: Kind = Kind.QBFT) -> set[ID]:
        return set(self.router.mesh.get(self.topics[kind], set()))

    # -- QBFT (consensus.service.GossipPort) -------------------------------------------------

    async def broadcast(self, message: bytes) -> None:
        self._check_size(Kind.QBFT, message)
        await self._publish(Kind.QBFT, message)

    async def receive(self) -> bytes:
        return await self._receive(Kind.QBFT)

    # -- transactions --------------------------------------------------------------------------

    async def publish_txs(self, raw_txs: Sequence[bytes]) -> int:
        """Publish raw transactions in as few messages as the limits allow; returns how many."""
        batches = split_tx_batches(raw_txs, self.settings)
        for batch in batches:
            await self._publish(Kind.TXS, encode_tx_batch(batch))
        return len(batches)

    async def receive_txs(self) -> list[bytes]:
        """The raw transactions of one batch from a peer (already checked by the validator)."""
        return decode_tx_batch(await self._receive(Kind.TXS), self.settings)

    # -- blocks ----------------------------------------------------------------------------------

    async def publish_block(self, block: bytes) -> None:
        self._check_size(Kind.BLOCKS, block)
        await self._publish(Kind.BLOCKS, block)

    async def receive_block(self) -> bytes:
        return await self._receive(Kind.BLOCKS)

    # -- plumbing ------------------------------------------------------------------------------

    def _check_size(self, kind: Kind, data: bytes) -> None:
        validate_size(kind, data, self.settings)

    async def _publish(self, kind: Kind, data: bytes) -> None:
        if self._nursery is None:
            raise P2PError("gossip is not running")
        await self._wait_for_outbound_room()
        await self.pubsub.publish(self.topics[kind], data)
        self.published[kind] += 1
        # Pubsub.publish queues without a checkpoint; yield so a burst cannot starve readers.
        await trio.lowlevel.checkpoint()

    async def _wait_for_outbound_room(self) -> None:
        high_water = self.settings.outbound_queue // 2
        with trio.move_on_after(self.settings.publish_wait_max_s):
            while any(len(queue) >= high_water for queue in self.pubsub.peer_queues.values()):
                await trio.sleep(0.005)

    async def _receive(self, kind: Kind) -> bytes:
        subscription = self._subscriptions.get(kind)
        if subscription is None:
            raise P2PError("gossip is not running")
        while True:
            msg = await subscription.get()
            if msg.from_id == self._own_id:
                continue  # py-libp2p delivers our own publishes to our subscription too
            self.delivered[kind] += 1
            data: bytes = msg.data
            return data

    # -- validation ------------------------------------------------------------------------------

    def _validator(self, kind: Kind) -> Callable[[ID, Any], bool]:
        topic = self.topics[kind]
        # Issue 14: per topic, the messages first seen (py-libp2p validates no duplicate), refused
        # and accepted (so forwarded to the mesh).
        received, forwarded, rejected = gossip_counters(kind.value)

        def validate(forwarder: ID, msg: Any) -> bool:
            if forwarder == self.host.peer_id:
                return True  # our own publish: checked before publishing
            received.inc()
            if not self.host.admits(forwarder):
                rejected.inc()
                return False  # banned, or left the allowlist and not yet disconnected
            try:
                if list(msg.topicIDs) != [topic]:
                    raise InvalidGossip("message topics", got=list(msg.topicIDs), expected=[topic])
                verdict = validate_gossip(kind, msg.data, self.settings, self.is_validator)
            except (InvalidGossip, InvalidMessage, InvalidBlock) as exc:
                rejected.inc()
                self._reject(forwarder, kind, exc)
                return False
            except Exception:
                # A bug of ours, not the peer's fault. py-libp2p does not catch exceptions from a
                # sync validator: one escaping here would end its message task, so drop instead.
                log.exception("validating a %s message from %s failed", kind.value, forwarder)
                return False
            if verdict is Verdict.IGNORE:
                self.ignored += 1
                return False
            forwarded.inc()
            return True

        return validate

    async def _guarded_stream_handler(self, stream: Any) -> None:
        peer_id: ID = stream.muxed_conn.peer_id
        try:
            await self.pubsub.stream_handler(stream)
        except Exception as exc:  # DecodeError and whatever else a malformed frame raises
            self.malformed_frames += 1
            log.warning("malformed pubsub frame from %s: %s: %s", peer_id, type(exc).__name__, exc)
            try:
                await stream.reset()
            except Exception as reset_exc:  # the muxer may have closed it already
                log.debug("resetting pubsub stream of %s: %s", peer_id, reset_exc)
            self.pubsub._handle_dead_peer(peer_id)
            # Never sent by an honest peer (a frame is read whole before it is parsed): ban now.
            if self._nursery is not None:
                reason = f"malformed pubsub frame ({type(exc).__name__})"
                self._nursery.start_soon(self.host.ban, peer_id, self.settings.ban_s, reason)

    def _reject(self, forwarder: ID, kind: Kind, error: Exception) -> None:
        count = self.invalid_counts.get(forwarder, 0) + 1
        self.invalid_counts[forwarder] = count
        self.rejected[forwarder] = self.rejected.get(forwarder, 0) + 1
        log.info("rejected %s message from %s (%d): %s", kind.value, forwarder, count, error)
        if count >= self.settings.invalid_message_limit and self._nursery is not None:
            self.invalid_counts[forwarder] = 0
            reason = f"{count} invalid gossip messages, last: {error}"
            self._nursery.start_soon(self.host.ban, forwarder, self.settings.ban_s, reason)


__all__ = [
    "Gossip",
    "GossipSettings",
    "Kind",
    "Verdict",
    "decode_tx_batch",
    "encode_tx_batch",
    "new_pubsub",
    "split_tx_batches",
    "subscribe_sized",
    "topic_name",
    "validate_gossip",
]
