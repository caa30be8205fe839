"""The event hub, log criteria, the bounded outbox and eth_subscribe on one connection (fakes, no node)."""

from __future__ import annotations

import asyncio
import warnings
from functools import partial
from typing import Any

import orjson
import pytest

from jsc_node.config import RPC_APIS
from jsc_node.errors import (
    InvalidFilter,
    InvalidParams,
    SubscriptionLimitExceeded,
    SubscriptionNotFound,
    UnknownSubscription,
)
from jsc_node.rpc import app as app_module
from jsc_node.rpc.app import create_app
from jsc_node.rpc.codes import error_object
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.rpc.subscriptions import (
    ConnectionSubscriptions,
    EventHub,
    LogCriteria,
    Outbox,
    Subscription,
    log_criteria,
    new_id,
)
from jsc_node.views import (
    BlockId,
    LogView,
    NewHeadEvent,
    NewLogsEvent,
    NewPendingTxsEvent,
    SyncStatus,
    SyncStatusEvent,
)
from tests.unit.test_rpc_fake import AccessSettings, FakeBackend, make_block, make_tx

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette 1.x warns at import that it wants "httpx2"
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

A1, A2 = b"\x01" * 20, b"\x02" * 20
T1, T2, T3 = b"\xa1" * 32, b"\xa2" * 32, b"\xa3" * 32


def make_log(
    number: int = 5, address: bytes = A1, topics: tuple[bytes, ...] = (T1,), index: int = 0
) -> LogView:
    return LogView(
        address=address,
        topics=topics,
        data=b"\x07",
        block_number=number,
        block_hash=number.to_bytes(32, "big"),
        block_timestamp=1_700_000_000 + number,
        transaction_hash=b"\xee" * 32,
        transaction_index=0,
        log_index=index,
    )


# --- ids ---------------------------------------------------------------------------------


def test_ids_are_geths_shape() -> None:
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200
    for sub_id in ids:
        assert sub_id.startswith("0x")
        digits = sub_id[2:]
        assert 1 <= len(digits) <= 32
        assert digits == "0" or not digits.startswith("0")
        int(digits, 16)


# --- the hub -------------------------------------------------------------------------------


def test_hub_delivers_by_kind_and_unsubscribes() -> None:
    hub = EventHub()
    heads: list[NewHeadEvent] = []
    logs: list[NewLogsEvent] = []
    stop_heads = hub.subscribe(NewHeadEvent, heads.append)
    hub.subscribe(NewLogsEvent, logs.append)
    assert hub.active
    assert hub.listener_count() == 2
    head = NewHeadEvent(make_block(1))
    hub.publish(head)
    hub.publish(NewPendingTxsEvent([make_tx()]))
    assert heads == [head]
    assert logs == []
    stop_heads()
    stop_heads()  # twice is harmless
    hub.publish(NewHeadEvent(make_block(2)))
    assert heads == [head]
    assert hub.listener_count(NewHeadEvent) == 0
    assert hub.listener_count(NewLogsEvent) == 1


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()
    got: list[object] = []

    def boom(event: NewHeadEvent) -> None:
        raise RuntimeError("listener bug")

    hub.subscribe(NewHeadEvent, boom)
    hub.subscribe(NewHeadEvent, got.append)
    hub.publish(NewHeadEvent(make_block(1)))
    assert len(got) == 1
    assert "event listener failed" in caplog.text


def test_publish_from_builds_views_only_when_someone_listens() -> None:
    hub = EventHub()
    built: list[int] = []

    def build() -> list[NewHeadEvent]:
        built.append(1)
        return [NewHeadEvent(make_block(1))]

    hub.publish_from(build)
    assert built == []
    got: list[object] = []
    hub.subscribe(NewHeadEvent, got.append)
    hub.publish_from(build)
    assert built == [1]
    assert len(got) == 1


def test_publish_from_survives_a_failing_build(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()
    hub.subscribe(NewHeadEvent, lambda event: None)

    def build() -> list[NewHeadEvent]:
        raise RuntimeError("no such block")

    hub.publish_from(build)
    assert "building chain events failed" in caplog.text


# --- log criteria (geth filterLogs) ------------------------------------------------------------

CRITERIA_TABLE = [
    (LogCriteria(), make_log(), True),
    (LogCriteria(addresses=frozenset({A1})), make_log(address=A1), True),
    (LogCriteria(addresses=frozenset({A1})), make_log(address=A2), False),
    (LogCriteria(addresses=frozenset({A1, A2})), make_log(address=A2), True),
    (LogCriteria(topics=(frozenset({T1}),)), make_log(topics=(T1, T2)), True),
    (LogCriteria(topics=(frozenset({T2}),)), make_log(topics=(T1, T2)), False),
    (LogCriteria(topics=(None, frozenset({T2}))), make_log(topics=(T1, T2)), True),
    (LogCriteria(topics=(None, frozenset({T2, T3}))), make_log(topics=(T3, T3)), True),
    (LogCriteria(topics=(None, None)), make_log(topics=(T1,)), False),  # fewer topics than positions
    (LogCriteria(topics=(None,)), make_log(topics=()), False),
    (LogCriteria(from_block=5), make_log(number=5), True),
    (LogCriteria(from_block=6), make_log(number=5), False),
    (LogCriteria(to_block=4), make_log(number=5), False),
    (LogCriteria(from_block=1, to_block=5), make_log(number=5), True),
]


@pytest.mark.parametrize(("criteria", "log", "expected"), CRITERIA_TABLE)
def test_log_criteria(criteria: LogCriteria, log: LogView, expected: bool) -> None:
    assert criteria.matches(log) is expected


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (None, None, (None, None)),
        (BlockId(tag="latest"), BlockId(tag="finalized"), (None, None)),
        (BlockId(tag="earliest"), None, (0, None)),
        (BlockId(number=3), None, (3, None)),
        (BlockId(number=3), BlockId(number=9), (3, 9)),
        (BlockId(number=3), BlockId(number=3), (3, 3)),
    ],
)
def test_block_bounds(first: BlockId | None, last: BlockId | None, expected: tuple[Any, Any]) -> None:
    criteria = log_criteria(first, last, (), ())
    assert (criteria.from_block, criteria.to_block) == expected


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (BlockId(tag="pending"), None, "pending logs are not supported"),
        (None, BlockId(tag="pending"), "pending logs are not supported"),
        (BlockId(number=9), BlockId(number=3), "invalid from and to block combination"),
        (None, BlockId(number=3), "invalid from and to block combination"),
    ],
)
def test_block_bounds_geth_refuses(first: BlockId | None, last: BlockId | None, message: str) -> None:
    with pytest.raises(InvalidFilter, match=message):
        log_criteria(first, last, (), ())


# --- the outbox ------------------------------------------------------------------------------


def test_outbox_refuses_notifications_when_full_and_stays_refusing() -> None:
    async def go() -> None:
        box = Outbox(max_messages=3, max_bytes=1000)
        assert all(box.offer(b"x") for _ in range(3))
        assert not box.offer(b"y")
        assert box.overflowed.is_set()
        assert await box.get() == b"x"
        assert not box.offer(b"z")  # once overflowed, the connection is being dropped

    asyncio.run(go())


def test_outbox_bytes_bound() -> None:
    box = Outbox(max_messages=100, max_bytes=10)
    assert box.offer(b"123456")
    assert not box.offer(b"123456")
    assert box.queued_bytes == 6


def test_outbox_answers_wait_for_room_in_order() -> None:
    async def go() -> list[bytes]:
        box = Outbox(max_messages=2, max_bytes=1000)
        await box.put(b"a")
        await box.put(b"b")
        waiting = asyncio.create_task(box.put(b"c"))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        assert len(box) == 2
        got = [await box.get()]
        await asyncio.wait_for(waiting, 1)
        got += [await box.get(), await box.get()]
        return got

    assert asyncio.run(go()) == [b"a", b"b", b"c"]


def test_outbox_close_releases_waiting_answers() -> None:
    async def go() -> None:
        box = Outbox(max_messages=1, max_bytes=1000)
        await box.put(b"a")
        waiting = asyncio.create_task(box.put(b"b"))
        await asyncio.sleep(0.01)
        box.close()
        await asyncio.wait_for(waiting, 1)
        assert len(box) == 0
        assert not box.offer(b"c")

    asyncio.run(go())


# --- subscriptions of one connection -------------------------------------------------------------


class Conn:
    def __init__(self, max_subscriptions: int = 8, max_messages: int = 100) -> None:
        self.hub = EventHub()
        self.outbox = Outbox(max_messages=max_messages, max_bytes=1 << 20)
        ids = iter(range(1, 1000))
        self.subs = ConnectionSubscriptions(
            self.hub, self.outbox, max_subscriptions=max_subscriptions, make_id=lambda: hex(next(ids))
        )

    def subscribe(self, *params: Any) -> Subscription:
        sub = self.subs.subscribe(list(params))
        sub.activate()
        return sub

    def sent(self) -> list[Any]:
        frames = []
        while len(self.outbox):
            frames.append(orjson.loads(asyncio.run(self.outbox.get())))
        return frames


def _results(frames: list[Any], sub_id: str) -> list[Any]:
    for frame in frames:
        assert frame["jsonrpc"] == "2.0"
        assert frame["method"] == "eth_subscription"
        assert set(frame["params"]) == {"subscription", "result"}
    return [f["params"]["result"] for f in frames if f["params"]["subscription"] == sub_id]


def test_new_heads_notification_is_the_header() -> None:
    conn = Conn()
    sub = conn.subscribe("newHeads")
    conn.hub.publish(NewHeadEvent(make_block(7)))
    [header] = _results(conn.sent(), sub.id)
    assert header["number"] == "0x7"
    assert header["hash"] == "0x" + (7).to_bytes(32, "big").hex()
    assert "transactions" not in header
    assert "size" not in header


def test_notification_frame_is_exactly_geths() -> None:
    conn = Conn()
    sub = conn.subscribe("newPendingTransactions")
    conn.hub.publish(NewPendingTxsEvent([make_tx(1)]))
    raw = asyncio.run(conn.outbox.get())
    assert raw == (
        b'{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"'
        + sub.id.encode()
        + b'","result":"0x'
        + make_tx(1).hash.hex().encode()
        + b'"}}'
    )


def test_logs_one_notification_per_matching_log() -> None:
    conn = Conn()
    by_topic = conn.subscribe("logs", {"topics": ["0x" + T2.hex()]})
    by_address = conn.subscribe("logs", {"address": "0x" + A2.hex()})
    everything = conn.subscribe("logs", {})
    logs = [
        make_log(topics=(T1,), index=0),
        make_log(topics=(T2, T1), index=1),
        make_log(address=A2, index=2),
    ]
    conn.hub.publish(NewLogsEvent(logs))
    frames = conn.sent()
    assert [r["logIndex"] for r in _results(frames, by_topic.id)] == ["0x1"]
    assert [r["logIndex"] for r in _results(frames, by_address.id)] == ["0x2"]
    assert [r["logIndex"] for r in _results(frames, everything.id)] == ["0x0", "0x1", "0x2"]
    assert _results(frames, everything.id)[0]["removed"] is False


def test_logs_without_criteria_and_with_block_bounds() -> None:
    conn = Conn()
    everything = conn.subscribe("logs")
    later = conn.subscribe("logs", {"fromBlock": "0x6"})
    conn.hub.publish(NewLogsEvent([make_log(number=5)]))
    conn.hub.publish(NewLogsEvent([make_log(number=6)]))
    frames = conn.sent()
    assert len(_results(frames, everything.id)) == 2
    assert [r["blockNumber"] for r in _results(frames, later.id)] == ["0x6"]


def test_pending_hashes_or_full_transactions() -> None:
    conn = Conn()
    hashes = conn.subscribe("newPendingTransactions")
    full = conn.subscribe("newPendingTransactions", True)
    not_full = conn.subscribe("newPendingTransactions", False)
    txs = [make_tx(1), make_tx(2)]
    conn.hub.publish(NewPendingTxsEvent(txs))
    frames = conn.sent()
    assert _results(frames, hashes.id) == ["0x" + t.hash.hex() for t in txs]
    assert _results(frames, not_full.id) == _results(frames, hashes.id)
    objects = _results(frames, full.id)
    assert [o["hash"] for o in objects] == ["0x" + t.hash.hex() for t in txs]
    assert objects[0]["blockHash"] is None
    assert objects[0]["nonce"] == "0x1"


def test_syncing_start_and_done_as_geth() -> None:
    conn = Conn()
    sub = conn.subscribe("syncing")
    heads = conn.subscribe("newHeads")
    conn.hub.publish(SyncStatusEvent(SyncStatus(3, 10, 250)))
    conn.hub.publish(SyncStatusEvent(None))
    assert _results(conn.sent(), sub.id) == [
        {"syncing": True, "status": {"startingBlock": "0x3", "currentBlock": "0xa", "highestBlock": "0xfa"}},
        False,
    ]
    assert _results([], heads.id) == []
    with pytest.raises(InvalidParams):
        conn.subscribe("syncing", True)


def test_notifications_wait_until_the_subscription_is_active() -> None:
    conn = Conn()
    sub = conn.subs.subscribe(["newHeads"])
    conn.hub.publish(NewHeadEvent(make_block(1)))
    assert len(conn.outbox) == 0  # the client does not know the id yet
    sub.activate()
    conn.hub.publish(NewHeadEvent(make_block(2)))
    assert [h["number"] for h in _results(conn.sent(), sub.id)] == ["0x1", "0x2"]


def test_unsubscribe_stops_notifications() -> None:
    conn = Conn()
    sub = conn.subscribe("newHeads")
    assert conn.subs.unsubscribe([sub.id]) is True
    assert conn.hub.listener_count() == 0
    conn.hub.publish(NewHeadEvent(make_block(1)))
    assert conn.sent() == []
    with pytest.raises(SubscriptionNotFound, match="subscription not found"):
        conn.subs.unsubscribe([sub.id])


def test_close_drops_every_subscription() -> None:
    conn = Conn()
    conn.subscribe("newHeads")
    conn.subscribe("logs", {})
    conn.subs.close()
    assert conn.hub.listener_count() == 0
    assert len(conn.subs) == 0


def test_subscription_limit_per_connection() -> None:
    conn = Conn(max_subscriptions=2)
    conn.subscribe("newHeads")
    conn.subscribe("newHeads")
    with pytest.raises(SubscriptionLimitExceeded) as caught:
        conn.subscribe("newHeads")
    assert error_object(caught.value) == {
        "code": -32005,
        "message": "too many subscriptions on this connection (max 2)",
    }


def test_a_flood_overflows_the_outbox() -> None:
    conn = Conn(max_messages=5)
    conn.subscribe("newPendingTransactions")
    conn.hub.publish(NewPendingTxsEvent([make_tx(n) for n in range(10)]))
    assert conn.outbox.overflowed.is_set()
    assert len(conn.outbox) == 5


@pytest.mark.parametrize(
    ("params", "error", "code", "message"),
    [
        ([], InvalidParams, -32602, "expected subscription name as first argument"),
        ([7], InvalidParams, -32602, "expected subscription name as first argument"),
        (["syncingg"], UnknownSubscription, -32601, 'no "syncingg" subscription in eth namespace'),
        (["newHeads", {}], InvalidParams, -32602, "too many arguments, want at most 1"),
        (["logs", 5], InvalidParams, -32602, "invalid argument 1: json: cannot unmarshal"),
        (["logs", {"topics": [1]}], InvalidParams, -32602, "invalid argument 1: invalid topic(s)"),
        (["logs", {"fromBlock": "pending"}], InvalidFilter, -32000, "pending logs are not supported"),
        (["newPendingTransactions", "yes"], InvalidParams, -32602, "invalid argument 1: json: cannot"),
    ],
)
def test_bad_subscribe_params(params: list[Any], error: type[Exception], code: int, message: str) -> None:
    conn = Conn()
    with pytest.raises(error) as caught:
        conn.subs.subscribe(params)
    got = error_object(caught.value)
    assert got["code"] == code
    assert got["message"].startswith(message)
    assert conn.hub.listener_count() == 0


def test_subscribe_over_http_is_not_supported() -> None:
    async def go() -> Any:
        return await Dispatcher(FakeBackend()).handle_message(
            {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
        )

    assert asyncio.run(go())["error"] == {"code": -32601, "message": "notifications not supported"}


# --- through the app's WebSocket ---------------------------------------------------------------


class Settings(AccessSettings):
    rpc_http_cors_origins: tuple[str, ...] = ()
    rpc_max_request_bytes = 1 << 20
    rpc_http_max_batch_size = 100
    rpc_http_api = RPC_APIS
    rpc_ws_api = RPC_APIS


def _app() -> Any:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    return create_app(backend, Settings())


def _send(ws: Any, request_id: int, method: str, *params: Any) -> None:
    ws.send_text(
        orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}).decode()
    )


def test_websocket_subscribe_notify_unsubscribe() -> None:
    app = _app()
    hub: EventHub = app.state.events
    with TestClient(app) as client, client.websocket_connect("/") as ws:
        _send(ws, 1, "eth_subscribe", "newHeads")
        sub_id = orjson.loads(ws.receive_text())["result"]
        ws.portal.call(hub.publish, NewHeadEvent(make_block(3)))
        note = orjson.loads(ws.receive_text())
        assert note["method"] == "eth_subscription"
        assert note["params"]["subscription"] == sub_id
        assert note["params"]["result"]["number"] == "0x3"
        _send(ws, 2, "eth_unsubscribe", sub_id)
        assert orjson.loads(ws.receive_text()) == {"jsonrpc": "2.0", "id": 2, "result": True}
        _send(ws, 3, "eth_unsubscribe", sub_id)
        assert orjson.loads(ws.receive_text())["error"] == {
            "code": -32000,
            "message": "subscription not found",
        }
        assert hub.listener_count() == 0
    assert hub.listener_count() == 0


def test_websocket_subscription_in_a_batch() -> None:
    app = _app()
    with TestClient(app) as client, client.websocket_connect("/") as ws:
        ws.send_text(
            '[{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]},'
            '{"jsonrpc":"2.0","id":2,"method":"eth_chainId","params":[]}]'
        )
        answers = orjson.loads(ws.receive_text())
        assert answers[0]["result"].startswith("0x")
        assert answers[1]["result"] == "0x539"


def test_websocket_disconnect_removes_subscriptions() -> None:
    app = _app()
    hub: EventHub = app.state.events
    with TestClient(app) as client:
        with client.websocket_connect("/") as ws:
            _send(ws, 1, "eth_subscribe", "logs", {})
            ws.receive_text()
            assert hub.listener_count() == 1
        with client.websocket_connect("/") as ws:  # a new connection: the old one has been cleaned up
            _send(ws, 1, "eth_chainId")
            ws.receive_text()
            assert hub.listener_count() == 0


def _read_until_closed(ws: Any, at_most: int) -> tuple[int, int | None]:
    """Frames read before the server closed, and the close code (``None``: still open)."""
    for received in range(at_most):
        try:
            ws.receive_text()
        except WebSocketDisconnect as closed:
            return received, closed.code
    return at_most, None


def test_websocket_client_whose_queue_fills_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "Outbox", partial(Outbox, max_messages=4, max_bytes=1 << 20))
    app = _app()
    hub: EventHub = app.state.events
    with TestClient(app) as client, client.websocket_connect("/") as ws:
        _send(ws, 1, "eth_subscribe", "newPendingTransactions")
        ws.receive_text()
        # One burst, delivered before the writer can run: more than the queue holds.
        ws.portal.call(hub.publish, NewPendingTxsEvent([make_tx(n) for n in range(10)]))
        received, code = _read_until_closed(ws, at_most=20)
        assert code == 1008
        assert received <= 4
    assert hub.listener_count() == 0


def test_websocket_connection_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Settings, "rpc_ws_max_active_connections", 1)
    app = _app()
    with TestClient(app) as client, client.websocket_connect("/") as first:
        with client.websocket_connect("/") as second, pytest.raises(WebSocketDisconnect) as closed:
            second.receive_text()
        assert closed.value.code == 1013
        _send(first, 1, "eth_chainId")
        assert orjson.loads(first.receive_text())["result"] == "0x539"
