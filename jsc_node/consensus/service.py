"""The one driver of the QBFT engine (trio).

Every input reaches the engine through one memory channel, as an event: gossip messages, timer
expiries, the execution side's answers (block built, validated) and what it pushes over the seam
(the pool's pending-transaction count, the operator's validator votes). The engine's actions are
carried out in order; an own message is made durable (``OwnMessageLog``) before it is broadcast,
so a validator restarted mid-round never signs two different messages for one height and round
(CometBFT's WAL rule, STYLE.md).

Ports: ``ExecutionPort`` (the seam client), ``GossipPort`` (libp2p in production, in-memory in
tests). This module is the only one in consensus/ that may use trio, files or the clock.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import rlp
import trio

from jsc_node.consensus.block import QbftBlock, decode_block
from jsc_node.consensus.engine import QbftEngine
from jsc_node.consensus.events import (
    Action,
    BlockBuilt,
    BlockValidated,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Event,
    Head,
    MessageDropped,
    MessageReceived,
    NewHead,
    PendingTxs,
    PersistOwnMessage,
    ProposeVote,
    RequestSync,
    ScheduleTimeout,
    SealedBlockReceived,
    Start,
    Timeout,
    ValidateBlock,
)
from jsc_node.consensus.messages import decode_message
from jsc_node.consensus.rules import validate_sealed_block
from jsc_node.consensus.validators import ValidatorHistory
from jsc_node.errors import InvalidBlock, InvalidMessage, InvalidProposalBlock, SeamError
from jsc_node.seam import messages as seam

log = logging.getLogger("jsc_node.consensus")

EVENT_QUEUE_SIZE = 4096
HEADER_BATCH = 512
_LENGTH = struct.Struct(">I")


class ExecutionPort(Protocol):
    """The execution process as the service uses it (jsc_node/seam/client.py's SeamClient). What
    execution pushes reaches the service through ``on_execution_event``."""

    async def head(self) -> seam.HeaderSummary: ...

    async def headers(self, start: int, count: int) -> tuple[bytes, ...]: ...

    async def build_block(
        self, parent: bytes, timestamp: int, coinbase: bytes, extra_data: bytes
    ) -> seam.BuiltBlock: ...

    async def validate_block(self, block: bytes) -> seam.BlockValid: ...

    async def commit_block(self, block: bytes) -> seam.BlockCommitted: ...


class GossipPort(Protocol):
    async def broadcast(self, message: bytes) -> None: ...

    async def receive(self) -> bytes: ...


class BlockGossipPort(Protocol):
    """Committed blocks with their seals, for peers that missed the round (and RPC nodes)."""

    async def publish_block(self, block: bytes) -> None: ...

    async def receive_block(self) -> bytes: ...


class ServiceObserver(Protocol):
    """What a metrics observer hears (jsc_node/metrics/consensus.py): each engine step, with the
    engine as it is after it, and each block about to extend the history."""

    def stepped(self, event: Event, engine: QbftEngine) -> None: ...

    def committing(self, block: QbftBlock, history: ValidatorHistory) -> None: ...


class NoPeers:
    """Gossip for a validator alone: nothing to send to, nothing arrives."""

    async def broadcast(self, message: bytes) -> None:
        return None

    async def receive(self) -> bytes:
        await trio.sleep_forever()
        raise AssertionError("unreachable")


class OwnMessageLog:
    """Append-only, fsynced record of this validator's own consensus messages at the current
    height. Reset when the chain moves past that height."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> list[PersistOwnMessage]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records: list[PersistOwnMessage] = []
        offset = 0
        while offset + _LENGTH.size <= len(data):
            (length,) = _LENGTH.unpack_from(data, offset)
            end = offset + _LENGTH.size + length
            if end > len(data):
                break  # torn last record: the message was never broadcast
            try:
                message, certificate = rlp.decode(data[offset + _LENGTH.size : end])
            except (rlp.DecodingError, ValueError):
                break
            records.append(PersistOwnMessage(message, certificate))
            offset = end
        return records

    def append(self, record: PersistOwnMessage) -> None:
        body = rlp.encode([record.message, record.prepared_certificate])
        with open(self.path, "ab") as f:
            f.write(_LENGTH.pack(len(body)) + body)
            f.flush()
            os.fsync(f.fileno())

    def reset(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(b"")
        os.replace(tmp, self.path)


def _describe(item: Event | Action) -> str:
    """One short line per engine event/action for the DEBUG trace."""
    raw = getattr(item, "message", None)
    if isinstance(item, (MessageReceived, Broadcast)) and isinstance(raw, bytes):
        try:
            msg = decode_message(raw)
        except InvalidMessage:
            return f"{type(item).__name__}(undecodable)"
        return (
            f"{type(item).__name__}({type(msg).__name__} h={msg.height} r={msg.round} "
            f"from=0x{msg.sender.hex()[:8]})"
        )
    if isinstance(item, (BlockBuilt, SealedBlockReceived, CommitBlock, ValidateBlock)):
        return f"{type(item).__name__}(...)"
    if isinstance(item, PersistOwnMessage):
        return "PersistOwnMessage"
    return repr(item)[:160]


class ConsensusService:
    def __init__(
        self,
        engine: QbftEngine,
        execution: ExecutionPort,
        gossip: GossipPort,
        own_messages: OwnMessageLog,
        epoch_length: int,
        clock: Any = time.time,
        blocks: BlockGossipPort | None = None,
        on_new_head: Callable[[Head], Awaitable[None]] | None = None,
        on_request_sync: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.execution = execution
        self.gossip = gossip
        self.own_messages = own_messages
        self.epoch_length = epoch_length
        self.clock = clock
        self.blocks = blocks
        self.on_new_head = on_new_head
        self.on_request_sync = on_request_sync
        self.history: ValidatorHistory | None = None
        self.genesis_hash = b""
        # One commit at a time: the engine's CommitBlock and block sync both extend the head.
        self._commit_lock = trio.Lock()
        self._send, self._receive = trio.open_memory_channel[Event](EVENT_QUEUE_SIZE)
        self._nursery: trio.Nursery | None = None
        self.committed = 0
        # What execution last told (on_execution_event), until _follow_execution passes it on.
        self._pending: int | None = None
        self._votes: dict[bytes, bool] = {}
        self._execution_changed = trio.Event()
        self.observer: ServiceObserver | None = None

    # -- startup -----------------------------------------------------------------------------

    async def load_history(self) -> Head:
        """Replay validator votes from genesis to head (header extraData only)."""
        head = await self.execution.head()
        genesis = await self.execution.headers(0, 1)
        history = ValidatorHistory.replay(genesis[0], self.epoch_length)
        self.genesis_hash = history.head.onchain_hash
        number = 1
        while number <= head.number:
            batch = await self.execution.headers(number, HEADER_BATCH)
            history.extend(batch)
            number += len(batch)
            if not batch:
                raise SeamError(f"execution returned no headers from {number}")
        self.history = history
        return history.as_head()

    # -- events ------------------------------------------------------------------------------

    async def submit(self, event: Event) -> None:
        await self._send.send(event)

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        head = self.history.as_head() if self.history is not None else await self.load_history()
        self.engine.restore(self.own_messages.load())
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._follow_execution)
            nursery.start_soon(self._read_gossip)
            if self.blocks is not None:
                nursery.start_soon(self._read_blocks)
            await self._handle(Start(head))
            task_status.started()
            async for event in self._receive:
                await self._handle(event)

    def on_execution_event(self, event: seam.Event) -> None:
        """An event execution pushed (the seam client's reader calls this: it must not block).
        Only the latest count and vote set are kept; ``_follow_execution`` passes changes on."""
        if isinstance(event, seam.PendingChanged):
            self._pending = event.count
        elif isinstance(event, seam.HeadChanged):
            self._pending = event.pending
        elif isinstance(event, seam.VoteProposed):
            self._votes[event.address] = event.add
        elif isinstance(event, seam.VoteDiscarded):
            self._votes.pop(event.address, None)
        else:
            return
        self._execution_changed.set()

    async def _follow_execution(self) -> None:
        """The pool's executable count and the operator's validator votes, as execution pushes
        them, to the engine: a count when it differs from the last one passed on, a vote when it
        is new, changed or withdrawn."""
        last = -1
        votes: dict[bytes, bool] = {}
        while True:
            await self._execution_changed.wait()
            self._execution_changed = trio.Event()
            if self._pending is not None and self._pending != last:
                last = self._pending
                await self.submit(PendingTxs(last))
            wanted = dict(self._votes)
            for address in votes.keys() - wanted.keys():
                await self.submit(ProposeVote(address, None))
            for address, add in wanted.items():
                if votes.get(address) != add:
                    await self.submit(ProposeVote(address, add))
            votes = wanted

    async def _read_gossip(self) -> None:
        while True:
            message = await self.gossip.receive()
            await self.submit(MessageReceived(message))

    async def _read_blocks(self) -> None:
        assert self.blocks is not None
        while True:
            block = await self.blocks.receive_block()
            await self.submit(SealedBlockReceived(block))

    async def _handle(self, event: Event) -> None:
        actions = self.engine.step(event, self.clock())
        if self.observer is not None:
            self.observer.stepped(event, self.engine)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "engine h=%s r=%s %s -> %s",
                self.engine.height,
                self.engine.round,
                _describe(event),
                ", ".join(_describe(a) for a in actions) or "-",
            )
        for action in actions:
            await self._carry_out(action)

    # -- actions -----------------------------------------------------------------------------

    async def _carry_out(self, action: Action) -> None:
        if isinstance(action, PersistOwnMessage):
            await trio.to_thread.run_sync(self.own_messages.append, action)
        elif isinstance(action, Broadcast):
            await self.gossip.broadcast(action.message)
        elif isinstance(action, ScheduleTimeout):
            assert self._nursery is not None
            self._nursery.start_soon(self._timer, action)
        elif isinstance(action, BuildBlock):
            assert self._nursery is not None
            self._nursery.start_soon(self._build, action)
        elif isinstance(action, ValidateBlock):
            assert self._nursery is not None
            self._nursery.start_soon(self._validate, action)
        elif isinstance(action, CommitBlock):
            await self._commit(action)
        elif isinstance(action, RequestSync):
            if self.on_request_sync is not None:
                log.debug("peers are at height %d: syncing", action.height)
                self.on_request_sync(action.height)
            else:
                log.info("peers are at height %d and this node has no block sync", action.height)
        elif isinstance(action, MessageDropped):
            if isinstance(action.error, InvalidProposalBlock):
                # A proposer broke a chain rule (execution refused its block): an operator wants to
                # see it, as Besu logs "Invalid Proposal Payload" at INFO. Stale or early messages
                # are routine and stay at DEBUG.
                log.warning("refused a proposal: %s", action.error)
            else:
                log.debug("dropped consensus message: %s (%s)", action.reason, action.error)

    async def _timer(self, action: ScheduleTimeout) -> None:
        await trio.sleep(max(0.0, action.at - self.clock()))
        await self.submit(Timeout(action.height, action.round, action.kind))

    async def _build(self, action: BuildBlock) -> None:
        try:
            built = await self.execution.build_block(
                action.parent_hash, action.timestamp, self.engine.address, action.extra_data
            )
        except SeamError as exc:
            if self.history is not None and self.history.head.onchain_hash != action.parent_hash:
                # The head moved (sync or a peer's sealed block) while the request was queued.
                log.debug("dropped stale build of block %d: %s", action.height, exc)
            else:
                log.warning("building block %d failed: %s", action.height, exc)
            return
        except InvalidBlock as exc:
            # Execution refuses to build a block it would reject (issue 12: this node's own vote
            # adds an address without a valid attestation). No proposal: the round times out and
            # the next proposer proposes.
            log.warning("not proposing block %d: %s", action.height, exc)
            return
        await self.submit(BlockBuilt(built.block))

    async def _validate(self, action: ValidateBlock) -> None:
        try:
            await self.execution.validate_block(action.block)
        except InvalidBlock as exc:
            await self.submit(BlockValidated(action.digest, False, str(exc)))
            return
        await self.submit(BlockValidated(action.digest, True))

    async def _commit(self, action: CommitBlock) -> None:
        async with self._commit_lock:
            assert self.history is not None
            block = decode_block(action.block)
            if block.number <= self.history.head.number:
                return  # already held (a peer's gossip, or sync, committed it first)
            head = await self._commit_locked(action.block, block, publish=True)
        # Outside the lock: the event channel may be full while the run loop waits for the lock.
        await self.submit(NewHead(head))

    async def import_synced_block(self, raw: bytes) -> bool:
        """Block sync: commit a peer's block that extends the head once it passes
        ``rules.validate_sealed_block`` against the head (the execution side then re-executes it
        and checks every header field). Returns False when the block is held already; raises
        InvalidBlock (InvalidSeal) otherwise."""
        block = decode_block(raw)
        async with self._commit_lock:
            assert self.history is not None
            if block.number <= self.history.head.number:
                return False
            validate_sealed_block(block, self.history.as_head())
            new_head = await self._commit_locked(raw, block, publish=False)
        await self.submit(NewHead(new_head))
        return True

    async def _commit_locked(self, raw: bytes, block: QbftBlock, *, publish: bool) -> Head:
        assert self.history is not None
        validator = self.engine.address in self.history.validators_at(block.number)
        await self.execution.commit_block(raw)
        if self.observer is not None:
            self.observer.committing(block, self.history)
        self.history.append(block)
        self.committed += 1
        await trio.to_thread.run_sync(self.own_messages.reset)
        head = self.history.as_head()
        if publish and self.blocks is not None and validator:
            # Validators pass the sealed block on: peers that missed the round's messages and
            # RPC nodes commit it from this (SealedBlockReceived).
            await self.blocks.publish_block(raw)
        if self.on_new_head is not None:
            await self.on_new_head(head)
        return head
