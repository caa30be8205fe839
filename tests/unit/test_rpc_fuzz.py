"""Whatever a client sends, every method answers with a result or a meaningful error, never -32603."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jsc_node.rpc.dispatch import METHODS, Dispatcher
from tests.unit.test_rpc_fake import FakeBackend, make_block, make_tx

HEXISH = st.sampled_from(
    [
        "0x",
        "0x0",
        "0x1",
        "0x01",
        "0xzz",
        "latest",
        "pending",
        "earliest",
        "0x" + "00" * 20,
        "0x" + "ab" * 32,
        "0x" + "ff" * 33,
        "",
        "1",
    ]
)
JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | HEXISH
    | st.text(max_size=8)
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                _KEYS := [
                    "from",
                    "to",
                    "data",
                    "input",
                    "gas",
                    "value",
                    "blockHash",
                    "blockNumber",
                    "fromBlock",
                    "toBlock",
                    "address",
                    "topics",
                    "accessList",
                    "authorizationList",
                    "balance",
                    "state",
                    "stateDiff",
                    "requireCanonical",
                ]
            )
            | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)

ALLOWED = {-32602, -32000, -32005, 3}


def _backend() -> FakeBackend:
    fake = FakeBackend()
    for n in range(3):
        fake.add_block(make_block(n, [make_tx(n, block=n)]))
    return fake


DISPATCHER = Dispatcher(_backend())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(sorted(METHODS)), params=st.lists(JSON, max_size=4))
def test_no_internal_errors(method: str, params: list[Any]) -> None:
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    raw = asyncio.run(DISPATCHER.handle_body(body))
    assert raw is not None
    answer = orjson.loads(raw)
    if "error" in answer:
        assert answer["error"]["code"] in ALLOWED, (method, params, answer)
    else:
        assert "result" in answer


@settings(max_examples=200, deadline=None)
@given(payload=JSON)
def test_any_payload_gets_a_well_formed_answer(payload: Any) -> None:
    raw = asyncio.run(DISPATCHER.handle_body(orjson.dumps(payload)))
    if raw is None:
        return
    answer = orjson.loads(raw)
    for item in answer if isinstance(answer, list) else [answer]:
        assert item["jsonrpc"] == "2.0"
        assert ("result" in item) != ("error" in item)
        if "error" in item:
            assert item["error"]["code"] != -32603
