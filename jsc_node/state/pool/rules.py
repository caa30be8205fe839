"""Admission rules of the transaction pool: what a raw transaction must be to enter it, refused in
geth's pool words (core/txpool/errors.go, and core/error.go's words with the details
core/txpool/validation.go gives them) because wallets and tooling match on them. Decoding, the
stateless checks (``validate_transaction``, geth's ValidateTransaction), the checks against the
sender's account and pooled transactions (``validate_with_state``, geth's
ValidateTransactionWithState) and the price bump of a replacement. The gas and blob amounts come
from state/evm/rules.py; the pool's structure, limits and events are state/pool/pool.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from jsc_node.errors import InvalidTransaction
from jsc_node.state.evm.patches.senders import recover_sender
from jsc_node.state.evm.rules import (
    ACCESS_LIST_TX_TYPE,
    BLOB_TX_TYPE,
    DYNAMIC_FEE_TX_TYPE,
    ERR_FEE_CAP_TOO_LOW,
    ERR_FEE_CAP_VERY_HIGH,
    ERR_FLOOR_DATA_GAS,
    ERR_INSUFFICIENT_FUNDS,
    ERR_INTRINSIC_GAS,
    ERR_MAX_INITCODE_SIZE_EXCEEDED,
    ERR_NONCE_MAX,
    ERR_NONCE_TOO_HIGH,
    ERR_NONCE_TOO_LOW,
    ERR_TIP_ABOVE_FEE_CAP,
    ERR_TIP_VERY_HIGH,
    ERR_TX_TYPE_NOT_SUPPORTED,
    GAS_PER_BLOB,
    LEGACY_TX_TYPE,
    MAX_INITCODE_SIZE_BYTES,
    PRAGUE_BLOB_SCHEDULE,
    SECP256K1_HALF_N,
    SECP256K1_N,
    SET_CODE_TX_TYPE,
    VERSIONED_HASH_VERSION_KZG,
    floor_data_gas,
    intrinsic_gas,
)

# Blob transactions are pooled in canonical form; the RPC checks and drops the sidecar
# (state/serve/blobs.py).
SUPPORTED_TYPED_TX_TYPES: Final = frozenset(
    {ACCESS_LIST_TX_TYPE, DYNAMIC_FEE_TX_TYPE, BLOB_TX_TYPE, SET_CODE_TX_TYPE}
)
MAX_BLOBS_PER_TX: Final = PRAGUE_BLOB_SCHEDULE.max_blobs_per_block  # a block's maximum bounds one tx
UINT64_MAX: Final = 2**64 - 1
UINT256_MAX: Final = 2**256 - 1
EIP155_V_OFFSET: Final = 35  # EIP-155: v = chain_id * 2 + 35 + y_parity
UNPROTECTED_V_VALUES: Final = (27, 28)  # pre-EIP-155 legacy signatures

# geth's pool words (core/txpool/errors.go).
ERR_ALREADY_KNOWN: Final = "already known"
ERR_INVALID_SENDER: Final = "invalid sender"
ERR_UNDERPRICED: Final = "transaction underpriced"
ERR_REPLACE_UNDERPRICED: Final = "replacement transaction underpriced"
ERR_GAS_LIMIT: Final = "exceeds block gas limit"
ERR_OVERSIZED_DATA: Final = "oversized data"
ERR_FUTURE_REPLACE_PENDING: Final = "future transaction tries to replace pending"
ERR_TXPOOL_OVERFLOW: Final = "txpool is full"


@dataclass(frozen=True, slots=True)
class PoolLimits:
    max_size: int = 5120
    """Pending + queued txs in the pool; beyond it the cheapest is evicted or the new one refused."""
    max_per_sender: int = 64
    """Txs per sender; a nonce this far past the account nonce is "nonce too high"."""
    price_bump_percent: int = 10
    """A replacement needs fee cap and tip both this much higher (geth's PriceBump)."""
    min_gas_price: int = 0
    """Minimum tip (gas price for legacy txs), in wei (geth's PriceLimit)."""
    max_tx_bytes: int = 128 * 1024
    """Largest encoded tx accepted (geth's txMaxSize, 4 slots of 32 KiB)."""
    reject_below_base_fee: bool = True
    """Refuse txs whose fee cap is under the current base fee (Besu does; geth keeps them)."""
    allow_unprotected_txs: bool = False
    """Admit pre-EIP-155 legacy txs (v = 27/28) sent over RPC (``--rpc-allow-unprotected-txs``,
    geth's ``--rpc.allow-unprotected-txs``); from peers they are always admitted, as in geth."""


@dataclass(frozen=True, slots=True, eq=False)
class PooledTx:
    """A validated tx with what the pool and the block builder need, computed once."""

    raw: bytes = field(repr=False)
    """The canonical encoding (typed envelope or legacy RLP), as journaled and gossiped."""
    tx: Any = field(repr=False)
    """The py-evm signed tx object (``tx.sender`` is primed: it does not recover again)."""
    sender: bytes
    """20-byte address recovered from the signature at admission."""
    hash: bytes
    nonce: int
    type_id: int
    gas: int
    fee_cap: int
    """max_fee_per_gas, or gas_price for legacy and access-list txs."""
    tip_cap: int
    """max_priority_fee_per_gas, or gas_price for legacy and access-list txs."""
    cost: int
    """gas * fee_cap + value (+ blob gas * blob fee cap): the most the tx can take from the sender."""
    seq: int
    """Arrival order in this process; breaks price ties (earlier first)."""

    def effective_tip(self, base_fee: int | None) -> int:
        """Tip per gas the proposer gets at ``base_fee``; negative if the fee cap is under it."""
        if base_fee is None:
            return self.tip_cap
        return min(self.tip_cap, self.fee_cap - base_fee)


# --- decoding ------------------------------------------------------------------------------


def decode_transaction(raw: bytes) -> Any:
    """Typed envelope (EIP-2718) or legacy RLP to a py-evm tx; InvalidTransaction if malformed."""
    if not raw:
        raise InvalidTransaction("typed transaction too short")
    first = raw[0]
    if first <= 0x7F:  # EIP-2718: a type byte, not an RLP list prefix
        if first not in SUPPORTED_TYPED_TX_TYPES:
            raise InvalidTransaction(ERR_TX_TYPE_NOT_SUPPORTED)
        if len(raw) <= 1:
            raise InvalidTransaction("typed transaction too short")
    try:
        return PragueTransactionBuilder.decode(raw)
    except (rlp.exceptions.RLPException, ValidationError) as exc:
        raise InvalidTransaction(f"rlp: {_rlp_reason(exc)}") from exc


def _rlp_reason(exc: BaseException) -> str:
    # pyrlp reports a cut-short input as a negative count of superfluous bytes; say it as
    # geth's rlp package does (ErrValueTooLarge / "more than one value").
    text = _first_line(exc)
    if text.startswith("RLP string ends with -"):
        return "value size exceeds available input length"
    if text.startswith("RLP string ends with"):
        return "input contains more than one value"
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _uint_too_long(value: int, limit: int, kind: str) -> None:
    if value > limit:
        raise InvalidTransaction(f"rlp: input string too long for {kind}")


# --- stateless checks ------------------------------------------------------------------------


def validate_size(raw: bytes, max_tx_bytes: int) -> None:
    """geth: the encoded transaction is within the pool's size limit (txMaxSize)."""
    if len(raw) > max_tx_bytes:
        raise InvalidTransaction(f"{ERR_OVERSIZED_DATA}: transaction size {len(raw)}, limit {max_tx_bytes}")


def validate_transaction(
    raw: bytes,
    tx_hash: bytes,
    tx: Any,
    *,
    chain_id: int,
    limits: PoolLimits,
    block_gas_limit: int | None,
    base_fee: int | None,
    arrival: Iterator[int],
    allow_unprotected: bool = False,
) -> PooledTx:
    """geth's ValidateTransaction: fields, chain id, fees, gas, signature, in geth's order. Returns
    the PooledTx with the recovered sender and the next ``arrival`` number; ``block_gas_limit``
    and ``base_fee`` are the head's (None: not checked). ``allow_unprotected`` admits pre-EIP-155
    legacy txs, which geth refuses only over RPC (internal/ethapi SubmitTransaction) unless
    ``--rpc.allow-unprotected-txs``."""
    type_id = int(getattr(tx, "type_id", None) or LEGACY_TX_TYPE)
    nonce = int(tx.nonce)
    gas = int(tx.gas)
    value = int(tx.value)
    data = bytes(tx.data)
    is_create = tx.to == b""
    _uint_too_long(nonce, UINT64_MAX, "uint64")
    _uint_too_long(gas, UINT64_MAX, "uint64")
    _uint_too_long(value, UINT256_MAX, "uint256")
    _uint_too_long(int(tx.r), UINT256_MAX, "uint256")
    _uint_too_long(int(tx.s), UINT256_MAX, "uint256")

    if type_id == LEGACY_TX_TYPE:
        v = int(tx.v)
        if v in UNPROTECTED_V_VALUES:
            if not allow_unprotected:
                raise InvalidTransaction("only replay-protected (EIP-155) transactions allowed over RPC")
            # Homestead signer: no chain id in the signature, valid on every chain.
            tx_chain_id = chain_id
            y_parity = v - UNPROTECTED_V_VALUES[0]
        else:
            if v < EIP155_V_OFFSET:
                raise InvalidTransaction(f"{ERR_INVALID_SENDER}: invalid transaction v, r, s values")
            tx_chain_id = (v - EIP155_V_OFFSET) // 2
            y_parity = (v - EIP155_V_OFFSET) % 2
    else:
        tx_chain_id = int(tx.chain_id)
        y_parity = int(tx.y_parity)
        _uint_too_long(tx_chain_id, UINT256_MAX, "uint256")
    if type_id in (LEGACY_TX_TYPE, ACCESS_LIST_TX_TYPE):
        fee_cap = tip_cap = int(tx.gas_price)
        _uint_too_long(fee_cap, UINT256_MAX, "uint256")
    else:
        fee_cap = int(tx.max_fee_per_gas)
        tip_cap = int(tx.max_priority_fee_per_gas)
    blob_cost = 0
    if type_id == BLOB_TX_TYPE:
        # geth validation.go: blob txs carry 1..max versioned hashes of the KZG version.
        hashes = tuple(bytes(h) for h in tx.blob_versioned_hashes)
        if not hashes:
            raise InvalidTransaction("blobless blob transaction")
        if len(hashes) > MAX_BLOBS_PER_TX:
            raise InvalidTransaction(
                f"too many blobs in transaction: have {len(hashes)}, permitted {MAX_BLOBS_PER_TX}"
            )
        for i, versioned in enumerate(hashes):
            if versioned[0] != VERSIONED_HASH_VERSION_KZG:
                raise InvalidTransaction(
                    f"blob {i} hash version mismatch (have {versioned[0]}, supported [1])"
                )
        blob_cost = len(hashes) * GAS_PER_BLOB * int(tx.max_fee_per_blob_gas)
    if type_id == SET_CODE_TX_TYPE:
        if is_create:  # EIP-7702: `to` is a plain address, never empty
            raise InvalidTransaction(
                "rlp: input string too short for common.Address, decoding into (types.SetCodeTx).To"
            )
        if not tx.authorization_list:
            raise InvalidTransaction("set code tx must have at least one authorization tuple")
        for auth in tx.authorization_list:
            _uint_too_long(int(auth.chain_id), UINT256_MAX, "uint256")
            _uint_too_long(int(auth.nonce), UINT64_MAX, "uint64")
            _uint_too_long(int(auth.y_parity), 0xFF, "uint8")
            _uint_too_long(max(int(auth.r), int(auth.s)), UINT256_MAX, "uint256")

    if is_create and len(data) > MAX_INITCODE_SIZE_BYTES:
        raise InvalidTransaction(
            f"{ERR_MAX_INITCODE_SIZE_EXCEEDED}: code size {len(data)}, limit {MAX_INITCODE_SIZE_BYTES}"
        )
    if block_gas_limit is not None and gas > block_gas_limit:
        raise InvalidTransaction(ERR_GAS_LIMIT)
    if fee_cap > UINT256_MAX:
        raise InvalidTransaction(ERR_FEE_CAP_VERY_HIGH)
    if tip_cap > UINT256_MAX:
        raise InvalidTransaction(ERR_TIP_VERY_HIGH)
    if fee_cap < tip_cap:
        raise InvalidTransaction(ERR_TIP_ABOVE_FEE_CAP)
    if tx_chain_id != chain_id:
        raise InvalidTransaction(
            f"{ERR_INVALID_SENDER}: invalid chain id for signer: have {tx_chain_id} want {chain_id}"
        )
    r, s = int(tx.r), int(tx.s)
    if y_parity not in (0, 1) or not (0 < r < SECP256K1_N) or not (0 < s <= SECP256K1_HALF_N):
        # EIP-2: an s above half the curve order is malleable, refused.
        raise InvalidTransaction(f"{ERR_INVALID_SENDER}: invalid transaction v, r, s values")
    if nonce == UINT64_MAX:  # EIP-2681
        raise InvalidTransaction(ERR_NONCE_MAX)
    # Init code words count as intrinsic here, as geth counts them (core.IntrinsicGas).
    intrinsic = intrinsic_gas(tx, with_initcode=True)
    if gas < intrinsic:
        raise InvalidTransaction(f"{ERR_INTRINSIC_GAS}: gas {gas}, minimum needed {intrinsic}")
    floor = floor_data_gas(data)
    if gas < floor:
        raise InvalidTransaction(f"{ERR_FLOOR_DATA_GAS}: gas {gas}, minimum needed {floor}")
    if tip_cap < limits.min_gas_price:
        raise InvalidTransaction(
            f"{ERR_UNDERPRICED}: gas tip cap {tip_cap}, minimum needed {limits.min_gas_price}"
        )
    try:
        sender = recover_sender(tx, tx_hash)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise InvalidTransaction(f"{ERR_INVALID_SENDER}: {_first_line(exc)}") from exc
    # py-evm's `sender` is a cached_property: fill its cache so nobody recovers again.
    tx.__dict__["sender"] = sender
    if limits.reject_below_base_fee and base_fee is not None and fee_cap < base_fee:
        raise InvalidTransaction(
            f"{ERR_FEE_CAP_TOO_LOW}: address 0x{sender.hex()}, maxFeePerGas: {fee_cap}, baseFee: {base_fee}"
        )
    return PooledTx(
        raw=raw,
        tx=tx,
        sender=sender,
        hash=tx_hash,
        nonce=nonce,
        type_id=type_id,
        gas=gas,
        fee_cap=fee_cap,
        tip_cap=tip_cap,
        cost=gas * fee_cap + value + blob_cost,
        seq=next(arrival),
    )


# --- checks against the account and the pool ---------------------------------------------


def validate_with_state(
    ptx: PooledTx,
    *,
    account_nonce: int,
    pending_end: int,
    balance: int,
    pending_cost: int,
    replaced: PooledTx | None,
    max_per_sender: int,
) -> None:
    """geth's ValidateTransactionWithState: the nonce is not used and leaves no gap wider than
    ``max_per_sender`` past the executable run ``[account_nonce, pending_end)``; the balance
    covers the tx, and with ``pending_cost`` (the run's cost) the run it joins or, for a pending
    ``replaced`` tx, the run with the bump."""
    if ptx.nonce < account_nonce:
        raise InvalidTransaction(f"{ERR_NONCE_TOO_LOW}: next nonce {account_nonce}, tx nonce {ptx.nonce}")
    if ptx.nonce >= pending_end + max_per_sender:
        # Executable (gap-free) txs are bounded only by the pool's size, as geth lets a
        # sender exceed its account slots while the pool has room: deploy scripts and load
        # generators stream hundreds of nonces. A gap is bounded by max_per_sender past
        # the executable run, so queued txs that could never fill it are refused.
        raise InvalidTransaction(
            f"{ERR_NONCE_TOO_HIGH}: tx nonce {ptx.nonce}, gapped nonce {pending_end + max_per_sender}"
        )
    if balance < ptx.cost:
        raise InvalidTransaction(
            f"{ERR_INSUFFICIENT_FUNDS}: balance {balance}, tx cost {ptx.cost}, overshot {ptx.cost - balance}"
        )
    if replaced is not None and ptx.nonce < pending_end:
        need = pending_cost - replaced.cost + ptx.cost
        if balance < need:
            raise InvalidTransaction(
                f"{ERR_INSUFFICIENT_FUNDS}: balance {balance}, queued cost {pending_cost}, "
                f"tx bumped {ptx.cost - replaced.cost}, overshot {need - balance}"
            )
    elif balance < pending_cost + ptx.cost:
        raise InvalidTransaction(
            f"{ERR_INSUFFICIENT_FUNDS}: balance {balance}, queued cost {pending_cost}, "
            f"tx cost {ptx.cost}, overshot {pending_cost + ptx.cost - balance}"
        )


def validate_replacement(old: PooledTx, new: PooledTx, price_bump_percent: int) -> None:
    """geth legacypool list.Add: a tx replacing another of its nonce raises both fee cap and tip,
    each by ``price_bump_percent``."""
    bump = 100 + price_bump_percent
    if (
        new.fee_cap <= old.fee_cap
        or new.tip_cap <= old.tip_cap
        or new.fee_cap < old.fee_cap * bump // 100
        or new.tip_cap < old.tip_cap * bump // 100
    ):
        raise InvalidTransaction(ERR_REPLACE_UNDERPRICED)


__all__ = [
    "MAX_BLOBS_PER_TX",
    "SUPPORTED_TYPED_TX_TYPES",
    "PoolLimits",
    "PooledTx",
    "decode_transaction",
    "validate_replacement",
    "validate_size",
    "validate_transaction",
    "validate_with_state",
]
