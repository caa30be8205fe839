"""Every gas, blob and intrinsic-gas rule of a transaction, once: the constants (with their units
and EIPs), the small functions that compute from them, and the checks a transaction must pass
before it runs, raising with geth's words (core/error.go for the words, core/state_transition.go
``preCheck``/``execute`` for the details after the colon) because wallets and tooling match on
them. The transaction pool's own refusals, worded as geth's pool words them, are in
state/pool/rules.py and build on these. py-evm executes the same rules; tests/unit/test_evm_rules.py
holds each constant here against py-evm's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from eth.abc import BlockHeaderAPI
from eth.vm.forks.cancun.headers import calc_excess_blob_gas_cancun
from eth.vm.forks.prague.headers import calc_excess_blob_gas_prague

from jsc_node.errors import InvalidTransaction
from jsc_node.state.evm.forks import Fork

# --- transaction types (EIP-2718) ----------------------------------------------------------

LEGACY_TX_TYPE: Final = 0
ACCESS_LIST_TX_TYPE: Final = 1  # EIP-2930
DYNAMIC_FEE_TX_TYPE: Final = 2  # EIP-1559
BLOB_TX_TYPE: Final = 3  # EIP-4844
SET_CODE_TX_TYPE: Final = 4  # EIP-7702

# --- signatures ------------------------------------------------------------------------------

SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""The order of secp256k1: r and s of a signature are in [1, N)."""
SECP256K1_HALF_N: Final = SECP256K1_N // 2
"""EIP-2 (Homestead): a transaction's s is at most N/2, so a signature has one form."""


# --- gas -----------------------------------------------------------------------------------

TX_BASE_GAS: Final = 21_000
"""Gas every transaction pays before its data (Yellow Paper G_transaction)."""
CALL_STIPEND_GAS: Final = 2_300
"""Gas a value-carrying CALL hands the callee on top of what it forwards (G_callstipend)."""
MAX_CODE_SIZE_BYTES: Final = 24_576  # EIP-170
MAX_INITCODE_SIZE_BYTES: Final = 2 * MAX_CODE_SIZE_BYTES  # EIP-3860 (Shanghai)
INITCODE_WORD_GAS: Final = 2
"""EIP-3860: gas per 32-byte word of a creation's init code."""
FLOOR_GAS_PER_TOKEN: Final = 10
"""EIP-7623 (Prague) TOTAL_COST_FLOOR_PER_TOKEN: the calldata floor, gas per token."""
TOKENS_PER_NONZERO_BYTE: Final = 4
"""EIP-7623 STANDARD_TOKEN_COST: a non-zero calldata byte is 4 tokens, a zero byte 1."""
PER_EMPTY_ACCOUNT_GAS: Final = 25_000
"""EIP-7702 PER_EMPTY_ACCOUNT_COST: intrinsic gas per authorization, applied or not (geth's
core.IntrinsicGas charges params.CallNewAccountGas per entry)."""

# --- blobs (EIP-4844, EIP-7691) --------------------------------------------------------------

GAS_PER_BLOB: Final = 2**17
"""Blob gas one blob uses."""
MIN_BASE_FEE_PER_BLOB_GAS: Final = 1
"""Wei per blob gas when the excess blob gas is 0."""
VERSIONED_HASH_VERSION_KZG: Final = 0x01
"""First byte of a blob's versioned hash: the hash of a KZG commitment."""


@dataclass(frozen=True, slots=True)
class BlobSchedule:
    """A fork's blob parameters (geth's params.BlobConfig; EIP-7840's ``blobSchedule``)."""

    target_blobs_per_block: int
    max_blobs_per_block: int
    base_fee_update_fraction: int
    """Denominator of the blob base fee's exponent: how fast the fee follows the excess."""

    @property
    def target_blob_gas_per_block(self) -> int:
        return self.target_blobs_per_block * GAS_PER_BLOB

    @property
    def max_blob_gas_per_block(self) -> int:
        return self.max_blobs_per_block * GAS_PER_BLOB


CANCUN_BLOB_SCHEDULE: Final = BlobSchedule(3, 6, 3_338_477)  # EIP-4844
PRAGUE_BLOB_SCHEDULE: Final = BlobSchedule(6, 9, 5_007_716)  # EIP-7691
BLOB_TX_MAX_BLOBS: Final = 6
"""geth params.BlobTxMaxBlobs: the blobs eth_fillTransaction lets one request carry (the pool bounds
a transaction by its fork's block maximum instead, as geth's pool does)."""


def blob_schedule(fork: Fork) -> BlobSchedule | None:
    """The blob parameters of ``fork``; None before Cancun (no blobs)."""
    if fork >= Fork.PRAGUE:
        return PRAGUE_BLOB_SCHEDULE
    if fork >= Fork.CANCUN:
        return CANCUN_BLOB_SCHEDULE
    return None


def fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-4844 ``fake_exponential``: factor * e ** (numerator / denominator), in integers."""
    i, output, accum = 1, 0, factor * denominator
    while accum > 0:
        output += accum
        accum = (accum * numerator) // (denominator * i)
        i += 1
    return output // denominator


def total_blob_gas(tx: Any) -> int:
    """Blob gas a transaction uses: GAS_PER_BLOB per versioned hash (0 unless type 3)."""
    if tx.type_id != BLOB_TX_TYPE:
        return 0
    return len(tx.blob_versioned_hashes) * GAS_PER_BLOB


def blob_base_fee(header: BlockHeaderAPI, fork: Fork) -> int | None:
    """The blob base fee of ``header``'s block (``fork`` its fork), wei per blob gas (EIP-4844
    ``get_base_fee_per_blob_gas``); None before Cancun."""
    schedule = blob_schedule(fork)
    if schedule is None:
        return None
    return fake_exponential(
        MIN_BASE_FEE_PER_BLOB_GAS, int(header.excess_blob_gas), schedule.base_fee_update_fraction
    )


def excess_blob_gas(parent: BlockHeaderAPI, fork: Fork) -> int:
    """The excess blob gas of a ``fork`` block on ``parent``: what the parent's excess and use
    left above ``fork``'s target (py-evm's own computation, which its header rules check)."""
    if fork >= Fork.PRAGUE:
        return int(calc_excess_blob_gas_prague(parent))
    return int(calc_excess_blob_gas_cancun(parent))


def next_blob_base_fee(header: BlockHeaderAPI, fork: Fork) -> int | None:
    """The blob base fee of the block after ``header`` if it is of ``fork`` as well; None before
    Cancun."""
    schedule = blob_schedule(fork)
    if schedule is None:
        return None
    return fake_exponential(
        MIN_BASE_FEE_PER_BLOB_GAS, excess_blob_gas(header, fork), schedule.base_fee_update_fraction
    )


def blob_gas_used_ratio(header: BlockHeaderAPI, fork: Fork) -> float:
    """The share of its maximum blob gas ``header``'s block used (eth_feeHistory); 0 before Cancun."""
    schedule = blob_schedule(fork)
    if schedule is None:
        return 0.0
    return float(int(header.blob_gas_used) / schedule.max_blob_gas_per_block)


# --- intrinsic gas and the calldata floor ----------------------------------------------------


def initcode_gas(data: bytes) -> int:
    """EIP-3860: the gas of a creation's init code, INITCODE_WORD_GAS per started 32-byte word."""
    return INITCODE_WORD_GAS * ((len(data) + 31) // 32)


def intrinsic_gas(tx: Any, *, with_initcode: bool = False) -> int:
    """Gas a transaction pays before its first instruction: py-evm's count (base, calldata,
    creation, EIP-2930 access list, EIP-7702 authorizations). ``with_initcode`` adds a creation's
    EIP-3860 init code words, which geth counts as intrinsic (core.IntrinsicGas) while py-evm
    charges them when the creation starts."""
    gas = int(tx.intrinsic_gas)
    if with_initcode and not tx.to:
        gas += initcode_gas(bytes(tx.data))
    return gas


def calldata_tokens(data: bytes) -> int:
    """EIP-7623: one token per zero byte, TOKENS_PER_NONZERO_BYTE per other byte."""
    zeros = data.count(0)
    return zeros + (len(data) - zeros) * TOKENS_PER_NONZERO_BYTE


def floor_data_gas(data: bytes) -> int:
    """EIP-7623 (Prague): the least gas a transaction with this calldata is charged."""
    return TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * calldata_tokens(data)


# --- geth's words (core/error.go) ------------------------------------------------------------

ERR_NONCE_TOO_LOW: Final = "nonce too low"
ERR_NONCE_TOO_HIGH: Final = "nonce too high"
ERR_NONCE_MAX: Final = "nonce has max value"
ERR_GAS_LIMIT_REACHED: Final = "gas limit reached"
ERR_INSUFFICIENT_FUNDS_FOR_TRANSFER: Final = "insufficient funds for transfer"
ERR_MAX_INITCODE_SIZE_EXCEEDED: Final = "max initcode size exceeded"
ERR_INSUFFICIENT_FUNDS: Final = "insufficient funds for gas * price + value"
ERR_INTRINSIC_GAS: Final = "intrinsic gas too low"
ERR_FLOOR_DATA_GAS: Final = "insufficient gas for floor data gas cost"
ERR_TX_TYPE_NOT_SUPPORTED: Final = "transaction type not supported"
ERR_SET_CODE_TX_CREATE: Final = "EIP-7702 transaction cannot be used to create contract"
ERR_EMPTY_AUTH_LIST: Final = "EIP-7702 transaction with empty auth list"
ERR_MISSING_BLOB_HASHES: Final = "blob transaction missing blob hashes"
ERR_TIP_ABOVE_FEE_CAP: Final = "max priority fee per gas higher than max fee per gas"
ERR_TIP_VERY_HIGH: Final = "max priority fee per gas higher than 2^256-1"
ERR_FEE_CAP_VERY_HIGH: Final = "max fee per gas higher than 2^256-1"
ERR_FEE_CAP_TOO_LOW: Final = "max fee per gas less than block base fee"


# --- the checks before a transaction runs (geth core/state_transition.go) ------------------
# Each raises ``error`` (InvalidTransaction unless the caller needs its own class, e.g. an
# eth_simulateV1 error with its own JSON-RPC code).

ErrorClass = type[Exception]


def validate_nonce(
    sender: bytes,
    tx_nonce: int,
    state_nonce: int,
    *,
    too_low: ErrorClass = InvalidTransaction,
    too_high: ErrorClass = InvalidTransaction,
) -> None:
    """The transaction's nonce is the account's (``preCheck``)."""
    if tx_nonce > state_nonce:
        raise too_high(f"{ERR_NONCE_TOO_HIGH}: address 0x{sender.hex()}, tx: {tx_nonce} state: {state_nonce}")
    if tx_nonce < state_nonce:
        raise too_low(f"{ERR_NONCE_TOO_LOW}: address 0x{sender.hex()}, tx: {tx_nonce} state: {state_nonce}")


def validate_nonce_not_max(sender: bytes, state_nonce: int, error: ErrorClass = InvalidTransaction) -> None:
    """EIP-2681: an account at nonce 2^64-1 can send nothing more (``preCheck``)."""
    if state_nonce == 2**64 - 1:
        raise error(f"{ERR_NONCE_MAX}: address 0x{sender.hex()}, nonce: {state_nonce}")


def validate_fee_caps(
    sender: bytes,
    fee_cap: int,
    tip_cap: int,
    base_fee: int,
    *,
    tip_above_fee_cap: ErrorClass = InvalidTransaction,
    below_base_fee: ErrorClass = InvalidTransaction,
) -> None:
    """EIP-1559: the tip is within the fee cap, and the fee cap covers the base fee (``preCheck``)."""
    if fee_cap < tip_cap:
        raise tip_above_fee_cap(
            f"{ERR_TIP_ABOVE_FEE_CAP}: address 0x{sender.hex()}, "
            f"maxPriorityFeePerGas: {tip_cap}, maxFeePerGas: {fee_cap}"
        )
    if fee_cap < base_fee:
        raise below_base_fee(
            f"{ERR_FEE_CAP_TOO_LOW}: address 0x{sender.hex()}, maxFeePerGas: {fee_cap}, baseFee: {base_fee}"
        )


def validate_funds(sender: bytes, balance: int, cost: int, error: ErrorClass = InvalidTransaction) -> None:
    """The sender can pay gas limit x fee cap + value (+ blob gas) up front (``buyGas``)."""
    if balance < cost:
        raise error(f"{ERR_INSUFFICIENT_FUNDS}: address 0x{sender.hex()} have {balance} want {cost}")


def validate_intrinsic_gas(gas: int, intrinsic: int, error: ErrorClass = InvalidTransaction) -> None:
    """The gas limit covers the intrinsic gas (``execute``)."""
    if gas < intrinsic:
        raise error(f"{ERR_INTRINSIC_GAS}: have {gas}, want {intrinsic}")


def validate_floor_data_gas(gas: int, data: bytes, error: ErrorClass = InvalidTransaction) -> None:
    """EIP-7623 (Prague): the gas limit covers the calldata floor (``execute``)."""
    floor = floor_data_gas(data)
    if gas < floor:
        raise error(f"{ERR_FLOOR_DATA_GAS}: have {gas}, want {floor}")


def validate_initcode_size(data: bytes, error: ErrorClass = InvalidTransaction) -> None:
    """EIP-3860 (Shanghai): a creation's init code is at most MAX_INITCODE_SIZE_BYTES (``execute``;
    geth writes no comma before "limit" here, unlike its pool)."""
    if len(data) > MAX_INITCODE_SIZE_BYTES:
        raise error(
            f"{ERR_MAX_INITCODE_SIZE_EXCEEDED}: code size {len(data)} limit {MAX_INITCODE_SIZE_BYTES}"
        )


__all__ = [
    "ACCESS_LIST_TX_TYPE",
    "BLOB_TX_MAX_BLOBS",
    "BLOB_TX_TYPE",
    "CALL_STIPEND_GAS",
    "CANCUN_BLOB_SCHEDULE",
    "DYNAMIC_FEE_TX_TYPE",
    "FLOOR_GAS_PER_TOKEN",
    "GAS_PER_BLOB",
    "INITCODE_WORD_GAS",
    "LEGACY_TX_TYPE",
    "MAX_CODE_SIZE_BYTES",
    "MAX_INITCODE_SIZE_BYTES",
    "MIN_BASE_FEE_PER_BLOB_GAS",
    "PER_EMPTY_ACCOUNT_GAS",
    "PRAGUE_BLOB_SCHEDULE",
    "SET_CODE_TX_TYPE",
    "TOKENS_PER_NONZERO_BYTE",
    "TX_BASE_GAS",
    "VERSIONED_HASH_VERSION_KZG",
    "BlobSchedule",
    "blob_base_fee",
    "blob_gas_used_ratio",
    "blob_schedule",
    "calldata_tokens",
    "excess_blob_gas",
    "fake_exponential",
    "floor_data_gas",
    "initcode_gas",
    "intrinsic_gas",
    "next_blob_base_fee",
    "total_blob_gas",
    "validate_fee_caps",
    "validate_floor_data_gas",
    "validate_funds",
    "validate_initcode_size",
    "validate_intrinsic_gas",
    "validate_nonce",
    "validate_nonce_not_max",
]
