"""Replays the execution-apis rpc-compat fixtures through the app, against a fake backend seeded
from each fixture's own expected answer.

This checks the RPC layer alone: parameter decoding, the envelope, error codes, and that views
formatted by ``rpc/encoding.py`` reproduce geth's JSON exactly (keys, hex case, order of arrays).
Whether the execution side computes the right numbers is the conformance suite's job.
Error messages are compared only where this layer writes them (revert reasons).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from jsc_node.config import RPC_APIS
from jsc_node.errors import ExecutionReverted
from jsc_node.rpc.app import create_app
from jsc_node.views import CallRequest
from tests.unit.test_rpc_fake import (
    AccessSettings,
    FakeBackend,
    parse_block,
    parse_fee_history,
    parse_log,
    parse_pool,
    parse_receipt,
    parse_tx,
    post,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "rpc-compat"
HEAD = 0x2D
CHAIN_ID = 0xC72DD9D5E883E


class Settings(AccessSettings):
    rpc_http_cors_origins: tuple[str, ...] = ()
    rpc_max_request_bytes = 5 * 1024 * 1024
    rpc_http_max_batch_size = 1000
    rpc_http_api = RPC_APIS
    rpc_ws_api = RPC_APIS


def _exchanges(path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    request: dict[str, Any] | None = None
    for line in path.read_text().splitlines():
        if line.startswith(">> "):
            request = orjson.loads(line[3:])
        elif line.startswith("<< ") and request is not None:
            yield request, orjson.loads(line[3:])
            request = None


def _seed(backend: FakeBackend, method: str, params: list[Any], response: dict[str, Any]) -> None:
    """Put into the fake exactly what the fixture's answer needs."""
    result = response.get("result")
    error = response.get("error")
    backend.chain = CHAIN_ID
    for number in range(HEAD + 1):
        backend.blocks[number] = parse_block(_stub_block(number))
    if method in ("eth_getBlockByNumber", "eth_getBlockByHash") and result is not None:
        block = parse_block(result)
        backend.blocks[block.number] = block
    if method == "eth_getBlockReceipts" and result is not None:
        number = int(result[0]["blockNumber"], 16) if result else _number_of(params[0])
        backend.blocks[number] = parse_block(_stub_block(number, params[0]))
        for receipt in result:
            view = parse_receipt(receipt)
            backend.receipts[view.transaction_hash] = view
    if method.startswith("eth_getTransactionBy") and result is not None:
        tx = parse_tx(result)
        assert tx.block_number is not None
        assert tx.transaction_index is not None
        stub = parse_block(_stub_block(tx.block_number, tx.block_hash))
        txs = [tx] * (tx.transaction_index + 1)
        backend.blocks[tx.block_number] = stub.__class__(**{**_fields(stub), "transactions": tuple(txs)})
    if method == "eth_getTransactionReceipt" and result is not None:
        view = parse_receipt(result)
        backend.receipts[view.transaction_hash] = view
    if method.startswith("eth_getBlockTransactionCountBy") and result is not None:
        number = _number_of(params[0]) if method.endswith("Number") else 1 if int(result, 16) else 0
        stub = parse_block(_stub_block(number, params[0] if method.endswith("Hash") else None))
        count = int(result, 16)
        backend.blocks[number] = stub.__class__(**{**_fields(stub), "transactions": (b"\x01" * 32,) * count})
    if method == "eth_getLogs" and result is not None:
        backend.logs = [parse_log(x) for x in result]
        for log in backend.logs:
            backend.blocks[log.block_number] = parse_block(_stub_block(log.block_number, log.block_hash))
    if method in ("eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt") and result:
        address = bytes.fromhex(params[0][2:])
        if (
            len(params) > 1
            and isinstance(params[-1], str)
            and len(params[-1]) == 66
            and method == "eth_getBalance"
        ):
            backend.blocks[0x20] = parse_block(_stub_block(0x20, params[-1]))
        if method == "eth_getBalance":
            backend.balances[address] = int(result, 16)
        elif method == "eth_getTransactionCount":
            backend.nonces[address] = int(result, 16)
        elif method == "eth_getCode":
            backend.codes[address] = bytes.fromhex(result[2:])
        else:
            slot = int(params[1], 16).to_bytes(32, "big")
            backend.storage[(address, slot)] = bytes.fromhex(result[2:])
    if method in ("eth_call", "eth_estimateGas"):
        backend.call_handler = _call_handler(method, result, error)
        if method == "eth_estimateGas" and result is not None:
            backend.gas_estimate = int(result, 16)
    if method in ("eth_feeHistory", "eth_baseFee", "eth_blobBaseFee") and result is not None:
        if method == "eth_feeHistory":
            backend.fee_history_view = parse_fee_history(result)
        else:
            fee = int(result, 16)
            backend.fee_history_view = parse_fee_history(
                {
                    "oldestBlock": hex(HEAD),
                    "baseFeePerGas": [hex(fee if method == "eth_baseFee" else 7)] * 2,
                    "gasUsedRatio": [0.5],
                    "baseFeePerBlobGas": [hex(fee if method == "eth_blobBaseFee" else 1)] * 2,
                    "blobGasUsedRatio": [0],
                }
            )
    if method.startswith("txpool_content") and result is not None and method == "txpool_content":
        backend.pool = parse_pool(result)
    if method == "txpool_status" and result is not None:
        pending, queued = int(result["pending"], 16), int(result["queued"], 16)
        backend.pool = parse_pool({"pending": {}, "queued": {}})
        backend.txpool_status = _const((pending, queued))  # type: ignore[method-assign]
    if method == "eth_sendRawTransaction" and result is not None:
        backend.send_raw_transaction = _const(bytes.fromhex(result[2:]))  # type: ignore[method-assign]


def _const(value: Any) -> Callable[..., Any]:
    async def answer(*args: Any) -> Any:
        return value

    return answer


def _call_handler(method: str, result: Any, error: Any) -> Callable[[CallRequest], bytes]:
    def handler(request: CallRequest) -> bytes:
        if error is not None and error["code"] == 3:
            raise ExecutionReverted(bytes.fromhex(error["data"][2:]))
        return bytes.fromhex(result[2:]) if method == "eth_call" else b""

    return handler


def _number_of(value: Any) -> int:
    if value in ("latest", "pending", "safe", "finalized"):
        return HEAD
    if value == "earliest":
        return 0
    if isinstance(value, str) and len(value) == 66:
        return 1
    return int(value, 16)


def _fields(block: Any) -> dict[str, Any]:
    return {name: getattr(block, name) for name in block.__dataclass_fields__}


def _stub_block(number: int, block_hash: Any = None) -> dict[str, Any]:
    zero = "0x" + "00" * 32
    hash_hex = block_hash if isinstance(block_hash, str) and len(block_hash) == 66 else hex(number)
    if isinstance(block_hash, bytes):
        hash_hex = "0x" + block_hash.hex()
    if not (isinstance(hash_hex, str) and len(hash_hex) == 66):
        hash_hex = "0x" + "bb" * 28 + number.to_bytes(4, "big").hex()
    return {
        "number": hex(number),
        "hash": hash_hex,
        "parentHash": zero,
        "nonce": "0x0000000000000000",
        "mixHash": zero,
        "sha3Uncles": zero,
        "logsBloom": "0x" + "00" * 256,
        "transactionsRoot": zero,
        "stateRoot": zero,
        "receiptsRoot": zero,
        "miner": "0x" + "00" * 20,
        "difficulty": "0x0",
        "extraData": "0x",
        "gasLimit": "0x1",
        "gasUsed": "0x0",
        "timestamp": "0x0",
        "size": "0x0",
        "transactions": [],
        "uncles": [],
    }


IN_SCOPE = {
    "eth_baseFee",
    "eth_blobBaseFee",
    "eth_blockNumber",
    "eth_call",
    "eth_chainId",
    "eth_estimateGas",
    "eth_feeHistory",
    "eth_getBalance",
    "eth_getBlockByHash",
    "eth_getBlockByNumber",
    "eth_getBlockReceipts",
    "eth_getBlockTransactionCountByHash",
    "eth_getBlockTransactionCountByNumber",
    "eth_getCode",
    "eth_getLogs",
    "eth_getStorageAt",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_sendRawTransaction",
    "eth_syncing",
    "net_version",
    "txpool_content",
    "txpool_contentFrom",
    "txpool_status",
}


def _fixture_files() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in FIXTURES.glob("*/*.io") if p.parent.name in IN_SCOPE)


FILES = _fixture_files()


@pytest.mark.skipif(not FILES, reason="rpc-compat fixtures not present")
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_replays_exactly(path: Path) -> None:
    for request, expected in _exchanges(path):
        backend = FakeBackend()
        _seed(backend, request["method"], request.get("params", []), expected)
        got = post(create_app(backend, Settings()), orjson.dumps(request)).json()
        if "error" in expected:
            assert "error" in got, got
            assert got["error"]["code"] == expected["error"]["code"], (got, expected)
            if expected["error"]["code"] == 3:
                assert got["error"] == expected["error"]
            assert {k: v for k, v in got.items() if k != "error"} == {
                k: v for k, v in expected.items() if k != "error"
            }
        else:
            assert got == expected


def test_fixture_set_is_covered() -> None:
    if not FIXTURES.is_dir():
        pytest.skip("rpc-compat fixtures not present")
    assert len(FILES) >= 70
