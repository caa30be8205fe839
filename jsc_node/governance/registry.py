"""The ValidatorRegistry system contract's storage, read and written in Python.

contracts/ValidatorRegistry.sol's header comment is the layout; this module is the one place that
turns it into slot numbers. Readers take a ``StorageRead`` (slot -> value of the registry account),
so they run over any state without importing py-evm here::

    read = lambda slot: state.get_storage(REGISTRY_ADDRESS, slot)   # a py-evm state
    registry.is_attested(read, address)                              # one SLOAD-equivalent

``genesis_storage`` writes the same layout for a genesis ``alloc``; tests execute the contract's
view functions on a genesis built from it, so writer, reader and contract agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import Any, Final

from eth_hash.auto import keccak

from jsc_node.governance.identity import AttestationFields, corporate_number_check_digit

REGISTRY_ADDRESS: Final = bytes.fromhex("00000000000000000000000000000000004a5343")
"""Where every genesis jsc-node writes puts the registry: "JSC" in ASCII, far above the precompiles."""
SYSTEM_ADDRESS: Final = bytes.fromhex("fffffffffffffffffffffffffffffffffffffffe")
"""The caller of ``syncValidators`` (the EIP-4788 / EIP-2935 system address)."""

StorageRead = Callable[[int], int]
"""Slot -> 256-bit value of the registry account's storage."""

# Top-level slots, in the contract's declaration order.
SLOT_VALIDATORS: Final = 0
SLOT_IS_VALIDATOR: Final = 1
SLOT_VALIDATOR_SET_HASH: Final = 2
SLOT_JURISDICTION_ALLOWED: Final = 3
SLOT_ATTESTATIONS: Final = 4
SLOT_SUBJECTS: Final = 5
SLOT_APPROVALS: Final = 6
SLOT_REVOCATIONS: Final = 7

# Offsets of an Attestation's members from its base slot.
OFF_STATUS: Final = 0
OFF_ROUND: Final = 1
OFF_ENTITY_NAME: Final = 2
OFF_CORPORATE_NUMBER: Final = 3
OFF_JURISDICTION: Final = 4
OFF_REGION: Final = 5
OFF_DOCUMENT_HASH: Final = 6
OFF_SUBMITTED_AT: Final = 7
OFF_APPROVED_AT: Final = 8
OFF_APPROVED_BY: Final = 9
OFF_REVOKED_AT: Final = 10
OFF_REVOKED_BY: Final = 11


class Status(IntEnum):
    NONE = 0
    PENDING = 1
    VALID = 2
    REVOKED = 3


# --- Solidity's storage rules -------------------------------------------------------------------


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def mapping_slot(key: bytes, slot: int) -> int:
    """Slot of ``mapping[key]`` declared at ``slot``: keccak256(key32 . slot32); ``key`` already
    padded to 32 bytes as Solidity pads its type (addresses left-padded, bytesN right-padded)."""
    if len(key) != 32:
        raise ValueError(f"a mapping key is 32 bytes here, got {len(key)}")
    return int.from_bytes(keccak(key + _word(slot)), "big")


def address_key(address: bytes) -> bytes:
    return address.rjust(32, b"\x00")


def jurisdiction_key(code: str) -> bytes:
    """A ``bytes2`` mapping key: the two ASCII letters, left-aligned."""
    return code.encode("ascii").ljust(32, b"\x00")


def array_data_slot(slot: int) -> int:
    """First element of the dynamic array (or long string) whose length is at ``slot``."""
    return int.from_bytes(keccak(_word(slot)), "big")


def attestation_base(address: bytes) -> int:
    return mapping_slot(address_key(address), SLOT_ATTESTATIONS)


def vote_slot(mapping_at: int, subject: bytes, round_: int, approver: bytes) -> int:
    """``approvals[subject][round][approver]`` (or ``revocations``, with ``mapping_at`` 7)."""
    inner = mapping_slot(_word(round_), mapping_slot(address_key(subject), mapping_at))
    return mapping_slot(address_key(approver), inner)


def encode_string(slot: int, data: bytes) -> dict[int, int]:
    """Storage of a ``string``/``bytes`` at ``slot``: short (< 32 bytes) in the slot itself with
    2 * length in its lowest byte; long as 2 * length + 1, data from keccak256(slot)."""
    if len(data) < 32:
        return {slot: int.from_bytes(data.ljust(31, b"\x00") + bytes([2 * len(data)]), "big")}
    out = {slot: 2 * len(data) + 1}
    start = array_data_slot(slot)
    for i in range(0, len(data), 32):
        out[start + i // 32] = int.from_bytes(data[i : i + 32].ljust(32, b"\x00"), "big")
    return out


def decode_string(read: StorageRead, slot: int) -> bytes:
    head = read(slot)
    if head & 1 == 0:
        length = (head & 0xFF) // 2
        return _word(head)[:length]
    length = (head - 1) // 2
    start = array_data_slot(slot)
    data = b"".join(_word(read(start + i)) for i in range((length + 31) // 32))
    return data[:length]


def encode_address_array(slot: int, addresses: Sequence[bytes]) -> dict[int, int]:
    out = {slot: len(addresses)}
    start = array_data_slot(slot)
    for i, address in enumerate(addresses):
        out[start + i] = int.from_bytes(address, "big")
    return out


def decode_address_array(read: StorageRead, slot: int) -> tuple[bytes, ...]:
    start = array_data_slot(slot)
    return tuple(read(start + i).to_bytes(32, "big")[12:] for i in range(read(slot)))


def _abi_address_array(validators: Sequence[bytes]) -> bytes:
    """abi.encode(address[]): offset 32, length, each address left-padded."""
    return _word(32) + _word(len(validators)) + b"".join(address_key(a) for a in validators)


def validator_set_hash(validators: Sequence[bytes]) -> bytes:
    """keccak256(abi.encode(address[])), the contract's ``validatorSetHash`` (slot 2)."""
    return keccak(_abi_address_array(validators))


SYNC_VALIDATORS_SELECTOR: Final = keccak(b"syncValidators(address[])")[:4]


def sync_validators_calldata(validators: Sequence[bytes]) -> bytes:
    """Input of the per-block system call ``syncValidators(address[])``."""
    return SYNC_VALIDATORS_SELECTOR + _abi_address_array(validators)


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attestation:
    """One validator's attestation as the registry holds it."""

    address: bytes
    status: Status
    round: int
    """Submission counter (1 for the first); approvals belong to one round."""
    entity_name: str
    corporate_number: str
    """13 digits, check digit first."""
    jurisdiction: str
    region: str
    document_hash: bytes
    submitted_at: int
    """Block number of the submission (0 for a genesis attestation)."""
    approved_at: int
    """Block number at which a quorum approved it (0 for a genesis attestation or while pending)."""
    approved_by: tuple[bytes, ...]
    """The validators whose approvals made the quorum (empty for a genesis attestation)."""
    revoked_at: int
    revoked_by: tuple[bytes, ...]

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID


def read_status(read: StorageRead, address: bytes) -> Status:
    """The cheap check: one slot. ``Status.VALID`` means approved by a quorum and not revoked."""
    return Status(read(attestation_base(address) + OFF_STATUS))


def is_attested(read: StorageRead, address: bytes) -> bool:
    return read_status(read, address) is Status.VALID


def read_attestation(read: StorageRead, address: bytes) -> Attestation | None:
    """The whole attestation of ``address``, or None if it never submitted one."""
    base = attestation_base(address)
    status = Status(read(base + OFF_STATUS))
    if status is Status.NONE:
        return None
    number = read(base + OFF_CORPORATE_NUMBER)
    return Attestation(
        address=address,
        status=status,
        round=read(base + OFF_ROUND),
        entity_name=decode_string(read, base + OFF_ENTITY_NAME).decode("utf-8", errors="replace"),
        corporate_number=f"{number:013d}",
        jurisdiction=decode_string(read, base + OFF_JURISDICTION).decode("ascii", errors="replace"),
        region=decode_string(read, base + OFF_REGION).decode("ascii", errors="replace"),
        document_hash=_word(read(base + OFF_DOCUMENT_HASH)),
        submitted_at=read(base + OFF_SUBMITTED_AT),
        approved_at=read(base + OFF_APPROVED_AT),
        approved_by=decode_address_array(read, base + OFF_APPROVED_BY),
        revoked_at=read(base + OFF_REVOKED_AT),
        revoked_by=decode_address_array(read, base + OFF_REVOKED_BY),
    )


def attestation_problem(read: StorageRead, address: bytes, allowed: Iterable[str]) -> str | None:
    """Why ``address`` may not be voted in, in words, or None when it holds a Valid attestation in
    an allowed jurisdiction. One slot when it is fine but for the jurisdiction (two more)."""
    who = f"0x{address.hex()}"
    base = attestation_base(address)
    status = Status(read(base + OFF_STATUS))
    if status is Status.NONE:
        return f"{who} has no attestation in the validator registry"
    if status is Status.PENDING:
        return f"{who}'s attestation is pending: not yet approved by a quorum of validators"
    if status is Status.REVOKED:
        return f"{who}'s attestation was revoked at block {read(base + OFF_REVOKED_AT)}"
    jurisdiction = decode_string(read, base + OFF_JURISDICTION).decode("ascii", errors="replace")
    codes = tuple(allowed)
    if jurisdiction not in codes:
        return f"{who} is attested in jurisdiction {jurisdiction!r}, not one allowed ({', '.join(codes)})"
    return None


def read_validators(read: StorageRead) -> tuple[bytes, ...]:
    """The validator set the registry counts approvals against (synced by the chain)."""
    return decode_address_array(read, SLOT_VALIDATORS)


def read_subjects(read: StorageRead) -> tuple[bytes, ...]:
    """Every address that holds an attestation in any status, in order of first submission."""
    return decode_address_array(read, SLOT_SUBJECTS)


def jurisdiction_allowed(read: StorageRead, code: str) -> bool:
    return read(mapping_slot(jurisdiction_key(code), SLOT_JURISDICTION_ALLOWED)) != 0


def has_approved(read: StorageRead, subject: bytes, approver: bytes) -> bool:
    round_ = read(attestation_base(subject) + OFF_ROUND)
    return read(vote_slot(SLOT_APPROVALS, subject, round_, approver)) != 0


# --- writing the genesis ------------------------------------------------------------------------


def genesis_storage(
    validators: Sequence[bytes],
    attestations: Mapping[bytes, AttestationFields],
    jurisdictions: Iterable[str],
) -> dict[int, int]:
    """The registry's storage at genesis: the validator set, the allowed jurisdictions, and one
    Valid attestation (round 1, approved at block 0 by the genesis itself) per entry of
    ``attestations``, in ``validators`` order and then the rest sorted."""
    ordered = sorted(validators)
    storage: dict[int, int] = {}
    storage.update(encode_address_array(SLOT_VALIDATORS, ordered))
    for address in ordered:
        storage[mapping_slot(address_key(address), SLOT_IS_VALIDATOR)] = 1
    storage[SLOT_VALIDATOR_SET_HASH] = int.from_bytes(validator_set_hash(ordered), "big")
    for code in jurisdictions:
        storage[mapping_slot(jurisdiction_key(code), SLOT_JURISDICTION_ALLOWED)] = 1
    subjects = [a for a in ordered if a in attestations] + sorted(set(attestations) - set(ordered))
    storage.update(encode_address_array(SLOT_SUBJECTS, subjects))
    for address in subjects:
        fields = attestations[address]
        base = attestation_base(address)
        storage[base + OFF_STATUS] = Status.VALID
        storage[base + OFF_ROUND] = 1
        storage.update(encode_string(base + OFF_ENTITY_NAME, fields.entity_name.encode("utf-8")))
        storage[base + OFF_CORPORATE_NUMBER] = int(fields.corporate_number)
        storage.update(encode_string(base + OFF_JURISDICTION, fields.jurisdiction.encode("ascii")))
        storage.update(encode_string(base + OFF_REGION, fields.region.encode("ascii")))
        storage[base + OFF_DOCUMENT_HASH] = int.from_bytes(fields.document_hash, "big")
    return {slot: value for slot, value in storage.items() if value != 0}


@cache
def artifact() -> dict[str, Any]:
    """jsc_node/data/ValidatorRegistry.json: contracts/build/ValidatorRegistry.json, packaged (a
    test keeps the two equal)."""
    doc: dict[str, Any] = json.loads(
        resources.files("jsc_node").joinpath("data/ValidatorRegistry.json").read_text()
    )
    return doc


def runtime_code() -> bytes:
    return bytes.fromhex(artifact()["deployedBytecode"][2:])


def genesis_alloc_entry(
    validators: Sequence[bytes],
    attestations: Mapping[bytes, AttestationFields],
    jurisdictions: Iterable[str],
) -> dict[str, Any]:
    """The registry's genesis.json alloc entry (nonce 1 as a deployed contract; storage keys and
    values as 0x + 64 hex digits, geth's form)."""
    storage = genesis_storage(validators, attestations, jurisdictions)
    return {
        "balance": "0x0",
        "nonce": "0x1",
        "code": "0x" + runtime_code().hex(),
        "storage": {"0x" + _word(k).hex(): "0x" + _word(v).hex() for k, v in sorted(storage.items())},
    }


# --- development attestations -------------------------------------------------------------------

DEV_ENTITY_NAME: Final = "DEVELOPMENT VALIDATOR {n} (not attested)"
DEV_DOCUMENT: Final = b"jsc-node development attestation: no document was checked"


def dev_corporate_number(n: int) -> str:
    """A well-formed 法人番号 for development validator ``n`` (base 99999999 and n): it passes the
    check digit, so it exercises the same path as a real one, and is recognisably not real."""
    base = f"9999{n:08d}"
    return f"{corporate_number_check_digit(base)}{base}"


def dev_attestation(n: int) -> AttestationFields:
    """The clearly marked attestation the dev genesis and devnet give validator ``n`` (1-based)."""
    return AttestationFields(
        entity_name=DEV_ENTITY_NAME.format(n=n),
        corporate_number=dev_corporate_number(n),
        jurisdiction="JP",
        region="JP-13",
        document_hash=hashlib.sha256(DEV_DOCUMENT).digest(),
    )
