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
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from jsc_node.config import NodeConfig
from jsc_node.devtools import dev_accounts, make_genesis
from jsc_node.execution_process import ExecutionService, open_node_state
from jsc_node.genesis import parse_genesis
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.seam.messages import CommitBlockRequest, Event, HeadChanged, VoteDiscarded, VoteProposed
from tests.unit.registry_harness import RegistryChain, calldata, open_registry_chain

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


# --- part 2: the policy's drop votes, and held add votes that lost their attestation ------------


def _commit(
    chain: RegistryChain,
    service: ExecutionService,
    txs: list[tuple[int, bytes]],
    validators: tuple[bytes, ...] | None = None,
) -> list[Event]:
    """One block through ExecutionService.commit_block, as the consensus process commits it; the
    events it published."""
    recorder = service.events
    assert isinstance(recorder, Recorder)
    sealed, _receipts = chain.build(txs, validators)
    before = len(recorder.events)
    asyncio.run(service.commit_block(CommitBlockRequest(sealed)))
    return recorder.events[before:]


def _service(chain: RegistryChain) -> ExecutionService:
    service = ExecutionService(chain.executor, chain.pool, chain.backend)
    service.events = Recorder()  # type: ignore[assignment]
    return service


def _reopen(chain: RegistryChain, data: Path) -> RegistryChain:
    """The same data dir opened again, as a restarted execution process opens it."""
    chain.close()
    db, executor, pool, backend = open_node_state(NodeConfig(data_path=data), chain.spec)
    return RegistryChain(chain.spec, db, executor, pool, backend, chain.keys, chain.nonces)


def test_revoked_validator_is_voted_out_by_the_policy_until_it_left_the_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chain = open_registry_chain(tmp_path, validators=4)  # registry quorum: 3 of 4
    try:
        target = chain.address(3)
        assert target in chain.validators
        service = _service(chain)
        backend = chain.backend
        # The operator's own vote about it (an add for a current validator: held as given).
        assert rpc(backend, "qbft_proposeValidatorVote", hexa(target), True)["result"] is True
        revoke = calldata("revoke(address)", target)

        # Two revocations: still Valid, nothing to carry out.
        events = _commit(chain, service, [(0, revoke), (1, revoke)])
        assert [type(e) for e in events] == [HeadChanged]
        assert backend.policy_votes == {}

        # The third makes it Revoked: a drop vote the policy holds, pushed before the new head.
        with caplog.at_level(logging.INFO, logger="jsc_node.state.backend"):
            events = _commit(chain, service, [(2, revoke)])
        revoked_at = chain.executor.head.block_number
        assert events[:1] == [VoteProposed(target, False)]
        assert isinstance(events[1], HeadChanged)
        assert len(events) == 2
        assert backend.votes == {target: False}
        problem = f"{hexa(target)}'s attestation was revoked at block {revoked_at}"
        assert backend.policy_votes == {target: problem}
        assert f"own vote to add {hexa(target)} is replaced by the policy's drop vote" in caplog.text
        assert f"voting validator {hexa(target)} out at block {revoked_at}: {problem}" in caplog.text
        # Besu's shape: address -> add.
        checksum = Account.from_key(chain.keys[3]).address
        assert rpc(backend, "qbft_getPendingVotes")["result"] == {checksum: False}

        # The operator cannot withdraw it or turn it into an add; a drop vote changes nothing.
        assert rpc(backend, "qbft_discardValidatorVote", hexa(target))["error"] == {
            "code": -32000,
            "message": f"cannot discard the vote to drop {hexa(target)}: the validator-registry policy "
            f"holds it ({problem}); it is withdrawn once {hexa(target)} has left the validator set or "
            "is attested again",
        }
        assert rpc(backend, "qbft_proposeValidatorVote", hexa(target), True)["error"] == {
            "code": -32000,
            "message": f"cannot vote to add {hexa(target)}: the validator-registry policy votes it out "
            f"({problem})",
        }
        assert rpc(backend, "qbft_proposeValidatorVote", hexa(target), False)["result"] is True
        assert backend.votes == {target: False}
        assert set(backend.policy_votes) == {target}

        # Still in the set: the vote stays, nothing is pushed again.
        assert [type(e) for e in _commit(chain, service, [])] == [HeadChanged]

        # A restarted node computes it again from the head state; a new subscriber gets it.
        chain = _reopen(chain, tmp_path / "data")
        backend = chain.backend
        assert backend.votes == {target: False}
        assert backend.policy_votes == {target: problem}
        service = _service(chain)
        assert VoteProposed(target, False) in service.snapshot()

        # The block that no longer names it (its drop vote won): the policy's vote is withdrawn.
        remaining = tuple(v for v in chain.validators if v != target)
        events = _commit(chain, service, [], validators=remaining)
        assert events[:1] == [VoteDiscarded(target)]
        assert isinstance(events[1], HeadChanged)
        assert backend.votes == {}
        assert backend.policy_votes == {}
        assert rpc(backend, "qbft_getPendingVotes")["result"] == {}
    finally:
        chain.close()


def test_held_add_vote_is_withdrawn_when_its_attestation_is_revoked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chain = open_registry_chain(tmp_path, validators=4)
    try:
        service = _service(chain)
        backend = chain.backend
        candidate = chain.address(CANDIDATE)
        approve = calldata("approve(address)", candidate)
        _commit(chain, service, [(CANDIDATE, calldata(SUBMIT, *FIELDS))])
        _commit(chain, service, [(0, approve), (1, approve), (2, approve)])  # Valid: 3 of 4
        assert rpc(backend, "qbft_proposeValidatorVote", hexa(candidate), True)["result"] is True
        # Valid still: a block later the vote is held and nothing is pushed.
        assert [type(e) for e in _commit(chain, service, [])] == [HeadChanged]
        assert backend.votes == {candidate: True}

        revoke = calldata("revoke(address)", candidate)
        with caplog.at_level(logging.WARNING, logger="jsc_node.state.backend"):
            events = _commit(chain, service, [(0, revoke), (1, revoke), (2, revoke)])
        revoked_at = chain.executor.head.block_number
        assert events[:1] == [VoteDiscarded(candidate)]
        assert isinstance(events[1], HeadChanged)
        assert backend.votes == {}
        assert backend.policy_votes == {}  # not a validator: nothing to vote out
        assert f"withdrew this node's vote to add {hexa(candidate)} at block {revoked_at}" in caplog.text
        assert f"{hexa(candidate)}'s attestation was revoked at block {revoked_at}" in caplog.text
    finally:
        chain.close()


def test_policy_reads_slots_only_when_the_registry_or_the_set_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = open_registry_chain(tmp_path, validators=4)
    try:
        service = _service(chain)
        backend = chain.backend
        reads: list[int] = []
        policy_read = backend._policy_read

        def counted(header: Any, registry_address: bytes) -> Any:
            read = policy_read(header, registry_address)
            return lambda slot: reads.append(slot) or read(slot)

        monkeypatch.setattr(backend, "_policy_read", counted)
        _commit(chain, service, [])  # the registry's storage as at startup: no slot read
        assert reads == []
        # A submission changes the registry's storage: status and jurisdiction of each of the
        # four validators (all Valid), nothing else.
        _commit(chain, service, [(CANDIDATE, calldata(SUBMIT, *FIELDS))])
        assert len(reads) == 2 * 4
        _commit(chain, service, [])
        assert len(reads) == 2 * 4
        # The set changes (a block naming three): read again, three validators.
        _commit(chain, service, [], validators=chain.validators[:3])
        assert len(reads) == 2 * 4 + 2 * 3
        assert backend.votes == {}
    finally:
        chain.close()
