"""A JSON-RPC transaction request (``CallRequest``, geth's ``TransactionArgs``) as a py-evm
transaction: the one conversion behind eth_call, eth_estimateGas, eth_createAccessList,
eth_simulateV1 and eth_fillTransaction.

geth (internal/ethapi/transaction_args.go) turns the arguments into a ``core.Message`` to execute
(``ToMessage``) and into a ``types.Transaction`` where a transaction is shown or returned
(``ToTransaction``: eth_simulateV1's blocks, eth_fillTransaction). py-evm executes transactions, not
messages, so the type chosen here is ``ToTransaction``'s that keeps every field ``ToMessage`` keeps:

- an authorization list: type 4 (EIP-7702). py-evm applies the authorizations before execution,
  as geth's state transition does; one with a wrong chain id, a wrong nonce or a signature that
  does not recover is skipped, as in a block. It costs PER_EMPTY_ACCOUNT_GAS of intrinsic gas
  whether it applies or not (core.IntrinsicGas).
- blob versioned hashes: type 3 (EIP-4844).
- a block with a base fee and no ``gasPrice``: type 2; ``CallDefaults`` fills zero EIP-1559 fees
  and ``ToTransaction(DynamicFeeTxType)`` makes a dynamic-fee transaction of them.
- an access list: type 1 (EIP-2930), from Berlin on.
- otherwise legacy.

geth's ``ToTransaction`` turns any request with ``gasPrice`` into a legacy transaction, dropping an
access list, authorizations or blob hashes that its message still executes; here such a request
keeps its type, with fee cap = tip = ``gasPrice`` (the price ``ToMessage`` gives it), so what runs is
what geth runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import rlp
from coincurve import PublicKey
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.base import VM
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak

from jsc_node.errors import InvalidTransaction
from jsc_node.state.evm import rules
from jsc_node.state.evm.forks import Fork, fork_of_vm
from jsc_node.views import AuthorizationView, CallRequest

AUTHORIZATION_MAGIC: Final = b"\x05"
"""EIP-7702: an authority signs keccak(MAGIC || rlp([chain_id, address, nonce]))."""


@dataclass(frozen=True, slots=True)
class MessageFees:
    """What a request pays, as geth's ``ToMessage`` derives it after ``CallDefaults``."""

    fee_cap: int
    tip: int
    gas_price: int
    """The effective price: GASPRICE, and 0 means the call runs with base fee 0 (NoBaseFee)."""


@dataclass(frozen=True, slots=True)
class RequestTx:
    """A request as an unsigned py-evm transaction, with the fees its message pays."""

    unsigned: Any
    """py-evm's unsigned transaction of ``type``."""
    type: int
    fees: MessageFees


def message_fees(request: CallRequest, base_fee: int | None) -> MessageFees:
    """geth ``ToMessage``: ``gasPrice`` (or 0 before London) is cap, tip and price; else the
    EIP-1559 fields, the price ``min(tip + baseFee, cap)``, or 0 when both are 0."""
    if base_fee is None or request.gas_price is not None:
        price = request.gas_price or 0
        return MessageFees(price, price, price)
    cap = request.max_fee_per_gas or 0
    tip = request.max_priority_fee_per_gas or 0
    price = min(tip + base_fee, cap) if cap or tip else 0
    return MessageFees(cap, tip, price)


def transaction_type(request: CallRequest, fork: Fork, base_fee: int | None) -> int:
    """The transaction type that carries ``request`` (module docstring)."""
    if request.authorization_list is not None:
        return rules.SET_CODE_TX_TYPE
    if request.blob_versioned_hashes is not None:
        return rules.BLOB_TX_TYPE
    if base_fee is not None and request.gas_price is None:
        return rules.DYNAMIC_FEE_TX_TYPE
    if request.access_list is not None and fork >= Fork.BERLIN:
        return rules.ACCESS_LIST_TX_TYPE
    return rules.LEGACY_TX_TYPE


def validate_request(
    request: CallRequest, kind: int, sender: bytes, fork: Fork, error: rules.ErrorClass = InvalidTransaction
) -> None:
    """geth ``preCheck``'s refusals of a set-code or blob request (``kind`` its type) that no
    transaction can carry."""
    if kind == rules.SET_CODE_TX_TYPE:
        if fork < Fork.PRAGUE:
            raise error(rules.ERR_TX_TYPE_NOT_SUPPORTED)
        if request.to is None:
            raise error(f"{rules.ERR_SET_CODE_TX_CREATE} (sender 0x{sender.hex()})")
        if not request.authorization_list:
            raise error(f"{rules.ERR_EMPTY_AUTH_LIST} (sender 0x{sender.hex()})")
    elif kind == rules.BLOB_TX_TYPE:
        if fork < Fork.CANCUN:
            raise error(rules.ERR_TX_TYPE_NOT_SUPPORTED)
        if request.to is None:
            raise error('missing "to" in blob transaction')
        hashes = request.blob_versioned_hashes or ()
        if not hashes:
            raise error(rules.ERR_MISSING_BLOB_HASHES)
        for index, versioned_hash in enumerate(hashes):
            if versioned_hash[:1] != bytes([rules.VERSIONED_HASH_VERSION_KZG]):
                raise error(f"blob {index} has invalid hash version")


def request_transaction(
    vm_class: type[VM],
    chain_id: int,
    request: CallRequest,
    *,
    sender: bytes,
    nonce: int,
    gas: int,
    base_fee: int | None,
    error: rules.ErrorClass = InvalidTransaction,
) -> RequestTx:
    """``request`` as an unsigned transaction of ``vm_class``'s fork (module docstring); raises
    ``error`` with geth's words for a request no transaction can carry."""
    fork = fork_of_vm(vm_class)
    kind = transaction_type(request, fork, base_fee)
    validate_request(request, kind, sender, fork, error)
    fees = message_fees(request, base_fee)
    builder: Any = vm_class.get_transaction_builder()
    to = request.to if request.to is not None else CREATE_CONTRACT_ADDRESS
    value = request.value or 0
    data = request.input or b""
    access_list = [
        (entry.address, [int.from_bytes(key, "big") for key in entry.storage_keys])
        for entry in request.access_list or ()
    ]
    if kind == rules.SET_CODE_TX_TYPE:
        unsigned = builder.new_unsigned_set_code_transaction(
            chain_id,
            nonce,
            fees.tip,
            fees.fee_cap,
            gas,
            to,
            value,
            data,
            access_list,
            [_authorization_dict(a) for a in request.authorization_list or ()],
        )
    elif kind == rules.BLOB_TX_TYPE:
        unsigned = builder.new_unsigned_blob_transaction(
            chain_id,
            nonce,
            fees.tip,
            fees.fee_cap,
            gas,
            to,
            value,
            data,
            access_list,
            request.max_fee_per_blob_gas or 0,
            list(request.blob_versioned_hashes or ()),
        )
    elif kind == rules.DYNAMIC_FEE_TX_TYPE:
        unsigned = builder.new_unsigned_dynamic_fee_transaction(
            chain_id, nonce, fees.tip, fees.fee_cap, gas, to, value, data, access_list
        )
    elif kind == rules.ACCESS_LIST_TX_TYPE:
        unsigned = builder.new_unsigned_access_list_transaction(
            chain_id, nonce, fees.gas_price, gas, to, value, data, access_list
        )
    else:
        unsigned = builder.create_unsigned_transaction(
            nonce=nonce, gas_price=fees.gas_price, gas=gas, to=to, value=value, data=data
        )
    return RequestTx(unsigned, kind, fees)


def call_transaction(built: RequestTx, sender: bytes) -> Any:
    """The transaction eth_call and kin execute: unsigned, from ``sender`` (py-evm's spoof)."""
    return SpoofTransaction(built.unsigned, from_=sender)


def encode_unsigned(built: RequestTx) -> bytes:
    """The transaction's network encoding with v = r = s = 0: geth's ``MarshalBinary`` of the
    unsigned transaction ``ToTransaction`` makes (eth_fillTransaction's ``raw``)."""
    fields = rlp.decode(rlp.encode(built.unsigned))
    payload = bytes(rlp.encode([*fields, b"", b"", b""]))
    return payload if built.type == rules.LEGACY_TX_TYPE else bytes([built.type]) + payload


def unsigned_signed_form(vm_class: type[VM], built: RequestTx, sender: bytes) -> Any:
    """The transaction with v = r = s = 0 as the block's transaction class holds it (its hash is
    geth's), ``sender`` filled in instead of recovered (py-evm caches ``sender``)."""
    tx = vm_class.get_transaction_builder().decode(encode_unsigned(built))
    tx.__dict__["sender"] = sender
    return tx


def authority(auth: AuthorizationView) -> bytes | None:
    """The address that signed ``auth``, or None when its signature is out of range (EIP-2's
    low s, as EIP-7702 demands) or does not recover (geth ``SetCodeAuthorization.Authority``)."""
    if auth.y_parity not in (0, 1) or not 0 < auth.r < rules.SECP256K1_N:
        return None
    if not 0 < auth.s <= rules.SECP256K1_HALF_N:
        return None
    message = AUTHORIZATION_MAGIC + rlp.encode([auth.chain_id, auth.address, auth.nonce])
    signature = auth.r.to_bytes(32, "big") + auth.s.to_bytes(32, "big") + bytes((auth.y_parity,))
    try:
        public = PublicKey.from_signature_and_message(signature, keccak(message), hasher=None)
    except Exception:  # coincurve raises a bare Exception for a signature with no point
        return None
    return bytes(keccak(public.format(compressed=False)[1:])[12:])


def _authorization_dict(auth: AuthorizationView) -> dict[str, Any]:
    return {
        "chain_id": auth.chain_id,
        "address": auth.address,
        "nonce": auth.nonce,
        "y_parity": auth.y_parity,
        "r": auth.r,
        "s": auth.s,
    }


__all__ = [
    "AUTHORIZATION_MAGIC",
    "MessageFees",
    "RequestTx",
    "authority",
    "call_transaction",
    "encode_unsigned",
    "message_fees",
    "request_transaction",
    "transaction_type",
    "unsigned_signed_form",
    "validate_request",
]
