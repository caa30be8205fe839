"""A blob transaction from web3.py / eth-account over a real dev node: the sidecar is checked and
dropped, the transaction is pooled, built into a QBFT block, and its receipt shows the blob gas."""

from __future__ import annotations

from web3 import Web3

from tests.integration.conftest import DEV_KEY

GAS_PER_BLOB = 2**17


def test_blob_transaction_is_mined(w3: Web3) -> None:
    account = w3.eth.account.from_key(DEV_KEY)
    tx = {
        "type": 3,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerBlobGas": 10**9,
    }
    signed = account.sign_transaction(tx, blobs=[b"jsc-node blob".ljust(131_072, b"\x00")])
    assert len(signed.raw_transaction) > 128 * 1024  # the pool's size cap applies to the tx alone
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.1)
    assert receipt.status == 1
    assert receipt.type == 3
    assert receipt["blobGasUsed"] == GAS_PER_BLOB
    assert receipt["blobGasPrice"] >= 1
    block = w3.eth.get_block(receipt.blockNumber)
    assert block["blobGasUsed"] == GAS_PER_BLOB
    mined = w3.eth.get_transaction(tx_hash)
    assert len(mined["blobVersionedHashes"]) == 1
    raw = w3.provider.make_request("debug_getRawTransaction", ["0x" + bytes(tx_hash).hex()])  # type: ignore[arg-type]
    assert len(bytes.fromhex(raw["result"][2:])) < 1024  # the canonical form: no sidecar kept


def test_blob_transaction_without_its_sidecar_is_refused(w3: Web3) -> None:
    account = w3.eth.account.from_key(DEV_KEY)
    tx = {
        "type": 3,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "value": 0,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerBlobGas": 10**9,
        "blobVersionedHashes": ["0x01" + "00" * 31],
    }
    signed = account.sign_transaction(tx)
    answer = w3.provider.make_request("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])  # type: ignore[arg-type]
    assert answer["error"]["code"] == -32000
    assert "sidecar" in answer["error"]["message"]
