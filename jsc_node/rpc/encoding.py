"""The hex rules of ethereum/execution-apis, both ways, and view -> JSON formatting as geth does it.

Decoding (wire -> Python) raises :class:`InvalidParams` with geth's words; ``rpc/codes.py``
turns that into ``-32602`` and prefixes ``invalid argument N:`` (as geth's reflection-based decoder
does). Encoding (Python -> wire) never fails on valid views.

QUANTITY: ``0x``-prefixed, lowercase on output, no leading zeros (``0x0`` for zero); on input
upper-case digits are accepted but ``0x``, ``0x01`` and anything non-hex are rejected.
DATA: ``0x``-prefixed, two hex digits per byte (``0x`` is empty data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from eth_hash.auto import keccak

from jsc_node.errors import ArgumentError, InvalidParams
from jsc_node.views import (
    AccessListEntry,
    AccountOverride,
    AuthorizationView,
    BlockId,
    BlockView,
    CallRequest,
    FeeHistoryView,
    LogView,
    ReceiptView,
    StateOverride,
    SyncStatus,
    TxView,
    WithdrawalView,
)

T = TypeVar("T")

UINT64_MAX: Final = 2**64 - 1
UINT256_MAX: Final = 2**256 - 1
INT64_MAX: Final = 2**63 - 1

_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


# --- decoding: scalars -------------------------------------------------------


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _need_str(value: Any, go_type: str) -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"json: cannot unmarshal {_json_kind(value)} into Go value of type {go_type}")
    return value


def _strip_prefix(text: str) -> str:
    if not (text.startswith("0x") or text.startswith("0X")):
        raise InvalidParams("hex string without 0x prefix")
    return text[2:]


def decode_quantity(value: Any, bits: int = 256) -> int:
    """A QUANTITY of at most ``bits`` bits."""
    digits = _strip_prefix(_need_str(value, "hexutil.Big" if bits > 64 else "hexutil.Uint64"))
    if not digits:
        raise InvalidParams('hex string "0x"')
    if not _HEX_DIGITS.fullmatch(digits):
        raise InvalidParams("invalid hex string")
    if len(digits) > 1 and digits[0] == "0":
        raise InvalidParams("hex number with leading zero digits")
    number = int(digits, 16)
    if number.bit_length() > bits:
        raise InvalidParams(f"hex number > {bits} bits")
    return number


def decode_uint64(value: Any) -> int:
    return decode_quantity(value, 64)


def decode_hex_or_decimal64(value: Any) -> int:
    """geth's ``math.HexOrDecimal64``: a JSON number, a decimal string, or a hex quantity string."""
    if isinstance(value, bool):
        raise InvalidParams("json: cannot unmarshal bool into Go value of type math.HexOrDecimal64")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        if value.startswith(("0x", "0X")):
            digits = value[2:]
            if not digits or not _HEX_DIGITS.fullmatch(digits):
                raise InvalidParams(f"invalid hex or decimal integer {value!r}")
            number = int(digits, 16)
        elif value.isdigit() and value.isascii():
            number = int(value)
        else:
            raise InvalidParams(f"invalid hex or decimal integer {value!r}")
    else:
        raise InvalidParams(
            f"json: cannot unmarshal {_json_kind(value)} into Go value of type math.HexOrDecimal64"
        )
    if not 0 <= number <= UINT64_MAX:
        raise InvalidParams(f"invalid hex or decimal integer {value!r}")
    return number


def decode_data(value: Any) -> bytes:
    """DATA of any length."""
    digits = _strip_prefix(_need_str(value, "hexutil.Bytes"))
    if len(digits) % 2:
        raise InvalidParams("hex string of odd length")
    if not _HEX_DIGITS.fullmatch(digits):
        raise InvalidParams("invalid hex string")
    return bytes.fromhex(digits)


def _decode_fixed(value: Any, size: int, go_type: str) -> bytes:
    digits = _strip_prefix(_need_str(value, go_type))
    if len(digits) != size * 2:
        raise InvalidParams(f"hex string has length {len(digits)}, want {size * 2} for {go_type}")
    if not _HEX_DIGITS.fullmatch(digits):
        raise InvalidParams("invalid hex string")
    return bytes.fromhex(digits)


def decode_address(value: Any) -> bytes:
    """A 20-byte address (any letter case; checksums are not enforced, as in geth)."""
    return _decode_fixed(value, 20, "common.Address")


def decode_hash(value: Any) -> bytes:
    """A 32-byte hash."""
    return _decode_fixed(value, 32, "common.Hash")


def decode_storage_key(value: Any) -> bytes:
    """A storage slot: up to 32 bytes of hex, odd length allowed, left-padded (geth ``decodeHash``)."""
    text = _need_str(value, "string")
    digits = text[2:] if text.startswith(("0x", "0X")) else text
    if len(digits) > 64:
        raise InvalidParams(f'storage key too long (want at most 32 bytes): "{text}"')
    if not _HEX_DIGITS.fullmatch(digits):
        raise InvalidParams(f'invalid hex in storage key: "{text}"')
    if len(digits) % 2:
        digits = "0" + digits
    return bytes.fromhex(digits).rjust(32, b"\x00")


def decode_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"json: cannot unmarshal {_json_kind(value)} into Go value of type bool")
    return value


_TAG_IDS: Final[dict[str, BlockId]] = {
    tag: BlockId(tag=tag) for tag in ("latest", "earliest", "pending", "safe", "finalized")
}


def _decode_block_number_text(text: str) -> BlockId:
    tagged = _TAG_IDS.get(text)
    if tagged is not None:
        return tagged
    number = decode_uint64(text)
    if number > INT64_MAX:
        raise InvalidParams("block number larger than int64")
    return BlockId(number=number)


def decode_block_number(value: Any) -> BlockId:
    """geth's ``BlockNumber``: a tag or a QUANTITY (no hashes)."""
    return _decode_block_number_text(_need_str(value, "rpc.BlockNumber"))


def decode_block_id(value: Any) -> BlockId:
    """geth's ``BlockNumberOrHash``: a tag, a QUANTITY, a bare 32-byte hash, or EIP-1898
    ``{"blockNumber": q}`` / ``{"blockHash": h, "requireCanonical": bool}``."""
    if isinstance(value, dict):
        has_number = value.get("blockNumber") is not None
        has_hash = value.get("blockHash") is not None
        if has_number and has_hash:
            raise InvalidParams("cannot specify both BlockHash and BlockNumber, choose one or the other")
        if has_hash:
            canonical = value.get("requireCanonical", False)
            if canonical is None:
                canonical = False
            return BlockId(hash=decode_hash(value["blockHash"]), require_canonical=decode_bool(canonical))
        if has_number:
            return decode_block_number(value["blockNumber"])
        raise InvalidParams("at least one of BlockHash and BlockNumber must be given")
    text = _need_str(value, "rpc.BlockNumberOrHash")
    if len(text) == 66:
        return BlockId(hash=decode_hash(text))
    return _decode_block_number_text(text)


# --- decoding: objects -------------------------------------------------------


def _need_dict(value: Any, go_type: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParams(f"json: cannot unmarshal {_json_kind(value)} into Go value of type {go_type}")
    return value


def _need_list(value: Any, go_type: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidParams(f"json: cannot unmarshal {_json_kind(value)} into Go value of type {go_type}")
    return value


def _opt(obj: Mapping[str, Any], key: str, decoder: Callable[[Any], T]) -> T | None:
    raw = obj.get(key)
    return None if raw is None else decoder(raw)


def decode_access_list(value: Any) -> tuple[AccessListEntry, ...]:
    entries = []
    for item in _need_list(value, "types.AccessList"):
        entry = _need_dict(item, "types.AccessTuple")
        keys = entry.get("storageKeys")
        entries.append(
            AccessListEntry(
                address=decode_address(entry.get("address")),
                storage_keys=tuple(
                    decode_hash(k) for k in _need_list(keys if keys is not None else [], "[]common.Hash")
                ),
            )
        )
    return tuple(entries)


def _decode_signature_scalar(value: Any) -> int:
    # r/s are often sent 32-byte padded; accept leading zeros here (they are numbers, not DATA).
    digits = _strip_prefix(_need_str(value, "uint256.Int"))
    if not digits or not _HEX_DIGITS.fullmatch(digits):
        raise InvalidParams("invalid hex string")
    number = int(digits, 16)
    if number > UINT256_MAX:
        raise InvalidParams("hex number > 256 bits")
    return number


def decode_authorization_list(value: Any) -> tuple[AuthorizationView, ...]:
    auths = []
    for item in _need_list(value, "[]types.SetCodeAuthorization"):
        auth = _need_dict(item, "types.SetCodeAuthorization")
        auths.append(
            AuthorizationView(
                chain_id=decode_quantity(auth.get("chainId")),
                address=decode_address(auth.get("address")),
                nonce=decode_uint64(auth.get("nonce")),
                y_parity=decode_uint64(auth.get("yParity")),
                r=_decode_signature_scalar(auth.get("r")),
                s=_decode_signature_scalar(auth.get("s")),
            )
        )
    return tuple(auths)


def decode_call_request(value: Any) -> CallRequest:
    """geth's ``TransactionArgs`` for calls. Unknown keys are ignored, as geth's JSON decoder does."""
    obj = _need_dict(value, "ethapi.TransactionArgs")
    data = _opt(obj, "data", decode_data)
    input_ = _opt(obj, "input", decode_data)
    if data is not None and input_ is not None and data != input_:
        raise InvalidParams(
            'both "data" and "input" are set and not equal. Please use "input" to pass transaction call data'
        )
    gas_price = _opt(obj, "gasPrice", decode_quantity)
    max_fee = _opt(obj, "maxFeePerGas", decode_quantity)
    max_tip = _opt(obj, "maxPriorityFeePerGas", decode_quantity)
    if gas_price is not None and (max_fee is not None or max_tip is not None):
        raise InvalidParams("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
    blob_hashes = obj.get("blobVersionedHashes")
    return CallRequest(
        sender=_opt(obj, "from", decode_address),
        to=_opt(obj, "to", decode_address),
        gas=_opt(obj, "gas", decode_uint64),
        gas_price=gas_price,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=max_tip,
        max_fee_per_blob_gas=_opt(obj, "maxFeePerBlobGas", decode_quantity),
        value=_opt(obj, "value", decode_quantity),
        input=input_ if input_ is not None else data,
        nonce=_opt(obj, "nonce", decode_uint64),
        chain_id=_opt(obj, "chainId", decode_quantity),
        type=_opt(obj, "type", decode_uint64),
        access_list=_opt(obj, "accessList", decode_access_list),
        blob_versioned_hashes=None
        if blob_hashes is None
        else tuple(decode_hash(h) for h in _need_list(blob_hashes, "[]common.Hash")),
        authorization_list=_opt(obj, "authorizationList", decode_authorization_list),
    )


def _decode_storage_map(value: Any) -> dict[bytes, bytes]:
    return {
        decode_hash(k): decode_hash(v) for k, v in _need_dict(value, "map[common.Hash]common.Hash").items()
    }


def decode_state_override(value: Any) -> StateOverride:
    """geth's ``StateOverride``: ``{address: {balance, nonce, code, state | stateDiff, movePrecompileToAddress}}``."""
    overrides: dict[bytes, AccountOverride] = {}
    for key, raw in _need_dict(value, "override.StateOverride").items():
        address = decode_address(key)
        obj = _need_dict(raw, "override.OverrideAccount")
        if obj.get("state") is not None and obj.get("stateDiff") is not None:
            raise InvalidParams(f"account {key} has both 'state' and 'stateDiff'")
        overrides[address] = AccountOverride(
            balance=_opt(obj, "balance", decode_quantity),
            nonce=_opt(obj, "nonce", decode_uint64),
            code=_opt(obj, "code", decode_data),
            state=_opt(obj, "state", _decode_storage_map),
            state_diff=_opt(obj, "stateDiff", _decode_storage_map),
            move_precompile_to=_opt(obj, "movePrecompileToAddress", decode_address),
        )
    return overrides


MAX_TOPICS: Final = 4
# geth filters/api.go: at most this many addresses, and alternatives per topic position.
MAX_FILTER_ALTERNATIVES: Final = 1000


def decode_topics(value: Any) -> tuple[tuple[bytes, ...] | None, ...]:
    """Filter topics: per position ``null`` / ``[]`` (any), a hash, or a list of hashes (any of);
    a ``null`` inside a list also makes that position match anything (geth)."""
    positions: list[tuple[bytes, ...] | None] = []
    raw_positions = _need_list(value, "[][]common.Hash")
    if len(raw_positions) > MAX_TOPICS:
        raise InvalidParams("exceed max topics")
    for raw in raw_positions:
        if raw is None:
            positions.append(None)
        elif isinstance(raw, str):
            positions.append((decode_hash(raw),))
        elif isinstance(raw, list):
            if len(raw) > MAX_FILTER_ALTERNATIVES:
                raise InvalidParams("exceed max addresses or topics per search position")
            if not raw or any(item is None for item in raw):
                positions.append(None)
            else:
                positions.append(tuple(decode_hash(item) for item in raw))
        else:
            raise InvalidParams("invalid topic(s)")
    return tuple(positions)


def decode_addresses(value: Any) -> tuple[bytes, ...]:
    """A filter ``address``: one address or a list of them."""
    if isinstance(value, str):
        return (decode_address(value),)
    if isinstance(value, list):
        if len(value) > MAX_FILTER_ALTERNATIVES:
            raise InvalidParams("exceed max addresses or topics per search position")
        return tuple(decode_address(item) for item in value)
    raise InvalidParams("invalid addresses in query")


# --- parameter access ----------------------------------------------------------


def check_arity(params: Sequence[Any], at_most: int) -> None:
    if len(params) > at_most:
        raise InvalidParams(f"too many arguments, want at most {at_most}")


def required(params: Sequence[Any], index: int, decoder: Callable[[Any], T]) -> T:
    """Decode argument ``index``; missing or ``null`` is an error."""
    if index >= len(params) or params[index] is None:
        raise InvalidParams(f"missing value for required argument {index}")
    try:
        return decoder(params[index])
    except ArgumentError:
        raise
    except InvalidParams as exc:
        raise ArgumentError(index, str(exc)) from exc


def optional(params: Sequence[Any], index: int, decoder: Callable[[Any], T], default: T) -> T:
    """Decode argument ``index``; missing or ``null`` gives ``default``."""
    if index >= len(params) or params[index] is None:
        return default
    try:
        return decoder(params[index])
    except ArgumentError:
        raise
    except InvalidParams as exc:
        raise ArgumentError(index, str(exc)) from exc


# --- encoding ----------------------------------------------------------------


def quantity(number: int) -> str:
    """QUANTITY: ``0x0``, ``0x1f``; never leading zeros."""
    if number < 0:
        raise ValueError(f"QUANTITY cannot be negative: {number}")
    return hex(number)


def data(raw: bytes) -> str:
    """DATA: ``0x`` + two lowercase hex digits per byte."""
    return "0x" + raw.hex()


def checksum_address(address: bytes) -> str:
    """EIP-55 mixed-case form (geth's ``common.Address.Hex()``, used as txpool map keys)."""
    lower = address.hex()
    digest = keccak(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower)
    )


def _optional_data(raw: bytes | None) -> str | None:
    return None if raw is None else "0x" + raw.hex()


def _optional_quantity(number: int | None) -> str | None:
    return None if number is None else hex(number)


def format_access_list(entries: Sequence[AccessListEntry]) -> list[dict[str, Any]]:
    return [
        {"address": "0x" + e.address.hex(), "storageKeys": ["0x" + k.hex() for k in e.storage_keys]}
        for e in entries
    ]


def format_authorization(auth: AuthorizationView) -> dict[str, Any]:
    return {
        "chainId": hex(auth.chain_id),
        "address": "0x" + auth.address.hex(),
        "nonce": hex(auth.nonce),
        "yParity": hex(auth.y_parity),
        "r": hex(auth.r),
        "s": hex(auth.s),
    }


def format_tx(tx: TxView) -> dict[str, Any]:
    """geth's ``RPCTransaction``: struct field order, field set chosen by ``tx.type``."""
    out: dict[str, Any] = {
        "blockHash": _optional_data(tx.block_hash),
        "blockNumber": _optional_quantity(tx.block_number),
        "blockTimestamp": _optional_quantity(tx.block_timestamp),
        "from": "0x" + tx.sender.hex(),
        "gas": hex(tx.gas),
        "gasPrice": hex(tx.gas_price),
    }
    kind = tx.type
    if kind >= 2:
        out["maxFeePerGas"] = _optional_quantity(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = _optional_quantity(tx.max_priority_fee_per_gas)
    if kind == 3:
        out["maxFeePerBlobGas"] = _optional_quantity(tx.max_fee_per_blob_gas)
    out["hash"] = "0x" + tx.hash.hex()
    out["input"] = "0x" + tx.input.hex()
    out["nonce"] = hex(tx.nonce)
    out["to"] = _optional_data(tx.to)
    out["transactionIndex"] = _optional_quantity(tx.transaction_index)
    out["value"] = hex(tx.value)
    out["type"] = hex(kind)
    if kind >= 1:
        out["accessList"] = format_access_list(tx.access_list or ())
    if tx.chain_id is not None:
        out["chainId"] = hex(tx.chain_id)
    if kind == 3:
        out["blobVersionedHashes"] = ["0x" + h.hex() for h in tx.blob_versioned_hashes or ()]
    if kind == 4:
        out["authorizationList"] = [format_authorization(a) for a in tx.authorization_list or ()]
    out["v"] = hex(tx.v)
    out["r"] = hex(tx.r)
    out["s"] = hex(tx.s)
    if kind >= 1:
        out["yParity"] = hex(tx.v)
    return out


def format_log(log: LogView) -> dict[str, Any]:
    """geth's ``types.Log`` JSON, in its field order."""
    return {
        "address": "0x" + log.address.hex(),
        "topics": ["0x" + t.hex() for t in log.topics],
        "data": "0x" + log.data.hex(),
        "blockNumber": hex(log.block_number),
        "transactionHash": "0x" + log.transaction_hash.hex(),
        "transactionIndex": hex(log.transaction_index),
        "blockHash": "0x" + log.block_hash.hex(),
        "blockTimestamp": hex(log.block_timestamp),
        "logIndex": hex(log.log_index),
        "removed": log.removed,
    }


def format_receipt(receipt: ReceiptView) -> dict[str, Any]:
    """geth's ``MarshalReceipt`` (a map, so keys come out sorted)."""
    out: dict[str, Any] = {}
    if receipt.type == 3 or receipt.blob_gas_used is not None:
        out["blobGasPrice"] = hex(receipt.blob_gas_price or 0)
        out["blobGasUsed"] = hex(receipt.blob_gas_used or 0)
    out["blockHash"] = "0x" + receipt.block_hash.hex()
    out["blockNumber"] = hex(receipt.block_number)
    out["contractAddress"] = _optional_data(receipt.contract_address)
    out["cumulativeGasUsed"] = hex(receipt.cumulative_gas_used)
    out["effectiveGasPrice"] = hex(receipt.effective_gas_price)
    out["from"] = "0x" + receipt.sender.hex()
    out["gasUsed"] = hex(receipt.gas_used)
    out["logs"] = [format_log(log) for log in receipt.logs]
    out["logsBloom"] = "0x" + receipt.logs_bloom.hex()
    if receipt.root is not None:
        out["root"] = "0x" + receipt.root.hex()
    else:
        out["status"] = hex(receipt.status or 0)
    out["to"] = _optional_data(receipt.to)
    out["transactionHash"] = "0x" + receipt.transaction_hash.hex()
    out["transactionIndex"] = hex(receipt.transaction_index)
    out["type"] = hex(receipt.type)
    return out


def format_withdrawal(w: WithdrawalView) -> dict[str, Any]:
    return {
        "index": hex(w.index),
        "validatorIndex": hex(w.validator_index),
        "address": "0x" + w.address.hex(),
        "amount": hex(w.amount),
    }


def format_block(block: BlockView) -> dict[str, Any]:
    """geth's ``RPCMarshalBlock`` (a map, so keys come out sorted); fork fields only when set."""
    out: dict[str, Any] = {}
    if block.base_fee_per_gas is not None:
        out["baseFeePerGas"] = hex(block.base_fee_per_gas)
    if block.blob_gas_used is not None:
        out["blobGasUsed"] = hex(block.blob_gas_used)
    out["difficulty"] = hex(block.difficulty)
    if block.excess_blob_gas is not None:
        out["excessBlobGas"] = hex(block.excess_blob_gas)
    out["extraData"] = "0x" + block.extra_data.hex()
    out["gasLimit"] = hex(block.gas_limit)
    out["gasUsed"] = hex(block.gas_used)
    # geth nulls these for its pending block (internal/ethapi GetBlockByNumber, GetHeaderByNumber).
    out["hash"] = None if block.pending else "0x" + block.hash.hex()
    out["logsBloom"] = "0x" + block.logs_bloom.hex()
    out["miner"] = None if block.pending else "0x" + block.miner.hex()
    out["mixHash"] = "0x" + block.mix_hash.hex()
    out["nonce"] = None if block.pending else "0x" + block.nonce.hex()
    out["number"] = hex(block.number)
    if block.parent_beacon_block_root is not None:
        out["parentBeaconBlockRoot"] = "0x" + block.parent_beacon_block_root.hex()
    out["parentHash"] = "0x" + block.parent_hash.hex()
    out["receiptsRoot"] = "0x" + block.receipts_root.hex()
    if block.requests_hash is not None:
        out["requestsHash"] = "0x" + block.requests_hash.hex()
    out["sha3Uncles"] = "0x" + block.sha3_uncles.hex()
    out["size"] = hex(block.size)
    out["stateRoot"] = "0x" + block.state_root.hex()
    out["timestamp"] = hex(block.timestamp)
    if block.total_difficulty is not None:
        out["totalDifficulty"] = hex(block.total_difficulty)
    out["transactions"] = [
        format_tx(tx) if isinstance(tx, TxView) else "0x" + tx.hex() for tx in block.transactions
    ]
    out["transactionsRoot"] = "0x" + block.transactions_root.hex()
    out["uncles"] = ["0x" + u.hex() for u in block.uncles]
    if block.withdrawals is not None:
        out["withdrawals"] = [format_withdrawal(w) for w in block.withdrawals]
    if block.withdrawals_root is not None:
        out["withdrawalsRoot"] = "0x" + block.withdrawals_root.hex()
    return out


_BODY_KEYS: Final = ("size", "totalDifficulty", "transactions", "uncles", "withdrawals")


def format_header(block: BlockView) -> dict[str, Any]:
    """geth's ``RPCMarshalHeader``: the block's fields without size and body lists."""
    out = format_block(block)
    for key in _BODY_KEYS:
        out.pop(key, None)
    return out


def _go_float(value: float) -> float | int:
    # Go's encoding/json writes 0.0 as 0 and 1.0 as 1; keep whole ratios integral to match.
    return int(value) if value == int(value) else value


def format_fee_history(history: FeeHistoryView) -> dict[str, Any]:
    """geth's ``feeHistoryResult``: ``reward`` and the blob lists are left out when absent/empty."""
    out: dict[str, Any] = {"oldestBlock": hex(history.oldest_block)}
    if history.reward is not None:
        out["reward"] = [[hex(r) for r in block] for block in history.reward]
    if history.base_fee_per_gas:
        out["baseFeePerGas"] = [hex(f) for f in history.base_fee_per_gas]
    out["gasUsedRatio"] = [_go_float(r) for r in history.gas_used_ratio]
    if history.base_fee_per_blob_gas:
        out["baseFeePerBlobGas"] = [hex(f) for f in history.base_fee_per_blob_gas]
    if history.blob_gas_used_ratio:
        out["blobGasUsedRatio"] = [_go_float(r) for r in history.blob_gas_used_ratio]
    return out


def format_sync_status(status: SyncStatus) -> dict[str, Any]:
    return {
        "startingBlock": hex(status.starting_block),
        "currentBlock": hex(status.current_block),
        "highestBlock": hex(status.highest_block),
    }
