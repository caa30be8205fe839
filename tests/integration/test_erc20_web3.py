"""A dApp developer's first hour: web3.py against a real `jsc-node run` over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import decode as abi_decode
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from tests.contracts import load_erc20
from tests.integration.conftest import DEV_KEY, DEV_KEY_2

SUPPLY = 10**24
RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _send(w3: Web3, key: str, tx: dict[str, Any]) -> Any:
    account = w3.eth.account.from_key(key)
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.1)


@pytest.fixture(scope="module")
def token(w3: Web3) -> Any:
    artifact = load_erc20()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    deployer = w3.eth.account.from_key(DEV_KEY).address
    receipt = _send(w3, DEV_KEY, factory.constructor(SUPPLY).build_transaction({"from": deployer}))
    assert receipt.status == 1
    assert receipt.contractAddress is not None
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])


def test_chain_identity(w3: Web3) -> None:
    assert w3.eth.chain_id == 1337
    assert w3.net.version == "1337"
    assert w3.client_version.startswith("jsc-node/v")
    latest = w3.eth.get_block("latest")
    assert latest["difficulty"] == 1
    assert latest["mixHash"].hex() == "63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
    assert w3.eth.get_block("finalized")["number"] >= latest["number"]


def test_deploy_sets_code_and_supply(w3: Web3, token: Any) -> None:
    code = w3.eth.get_code(token.address)
    assert code.hex() == load_erc20()["deployedBytecode"][2:]
    deployer = w3.eth.account.from_key(DEV_KEY).address
    assert token.functions.totalSupply().call() == SUPPLY
    assert token.functions.balanceOf(deployer).call() == SUPPLY


def test_transfer_receipt_logs_and_gas(w3: Web3, token: Any) -> None:
    deployer = w3.eth.account.from_key(DEV_KEY).address
    before = token.functions.balanceOf(RECIPIENT).call()
    estimate = token.functions.transfer(RECIPIENT, 1234).estimate_gas({"from": deployer})
    receipt = _send(
        w3, DEV_KEY, token.functions.transfer(RECIPIENT, 1234).build_transaction({"from": deployer})
    )
    assert receipt.status == 1
    # The estimate must be enough, and not wildly more than what the transfer used.
    assert receipt.gasUsed <= estimate <= receipt.gasUsed * 64 // 63 + 2300 + 5000
    assert token.functions.balanceOf(RECIPIENT).call() == before + 1234

    block = w3.eth.get_block(receipt.blockNumber, full_transactions=True)
    assert receipt.transactionHash in [tx["hash"] for tx in block["transactions"]]
    assert block["gasUsed"] == receipt.cumulativeGasUsed
    tx = w3.eth.get_transaction(receipt.transactionHash)
    assert tx["blockNumber"] == receipt.blockNumber
    assert receipt.effectiveGasPrice == min(
        tx["maxFeePerGas"], block["baseFeePerGas"] + tx["maxPriorityFeePerGas"]
    )

    (event,) = token.events.Transfer().process_receipt(receipt)
    assert event.args["from"] == deployer
    assert event.args["to"] == RECIPIENT
    assert event.args["value"] == 1234

    logs = token.events.Transfer().get_logs(from_block=receipt.blockNumber, to_block=receipt.blockNumber)
    assert [log.transactionHash for log in logs] == [receipt.transactionHash]
    by_topic = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": token.address,
            "topics": [None, None, "0x" + "00" * 12 + RECIPIENT[2:].lower()],
        }
    )
    assert receipt.transactionHash in [log["transactionHash"] for log in by_topic]
    assert w3.eth.get_block_receipts(receipt.blockNumber)[0]["transactionHash"] == receipt.transactionHash


def test_revert_reason_and_custom_error(w3: Web3, token: Any) -> None:
    poor = w3.eth.account.from_key(DEV_KEY_2).address
    with pytest.raises(ContractLogicError, match="ERC20: transfer amount exceeds balance") as info:
        token.functions.transfer(RECIPIENT, 10**30).call({"from": poor})
    data = info.value.data
    assert isinstance(data, str)
    assert data.startswith("0x08c379a0")  # Error(string)
    (reason,) = abi_decode(["string"], bytes.fromhex(data[10:]))
    assert reason == "ERC20: transfer amount exceeds balance"

    with pytest.raises(ContractCustomError) as custom:
        token.functions.burn(10**30).call({"from": poor})
    selector = Web3.keccak(text="InsufficientBalance(address,uint256,uint256)")[:4].hex()
    assert str(custom.value.data).removeprefix("0x").startswith(selector)

    with pytest.raises(ContractLogicError, match="exceeds balance"):
        token.functions.transfer(RECIPIENT, 10**30).estimate_gas({"from": poor})


def test_failed_transaction_is_mined_with_status_zero(w3: Web3, token: Any) -> None:
    poor_key = DEV_KEY_2
    poor = w3.eth.account.from_key(poor_key).address
    tx = token.functions.transfer(RECIPIENT, 10**30).build_transaction({"from": poor, "gas": 100_000})
    receipt = _send(w3, poor_key, tx)
    assert receipt.status == 0
    assert 21_000 < receipt.gasUsed < 100_000
    assert receipt.logs == []


def test_native_transfer_and_balances(w3: Web3) -> None:
    sender = w3.eth.account.from_key(DEV_KEY_2).address
    target = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    before = w3.eth.get_balance(target)
    receipt = _send(
        w3,
        DEV_KEY_2,
        {
            "to": target,
            "value": 10**18,
            "gas": 21_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "type": 2,
        },
    )
    assert receipt.status == 1
    assert receipt.gasUsed == 21_000
    assert w3.eth.get_balance(target) == before + 10**18
    assert w3.eth.get_balance(target, receipt.blockNumber - 1) == before
    assert w3.eth.get_transaction_count(sender) >= 1


def test_legacy_transaction(w3: Web3) -> None:
    receipt = _send(
        w3,
        DEV_KEY_2,
        {"to": RECIPIENT, "value": 1, "gas": 21_000, "gasPrice": w3.eth.gas_price},
    )
    assert receipt.status == 1
    assert receipt.type == 0
