"""JSON-RPC 2.0 envelope rules and the error-code table of rpc/dispatch.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest

from jsc_node.abi import decode_revert_reason
from jsc_node.errors import (
    BlockNotFound,
    ExecutionReverted,
    InvalidParams,
    InvalidTransaction,
    JscError,
)
from jsc_node.rpc import dispatch
from jsc_node.rpc.codes import error_object
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.views import ExecutionFailed, LogQueryLimitExceeded
from tests.unit.test_rpc_fake import FakeBackend, make_block


def _dispatcher(**kwargs: Any) -> Dispatcher:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    backend.add_block(make_block(1))
    return Dispatcher(backend, **kwargs)


def answer(payload: bytes | str | Any, **kwargs: Any) -> Any:
    body = payload if isinstance(payload, bytes | str) else orjson.dumps(payload)
    raw = asyncio.run(_dispatcher(**kwargs).handle_body(body))
    return None if raw is None else orjson.loads(raw)


def call(method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    result = answer(message)
    assert isinstance(result, dict)
    return result


# --- envelope -------------------------------------------------------------------------


def test_success_envelope() -> None:
    assert call("eth_blockNumber", []) == {"jsonrpc": "2.0", "id": 1, "result": "0x1"}


def test_params_may_be_absent_or_null() -> None:
    assert call("eth_chainId")["result"] == "0x539"
    assert answer({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": None})["result"] == "0x539"


@pytest.mark.parametrize("request_id", [1, 0, -5, 2.5, "abc", "", None])
def test_id_is_echoed(request_id: Any) -> None:
    assert call("eth_chainId", [], request_id)["id"] == request_id


@pytest.mark.parametrize("body", [b"{", b"", b"not json", b'{"jsonrpc":"2.0",'])
def test_parse_error(body: bytes) -> None:
    assert answer(body) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}


@pytest.mark.parametrize(
    "message",
    [
        1,
        b'"x"',
        None,
        {"id": 1, "method": "eth_chainId"},
        {"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": 1, "method": ""},
        {"jsonrpc": "2.0", "id": {"a": 1}, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": True, "method": "eth_chainId"},
    ],
)
def test_invalid_request(message: Any) -> None:
    got = answer(message)
    assert got["error"]["code"] == -32600
    assert "result" not in got


def test_invalid_request_keeps_a_valid_id() -> None:
    assert answer({"jsonrpc": "1.0", "id": 7, "method": "x"})["id"] == 7


def test_method_not_found_in_geths_words() -> None:
    got = call("eth_nope", [])
    assert got["error"] == {"code": -32601, "message": "the method eth_nope does not exist/is not available"}


def test_subscriptions_not_served_yet() -> None:
    assert call("eth_subscribe", ["newHeads"])["error"] == {
        "code": -32601,
        "message": "notifications not supported",
    }


def test_params_by_name_are_refused() -> None:
    assert call("eth_chainId", {"a": 1})["error"] == {"code": -32602, "message": "non-array args"}


def test_too_many_arguments() -> None:
    assert call("eth_chainId", [1])["error"] == {
        "code": -32602,
        "message": "too many arguments, want at most 0",
    }


def test_bad_argument_names_its_position() -> None:
    got = call("eth_getBalance", ["0x" + "00" * 20, "0x01"])
    assert got["error"] == {
        "code": -32602,
        "message": "invalid argument 1: hex number with leading zero digits",
    }


def test_notification_gets_no_answer() -> None:
    assert answer({"jsonrpc": "2.0", "method": "eth_chainId", "params": []}) is None
    # Even a failing notification stays silent.
    assert answer({"jsonrpc": "2.0", "method": "eth_nope"}) is None


# --- batches ----------------------------------------------------------------------------


def test_batch_keeps_order_and_mixes_errors() -> None:
    got = answer(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
            {"jsonrpc": "2.0", "method": "eth_chainId"},
            5,
            {"jsonrpc": "2.0", "id": "b", "method": "eth_nope"},
            {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber"},
        ]
    )
    assert [r.get("id") for r in got] == [1, None, "b", 3]
    assert got[0]["result"] == "0x539"
    assert got[1]["error"]["code"] == -32600
    assert got[2]["error"]["code"] == -32601
    assert got[3]["result"] == "0x1"


def test_empty_batch_is_one_error_object() -> None:
    assert answer([]) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "empty batch"}}


def test_batch_of_notifications_gets_no_answer() -> None:
    assert answer([{"jsonrpc": "2.0", "method": "eth_chainId"}] * 3) is None


def test_batch_too_large() -> None:
    batch = [{"jsonrpc": "2.0", "method": "eth_chainId"}] + [
        {"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(10, 14)
    ]
    got = answer(batch, max_batch_size=4)
    assert got == [{"jsonrpc": "2.0", "id": 10, "error": {"code": -32600, "message": "batch too large"}}]
    assert len(answer(batch, max_batch_size=5)) == 4


# --- error mapping ---------------------------------------------------------------------------

ERROR_STRING_DATA = bytes.fromhex(
    "08c379a0"
    "0000000000000000000000000000000000000000000000000000000000000020"
    "000000000000000000000000000000000000000000000000000000000000000a"
    "75736572206572726f7200000000000000000000000000000000000000000000"
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (ERROR_STRING_DATA, "user error"),
        (bytes.fromhex("4e487b71") + (1).to_bytes(32, "big"), "assert(false)"),
        (bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big"), "arithmetic underflow or overflow"),
        (bytes.fromhex("4e487b71") + (0x99).to_bytes(32, "big"), "unknown panic code: 0x99"),
        (bytes.fromhex("deadbeef"), None),
        (b"", None),
        (ERROR_STRING_DATA[:40], None),
        (b"wrong-calldatasize", None),
    ],
)
def test_revert_reasons(data: bytes, reason: str | None) -> None:
    assert decode_revert_reason(data) == reason


def test_revert_is_code_3_with_data() -> None:
    assert error_object(ExecutionReverted(ERROR_STRING_DATA)) == {
        "code": 3,
        "message": "execution reverted: user error",
        "data": "0x" + ERROR_STRING_DATA.hex(),
    }
    assert error_object(ExecutionReverted(b"")) == {"code": 3, "message": "execution reverted", "data": "0x"}
    assert error_object(ExecutionReverted(b"\x01", reason="given"))["message"] == "execution reverted: given"


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (InvalidParams("bad"), -32602, "bad"),
        (BlockNotFound("header not found"), -32000, "header not found"),
        (BlockNotFound(), -32000, "header not found"),
        (
            InvalidTransaction("nonce too low: next nonce 5, tx nonce 3"),
            -32000,
            "nonce too low: next nonce 5, tx nonce 3",
        ),
        (ExecutionFailed("out of gas"), -32000, "out of gas"),
        (
            LogQueryLimitExceeded("query returned more than 10000 results"),
            -32005,
            "query returned more than 10000 results",
        ),
        (JscError("anything on purpose"), -32000, "anything on purpose"),
        (RuntimeError("secret detail"), -32603, "internal error"),
    ],
)
def test_error_table(exc: BaseException, code: int, message: str) -> None:
    assert error_object(exc) == {"code": code, "message": message}


def test_internal_errors_are_logged_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(backend: Any, params: list[Any]) -> Any:
        raise KeyError("secret")

    dispatcher = Dispatcher(FakeBackend(), methods={"x_boom": boom})
    with caplog.at_level(logging.ERROR, logger=dispatch.__name__):
        raw = asyncio.run(dispatcher.handle_body(b'{"jsonrpc":"2.0","id":1,"method":"x_boom"}'))
    assert raw is not None
    assert orjson.loads(raw)["error"] == {"code": -32603, "message": "internal error"}
    assert "x_boom" in caplog.text


def test_every_wire_name_is_registered() -> None:
    wanted = {
        "web3_clientVersion",
        "web3_sha3",
        "net_version",
        "net_listening",
        "net_peerCount",
        "eth_chainId",
        "eth_blockNumber",
        "eth_syncing",
        "eth_getBalance",
        "eth_getTransactionCount",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_call",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_sendRawTransaction",
        "eth_getTransactionByHash",
        "eth_getTransactionReceipt",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockReceipts",
        "eth_getBlockTransactionCountByNumber",
        "eth_getBlockTransactionCountByHash",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getLogs",
        "eth_accounts",
        "eth_mining",
        "eth_hashrate",
        "txpool_content",
        "txpool_status",
    }
    assert wanted <= set(dispatch.METHODS)
