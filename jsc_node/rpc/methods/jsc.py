"""``jsc_*`` methods: the validator registry (contracts/ValidatorRegistry.sol) as JSON-RPC.

The registry records, per validator address, who runs it and where (an attestation approved by a
quorum of validators). These methods read it at any block: the QBFT validators with their
attestations, one attestation, and the registry's events decoded with its ABI. A chain whose
genesis has no ``config.jsc`` answers -32000 (``NoValidatorRegistry``). Block parameters are
geth's ``BlockNumberOrHash`` (tags, numbers, hashes, EIP-1898 objects).
"""

from __future__ import annotations

from typing import Any

from jsc_node.errors import BlockNotFound, InvalidParams
from jsc_node.rpc.encoding import (
    check_arity,
    checksum_address,
    data,
    decode_address,
    decode_block_id,
    optional,
    quantity,
    required,
)
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import AttestationView, BlockId, GovernanceEventView


def format_attestation(att: AttestationView) -> dict[str, Any]:
    return {
        "address": checksum_address(att.address),
        "status": att.status,
        "round": quantity(att.round),
        "entityName": att.entity_name,
        "corporateNumber": att.corporate_number,
        "jurisdiction": att.jurisdiction,
        "region": att.region,
        "documentHash": data(att.document_hash),
        "submittedAt": quantity(att.submitted_at),
        "approvedAt": quantity(att.approved_at),
        "approvedBy": [checksum_address(a) for a in att.approved_by],
        "revokedAt": quantity(att.revoked_at),
        "revokedBy": [checksum_address(a) for a in att.revoked_by],
    }


def _format_arg(name: str, value: object) -> object:
    """An event argument as JSON: addresses checksummed, bytes32 as DATA, uint as QUANTITY (the
    corporate number as its 13 digits, as the attestation shows it), strings as they are."""
    if isinstance(value, tuple):
        return [_format_arg(name, v) for v in value]
    if isinstance(value, bytes):
        return checksum_address(value) if len(value) == 20 else data(value)
    if isinstance(value, int):
        return f"{value:013d}" if name == "corporateNumber" else quantity(value)
    return value


def format_event(event: GovernanceEventView) -> dict[str, Any]:
    log = event.log
    return {
        "event": event.event,
        "args": {name: _format_arg(name, value) for name, value in event.args.items()},
        "address": checksum_address(log.address),
        "blockNumber": quantity(log.block_number),
        "blockHash": data(log.block_hash),
        "transactionHash": data(log.transaction_hash),
        "transactionIndex": quantity(log.transaction_index),
        "logIndex": quantity(log.log_index),
    }


async def get_validators(backend: RpcBackend, params: list[Any]) -> list[dict[str, Any]] | None:
    check_arity(params, 1)
    block = optional(params, 0, decode_block_id, BlockId.latest())
    found = await backend.jsc_validators(block)
    if found is None:
        return None  # as qbft_getValidatorsByBlockNumber for an unknown block
    return [
        {
            "address": checksum_address(address),
            "attestation": None if att is None else format_attestation(att),
        }
        for address, att in found
    ]


async def get_attestation(backend: RpcBackend, params: list[Any]) -> dict[str, Any] | None:
    check_arity(params, 2)
    address = required(params, 0, decode_address)
    block = optional(params, 1, decode_block_id, BlockId.latest())
    att = await backend.jsc_attestation(address, block)
    return None if att is None else format_attestation(att)


async def _block_number(backend: RpcBackend, block: BlockId, head: int) -> int:
    """A range end as eth_getLogs reads it (geth eth/filters/api.go GetLogs): tags at the head,
    a number kept as given (the range check reports one past the head), a hash resolved."""
    if block.tag == "earliest":
        return 0
    if block.tag is not None:
        return head
    if block.number is not None:
        return block.number
    number = await backend.resolve_block(block)
    if number is None:
        raise BlockNotFound("unknown block")
    return number


async def get_governance_events(backend: RpcBackend, params: list[Any]) -> list[dict[str, Any]]:
    check_arity(params, 2)
    from_id = optional(params, 0, decode_block_id, BlockId.latest())
    to_id = optional(params, 1, decode_block_id, BlockId.latest())
    head = await backend.head_number()
    first = await _block_number(backend, from_id, head)
    last = await _block_number(backend, to_id, head)
    # geth's words for eth_getLogs ranges (eth/filters/api.go).
    if first > last:
        raise InvalidParams("invalid block range params")
    if last > head:
        raise InvalidParams("block range extends beyond current head block")
    return [format_event(event) for event in await backend.jsc_governance_events(first, last)]
