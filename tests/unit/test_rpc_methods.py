"""Method semantics against the fake backend: block tags, ranges, defaults, what reaches the backend."""

from __future__ import annotations

from typing import Any

import pytest

from jsc_node.config import RPC_APIS
from jsc_node.errors import ExecutionReverted, InvalidTransaction
from jsc_node.rpc.app import create_app
from jsc_node.views import BlockId, CallRequest, LogFilter, LogView, SyncStatus, TxPoolContent
from tests.unit.test_rpc_fake import AccessSettings, FakeBackend, make_block, make_tx, rpc

ALICE = b"\xa1" * 20
HEAD = 5


class Settings(AccessSettings):
    rpc_http_cors_origins: tuple[str, ...] = ()
    rpc_max_request_bytes = 1 << 20
    rpc_http_max_batch_size = 100
    rpc_http_api = RPC_APIS
    rpc_ws_api = RPC_APIS


@pytest.fixture
def backend() -> FakeBackend:
    fake = FakeBackend()
    for n in range(HEAD + 1):
        fake.add_block(make_block(n, [make_tx(n * 10 + i, block=n, index=i) for i in range(n % 3)]))
    return fake


def run(backend: FakeBackend, method: str, *params: Any) -> Any:
    return rpc(create_app(backend, Settings()), method, *params)


def result(backend: FakeBackend, method: str, *params: Any) -> Any:
    got = run(backend, method, *params)
    assert "error" not in got, got
    return got["result"]


def error(backend: FakeBackend, method: str, *params: Any) -> dict[str, Any]:
    got = run(backend, method, *params)
    assert "error" in got, got
    err: dict[str, Any] = got["error"]
    return err


def hx(raw: bytes) -> str:
    return "0x" + raw.hex()


# --- simple facts --------------------------------------------------------------------------


def test_simple_facts(backend: FakeBackend) -> None:
    assert result(backend, "eth_chainId") == "0x539"
    assert result(backend, "net_version") == "1337"
    assert result(backend, "eth_blockNumber") == hex(HEAD)
    assert result(backend, "net_peerCount") == "0x3"
    assert result(backend, "net_listening") is True
    assert result(backend, "eth_accounts") == []
    assert result(backend, "eth_mining") is False
    assert result(backend, "eth_hashrate") == "0x0"
    assert result(backend, "eth_gasPrice") == hex(1_000_000_007)
    assert result(backend, "eth_maxPriorityFeePerGas") == hex(1_000_000_000)
    assert result(backend, "web3_clientVersion") == "jsc-node/v0.1.0-test"


def test_web3_sha3_is_keccak(backend: FakeBackend) -> None:
    assert (
        result(backend, "web3_sha3", "0x")
        == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert error(backend, "web3_sha3", "0x1")["code"] == -32602


def test_syncing(backend: FakeBackend) -> None:
    assert result(backend, "eth_syncing") is False
    backend.sync = SyncStatus(starting_block=1, current_block=5, highest_block=9)
    assert result(backend, "eth_syncing") == {
        "startingBlock": "0x1",
        "currentBlock": "0x5",
        "highestBlock": "0x9",
    }


# --- blocks and tags -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "number"),
    [("latest", HEAD), ("safe", HEAD), ("finalized", HEAD), ("earliest", 0)],
)
def test_block_tags(backend: FakeBackend, tag: str, number: int) -> None:
    assert result(backend, "eth_getBlockByNumber", tag, False)["number"] == hex(number)


def test_pending_tag_is_the_next_block_with_geths_null_fields(backend: FakeBackend) -> None:
    """geth (internal/ethapi GetBlockByNumber, GetHeaderByNumber): the pending block is head + 1,
    its hash, nonce and miner null; its transactions count and index like a block's."""
    block = result(backend, "eth_getBlockByNumber", "pending", False)
    assert block["number"] == hex(HEAD + 1)
    assert (block["hash"], block["nonce"], block["miner"]) == (None, None, None)
    header = result(backend, "eth_getHeaderByNumber", "pending")
    assert (header["hash"], header["nonce"], header["miner"], header["number"]) == (
        None,
        None,
        None,
        hex(HEAD + 1),
    )
    count = len(block["transactions"])
    assert result(backend, "eth_getBlockTransactionCountByNumber", "pending") == hex(count)
    assert result(backend, "eth_getTransactionByBlockNumberAndIndex", "pending", hex(count)) is None
    assert result(backend, "eth_getBlockReceipts", "pending") == []
    assert result(backend, "eth_getUncleCountByBlockNumber", "pending") == "0x0"
    # A number past the head is no block, pending or not.
    assert result(backend, "eth_getBlockByNumber", hex(HEAD + 1), False) is None


def test_block_by_number_hashes_or_full(backend: FakeBackend) -> None:
    hashes = result(backend, "eth_getBlockByNumber", "0x2", False)["transactions"]
    full = result(backend, "eth_getBlockByNumber", "0x2", True)["transactions"]
    assert hashes == [tx["hash"] for tx in full]
    assert all(isinstance(h, str) for h in hashes)
    assert full[1]["transactionIndex"] == "0x1"


def test_missing_blocks_are_null(backend: FakeBackend) -> None:
    assert result(backend, "eth_getBlockByNumber", "0x64", False) is None
    assert result(backend, "eth_getBlockByHash", hx(b"\xee" * 32), False) is None
    assert result(backend, "eth_getBlockTransactionCountByNumber", "0x64") is None
    assert result(backend, "eth_getBlockTransactionCountByHash", hx(b"\xee" * 32)) is None
    assert result(backend, "eth_getBlockReceipts", "0x64") is None
    assert result(backend, "eth_getTransactionByBlockNumberAndIndex", "0x64", "0x0") is None
    assert result(backend, "eth_getTransactionByBlockNumberAndIndex", "0x2", "0x9") is None
    assert result(backend, "eth_getUncleCountByBlockNumber", "0x64") is None


def test_full_flag_is_required_and_boolean(backend: FakeBackend) -> None:
    assert error(backend, "eth_getBlockByNumber", "latest") == {
        "code": -32602,
        "message": "missing value for required argument 1",
    }
    assert error(backend, "eth_getBlockByNumber", "latest", "true")["code"] == -32602


def test_counts_and_indexes(backend: FakeBackend) -> None:
    block2 = backend.blocks[2]
    assert result(backend, "eth_getBlockTransactionCountByNumber", "0x2") == "0x2"
    assert result(backend, "eth_getBlockTransactionCountByHash", hx(block2.hash)) == "0x2"
    by_hash = result(backend, "eth_getTransactionByBlockHashAndIndex", hx(block2.hash), "0x1")
    by_number = result(backend, "eth_getTransactionByBlockNumberAndIndex", "0x2", "0x1")
    assert by_hash == by_number
    assert by_hash["blockNumber"] == "0x2"
    assert result(backend, "eth_getUncleCountByBlockNumber", "0x2") == "0x0"


def test_transaction_by_hash_mined_and_pending(backend: FakeBackend) -> None:
    mined = backend.blocks[1].transactions[0]
    assert (
        result(
            backend, "eth_getTransactionByHash", hx(mined.hash if not isinstance(mined, bytes) else mined)
        )["blockNumber"]
        == "0x1"
    )
    pending = make_tx(77)
    backend.pool_txs[pending.hash] = pending
    assert result(backend, "eth_getTransactionByHash", hx(pending.hash))["blockHash"] is None
    assert result(backend, "eth_getTransactionReceipt", hx(pending.hash)) is None


# --- state ------------------------------------------------------------------------------------


def test_state_reads_and_defaults(backend: FakeBackend) -> None:
    backend.balances[ALICE] = 10**18
    backend.codes[ALICE] = b"\x60\x00"
    backend.storage[(ALICE, (1).to_bytes(32, "big"))] = (42).to_bytes(32, "big")
    assert result(backend, "eth_getBalance", hx(ALICE)) == hex(10**18)
    assert result(backend, "eth_getBalance", hx(ALICE), "latest") == hex(10**18)
    assert result(backend, "eth_getBalance", hx(ALICE), {"blockNumber": "0x1"}) == hex(10**18)
    assert result(backend, "eth_getBalance", hx(b"\x00" * 20), "latest") == "0x0"
    assert result(backend, "eth_getCode", hx(ALICE)) == "0x6000"
    assert result(backend, "eth_getStorageAt", hx(ALICE), "0x1") == "0x" + "00" * 31 + "2a"
    assert result(backend, "eth_getStorageAt", hx(ALICE), "0x2", "latest") == "0x" + "00" * 32


def test_state_at_a_missing_block_is_header_not_found(backend: FakeBackend) -> None:
    assert error(backend, "eth_getBalance", hx(ALICE), "0x64") == {
        "code": -32000,
        "message": "header not found",
    }
    assert error(backend, "eth_getCode", hx(ALICE), hx(b"\xee" * 32))["code"] == -32000


def test_pending_nonce_counts_the_pool(backend: FakeBackend) -> None:
    backend.nonces[ALICE] = 4
    for n in (4, 5):
        tx = make_tx(n, sender=ALICE)
        backend.pool_txs[tx.hash] = tx
    assert result(backend, "eth_getTransactionCount", hx(ALICE), "latest") == "0x4"
    assert result(backend, "eth_getTransactionCount", hx(ALICE), "pending") == "0x6"


# --- execution ---------------------------------------------------------------------------------


def test_call_passes_request_block_and_overrides(backend: FakeBackend) -> None:
    backend.call_handler = lambda request: b"\xff\xee"
    overrides = {hx(ALICE): {"balance": "0x10"}}
    assert result(backend, "eth_call", {"to": hx(ALICE), "input": "0x01"}, "0x1", overrides) == "0xffee"
    _, (request, block, seen) = next(c for c in backend.calls if c[0] == "call")
    assert request == CallRequest(to=ALICE, input=b"\x01")
    assert block == BlockId(number=1)
    assert seen[ALICE].balance == 16


def test_call_defaults_to_latest(backend: FakeBackend) -> None:
    result(backend, "eth_call", {"to": hx(ALICE)})
    _, (_, block, overrides) = next(c for c in backend.calls if c[0] == "call")
    assert block == BlockId(tag="latest")
    assert overrides is None


def test_call_refuses_block_overrides(backend: FakeBackend) -> None:
    assert error(backend, "eth_call", {"to": hx(ALICE)}, "latest", None, {"number": "0x1"})["code"] == -32602


def test_call_revert(backend: FakeBackend) -> None:
    def revert(request: CallRequest) -> bytes:
        raise ExecutionReverted(bytes.fromhex("4e487b71") + (0x12).to_bytes(32, "big"))

    backend.call_handler = revert
    err = error(backend, "eth_call", {"to": hx(ALICE)}, "latest")
    assert err["code"] == 3
    assert err["message"] == "execution reverted: division or modulo by zero"
    assert error(backend, "eth_estimateGas", {"to": hx(ALICE)})["code"] == 3


def test_estimate_gas(backend: FakeBackend) -> None:
    backend.gas_estimate = 53_000
    assert result(backend, "eth_estimateGas", {"from": hx(ALICE), "to": hx(ALICE)}) == hex(53_000)
    assert error(backend, "eth_estimateGas", {"to": "0x12"})["message"].startswith("invalid argument 0: ")


def test_send_raw_transaction(backend: FakeBackend) -> None:
    assert result(backend, "eth_sendRawTransaction", "0x02f8") == "0x" + "99" * 32
    assert ("send_raw_transaction", (b"\x02\xf8",)) in backend.calls

    async def refuse(raw: bytes) -> bytes:
        raise InvalidTransaction("nonce too low: next nonce 5, tx nonce 3")

    backend.send_raw_transaction = refuse  # type: ignore[method-assign]
    assert error(backend, "eth_sendRawTransaction", "0x02f8") == {
        "code": -32000,
        "message": "nonce too low: next nonce 5, tx nonce 3",
    }
    assert error(backend, "eth_sendRawTransaction", "0x2")["code"] == -32602


# --- fee history ---------------------------------------------------------------------------------


def _fee_call(backend: FakeBackend) -> tuple[Any, ...]:
    args: tuple[Any, ...] = next(c for c in reversed(backend.calls) if c[0] == "fee_history")[1]
    return args


def test_fee_history_clamps_count(backend: FakeBackend) -> None:
    got = result(backend, "eth_feeHistory", "0x400", "latest", [25, 75])
    assert _fee_call(backend) == (HEAD + 1, HEAD, (25.0, 75.0))
    assert got["oldestBlock"] == "0x0"
    assert len(got["reward"]) == HEAD + 1
    result(backend, "eth_feeHistory", 2, "0x3")
    assert _fee_call(backend) == (2, 3, ())
    result(backend, "eth_feeHistory", "2", "latest")
    assert _fee_call(backend)[0] == 2


def test_fee_history_without_percentiles_has_no_reward(backend: FakeBackend) -> None:
    assert "reward" not in result(backend, "eth_feeHistory", "0x1", "latest")


def test_fee_history_zero_blocks(backend: FakeBackend) -> None:
    assert result(backend, "eth_feeHistory", "0x0", "latest", []) == {
        "oldestBlock": "0x0",
        "gasUsedRatio": None,
    }


@pytest.mark.parametrize("percentiles", [[-1], [101], [50, 50], [60, 40], ["10"], list(range(101))])
def test_fee_history_bad_percentiles(backend: FakeBackend, percentiles: list[Any]) -> None:
    assert error(backend, "eth_feeHistory", "0x1", "latest", percentiles)["code"] == -32602


def test_fee_history_beyond_head(backend: FakeBackend) -> None:
    assert error(backend, "eth_feeHistory", "0x1", "0x64")["code"] == -32000


def test_base_fee_of_next_block(backend: FakeBackend) -> None:
    assert result(backend, "eth_baseFee") == "0x7"
    assert result(backend, "eth_blobBaseFee") == "0x1"


# --- logs ----------------------------------------------------------------------------------------

TOPIC_A = b"\x0a" * 32
TOPIC_B = b"\x0b" * 32


def _log(block: int, index: int, address: bytes, *topics: bytes) -> LogView:
    return LogView(
        address=address,
        topics=topics,
        data=b"",
        block_number=block,
        block_hash=block.to_bytes(32, "big"),
        block_timestamp=1_700_000_000 + block,
        transaction_hash=b"\x01" * 32,
        transaction_index=0,
        log_index=index,
    )


def _log_query(backend: FakeBackend) -> LogFilter:
    query = next(c for c in reversed(backend.calls) if c[0] == "get_logs")[1][0]
    assert isinstance(query, LogFilter)
    return query


def test_logs_default_to_the_head_block(backend: FakeBackend) -> None:
    backend.logs = [_log(HEAD, 0, ALICE, TOPIC_A), _log(1, 0, ALICE, TOPIC_A)]
    got = result(backend, "eth_getLogs", {})
    assert [x["blockNumber"] for x in got] == [hex(HEAD)]
    assert _log_query(backend) == LogFilter(from_block=HEAD, to_block=HEAD)


def test_logs_range_addresses_topics(backend: FakeBackend) -> None:
    backend.logs = [
        _log(1, 0, ALICE, TOPIC_A, TOPIC_B),
        _log(2, 0, b"\x02" * 20, TOPIC_A),
        _log(3, 0, ALICE, TOPIC_B),
    ]
    got = result(
        backend,
        "eth_getLogs",
        {"fromBlock": "earliest", "toBlock": "0x3", "address": hx(ALICE), "topics": [None, [hx(TOPIC_B)]]},
    )
    assert [x["blockNumber"] for x in got] == ["0x1"]
    assert _log_query(backend) == LogFilter(0, 3, (ALICE,), (None, (TOPIC_B,)))


def test_logs_by_block_hash(backend: FakeBackend) -> None:
    backend.logs = [_log(2, 0, ALICE)]
    assert len(result(backend, "eth_getLogs", {"blockHash": hx(backend.blocks[2].hash)})) == 1
    assert _log_query(backend) == LogFilter(2, 2)
    assert error(backend, "eth_getLogs", {"blockHash": hx(b"\xee" * 32)}) == {
        "code": -32000,
        "message": "unknown block",
    }


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"fromBlock": "0x3", "toBlock": "0x2"}, "invalid block range params"),
        ({"fromBlock": "0x3", "toBlock": "0x64"}, "block range extends beyond current head block"),
        ({"fromBlock": "0x64"}, "invalid block range params"),
        (
            {"blockHash": "0x" + "00" * 32, "fromBlock": "0x1"},
            "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other",
        ),
        ({"topics": [None] * 5}, "invalid argument 0: exceed max topics"),
        ({"address": 5}, "invalid argument 0: invalid addresses in query"),
    ],
)
def test_log_query_errors(backend: FakeBackend, criteria: dict[str, Any], message: str) -> None:
    assert error(backend, "eth_getLogs", criteria) == {"code": -32602, "message": message}


# --- pool ----------------------------------------------------------------------------------------


def test_txpool(backend: FakeBackend) -> None:
    sender = bytes.fromhex("0c2c51a0990aee1d73c1228de158688341557508")
    backend.pool = TxPoolContent(
        pending={sender: {1: make_tx(1, sender=sender), 0: make_tx(0, sender=sender, to=None)}},
        queued={sender: {5: make_tx(5, sender=sender)}},
    )
    content = result(backend, "txpool_content")
    key = "0x0c2c51a0990AeE1d73C1228de158688341557508"
    assert list(content["pending"][key]) == ["0", "1"]
    assert list(content["queued"][key]) == ["5"]
    assert result(backend, "txpool_status") == {"pending": "0x2", "queued": "0x1"}
    assert list(result(backend, "txpool_contentFrom", hx(sender))["pending"]) == ["0", "1"]
    assert result(backend, "txpool_contentFrom", hx(ALICE)) == {"pending": {}, "queued": {}}
    inspect = result(backend, "txpool_inspect")
    assert inspect["pending"][key]["0"] == "contract creation: 1 wei + 21000 gas × 8 wei"
    assert inspect["pending"][key]["1"].endswith(": 1 wei + 21000 gas × 8 wei")


def test_headers_are_blocks_without_body(backend: FakeBackend) -> None:
    header = result(backend, "eth_getHeaderByNumber", "0x2")
    block = result(backend, "eth_getBlockByNumber", "0x2", False)
    assert header == {k: v for k, v in block.items() if k not in ("size", "transactions", "uncles")}
    assert result(backend, "eth_getHeaderByHash", block["hash"]) == header
    assert result(backend, "eth_getHeaderByNumber", "0x64") is None


def test_rpc_modules(backend: FakeBackend) -> None:
    namespaces = ("admin", "debug", "eth", "jsc", "net", "qbft", "testing", "txpool", "web3")
    assert result(backend, "rpc_modules") == dict.fromkeys(namespaces, "1.0")
    assert {name.lower() for name in RPC_APIS} == set(namespaces)
    # Every method served belongs to a namespace rpc_modules names.
    from jsc_node.rpc.dispatch import METHODS

    assert {name.split("_", 1)[0] for name in METHODS} <= {*namespaces, "rpc"}


def test_log_filter_caps(backend: FakeBackend) -> None:
    many = ["0x" + "11" * 20] * 1001
    assert error(backend, "eth_getLogs", {"address": many})["message"] == (
        "invalid argument 0: exceed max addresses or topics per search position"
    )
    assert error(backend, "eth_getLogs", {"topics": [["0x" + "00" * 32] * 1001]})["code"] == -32602
