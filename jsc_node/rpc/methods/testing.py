"""``testing_*`` methods: ``testing_buildBlockV1`` builds a block without committing it.

Params (execution-apis ``testing_buildBlockV1``): parent hash, Engine API ``PayloadAttributesV3``,
the raw transactions to include (``null``: take them from the pool), extraData. The answer is an
Engine API ``getPayloadV4``-shaped envelope; nothing in the chain or the pool changes.
"""

from __future__ import annotations

from typing import Any

from jsc_node.errors import InvalidParams
from jsc_node.rpc.encoding import (
    check_arity,
    decode_address,
    decode_data,
    decode_hash,
    decode_quantity,
    decode_uint64,
    optional,
    required,
)
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import (
    BuiltPayloadView,
    PayloadAttributes,
    WithdrawalView,
)

Params = list[Any]


def _decode_withdrawal(value: Any) -> WithdrawalView:
    if not isinstance(value, dict):
        raise InvalidParams("json: cannot unmarshal non-object into Go value of type types.Withdrawal")
    return WithdrawalView(
        index=decode_uint64(value.get("index")),
        validator_index=decode_uint64(value.get("validatorIndex")),
        address=decode_address(value.get("address")),
        amount=decode_quantity(value.get("amount"), 64),
    )


def decode_payload_attributes(value: Any) -> PayloadAttributes:
    if not isinstance(value, dict):
        raise InvalidParams(
            "json: cannot unmarshal non-object into Go value of type engine.PayloadAttributes"
        )
    withdrawals = value.get("withdrawals")
    if withdrawals is not None and not isinstance(withdrawals, list):
        raise InvalidParams("json: cannot unmarshal non-array into Go value of type []*types.Withdrawal")
    beacon_root = value.get("parentBeaconBlockRoot")
    return PayloadAttributes(
        timestamp=decode_uint64(value.get("timestamp")),
        prev_randao=decode_hash(value.get("prevRandao")),
        fee_recipient=decode_address(value.get("suggestedFeeRecipient")),
        withdrawals=None if withdrawals is None else tuple(_decode_withdrawal(w) for w in withdrawals),
        parent_beacon_block_root=None if beacon_root is None else decode_hash(beacon_root),
    )


def _decode_transactions(value: Any) -> list[bytes]:
    if not isinstance(value, list):
        raise InvalidParams("json: cannot unmarshal non-array into Go value of type []hexutil.Bytes")
    return [decode_data(raw) for raw in value]


def format_payload(built: BuiltPayloadView) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "parentHash": "0x" + built.parent_hash.hex(),
        "feeRecipient": "0x" + built.fee_recipient.hex(),
        "stateRoot": "0x" + built.state_root.hex(),
        "receiptsRoot": "0x" + built.receipts_root.hex(),
        "logsBloom": "0x" + built.logs_bloom.hex(),
        "prevRandao": "0x" + built.prev_randao.hex(),
        "blockNumber": hex(built.block_number),
        "gasLimit": hex(built.gas_limit),
        "gasUsed": hex(built.gas_used),
        "timestamp": hex(built.timestamp),
        "extraData": "0x" + built.extra_data.hex(),
        "baseFeePerGas": hex(built.base_fee_per_gas),
        "blockHash": "0x" + built.block_hash.hex(),
        "transactions": ["0x" + tx.hex() for tx in built.transactions],
    }
    if built.withdrawals is not None:
        payload["withdrawals"] = [
            {
                "index": hex(w.index),
                "validatorIndex": hex(w.validator_index),
                "address": "0x" + w.address.hex(),
                "amount": hex(w.amount),
            }
            for w in built.withdrawals
        ]
    if built.blob_gas_used is not None:
        payload["blobGasUsed"] = hex(built.blob_gas_used)
    if built.excess_blob_gas is not None:
        payload["excessBlobGas"] = hex(built.excess_blob_gas)
    out: dict[str, Any] = {
        "executionPayload": payload,
        "blockValue": hex(built.block_value),
        # The pool keeps no blob sidecars, so a built block carries no blobs.
        "blobsBundle": {"commitments": [], "proofs": [], "blobs": []},
    }
    if built.execution_requests is not None:
        out["executionRequests"] = ["0x" + r.hex() for r in built.execution_requests]
    out["shouldOverrideBuilder"] = False
    return out


async def build_block_v1(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 4)
    parent_hash = required(params, 0, decode_hash)
    attributes = required(params, 1, decode_payload_attributes)
    transactions = optional(params, 2, _decode_transactions, None)
    extra_data = optional(params, 3, decode_data, b"")
    built = await backend.build_payload(parent_hash, attributes, transactions, extra_data)
    return format_payload(built)
