"""HTTP filters (eth_newFilter & co.) against a fake hub, backend and clock: what they gather, how
they expire, and their bounds."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jsc_node.config import RPC_APIS
from jsc_node.rpc.app import create_app
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.rpc.filters import FILTER_TIMEOUT_S, FilterManager
from jsc_node.rpc.subscriptions import EventHub
from jsc_node.views import LogView, NewHeadEvent, NewLogsEvent, NewPendingTxsEvent
from tests.unit.test_rpc_fake import AccessSettings, FakeBackend, make_block, make_tx, post
from tests.unit.test_rpc_fuzz import JSON
from tests.unit.test_rpc_subscriptions import A1, A2, T1, T2, make_log

FILTER_METHODS = (
    "eth_newFilter",
    "eth_newBlockFilter",
    "eth_newPendingTransactionFilter",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_uninstallFilter",
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Node:
    """A dispatcher with a filter manager on a hub the test publishes to."""

    def __init__(self, **limits: Any) -> None:
        self.hub = EventHub()
        self.clock = Clock()
        self.backend = FakeBackend()
        for n in range(4):
            self.backend.add_block(make_block(n))
        self.filters = FilterManager(self.hub, clock=self.clock, **limits)
        self.dispatcher = Dispatcher(self.backend, filters=self.filters)

    def call(self, method: str, *params: Any) -> Any:
        message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return asyncio.run(self.dispatcher.handle_message(message))

    def result(self, method: str, *params: Any) -> Any:
        answer = self.call(method, *params)
        assert "error" not in answer, answer
        return answer["result"]

    def error(self, method: str, *params: Any) -> Any:
        answer = self.call(method, *params)
        assert "error" in answer, answer
        return answer["error"]


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def test_block_filter_gathers_new_block_hashes_between_polls() -> None:
    node = Node()
    fid = node.result("eth_newBlockFilter")
    assert node.result("eth_getFilterChanges", fid) == []
    node.hub.publish(NewHeadEvent(make_block(4)))
    node.hub.publish(NewHeadEvent(make_block(5)))
    assert node.result("eth_getFilterChanges", fid) == [_hex(make_block(4).hash), _hex(make_block(5).hash)]
    assert node.result("eth_getFilterChanges", fid) == []


def test_log_filter_matches_address_and_topics() -> None:
    node = Node()
    by_topic = node.result("eth_newFilter", {"topics": [None, _hex(T2)]})
    by_address = node.result("eth_newFilter", {"address": [_hex(A2)]})
    logs = [
        make_log(topics=(T1, T2), index=0),
        make_log(address=A2, topics=(T1,), index=1),
        make_log(topics=(T2,), index=2),
    ]
    node.hub.publish(NewLogsEvent(logs))
    assert [x["logIndex"] for x in node.result("eth_getFilterChanges", by_topic)] == ["0x0"]
    changes = node.result("eth_getFilterChanges", by_address)
    assert [x["logIndex"] for x in changes] == ["0x1"]
    assert changes[0]["address"] == _hex(A2)


def test_log_filter_block_range_applies_to_new_logs() -> None:
    node = Node()
    fid = node.result("eth_newFilter", {"fromBlock": "0x5", "toBlock": "0x6"})
    node.hub.publish(NewLogsEvent([make_log(number=n) for n in (4, 5, 6, 7)]))
    assert [x["blockNumber"] for x in node.result("eth_getFilterChanges", fid)] == ["0x5", "0x6"]


def test_pending_filter_hashes_or_objects() -> None:
    node = Node()
    hashes = node.result("eth_newPendingTransactionFilter")
    full = node.result("eth_newPendingTransactionFilter", True)
    txs = [make_tx(1), make_tx(2)]
    node.hub.publish(NewPendingTxsEvent(txs))
    assert node.result("eth_getFilterChanges", hashes) == [_hex(t.hash) for t in txs]
    objects = node.result("eth_getFilterChanges", full)
    assert [o["hash"] for o in objects] == [_hex(t.hash) for t in txs]
    assert objects[0]["blockNumber"] is None


def test_get_filter_logs_runs_the_criteria_as_get_logs() -> None:
    node = Node()
    node.backend.logs = [make_log(number=1, topics=(T1,)), make_log(number=2, topics=(T2,), index=1)]
    fid = node.result("eth_newFilter", {"fromBlock": "0x0", "topics": [_hex(T2)]})
    assert [x["blockNumber"] for x in node.result("eth_getFilterLogs", fid)] == ["0x2"]
    assert node.result("eth_getFilterChanges", fid) == []  # history is not "changes"


def test_get_filter_logs_of_a_block_filter_is_not_found() -> None:
    node = Node()
    fid = node.result("eth_newBlockFilter")
    assert node.error("eth_getFilterLogs", fid) == {"code": -32000, "message": "filter not found"}


def test_unknown_filter_is_geths_error() -> None:
    node = Node()
    assert node.error("eth_getFilterChanges", "0x1234") == {"code": -32000, "message": "filter not found"}
    assert node.error("eth_getFilterLogs", "0x1234") == {"code": -32000, "message": "filter not found"}
    assert node.result("eth_uninstallFilter", "0x1234") is False


def test_uninstall_stops_listening() -> None:
    node = Node()
    first = node.result("eth_newBlockFilter")
    second = node.result("eth_newBlockFilter")
    assert node.hub.listener_count(NewHeadEvent) == 1  # one hub listener for all block filters
    assert node.result("eth_uninstallFilter", first) is True
    assert node.hub.listener_count(NewHeadEvent) == 1
    assert node.result("eth_uninstallFilter", second) is True
    assert not node.hub.active  # the execution side then skips building views
    assert node.error("eth_getFilterChanges", first)["message"] == "filter not found"


def test_idle_filters_expire_after_five_minutes() -> None:
    node = Node()
    polled = node.result("eth_newBlockFilter")
    idle = node.result("eth_newBlockFilter")
    node.clock.now += FILTER_TIMEOUT_S - 1
    node.result("eth_getFilterChanges", polled)
    node.clock.now += 2
    assert node.result("eth_getFilterChanges", polled) == []
    assert node.error("eth_getFilterChanges", idle) == {"code": -32000, "message": "filter not found"}
    assert len(node.filters) == 1


def test_expired_filters_are_swept_by_events_too() -> None:
    node = Node()
    node.result("eth_newPendingTransactionFilter")
    node.clock.now += FILTER_TIMEOUT_S
    node.hub.publish(NewPendingTxsEvent([make_tx(1)]))
    assert len(node.filters) == 0
    assert node.filters.buffered == 0
    assert not node.hub.active


def test_filter_count_is_bounded() -> None:
    node = Node(max_filters=2)
    node.result("eth_newBlockFilter")
    fid = node.result("eth_newPendingTransactionFilter")
    assert node.error("eth_newFilter", {}) == {
        "code": -32005,
        "message": "too many filters installed (max 2)",
    }
    node.result("eth_uninstallFilter", fid)
    node.result("eth_newFilter", {})


def test_a_filter_that_overflows_says_so_once_then_goes_on() -> None:
    node = Node(max_items=3)
    fid = node.result("eth_newPendingTransactionFilter")
    node.hub.publish(NewPendingTxsEvent([make_tx(n) for n in range(5)]))
    assert node.filters.buffered <= 3
    error = node.error("eth_getFilterChanges", fid)
    assert error["code"] == -32005
    assert error["message"].startswith("filter dropped results: more than 3 since the last poll")
    node.hub.publish(NewPendingTxsEvent([make_tx(9)]))
    assert node.result("eth_getFilterChanges", fid) == [_hex(make_tx(9).hash)]


def test_all_filters_together_are_bounded() -> None:
    node = Node(max_items=100, max_buffered=4)
    first = node.result("eth_newBlockFilter")
    second = node.result("eth_newBlockFilter")
    for n in range(3):
        node.hub.publish(NewHeadEvent(make_block(10 + n)))
    assert node.filters.buffered <= 4
    answers = [node.call("eth_getFilterChanges", fid) for fid in (first, second)]
    assert any("error" in a and a["error"]["code"] == -32005 for a in answers)
    assert node.filters.buffered == 0


def test_views_are_shared_not_copied() -> None:
    node = Node()
    first = node.result("eth_newFilter", {})
    node.result("eth_newFilter", {"address": _hex(A1)})
    log: LogView = make_log(address=A1)
    node.hub.publish(NewLogsEvent([log]))
    assert node.filters.buffered == 2
    assert node.result("eth_getFilterChanges", first)[0]["address"] == _hex(A1)


def test_bad_params() -> None:
    node = Node()
    assert node.error("eth_getFilterChanges", 5)["code"] == -32602
    assert node.error("eth_getFilterChanges")["message"] == "missing value for required argument 0"
    assert node.error("eth_newBlockFilter", 1)["message"] == "too many arguments, want at most 0"
    assert node.error("eth_newFilter", {"fromBlock": "pending"}) == {
        "code": -32000,
        "message": "pending logs are not supported",
    }
    assert node.error("eth_newFilter", {"fromBlock": "0x9", "toBlock": "0x2"})["message"] == (
        "invalid from and to block combination"
    )
    assert node.error("eth_newFilter", {"topics": [[], [], [], [], []]})["message"].endswith(
        "exceed max topics"
    )
    assert node.error("eth_newPendingTransactionFilter", "yes")["code"] == -32602
    assert len(node.filters) == 0


def test_filters_over_http_with_the_app() -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))

    class Settings(AccessSettings):
        rpc_http_cors_origins: tuple[str, ...] = ()
        rpc_max_request_bytes = 1 << 20
        rpc_http_max_batch_size = 100
        rpc_http_api = RPC_APIS
        rpc_ws_api = RPC_APIS

    hub = EventHub()
    app = create_app(backend, Settings(), hub)
    assert app.state.events is hub

    def call(method: str, *params: Any) -> Any:
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        return post(app, body).json()

    fid = call("eth_newBlockFilter")["result"]
    hub.publish(NewHeadEvent(make_block(1)))
    assert call("eth_getFilterChanges", fid)["result"] == [_hex(make_block(1).hash)]
    assert call("eth_uninstallFilter", fid)["result"] is True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(FILTER_METHODS), params=st.lists(JSON, max_size=3))
def test_no_internal_errors(method: str, params: list[Any]) -> None:
    node = Node()
    fid = node.result("eth_newFilter", {})
    node.hub.publish(NewLogsEvent([make_log()]))
    answer = node.call(method, *[fid if p == "0x1" else p for p in params])
    assert "result" in answer or answer["error"]["code"] in {-32602, -32000, -32005}, answer
