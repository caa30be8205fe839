"""JSON-RPC 2.0 dispatch: request validation, the method table, namespaces per transport, batches.

Error codes are chosen in ``rpc/codes.py``, the only place a JSON-RPC error code is chosen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Final

import orjson

from jsc_node.config import validate_apis
from jsc_node.errors import (
    InvalidParams,
    MethodNotFound,
    Unauthorized,
)
from jsc_node.metrics.registry import RPC_METER, rpc_label
from jsc_node.rpc.codes import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    error_object,
    error_response,
    parse_error_response,
    response_too_large_error,
)
from jsc_node.rpc.filters import FilterManager
from jsc_node.rpc.methods import admin, debug, eth, jsc, net, perm, qbft, simulate, testing, txpool, web3
from jsc_node.rpc.ports import RpcBackend
from jsc_node.rpc.subscriptions import EventHub
from jsc_node.rpc.wire import loads_request

log = logging.getLogger(__name__)

ALWAYS_SERVED: Final = frozenset({"rpc_modules"})
"""Served whatever the API list says (geth registers its ``rpc`` namespace on every transport)."""


def namespace(method: str) -> str:
    """The wire namespace of a method name (``eth_call`` -> ``eth``)."""
    return method.split("_", 1)[0]


def is_served(method: str, apis: Collection[str]) -> bool:
    """Whether a transport serving ``apis`` (validated, upper-case names) answers ``method``."""
    return method in ALWAYS_SERVED or namespace(method).upper() in apis


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
    "admin_changeLogLevel": admin.change_log_level,
    "qbft_proposeValidatorVote": qbft.propose_validator_vote,
    "qbft_discardValidatorVote": qbft.discard_validator_vote,
    "qbft_getPendingVotes": qbft.get_pending_votes,
    "qbft_getValidatorsByBlockNumber": qbft.get_validators_by_block_number,
    "qbft_getValidatorsByBlockHash": qbft.get_validators_by_block_hash,
    "qbft_getSignerMetrics": qbft.get_signer_metrics,
    "jsc_getValidators": jsc.get_validators,
    "jsc_getAttestation": jsc.get_attestation,
    "jsc_getGovernanceEvents": jsc.get_governance_events,
    "perm_getAccountsAllowlist": perm.get_accounts_allowlist,
    "perm_addAccountsToAllowlist": perm.add_accounts_to_allowlist,
    "perm_removeAccountsFromAllowlist": perm.remove_accounts_from_allowlist,
    "perm_reloadPermissionsFromFile": perm.reload_permissions_from_file,
    "perm_getNodesAllowlist": perm.get_nodes_allowlist,
    "perm_addNodesToAllowlist": perm.add_nodes_to_allowlist,
    "perm_removeNodesFromAllowlist": perm.remove_nodes_from_allowlist,
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
    "eth_fillTransaction": eth.fill_transaction,
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

# Subscriptions live on a WebSocket connection; geth answers this over transports without them.
UNSUPPORTED: Final[Mapping[str, str]] = {
    "eth_subscribe": "notifications not supported",
    "eth_unsubscribe": "notifications not supported",
}


def _valid_id(value: Any) -> bool:
    # A tuple, not ``str | int | float``: isinstance with a union is several times slower (hot path).
    # A Fragment is an integer id beyond 64 bits, kept as received (rpc/wire.py).
    return value is None or (
        isinstance(value, (str, int, float, orjson.Fragment)) and not isinstance(value, bool)
    )


# --- the dispatcher ----------------------------------------------------------


Connection = Mapping[str, Handler]
"""Methods bound to one WebSocket connection (``eth_subscribe``/``eth_unsubscribe``), looked up
before the node's table; ``None`` over HTTP."""

Permits = Callable[[str], bool]
"""Whether the caller's JWT permits a method by wire name (``rpc/auth.py``); ``None``: no authentication."""


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
        max_batch_response_bytes: int = 0,
        methods: Mapping[str, Handler] = METHODS,
        filters: FilterManager | None = None,
        apis: Collection[str] | None = None,
    ) -> None:
        self._backend = backend
        self._max_batch_size = max_batch_size
        self._max_batch_response_bytes = max_batch_response_bytes
        self.filters = filters if filters is not None else FilterManager(EventHub())
        table = {**methods, **self.filters.methods()}
        self.apis = None if apis is None else frozenset(validate_apis(apis))
        if self.apis is not None:
            served = self.apis
            table = {name: handler for name, handler in table.items() if is_served(name, served)}
            if "rpc_modules" in table:
                table["rpc_modules"] = web3.rpc_modules_of(served)
        self._methods = table

    async def handle_body(
        self, body: bytes | str, connection: Connection | None = None, permits: Permits | None = None
    ) -> bytes | None:
        """Answer a raw request body; ``None`` when nothing is owed (only notifications)."""
        try:
            payload = loads_request(body)
        except orjson.JSONDecodeError:
            return parse_error_response()
        answer = await self.handle_payload(payload, connection, permits)
        return None if answer is None else orjson.dumps(answer)

    async def handle_payload(
        self, payload: Any, connection: Connection | None = None, permits: Permits | None = None
    ) -> Any:
        """Answer decoded JSON: a response object, a list of them, or ``None``. A batch is
        answered from one head, as one request is (RpcBackend.read_snapshot)."""
        with self._backend.read_snapshot():
            if isinstance(payload, list):
                return await self._handle_batch(payload, connection, permits)
            return await self.handle_message(payload, connection, permits)

    async def _handle_batch(
        self, batch: list[Any], connection: Connection | None, permits: Permits | None
    ) -> Any:
        if not batch:
            return error_response(None, {"code": INVALID_REQUEST, "message": "empty batch"})
        if len(batch) > self._max_batch_size:
            # geth: one error, carrying the id of the first call in the batch.
            first_id = next(
                (m.get("id") for m in batch if isinstance(m, dict) and "id" in m and _valid_id(m.get("id"))),
                None,
            )
            return [error_response(first_id, {"code": INVALID_REQUEST, "message": "batch too large"})]
        if self._max_batch_response_bytes:
            answers = await self._handle_capped_batch(batch, connection, permits)
        else:
            answers = await asyncio.gather(
                *(self.handle_message(message, connection, permits) for message in batch)
            )
        responses = [a for a in answers if a is not None]
        return responses or None

    async def _handle_capped_batch(
        self, batch: list[Any], connection: Connection | None, permits: Permits | None
    ) -> list[Any]:
        # geth rpc/handler.go handleBatch: once the answers so far pass the cap, every call still to
        # be answered gets -32003 "response too large". The calls of a batch run at once here, so
        # "so far" is in the order they finish. Each answer is encoded once, as it finishes (a
        # Fragment: the batch's encoding copies the bytes), and dropped if over the cap.
        cap = self._max_batch_response_bytes
        total = 0

        async def answer(message: Any) -> orjson.Fragment | None:
            nonlocal total
            response = await self.handle_message(message, connection, permits)
            if response is None:
                return None
            if total > cap:
                response = error_response(response["id"], response_too_large_error())
            encoded = orjson.dumps(response)
            total += len(encoded)
            return orjson.Fragment(encoded)

        return await asyncio.gather(*(answer(message) for message in batch))

    async def handle_message(
        self, message: Any, connection: Connection | None = None, permits: Permits | None = None
    ) -> dict[str, Any] | None:
        """Answer one request object; ``None`` for a valid notification (no ``id`` member)."""
        if not isinstance(message, dict):
            return error_response(None, {"code": INVALID_REQUEST, "message": "invalid request"})
        is_notification = "id" not in message
        request_id = message.get("id")
        if not _valid_id(request_id):
            return error_response(None, {"code": INVALID_REQUEST, "message": "invalid request"})
        method = message.get("method")
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str) or not method:
            return error_response(request_id, {"code": INVALID_REQUEST, "message": "invalid request"})
        params = message.get("params")
        if params is None:
            params = []
        started = time.perf_counter() if RPC_METER.enabled else 0.0
        try:
            if not isinstance(params, list):
                raise InvalidParams("non-array args")
            result = await self.call(method, params, connection, permits)
        except Exception as exc:
            if started:  # per method; a name this node does not serve counts as "unknown"
                known = method in self._methods or (connection is not None and method in connection)
                RPC_METER.observe(rpc_label(method, known), time.perf_counter() - started, True)
            if is_notification:
                return None
            error = error_object(exc)
            if error["code"] == INTERNAL_ERROR:
                log.exception("internal error in %s", method)
            return error_response(request_id, error)
        if started:
            RPC_METER.observe(method, time.perf_counter() - started, False)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    async def call(
        self,
        method: str,
        params: list[Any],
        connection: Connection | None = None,
        permits: Permits | None = None,
    ) -> Any:
        """Run one method by wire name; raises what the handler raises."""
        handler = connection.get(method) if connection is not None else None
        if handler is not None and self.apis is not None and not is_served(method, self.apis):
            handler = None
        if handler is None:
            handler = self._methods.get(method)
        if handler is None:
            # Over WebSocket, eth_subscribe is missing only because ETH is not served there.
            raise MethodNotFound(method, UNSUPPORTED.get(method) if connection is None else None)
        # After the lookup, as Besu (JsonRpcExecutor, then AuthenticatedJsonRpcProcessor): an
        # unknown method is -32601 whatever the token says.
        if permits is not None and not permits(method):
            raise Unauthorized
        return await handler(self._backend, params)
