"""The ``pending`` block tag on a real LevelDB with a pool whose sealing the test controls.

geth (and anvil) answer ``pending`` with the block the node would build next: number head + 1 on
the head, the pool's executable transactions, hash, nonce and miner null (internal/ethapi
``GetBlockByNumber``); state reads at ``pending`` see that block's post-state, ``latest`` does not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth._utils.address import generate_contract_address
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node.chainformat import QbftExtraData, decode_extra_data, encode_extra_data
from jsc_node.genesis import load_genesis
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.state.backend import HeadState, NodeBackend
from jsc_node.state.evm.executor import Executor
from jsc_node.state.pool.pool import PoolLimits, TxPool
from jsc_node.state.storage.leveldb import LevelDB

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SENDER = Account.from_key(KEY).address.lower()
RECIPIENT = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
VALUE = 12345
# Runtime: return SLOAD(0) as one word. Init: SSTORE(0, 42), then return the runtime.
RUNTIME = bytes.fromhex("60005460005260206000f3")
INIT = bytes.fromhex("602a600055") + bytes.fromhex("600b6011600039600b6000f3") + RUNTIME


class Node:
    def __init__(self, path: Path) -> None:
        self.spec = load_genesis(None)  # the dev chain
        self.db = LevelDB(path)
        self.executor = Executor(self.db, self.spec)
        head_state = HeadState(self.executor)
        self.pool = TxPool(self.spec.chain_id, head_state, PoolLimits())
        self.backend = NodeBackend(self.executor, self.pool, gas_cap=50_000_000)
        self.backend.head_state = head_state
        self.pool.set_head(self.executor.head.gas_limit, self.backend.next_base_fee())
        self.dispatcher = Dispatcher(self.backend)

    def rpc(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        answer = json.loads(asyncio.run(self.dispatcher.handle_body(body)) or b"{}")
        assert "error" not in answer, answer
        return answer["result"]

    def send(self, nonce: int, **fields: Any) -> str:
        tx = {
            "chainId": self.spec.chain_id,
            "nonce": nonce,
            "gas": 200_000,
            "maxFeePerGas": 100 * 10**9,
            "maxPriorityFeePerGas": 2 * 10**9,
            "type": 2,
            **fields,
        }
        if "to" in tx:
            tx["to"] = to_checksum_address(tx["to"])
        raw = bytes(Account.sign_transaction(tx, KEY).raw_transaction)
        return "0x" + self.pool.add(raw).hex()

    def seal_pool(self) -> None:
        """What the proposer and commit do: build a block from the pool and make it head."""
        head = self.executor.head
        extra = encode_extra_data(QbftExtraData(b"\x00" * 32, self.spec.validators))
        built = self.executor.build_block(
            head.hash,
            head.timestamp + 1,
            self.spec.validators[0],
            extra,
            (p.tx for p in self.pool.pending_for_block(self.backend.next_base_fee())),
        )
        sealed = built.block.header.copy(
            extra_data=encode_extra_data(
                QbftExtraData(b"\x00" * 32, self.spec.validators, seals=(b"\x01" * 65,))
            )
        )
        committed = self.executor.commit_block(bytes(rlp.encode(built.block.copy(header=sealed))))
        txs = committed.block.transactions
        self.pool.on_new_head(
            self.executor.head.gas_limit,
            self.backend.next_base_fee(self.executor.head),
            [bytes(tx.hash) for tx in txs],
            {bytes(tx.sender) for tx in txs},
        )
        self.backend.publish_head()  # as ExecutionService.commit_block: RPC sees it from now on


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    made = Node(tmp_path / "db")
    # The RPC's pending block follows every pool change here: on its real clock a build slower
    # than CHEAP_BUILD_S (a loaded machine) would be reused for a while, which the Ticks tests
    # below check on a clock of their own.
    made.backend.pending_blocks._monotonic = lambda: 0.0
    yield made
    made.db.close()


def test_pending_block_holds_the_pool_and_latest_does_not(node: Node) -> None:
    head = node.rpc("eth_getBlockByNumber", "latest", False)
    recipient_before = int(node.rpc("eth_getBalance", RECIPIENT, "latest"), 16)
    transfer = node.send(0, to=RECIPIENT, value=VALUE, gas=21_000)
    deploy = node.send(1, data=INIT)
    created = "0x" + bytes(generate_contract_address(bytes.fromhex(SENDER[2:]), 1)).hex()

    pending = node.rpc("eth_getBlockByNumber", "pending", False)
    assert int(pending["number"], 16) == int(head["number"], 16) + 1
    assert pending["parentHash"] == head["hash"]
    assert pending["transactions"] == [transfer, deploy]  # the order the node includes them
    assert (pending["hash"], pending["nonce"], pending["miner"]) == (None, None, None)
    assert int(pending["timestamp"], 16) > int(head["timestamp"], 16)
    assert int(pending["gasUsed"], 16) > 21_000
    # QBFT: the next block's validators are the head's.
    assert decode_extra_data(bytes.fromhex(pending["extraData"][2:])).validators == node.spec.validators
    assert node.rpc("eth_getBlockByNumber", "latest", False) == head  # nothing was committed

    assert int(node.rpc("eth_getBalance", RECIPIENT, "pending"), 16) == recipient_before + VALUE
    assert int(node.rpc("eth_getBalance", RECIPIENT, "latest"), 16) == recipient_before
    assert node.rpc("eth_getCode", created, "pending") == "0x" + RUNTIME.hex()
    assert node.rpc("eth_getCode", created, "latest") == "0x"
    assert int(node.rpc("eth_getStorageAt", created, "0x0", "pending"), 16) == 42
    assert int(node.rpc("eth_call", {"to": created}, "pending"), 16) == 42
    assert node.rpc("eth_call", {"to": created}, "latest") == "0x"
    assert int(node.rpc("eth_estimateGas", {"to": created}, "pending"), 16) > 21_000  # runs its SLOAD
    assert int(node.rpc("eth_estimateGas", {"to": created}, "latest"), 16) == 21_000  # no code yet
    (simulated,) = node.rpc("eth_simulateV1", {"blockStateCalls": [{"calls": [{"to": created}]}]}, "pending")
    assert simulated["number"] == hex(int(pending["number"], 16) + 1)
    assert int(simulated["calls"][0]["returnData"], 16) == 42
    assert node.rpc("eth_getTransactionCount", SENDER, "pending") == "0x2"
    assert node.rpc("eth_getTransactionCount", SENDER, "latest") == "0x0"
    proof = node.rpc("eth_getProof", created, ["0x0"], "pending")
    assert int(proof["storageProof"][0]["value"], 16) == 42


def test_pending_transactions_count_index_and_receipts(node: Node) -> None:
    transfer = node.send(0, to=RECIPIENT, value=VALUE, gas=21_000)
    assert node.rpc("eth_getBlockTransactionCountByNumber", "pending") == "0x1"
    assert node.rpc("eth_getBlockTransactionCountByNumber", "latest") == "0x0"
    assert node.rpc("eth_getUncleCountByBlockNumber", "pending") == "0x0"
    tx = node.rpc("eth_getTransactionByBlockNumberAndIndex", "pending", "0x0")
    assert tx["hash"] == transfer
    assert tx["blockNumber"] == "0x1"
    assert tx["transactionIndex"] == "0x0"
    assert node.rpc("eth_getTransactionByBlockNumberAndIndex", "pending", "0x1") is None
    (receipt,) = node.rpc("eth_getBlockReceipts", "pending")
    assert receipt["transactionHash"] == transfer
    assert receipt["status"] == "0x1"
    assert receipt["gasUsed"] == hex(21_000)
    assert receipt["blockNumber"] == "0x1"
    full = node.rpc("eth_getBlockByNumber", "pending", True)
    assert full["transactions"][0]["hash"] == transfer
    header = node.rpc("eth_getHeaderByNumber", "pending")
    assert (header["hash"], header["miner"], header["number"]) == (None, None, "0x1")
    assert "transactions" not in header
    # geth: a number past the head is no block, even head + 1.
    assert node.rpc("eth_getBlockByNumber", "0x1", False) is None
    traced = node.rpc("debug_traceBlockByNumber", "pending", {"tracer": "callTracer"})
    assert [t["txHash"] for t in traced] == [transfer]


def test_pending_block_is_built_once_per_head_and_pool_version(node: Node) -> None:
    node.send(0, to=RECIPIENT, value=VALUE, gas=21_000)
    for _ in range(10):
        node.rpc("eth_getBalance", RECIPIENT, "pending")
        node.rpc("eth_getBlockByNumber", "pending", False)
    assert node.backend.pending_blocks.builds == 1
    node.send(1, to=RECIPIENT, value=VALUE, gas=21_000)
    assert len(node.rpc("eth_getBlockByNumber", "pending", False)["transactions"]) == 2
    assert node.backend.pending_blocks.builds == 2

    node.seal_pool()  # the two transactions are mined: the next pending block is empty
    pending = node.rpc("eth_getBlockByNumber", "pending", False)
    assert pending["number"] == "0x2"
    assert pending["transactions"] == []
    assert node.rpc("eth_getBalance", RECIPIENT, "pending") == node.rpc("eth_getBalance", RECIPIENT, "latest")
    assert node.backend.pending_blocks.builds == 3


def test_a_queued_transaction_is_not_in_the_pending_block(node: Node) -> None:
    # A nonce gap: queued, not executable, not in the pending block.
    node.send(5, to=RECIPIENT, value=VALUE, gas=21_000)
    assert node.rpc("eth_getBlockByNumber", "pending", False)["transactions"] == []
    filled = node.send(0, to=RECIPIENT, value=VALUE, gas=21_000)  # the gap at nonce 0 only
    assert node.rpc("eth_getBlockByNumber", "pending", False)["transactions"] == [filled]


class Ticks:
    """A monotonic clock the test moves; a pending build takes ``build_s`` of it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.build_s = 0.0

    def __call__(self) -> float:
        return self.now


def _blocks(node: Node, ticks: Ticks) -> Any:
    from jsc_node.state.serve.pending import PendingBlocks

    pool = node.pool

    def candidates() -> Any:
        ticks.now += ticks.build_s  # asked for once per build, between its start and its end
        return (p.tx for p in pool.pending_for_block(node.backend.next_base_fee()))

    return PendingBlocks(node.executor, candidates, lambda: pool.version, monotonic=ticks)


def test_a_cheap_pending_block_follows_every_pool_change(node: Node) -> None:
    ticks = Ticks()
    ticks.build_s = 0.001
    blocks = _blocks(node, ticks)
    assert len(blocks.get().block.transactions) == 0
    node.send(0, to=RECIPIENT, value=VALUE, gas=21_000)
    ticks.now += 0.0001  # at once
    assert len(blocks.get().block.transactions) == 1
    assert blocks.builds == 2


def test_a_slow_pending_block_is_reused_for_a_few_build_times(node: Node) -> None:
    ticks = Ticks()
    ticks.build_s = 0.2  # reused for 4 x 0.2 s on the same head
    blocks = _blocks(node, ticks)
    first = blocks.get()
    node.send(0, to=RECIPIENT, value=VALUE, gas=21_000)
    ticks.now += 0.5
    assert blocks.get() is first  # the pool moved, but 0.5 s < 0.8 s
    ticks.now += 0.5
    assert len(blocks.get().block.transactions) == 1  # 1.0 s: rebuilt
    assert blocks.builds == 2

    ticks.build_s = 1.0  # 4 x 1 s, capped at geth's 2 s
    node.send(1, to=RECIPIENT, value=VALUE, gas=21_000)
    ticks.now += 1.0  # past the last build's 0.8 s
    slow = blocks.get()
    assert len(slow.block.transactions) == 2
    node.send(2, to=RECIPIENT, value=VALUE, gas=21_000)
    ticks.now += 1.9
    assert blocks.get() is slow
    ticks.now += 0.2
    assert len(blocks.get().block.transactions) == 3
    assert blocks.builds == 4
