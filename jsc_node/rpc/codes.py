"""JSON-RPC error codes: every exception a handler or the backend raises, mapped to its code.

This is the only place a JSON-RPC error code is chosen. Handlers and the backend raise
meaning-carrying exceptions (``jsc_node.errors.*``: ``InvalidParams``, ``ExecutionFailed``,
``BlockNotFound`` ...); :func:`error_object` maps them to codes as geth does:

=======  ==========================================================================
code     when
=======  ==========================================================================
-32700   body is not JSON (``parse error``)
-32600   not a request object, bad ``jsonrpc``/``id``/``method``; empty or oversized batch
-32601   unknown method, or one of a namespace the transport does not serve (``--rpc-http-api``,
         ``--rpc-ws-api``): ``the method X does not exist/is not available``; ``eth_subscribe``
         over HTTP (``notifications not supported``) or to an unknown name (``no "x" subscription
         in eth namespace``)
-32602   bad parameters (``invalid argument N: ...``), bad block range
-32603   a bug: an exception nobody meant to raise (logged; message hidden)
-40100   ``Unauthorized``: the request's JWT does not permit the method (Besu's UNAUTHORIZED;
         ``--rpc-http-authentication-enabled``, rpc/auth.py); HTTP 401 for a single request
-32000   server errors: ``header not found``, pool refusals, non-revert EVM failures,
         ``filter not found``, ``subscription not found``; a validator vote the registry
         policy refuses (``VoteRefused``: ``cannot vote to add 0x..: 0x.. has no attestation
         in the validator registry``), as geth answers a refused request that has no code of
         its own (rpc/errors.go ``errcodeDefault``) and Besu its ``perm_*`` refusals
-32007   a sender no account allowlist allows (Besu's TX_SENDER_NOT_AUTHORIZED, ``Sender account
         not authorized to send transactions``): this node's --permissions-accounts-config-file
         or the chain's AccountAllowlist contract
-32005   a query over the node's limits (``query returned more than 10000 results``), too many
         filters or subscriptions, a filter that dropped results; a request over the node's
         public-RPC limits (``rpc/limits.py``: per-client rate, HTTP 429; active requests, 503)
-32003   a batch call answered after the batch's answers passed ``--rpc-batch-response-max-size``
         (geth's ``response too large``)
3        ``eth_call``/``eth_estimateGas`` reverted: ``data`` = revert bytes, message
         ``execution reverted: <reason>`` from ``Error(string)``/``Panic(uint256)``
-380xx   ``eth_simulateV1`` refusals (``SIMULATION_ERROR_CODES``); -32015 a simulated call's
         non-revert EVM failure (in its ``error`` member)
=======  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from jsc_node.abi import decode_revert_reason
from jsc_node.errors import (
    BlockNotFound,
    ExecutionFailed,
    ExecutionReverted,
    FilterLimitExceeded,
    InvalidParams,
    InvalidRequest,
    InvalidTransaction,
    JscError,
    LogQueryLimitExceeded,
    MethodNotFound,
    SenderNotAuthorized,
    SimBaseFeeTooLow,
    SimBlockGasLimitReached,
    SimBlockNumberOrder,
    SimClientLimit,
    SimInsufficientFunds,
    SimIntrinsicGas,
    SimInvalidParams,
    SimInvalidTransaction,
    SimMaxInitCodeSize,
    SimNonceTooHigh,
    SimNonceTooLow,
    SimSenderNotEOA,
    SimTimestampOrder,
    SimTipAboveFeeCap,
    SimulationError,
    SubscriptionLimitExceeded,
    TransactionNotFound,
    Unauthorized,
    UnknownSubscription,
    VoteRefused,
)

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
SERVER_ERROR: Final = -32000
LIMIT_EXCEEDED: Final = -32005
RESPONSE_TOO_LARGE: Final = -32003
SENDER_NOT_AUTHORIZED: Final = -32007
EXECUTION_REVERTED: Final = 3
UNAUTHORIZED: Final = -40100
"""Besu's RpcErrorType.UNAUTHORIZED (message ``Unauthorized``): JWT authentication refused the call."""
# eth_simulateV1 (execution-apis execute.yaml; geth internal/ethapi/errors.go).
SIM_VM_ERROR: Final = -32015
SIMULATION_ERROR_CODES: Final[tuple[tuple[type[SimulationError], int], ...]] = (
    (SimNonceTooLow, -38010),
    (SimNonceTooHigh, -38011),
    (SimBaseFeeTooLow, -38012),
    (SimIntrinsicGas, -38013),
    (SimInsufficientFunds, -38014),
    (SimBlockGasLimitReached, -38015),
    (SimBlockNumberOrder, -38020),
    (SimTimestampOrder, -38021),
    (SimSenderNotEOA, -38024),
    (SimMaxInitCodeSize, -38025),
    (SimClientLimit, -38026),
    (SimTipAboveFeeCap, INVALID_PARAMS),
    (SimInvalidParams, INVALID_PARAMS),
    (SimInvalidTransaction, INTERNAL_ERROR),
)


# --- error mapping -----------------------------------------------------------


def error_object(exc: BaseException) -> dict[str, Any]:
    """The JSON-RPC ``error`` member for an exception (the table in this module's docstring)."""
    if isinstance(exc, InvalidParams):
        return {"code": INVALID_PARAMS, "message": str(exc)}
    if isinstance(exc, ExecutionReverted):
        reason = exc.reason if exc.reason is not None else decode_revert_reason(exc.data)
        message = "execution reverted" + (f": {reason}" if reason else "")
        return {"code": EXECUTION_REVERTED, "message": message, "data": "0x" + exc.data.hex()}
    if isinstance(exc, BlockNotFound):
        return {"code": SERVER_ERROR, "message": str(exc) or "header not found"}
    if isinstance(exc, TransactionNotFound):
        return {"code": SERVER_ERROR, "message": str(exc) or "transaction not found"}
    if isinstance(exc, LogQueryLimitExceeded | FilterLimitExceeded | SubscriptionLimitExceeded):
        return {"code": LIMIT_EXCEEDED, "message": str(exc)}
    if isinstance(exc, UnknownSubscription):
        return {"code": METHOD_NOT_FOUND, "message": str(exc)}
    if isinstance(exc, SimulationError):
        code = next((c for cls, c in SIMULATION_ERROR_CODES if isinstance(exc, cls)), SERVER_ERROR)
        return {"code": code, "message": str(exc)}
    if isinstance(exc, VoteRefused):
        return {"code": SERVER_ERROR, "message": str(exc)}
    if isinstance(exc, SenderNotAuthorized):
        return {"code": SENDER_NOT_AUTHORIZED, "message": str(exc)}
    if isinstance(exc, InvalidTransaction | ExecutionFailed | JscError):
        return {"code": SERVER_ERROR, "message": str(exc)}
    if isinstance(exc, MethodNotFound):
        return {"code": METHOD_NOT_FOUND, "message": str(exc)}
    if isinstance(exc, InvalidRequest):
        return {"code": INVALID_REQUEST, "message": str(exc)}
    if isinstance(exc, Unauthorized):
        return {"code": UNAUTHORIZED, "message": "Unauthorized"}
    return {"code": INTERNAL_ERROR, "message": "internal error"}


def simulate_call_error(exc: BaseException) -> dict[str, Any]:
    """The ``error`` member of one failed eth_simulateV1 call: reverts as eth_call's (3, with the
    revert data), any other EVM failure -32015."""
    if isinstance(exc, ExecutionReverted):
        return error_object(exc)
    return {"code": SIM_VM_ERROR, "message": str(exc)}


def error_response(request_id: Any, error: Mapping[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def parse_error_response() -> bytes:
    return orjson.dumps(error_response(None, {"code": PARSE_ERROR, "message": "parse error"}))


def too_large_response(size: int | None, limit: int) -> bytes:
    """Body for a request over the size limit (sent with HTTP 413; geth's words)."""
    shown = f"{size}>{limit}" if size is not None else f">{limit}"
    return orjson.dumps(
        error_response(None, {"code": INVALID_REQUEST, "message": f"content length too large ({shown})"})
    )


def invalid_content_type_response() -> bytes:
    """Body for a POST that is not JSON (sent with HTTP 415; geth rpc/http.go ``validateRequest``)."""
    return orjson.dumps(
        error_response(
            None,
            {"code": INVALID_REQUEST, "message": "invalid content type, only application/json is supported"},
        )
    )


def limit_exceeded_error(message: str) -> dict[str, Any]:
    """The ``error`` member for a call refused by a public-RPC limit (EIP-1474's -32005)."""
    return {"code": LIMIT_EXCEEDED, "message": message}


def limit_exceeded_response(message: str) -> bytes:
    """Body for a request refused by a public-RPC limit (sent with HTTP 429 or 503)."""
    return orjson.dumps(error_response(None, limit_exceeded_error(message)))


def response_too_large_error() -> dict[str, Any]:
    """The ``error`` member of a batch call past the batch response cap (geth rpc/handler.go
    ``handleBatch``: errcodeResponseTooLarge, errMsgResponseTooLarge)."""
    return {"code": RESPONSE_TOO_LARGE, "message": "response too large"}


def unauthorized_response() -> bytes:
    """Body of the HTTP 401 for a request without a valid JWT: Besu's (``AuthenticationHandler``),
    with no id, since the request is not read."""
    return orjson.dumps(error_response(None, {"code": UNAUTHORIZED, "message": "Unauthorized"}))
