"""Tracing, proofs and access lists over a real dev node: what Blockscout, Foundry and Hardhat ask.

Deploys the test ERC-20, transfers tokens, then traces the transfer with the struct logger and
the callTracer, proves the token's storage against the block's state root, and asks for the
transfer's access list.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak
from web3 import Web3

from jsc_node.state.serve.proofs import verify_proof
from tests.contracts import load_erc20
from tests.integration.conftest import DEV_KEY

SUPPLY = 10**24
RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
AMOUNT = 4321


def _send(w3: Web3, tx: dict[str, Any]) -> Any:
    account = w3.eth.account.from_key(DEV_KEY)
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.1)


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


@pytest.fixture(scope="module")
def transfer(w3: Web3) -> tuple[Any, Any]:
    artifact = load_erc20()
    deployer = w3.eth.account.from_key(DEV_KEY).address
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    deployed = _send(w3, factory.constructor(SUPPLY).build_transaction({"from": deployer}))
    token = w3.eth.contract(address=deployed.contractAddress, abi=artifact["abi"])
    receipt = _send(w3, token.functions.transfer(RECIPIENT, AMOUNT).build_transaction({"from": deployer}))
    assert receipt.status == 1
    return token, receipt


def test_struct_logger_trace_of_a_transfer(w3: Web3, transfer: tuple[Any, Any]) -> None:
    _token, receipt = transfer
    trace = _rpc(w3, "debug_traceTransaction", ["0x" + receipt.transactionHash.hex()])
    assert trace["gas"] == receipt.gasUsed
    assert trace["failed"] is False
    assert int(trace["returnValue"], 16) == 1  # transfer() returns true
    logs = trace["structLogs"]
    assert logs[0]["pc"] == 0
    assert logs[0]["depth"] == 1
    assert logs[-1]["op"] in ("RETURN", "STOP")
    ops = [step["op"] for step in logs]
    assert ops.count("SSTORE") == 2  # both balances
    assert "LOG3" in ops  # Transfer(from, to, value)
    # Each step's gas is the previous step's minus its cost (one frame, no calls).
    for before, after in itertools.pairwise(logs):
        assert after["gas"] == before["gas"] - before["gasCost"]
    sstore = next(step for step in logs if step["op"] == "SSTORE")
    assert all(len(k) == 66 and len(v) == 66 for k, v in sstore["storage"].items())

    quiet = _rpc(
        w3,
        "debug_traceTransaction",
        ["0x" + receipt.transactionHash.hex(), {"disableStack": True, "disableStorage": True}],
    )
    assert all("stack" not in s and "storage" not in s for s in quiet["structLogs"])
    assert len(quiet["structLogs"]) == len(logs)


def test_call_tracer_trace_of_a_transfer(w3: Web3, transfer: tuple[Any, Any]) -> None:
    token, receipt = transfer
    tx = w3.eth.get_transaction(receipt.transactionHash)
    frame = _rpc(
        w3, "debug_traceTransaction", ["0x" + receipt.transactionHash.hex(), {"tracer": "callTracer"}]
    )
    assert frame["type"] == "CALL"
    assert Web3.to_checksum_address(frame["from"]) == tx["from"]
    assert Web3.to_checksum_address(frame["to"]) == token.address
    assert int(frame["gas"], 16) == tx["gas"]
    assert int(frame["gasUsed"], 16) == receipt.gasUsed
    assert frame["input"] == "0x" + bytes(tx["input"]).hex()
    assert int(frame["output"], 16) == 1
    assert frame["value"] == "0x0"
    assert "calls" not in frame
    assert "error" not in frame

    block = _rpc(w3, "debug_traceBlockByNumber", [hex(receipt.blockNumber), {"tracer": "callTracer"}])
    assert [entry["txHash"] for entry in block] == ["0x" + receipt.transactionHash.hex()]
    assert block[0]["result"] == frame


def test_proof_of_the_token_balances(w3: Web3, transfer: tuple[Any, Any]) -> None:
    token, receipt = transfer
    block = w3.eth.get_block(receipt.blockNumber)
    # The balance slots the transfer wrote, as the trace shows them.
    trace = _rpc(w3, "debug_traceTransaction", ["0x" + receipt.transactionHash.hex()])
    slots = sorted({key for step in trace["structLogs"] if step["op"] == "SSTORE" for key in step["storage"]})
    assert len(slots) == 2
    proof = _rpc(w3, "eth_getProof", [token.address, slots, hex(receipt.blockNumber)])
    address = bytes.fromhex(token.address[2:])
    nodes = [bytes.fromhex(n[2:]) for n in proof["accountProof"]]
    account = rlp.decode(verify_proof(bytes(block["stateRoot"]), keccak(address), nodes))
    assert int.from_bytes(account[0], "big") == int(proof["nonce"], 16)
    assert account[2] == bytes.fromhex(proof["storageHash"][2:])
    assert account[3] == keccak(bytes(w3.eth.get_code(token.address)))
    values = []
    for slot, item in zip(slots, proof["storageProof"], strict=True):
        assert item["key"] == slot
        raw = verify_proof(
            account[2], keccak(bytes.fromhex(slot[2:])), [bytes.fromhex(n[2:]) for n in item["proof"]]
        )
        value = int.from_bytes(rlp.decode(raw), "big") if raw else 0
        assert value == int(item["value"], 16)
        stored = w3.eth.get_storage_at(token.address, int(slot, 16), block_identifier=receipt.blockNumber)
        assert value == int.from_bytes(stored, "big")
        values.append(value)
    recipient_balance = token.functions.balanceOf(RECIPIENT).call(block_identifier=receipt.blockNumber)
    assert recipient_balance == AMOUNT
    assert sorted(values) == sorted([AMOUNT, SUPPLY - AMOUNT])


def test_access_list_of_a_transfer(w3: Web3, transfer: tuple[Any, Any]) -> None:
    token, _receipt = transfer
    deployer = w3.eth.account.from_key(DEV_KEY).address
    call = token.functions.transfer(RECIPIENT, 1).build_transaction({"from": deployer, "gas": 200_000})
    result = _rpc(
        w3,
        "eth_createAccessList",
        [{"from": deployer, "to": token.address, "input": call["data"], "gas": hex(200_000)}, "latest"],
    )
    (entry,) = result["accessList"]
    assert Web3.to_checksum_address(entry["address"]) == token.address
    assert len(entry["storageKeys"]) == 2  # the sender's and the recipient's balance slots
    assert "error" not in result
    # EIP-2930: the list costs 2400 for the address and 1900 per key, and makes each slot's first
    # access warm (100 instead of 2100); the token is the recipient, warm anyway.
    without = w3.eth.estimate_gas({"from": deployer, "to": token.address, "data": call["data"]})
    assert int(result["gasUsed"], 16) == without + 2400 + 2 * 1900 - 2 * 2000


def test_trace_call_of_a_balance_read(w3: Web3, transfer: tuple[Any, Any]) -> None:
    token, _receipt = transfer
    data = token.functions.balanceOf(RECIPIENT).build_transaction({"gas": 100_000})["data"]
    call = {"to": token.address, "input": data}
    trace = _rpc(w3, "debug_traceCall", [call, "latest"])
    assert int(trace["returnValue"], 16) == token.functions.balanceOf(RECIPIENT).call()
    assert any(step["op"] == "SLOAD" for step in trace["structLogs"])
    frame = _rpc(w3, "debug_traceCall", [call, "latest", {"tracer": "callTracer"}])
    assert frame["type"] == "CALL"
    assert frame["output"] == trace["returnValue"]
    # State overrides apply, as with eth_call: the token's code replaced by `return(0, 0)`.
    overridden = _rpc(
        w3, "debug_traceCall", [call, "latest", {"stateOverrides": {token.address: {"code": "0x60006000f3"}}}]
    )
    assert [step["op"] for step in overridden["structLogs"]] == ["PUSH1", "PUSH1", "RETURN"]
