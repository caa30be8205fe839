"""eth_simulateV1: parameters in, simulated blocks out (geth ``SimulateV1`` / execution-apis).

``params``: ``[{blockStateCalls, traceTransfers?, validation?, returnFullTransactions?}, block?]``.
The answer is one block object per simulated block (``eth_getBlockByNumber``'s form) with a
``calls`` member: ``returnData``, ``logs``, ``gasUsed``, ``maxUsedGas``, ``status`` and, for a
failed call, ``error`` (its code chosen in ``rpc/codes.py``).
"""

from __future__ import annotations

from typing import Any, Final

from jsc_node.errors import (
    InvalidParams,
    SimClientLimit,
)
from jsc_node.rpc.codes import simulate_call_error
from jsc_node.rpc.encoding import (
    _need_dict,
    _need_list,
    _opt,
    check_arity,
    decode_address,
    decode_block_id,
    decode_bool,
    decode_call_request,
    decode_hash,
    decode_quantity,
    decode_state_override,
    decode_uint64,
    format_block,
    format_log,
    optional,
    required,
)
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import (
    BlockId,
    SimBlockCalls,
    SimBlockOverrides,
    SimCallResult,
    SimulatedBlock,
    SimulateRequest,
    WithdrawalView,
)

LATEST: Final = BlockId(tag="latest")
MAX_SIMULATE_BLOCKS: Final = 256


def decode_withdrawals(value: Any) -> tuple[WithdrawalView, ...]:
    out = []
    for item in _need_list(value, "types.Withdrawals"):
        obj = _need_dict(item, "types.Withdrawal")
        out.append(
            WithdrawalView(
                index=decode_uint64(obj.get("index")),
                validator_index=decode_uint64(obj.get("validatorIndex")),
                address=decode_address(obj.get("address")),
                amount=decode_uint64(obj.get("amount")),
            )
        )
    return tuple(out)


def decode_block_overrides(value: Any) -> SimBlockOverrides:
    obj = _need_dict(value, "override.BlockOverrides")
    return SimBlockOverrides(
        number=_opt(obj, "number", decode_quantity),
        time=_opt(obj, "time", decode_uint64),
        gas_limit=_opt(obj, "gasLimit", decode_uint64),
        fee_recipient=_opt(obj, "feeRecipient", decode_address),
        prev_randao=_opt(obj, "prevRandao", decode_hash),
        base_fee_per_gas=_opt(obj, "baseFeePerGas", decode_quantity),
        blob_base_fee=_opt(obj, "blobBaseFee", decode_quantity),
        withdrawals=_opt(obj, "withdrawals", decode_withdrawals),
    )


def decode_sim_block(value: Any) -> SimBlockCalls:
    obj = _need_dict(value, "ethapi.simBlock")
    calls = obj.get("calls")
    return SimBlockCalls(
        block_overrides=_opt(obj, "blockOverrides", decode_block_overrides),
        state_overrides=_opt(obj, "stateOverrides", decode_state_override),
        calls=tuple(
            decode_call_request(c)
            for c in _need_list(calls if calls is not None else [], "[]ethapi.TransactionArgs")
        ),
    )


def decode_simulate_request(value: Any) -> SimulateRequest:
    obj = _need_dict(value, "ethapi.simOpts")
    raw_blocks = obj.get("blockStateCalls")
    blocks = tuple(
        decode_sim_block(b)
        for b in _need_list(raw_blocks if raw_blocks is not None else [], "[]ethapi.simBlock")
    )
    return SimulateRequest(
        blocks=blocks,
        trace_transfers=bool(_opt(obj, "traceTransfers", decode_bool)),
        validation=bool(_opt(obj, "validation", decode_bool)),
        return_full_transactions=bool(_opt(obj, "returnFullTransactions", decode_bool)),
    )


def format_call_result(result: SimCallResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "returnData": "0x" + result.return_data.hex(),
        "logs": [format_log(log) for log in result.logs],
        "gasUsed": hex(result.gas_used),
        "maxUsedGas": hex(result.max_used_gas),
        "status": hex(result.status),
    }
    if result.error is not None:
        out["error"] = simulate_call_error(result.error)
    return out


def format_simulated_block(result: SimulatedBlock) -> dict[str, Any]:
    out = format_block(result.block)
    out["calls"] = [format_call_result(c) for c in result.calls]
    return out


async def simulate_v1(backend: RpcBackend, params: list[Any]) -> list[dict[str, Any]]:
    check_arity(params, 2)
    request = required(params, 0, decode_simulate_request)
    block = optional(params, 1, decode_block_id, LATEST)
    if not request.blocks:
        raise InvalidParams("empty input")
    if len(request.blocks) > MAX_SIMULATE_BLOCKS:
        raise SimClientLimit("too many blocks")
    results = await backend.simulate_v1(request, block)
    return [format_simulated_block(r) for r in results]
