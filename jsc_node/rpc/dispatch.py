"""JSON-RPC 2.0 dispatch: request validation, the method table, and every error code.

This is the only place a JSON-RPC error code is chosen. Handlers and the backend raise
meaning-carrying exceptions (``encoding.InvalidParams``, ``jsc_node.errors.*``,
``jsc_node.views.ExecutionFailed`` ...); :func:`error_object` maps them to codes as geth does:

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
-32000   server errors: ``header not found``, pool refusals, non-revert EVM failures,
         ``filter not found``, ``subscription not found``
-32005   a query over the node's limits (``query returned more than 10000 results``), too many
         filters or subscriptions, a filter that dropped results
3        ``eth_call``/``eth_estimateGas`` reverted: ``data`` = revert bytes, message
         ``execution reverted: <reason>`` from ``Error(string)``/``Panic(uint256)``
-380xx   ``eth_simulateV1`` refusals (``SIMULATION_ERROR_CODES``); -32015 a simulated call's
         non-revert EVM failure (in its ``error`` member)
=======  ==========================================================================
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Final

import orjson

from jsc_node.config import validate_apis
from jsc_node.errors import (
    BlockNotFound,
    ExecutionReverted,
    InvalidTransaction,
    JscError,
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
    TransactionNotFound,
)
from jsc_node.rpc.encoding import InvalidParams
from jsc_node.rpc.filters import FilterLimitExceeded, FilterManager
from jsc_node.rpc.methods import admin, debug, eth, net, qbft, simulate, testing, txpool, web3
from jsc_node.rpc.ports import RpcBackend
from jsc_node.rpc.subscriptions import EventHub, SubscriptionLimitExceeded, UnknownSubscription
from jsc_node.views import (
    ExecutionFailed,
    LogQueryLimitExceeded,
)

log = logging.getLogger(__name__)

ALWAYS_SERVED: Final = frozenset({"rpc_modules"})
"""Served whatever the API list says (geth registers its ``rpc`` namespace on every transport)."""


def namespace(method: str) -> str:
    """The wire namespace of a method name (``eth_call`` -> ``eth``)."""
    return method.split("_", 1)[0]


def is_served(method: str, apis: Collection[str]) -> bool:
    """Whether a transport serving ``apis`` (validated, upper-case names) answers ``method``."""
    return method in ALWAYS_SERVED or namespace(method).upper() in apis


PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
SERVER_ERROR: Final = -32000
LIMIT_EXCEEDED: Final = -32005
EXECUTION_REVERTED: Final = 3
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

Handler = Callable[[RpcBackend, list[Any]], Awaitable[Any]]

METHODS: Final[Mapping[str, Handler]] = {
    "web3_clientVersion": web3.client_version,
    "web3_sha3": web3.sha3,
    "rpc_modules": web3.rpc_modules,
    "net_version": net.version,
    "net_listening": net.listening,
    "net_peerCount": net.peer_count,
    "eth_chainId": eth.chain_id,
    "admin_nodeInfo": admin.node_info,
    "admin_peers": admin.peers,
    "qbft_proposeValidatorVote": qbft.propose_validator_vote,
    "qbft_discardValidatorVote": qbft.discard_validator_vote,
    "qbft_getPendingVotes": qbft.get_pending_votes,
    "qbft_getValidatorsByBlockNumber": qbft.get_validators_by_block_number,
    "qbft_getValidatorsByBlockHash": qbft.get_validators_by_block_hash,
    "qbft_getSignerMetrics": qbft.get_signer_metrics,
    "eth_blockNumber": eth.block_number,
    "eth_syncing": eth.syncing,
    "eth_accounts": eth.accounts,
    "eth_mining": eth.mining,
    "eth_hashrate": eth.hashrate,
    "eth_getBalance": eth.get_balance,
    "eth_getTransactionCount": eth.get_transaction_count,
    "eth_getCode": eth.get_code,
    "eth_getStorageAt": eth.get_storage_at,
    "eth_call": eth.call,
    "eth_simulateV1": simulate.simulate_v1,
    "eth_estimateGas": eth.estimate_gas,
    "eth_gasPrice": eth.gas_price,
    "eth_maxPriorityFeePerGas": eth.max_priority_fee_per_gas,
    "eth_feeHistory": eth.fee_history,
    "eth_baseFee": eth.base_fee,
    "eth_blobBaseFee": eth.blob_base_fee,
    "eth_sendRawTransaction": eth.send_raw_transaction,
    "eth_getTransactionByHash": eth.get_transaction_by_hash,
    "eth_getTransactionReceipt": eth.get_transaction_receipt,
    "eth_getBlockByNumber": eth.get_block_by_number,
    "eth_getBlockByHash": eth.get_block_by_hash,
    "eth_getBlockReceipts": eth.get_block_receipts,
    "eth_getHeaderByNumber": eth.get_header_by_number,
    "eth_getHeaderByHash": eth.get_header_by_hash,
    "eth_getBlockTransactionCountByNumber": eth.get_block_transaction_count_by_number,
    "eth_getBlockTransactionCountByHash": eth.get_block_transaction_count_by_hash,
    "eth_getTransactionByBlockNumberAndIndex": eth.get_transaction_by_block_number_and_index,
    "eth_getTransactionByBlockHashAndIndex": eth.get_transaction_by_block_hash_and_index,
    "eth_getUncleCountByBlockNumber": eth.get_uncle_count_by_block_number,
    "eth_getUncleCountByBlockHash": eth.get_uncle_count_by_block_hash,
    "eth_getLogs": eth.get_logs,
    "txpool_content": txpool.content,
    "txpool_contentFrom": txpool.content_from,
    "txpool_inspect": txpool.inspect,
    "txpool_status": txpool.status,
    "eth_getProof": eth.get_proof,
    "eth_getStorageValues": eth.get_storage_values,
    "eth_createAccessList": eth.create_access_list,
    "eth_config": eth.config,
    "eth_capabilities": eth.capabilities,
    "debug_getRawHeader": debug.get_raw_header,
    "debug_getRawBlock": debug.get_raw_block,
    "debug_getRawReceipts": debug.get_raw_receipts,
    "debug_getRawTransaction": debug.get_raw_transaction,
    "debug_traceTransaction": debug.trace_transaction,
    "debug_traceBlockByNumber": debug.trace_block_by_number,
    "debug_traceBlockByHash": debug.trace_block_by_hash,
    "debug_traceCall": debug.trace_call,
    "testing_buildBlockV1": testing.build_block_v1,
}

# --- revert reasons (geth abi.UnpackRevert) -------------------------------------

ERROR_SELECTOR: Final = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR: Final = bytes.fromhex("4e487b71")  # Panic(uint256)

# Solidity panic codes, in geth's words (accounts/abi/abi.go panicReasons).
PANIC_REASONS: Final[Mapping[int, str]] = {
    0x00: "generic panic",
    0x01: "assert(false)",
    0x11: "arithmetic underflow or overflow",
    0x12: "division or modulo by zero",
    0x21: "enum overflow",
    0x22: "invalid encoded storage byte array accessed",
    0x31: "out-of-bounds array access; popping on an empty array",
    0x32: "out-of-bounds access of an array or bytesN",
    0x41: "out of memory",
    0x51: "uninitialized function",
}


def decode_revert_reason(revert: bytes) -> str | None:
    """The human reason in revert data, or ``None`` for custom errors and malformed data."""
    selector, body = revert[:4], revert[4:]
    if selector == PANIC_SELECTOR and len(body) >= 32:
        code = int.from_bytes(body[:32], "big")
        return PANIC_REASONS.get(code, f"unknown panic code: {code:#x}")
    if selector == ERROR_SELECTOR and len(body) >= 64:
        offset = int.from_bytes(body[:32], "big")
        if offset + 32 > len(body):
            return None
        length = int.from_bytes(body[offset : offset + 32], "big")
        start = offset + 32
        if start + length > len(body):
            return None
        return body[start : start + length].decode("utf-8", errors="replace")
    return None


# --- error mapping -----------------------------------------------------------


class MethodNotFound(Exception):
    def __init__(self, method: str, message: str | None = None) -> None:
        super().__init__(message or f"the method {method} does not exist/is not available")


# Subscriptions live on a WebSocket connection; geth answers this over transports without them.
UNSUPPORTED: Final[Mapping[str, str]] = {
    "eth_subscribe": "notifications not supported",
    "eth_unsubscribe": "notifications not supported",
}


class InvalidRequest(Exception):
    pass


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
    if isinstance(exc, InvalidTransaction | ExecutionFailed | JscError):
        return {"code": SERVER_ERROR, "message": str(exc)}
    if isinstance(exc, MethodNotFound):
        return {"code": METHOD_NOT_FOUND, "message": str(exc)}
    if isinstance(exc, InvalidRequest):
        return {"code": INVALID_REQUEST, "message": str(exc)}
    return {"code": INTERNAL_ERROR, "message": "internal error"}


def simulate_call_error(exc: BaseException) -> dict[str, Any]:
    """The ``error`` member of one failed eth_simulateV1 call: reverts as eth_call's (3, with the
    revert data), any other EVM failure -32015."""
    if isinstance(exc, ExecutionReverted):
        return error_object(exc)
    return {"code": SIM_VM_ERROR, "message": str(exc)}


def _error_response(request_id: Any, error: Mapping[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def parse_error_response() -> bytes:
    return orjson.dumps(_error_response(None, {"code": PARSE_ERROR, "message": "parse error"}))


def too_large_response(size: int | None, limit: int) -> bytes:
    """Body for a request over the size limit (sent with HTTP 413; geth's words)."""
    shown = f"{size}>{limit}" if size is not None else f">{limit}"
    return orjson.dumps(
        _error_response(None, {"code": INVALID_REQUEST, "message": f"content length too large ({shown})"})
    )


def _valid_id(value: Any) -> bool:
    # A tuple, not ``str | int | float``: isinstance with a union is several times slower (hot path).
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


# --- the dispatcher ----------------------------------------------------------


Connection = Mapping[str, Handler]
"""Methods bound to one WebSocket connection (``eth_subscribe``/``eth_unsubscribe``), looked up
before the node's table; ``None`` over HTTP."""


class Dispatcher:
    """Answers JSON-RPC payloads (single or batch) against one backend.

    The filter methods (``eth_newFilter`` ...) come from ``filters``, a
    :class:`~jsc_node.rpc.filters.FilterManager` (one fed by a private, silent hub if not given).
    ``apis`` (Besu's names, ``ETH``...) limits the namespaces served, connection methods included;
    any other method answers as an unknown one, and ``rpc_modules`` lists only these. ``None``
    serves the whole table.
    """

    def __init__(
        self,
        backend: RpcBackend,
        *,
        max_batch_size: int = 1000,
        methods: Mapping[str, Handler] = METHODS,
        filters: FilterManager | None = None,
        apis: Collection[str] | None = None,
    ) -> None:
        self._backend = backend
        self._max_batch_size = max_batch_size
        self.filters = filters if filters is not None else FilterManager(EventHub())
        table = {**methods, **self.filters.methods()}
        self.apis = None if apis is None else frozenset(validate_apis(apis))
        if self.apis is not None:
            served = self.apis
            table = {name: handler for name, handler in table.items() if is_served(name, served)}
            if "rpc_modules" in table:
                table["rpc_modules"] = web3.rpc_modules_of(served)
        self._methods = table

    async def handle_body(self, body: bytes | str, connection: Connection | None = None) -> bytes | None:
        """Answer a raw request body; ``None`` when nothing is owed (only notifications)."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return parse_error_response()
        answer = await self.handle_payload(payload, connection)
        return None if answer is None else orjson.dumps(answer)

    async def handle_payload(self, payload: Any, connection: Connection | None = None) -> Any:
        """Answer decoded JSON: a response object, a list of them, or ``None``."""
        if isinstance(payload, list):
            return await self._handle_batch(payload, connection)
        return await self.handle_message(payload, connection)

    async def _handle_batch(self, batch: list[Any], connection: Connection | None) -> Any:
        if not batch:
            return _error_response(None, {"code": INVALID_REQUEST, "message": "empty batch"})
        if len(batch) > self._max_batch_size:
            # geth: one error, carrying the id of the first call in the batch.
            first_id = next(
                (m.get("id") for m in batch if isinstance(m, dict) and "id" in m and _valid_id(m.get("id"))),
                None,
            )
            return [_error_response(first_id, {"code": INVALID_REQUEST, "message": "batch too large"})]
        answers = await asyncio.gather(*(self.handle_message(message, connection) for message in batch))
        responses = [a for a in answers if a is not None]
        return responses or None

    async def handle_message(
        self, message: Any, connection: Connection | None = None
    ) -> dict[str, Any] | None:
        """Answer one request object; ``None`` for a valid notification (no ``id`` member)."""
        if not isinstance(message, dict):
            return _error_response(None, {"code": INVALID_REQUEST, "message": "invalid request"})
        is_notification = "id" not in message
        request_id = message.get("id")
        if not _valid_id(request_id):
            return _error_response(None, {"code": INVALID_REQUEST, "message": "invalid request"})
        method = message.get("method")
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str) or not method:
            return _error_response(request_id, {"code": INVALID_REQUEST, "message": "invalid request"})
        params = message.get("params")
        if params is None:
            params = []
        try:
            if not isinstance(params, list):
                raise InvalidParams("non-array args")
            result = await self.call(method, params, connection)
        except Exception as exc:
            if is_notification:
                return None
            error = error_object(exc)
            if error["code"] == INTERNAL_ERROR:
                log.exception("internal error in %s", method)
            return _error_response(request_id, error)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    async def call(self, method: str, params: list[Any], connection: Connection | None = None) -> Any:
        """Run one method by wire name; raises what the handler raises."""
        handler = connection.get(method) if connection is not None else None
        if handler is not None and self.apis is not None and not is_served(method, self.apis):
            handler = None
        if handler is None:
            handler = self._methods.get(method)
        if handler is None:
            # Over WebSocket, eth_subscribe is missing only because ETH is not served there.
            raise MethodNotFound(method, UNSUPPORTED.get(method) if connection is None else None)
        return await handler(self._backend, params)
