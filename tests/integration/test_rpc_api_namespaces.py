"""``--rpc-http-api`` / ``--rpc-ws-api`` on a real node: a default node refuses debug/qbft/admin/txpool
as geth refuses unknown methods; a node given DEBUG traces; the WebSocket list holds on a port
shared with HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.integration.conftest import DEV_KEY, web3_for
from tests.integration.nodeproc import NodeProcess

OTHER = "0x" + "22" * 20


def _call(url: str, method: str, *params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer: dict[str, Any] = httpx.post(url, json=body, timeout=30).json()
    return answer


def _not_available(method: str) -> dict[str, Any]:
    return {"code": -32601, "message": f"the method {method} does not exist/is not available"}


async def _ws_calls(url: str, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    answers = []
    async with websockets.connect(url) as ws:
        for i, (method, params) in enumerate(calls):
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    return answers


@pytest.fixture(scope="module")
def default_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    # No flags: the node's own default (ETH,NET,WEB3) on both transports.
    proc = NodeProcess(tmp_path_factory.mktemp("ns-default") / "data", http_api=None, ws_api=None).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def debug_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    # WebSocket on the HTTP port: a WebSocket connection still gets the ws list.
    data: Path = tmp_path_factory.mktemp("ns-debug") / "data"
    proc = NodeProcess(data, http_api="eth,net,web3,debug", ws_api=None)
    proc.ws_port = proc.http_port
    proc.start()
    yield proc
    proc.stop()


def _send_transfer(node: NodeProcess) -> str:
    w3 = web3_for(node.url)
    account = w3.eth.account.from_key(DEV_KEY)
    tx = {
        "to": OTHER,
        "value": 1,
        "gas": 21_000,
        "gasPrice": w3.eth.gas_price * 2,
        "nonce": w3.eth.get_transaction_count(account.address),
        "chainId": w3.eth.chain_id,
    }
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    return "0x" + bytes(tx_hash).hex()


def test_default_node_refuses_and_changes_nothing(default_node: NodeProcess) -> None:
    url = default_node.url
    tx_hash = _send_transfer(default_node)
    for method, params in [
        ("debug_traceTransaction", [tx_hash]),
        ("qbft_proposeValidatorVote", [OTHER, True]),
        ("admin_peers", []),
        ("txpool_status", []),
    ]:
        assert _call(url, method, *params)["error"] == _not_available(method), method
    assert _call(url, "rpc_modules")["result"] == {"eth": "1.0", "net": "1.0", "web3": "1.0"}
    # Refused calls left the node as it was: it still builds blocks.
    head = int(_call(url, "eth_blockNumber")["result"], 16)
    _send_transfer(default_node)
    assert int(_call(url, "eth_blockNumber")["result"], 16) > head
    ws_url = f"ws://127.0.0.1:{default_node.ws_port}"
    answers = asyncio.run(_ws_calls(ws_url, [("debug_traceTransaction", [tx_hash]), ("rpc_modules", [])]))
    assert answers[0]["error"] == _not_available("debug_traceTransaction")
    assert answers[1]["result"] == {"eth": "1.0", "net": "1.0", "web3": "1.0"}


def test_debug_enabled_over_http_only(debug_node: NodeProcess) -> None:
    url = debug_node.url
    tx_hash = _send_transfer(debug_node)
    trace = _call(url, "debug_traceTransaction", tx_hash)
    assert trace["result"]["failed"] is False
    assert _call(url, "qbft_proposeValidatorVote", OTHER, True)["error"] == _not_available(
        "qbft_proposeValidatorVote"
    )
    assert _call(url, "rpc_modules")["result"] == {"debug": "1.0", "eth": "1.0", "net": "1.0", "web3": "1.0"}
    # Same port, WebSocket: the ws list (the default), not the HTTP one.
    ws_url = f"ws://127.0.0.1:{debug_node.http_port}"
    answers = asyncio.run(
        _ws_calls(ws_url, [("debug_traceTransaction", [tx_hash]), ("rpc_modules", []), ("eth_chainId", [])])
    )
    assert answers[0]["error"] == _not_available("debug_traceTransaction")
    assert answers[1]["result"] == {"eth": "1.0", "net": "1.0", "web3": "1.0"}
    assert answers[2]["result"] == "0x539"
