"""kill -9 while transactions stream in: after a restart nothing acknowledged or committed is lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from tests.integration.conftest import DEV_KEY, web3_for
from tests.integration.nodeproc import NodeProcess
from tests.integration.qbftnet import rpc_batch

pytestmark = pytest.mark.slow

RECIPIENT = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
STREAM_TXS = 400
STREAM_SECONDS = 30.0


def _signed_transfers(count: int) -> list[tuple[str, str]]:
    account = Account.from_key(DEV_KEY)
    out = []
    for nonce in range(count):
        signed = account.sign_transaction(
            {
                "chainId": 1337,
                "nonce": nonce,
                "to": RECIPIENT,
                "value": 10**15,
                "gas": 21_000,
                "maxFeePerGas": 20 * 10**9,
                "maxPriorityFeePerGas": 10**9,
                "type": 2,
            }
        )
        out.append(
            (
                "0x" + signed.hash.hex().removeprefix("0x"),
                "0x" + signed.raw_transaction.hex().removeprefix("0x"),
            )
        )
    return out


def test_kill9_while_streaming_then_restart(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data").start()
    txs = _signed_transfers(STREAM_TXS)
    acknowledged: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        deadline = time.monotonic() + STREAM_SECONDS
        with httpx.Client(timeout=5) as client:
            for tx_hash, raw in txs:
                if stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    r = client.post(
                        node.url,
                        json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]},
                    )
                except httpx.HTTPError:
                    return  # the node is gone
                if r.json().get("result") == tx_hash:
                    acknowledged.append(tx_hash)
                time.sleep(0.005)

    sender = threading.Thread(target=stream)
    sender.start()
    node.wait_for_block(3)
    # Let several blocks with transactions commit, then crash mid-stream.
    deadline = time.monotonic() + 20
    while len(acknowledged) < STREAM_TXS // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    w3 = web3_for(node.url)
    committed_head = w3.eth.block_number
    committed = {n: w3.eth.get_block(n) for n in range(committed_head + 1)}
    receipts = {}
    for n, block in committed.items():
        for tx_hash in block["transactions"]:
            receipts[tx_hash.hex()] = (n, w3.eth.get_transaction_receipt(tx_hash)["cumulativeGasUsed"])
    node.kill9()
    stop.set()
    sender.join(10)
    assert len(acknowledged) >= STREAM_TXS // 3
    assert receipts, "some transactions were committed before the crash"

    restarted = NodeProcess(node.data_path, http_port=node.http_port, ws_port=node.ws_port).start()
    try:
        w3 = web3_for(restarted.url)
        assert w3.eth.block_number >= committed_head
        for n, block in committed.items():
            again = w3.eth.get_block(n)
            assert again["hash"] == block["hash"], f"block {n} changed across the crash"
            assert again["stateRoot"] == block["stateRoot"]
        for tx_hash, (number, cumulative) in receipts.items():
            receipt = w3.eth.get_transaction_receipt(tx_hash)
            assert receipt["blockNumber"] == number
            assert receipt["cumulativeGasUsed"] == cumulative
            assert receipt["status"] == 1

        # Every acknowledged transaction survives (journaled before the answer) and gets mined.
        # (The receipts are read in one batch a round: one request each took 9 s of this test.)
        deadline = time.monotonic() + 60
        missing = list(acknowledged)
        while missing and time.monotonic() < deadline:
            receipts_now = rpc_batch(restarted, "eth_getTransactionReceipt", [[h] for h in missing])
            missing = [h for h, r in zip(missing, receipts_now, strict=True) if r is None]
            time.sleep(0.2)
        assert not missing, f"{len(missing)} acknowledged transactions were lost"

        nonce = w3.eth.get_transaction_count(Account.from_key(DEV_KEY).address)
        assert nonce >= len(acknowledged)
        assert w3.eth.get_balance(RECIPIENT) == 10000 * 10**18 + nonce * 10**15

        # The node keeps producing: a new transaction is mined in a new block.
        head = w3.eth.block_number
        extra = Account.from_key(DEV_KEY).sign_transaction(
            {
                "chainId": 1337,
                "nonce": nonce,
                "to": RECIPIENT,
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 20 * 10**9,
                "maxPriorityFeePerGas": 10**9,
                "type": 2,
            }
        )
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(extra.raw_transaction), timeout=30, poll_latency=0.1
        )
        assert receipt["blockNumber"] > head
    finally:
        restarted.stop()


def test_second_node_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = NodeProcess(tmp_path / "data").start()
    try:
        second = NodeProcess(tmp_path / "data").start(wait=False)
        assert second.process is not None
        code = second.process.wait(60)
        assert code == 1
        assert "is in use by another jsc-node process" in second.logs()
        assert "Traceback" not in second.logs()
        assert int(str(first.rpc("eth_chainId")), 16) == 1337
    finally:
        first.stop()


def test_clean_stop_exits_zero(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data").start()
    node.wait_for_block(1)
    assert node.stop() == 0
    assert "Traceback" not in node.logs()
