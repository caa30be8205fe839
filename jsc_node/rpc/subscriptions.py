"""Chain events for JSON-RPC clients: the event hub and WebSocket subscriptions (``eth_subscribe``).

Pure asyncio, no py-evm: the execution process publishes neutral events (``jsc_node.views``
:class:`NewHeadEvent`, :class:`NewLogsEvent`, :class:`NewPendingTxsEvent`) on its event loop and
:class:`EventHub` hands them to listeners: the subscriptions of each WebSocket connection
(:class:`ConnectionSubscriptions`) and the HTTP filters (``rpc/filters.py``). Publishing never
waits for a client: a listener only appends to a bounded buffer.

Subscriptions follow geth (``eth/filters/api.go``):

- ``newHeads``: one notification per committed block, the header as ``eth_getHeaderByHash``.
- ``logs`` (criteria ``address``/``topics``/``fromBlock``/``toBlock``): one notification per
  matching log of each new block; no historical logs.
- ``newPendingTransactions``: one notification per transaction that became pending, its hash, or
  with ``true`` the transaction object (block fields ``null``).
- ``syncing``: when the node starts catching up with its peers (block sync),
  ``{"syncing": true, "status": {"startingBlock", "currentBlock", "highestBlock"}}`` (hex, as
  ``eth_syncing``), and ``false`` when it has caught up (geth sends its downloader's start and
  done events the same way).

A notification is ``{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":
id,"result":...}}``; ids are geth's: 16 random bytes, ``0x``-hex without leading zeros. A
subscription is created paused and starts only once the answer carrying its id is queued, so the
client never sees a notification for an id it does not know yet (geth does the same).

Bounds (per WebSocket connection; the connection count is bounded in ``rpc/app.py``):

- :data:`MAX_SUBSCRIPTIONS_PER_CONNECTION` subscriptions (more: -32005);
- an outbound queue of :data:`WS_MAX_QUEUED_MESSAGES` messages or :data:`WS_MAX_QUEUED_BYTES`
  bytes. Answers to requests wait for room (back-pressure: reading pauses); a notification that
  finds the queue full marks the client too slow and the connection is closed (1008), its
  subscriptions dropped. A client must read as fast as the chain produces events.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import orjson

from jsc_node.errors import (
    InvalidFilter,
    InvalidParams,
    SubscriptionLimitExceeded,
    SubscriptionNotFound,
    UnknownSubscription,
)
from jsc_node.metrics.registry import WS_SUBSCRIPTIONS
from jsc_node.rpc.encoding import (
    check_arity,
    decode_bool,
    format_header,
    format_log,
    format_sync_status,
    format_tx,
)
from jsc_node.rpc.methods.eth import decode_filter_criteria
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import (
    BlockId,
    ChainEvent,
    LogView,
    NewHeadEvent,
    NewLogsEvent,
    NewPendingTxsEvent,
    SyncStatusEvent,
)

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS_PER_CONNECTION: Final = 128
"""Live ``eth_subscribe`` subscriptions on one WebSocket connection."""
WS_MAX_QUEUED_MESSAGES: Final = 10_000
"""Messages waiting to be written to one WebSocket client: a pool burst of hashes fits (the pool
holds at most 5120 transactions by default)."""
WS_MAX_QUEUED_BYTES: Final = 4 * 1024 * 1024
"""Bytes waiting to be written to one WebSocket client."""
SLOW_CONSUMER_CLOSE_CODE: Final = 1008
"""WebSocket close code (policy violation) for a client dropped because its queue filled."""


# --- ids ------------------------------------------------------------------------------


def new_id() -> str:
    """geth's ``rpc.NewID``: 16 random bytes as a QUANTITY-style hex string (no leading zeros)."""
    digits = secrets.token_bytes(16).hex().lstrip("0")
    return "0x" + (digits or "0")


# --- log criteria (geth eth/filters filterLogs) ------------------------------------------


@dataclass(frozen=True, slots=True)
class LogCriteria:
    """Which new logs a ``logs`` subscription or an ``eth_newFilter`` filter wants."""

    from_block: int | None = None
    """Lowest block number; ``None``: no bound (``latest``)."""
    to_block: int | None = None
    """Highest block number; ``None``: no bound (``latest``)."""
    addresses: frozenset[bytes] = frozenset()
    """Any of these emitters; empty: any emitter."""
    topics: tuple[frozenset[bytes] | None, ...] = ()
    """Per position: ``None`` any topic, else any of these. A log with fewer topics than positions
    never matches (geth)."""

    def matches(self, log: LogView) -> bool:
        if self.from_block is not None and log.block_number < self.from_block:
            return False
        if self.to_block is not None and log.block_number > self.to_block:
            return False
        if self.addresses and log.address not in self.addresses:
            return False
        if len(self.topics) > len(log.topics):
            return False
        return all(
            wanted is None or got in wanted for wanted, got in zip(self.topics, log.topics, strict=False)
        )


def _bound(block: BlockId | None) -> int | None:
    if block is None or block.tag in ("latest", "safe", "finalized"):
        return None  # QBFT: safe and finalized are latest
    if block.tag == "pending":
        raise InvalidFilter("pending logs are not supported")
    if block.tag == "earliest":
        return 0
    return block.number


def log_criteria(
    from_block: BlockId | None,
    to_block: BlockId | None,
    addresses: Iterable[bytes],
    topics: Iterable[tuple[bytes, ...] | None],
) -> LogCriteria:
    """geth's ``SubscribeLogs`` checks: a numbered range, ``from``..latest, or latest only."""
    first, last = _bound(from_block), _bound(to_block)
    if (first is None and last is not None) or (first is not None and last is not None and first > last):
        raise InvalidFilter("invalid from and to block combination")
    return LogCriteria(
        from_block=first,
        to_block=last,
        addresses=frozenset(addresses),
        topics=tuple(None if t is None else frozenset(t) for t in topics),
    )


# --- the hub ----------------------------------------------------------------------------

E = TypeVar("E", NewHeadEvent, NewLogsEvent, NewPendingTxsEvent, SyncStatusEvent)
Listener = Callable[[Any], None]


class EventHub:
    """Fan-out of chain events to listeners, on one asyncio event loop (the execution process's).

    ``publish`` runs every listener of the event's type synchronously, in subscription order; a
    listener must not block or await (append to a bounded buffer and return). A listener that
    raises is logged and the others still run.
    """

    def __init__(self) -> None:
        self._listeners: dict[type, dict[int, Listener]] = {
            NewHeadEvent: {},
            NewLogsEvent: {},
            NewPendingTxsEvent: {},
            SyncStatusEvent: {},
        }
        self._next = 0

    def subscribe(self, kind: type[E], listener: Callable[[E], None]) -> Callable[[], None]:
        """Call ``listener(event)`` for each published event of type ``kind``; returns the unsubscribe."""
        key = self._next
        self._next += 1
        listeners = self._listeners[kind]
        listeners[key] = listener

        def unsubscribe() -> None:
            listeners.pop(key, None)

        return unsubscribe

    def listener_count(self, kind: type | None = None) -> int:
        if kind is None:
            return sum(len(group) for group in self._listeners.values())
        return len(self._listeners[kind])

    @property
    def active(self) -> bool:
        """Someone listens: worth building event views."""
        return any(self._listeners.values())

    def publish(self, event: ChainEvent) -> None:
        for listener in list(self._listeners[type(event)].values()):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", type(event).__name__)

    def publish_from(self, build: Callable[[], Iterable[ChainEvent]]) -> None:
        """Publish what ``build()`` returns, calling it only when someone listens (views cost)."""
        if not self.active:
            return
        try:
            events = list(build())
        except Exception:
            log.exception("building chain events failed")
            return
        for event in events:
            self.publish(event)


# --- the outbound queue of one connection -------------------------------------------------


class Outbox:
    """Bounded FIFO of frames for one WebSocket writer.

    ``put`` (answers) waits for room; ``offer`` (notifications) never waits: when the queue is full
    it sets :attr:`overflowed` and refuses this and every later frame.
    """

    def __init__(
        self, max_messages: int = WS_MAX_QUEUED_MESSAGES, max_bytes: int = WS_MAX_QUEUED_BYTES
    ) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._frames: collections.deque[bytes] = collections.deque()
        self._bytes = 0
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.overflowed = asyncio.Event()
        self.closed = False

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def _full(self) -> bool:
        return len(self._frames) >= self.max_messages or self._bytes >= self.max_bytes

    def _append(self, frame: bytes) -> None:
        self._frames.append(frame)
        self._bytes += len(frame)
        self._readable.set()
        if self._full():
            self._room.clear()

    def offer(self, frame: bytes) -> bool:
        if self.closed or self.overflowed.is_set():
            return False
        if self._full() or self._bytes + len(frame) > self.max_bytes:
            self.overflowed.set()
            return False
        self._append(frame)
        return True

    async def put(self, frame: bytes) -> None:
        while self._full() and not self.closed:
            await self._room.wait()
        if not self.closed:
            self._append(frame)

    async def get(self) -> bytes:
        while not self._frames:
            self._readable.clear()
            await self._readable.wait()
        frame = self._frames.popleft()
        self._bytes -= len(frame)
        if not self._full():
            self._room.set()
        return frame

    def close(self) -> None:
        """Refuse further frames and release waiting writers of answers."""
        self.closed = True
        self._frames.clear()
        self._bytes = 0
        self._room.set()


# --- notifications -------------------------------------------------------------------------


def _notification(sub_id: bytes, result: bytes) -> bytes:
    return (
        b'{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"'
        + sub_id
        + b'","result":'
        + result
        + b"}}"
    )


class _Rendered:
    """The JSON of the event being published, computed once for every subscription that wants it.

    ``publish`` delivers one event to all listeners before the next, so remembering the last event
    (by identity, holding a reference so the id is not reused) is enough.
    """

    def __init__(self) -> None:
        self._event: object = None
        self._value: Any = None

    def get(self, event: object, render: Callable[[], Any]) -> Any:
        if self._event is not event:
            self._value = render()
            self._event = event
        return self._value


_HEADERS = _Rendered()
_LOGS = _Rendered()
_TX_HASHES = _Rendered()
_TX_OBJECTS = _Rendered()


def _render_header(event: NewHeadEvent) -> bytes:
    result: bytes = _HEADERS.get(event, lambda: orjson.dumps(format_header(event.block)))
    return result


def _render_logs(event: NewLogsEvent) -> list[bytes]:
    result: list[bytes] = _LOGS.get(event, lambda: [orjson.dumps(format_log(x)) for x in event.logs])
    return result


def _render_txs(event: NewPendingTxsEvent, full: bool) -> list[bytes]:
    if full:
        objects: list[bytes] = _TX_OBJECTS.get(event, lambda: [orjson.dumps(format_tx(t)) for t in event.txs])
        return objects
    hashes: list[bytes] = _TX_HASHES.get(
        event, lambda: [b'"0x' + t.hash.hex().encode() + b'"' for t in event.txs]
    )
    return hashes


# --- subscriptions of one connection ---------------------------------------------------------


class Subscription:
    """One ``eth_subscribe``: renders its events into its connection's :class:`Outbox`."""

    def __init__(self, sub_id: str, outbox: Outbox) -> None:
        self.id = sub_id
        self._id_bytes = sub_id.encode()
        self._outbox = outbox
        self._held: list[bytes] | None = []
        """Notifications made before the client got the id; ``None`` once active."""
        self.unsubscribe_hub: Callable[[], None] = lambda: None

    def _emit(self, result: bytes) -> None:
        frame = _notification(self._id_bytes, result)
        if self._held is None:
            self._outbox.offer(frame)
        elif len(self._held) < self._outbox.max_messages:
            self._held.append(frame)
        else:
            self._outbox.overflowed.set()

    def activate(self) -> None:
        held, self._held = self._held, None
        for frame in held or ():
            if not self._outbox.offer(frame):
                return

    def on_head(self, event: NewHeadEvent) -> None:
        self._emit(_render_header(event))

    def logs_listener(self, criteria: LogCriteria) -> Callable[[NewLogsEvent], None]:
        def on_logs(event: NewLogsEvent) -> None:
            rendered = _render_logs(event)
            for view, text in zip(event.logs, rendered, strict=True):
                if criteria.matches(view):
                    self._emit(text)

        return on_logs

    def on_sync(self, event: SyncStatusEvent) -> None:
        if event.status is None:
            self._emit(b"false")
        else:
            self._emit(orjson.dumps({"syncing": True, "status": format_sync_status(event.status)}))

    def pending_listener(self, full: bool) -> Callable[[NewPendingTxsEvent], None]:
        def on_pending(event: NewPendingTxsEvent) -> None:
            for text in _render_txs(event, full):
                self._emit(text)

        return on_pending


Handler = Callable[[RpcBackend, list[Any]], Awaitable[Any]]


class ConnectionSubscriptions:
    """The ``eth_subscribe`` subscriptions of one WebSocket connection."""

    def __init__(
        self,
        hub: EventHub,
        outbox: Outbox,
        *,
        max_subscriptions: int = MAX_SUBSCRIPTIONS_PER_CONNECTION,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        self._hub = hub
        self._outbox = outbox
        self._max = max_subscriptions
        self._make_id = make_id
        self._subs: dict[str, Subscription] = {}

    def __len__(self) -> int:
        return len(self._subs)

    def methods(self, created: list[Subscription]) -> Mapping[str, Handler]:
        """This connection's methods for one request; new subscriptions are appended to ``created``
        so the caller can :meth:`activate` them once the answer is queued."""

        async def subscribe(backend: RpcBackend, params: list[Any]) -> str:
            sub = self.subscribe(params)
            created.append(sub)
            return sub.id

        async def unsubscribe(backend: RpcBackend, params: list[Any]) -> bool:
            return self.unsubscribe(params)

        return {"eth_subscribe": subscribe, "eth_unsubscribe": unsubscribe}

    def subscribe(self, params: list[Any]) -> Subscription:
        """``eth_subscribe``: a paused subscription (see :meth:`Subscription.activate`)."""
        if not params or not isinstance(params[0], str):
            raise InvalidParams("expected subscription name as first argument")
        name = params[0]
        if name == "newHeads":
            check_arity(params, 1)
            return self._add(NewHeadEvent, lambda sub: sub.on_head)
        if name == "logs":
            check_arity(params, 2)
            criteria = _decode_log_criteria(params[1] if len(params) > 1 else None)
            return self._add(NewLogsEvent, lambda sub: sub.logs_listener(criteria))
        if name == "newPendingTransactions":
            check_arity(params, 2)
            full = False
            if len(params) > 1 and params[1] is not None:
                try:
                    full = decode_bool(params[1])
                except InvalidParams as exc:
                    raise InvalidParams(f"invalid argument 1: {exc}") from exc
            return self._add(NewPendingTxsEvent, lambda sub: sub.pending_listener(full))
        if name == "syncing":
            check_arity(params, 1)
            return self._add(SyncStatusEvent, lambda sub: sub.on_sync)
        raise UnknownSubscription(name)

    def _add(self, kind: type[E], listener_of: Callable[[Subscription], Callable[[E], None]]) -> Subscription:
        if len(self._subs) >= self._max:
            raise SubscriptionLimitExceeded(f"too many subscriptions on this connection (max {self._max})")
        sub = Subscription(self._make_id(), self._outbox)
        sub.unsubscribe_hub = self._hub.subscribe(kind, listener_of(sub))
        self._subs[sub.id] = sub
        WS_SUBSCRIPTIONS.inc()
        return sub

    def unsubscribe(self, params: list[Any]) -> bool:
        """``eth_unsubscribe``: ``true``, or :class:`SubscriptionNotFound`."""
        check_arity(params, 1)
        if not params or not isinstance(params[0], str):
            raise InvalidParams(
                "invalid argument 0: json: cannot unmarshal non-string into Go value of type rpc.ID"
            )
        sub = self._subs.pop(params[0], None)
        if sub is None:
            raise SubscriptionNotFound()
        sub.unsubscribe_hub()
        WS_SUBSCRIPTIONS.dec()
        return True

    @staticmethod
    def activate(created: Iterable[Subscription]) -> None:
        for sub in created:
            sub.activate()

    def close(self) -> None:
        """Drop every subscription (the connection ended)."""
        for sub in self._subs.values():
            sub.unsubscribe_hub()
        WS_SUBSCRIPTIONS.dec(len(self._subs))
        self._subs.clear()


def _decode_log_criteria(value: Any) -> LogCriteria:
    if value is None:
        return LogCriteria()
    try:
        args = decode_filter_criteria(value)
    except InvalidParams as exc:
        raise InvalidParams(f"invalid argument 1: {exc}") from exc
    return log_criteria(args.from_block, args.to_block, args.addresses, args.topics)
