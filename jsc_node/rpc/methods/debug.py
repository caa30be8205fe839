"""``debug_*`` methods (geth's ``DebugAPI`` and tracers API): raw encodings and transaction traces.

Traces come out in geth's JSON exactly: the struct logger's ``{gas, failed, returnValue,
structLogs}`` (eth/tracers/logger ``ExecutionResult``, ``structLogLegacy``), the callTracer's
frames (eth/tracers/native/call.go ``callFrame``) and the prestateTracer's accounts
(eth/tracers/native/prestate.go ``account``, ``stateMap``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from jsc_node.errors import (
    BlockNotFound,
    InvalidParams,
    TransactionNotFound,
)
from jsc_node.rpc.encoding import (
    check_arity,
    decode_block_id,
    decode_block_number,
    decode_call_request,
    decode_hash,
    decode_state_override,
    optional,
    required,
)
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import (
    BlockId,
    BlockTraceEntry,
    CallFrameView,
    ExecutionFailed,
    PrestateAccountView,
    PrestateTraceView,
    StateOverride,
    StructLogView,
    StructTraceView,
    TraceConfig,
    TraceView,
)

Params = list[Any]

CALL_TRACER: Final = "callTracer"
PRESTATE_TRACER: Final = "prestateTracer"
SUPPORTED_TRACERS: Final = frozenset({CALL_TRACER, PRESTATE_TRACER})
# geth eth/tracers/native/prestate.go ``PrestateTracerConfig``: JSON key -> TraceConfig field.
_PRESTATE_FLAGS: Final = {
    "diffMode": "diff_mode",
    "disableCode": "disable_code",
    "disableStorage": "prestate_disable_storage",
    "includeEmpty": "include_empty",
}
DEFAULT_TRACE_CONFIG: Final = TraceConfig()
LATEST: Final = BlockId(tag="latest")


# --- raw encodings --------------------------------------------------------------------


async def _number_of(backend: RpcBackend, block_id: BlockId) -> int:
    number = await backend.resolve_block(block_id)
    if number is None:
        if block_id.hash is not None:
            raise BlockNotFound(f"block 0x{block_id.hash.hex()} not found")
        raise BlockNotFound(f"block #{block_id.number} not found")
    return number


async def get_raw_header(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 1)
    number = await _number_of(backend, required(params, 0, decode_block_id))
    raw = await backend.raw_header(number)
    if raw is None:
        raise BlockNotFound(f"block #{number} not found")
    return "0x" + raw.hex()


async def get_raw_block(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 1)
    number = await _number_of(backend, required(params, 0, decode_block_id))
    raw = await backend.raw_block(number)
    if raw is None:
        raise BlockNotFound(f"block #{number} not found")
    return "0x" + raw.hex()


async def get_raw_receipts(backend: RpcBackend, params: Params) -> list[str]:
    check_arity(params, 1)
    number = await _number_of(backend, required(params, 0, decode_block_id))
    receipts = await backend.raw_receipts(number)
    if receipts is None:
        raise BlockNotFound(f"block #{number} not found")
    return ["0x" + r.hex() for r in receipts]


async def get_raw_transaction(backend: RpcBackend, params: Params) -> str | None:
    check_arity(params, 1)
    raw = await backend.raw_transaction(required(params, 0, decode_hash))
    return None if raw is None else "0x" + raw.hex()


# --- tracing ------------------------------------------------------------------------


def _flag(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParams(
            f"json: cannot unmarshal non-bool into Go struct field TraceConfig.{key} of type bool"
        )
    return value


def decode_trace_config(value: Any) -> TraceConfig:
    """geth's ``TraceConfig``: the struct logger's switches, ``tracer`` and ``tracerConfig``."""
    if not isinstance(value, dict):
        raise InvalidParams("json: cannot unmarshal non-object into Go value of type tracers.TraceConfig")
    tracer = value.get("tracer")
    if tracer is not None and not isinstance(tracer, str):
        raise InvalidParams(
            "json: cannot unmarshal non-string into Go struct field TraceConfig.tracer of type string"
        )
    if tracer == "":
        tracer = None
    raw_config = value.get("tracerConfig")
    prestate = _decode_prestate_config(raw_config) if tracer == PRESTATE_TRACER else {}
    tracer_config = raw_config or {}
    if not isinstance(tracer_config, dict):
        raise InvalidParams("json: cannot unmarshal non-object into Go struct field TraceConfig.tracerConfig")
    return TraceConfig(
        tracer=tracer,
        disable_stack=_flag(value, "disableStack"),
        disable_storage=_flag(value, "disableStorage"),
        enable_memory=_flag(value, "enableMemory"),
        enable_return_data=_flag(value, "enableReturnData"),
        only_top_call=_flag(tracer_config, "onlyTopCall"),
        with_log=_flag(tracer_config, "withLog"),
        **prestate,
    )


def _go_json_kind(value: Any) -> str:
    """The JSON kind as Go's encoding/json names it in an ``UnmarshalTypeError``."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


def _decode_prestate_config(raw: Any) -> dict[str, bool]:
    """geth ``newPrestateTracer``: ``json.Unmarshal`` into ``PrestateTracerConfig`` (keys matched
    case-insensitively, unknown keys and ``null`` ignored, the last of duplicates wins), then
    ``cannot use diffMode with includeEmpty``. Errors come back as the tracer's (-32000)."""
    flags: dict[str, bool] = {}
    if raw is None:
        return flags
    if not isinstance(raw, dict):
        raise ExecutionFailed(
            f"json: cannot unmarshal {_go_json_kind(raw)} into Go value of type native.PrestateTracerConfig"
        )
    by_folded = {key.lower(): key for key in _PRESTATE_FLAGS}
    for key, item in raw.items():
        name = key if key in _PRESTATE_FLAGS else by_folded.get(key.lower())
        if name is None or item is None:
            continue
        if not isinstance(item, bool):
            raise ExecutionFailed(
                f"json: cannot unmarshal {_go_json_kind(item)} into Go struct field "
                f"PrestateTracerConfig.{name} of type bool"
            )
        flags[_PRESTATE_FLAGS[name]] = item
    if flags.get("diff_mode") and flags.get("include_empty"):
        raise ExecutionFailed("cannot use diffMode with includeEmpty")
    return flags


def _check_tracer(config: TraceConfig) -> None:
    if config.tracer is not None and config.tracer not in SUPPORTED_TRACERS:
        # geth: an unknown name is taken for a JavaScript tracer, which this node does not run.
        raise ExecutionFailed(f"tracer not found: {config.tracer}")


def format_struct_log(step: StructLogView) -> dict[str, Any]:
    """geth's ``structLogLegacy``: optional members only when set (``omitempty``)."""
    out: dict[str, Any] = {
        "pc": step.pc,
        "op": step.op,
        "gas": step.gas,
        "gasCost": step.gas_cost,
        "depth": step.depth,
    }
    if step.error:
        out["error"] = step.error
    if step.stack is not None:
        out["stack"] = [hex(v) for v in step.stack]
    if step.return_data:
        out["returnData"] = "0x" + step.return_data.hex()
    if step.memory:
        memory = step.memory
        out["memory"] = ["0x" + memory[i : i + 32].hex() for i in range(0, len(memory) - 31, 32)]
    if step.storage:
        out["storage"] = {"0x" + k.hex(): "0x" + v.hex() for k, v in step.storage.items()}
    if step.refund:
        out["refund"] = step.refund
    return out


def format_call_frame(frame: CallFrameView) -> dict[str, Any]:
    """geth's callTracer ``callFrame`` JSON (its field order; empty members left out)."""
    out: dict[str, Any] = {
        "from": "0x" + frame.sender.hex(),
        "gas": hex(frame.gas),
        "gasUsed": hex(frame.gas_used),
    }
    if frame.to is not None:
        out["to"] = "0x" + frame.to.hex()
    out["input"] = "0x" + frame.input.hex()
    if frame.output:
        out["output"] = "0x" + frame.output.hex()
    if frame.error:
        out["error"] = frame.error
    if frame.revert_reason:
        out["revertReason"] = frame.revert_reason
    if frame.calls:
        out["calls"] = [format_call_frame(c) for c in frame.calls]
    if frame.logs:
        out["logs"] = [
            {
                "address": "0x" + log.address.hex(),
                "topics": ["0x" + t.hex() for t in log.topics],
                "data": "0x" + log.data.hex(),
                "position": hex(log.position),
            }
            for log in frame.logs
        ]
    if frame.value is not None:
        out["value"] = hex(frame.value)
    out["type"] = frame.type
    return out


def _format_prestate_account(account: PrestateAccountView) -> dict[str, Any]:
    """geth's ``account`` JSON: its field order, ``omitempty`` members left out; the nonce is a
    JSON number, not a hex quantity."""
    out: dict[str, Any] = {}
    if account.balance is not None:
        out["balance"] = hex(account.balance)
    if account.code is not None:
        out["code"] = "0x" + account.code.hex()
    if account.code_hash is not None:
        out["codeHash"] = "0x" + account.code_hash.hex()
    if account.nonce:
        out["nonce"] = account.nonce
    if account.storage:
        out["storage"] = {"0x" + k.hex(): "0x" + v.hex() for k, v in sorted(account.storage.items())}
    return out


def _format_state_map(accounts: Mapping[bytes, PrestateAccountView]) -> dict[str, Any]:
    # Go marshals a map with its keys sorted.
    return {"0x" + a.hex(): _format_prestate_account(accounts[a]) for a in sorted(accounts)}


def format_trace(trace: TraceView) -> dict[str, Any]:
    if isinstance(trace, PrestateTraceView):
        if trace.post is None:
            return _format_state_map(trace.pre)
        return {"post": _format_state_map(trace.post), "pre": _format_state_map(trace.pre)}
    if isinstance(trace, StructTraceView):
        return {
            "gas": trace.gas,
            "failed": trace.failed,
            "returnValue": "0x" + trace.return_value.hex(),
            "structLogs": [format_struct_log(s) for s in trace.struct_logs],
        }
    return format_call_frame(trace)


def _format_block_traces(entries: list[BlockTraceEntry]) -> list[dict[str, Any]]:
    return [{"txHash": "0x" + e.tx_hash.hex(), "result": format_trace(e.result)} for e in entries]


async def trace_transaction(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 2)
    tx_hash = required(params, 0, decode_hash)
    config = optional(params, 1, decode_trace_config, DEFAULT_TRACE_CONFIG)
    _check_tracer(config)
    trace = await backend.trace_transaction(tx_hash, config)
    if trace is None:
        raise TransactionNotFound("transaction not found")
    return format_trace(trace)


def _decode_trace_call_config(value: Any) -> tuple[TraceConfig, StateOverride | None]:
    """geth's ``TraceCallConfig``: a ``TraceConfig`` plus ``stateOverrides`` (block overrides are
    refused, as for ``eth_call``)."""
    config = decode_trace_config(value)
    if value.get("blockOverrides") is not None:
        raise InvalidParams("block overrides are not supported by this node")
    raw = value.get("stateOverrides")
    return config, None if raw is None else decode_state_override(raw)


async def trace_call(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 3)
    request = required(params, 0, decode_call_request)
    block = optional(params, 1, decode_block_id, LATEST)
    no_overrides: tuple[TraceConfig, StateOverride | None] = (DEFAULT_TRACE_CONFIG, None)
    config, overrides = optional(params, 2, _decode_trace_call_config, no_overrides)
    _check_tracer(config)
    return format_trace(await backend.trace_call(request, block, overrides, config))


async def trace_block_by_number(backend: RpcBackend, params: Params) -> list[dict[str, Any]]:
    check_arity(params, 2)
    block_id = required(params, 0, decode_block_number)
    config = optional(params, 1, decode_trace_config, DEFAULT_TRACE_CONFIG)
    _check_tracer(config)
    return _format_block_traces(await backend.trace_block(block_id, config))


async def trace_block_by_hash(backend: RpcBackend, params: Params) -> list[dict[str, Any]]:
    check_arity(params, 2)
    block_hash = required(params, 0, decode_hash)
    config = optional(params, 1, decode_trace_config, DEFAULT_TRACE_CONFIG)
    _check_tracer(config)
    return _format_block_traces(await backend.trace_block(BlockId(hash=block_hash), config))
