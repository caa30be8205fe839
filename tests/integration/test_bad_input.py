"""Bad input over real HTTP: the right JSON-RPC error, and the node is unaffected."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from eth_account import Account

from tests.integration.conftest import DEV_KEY
from tests.integration.nodeproc import NodeProcess

RECIPIENT = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"


def _post(node: NodeProcess, body: Any, **kwargs: Any) -> httpx.Response:
    if isinstance(body, (bytes, str)):
        return httpx.post(
            node.url, content=body, headers={"content-type": "application/json"}, timeout=30, **kwargs
        )
    return httpx.post(node.url, json=body, timeout=30, **kwargs)


def _call(node: NodeProcess, method: str, params: list[Any]) -> dict[str, Any]:
    answer: dict[str, Any] = _post(
        node, {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    ).json()
    return answer


def _sign(nonce: int, chain_id: int = 1337, max_fee: int = 20 * 10**9, tip: int = 10**9, **extra: Any) -> str:
    tx = {
        "chainId": chain_id,
        "nonce": nonce,
        "to": RECIPIENT,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "type": 2,
        **extra,
    }
    return "0x" + Account.sign_transaction(tx, DEV_KEY).raw_transaction.hex().removeprefix("0x")


def _assert_healthy(node: NodeProcess) -> None:
    assert int(str(node.rpc("eth_chainId")), 16) == 1337


def test_malformed_json_is_parse_error(node: NodeProcess) -> None:
    answer = _post(node, b'{"jsonrpc": "2.0", "method": ').json()
    assert answer["error"]["code"] == -32700
    assert answer["id"] is None
    _assert_healthy(node)


def test_unknown_method(node: NodeProcess) -> None:
    answer = _call(node, "eth_doesNotExist", [])
    assert answer["error"]["code"] == -32601
    assert answer["id"] == 7
    _assert_healthy(node)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_getBalance", ["0x1234", "latest"]),
        ("eth_getBalance", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xzz"]),
        ("eth_getBlockByNumber", [1, False]),
        ("eth_getBlockByNumber", ["0x01", False]),
        ("eth_getTransactionByHash", ["0x1234"]),
        ("eth_getStorageAt", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"]),
        ("eth_call", ["not an object", "latest"]),
    ],
)
def test_wrong_param_types_are_invalid_params(node: NodeProcess, method: str, params: list[Any]) -> None:
    answer = _call(node, method, params)
    assert answer["error"]["code"] == -32602, answer
    _assert_healthy(node)


def test_invalid_request_shapes(node: NodeProcess) -> None:
    assert _post(node, {"id": 1, "method": "eth_chainId"}).json()["error"]["code"] == -32600
    assert _post(node, []).json()["error"]["code"] == -32600
    batch = _post(node, [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, 5]).json()
    assert batch[0]["result"] == "0x539"
    assert batch[1]["error"]["code"] == -32600


def test_malformed_rlp_transaction(node: NodeProcess) -> None:
    before = node.rpc("txpool_status")
    answer = _call(node, "eth_sendRawTransaction", ["0xf86b8085"])
    assert answer["error"]["code"] in (-32000, -32602)
    answer = _call(node, "eth_sendRawTransaction", ["0x02c0ffee"])
    assert answer["error"]["code"] in (-32000, -32602)
    assert node.rpc("txpool_status") == before
    _assert_healthy(node)


def test_wrong_chain_id(node: NodeProcess) -> None:
    answer = _call(node, "eth_sendRawTransaction", [_sign(0, chain_id=1)])
    assert answer["error"]["code"] == -32000
    assert "chain id" in answer["error"]["message"]


def test_nonce_too_low_and_underpriced_replacement(node: NodeProcess) -> None:
    sender = Account.from_key(DEV_KEY).address
    # Get one transaction mined so that nonce 0 is in the past.
    first = _call(node, "eth_sendRawTransaction", [_sign(_nonce(node, sender))])
    assert "result" in first, first
    _wait_receipt(node, first["result"])
    low = _call(node, "eth_sendRawTransaction", [_sign(0)])
    assert low["error"]["code"] == -32000
    assert low["error"]["message"].startswith("nonce too low")

    # A queued (gapped) transaction stays in the pool: replace it with +5% and +10% fees.
    gap = _nonce(node, sender) + 5
    assert "result" in _call(node, "eth_sendRawTransaction", [_sign(gap, max_fee=20 * 10**9, tip=10**9)])
    cheap = _call(node, "eth_sendRawTransaction", [_sign(gap, max_fee=21 * 10**9, tip=1_050_000_000)])
    assert cheap["error"]["code"] == -32000
    assert cheap["error"]["message"] == "replacement transaction underpriced"
    bumped = _call(node, "eth_sendRawTransaction", [_sign(gap, max_fee=22 * 10**9, tip=1_100_000_000)])
    assert "result" in bumped, bumped
    again = _call(node, "eth_sendRawTransaction", [_sign(gap, max_fee=22 * 10**9, tip=1_100_000_000)])
    assert again["error"]["message"] == "already known"


def test_insufficient_funds(node: NodeProcess) -> None:
    broke = Account.create()
    raw = Account.sign_transaction(
        {
            "chainId": 1337,
            "nonce": 0,
            "to": RECIPIENT,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 1,
            "type": 2,
        },
        broke.key,
    ).raw_transaction
    answer = _call(node, "eth_sendRawTransaction", ["0x" + raw.hex().removeprefix("0x")])
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"].startswith("insufficient funds for gas * price + value")


def test_oversized_body_is_refused(node: NodeProcess) -> None:
    huge = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["' + b"a" * (6 * 1024 * 1024) + b'"]}'
    response = _post(node, huge)
    assert response.status_code in (200, 413)
    if response.status_code == 200:
        assert response.json()["error"]["code"] in (-32600, -32700)
    _assert_healthy(node)


def test_get_is_not_json_rpc(node: NodeProcess) -> None:
    response = httpx.get(node.url, timeout=10)
    assert response.status_code in (405, 400)
    _assert_healthy(node)


def _wait_receipt(node: NodeProcess, tx_hash: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if node.rpc("eth_getTransactionReceipt", tx_hash) is not None:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{tx_hash} not mined in {timeout_s} s")


def _nonce(node: NodeProcess, address: str) -> int:
    return int(str(node.rpc("eth_getTransactionCount", address, "pending")), 16)


def test_a_call_that_loops_is_aborted_after_the_evm_timeout(node: NodeProcess) -> None:
    loop = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: 50M gas of it would take minutes here
    target = "0x" + "42" * 20
    started = time.monotonic()
    answer = _call(node, "eth_call", [{"to": target}, "latest", {target: {"code": loop}}])
    elapsed = time.monotonic() - started
    assert answer["error"] == {"code": -32000, "message": "execution aborted (timeout = 5s)"}
    assert 4.5 < elapsed < 30
    _assert_healthy(node)
    # The node still takes transactions: the pool and block work were not held up.
    nonce = int(str(node.rpc("eth_getTransactionCount", Account.from_key(DEV_KEY).address, "pending")), 16)
    sent = _call(node, "eth_sendRawTransaction", [_sign(nonce)])
    assert "result" in sent, sent
