"""The ``jsc_*`` reads: attestations from the registry's storage, its events decoded with its ABI.

Storage is read through ``jsc_node.governance.registry`` (the one place that knows the layout);
events are decoded with the ABI of jsc_node/data/ValidatorRegistry.json, for the few ABI types the
contract's events use (address, uint256, bytes32, string, address[]), as Solidity encodes them:
indexed static values are the topics, the rest the head/tail encoded data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_hash.auto import keccak

from jsc_node.governance import registry
from jsc_node.views import AttestationView, GovernanceEventView, LogView

STATUS_NAMES: dict[registry.Status, str] = {
    registry.Status.PENDING: "Pending",
    registry.Status.VALID: "Valid",
    registry.Status.REVOKED: "Revoked",
}


def attestation_view(read: registry.StorageRead, address: bytes) -> AttestationView | None:
    found = registry.read_attestation(read, address)
    if found is None:
        return None
    return AttestationView(
        address=found.address,
        status=STATUS_NAMES[found.status],
        round=found.round,
        entity_name=found.entity_name,
        corporate_number=found.corporate_number,
        jurisdiction=found.jurisdiction,
        region=found.region,
        document_hash=found.document_hash,
        submitted_at=found.submitted_at,
        approved_at=found.approved_at,
        approved_by=found.approved_by,
        revoked_at=found.revoked_at,
        revoked_by=found.revoked_by,
    )


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventAbi:
    name: str
    inputs: tuple[tuple[str, str, bool], ...]
    """(name, type, indexed) in declaration order."""


def _signature(entry: Mapping[str, Any]) -> str:
    return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"


@cache
def events_by_topic() -> dict[bytes, EventAbi]:
    """topic0 (keccak of the signature) -> the event's ABI, for every event of the registry."""
    out = {}
    for entry in registry.artifact()["abi"]:
        if entry["type"] != "event":
            continue
        inputs = tuple((i["name"], i["type"], bool(i["indexed"])) for i in entry["inputs"])
        out[keccak(_signature(entry).encode("ascii"))] = EventAbi(entry["name"], inputs)
    return out


def _word_at(data: bytes, offset: int) -> int:
    if offset + 32 > len(data):
        raise ValueError(f"ABI data ends at {len(data)} bytes, a word at {offset} is past it")
    return int.from_bytes(data[offset : offset + 32], "big")


def _static(kind: str, word: bytes) -> object:
    if kind == "address":
        return word[12:]
    if kind == "uint256":
        return int.from_bytes(word, "big")
    if kind == "bytes32":
        return word
    raise ValueError(f"ABI type {kind} is not one the registry's events use")


def _dynamic(kind: str, data: bytes, offset: int) -> object:
    length = _word_at(data, offset)
    if kind == "string":
        if offset + 32 + length > len(data):
            raise ValueError("ABI string runs past the data")
        return data[offset + 32 : offset + 32 + length].decode("utf-8", errors="replace")
    if kind == "address[]":
        return tuple(_word_at(data, offset + 32 * (1 + i)).to_bytes(32, "big")[12:] for i in range(length))
    raise ValueError(f"ABI type {kind} is not one the registry's events use")


_DYNAMIC = frozenset({"string", "address[]"})


def decode_event(log: LogView) -> GovernanceEventView | None:
    """The registry event ``log`` carries, or None when its topic0 is none of the registry's."""
    if not log.topics:
        return None
    abi = events_by_topic().get(log.topics[0])
    if abi is None:
        return None
    args: dict[str, object] = {}
    topics = iter(log.topics[1:])
    head = 0
    for name, kind, indexed in abi.inputs:
        if indexed:
            args[name] = _static(kind, next(topics))
            continue
        if kind in _DYNAMIC:
            args[name] = _dynamic(kind, log.data, _word_at(log.data, head))
        else:
            args[name] = _static(kind, log.data[head : head + 32])
        head += 32
    return GovernanceEventView(event=abi.name, args=args, log=log)


def decode_events(logs: Iterable[LogView]) -> list[GovernanceEventView]:
    """The registry events among ``logs``, in their order (logs of other topics left out)."""
    return [event for event in map(decode_event, logs) if event is not None]
