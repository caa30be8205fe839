"""contracts/ValidatorRegistry.sol executed by py-evm on a real LevelDB, and
jsc_node/governance/registry.py reading the same storage: genesis attestations, the 法人番号 check
digit, submit -> approvals -> Valid at quorum ceil(2n/3), revocation, events, the system call."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode, encode

from jsc_node.errors import AttestationError, ExecutionReverted
from jsc_node.genesis import load_genesis
from jsc_node.governance import registry
from jsc_node.governance.identity import AttestationFields, validate_corporate_number
from jsc_node.governance.registry import REGISTRY_ADDRESS, SYSTEM_ADDRESS, Status
from tests.unit.registry_harness import (
    ATTESTATION_TUPLE,
    RegistryChain,
    calldata,
    error_data,
    open_registry_chain,
    topic,
)

REPO = Path(__file__).resolve().parents[2]
# Real corporate numbers whose check digits were computed by hand (/work notes: NTA's formula).
REAL_NUMBERS = ("4011001098993", "7010705000725", "2120901007402")
DOC = hashlib.sha256(b"certificate of registered matters").digest()
CANDIDATE = 5  # dev account 5: funded, not a validator
SUBMIT = "submit(string,string,string,string,bytes32)"
LONG_NAME = "株式会社ジャパン・ソブリン・チェーン基盤運用センター"  # 26 characters, 78 bytes of UTF-8


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[RegistryChain]:
    attestations = [registry.dev_attestation(i) for i in range(4)]
    attestations[1] = AttestationFields(LONG_NAME, "4011001098993", "JP", "JP-27", DOC)
    c = open_registry_chain(tmp_path, attestations=attestations)
    yield c
    c.close()


def reverted(chain: RegistryChain, signature: str, *args: Any, sender: bytes | None = None) -> bytes:
    with pytest.raises(ExecutionReverted) as info:
        chain.call(signature, *args, sender=sender)
    return info.value.data


def attestation_via_call(chain: RegistryChain, address: bytes) -> tuple[Any, ...]:
    return tuple(decode([ATTESTATION_TUPLE], chain.call("getAttestation(address)", address))[0])


def as_tuple(a: registry.Attestation) -> tuple[Any, ...]:
    """A Python-read attestation in the order and types eth_abi decodes getAttestation to."""

    return (
        int(a.status),
        a.round,
        a.entity_name,
        int(a.corporate_number),
        a.jurisdiction,
        a.region,
        a.document_hash,
        a.submitted_at,
        a.approved_at,
        tuple(_hex(x) for x in a.approved_by),
        a.revoked_at,
        tuple(_hex(x) for x in a.revoked_by),
    )


def test_packaged_artifact_is_the_build(tmp_path: Path) -> None:
    build = json.loads((REPO / "contracts" / "build" / "ValidatorRegistry.json").read_text())
    # After `make contracts`: cp contracts/build/ValidatorRegistry.json jsc_node/data/
    assert registry.artifact() == build, "jsc_node/data/ValidatorRegistry.json is not the build"
    # ... and the embedded dev genesis holds exactly that runtime code at the documented address.
    spec = load_genesis(None)
    assert spec.jsc is not None
    assert spec.jsc.registry == REGISTRY_ADDRESS == bytes.fromhex("00000000000000000000000000000000004a5343")
    assert spec.alloc[REGISTRY_ADDRESS].code == bytes.fromhex(build["deployedBytecode"][2:])


def test_genesis_storage_reads_back_through_the_contract_and_python(chain: RegistryChain) -> None:
    read = chain.storage()
    validators = chain.validators
    assert len(validators) == 4
    assert chain.view("validators()", "address[]") == tuple(_hex(v) for v in validators)
    assert registry.read_validators(read) == validators
    assert chain.view("quorum()", "uint256") == 3
    assert chain.view("validatorSetHash()", "bytes32") == registry.validator_set_hash(validators)
    assert chain.view("jurisdictionAllowed(bytes2)", "bool", b"JP") is True
    assert chain.view("jurisdictionAllowed(bytes2)", "bool", b"US") is False
    assert registry.jurisdiction_allowed(read, "JP")
    assert not registry.jurisdiction_allowed(read, "US")
    for validator in validators:
        python = registry.read_attestation(read, validator)
        assert python is not None
        assert attestation_via_call(chain, validator) == as_tuple(python)
        assert chain.view("isAttested(address)", "bool", validator) is True
        assert registry.is_attested(read, validator)
    long = registry.read_attestation(read, chain.address(1))
    assert long is not None
    assert (long.entity_name, long.corporate_number, long.region) == (LONG_NAME, "4011001098993", "JP-27")
    assert long.status is Status.VALID
    assert long.approved_at == 0
    assert long.approved_by == ()
    dev = registry.read_attestation(read, chain.address(0))
    assert dev is not None
    assert dev.entity_name == "DEVELOPMENT VALIDATOR 0 (not attested)"
    assert registry.read_subjects(read) == validators
    assert registry.read_attestation(read, chain.address(CANDIDATE)) is None
    assert chain.view("isAttested(address)", "bool", chain.address(CANDIDATE)) is False


@pytest.mark.parametrize("number", REAL_NUMBERS)
def test_real_corporate_numbers_pass_in_contract_and_python(chain: RegistryChain, number: str) -> None:
    assert chain.view("checkCorporateNumber(string)", "uint256", number) == int(number)
    assert validate_corporate_number(number) == number


@pytest.mark.parametrize(
    ("number", "error", "python"),
    [
        ("4011001098994", ("CorporateNumberCheckDigit(uint256,uint256)", 4, 3), "got 4, expected 3"),
        ("5011001098993", ("CorporateNumberCheckDigit(uint256,uint256)", 5, 4), "got 5, expected 4"),
        ("7010705000726", ("CorporateNumberCheckDigit(uint256,uint256)", 7, 6), "got 7, expected 6"),
        ("401100109899", ("CorporateNumberLength(uint256)", 12), "12 characters"),
        ("40110010989930", ("CorporateNumberLength(uint256)", 14), "14 characters"),
        ("", ("CorporateNumberLength(uint256)", 0), "0 characters"),
        ("40110010989A3", ("CorporateNumberNotDigit(uint256)", 11), "non-digit 'A' at position 12"),
        ("4O11001098993", ("CorporateNumberNotDigit(uint256)", 1), "non-digit 'O' at position 2"),
        ("４011001098993", ("CorporateNumberLength(uint256)", 15), "non-digit"),  # full-width 4: 3 bytes
    ],
)
def test_bad_corporate_numbers_are_refused_by_contract_and_python(
    chain: RegistryChain, number: str, error: tuple[Any, ...], python: str
) -> None:
    assert reverted(chain, "checkCorporateNumber(string)", number) == error_data(*error)
    with pytest.raises(AttestationError, match=python):
        validate_corporate_number(number)
    # submit applies the same check
    data = reverted(chain, SUBMIT, "X", number, "JP", "JP-13", DOC, sender=chain.address(CANDIDATE))
    assert data == error_data(*error)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (("", REAL_NUMBERS[0], "JP", "JP-13", DOC), ("EntityNameLength(uint256,uint256)", 0, 256)),
        (("x" * 257, REAL_NUMBERS[0], "JP", "JP-13", DOC), ("EntityNameLength(uint256,uint256)", 257, 256)),
        (("X", REAL_NUMBERS[0], "US", "US-CA", DOC), ("JurisdictionNotAllowed(string)", "US")),
        (("X", REAL_NUMBERS[0], "jp", "JP-13", DOC), ("JurisdictionMalformed(string)", "jp")),
        (("X", REAL_NUMBERS[0], "JPN", "JP-13", DOC), ("JurisdictionMalformed(string)", "JPN")),
        (("X", REAL_NUMBERS[0], "JP", "JP-48", DOC), ("RegionMalformed(string)", "JP-48")),
        (("X", REAL_NUMBERS[0], "JP", "JP-00", DOC), ("RegionMalformed(string)", "JP-00")),
        (("X", REAL_NUMBERS[0], "JP", "JP-1", DOC), ("RegionMalformed(string)", "JP-1")),
        (("X", REAL_NUMBERS[0], "JP", "JP13", DOC), ("RegionMalformed(string)", "JP13")),
        (
            ("X", REAL_NUMBERS[0], "JP", "KR-11", DOC),
            ("RegionNotInJurisdiction(string,string)", "KR-11", "JP"),
        ),
        (("X", REAL_NUMBERS[0], "JP", "JP-13", bytes(32)), ("DocumentHashZero()",)),
    ],
)
def test_submit_refuses_bad_fields(
    chain: RegistryChain, fields: tuple[Any, ...], error: tuple[Any, ...]
) -> None:
    assert reverted(chain, SUBMIT, *fields, sender=chain.address(CANDIDATE)) == error_data(*error)


def _submit(chain: RegistryChain) -> list[Any]:
    return chain.send(CANDIDATE, SUBMIT, "株式会社テスト", REAL_NUMBERS[1], "JP", "JP-13", DOC)


def test_submit_then_approvals_make_it_valid_at_quorum(chain: RegistryChain) -> None:
    candidate = chain.address(CANDIDATE)
    v = chain.validators
    [submitted] = _submit(chain)
    assert submitted.address == REGISTRY_ADDRESS
    assert submitted.topics[0] == int.from_bytes(
        topic("AttestationSubmitted(address,uint256,string,uint256,string,string,bytes32)"), "big"
    )
    assert list(submitted.topics[1:]) == [int.from_bytes(candidate, "big"), 1]
    assert decode(["string", "uint256", "string", "string", "bytes32"], submitted.data) == (
        "株式会社テスト",
        int(REAL_NUMBERS[1]),
        "JP",
        "JP-13",
        DOC,
    )
    pending = registry.read_attestation(chain.storage(), candidate)
    assert pending is not None
    assert pending.status is Status.PENDING
    assert pending.submitted_at == 1
    assert not registry.is_attested(chain.storage(), candidate)
    assert "attestation is pending" in str(registry.attestation_problem(chain.storage(), candidate, ("JP",)))

    # Only a current validator approves, once.
    assert reverted(chain, "approve(address)", candidate, sender=candidate) == error_data(
        "NotValidator(address)", candidate
    )
    approved = topic("AttestationApproved(address,uint256,address,uint256,uint256)")
    for count, approver in enumerate(v[:2], 1):
        [log] = chain.send(chain_index(chain, approver), "approve(address)", candidate)
        assert list(log.topics) == [
            int.from_bytes(x, "big") for x in (approved, candidate.rjust(32, b"\0"))
        ] + [
            1,
            int.from_bytes(approver, "big"),
        ]
        assert decode(["uint256", "uint256"], log.data) == (count, 3)
    assert reverted(chain, "approve(address)", candidate, sender=v[0]) == error_data(
        "AlreadyVoted(address,address)", candidate, v[0]
    )
    assert registry.read_status(chain.storage(), candidate) is Status.PENDING  # 2 of 4 < ceil(8/3)
    assert registry.has_approved(chain.storage(), candidate, v[1])
    assert not registry.has_approved(chain.storage(), candidate, v[2])

    logs = chain.send(chain_index(chain, v[2]), "approve(address)", candidate)
    assert [log.topics[0] for log in logs] == [
        int.from_bytes(approved, "big"),
        int.from_bytes(topic("AttestationValid(address,uint256,address[])"), "big"),
    ]
    assert decode(["address[]"], logs[1].data)[0] == tuple(_hex(x) for x in v[:3])
    valid = registry.read_attestation(chain.storage(), candidate)
    assert valid is not None
    assert (valid.status, valid.approved_at, valid.approved_by) == (Status.VALID, 4, v[:3])
    assert registry.is_attested(chain.storage(), candidate)
    assert attestation_via_call(chain, candidate) == as_tuple(valid)
    assert registry.read_subjects(chain.storage())[-1] == candidate
    assert registry.attestation_problem(chain.storage(), candidate, ("JP",)) is None
    assert registry.attestation_problem(chain.storage(), candidate, ("US",)) == (
        f"0x{candidate.hex()} is attested in jurisdiction 'JP', not one allowed (US)"
    )
    assert registry.attestation_problem(chain.storage(), chain.address(6), ("JP",)) == (
        f"0x{chain.address(6).hex()} has no attestation in the validator registry"
    )
    # A valid attestation is not replaced by its holder: revoke first.
    assert reverted(chain, SUBMIT, "Y", REAL_NUMBERS[0], "JP", "JP-01", DOC, sender=candidate) == error_data(
        "AttestationActive(address)", candidate
    )


def test_revocation_by_quorum(chain: RegistryChain) -> None:
    candidate = chain.address(CANDIDATE)
    v = chain.validators
    _submit(chain)
    chain.block([(chain_index(chain, x), calldata("approve(address)", candidate)) for x in v[:3]])
    assert registry.is_attested(chain.storage(), candidate)

    voted = topic("RevocationVoted(address,uint256,address,uint256,uint256)")
    for count, voter in enumerate((v[3], v[1]), 1):
        [log] = chain.send(chain_index(chain, voter), "revoke(address)", candidate)
        assert log.topics[0] == int.from_bytes(voted, "big")
        assert decode(["uint256", "uint256"], log.data) == (count, 3)
    assert registry.is_attested(chain.storage(), candidate)
    logs = chain.send(chain_index(chain, v[0]), "revoke(address)", candidate)
    assert logs[1].topics[0] == int.from_bytes(topic("AttestationRevoked(address,uint256,address[])"), "big")
    revoked = registry.read_attestation(chain.storage(), candidate)
    assert revoked is not None
    assert revoked.status is Status.REVOKED
    assert revoked.revoked_by == (v[0], v[1], v[3])
    assert revoked.revoked_at == chain.executor.head.block_number
    assert not registry.is_attested(chain.storage(), candidate)
    assert chain.view("isAttested(address)", "bool", candidate) is False
    assert registry.attestation_problem(chain.storage(), candidate, ("JP",)) == (
        f"0x{candidate.hex()}'s attestation was revoked at block {revoked.revoked_at}"
    )
    assert reverted(chain, "revoke(address)", candidate, sender=v[2]) == error_data(
        "NotValid(address,uint8)", candidate, int(Status.REVOKED)
    )
    # A new submission starts round 2; round 1's approvals do not count.
    [log] = chain.send(CANDIDATE, SUBMIT, "株式会社テスト", REAL_NUMBERS[1], "JP", "JP-14", DOC)
    again = registry.read_attestation(chain.storage(), candidate)
    assert again is not None
    assert (again.status, again.round, again.region, again.approved_by, again.revoked_by) == (
        Status.PENDING,
        2,
        "JP-14",
        (),
        (),
    )
    assert not registry.has_approved(chain.storage(), candidate, v[0])


def test_a_revoked_validator_cannot_approve_itself_back(chain: RegistryChain) -> None:
    target = chain.validators[2]
    chain.block([(chain_index(chain, x), calldata("revoke(address)", target)) for x in chain.validators[:3]])
    assert registry.read_status(chain.storage(), target) is Status.REVOKED
    # Still in the set until voted out, it resubmits; its own approval is refused.
    chain.send(chain_index(chain, target), SUBMIT, "株式会社テスト", REAL_NUMBERS[2], "JP", "JP-01", DOC)
    assert reverted(chain, "approve(address)", target, sender=target) == error_data(
        "SelfApproval(address)", target
    )
    # tally with no votes changes nothing
    chain.send(CANDIDATE, "tally(address)", target)
    assert registry.read_status(chain.storage(), target) is Status.PENDING


def test_the_validator_set_is_synced_only_by_the_system_address(chain: RegistryChain) -> None:
    v = chain.validators
    sync = "syncValidators(address[])"
    stranger = chain.address(CANDIDATE)
    assert reverted(chain, sync, list(v[:3]), sender=stranger) == error_data("NotSystem(address)", stranger)
    assert reverted(chain, sync, [v[1], v[0]], sender=SYSTEM_ADDRESS) == error_data(
        "ValidatorsNotAscending(uint256)", 1
    )
    assert reverted(chain, sync, [v[0], v[0]], sender=SYSTEM_ADDRESS) == error_data(
        "ValidatorsNotAscending(uint256)", 1
    )
    # an empty set would make quorum 0: refused
    assert reverted(chain, sync, [], sender=SYSTEM_ADDRESS) == error_data("EmptyValidatorSet()")

    # Two approvals of 4 are short of quorum; after the set shrinks to 3 they are a quorum (2),
    # and `tally` latches it. Run on one scratch state, as the node's system call would.
    candidate = chain.address(CANDIDATE)
    _submit(chain)
    chain.block([(chain_index(chain, x), calldata("approve(address)", candidate)) for x in v[:2]])
    executor = chain.executor
    header = executor.head
    _vm, state = executor.call_state(header)

    def run(sender: bytes, data: bytes) -> Any:
        tx = executor.spoof_transaction(state, header, sender, REGISTRY_ADDRESS, 1_000_000, 0, data)
        computation = state.apply_transaction(tx)
        assert computation.is_success, computation.error
        return computation

    def read(slot: int) -> int:
        return int(state.get_storage(REGISTRY_ADDRESS, slot))

    unchanged = run(SYSTEM_ADDRESS, calldata(sync, list(v)))
    assert unchanged.get_log_entries() == ()  # same set: nothing written, no event
    changed = run(SYSTEM_ADDRESS, calldata(sync, list(v[:3])))
    [(_address, topics, data)] = changed.get_log_entries()
    assert topics[1] == int.from_bytes(registry.validator_set_hash(v[:3]), "big")
    assert decode(["address[]"], data)[0] == tuple(_hex(x) for x in v[:3])
    assert registry.read_validators(read) == v[:3]
    assert read(registry.SLOT_VALIDATOR_SET_HASH) == int.from_bytes(registry.validator_set_hash(v[:3]), "big")
    assert read(registry.mapping_slot(registry.address_key(v[3]), registry.SLOT_IS_VALIDATOR)) == 0
    assert registry.read_status(read, candidate) is Status.PENDING
    run(stranger, calldata("tally(address)", candidate))
    latched = registry.read_attestation(read, candidate)
    assert latched is not None
    assert (latched.status, latched.approved_by) == (Status.VALID, v[:2])


def chain_index(chain: RegistryChain, address: bytes) -> int:
    return next(i for i in range(10) if chain.address(i) == address)


def _hex(address: bytes) -> str:
    """An address as eth_abi decodes it: 0x and lowercase hex."""
    return "0x" + address.hex()


def test_string_storage_round_trip() -> None:
    # Solidity's short/long string layout at the 31/32-byte boundary, written and read back.
    for size in (0, 1, 31, 32, 33, 64, 65, 256):
        data = bytes(range(size))
        slots = registry.encode_string(7, data)
        assert registry.decode_string(lambda s, slots=slots: slots.get(s, 0), 7) == data
    assert encode(["string"], ["x"])  # eth_abi is what decodes the contract's strings above
