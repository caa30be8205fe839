"""Reads wallets and tools make on a real node: fees, state overrides, block lookups, pool."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from web3 import Web3

from tests.contracts import erc20_balance_of_data, load_erc20
from tests.integration.conftest import DEV_KEY
from tests.integration.nodeproc import NodeProcess

TARGET = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"


def test_fee_suggestions(w3: Web3) -> None:
    tip = w3.eth.max_priority_fee
    assert tip >= 0
    assert w3.eth.gas_price >= tip
    history = w3.eth.fee_history(1, "latest", [10, 90])
    # The head may move between two calls: compare with the block the history names.
    block = w3.eth.get_block(history["oldestBlock"])
    assert len(history["baseFeePerGas"]) == 2
    assert history["baseFeePerGas"][0] == block["baseFeePerGas"]
    assert len(history["reward"]) == 1
    assert len(history["reward"][0]) == 2
    assert 0.0 <= history["gasUsedRatio"][0] <= 1.0


def test_call_with_state_override(w3: Web3) -> None:
    # Give an address the ERC-20 runtime code and a balance slot, then call balanceOf on it.
    code = load_erc20()["deployedBytecode"]
    holder = "0x" + "00" * 19 + "42"
    data = "0x" + erc20_balance_of_data(holder).hex()
    plain = w3.eth.call({"to": TARGET, "data": data})
    assert plain == b""  # no code at TARGET: an empty answer, not an error
    overridden = w3.eth.call(
        {"to": TARGET, "data": data},
        "latest",
        {TARGET: {"code": code}},
    )
    assert len(overridden) == 32  # the contract ran
    rich = w3.eth.call(
        {"from": TARGET, "to": holder, "value": 10**30},
        "latest",
        {TARGET: {"balance": hex(10**31)}},
    )
    assert rich == b""


def test_block_lookups_agree(node: NodeProcess, w3: Web3) -> None:
    latest = w3.eth.get_block("latest")
    assert w3.eth.get_block(latest["hash"]) == latest
    assert w3.eth.get_block("earliest")["number"] == 0
    # Under QBFT every committed block is final.
    assert w3.eth.get_block("finalized")["number"] >= latest["number"]
    assert w3.eth.get_block("safe")["number"] >= latest["number"]
    assert w3.eth.get_block_transaction_count(latest["number"]) == len(latest["transactions"])
    # A block beyond the head is null on the wire (web3.py turns that into BlockNotFound).
    assert node.rpc("eth_getBlockByNumber", hex(latest["number"] + 1000), False) is None
    assert node.rpc("eth_getBlockByHash", "0x" + "ab" * 32, False) is None
    assert node.rpc("eth_getTransactionByHash", "0x" + "ab" * 32) is None
    assert node.rpc("eth_getTransactionReceipt", "0x" + "ab" * 32) is None


def test_pending_nonce_counts_pool(node: NodeProcess, w3: Web3) -> None:
    sender = Account.from_key(DEV_KEY).address
    mined = w3.eth.get_transaction_count(sender)
    # A gapped transaction waits in the pool: pending nonce does not move past the gap,
    # txpool shows it queued.
    gap = w3.eth.get_transaction_count(sender, "pending") + 3
    raw = Account.sign_transaction(
        {
            "chainId": 1337,
            "nonce": gap,
            "to": TARGET,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 1,
            "type": 2,
        },
        DEV_KEY,
    ).raw_transaction
    tx_hash = w3.eth.send_raw_transaction(raw)
    assert w3.eth.get_transaction_count(sender, "pending") < gap
    assert w3.eth.get_transaction_count(sender) >= mined
    status = node.rpc("txpool_status")
    assert isinstance(status, dict)
    assert int(status["queued"], 16) >= 1
    pooled = w3.eth.get_transaction(tx_hash)
    assert pooled["blockNumber"] is None
    content = node.rpc("txpool_content")
    assert isinstance(content, dict)
    assert str(gap) in content["queued"][sender]
    # While the gap stays open the queued transaction is not mined.
    time.sleep(1.5)
    assert node.rpc("eth_getTransactionReceipt", "0x" + bytes(tx_hash).hex()) is None


def test_access_list_counts_in_estimate_and_call(w3: Web3) -> None:
    # As geth: an accessList makes the call an EIP-2930 transaction, whose intrinsic gas charges
    # 2,400 per address and 1,900 per storage key (and whose entries start warm).
    sender = Account.from_key(DEV_KEY).address
    plain = {"from": sender, "to": TARGET, "value": 1}
    listed = {**plain, "accessList": [{"address": TARGET, "storageKeys": ["0x" + "00" * 31 + "01"]}]}
    assert w3.eth.estimate_gas(plain) == 21_000  # type: ignore[arg-type]
    assert w3.eth.estimate_gas(listed) == 21_000 + 2_400 + 1_900  # type: ignore[arg-type]
    assert w3.eth.call(listed) == b""  # type: ignore[arg-type]
    # A gas allowance below the list's intrinsic cost is refused, as for any call.
    too_low = {**listed, "gas": 22_000}
    with pytest.raises(Exception, match="intrinsic gas too low"):  # web3's error class varies
        w3.eth.call(too_low)  # type: ignore[arg-type]
