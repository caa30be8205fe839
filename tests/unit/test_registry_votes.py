"""Validator votes under the chain's validator-registry policy (``config.jsc``), in the execution
process (jsc_node/state/backend.py, jsc_node/execution_process.py), on a real LevelDB with the
registry driven by real transactions in committed blocks (tests/unit/registry_harness.py).

An add vote for an address without a valid attestation at the head is refused at once with the
words the chain's rule uses (governance/registry.py ``attestation_problem``); after each committed
block, a validator whose attestation has a problem gets a drop vote the policy holds until it has
left the set, and a held add vote whose address lost its attestation is withdrawn.
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

from jsc_node.config import NodeConfig
from jsc_node.devtools import dev_accounts, make_genesis
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import parse_genesis
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.seam.messages import Event
from tests.unit.registry_harness import RegistryChain, open_registry_chain

CANDIDATE = 5  # dev account 5: funded, not a validator
SUBMIT = "submit(string,string,string,string,bytes32)"
FIELDS = ("株式会社テスト", "7010705000725", "JP", "JP-27", hashlib.sha256(b"certificate").digest())
STRANGER = b"\x12" * 20  # never submitted anything


def rpc(backend: Any, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    return json.loads(asyncio.run(Dispatcher(backend).handle_body(body)) or b"null")


def hexa(address: bytes) -> str:
    return "0x" + address.hex()


class Recorder:
    """Stands for the seam server: the events ExecutionService publishes, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> bool:
        self.events.append(event)
        return True


def _votes_pushed(backend: Any) -> list[tuple[bytes, bool | None]]:
    pushed: list[tuple[bytes, bool | None]] = []
    backend.on_vote = lambda address, add: pushed.append((address, add))
    return pushed


@pytest.fixture
def one(tmp_path: Path) -> Iterator[RegistryChain]:
    """One validator (dev account 0): a quorum of 1 approves or revokes in one transaction."""
    c = open_registry_chain(tmp_path, validators=1)
    yield c
    c.close()


# --- part 1: an add vote without a valid attestation is refused at once ------------------------


def test_add_vote_refused_for_no_pending_and_revoked_attestation_accepted_when_valid(
    one: RegistryChain,
) -> None:
    backend = one.backend
    pushed = _votes_pushed(backend)
    candidate = one.address(CANDIDATE)

    def refusal(address: bytes) -> dict[str, Any]:
        answer = rpc(backend, "qbft_proposeValidatorVote", hexa(address), True)
        assert "result" not in answer, answer
        error: dict[str, Any] = answer["error"]
        return error

    assert refusal(STRANGER) == {
        "code": -32000,
        "message": f"cannot vote to add {hexa(STRANGER)}: {hexa(STRANGER)} has no attestation in the "
        "validator registry",
    }
    one.send(CANDIDATE, SUBMIT, *FIELDS)  # block 1: Pending
    assert refusal(candidate) == {
        "code": -32000,
        "message": f"cannot vote to add {hexa(candidate)}: {hexa(candidate)}'s attestation is pending: "
        "not yet approved by a quorum of validators",
    }
    # Refused: nothing held, nothing pushed to the consensus process.
    assert backend.votes == {}
    assert pushed == []
    assert rpc(backend, "qbft_getPendingVotes")["result"] == {}

    one.send(0, "approve(address)", candidate)  # block 2: Valid (1 of 1)
    assert rpc(backend, "qbft_proposeValidatorVote", hexa(candidate), True)["result"] is True
    assert backend.votes == {candidate: True}
    assert pushed == [(candidate, True)]
    assert rpc(backend, "qbft_discardValidatorVote", hexa(candidate))["result"] is True

    one.send(0, "revoke(address)", candidate)  # block 3: Revoked (1 of 1)
    assert refusal(candidate) == {
        "code": -32000,
        "message": f"cannot vote to add {hexa(candidate)}: {hexa(candidate)}'s attestation was revoked "
        "at block 3",
    }
    # A drop vote is never refused: the policy concerns who comes in.
    assert rpc(backend, "qbft_proposeValidatorVote", hexa(STRANGER), False)["result"] is True
    assert backend.votes == {STRANGER: False}


def test_add_vote_for_a_current_validator_is_not_checked(one: RegistryChain) -> None:
    # A no-op add (consensus skips it): its attestation is the drop side's business.
    validator = one.validators[0]
    assert rpc(one.backend, "qbft_proposeValidatorVote", hexa(validator), True)["result"] is True
    assert one.backend.votes == {validator: True}


def test_no_refusal_without_config_jsc(tmp_path: Path) -> None:
    validator = str(Account.from_key(dev_accounts()[0].private_key).address)
    spec = parse_genesis(make_genesis([validator], registry=False))
    assert spec.jsc is None
    (tmp_path / "data").mkdir()
    db, _executor, pool, backend = open_node_state(NodeConfig(data_path=tmp_path / "data"), spec)
    try:
        assert rpc(backend, "qbft_proposeValidatorVote", hexa(STRANGER), True)["result"] is True
        assert rpc(backend, "qbft_getPendingVotes")["result"] == {"0x" + "12" * 20: True}
        backend.apply_registry_policy()  # nothing to carry out
        assert backend.votes == {STRANGER: True}
        assert backend.policy_votes == {}
    finally:
        pool.close()
        db.close()
