"""``qbft_*`` methods (Besu's QBFT API): validator votes and validator sets.

A vote proposed here is carried by this node's own proposals (in the block's extraData) until it is
discarded; a change to the validator set takes effect when more than half of the validators voted
for it within an epoch (consensus/validators.py).

On a chain with ``config.jsc`` the votes follow the validator registry (state/backend.py): an add
vote for an address without a valid attestation is refused at once (-32000, ``VoteRefused``, the
chain rule's words), and the node holds drop votes of its own for validators whose attestation is
no longer valid; ``qbft_getPendingVotes`` lists them, ``qbft_discardValidatorVote`` refuses them.
"""

from __future__ import annotations

from typing import Any

from jsc_node.rpc.encoding import (
    check_arity,
    checksum_address,
    decode_address,
    decode_block_number,
    decode_bool,
    decode_hash,
    optional,
    quantity,
    required,
)
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import BlockId

# Besu: qbft_getSignerMetrics covers the last 100 blocks when no range is given.
SIGNER_METRICS_DEFAULT_BLOCKS = 100


async def propose_validator_vote(backend: RpcBackend, params: list[Any]) -> bool:
    check_arity(params, 2)
    address = required(params, 0, decode_address)
    add = required(params, 1, decode_bool)
    await backend.qbft_propose_vote(address, add)
    return True


async def discard_validator_vote(backend: RpcBackend, params: list[Any]) -> bool:
    check_arity(params, 1)
    return await backend.qbft_discard_vote(required(params, 0, decode_address))


async def get_pending_votes(backend: RpcBackend, params: list[Any]) -> dict[str, bool]:
    check_arity(params, 0)
    votes = await backend.qbft_pending_votes()
    return {checksum_address(address): add for address, add in sorted(votes.items())}


async def get_validators_by_block_number(backend: RpcBackend, params: list[Any]) -> list[str] | None:
    check_arity(params, 1)
    block = optional(params, 0, decode_block_number, BlockId.latest())
    validators = await backend.qbft_validators(block)
    return None if validators is None else [checksum_address(v) for v in validators]


async def get_validators_by_block_hash(backend: RpcBackend, params: list[Any]) -> list[str] | None:
    check_arity(params, 1)
    block = BlockId.of_hash(required(params, 0, decode_hash))
    validators = await backend.qbft_validators(block)
    return None if validators is None else [checksum_address(v) for v in validators]


async def get_signer_metrics(backend: RpcBackend, params: list[Any]) -> list[dict[str, Any]]:
    check_arity(params, 2)
    head = await backend.head_number()
    end_id = optional(params, 1, decode_block_number, BlockId.latest())
    end = await backend.resolve_block(end_id)
    end = head if end is None else end
    start_id = optional(
        params, 0, decode_block_number, BlockId.of_number(max(0, end - SIGNER_METRICS_DEFAULT_BLOCKS + 1))
    )
    start = await backend.resolve_block(start_id)
    start = 0 if start is None else start
    metrics = await backend.qbft_signer_metrics(min(start, end), end)
    return [
        {
            "address": checksum_address(address),
            "proposedBlockCount": quantity(count),
            "lastProposedBlockNumber": quantity(last),
        }
        for address, count, last in metrics
    ]
