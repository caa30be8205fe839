"""Read-your-writes on one node (jsc_node/state/backend.py's published head, read_snapshot): a block
whose LevelDB batch is written but which the pool has not taken in yet is not shown to JSON-RPC;
ExecutionService shows it only after the pool's update; one request or one batch reads one head.

On a real LevelDB, with the execution process's own ExecutionService and the RPC dispatcher.
tests/integration/ryw_probe.py checks the same invariant from outside, against a running node.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.config import NodeConfig
from jsc_node.execution_process import ExecutionService, open_node_state
from jsc_node.genesis import load_genesis
from jsc_node.rpc.dispatch import METHODS, Dispatcher
from jsc_node.seam.messages import BuildBlockRequest, CommitBlockRequest
from jsc_node.state.backend import NodeBackend

# The seam test's key, signed transfer and sealing of a built block (one copy of each).
from tests.unit.test_seam_execution import KEY, _sealed, _transfer

SENDER = Account.from_key(KEY).address


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ExecutionService]:
    (tmp_path / "data").mkdir()
    db, executor, pool, backend = open_node_state(NodeConfig(data_path=tmp_path / "data"), load_genesis(None))
    yield ExecutionService(executor, pool, backend)
    pool.close()
    db.close()


async def _next_block(service: ExecutionService, raw: bytes) -> tuple[bytes, bytes]:
    """Pool ``raw`` over RPC and build the next block with it: (sealed block, tx hash)."""
    tx_hash = await service.backend.send_raw_transaction(raw)
    head = service.executor.head
    extra = encode_extra_data(QbftExtraData(b"\x00" * 32, service.executor.spec.validators, None, 0, ()))
    built = await service.build_block(
        BuildBlockRequest(bytes(head.hash), head.timestamp + 1, b"\x11" * 20, extra)
    )
    assert built.tx_count == 1
    return _sealed(built.block), tx_hash


def _rpc(dispatcher: Dispatcher, payload: Any) -> Any:
    return json.loads(asyncio.run(dispatcher.handle_body(json.dumps(payload))) or b"null")


def test_a_written_block_is_not_shown_until_the_pool_has_taken_it_in(service: ExecutionService) -> None:
    backend: NodeBackend = service.backend
    sealed, tx_hash = asyncio.run(_next_block(service, _transfer(0)))
    # The block worker's step alone: the batch is written and the executor's head moved, but the
    # event loop has not yet updated the pool (the window the probe found stale reads in).
    service.executor.commit_block(sealed)
    new_hash = bytes(service.executor.head.hash)
    assert service.executor.head.block_number == 1

    async def reads() -> tuple[Any, ...]:
        return (
            await backend.head_number(),
            await backend.receipt(tx_hash),
            await backend.transaction_by_hash(tx_hash),
            await backend.block_by_hash(new_hash, False),
            await backend.raw_transaction(tx_hash),
        )

    number, receipt, tx, block, raw = asyncio.run(reads())
    assert (number, receipt, block) == (0, None, None)
    # Still shown as the pool's pending transaction, as it was a moment before.
    assert tx is not None
    assert tx.block_number is None
    assert raw is not None

    backend.publish_head()
    number, receipt, tx, block, _raw = asyncio.run(reads())
    assert number == 1
    assert receipt is not None
    assert receipt.block_number == 1
    assert tx is not None
    assert tx.block_number == 1
    assert block is not None
    assert block.number == 1


def test_the_service_shows_a_block_only_after_the_pool_update(
    service: ExecutionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = service.backend
    sealed, tx_hash = asyncio.run(_next_block(service, _transfer(0)))
    seen_by_rpc_during_pool_update: list[int] = []
    on_new_head = service.pool.on_new_head

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen_by_rpc_during_pool_update.append(int(backend.head.block_number))
        return on_new_head(*args, **kwargs)

    monkeypatch.setattr(service.pool, "on_new_head", recording)
    asyncio.run(service.commit_block(CommitBlockRequest(sealed)))
    assert seen_by_rpc_during_pool_update == [0]
    assert asyncio.run(backend.head_number()) == 1
    receipt = asyncio.run(backend.receipt(tx_hash))
    assert receipt is not None
    assert receipt.status == 1
    assert service.pool.nonce_after_pending(bytes.fromhex(SENDER[2:])) == 1


def test_one_batch_is_answered_from_one_head(service: ExecutionService) -> None:
    backend = service.backend
    sealed, tx_hash = asyncio.run(_next_block(service, _transfer(0)))

    async def commit_now(_backend: Any, _params: list[Any]) -> bool:
        # A block lands in the middle of the batch, as ExecutionService would commit it.
        await service.commit_block(CommitBlockRequest(sealed))
        return True

    dispatcher = Dispatcher(backend, methods={**METHODS, "test_commitNow": commit_now})

    def call(id_: int, method: str, params: list[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}

    tx = "0x" + tx_hash.hex()
    answers = _rpc(
        dispatcher,
        [
            call(1, "eth_blockNumber", []),
            call(2, "test_commitNow", []),
            call(3, "eth_blockNumber", []),
            call(4, "eth_getTransactionReceipt", [tx]),
            call(5, "eth_getTransactionCount", [SENDER, "latest"]),
            call(6, "eth_getBlockByNumber", ["latest", False]),
        ],
    )
    by_id = {a["id"]: a["result"] for a in answers}
    assert by_id[2] is True
    assert (by_id[1], by_id[3], by_id[4], by_id[5]) == ("0x0", "0x0", None, "0x0")
    assert by_id[6]["number"] == "0x0"
    # The next request reads the new head, the receipt with it.
    after = _rpc(dispatcher, [call(1, "eth_blockNumber", []), call(2, "eth_getTransactionReceipt", [tx])])
    assert after[0]["result"] == "0x1"
    assert after[1]["result"]["blockNumber"] == "0x1"
