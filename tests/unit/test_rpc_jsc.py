"""The ``jsc_*`` JSON-RPC methods (jsc_node/rpc/methods/jsc.py) over a real LevelDB and executor.

The registry is driven by real transactions in committed blocks (tests/unit/registry_harness.py);
the answers go through the real Dispatcher and NodeBackend. What they must show is the registry's
own record (contracts/ValidatorRegistry.sol): a submission is Pending, a quorum of approvals
(ceil(2n/3), 1 of 1 here) makes it Valid with the approvers and block, every change is an event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node.config import NodeConfig
from jsc_node.devtools import make_genesis
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import DEV_VALIDATOR_KEY, load_genesis, parse_genesis
from jsc_node.governance import registry
from jsc_node.governance.registry import REGISTRY_ADDRESS
from jsc_node.rpc.dispatch import Dispatcher
from tests.unit.registry_harness import RegistryChain, open_registry_chain

CANDIDATE = 5  # dev account 5: funded, not a validator
SUBMIT = "submit(string,string,string,string,bytes32)"
NAME = "株式会社テスト"
NUMBER = "7010705000725"  # a real corporate number (tests/unit/test_validator_registry.py)
DOC = hashlib.sha256(b"certificate of registered matters").digest()


def rpc(backend: Any, method: str, *params: Any) -> Any:
    """One request through the real dispatcher; the whole JSON-RPC answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    return json.loads(asyncio.run(Dispatcher(backend).handle_body(body)) or b"null")


def result(backend: Any, method: str, *params: Any) -> Any:
    answer = rpc(backend, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def checksum(address: bytes) -> str:
    return to_checksum_address(address)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[RegistryChain]:
    c = open_registry_chain(tmp_path, validators=1)  # dev account 0, funded; quorum 1
    yield c
    c.close()


def test_dev_genesis_validator_with_its_development_attestation(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    db, _executor, pool, backend = open_node_state(
        NodeConfig(data_path=tmp_path / "data"), load_genesis(None)
    )
    try:
        validator = checksum(bytes.fromhex(Account.from_key(DEV_VALIDATOR_KEY).address[2:]))
        answer = result(backend, "jsc_getValidators", "latest")
        # The same set qbft_getValidatorsByBlockNumber answers.
        assert [v["address"] for v in answer] == result(backend, "qbft_getValidatorsByBlockNumber", "latest")
        assert [v["address"] for v in answer] == [validator]
        att = answer[0]["attestation"]
        assert att["address"] == validator
        assert att["status"] == "Valid"
        dev = registry.dev_attestation(0)  # make_genesis gives validators[0] dev attestation 0
        assert att["entityName"] == dev.entity_name == "DEVELOPMENT VALIDATOR 0 (not attested)"
        # 13 digits with its check digit, leading 9999 marking it as not real.
        assert att["corporateNumber"] == dev.corporate_number == "9999900000000"
        assert (att["jurisdiction"], att["region"]) == ("JP", "JP-13")
        assert att["documentHash"] == "0x" + hashlib.sha256(registry.DEV_DOCUMENT).hexdigest()
        # A genesis attestation: approved at block 0 by the genesis itself, never revoked.
        assert (att["round"], att["submittedAt"], att["approvedAt"], att["revokedAt"]) == (
            "0x1",
            "0x0",
            "0x0",
            "0x0",
        )
        assert (att["approvedBy"], att["revokedBy"]) == ([], [])
        # Same by block number, hash and EIP-1898 object; jsc_getAttestation agrees.
        genesis_hash = result(backend, "eth_getBlockByNumber", "0x0", False)["hash"]
        for block in ("0x0", "earliest", genesis_hash, {"blockHash": genesis_hash}):
            assert result(backend, "jsc_getValidators", block) == answer
        assert result(backend, "jsc_getAttestation", validator, "latest") == att
        assert result(backend, "jsc_getAttestation", validator) == att
        # An address without an attestation, and a block that does not exist.
        assert result(backend, "jsc_getAttestation", "0x" + "12" * 20, "latest") is None
        assert result(backend, "jsc_getValidators", "0x5") is None
        assert rpc(backend, "jsc_getAttestation", validator, "0x5")["error"] == {
            "code": -32000,
            "message": "header not found",
        }
    finally:
        pool.close()
        db.close()


def test_submit_then_approve_shows_valid_with_the_approver_and_decoded_events(chain: RegistryChain) -> None:
    backend = chain.backend
    candidate, validator = chain.address(CANDIDATE), chain.validators[0]
    assert result(backend, "jsc_getAttestation", checksum(candidate), "latest") is None

    chain.send(CANDIDATE, SUBMIT, NAME, NUMBER, "JP", "JP-27", DOC)  # block 1
    pending = result(backend, "jsc_getAttestation", checksum(candidate), "latest")
    assert (pending["status"], pending["submittedAt"], pending["approvedAt"], pending["approvedBy"]) == (
        "Pending",
        "0x1",
        "0x0",
        [],
    )
    chain.send(0, "approve(address)", candidate)  # block 2: 1 of 1 is the quorum

    valid = result(backend, "jsc_getAttestation", checksum(candidate), "latest")
    assert valid == {
        "address": checksum(candidate),
        "status": "Valid",
        "round": "0x1",
        "entityName": NAME,
        "corporateNumber": NUMBER,
        "jurisdiction": "JP",
        "region": "JP-27",
        "documentHash": "0x" + DOC.hex(),
        "submittedAt": "0x1",
        "approvedAt": "0x2",
        "approvedBy": [checksum(validator)],
        "revokedAt": "0x0",
        "revokedBy": [],
    }
    # Read at an earlier block: the registry's state then.
    assert result(backend, "jsc_getAttestation", checksum(candidate), "0x1")["status"] == "Pending"
    assert result(backend, "jsc_getAttestation", checksum(candidate), "0x0") is None
    # Not a validator yet (the vote that adds it is consensus's business): the set is unchanged.
    assert [v["address"] for v in result(backend, "jsc_getValidators", "latest")] == [checksum(validator)]

    events = result(backend, "jsc_getGovernanceEvents", "0x0", "latest")
    assert [e["event"] for e in events] == ["AttestationSubmitted", "AttestationApproved", "AttestationValid"]
    submitted, approved, made_valid = events
    assert submitted["args"] == {
        "validator": checksum(candidate),
        "round": "0x1",
        "entityName": NAME,
        "corporateNumber": NUMBER,
        "jurisdiction": "JP",
        "region": "JP-27",
        "documentHash": "0x" + DOC.hex(),
    }
    assert approved["args"] == {
        "validator": checksum(candidate),
        "round": "0x1",
        "approver": checksum(validator),
        "approvals": "0x1",
        "quorum": "0x1",
    }
    assert made_valid["args"] == {
        "validator": checksum(candidate),
        "round": "0x1",
        "approvedBy": [checksum(validator)],
    }
    assert [e["blockNumber"] for e in events] == ["0x1", "0x2", "0x2"]
    assert all(e["address"] == checksum(REGISTRY_ADDRESS) for e in events)
    # Each carries its log's place: the same tx hash and log index eth_getLogs gives.
    logs = result(backend, "eth_getLogs", {"fromBlock": "0x0", "address": checksum(REGISTRY_ADDRESS)})
    assert [(e["transactionHash"], e["logIndex"], e["blockHash"]) for e in events] == [
        (log["transactionHash"], log["logIndex"], log["blockHash"]) for log in logs
    ]
    # A range selects; a block hash works as a range end.
    assert [e["event"] for e in result(backend, "jsc_getGovernanceEvents", "0x2", "0x2")] == [
        "AttestationApproved",
        "AttestationValid",
    ]
    block1 = result(backend, "eth_getBlockByNumber", "0x1", False)["hash"]
    assert [e["event"] for e in result(backend, "jsc_getGovernanceEvents", block1, block1)] == [
        "AttestationSubmitted"
    ]
    assert result(backend, "jsc_getGovernanceEvents", "0x0", "0x0") == []


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        (
            "jsc_getAttestation",
            ["0x1234", "latest"],
            "invalid argument 0: hex string has length 4, want 40 for common.Address",
        ),
        ("jsc_getAttestation", [], "missing value for required argument 0"),
        ("jsc_getAttestation", ["0x" + "12" * 20, "latest", 1], "too many arguments, want at most 2"),
        ("jsc_getValidators", ["next"], None),
        ("jsc_getValidators", [7], None),
        ("jsc_getGovernanceEvents", ["0x2", "0x1"], "invalid block range params"),
        ("jsc_getGovernanceEvents", ["0x0", "0x99"], "block range extends beyond current head block"),
        ("jsc_getGovernanceEvents", ["0x0", "latest", "x"], "too many arguments, want at most 2"),
    ],
)
def test_bad_params_are_invalid_params(
    chain: RegistryChain, method: str, params: list[Any], message: str | None
) -> None:
    chain.send(CANDIDATE, SUBMIT, NAME, NUMBER, "JP", "JP-27", DOC)  # head at 1, with an event
    error = rpc(chain.backend, method, *params)["error"]
    assert error["code"] == -32602, error
    if message is not None:
        assert error["message"] == message


def test_a_chain_without_config_jsc_answers_a_clear_error(tmp_path: Path) -> None:
    doc = make_genesis([str(Account.from_key(DEV_VALIDATOR_KEY).address)], registry=False)
    spec = parse_genesis(doc)
    assert spec.jsc is None
    (tmp_path / "data").mkdir()
    db, _executor, pool, backend = open_node_state(NodeConfig(data_path=tmp_path / "data"), spec)
    try:
        expected = {"code": -32000, "message": "no validator registry in this chain's genesis (config.jsc)"}
        assert rpc(backend, "jsc_getValidators", "latest")["error"] == expected
        assert rpc(backend, "jsc_getAttestation", "0x" + "12" * 20, "latest")["error"] == expected
        assert rpc(backend, "jsc_getGovernanceEvents", "0x0", "latest")["error"] == expected
        # The other namespaces still answer.
        assert len(result(backend, "qbft_getValidatorsByBlockNumber", "latest")) == 1
    finally:
        pool.close()
        db.close()


def test_revocation_shows_revoked_and_its_events(chain: RegistryChain) -> None:
    backend = chain.backend
    candidate, validator = chain.address(CANDIDATE), chain.validators[0]
    chain.send(CANDIDATE, SUBMIT, NAME, NUMBER, "JP", "JP-27", DOC)  # block 1
    chain.send(0, "approve(address)", candidate)  # block 2
    chain.send(0, "revoke(address)", candidate)  # block 3: 1 of 1 revokes
    revoked = result(backend, "jsc_getAttestation", checksum(candidate), "latest")
    assert (revoked["status"], revoked["revokedAt"], revoked["revokedBy"]) == (
        "Revoked",
        "0x3",
        [checksum(validator)],
    )
    # The approval it had is still on record; at block 2 it was Valid.
    assert revoked["approvedBy"] == [checksum(validator)]
    assert result(backend, "jsc_getAttestation", checksum(candidate), "0x2")["status"] == "Valid"
    # "pending" reads the state of the block this node would build next (nothing changes it here).
    assert result(backend, "jsc_getAttestation", checksum(candidate), "pending") == revoked
    events = result(backend, "jsc_getGovernanceEvents", "0x3", "latest")
    assert [(e["event"], e["args"]) for e in events] == [
        (
            "RevocationVoted",
            {
                "validator": checksum(candidate),
                "round": "0x1",
                "approver": checksum(validator),
                "votes": "0x1",
                "quorum": "0x1",
            },
        ),
        (
            "AttestationRevoked",
            {"validator": checksum(candidate), "round": "0x1", "revokedBy": [checksum(validator)]},
        ),
    ]
