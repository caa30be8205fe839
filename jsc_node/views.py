"""Neutral views of chain data: what the execution side answers and the JSON-RPC layer formats.

This module is pure data: it imports nothing from py-evm, plyvel, libp2p or any jsc_node package
but ``errors``. The execution side (``jsc_node/state``) builds these views and implements the port
``jsc_node/rpc/ports.py`` names (``RpcBackend``); the RPC layer (``jsc_node/rpc``) formats them as
geth does and never sees a py-evm object.

Conventions for every view and every backend method:

- Integers are plain Python ``int`` in their natural unit: wei for value and prices, gas units for
  gas, seconds for timestamps. Never hex strings, never scaled.
- Byte strings are raw ``bytes``: addresses are 20 bytes, hashes and roots 32 bytes, the bloom
  256 bytes, the PoW nonce 8 bytes. The RPC layer hex-encodes them.
- ``None`` means "this field does not exist for this block/transaction" (e.g. ``base_fee_per_gas``
  before London); the RPC layer then leaves the JSON key out, as geth does. A field that exists but
  is empty is an empty tuple/bytes, never ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from jsc_node.errors import ExecutionFailed, LogQueryLimitExceeded

# --- block identifiers -------------------------------------------------------

BlockTag = Literal["latest", "earliest", "pending", "safe", "finalized"]
BLOCK_TAGS: frozenset[str] = frozenset({"latest", "earliest", "pending", "safe", "finalized"})


@dataclass(frozen=True, slots=True)
class BlockId:
    """Which block a request is about: exactly one of ``number``, ``hash`` or ``tag`` is set.

    Under QBFT every committed block is final, so ``safe`` and ``finalized`` mean ``latest``.
    ``pending`` means ``latest`` for block reads; for state reads it means "latest state plus this
    node's pool" where that matters (the nonce: wallets ask ``eth_getTransactionCount(a, "pending")``
    for the next nonce to use).
    """

    number: int | None = None
    """A block number (``0x...`` on the wire, or ``{"blockNumber": ...}`` from EIP-1898)."""
    hash: bytes | None = None
    """A 32-byte block hash (a bare 32-byte hex string, or ``{"blockHash": ...}`` from EIP-1898)."""
    tag: BlockTag | None = None
    """A named block."""
    require_canonical: bool = False
    """EIP-1898: with a hash, fail if that block is not on the canonical chain."""

    def __post_init__(self) -> None:
        chosen = sum(x is not None for x in (self.number, self.hash, self.tag))
        if chosen != 1:
            raise ValueError("BlockId needs exactly one of number, hash, tag")
        if self.number is not None and self.number < 0:
            raise ValueError("block number must be >= 0")
        if self.hash is not None and len(self.hash) != 32:
            raise ValueError("block hash must be 32 bytes")

    @classmethod
    def latest(cls) -> BlockId:
        return cls(tag="latest")

    @classmethod
    def pending(cls) -> BlockId:
        return cls(tag="pending")

    @classmethod
    def of_number(cls, number: int) -> BlockId:
        return cls(number=number)

    @classmethod
    def of_hash(cls, block_hash: bytes, require_canonical: bool = False) -> BlockId:
        return cls(hash=block_hash, require_canonical=require_canonical)


# --- transactions ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessListEntry:
    """One EIP-2930 access-list entry."""

    address: bytes
    """20 bytes."""
    storage_keys: tuple[bytes, ...]
    """32-byte storage slots."""


@dataclass(frozen=True, slots=True)
class AuthorizationView:
    """One EIP-7702 authorization tuple, as signed by the authority."""

    chain_id: int
    address: bytes
    """20 bytes: the code the authority delegates to."""
    nonce: int
    y_parity: int
    """0 or 1."""
    r: int
    s: int


@dataclass(frozen=True, slots=True)
class TxView:
    """A signed transaction of type 0 (legacy), 1 (EIP-2930), 2 (EIP-1559), 3 (EIP-4844) or 4 (EIP-7702).

    Fields a type does not have are ``None``. The JSON field set is chosen by ``type`` (geth's
    ``RPCTransaction``); a field that the type has must not be ``None``.
    """

    type: int
    """0, 1, 2, 3 or 4."""
    hash: bytes
    """32-byte transaction hash (keccak of the typed/RLP encoding)."""
    sender: bytes
    """20-byte recovered sender (``from`` on the wire)."""
    to: bytes | None
    """20-byte recipient; ``None`` for a contract creation."""
    nonce: int
    gas: int
    """Gas limit."""
    value: int
    """Wei."""
    input: bytes
    """Call data or init code."""
    gas_price: int
    """Wei. Legacy/2930: the signed gas price. 1559 and later: the *effective* price
    ``min(max_fee_per_gas, base_fee + max_priority_fee_per_gas)`` once mined, and
    ``max_fee_per_gas`` while pending (geth does the same)."""
    v: int
    """Legacy: 27/28, or ``chain_id * 2 + 35/36`` under EIP-155. Typed: the y-parity (0/1)."""
    r: int
    s: int
    chain_id: int | None = None
    """Typed: always set. Legacy: set only when EIP-155 protected (derived from ``v``)."""
    max_fee_per_gas: int | None = None
    """Types 2, 3, 4."""
    max_priority_fee_per_gas: int | None = None
    """Types 2, 3, 4."""
    access_list: tuple[AccessListEntry, ...] | None = None
    """Types 1, 2, 3, 4 (empty tuple when the list is empty)."""
    max_fee_per_blob_gas: int | None = None
    """Type 3."""
    blob_versioned_hashes: tuple[bytes, ...] | None = None
    """Type 3: 32-byte versioned hashes."""
    authorization_list: tuple[AuthorizationView, ...] | None = None
    """Type 4."""
    block_hash: bytes | None = None
    """``None`` while pending."""
    block_number: int | None = None
    """``None`` while pending."""
    block_timestamp: int | None = None
    """Seconds; ``None`` while pending."""
    transaction_index: int | None = None
    """Position in the block; ``None`` while pending."""

    @property
    def y_parity(self) -> int | None:
        """``yParity`` on the wire: typed transactions only (equals ``v``)."""
        return None if self.type == 0 else self.v


# --- receipts and logs -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogView:
    """One log as ``eth_getLogs`` and receipts show it."""

    address: bytes
    topics: tuple[bytes, ...]
    """0 to 4 topics, 32 bytes each."""
    data: bytes
    block_number: int
    block_hash: bytes
    block_timestamp: int
    transaction_hash: bytes
    transaction_index: int
    log_index: int
    """Index of the log in the *block* (not in the transaction)."""
    removed: bool = False
    """True only for logs of a block that was reorged away (never under QBFT)."""


@dataclass(frozen=True, slots=True)
class ReceiptView:
    """A transaction receipt with the lookup fields geth adds."""

    type: int
    transaction_hash: bytes
    transaction_index: int
    block_hash: bytes
    block_number: int
    sender: bytes
    """``from``."""
    to: bytes | None
    """``None`` for a contract creation."""
    cumulative_gas_used: int
    gas_used: int
    """Gas used by this transaction alone."""
    effective_gas_price: int
    """Wei actually paid per gas."""
    contract_address: bytes | None
    """Created contract, for a creation; else ``None``."""
    logs: tuple[LogView, ...]
    logs_bloom: bytes
    """256 bytes."""
    status: int | None = None
    """1 success, 0 failure (Byzantium and later). Exactly one of ``status``/``root`` is set."""
    root: bytes | None = None
    """Intermediate state root, pre-Byzantium receipts only."""
    blob_gas_used: int | None = None
    """Type-3 transactions only."""
    blob_gas_price: int | None = None
    """Type-3 transactions only: wei per blob gas."""


# --- blocks ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WithdrawalView:
    """An EIP-4895 withdrawal (never produced by QBFT, but imported chains may carry them)."""

    index: int
    validator_index: int
    address: bytes
    amount: int
    """Gwei, as in the block (not wei)."""


@dataclass(frozen=True, slots=True)
class BlockView:
    """A block: header fields, size, uncles and its transactions as hashes or full :class:`TxView`."""

    number: int
    hash: bytes
    parent_hash: bytes
    nonce: bytes
    """8 bytes (zero after the merge and under QBFT)."""
    mix_hash: bytes
    """32 bytes (``prevRandao`` after the merge; the QBFT mix digest under QBFT)."""
    sha3_uncles: bytes
    logs_bloom: bytes
    """256 bytes."""
    transactions_root: bytes
    state_root: bytes
    receipts_root: bytes
    miner: bytes
    """20 bytes: the coinbase (the proposer under QBFT)."""
    difficulty: int
    extra_data: bytes
    gas_limit: int
    gas_used: int
    timestamp: int
    """Seconds."""
    size: int
    """Bytes of the RLP-encoded block."""
    transactions: tuple[bytes, ...] | tuple[TxView, ...]
    """32-byte hashes when read with ``full_txs=False``, else full views in block order."""
    uncles: tuple[bytes, ...] = ()
    """Uncle (ommer) hashes."""
    base_fee_per_gas: int | None = None
    """London and later."""
    withdrawals_root: bytes | None = None
    """Shanghai and later."""
    withdrawals: tuple[WithdrawalView, ...] | None = None
    """Shanghai and later (empty tuple when there are none)."""
    blob_gas_used: int | None = None
    """Cancun and later."""
    excess_blob_gas: int | None = None
    """Cancun and later."""
    parent_beacon_block_root: bytes | None = None
    """Cancun and later."""
    requests_hash: bytes | None = None
    """Prague and later (EIP-7685)."""
    total_difficulty: int | None = None
    """Leave ``None``: geth stopped reporting it after the merge; set only to show it."""
    pending: bool = False
    """The ``pending`` block (not committed): ``hash``, ``nonce`` and ``miner`` print as null, as
    geth prints its pending block."""


# --- fees, sync, pool --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeeHistoryView:
    """``eth_feeHistory`` for blocks ``oldest_block .. oldest_block + len(gas_used_ratio) - 1``."""

    oldest_block: int
    base_fee_per_gas: tuple[int, ...]
    """One per block plus one: the base fee of the block after the newest (wei)."""
    gas_used_ratio: tuple[float, ...]
    """``gas_used / gas_limit`` per block."""
    reward: tuple[tuple[int, ...], ...] | None = None
    """Per block, the priority fee (wei) at each requested percentile, weighted by gas used;
    ``None`` when no percentiles were asked for. An empty block gives zeros."""
    base_fee_per_blob_gas: tuple[int, ...] | None = None
    """One per block plus one (zeros before Cancun)."""
    blob_gas_used_ratio: tuple[float, ...] | None = None
    """One per block (zeros before Cancun)."""


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What ``eth_syncing`` shows while the node is catching up."""

    starting_block: int
    current_block: int
    highest_block: int


@dataclass(frozen=True, slots=True)
class TxPoolContent:
    """Pool content by sender address (20 bytes) then nonce."""

    pending: Mapping[bytes, Mapping[int, TxView]]
    """Executable now (nonces without gaps from the account nonce)."""
    queued: Mapping[bytes, Mapping[int, TxView]]
    """Waiting for a nonce gap to fill."""


# --- events ------------------------------------------------------------------
# Published by the execution side after the fact (a block committed, txs became pending) and fanned
# out by ``jsc_node.rpc.subscriptions.EventHub`` to WebSocket subscriptions and HTTP filters.


@dataclass(frozen=True, slots=True)
class NewHeadEvent:
    """A block was committed and is the new head."""

    block: BlockView
    """Read with ``full_txs=False`` (``transactions`` are hashes)."""


@dataclass(frozen=True, slots=True)
class NewLogsEvent:
    """The logs of a newly committed block, in log-index order (empty list for a block without logs)."""

    logs: list[LogView]


@dataclass(frozen=True, slots=True)
class NewPendingTxsEvent:
    """Transactions that became executable in this node's pool (new, or promoted from queued)."""

    txs: list[TxView]
    """Pool views: block fields ``None``."""


@dataclass(frozen=True, slots=True)
class SyncStatusEvent:
    """The node started catching up with its peers (``status``), or stopped (``None``)."""

    status: SyncStatus | None


ChainEvent = NewHeadEvent | NewLogsEvent | NewPendingTxsEvent | SyncStatusEvent


# --- requests ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRequest:
    """The call object of ``eth_call`` / ``eth_estimateGas`` (geth's ``TransactionArgs``).

    Everything is optional; the backend fills defaults as geth does: ``sender`` zero address,
    ``gas`` the block gas limit capped by the node's RPC gas cap, prices zero (so no balance is
    needed), ``value`` 0, ``nonce`` the account's nonce. ``input`` is already reconciled from the
    wire's ``input``/``data`` pair.
    """

    sender: bytes | None = None
    """``from``."""
    to: bytes | None = None
    """``None``: contract creation."""
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    max_fee_per_blob_gas: int | None = None
    value: int | None = None
    input: bytes | None = None
    nonce: int | None = None
    chain_id: int | None = None
    type: int | None = None
    access_list: tuple[AccessListEntry, ...] | None = None
    blob_versioned_hashes: tuple[bytes, ...] | None = None
    authorization_list: tuple[AuthorizationView, ...] | None = None


@dataclass(frozen=True, slots=True)
class AccountOverride:
    """One account of an ``eth_call`` state override (geth's ``OverrideAccount``).

    ``state`` replaces the whole storage; ``state_diff`` changes only the listed slots; never both.
    """

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: Mapping[bytes, bytes] | None = None
    """32-byte slot -> 32-byte value; the account's storage becomes exactly this."""
    state_diff: Mapping[bytes, bytes] | None = None
    """32-byte slot -> 32-byte value, applied on top of the existing storage."""
    move_precompile_to: bytes | None = None
    """Move the precompile at this account to the given address (geth ``movePrecompileToAddress``)."""


StateOverride = Mapping[bytes, AccountOverride]
"""20-byte address -> override, applied to a scratch copy of the state for one call."""


@dataclass(frozen=True, slots=True)
class LogFilter:
    """An ``eth_getLogs`` query, already resolved to a block range within the chain."""

    from_block: int
    to_block: int
    """Inclusive; ``from_block <= to_block <= head``."""
    addresses: tuple[bytes, ...] = ()
    """Match any of these emitters; empty matches all."""
    topics: tuple[tuple[bytes, ...] | None, ...] = ()
    """Per position: ``None`` matches anything, else any of the listed topics. Up to 4 positions;
    a log with fewer topics than positions given does not match."""


# --- debug, proofs, tracing, payload building ---------------------------------


@dataclass(frozen=True, slots=True)
class TraceConfig:
    """geth's ``TraceConfig`` (``debug_trace*``): the struct logger's switches, or a named tracer."""

    tracer: str | None = None
    """``None``: the struct logger (opcode steps); ``"callTracer"``: the call tree;
    ``"prestateTracer"``: the accounts a transaction touches."""
    disable_stack: bool = False
    disable_storage: bool = False
    enable_memory: bool = False
    enable_return_data: bool = False
    only_top_call: bool = False
    """callTracer: leave out sub-calls."""
    with_log: bool = False
    """callTracer: attach each frame's logs."""
    diff_mode: bool = False
    """prestateTracer: ``{"pre", "post"}`` of what changed instead of the touched accounts."""
    disable_code: bool = False
    """prestateTracer: leave code out (the code hash stays)."""
    prestate_disable_storage: bool = False
    """prestateTracer's own ``disableStorage`` (``tracerConfig``; the struct logger's is apart)."""
    include_empty: bool = False
    """prestateTracer: keep accounts that were empty before the transaction."""


@dataclass(frozen=True, slots=True)
class StructLogView:
    """One executed opcode, as the state before it ran (geth ``logger.StructLog``)."""

    pc: int
    op: str
    """Mnemonic, e.g. ``"PUSH1"``, ``"KECCAK256"``."""
    gas: int
    """Gas left before the opcode."""
    gas_cost: int
    """Gas the opcode took (for calls and creates: including the gas handed to the callee)."""
    depth: int
    """1 for the transaction's own frame."""
    stack: tuple[int, ...] | None
    """Bottom first; ``None`` with ``disable_stack``."""
    memory: bytes | None = None
    """Only with ``enable_memory``."""
    storage: Mapping[bytes, bytes] | None = None
    """On SLOAD/SSTORE: the slots of this contract seen so far (32-byte keys and values)."""
    return_data: bytes | None = None
    """Only with ``enable_return_data``: the last call's return data."""
    refund: int = 0
    """The refund counter."""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StructTraceView:
    """geth's struct logger result (``ExecutionResult``)."""

    gas: int
    """Gas used by the transaction (as in its receipt)."""
    failed: bool
    return_value: bytes
    """The output; the revert data when reverted."""
    struct_logs: tuple[StructLogView, ...]


@dataclass(frozen=True, slots=True)
class CallLogView:
    """A log emitted in a call frame (callTracer ``withLog``)."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    position: int
    """Index among the frame's sub-calls before which it was emitted."""


@dataclass(frozen=True, slots=True)
class CallFrameView:
    """geth's callTracer frame."""

    type: str
    """``CALL``, ``STATICCALL``, ``DELEGATECALL``, ``CALLCODE``, ``CREATE``, ``CREATE2``, ``SELFDESTRUCT``."""
    sender: bytes
    to: bytes | None
    """``None`` for a failed create."""
    value: int | None
    """``None`` for STATICCALL (geth leaves the key out)."""
    gas: int
    gas_used: int
    input: bytes
    output: bytes | None = None
    error: str | None = None
    revert_reason: str | None = None
    calls: tuple[CallFrameView, ...] = ()
    logs: tuple[CallLogView, ...] | None = None


@dataclass(frozen=True, slots=True)
class PrestateAccountView:
    """One account in a prestateTracer result (geth eth/tracers/native/prestate.go ``account``);
    ``None`` members are left out of the JSON."""

    balance: int | None
    code: bytes | None
    """``None``: no code, or left out; ``b""`` (post only): the code was cleared."""
    code_hash: bytes | None
    nonce: int
    """Left out of the JSON when 0."""
    storage: Mapping[bytes, bytes] | None
    """32-byte slot -> 32-byte value; left out when empty or disabled."""


@dataclass(frozen=True, slots=True)
class PrestateTraceView:
    """geth's prestateTracer result: the accounts before the transaction, and with ``diffMode``
    what changed after it."""

    pre: Mapping[bytes, PrestateAccountView]
    post: Mapping[bytes, PrestateAccountView] | None
    """``None`` unless ``diffMode``."""


TraceView = StructTraceView | CallFrameView | PrestateTraceView


@dataclass(frozen=True, slots=True)
class BlockTraceEntry:
    """One transaction's trace in ``debug_traceBlockBy*``."""

    tx_hash: bytes
    result: TraceView


@dataclass(frozen=True, slots=True)
class StorageProofView:
    key: bytes
    """The 32-byte slot."""
    value: int
    proof: tuple[bytes, ...]
    """RLP trie nodes from the storage root down (empty when the account has no storage)."""


@dataclass(frozen=True, slots=True)
class AccountProofView:
    """EIP-1186 ``eth_getProof``."""

    address: bytes
    account_proof: tuple[bytes, ...]
    """RLP trie nodes from the state root down to the account (or to where it would be)."""
    balance: int
    code_hash: bytes
    nonce: int
    storage_hash: bytes
    storage_proof: tuple[StorageProofView, ...]


@dataclass(frozen=True, slots=True)
class AccessListResultView:
    """``eth_createAccessList``."""

    access_list: tuple[AccessListEntry, ...]
    gas_used: int
    error: str | None = None
    """The execution error with the final list (e.g. ``"execution reverted"``)."""


@dataclass(frozen=True, slots=True)
class PayloadAttributes:
    """Engine API ``PayloadAttributesV3`` (``testing_buildBlockV1``)."""

    timestamp: int
    prev_randao: bytes
    fee_recipient: bytes
    withdrawals: tuple[WithdrawalView, ...] | None = None
    parent_beacon_block_root: bytes | None = None


@dataclass(frozen=True, slots=True)
class BuiltPayloadView:
    """A built, uncommitted block as an Engine API ``ExecutionPayloadV3`` plus its envelope."""

    parent_hash: bytes
    fee_recipient: bytes
    state_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    prev_randao: bytes
    block_number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes
    base_fee_per_gas: int
    block_hash: bytes
    transactions: tuple[bytes, ...]
    """Canonical encodings."""
    withdrawals: tuple[WithdrawalView, ...] | None
    blob_gas_used: int | None
    excess_blob_gas: int | None
    block_value: int
    """Priority fees paid to the fee recipient (wei)."""
    execution_requests: tuple[bytes, ...] | None
    """EIP-7685 requests (type byte + data), Prague and later."""


@dataclass(frozen=True, slots=True)
class BlobScheduleView:
    target: int
    max: int
    base_fee_update_fraction: int


@dataclass(frozen=True, slots=True)
class ForkConfigView:
    """One fork's entry in EIP-7910 ``eth_config``."""

    activation_time: int
    blob_schedule: BlobScheduleView | None
    chain_id: int
    fork_id: bytes
    """EIP-2124 fork hash (4 bytes)."""
    precompiles: Mapping[str, bytes]
    system_contracts: Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class EthConfigView:
    current: ForkConfigView
    next: ForkConfigView | None
    last: ForkConfigView | None


# --- jsc_* (the validator registry, contracts/ValidatorRegistry.sol) ----------------


@dataclass(frozen=True, slots=True)
class AttestationView:
    """One validator's attestation as the registry holds it at some block."""

    address: bytes
    status: str
    """``"Pending"``, ``"Valid"`` or ``"Revoked"`` (the contract's Status names)."""
    round: int
    entity_name: str
    corporate_number: str
    """13 digits, check digit first (leading zeros kept)."""
    jurisdiction: str
    region: str
    document_hash: bytes
    submitted_at: int
    approved_at: int
    approved_by: tuple[bytes, ...]
    revoked_at: int
    revoked_by: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class GovernanceEventView:
    """One registry event, decoded with the contract's ABI."""

    event: str
    args: Mapping[str, object]
    """By ABI name: addresses as 20 bytes, uint as int, bytes32 as 32 bytes, strings as str,
    address[] as a tuple of 20-byte addresses."""
    log: LogView


# --- eth_simulateV1 ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimBlockOverrides:
    """``blockOverrides`` of one simulated block (geth ``BlockOverrides``); ``None`` = default."""

    number: int | None = None
    time: int | None = None
    gas_limit: int | None = None
    fee_recipient: bytes | None = None
    prev_randao: bytes | None = None
    """32 bytes (the header's mixHash)."""
    base_fee_per_gas: int | None = None
    blob_base_fee: int | None = None
    withdrawals: tuple[WithdrawalView, ...] | None = None


@dataclass(frozen=True, slots=True)
class SimBlockCalls:
    """One entry of ``blockStateCalls``: overrides applied before the block, then its calls."""

    block_overrides: SimBlockOverrides | None = None
    state_overrides: StateOverride | None = None
    calls: tuple[CallRequest, ...] = ()


@dataclass(frozen=True, slots=True)
class SimulateRequest:
    """The first parameter of ``eth_simulateV1``."""

    blocks: tuple[SimBlockCalls, ...]
    trace_transfers: bool = False
    """Report ETH transfers as ERC-20-style ``Transfer`` logs from 0xeeee...eeee."""
    validation: bool = False
    """Nonce and base-fee rules as in a real block (off: geth's relaxed call rules)."""
    return_full_transactions: bool = False


@dataclass(frozen=True, slots=True)
class SimCallResult:
    """The outcome of one simulated call. ``error`` is set when ``status`` is 0:
    an ``ExecutionReverted`` (carrying the revert data) or an ``ExecutionFailed``."""

    return_data: bytes
    logs: tuple[LogView, ...]
    gas_used: int
    max_used_gas: int
    """Gas used before refunds (what the call needs as its gas limit)."""
    status: int
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class SimulatedBlock:
    block: BlockView
    calls: tuple[SimCallResult, ...]


__all__ = [
    "BLOCK_TAGS",
    "AccessListEntry",
    "AccessListResultView",
    "AccountOverride",
    "AccountProofView",
    "AuthorizationView",
    "BlobScheduleView",
    "BlockId",
    "BlockTag",
    "BlockTraceEntry",
    "BlockView",
    "BuiltPayloadView",
    "CallFrameView",
    "CallLogView",
    "CallRequest",
    "ChainEvent",
    "EthConfigView",
    "ExecutionFailed",
    "FeeHistoryView",
    "ForkConfigView",
    "LogFilter",
    "LogQueryLimitExceeded",
    "LogView",
    "NewHeadEvent",
    "NewLogsEvent",
    "NewPendingTxsEvent",
    "PayloadAttributes",
    "PrestateAccountView",
    "PrestateTraceView",
    "ReceiptView",
    "SimBlockCalls",
    "SimBlockOverrides",
    "SimCallResult",
    "SimulateRequest",
    "SimulatedBlock",
    "StateOverride",
    "StorageProofView",
    "StructLogView",
    "StructTraceView",
    "SyncStatus",
    "TraceConfig",
    "TraceView",
    "TxPoolContent",
    "TxView",
    "WithdrawalView",
]
