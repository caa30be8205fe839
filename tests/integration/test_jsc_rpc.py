"""The ``jsc_*`` namespace on a real one-validator node over HTTP, driven by web3.py: a candidate
submits its attestation, the dev validator approves it (quorum 1 of 1), and jsc_getAttestation,
jsc_getValidators and jsc_getGovernanceEvents show it; plain eth_call on the contract agrees."""

from __future__ import annotations

import hashlib
from typing import Any

from eth_account import Account
from web3 import Web3

from jsc_node.genesis import DEV_VALIDATOR_KEY
from jsc_node.governance.registry import REGISTRY_ADDRESS, artifact
from tests.integration.conftest import DEV_KEY, DEV_KEY_2

DEV_VALIDATOR = "0x65457670Dca8b0E041bF10faF3a6af32aFcEC649"
DOC = hashlib.sha256(b"certificate of registered matters").digest()


def _post(w3: Web3, key: Any, tx: dict[str, Any]) -> Any:
    account = Account.from_key(key)
    tx = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "gas": 1_000_000,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 1,
        **tx,
    }
    return w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)


def _mined(w3: Web3, tx_hash: Any) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
    assert receipt["status"] == 1
    return receipt


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def test_submit_approve_and_read_back_over_http(w3: Web3) -> None:
    registry = w3.eth.contract(address=Web3.to_checksum_address(REGISTRY_ADDRESS), abi=artifact()["abi"])
    candidate = Account.from_key(DEV_KEY_2).address
    # The dev validator holds no ether in the dev genesis: give it some gas money (same block).
    funded = _post(w3, DEV_KEY, {"to": DEV_VALIDATOR, "value": 10**18})
    submit = registry.functions.submit("株式会社テスト", "7010705000725", "JP", "JP-27", DOC)
    submitted = _post(w3, DEV_KEY_2, {"to": registry.address, "data": submit._encode_transaction_data()})
    _mined(w3, funded)
    submitted = _mined(w3, submitted)
    approve = registry.functions.approve(candidate)
    approved = _mined(
        w3, _post(w3, DEV_VALIDATOR_KEY, {"to": registry.address, "data": approve._encode_transaction_data()})
    )

    att = _rpc(w3, "jsc_getAttestation", candidate, "latest")
    assert (att["status"], att["entityName"], att["corporateNumber"], att["region"]) == (
        "Valid",
        "株式会社テスト",
        "7010705000725",
        "JP-27",
    )
    assert att["approvedBy"] == [DEV_VALIDATOR]
    assert int(att["approvedAt"], 16) == approved["blockNumber"]
    assert int(att["submittedAt"], 16) == submitted["blockNumber"]
    before = hex(submitted["blockNumber"] - 1)
    assert _rpc(w3, "jsc_getAttestation", candidate, before) is None

    [validator] = _rpc(w3, "jsc_getValidators", "latest")
    assert validator["address"] == DEV_VALIDATOR
    assert validator["attestation"]["entityName"] == "DEVELOPMENT VALIDATOR 0 (not attested)"

    events = _rpc(w3, "jsc_getGovernanceEvents", hex(submitted["blockNumber"]), "latest")
    assert [e["event"] for e in events] == ["AttestationSubmitted", "AttestationApproved", "AttestationValid"]
    assert events[0]["transactionHash"] == "0x" + bytes(submitted["transactionHash"]).hex()
    assert events[2]["args"]["approvedBy"] == [DEV_VALIDATOR]

    # Plain eth_call on the contract reads the same record.
    assert registry.functions.getAttestation(candidate).call()[2] == "株式会社テスト"


def test_vote_to_add_an_unattested_address_is_refused_over_http(w3: Web3) -> None:
    stranger = Web3.to_checksum_address("0x" + "12" * 20)  # never submitted an attestation
    answer = w3.provider.make_request("qbft_proposeValidatorVote", [stranger, True])  # type: ignore[arg-type]
    # geth's code for a refused request (-32000), the words of the chain's rule.
    assert answer["error"] == {
        "code": -32000,
        "message": f"cannot vote to add {stranger.lower()}: {stranger.lower()} has no attestation "
        "in the validator registry",
    }
    assert _rpc(w3, "qbft_getPendingVotes") == {}  # nothing held
    # The dev validator is attested (and a validator already): its vote is taken, then withdrawn.
    assert _rpc(w3, "qbft_proposeValidatorVote", DEV_VALIDATOR, True) is True
    assert _rpc(w3, "qbft_getPendingVotes") == {DEV_VALIDATOR: True}
    assert _rpc(w3, "qbft_discardValidatorVote", DEV_VALIDATOR) is True
