"""``eth_*`` methods: decode params, ask the backend, format the answer like geth.

Each handler is ``async (backend, params) -> JSON-able``. Errors are raised, never coded here:
``rpc/codes.py`` assigns the codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from jsc_node.errors import (
    BlockNotFound,
    InvalidParams,
)
from jsc_node.rpc.encoding import (
    UINT64_MAX,
    check_arity,
    decode_address,
    decode_addresses,
    decode_block_id,
    decode_block_number,
    decode_bool,
    decode_call_request,
    decode_data,
    decode_hash,
    decode_hex_or_decimal64,
    decode_state_override,
    decode_storage_key,
    decode_topics,
    decode_uint64,
    format_access_list,
    format_authorization,
    format_block,
    format_fee_history,
    format_header,
    format_log,
    format_receipt,
    format_sync_status,
    format_tx,
    optional,
    quantity,
    required,
)
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import (
    AccountProofView,
    BlockId,
    ForkConfigView,
    LogFilter,
    TxView,
)

Params = list[Any]

LATEST: Final = BlockId(tag="latest")
ACCESS_LIST_TX_TYPE: Final = 1  # EIP-2930: the last type with a plain gasPrice

# geth: eth_feeHistory serves at most this many blocks (silently truncated) and percentiles.
MAX_FEE_HISTORY_BLOCKS: Final = 1024
MAX_REWARD_PERCENTILES: Final = 100


# --- chain facts ---------------------------------------------------------------


async def chain_id(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 0)
    return quantity(await backend.chain_id())


async def block_number(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 0)
    return quantity(await backend.head_number())


async def syncing(backend: RpcBackend, params: Params) -> Any:
    check_arity(params, 0)
    status = await backend.syncing()
    return False if status is None else format_sync_status(status)


async def accounts(backend: RpcBackend, params: Params) -> list[str]:
    # The node holds no user keys: wallets sign and use eth_sendRawTransaction.
    check_arity(params, 0)
    return []


async def mining(backend: RpcBackend, params: Params) -> bool:
    check_arity(params, 0)
    return False


async def hashrate(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 0)
    return "0x0"


# --- state -----------------------------------------------------------------------


async def get_balance(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 2)
    address = required(params, 0, decode_address)
    block = optional(params, 1, decode_block_id, LATEST)
    return quantity(await backend.balance(address, block))


async def get_transaction_count(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 2)
    address = required(params, 0, decode_address)
    block = optional(params, 1, decode_block_id, LATEST)
    return quantity(await backend.nonce(address, block))


async def get_code(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 2)
    address = required(params, 0, decode_address)
    block = optional(params, 1, decode_block_id, LATEST)
    return "0x" + (await backend.code(address, block)).hex()


async def get_storage_at(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 3)
    address = required(params, 0, decode_address)
    slot = required(params, 1, decode_storage_key)
    block = optional(params, 2, decode_block_id, LATEST)
    value = await backend.storage_at(address, slot, block)
    return "0x" + value.rjust(32, b"\x00").hex()


# --- execution -------------------------------------------------------------------


def _reject_block_overrides(params: Params, index: int) -> None:
    if len(params) > index and params[index] is not None:
        raise InvalidParams(f"invalid argument {index}: block overrides are not supported by this node")


async def call(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 4)
    request = required(params, 0, decode_call_request)
    block = optional(params, 1, decode_block_id, LATEST)
    overrides = optional(params, 2, decode_state_override, None)
    _reject_block_overrides(params, 3)
    return "0x" + (await backend.call(request, block, overrides)).hex()


async def estimate_gas(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 4)
    request = required(params, 0, decode_call_request)
    block = optional(params, 1, decode_block_id, LATEST)
    overrides = optional(params, 2, decode_state_override, None)
    _reject_block_overrides(params, 3)
    return quantity(await backend.estimate_gas(request, block, overrides))


async def fill_transaction(backend: RpcBackend, params: Params) -> dict[str, Any]:
    """geth ``FillTransaction``: ``{"raw": the unsigned transaction's encoding, "tx": its JSON}``.
    viem's prepareTransactionRequest asks for it first on every send and reads ``tx``'s fee, gas,
    nonce, chain id and type fields, so ``tx`` is geth's ``types.Transaction`` JSON."""
    check_arity(params, 1)
    if isinstance(params[0], dict) and params[0].get("blobs") is not None:
        # geth builds the sidecar (commitments, proofs) from "blobs"; this node takes blob
        # transactions signed with their sidecar (eth_sendRawTransaction) only.
        raise InvalidParams('"blobs" is not supported for this RPC method')
    request = required(params, 0, decode_call_request)
    raw, tx = await backend.fill_transaction(request)
    return {"raw": "0x" + raw.hex(), "tx": format_transaction_json(tx)}


def format_transaction_json(tx: TxView) -> dict[str, Any]:
    """geth's ``types.Transaction`` JSON (core/types/transaction_marshalling.go ``txJSON``), in
    its field order: no sender and no block fields; the fee fields a type does not have are null;
    ``chainId`` only when the transaction carries one (a legacy one only under EIP-155)."""
    out: dict[str, Any] = {"type": hex(tx.type)}
    if tx.chain_id is not None:
        out["chainId"] = hex(tx.chain_id)
    out["nonce"] = hex(tx.nonce)
    out["to"] = None if tx.to is None else "0x" + tx.to.hex()
    out["gas"] = hex(tx.gas)
    out["gasPrice"] = hex(tx.gas_price) if tx.type <= ACCESS_LIST_TX_TYPE else None
    out["maxPriorityFeePerGas"] = _optional_hex(tx.max_priority_fee_per_gas)
    out["maxFeePerGas"] = _optional_hex(tx.max_fee_per_gas)
    if tx.max_fee_per_blob_gas is not None:
        out["maxFeePerBlobGas"] = hex(tx.max_fee_per_blob_gas)
    out["value"] = hex(tx.value)
    out["input"] = "0x" + tx.input.hex()
    if tx.access_list is not None:
        out["accessList"] = format_access_list(tx.access_list)
    if tx.blob_versioned_hashes:
        out["blobVersionedHashes"] = ["0x" + h.hex() for h in tx.blob_versioned_hashes]
    if tx.authorization_list:
        out["authorizationList"] = [format_authorization(a) for a in tx.authorization_list]
    out["v"] = hex(tx.v)
    out["r"] = hex(tx.r)
    out["s"] = hex(tx.s)
    if tx.type >= ACCESS_LIST_TX_TYPE:
        out["yParity"] = hex(tx.v)
    out["hash"] = "0x" + tx.hash.hex()
    return out


def _optional_hex(number: int | None) -> str | None:
    return None if number is None else hex(number)


async def send_raw_transaction(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 1)
    raw = required(params, 0, decode_data)
    return "0x" + (await backend.send_raw_transaction(raw)).hex()


# --- fees ------------------------------------------------------------------------


async def gas_price(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 0)
    return quantity(await backend.gas_price())


async def max_priority_fee_per_gas(backend: RpcBackend, params: Params) -> str:
    check_arity(params, 0)
    return quantity(await backend.max_priority_fee())


def _decode_percentiles(value: Any) -> list[float]:
    if not isinstance(value, list):
        raise InvalidParams("json: cannot unmarshal non-array into Go value of type []float64")
    if len(value) > MAX_REWARD_PERCENTILES:
        raise InvalidParams(f"rewardPercentiles over the query limit {MAX_REWARD_PERCENTILES}")
    percentiles: list[float] = []
    for i, p in enumerate(value):
        if isinstance(p, bool) or not isinstance(p, int | float):
            raise InvalidParams("json: cannot unmarshal non-number into Go value of type float64")
        if not 0 <= p <= 100:
            raise InvalidParams(f"invalid reward percentile: {float(p):f}")
        if i > 0 and p <= percentiles[-1]:
            raise InvalidParams(
                f"invalid reward percentile: #{i - 1}:{percentiles[-1]:f} >= #{i}:{float(p):f}"
            )
        percentiles.append(float(p))
    return percentiles


async def fee_history(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 3)
    count = required(params, 0, decode_hex_or_decimal64)
    newest_id = required(params, 1, decode_block_number)
    percentiles: list[float] = optional(params, 2, _decode_percentiles, [])
    if count == 0:
        return {"oldestBlock": "0x0", "gasUsedRatio": None}
    newest = await backend.resolve_block(newest_id)
    if newest is None:
        head = await backend.head_number()
        raise BlockNotFound(f"request beyond head block: requested {newest_id.number}, head {head}")
    count = min(count, MAX_FEE_HISTORY_BLOCKS, newest + 1)
    return format_fee_history(await backend.fee_history(count, newest, percentiles))


async def base_fee(backend: RpcBackend, params: Params) -> str | None:
    """The base fee of the next block (wei); ``null`` before London."""
    check_arity(params, 0)
    head = await backend.head_number()
    history = await backend.fee_history(1, head, [])
    return quantity(history.base_fee_per_gas[-1]) if history.base_fee_per_gas else None


async def blob_base_fee(backend: RpcBackend, params: Params) -> str:
    """The blob base fee of the next block (wei)."""
    check_arity(params, 0)
    head = await backend.head_number()
    history = await backend.fee_history(1, head, [])
    fees = history.base_fee_per_blob_gas
    return quantity(fees[-1] if fees else 0)


# --- blocks and transactions -------------------------------------------------------


async def get_block_by_number(backend: RpcBackend, params: Params) -> dict[str, Any] | None:
    check_arity(params, 2)
    block_id = required(params, 0, decode_block_number)
    full = required(params, 1, decode_bool)
    number = await backend.resolve_block(block_id)
    if number is None:
        return None
    block = await backend.block_by_number(number, full)
    return None if block is None else format_block(block)


async def get_block_by_hash(backend: RpcBackend, params: Params) -> dict[str, Any] | None:
    check_arity(params, 2)
    block_hash = required(params, 0, decode_hash)
    full = required(params, 1, decode_bool)
    block = await backend.block_by_hash(block_hash, full)
    return None if block is None else format_block(block)


async def get_header_by_number(backend: RpcBackend, params: Params) -> dict[str, Any] | None:
    check_arity(params, 1)
    number = await backend.resolve_block(required(params, 0, decode_block_number))
    if number is None:
        return None
    block = await backend.block_by_number(number, False)
    return None if block is None else format_header(block)


async def get_header_by_hash(backend: RpcBackend, params: Params) -> dict[str, Any] | None:
    check_arity(params, 1)
    block = await backend.block_by_hash(required(params, 0, decode_hash), False)
    return None if block is None else format_header(block)


async def get_block_receipts(backend: RpcBackend, params: Params) -> list[dict[str, Any]] | None:
    check_arity(params, 1)
    block_id = required(params, 0, decode_block_id)
    number = await backend.resolve_block(block_id)
    if number is None:
        return None
    receipts = await backend.block_receipts(number)
    return None if receipts is None else [format_receipt(r) for r in receipts]


async def _transaction_count(backend: RpcBackend, block_id: BlockId) -> str | None:
    number = await backend.resolve_block(block_id)
    if number is None:
        return None
    count = await backend.block_transaction_count(number)
    return None if count is None else quantity(count)


async def get_block_transaction_count_by_number(backend: RpcBackend, params: Params) -> str | None:
    check_arity(params, 1)
    return await _transaction_count(backend, required(params, 0, decode_block_number))


async def get_block_transaction_count_by_hash(backend: RpcBackend, params: Params) -> str | None:
    check_arity(params, 1)
    return await _transaction_count(backend, BlockId(hash=required(params, 0, decode_hash)))


async def _uncle_count(backend: RpcBackend, block_id: BlockId) -> str | None:
    number = await backend.resolve_block(block_id)
    if number is None:
        return None
    block = await backend.block_by_number(number, False)
    return None if block is None else quantity(len(block.uncles))


async def get_uncle_count_by_block_number(backend: RpcBackend, params: Params) -> str | None:
    check_arity(params, 1)
    return await _uncle_count(backend, required(params, 0, decode_block_number))


async def get_uncle_count_by_block_hash(backend: RpcBackend, params: Params) -> str | None:
    check_arity(params, 1)
    return await _uncle_count(backend, BlockId(hash=required(params, 0, decode_hash)))


async def get_transaction_by_hash(backend: RpcBackend, params: Params) -> dict[str, Any] | None:
    check_arity(params, 1)
    tx = await backend.transaction_by_hash(required(params, 0, decode_hash))
    return None if tx is None else format_tx(tx)


async def get_transaction_receipt(backend: RpcBackend, params: Params) -> dict[str, Any] | None:
    check_arity(params, 1)
    receipt = await backend.receipt(required(params, 0, decode_hash))
    return None if receipt is None else format_receipt(receipt)


async def _transaction_at(backend: RpcBackend, block_id: BlockId, index: int) -> dict[str, Any] | None:
    number = await backend.resolve_block(block_id)
    if number is None:
        return None
    tx = await backend.transaction_by_block_and_index(number, index)
    return None if tx is None else format_tx(tx)


async def get_transaction_by_block_number_and_index(
    backend: RpcBackend, params: Params
) -> dict[str, Any] | None:
    check_arity(params, 2)
    block_id = required(params, 0, decode_block_number)
    index = required(params, 1, decode_uint64)
    return await _transaction_at(backend, block_id, index)


async def get_transaction_by_block_hash_and_index(
    backend: RpcBackend, params: Params
) -> dict[str, Any] | None:
    check_arity(params, 2)
    block_hash = required(params, 0, decode_hash)
    index = required(params, 1, decode_uint64)
    return await _transaction_at(backend, BlockId(hash=block_hash), index)


# --- logs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterCriteria:
    """geth's ``FilterCriteria`` (``eth_getLogs``, ``eth_newFilter``, ``eth_subscribe("logs")``)."""

    block_hash: bytes | None
    from_block: BlockId | None
    to_block: BlockId | None
    addresses: tuple[bytes, ...]
    topics: tuple[tuple[bytes, ...] | None, ...]


def decode_filter_criteria(value: Any) -> FilterCriteria:
    if not isinstance(value, dict):
        raise InvalidParams("json: cannot unmarshal non-object into Go value of type filters.FilterCriteria")
    block_hash = value.get("blockHash")
    from_raw, to_raw = value.get("fromBlock"), value.get("toBlock")
    if block_hash is not None and (from_raw is not None or to_raw is not None):
        raise InvalidParams("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
    address = value.get("address")
    topics = value.get("topics")
    return FilterCriteria(
        block_hash=None if block_hash is None else decode_hash(block_hash),
        from_block=None if from_raw is None else decode_block_number(from_raw),
        to_block=None if to_raw is None else decode_block_number(to_raw),
        addresses=() if address is None else decode_addresses(address),
        topics=() if topics is None else decode_topics(topics),
    )


def _number_in_range(block_id: BlockId | None, head: int) -> int:
    # Unlike resolve_block, a number beyond head is kept: the range check below reports it.
    if block_id is None or block_id.tag in ("latest", "pending", "safe", "finalized"):
        return head
    if block_id.tag == "earliest":
        return 0
    assert block_id.number is not None
    return block_id.number


async def get_logs(backend: RpcBackend, params: Params) -> list[dict[str, Any]]:
    check_arity(params, 1)
    return await logs_matching(backend, required(params, 0, decode_filter_criteria))


async def logs_matching(backend: RpcBackend, args: FilterCriteria) -> list[dict[str, Any]]:
    """``eth_getLogs`` for decoded criteria (also ``eth_getFilterLogs``)."""
    if args.block_hash is not None:
        number = await backend.resolve_block(BlockId(hash=args.block_hash))
        if number is None:
            raise BlockNotFound("unknown block")
        first = last = number
    else:
        head = await backend.head_number()
        first = _number_in_range(args.from_block, head)
        last = _number_in_range(args.to_block, head)
        if first > last:
            raise InvalidParams("invalid block range params")
        if last > head:
            raise InvalidParams("block range extends beyond current head block")
    query = LogFilter(from_block=first, to_block=last, addresses=args.addresses, topics=args.topics)
    return [format_log(log) for log in await backend.get_logs(query)]


# --- proofs, storage, access lists, fork config ---------------------------------------

# geth: eth_getStorageValues reads at most this many slots in one request.
MAX_STORAGE_VALUES_SLOTS: Final = 1024


def _decode_proof_keys(value: Any) -> list[tuple[bytes, int]]:
    """Storage keys of ``eth_getProof`` with the byte length each was given in (geth ``decodeHash``)."""
    if not isinstance(value, list):
        raise InvalidParams("json: cannot unmarshal non-array into Go value of type []string")
    keys = []
    for raw in value:
        slot = decode_storage_key(raw)
        digits = raw[2:] if raw.startswith(("0x", "0X")) else raw
        keys.append((slot, (len(digits) + 1) // 2))
    return keys


def format_account_proof(proof: AccountProofView, key_lengths: list[int]) -> dict[str, Any]:
    """EIP-1186 result. A key given as 32 bytes comes back as given; any other as a QUANTITY
    (geth keeps both forms for compatibility with older clients)."""
    storage = []
    for item, length in zip(proof.storage_proof, key_lengths, strict=True):
        key = "0x" + item.key.hex() if length == 32 else quantity(int.from_bytes(item.key, "big"))
        storage.append(
            {"key": key, "value": quantity(item.value), "proof": ["0x" + n.hex() for n in item.proof]}
        )
    return {
        "address": "0x" + proof.address.hex(),
        "accountProof": ["0x" + n.hex() for n in proof.account_proof],
        "balance": quantity(proof.balance),
        "codeHash": "0x" + proof.code_hash.hex(),
        "nonce": quantity(proof.nonce),
        "storageHash": "0x" + proof.storage_hash.hex(),
        "storageProof": storage,
    }


async def get_proof(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 3)
    address = required(params, 0, decode_address)
    keys = required(params, 1, _decode_proof_keys)
    block = optional(params, 2, decode_block_id, LATEST)
    proof = await backend.account_proof(address, [slot for slot, _ in keys], block)
    return format_account_proof(proof, [length for _, length in keys])


def _decode_storage_request(value: Any) -> dict[bytes, list[bytes]]:
    if not isinstance(value, dict):
        raise InvalidParams(
            "json: cannot unmarshal non-object into Go value of type map[common.Address][]common.Hash"
        )
    request: dict[bytes, list[bytes]] = {}
    for key, slots in value.items():
        if not isinstance(slots, list):
            raise InvalidParams("json: cannot unmarshal non-array into Go value of type []common.Hash")
        request[decode_address(key)] = [decode_hash(slot) for slot in slots]
    return request


async def get_storage_values(backend: RpcBackend, params: Params) -> dict[str, list[str]]:
    check_arity(params, 2)
    request = required(params, 0, _decode_storage_request)
    block = optional(params, 1, decode_block_id, LATEST)
    total = sum(len(slots) for slots in request.values())
    if total == 0:
        raise InvalidParams("empty request")
    if total > MAX_STORAGE_VALUES_SLOTS:
        raise InvalidParams(f"too many slots (max {MAX_STORAGE_VALUES_SLOTS})")
    result: dict[str, list[str]] = {}
    for address, slots in request.items():
        values = [await backend.storage_at(address, slot, block) for slot in slots]
        result["0x" + address.hex()] = ["0x" + v.rjust(32, b"\x00").hex() for v in values]
    return result


async def create_access_list(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 3)
    request = required(params, 0, decode_call_request)
    block = optional(params, 1, decode_block_id, LATEST)
    overrides = optional(params, 2, decode_state_override, None)
    result = await backend.create_access_list(request, block, overrides)
    out: dict[str, Any] = {"accessList": format_access_list(result.access_list)}
    if result.error:
        out["error"] = result.error
    out["gasUsed"] = quantity(result.gas_used)
    return out


def _format_fork(fork: ForkConfigView | None) -> dict[str, Any] | None:
    """EIP-7910: one fork's ``activationTime`` (a JSON number), blob schedule, ids and addresses."""
    if fork is None:
        return None
    schedule = fork.blob_schedule
    return {
        "activationTime": fork.activation_time,
        "blobSchedule": None
        if schedule is None
        else {
            "target": schedule.target,
            "max": schedule.max,
            "baseFeeUpdateFraction": schedule.base_fee_update_fraction,
        },
        "chainId": quantity(fork.chain_id),
        "forkId": "0x" + fork.fork_id.hex(),
        "precompiles": {name: "0x" + a.hex() for name, a in sorted(fork.precompiles.items())},
        "systemContracts": {name: "0x" + a.hex() for name, a in sorted(fork.system_contracts.items())},
    }


async def config(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 0)
    forks = await backend.fork_config()
    return {
        "current": _format_fork(forks.current),
        "next": _format_fork(forks.next),
        "last": _format_fork(forks.last),
    }


async def capabilities(backend: RpcBackend, params: Params) -> dict[str, Any]:
    """What this node serves, from which block: an archive node that keeps everything from genesis."""
    check_arity(params, 0)
    head = await backend.head_number()
    block = await backend.block_by_number(head, False)
    kept = {"disabled": False, "oldestBlock": "0x0"}
    return {
        "head": {"number": quantity(head), "hash": None if block is None else "0x" + block.hash.hex()},
        "state": dict(kept),
        "tx": dict(kept),
        # Logs are never pruned: a retention window as wide as a block number can be.
        "logs": {**kept, "deleteStrategy": {"type": "window", "retentionBlocks": quantity(UINT64_MAX)}},
        "receipts": dict(kept),
        "blocks": dict(kept),
        "stateproofs": dict(kept),
    }
