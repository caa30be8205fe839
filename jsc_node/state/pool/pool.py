"""The transaction pool of the execution process: pending/queued by sender and nonce.

Rules follow geth's legacy pool (core/txpool/legacypool) and its validation
(core/txpool/validation.go); refusal messages use geth's words (core/error.go,
core/txpool/errors.go) because wallets and tooling match on them, with geth's
``": detail"`` suffix where geth adds one.

Model
- A sender's txs live in one nonce-indexed map. Those with contiguous nonces from the
  account nonce are *pending* (executable); the rest are *queued* (a gap before them).
  Promotion is implicit: when a gap fills, or the account nonce advances, the contiguous
  run grows and the newly pending txs are announced to listeners.
- The sender is recovered once per tx, at admission (through ``state/evm/patches/senders.py``, whose
  cache py-evm's signature check then hits when the block is built), and kept on
  ``PooledTx.sender``; py-evm's cached ``tx.sender`` is primed with it as well.
- Durability: every accepted tx is appended to the journal and fsynced before ``add``
  (or ``add_batch``, ``add_async``) returns, so an acknowledged tx survives kill -9;
  ``load_journal`` re-adds them at start and rewrites the file compactly.
- Single-threaded (asyncio execution process): pool state is touched only on the event
  loop. The one exception is ``add_async``'s group commit, which runs append + fsync in a
  worker thread (journal file only, under ``_journal_lock``) so the loop never waits on
  the disk and concurrent submitters share one fsync. The disk's fsync rate otherwise caps
  ``add`` (measured here: ~5,000/s idle, ~250/s with other processes writing).

Head updates (``on_new_head``) re-read nonce and balance *eagerly* for senders touched by
the block (senders of mined pool txs plus the ``senders`` the caller passes), and for every
sender each ``FULL_RECHECK_INTERVAL_BLOCKS`` blocks (balances can also fall without the
account sending anything, e.g. a delegated EOA under EIP-7702). In between, a stale
balance is harmless: the block builder executes each tx and drops a failing sender
(``PendingTxIterator.skip_sender``). Queued txs have no lifetime limit (geth: 3 h); they
leave when mined past, unaffordable, or evicted.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from jsc_node.errors import InvalidTransaction, StorageError
from jsc_node.state.evm.patches.senders import recover_sender

logger = logging.getLogger(__name__)

# --- protocol constants --------------------------------------------------------------

LEGACY_TX_TYPE = 0
ACCESS_LIST_TX_TYPE = 1  # EIP-2930
DYNAMIC_FEE_TX_TYPE = 2  # EIP-1559
BLOB_TX_TYPE = 3  # EIP-4844: pooled in canonical form; the RPC checks and drops the sidecar
SET_CODE_TX_TYPE = 4  # EIP-7702
SUPPORTED_TYPED_TX_TYPES = frozenset(
    {ACCESS_LIST_TX_TYPE, DYNAMIC_FEE_TX_TYPE, BLOB_TX_TYPE, SET_CODE_TX_TYPE}
)
GAS_PER_BLOB = 2**17  # EIP-4844
MAX_BLOBS_PER_TX = 9  # EIP-7691 (Prague): a block's maximum, which bounds one tx
VERSIONED_HASH_VERSION_KZG = 0x01

UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2  # EIP-2: s above this is malleable, refused

EIP155_V_OFFSET = 35  # EIP-155: v = chain_id * 2 + 35 + y_parity
UNPROTECTED_V_VALUES = (27, 28)  # pre-EIP-155 legacy signatures

MAX_INITCODE_SIZE_BYTES = 2 * 24_576  # EIP-3860
INITCODE_WORD_GAS = 2  # EIP-3860, charged per 32-byte word; geth counts it as intrinsic
TX_BASE_GAS = 21_000
FLOOR_GAS_PER_TOKEN = 10  # EIP-7623 (Prague) calldata floor
NONZERO_BYTE_TOKENS = 4  # EIP-7623: a non-zero calldata byte is 4 tokens, a zero byte 1

# --- pool constants ----------------------------------------------------------------

FULL_RECHECK_INTERVAL_BLOCKS = 32
JOURNAL_RECORD_HEADER = struct.Struct(">I")  # record = 4-byte big-endian length + raw tx
JOURNAL_MAX_RECORD_BYTES = 16 * 1024 * 1024  # a longer length prefix means a corrupt tail
JOURNAL_COMPACT_MIN_RECORDS = 1024  # rewrite when garbage records exceed max(this, live txs)
EVICTION_HEAP_SLACK = 1024  # stale eviction entries tolerated beyond 2 per sender


# --- ports and value types -------------------------------------------------------------


class AccountReader(Protocol):
    """Account state at the current head, as the pool needs it."""

    def nonce(self, address: bytes) -> int: ...

    def balance(self, address: bytes) -> int: ...


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
    """gas * fee_cap + value: the most the tx can take from the sender."""
    seq: int
    """Arrival order in this process; breaks price ties (earlier first)."""

    def effective_tip(self, base_fee: int | None) -> int:
        """Tip per gas the proposer gets at ``base_fee``; negative if the fee cap is under it."""
        if base_fee is None:
            return self.tip_cap
        return min(self.tip_cap, self.fee_cap - base_fee)


NewPendingListener = Callable[[Sequence[PooledTx]], None]


# --- decoding and stateless validation ------------------------------------------------


def decode_transaction(raw: bytes) -> Any:
    """Typed envelope (EIP-2718) or legacy RLP to a py-evm tx; InvalidTransaction if malformed."""
    if not raw:
        raise InvalidTransaction("typed transaction too short")
    first = raw[0]
    if first <= 0x7F:  # EIP-2718: a type byte, not an RLP list prefix
        if first not in SUPPORTED_TYPED_TX_TYPES:
            raise InvalidTransaction("transaction type not supported")
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


def _intrinsic_gas(tx: Any, is_create: bool) -> int:
    # py-evm's intrinsic gas (base, calldata, create, access list, EIP-7702 authorizations)
    # plus EIP-3860 initcode words, which geth counts as intrinsic (py-evm charges them later).
    gas = int(tx.intrinsic_gas)
    if is_create:
        gas += INITCODE_WORD_GAS * ((len(tx.data) + 31) // 32)
    return gas


def _floor_data_gas(data: bytes) -> int:
    zeros = data.count(0)
    tokens = zeros + (len(data) - zeros) * NONZERO_BYTE_TOKENS
    return TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * tokens


def _uint_too_long(value: int, limit: int, kind: str) -> None:
    if value > limit:
        raise InvalidTransaction(f"rlp: input string too long for {kind}")


# --- per-sender state --------------------------------------------------------------------


class _SenderTxs:
    """One sender's txs; pending = the contiguous run [nonce, pending_end)."""

    __slots__ = ("balance", "nonce", "pending_end", "txs")

    def __init__(self, nonce: int, balance: int) -> None:
        self.nonce = nonce
        self.balance = balance
        self.txs: dict[int, PooledTx] = {}
        self.pending_end = nonce

    @property
    def pending_count(self) -> int:
        return self.pending_end - self.nonce

    def pending(self) -> list[PooledTx]:
        return [self.txs[n] for n in range(self.nonce, self.pending_end)]

    def queued(self) -> list[PooledTx]:
        return [self.txs[n] for n in sorted(self.txs) if n >= self.pending_end]

    def pending_cost(self) -> int:
        return sum(self.txs[n].cost for n in range(self.nonce, self.pending_end))


# --- the block builder's view ------------------------------------------------------------


class PendingTxIterator:
    """Executable txs by effective tip, each sender's in nonce order (geth's
    ``NewTransactionsByPriceAndNonce``): a heap over every sender's next tx.

    After a tx fails in the block being built, call ``skip_sender(tx.sender)``: that
    sender's later nonces are not offered again in this iteration. The iterator works on
    a snapshot, so the pool may change while a block is built.
    """

    def __init__(self, runs: dict[bytes, list[PooledTx]], base_fee: int | None) -> None:
        self._runs = runs
        self._base_fee = base_fee
        self._next_index: dict[bytes, int] = {}
        self._skipped: set[bytes] = set()
        self._heap: list[tuple[int, int, bytes]] = []
        for sender, run in runs.items():
            self._push(sender, run, 0)

    def _push(self, sender: bytes, run: list[PooledTx], index: int) -> None:
        if index >= len(run):
            return
        ptx = run[index]
        if self._base_fee is not None and ptx.fee_cap < self._base_fee:
            return  # EIP-1559: not includable now, and neither are the sender's later nonces
        self._next_index[sender] = index
        heapq.heappush(self._heap, (-ptx.effective_tip(self._base_fee), ptx.seq, sender))

    def __iter__(self) -> PendingTxIterator:
        return self

    def __next__(self) -> PooledTx:
        while self._heap:
            _, _, sender = heapq.heappop(self._heap)
            if sender in self._skipped:
                continue
            run = self._runs[sender]
            index = self._next_index[sender]
            self._push(sender, run, index + 1)
            return run[index]
        raise StopIteration

    def skip_sender(self, sender: bytes) -> None:
        """Offer no more txs from ``sender`` (its last one failed or did not fit)."""
        self._skipped.add(sender)


# --- the pool --------------------------------------------------------------------------


class TxPool:
    """Pending/queued txs by sender and nonce, with replacement, limits and a journal.

    Call ``set_head`` before ``load_journal`` and ``add`` so gas-limit and base-fee rules
    apply; until then they are not checked.
    """

    def __init__(
        self,
        chain_id: int,
        reader: AccountReader,
        limits: PoolLimits | None = None,
        journal_path: Path | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.limits = limits if limits is not None else PoolLimits()
        self._reader = reader
        self._journal_path = journal_path
        self._journal_file: BinaryIO | None = None
        self._journal_records = 0
        # The journal file is written from the event loop (add, compaction) and from the
        # group-commit worker thread (add_async); this lock orders those writes.
        self._journal_lock = threading.RLock()
        self._journal_waiters: list[tuple[PooledTx, list[PooledTx], asyncio.Future[None]]] = []
        self._journal_flusher: asyncio.Task[None] | None = None
        self._by_hash: dict[bytes, PooledTx] = {}
        self._senders: dict[bytes, _SenderTxs] = {}
        self._pending_total = 0
        self._seq = itertools.count()
        self._block_gas_limit: int | None = None
        self._base_fee: int | None = None
        self._blocks_since_full_recheck = 0
        self._listeners: list[NewPendingListener] = []
        # Eviction candidates: each sender's highest-nonce tx by (price, -seq), cheapest
        # first. Entries go stale when that tx leaves or stops being the top; they are
        # skipped when met and the heap is rebuilt when it grows too stale.
        self._evict_heap: list[tuple[tuple[int, int, int], int, bytes]] = []

    # --- head ---------------------------------------------------------------------------

    def set_head(self, block_gas_limit: int, base_fee: int | None) -> None:
        self._block_gas_limit = block_gas_limit
        if base_fee != self._base_fee:
            self._base_fee = base_fee
            self._rebuild_eviction_heap()  # eviction prices are effective tips at the base fee

    def on_new_head(
        self,
        block_gas_limit: int,
        base_fee: int | None,
        mined_tx_hashes: Iterable[bytes],
        senders: Iterable[bytes] = (),
    ) -> None:
        """A block became head: drop mined and stale txs, promote queued ones.

        ``senders`` are the senders of every tx in the block (the executor knows them):
        a sender's nonce can move by a tx this pool never saw.
        """
        gas_limit_fell = self._block_gas_limit is not None and block_gas_limit < self._block_gas_limit
        self.set_head(block_gas_limit, base_fee)
        mined = [ptx for h in mined_tx_hashes if (ptx := self._by_hash.get(h)) is not None]
        touched = {ptx.sender for ptx in mined}
        touched.update(senders)
        self._blocks_since_full_recheck += 1
        if gas_limit_fell or self._blocks_since_full_recheck >= FULL_RECHECK_INTERVAL_BLOCKS:
            touched = set(self._senders)
            self._blocks_since_full_recheck = 0
        promoted: list[PooledTx] = []
        for sender in touched:
            acct = self._senders.get(sender)
            if acct is not None:
                nonce = self._reader.nonce(sender)
                balance = self._reader.balance(sender)
                promoted += self._revalidate_sender(sender, acct, nonce, balance)
        # A mined tx is below its sender's new nonce and already gone, unless the reader
        # lags the block; drop any left over regardless.
        for ptx in mined:
            if self._by_hash.get(ptx.hash) is ptx:
                self._remove(ptx)
        promoted = [ptx for ptx in promoted if self._by_hash.get(ptx.hash) is ptx]
        if self._journal_path is not None and self._journal_records > max(
            JOURNAL_COMPACT_MIN_RECORDS, 2 * len(self._by_hash)
        ):
            self._rewrite_journal()
        self._notify(promoted)

    # --- admission --------------------------------------------------------------------

    def add(self, raw: bytes) -> bytes:
        """Validate and pool one raw tx; journaled and fsynced before returning its hash."""
        ptx, promoted = self._admit(raw)
        self._journal_append_or_rollback([ptx])
        self._notify(promoted)
        return ptx.hash

    async def add_async(self, raw: bytes) -> bytes:
        """``add`` for the event loop, with group commit: concurrent callers share one
        fsync, which runs in a worker thread so the loop keeps serving meanwhile.

        Returns once the tx is journaled and fsynced (StorageError if that failed, and the
        tx is then out of the pool again). Validation runs on the loop, at once, so
        refusals are immediate and admission order is call order.
        """
        ptx, promoted = self._admit(raw)
        if self._journal_path is None:
            self._notify(promoted)
            return ptx.hash
        loop = asyncio.get_running_loop()
        durable: asyncio.Future[None] = loop.create_future()
        self._journal_waiters.append((ptx, promoted, durable))
        if self._journal_flusher is None or self._journal_flusher.done():
            self._journal_flusher = loop.create_task(self._flush_journal_waiters())
        await durable
        return ptx.hash

    async def _flush_journal_waiters(self) -> None:
        while self._journal_waiters:
            batch, self._journal_waiters = self._journal_waiters, []
            payload = _encode_journal_records(ptx for ptx, _, _ in batch)
            try:
                await asyncio.to_thread(self._write_journal, payload)
            except OSError as exc:
                self._close_journal()
                for ptx, _, durable in batch:
                    if self._by_hash.get(ptx.hash) is ptx:
                        self._remove(ptx)
                    if not durable.done():
                        durable.set_exception(
                            StorageError(f"cannot append to tx journal {self._journal_path}: {exc}")
                        )
                continue
            self._journal_records += len(batch)
            self._notify([p for _, newly, _ in batch for p in newly if self._by_hash.get(p.hash) is p])
            for _, _, durable in batch:
                if not durable.done():  # the caller may have gone away (cancelled)
                    durable.set_result(None)

    def add_batch(self, raws: Iterable[bytes]) -> list[bytes | InvalidTransaction]:
        """Like ``add`` for many txs (e.g. a gossip batch) with one fsync for all of them.

        Returns, per input, the tx hash or the refusal.
        """
        results: list[bytes | InvalidTransaction] = []
        accepted: list[PooledTx] = []
        promoted: list[PooledTx] = []
        for raw in raws:
            try:
                ptx, newly = self._admit(raw)
            except InvalidTransaction as exc:
                results.append(exc)
                continue
            accepted.append(ptx)
            promoted += newly
            results.append(ptx.hash)
        self._journal_append_or_rollback(accepted)
        self._notify([p for p in promoted if self._by_hash.get(p.hash) is p])
        return results

    def _admit(self, raw: bytes) -> tuple[PooledTx, list[PooledTx]]:
        """Validate ``raw`` and insert it; returns it and the txs it made pending.

        Every refusal is raised before the pool changes, except that a sender whose account
        moved since the last head update is brought up to date first.
        """
        limits = self.limits
        if len(raw) > limits.max_tx_bytes:
            raise InvalidTransaction(
                f"oversized data: transaction size {len(raw)}, limit {limits.max_tx_bytes}"
            )
        tx_hash = keccak(raw)
        if tx_hash in self._by_hash:
            raise InvalidTransaction("already known")
        tx = decode_transaction(raw)
        ptx = self._validate_stateless(raw, tx_hash, tx)
        sender = ptx.sender

        # Stateful checks (geth's ValidateTransactionWithState), against a fresh account read.
        acct = self._senders.get(sender)
        nonce = self._reader.nonce(sender)
        balance = self._reader.balance(sender)
        if acct is not None and (nonce != acct.nonce or balance != acct.balance):
            # The head moved without on_new_head naming this sender: catch up first.
            self._notify(self._revalidate_sender(sender, acct, nonce, balance))
            acct = self._senders.get(sender)
        if acct is None:
            acct = _SenderTxs(nonce, balance)
        if ptx.nonce < acct.nonce:
            raise InvalidTransaction(f"nonce too low: next nonce {acct.nonce}, tx nonce {ptx.nonce}")
        if ptx.nonce >= acct.pending_end + limits.max_per_sender:
            # Executable (gap-free) txs are bounded only by the pool's size, as geth lets a
            # sender exceed its account slots while the pool has room: deploy scripts and load
            # generators stream hundreds of nonces. A gap is bounded by max_per_sender past
            # the executable run, so queued txs that could never fill it are refused.
            raise InvalidTransaction(
                f"nonce too high: tx nonce {ptx.nonce}, gapped nonce {acct.pending_end + limits.max_per_sender}"
            )
        if acct.balance < ptx.cost:
            raise InvalidTransaction(
                f"insufficient funds for gas * price + value: balance {acct.balance}, "
                f"tx cost {ptx.cost}, overshot {ptx.cost - acct.balance}"
            )
        old = acct.txs.get(ptx.nonce)
        spent = acct.pending_cost()
        if old is not None and ptx.nonce < acct.pending_end:
            need = spent - old.cost + ptx.cost
            if acct.balance < need:
                raise InvalidTransaction(
                    f"insufficient funds for gas * price + value: balance {acct.balance}, "
                    f"queued cost {spent}, tx bumped {ptx.cost - old.cost}, overshot {need - acct.balance}"
                )
        elif acct.balance < spent + ptx.cost:
            raise InvalidTransaction(
                f"insufficient funds for gas * price + value: balance {acct.balance}, "
                f"queued cost {spent}, tx cost {ptx.cost}, overshot {spent + ptx.cost - acct.balance}"
            )

        if old is not None:
            self._validate_replacement(old, ptx)
            self._replace(acct, old, ptx)
            self._push_eviction_candidate(acct)
            return ptx, [ptx] if ptx.nonce < acct.pending_end else []

        # No per-sender eviction is needed: the nonce window above holds a sender to
        # max_per_sender txs (a full window leaves only replacements).
        if len(self._by_hash) >= limits.max_size:
            victim = self._pick_pool_victim(ptx, queued=ptx.nonce > acct.pending_end)
            logger.debug("evicting tx %s to admit %s", victim.hash.hex(), tx_hash.hex())
            self._remove(victim)
        if sender not in self._senders:
            self._senders[sender] = acct
        acct.txs[ptx.nonce] = ptx
        self._by_hash[tx_hash] = ptx
        self._push_eviction_candidate(acct)
        return ptx, self._refresh_pending(acct)

    def _validate_stateless(self, raw: bytes, tx_hash: bytes, tx: Any) -> PooledTx:
        """Geth's ValidateTransaction: fields, chain id, fees, gas, signature. Returns the
        PooledTx with the recovered sender."""
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
                raise InvalidTransaction("only replay-protected (EIP-155) transactions allowed over RPC")
            if v < EIP155_V_OFFSET:
                raise InvalidTransaction("invalid sender: invalid transaction v, r, s values")
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
                f"max initcode size exceeded: code size {len(data)}, limit {MAX_INITCODE_SIZE_BYTES}"
            )
        if self._block_gas_limit is not None and gas > self._block_gas_limit:
            raise InvalidTransaction("exceeds block gas limit")
        if fee_cap > UINT256_MAX:
            raise InvalidTransaction("max fee per gas higher than 2^256-1")
        if tip_cap > UINT256_MAX:
            raise InvalidTransaction("max priority fee per gas higher than 2^256-1")
        if fee_cap < tip_cap:
            raise InvalidTransaction("max priority fee per gas higher than max fee per gas")
        if tx_chain_id != self.chain_id:
            raise InvalidTransaction(
                f"invalid sender: invalid chain id for signer: have {tx_chain_id} want {self.chain_id}"
            )
        r, s = int(tx.r), int(tx.s)
        if y_parity not in (0, 1) or not (0 < r < SECP256K1_N) or not (0 < s <= SECP256K1_HALF_N):
            raise InvalidTransaction("invalid sender: invalid transaction v, r, s values")
        if nonce == UINT64_MAX:  # EIP-2681
            raise InvalidTransaction("nonce has max value")
        intrinsic = _intrinsic_gas(tx, is_create)
        if gas < intrinsic:
            raise InvalidTransaction(f"intrinsic gas too low: gas {gas}, minimum needed {intrinsic}")
        floor = _floor_data_gas(data)
        if gas < floor:
            raise InvalidTransaction(
                f"insufficient gas for floor data gas cost: gas {gas}, minimum needed {floor}"
            )
        if tip_cap < self.limits.min_gas_price:
            raise InvalidTransaction(
                f"transaction underpriced: gas tip cap {tip_cap}, minimum needed {self.limits.min_gas_price}"
            )
        try:
            sender = recover_sender(tx, tx_hash)
        except (BadSignature, ValidationError, ValueError) as exc:
            raise InvalidTransaction(f"invalid sender: {_first_line(exc)}") from exc
        # py-evm's `sender` is a cached_property: fill its cache so nobody recovers again.
        tx.__dict__["sender"] = sender
        if self.limits.reject_below_base_fee and self._base_fee is not None and fee_cap < self._base_fee:
            raise InvalidTransaction(
                f"max fee per gas less than block base fee: address 0x{sender.hex()}, "
                f"maxFeePerGas: {fee_cap}, baseFee: {self._base_fee}"
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
            seq=next(self._seq),
        )

    def _validate_replacement(self, old: PooledTx, new: PooledTx) -> None:
        # geth legacypool list.Add: both fee cap and tip must rise, each by price_bump%.
        bump = 100 + self.limits.price_bump_percent
        if (
            new.fee_cap <= old.fee_cap
            or new.tip_cap <= old.tip_cap
            or new.fee_cap < old.fee_cap * bump // 100
            or new.tip_cap < old.tip_cap * bump // 100
        ):
            raise InvalidTransaction("replacement transaction underpriced")

    def _price_key(self, ptx: PooledTx) -> tuple[int, int, int]:
        # geth priceHeap.cmp: effective tip at the current base fee, then fee cap, then tip.
        return (ptx.effective_tip(self._base_fee), ptx.fee_cap, ptx.tip_cap)

    def _pick_pool_victim(self, new: PooledTx, queued: bool) -> PooledTx:
        """The tx to evict so ``new`` fits a full pool, or InvalidTransaction.

        Candidates are each other sender's highest nonce (evicting it leaves no gap); the
        cheapest goes, if ``new`` pays more. As in geth, a queued newcomer never evicts a
        pending tx ("future transaction tries to replace pending").
        """
        heap = self._evict_heap
        own: list[tuple[tuple[int, int, int], int, bytes]] = []
        victim: PooledTx | None = None
        while heap:
            entry = heap[0]
            ptx = self._by_hash.get(entry[2])
            if ptx is None or not self._is_top(ptx):
                heapq.heappop(heap)  # stale
            elif ptx.sender == new.sender:
                own.append(heapq.heappop(heap))  # evicting its own txs would not help it
            else:
                victim = ptx
                break
        for entry in own:
            heapq.heappush(heap, entry)
        if victim is None:
            raise InvalidTransaction("txpool is full")
        if self._price_key(victim) >= self._price_key(new):
            raise InvalidTransaction("transaction underpriced")
        if queued and victim.nonce < self._senders[victim.sender].pending_end:
            raise InvalidTransaction("future transaction tries to replace pending")
        return victim

    def _is_top(self, ptx: PooledTx) -> bool:
        acct = self._senders.get(ptx.sender)
        return acct is not None and acct.txs.get(ptx.nonce) is ptx and max(acct.txs) == ptx.nonce

    def _push_eviction_candidate(self, acct: _SenderTxs) -> None:
        if not acct.txs:
            return
        top = acct.txs[max(acct.txs)]
        heapq.heappush(self._evict_heap, (self._price_key(top), -top.seq, top.hash))
        if len(self._evict_heap) > 2 * len(self._senders) + EVICTION_HEAP_SLACK:
            self._rebuild_eviction_heap()

    def _rebuild_eviction_heap(self) -> None:
        heap = []
        for acct in self._senders.values():
            top = acct.txs[max(acct.txs)]
            heap.append((self._price_key(top), -top.seq, top.hash))
        heapq.heapify(heap)
        self._evict_heap = heap

    # --- internal state changes ------------------------------------------------------

    def _refresh_pending(self, acct: _SenderTxs) -> list[PooledTx]:
        """Recompute the contiguous run; returns txs that became pending."""
        old_end = acct.pending_end
        old_count = max(0, old_end - acct.nonce)
        end = acct.nonce
        while end in acct.txs:
            end += 1
        acct.pending_end = end
        self._pending_total += (end - acct.nonce) - old_count
        start = max(old_end, acct.nonce)
        return [acct.txs[n] for n in range(start, end)]

    def _replace(self, acct: _SenderTxs, old: PooledTx, new: PooledTx) -> None:
        del self._by_hash[old.hash]
        acct.txs[new.nonce] = new
        self._by_hash[new.hash] = new

    def _remove(self, ptx: PooledTx) -> None:
        """Drop one tx; the sender's later nonces become queued (the run breaks there)."""
        acct = self._senders[ptx.sender]
        del self._by_hash[ptx.hash]
        del acct.txs[ptx.nonce]
        if ptx.nonce < acct.pending_end:
            self._pending_total -= acct.pending_end - ptx.nonce
            acct.pending_end = ptx.nonce
        if not acct.txs:
            del self._senders[ptx.sender]
        else:
            self._push_eviction_candidate(acct)

    def _revalidate_sender(self, sender: bytes, acct: _SenderTxs, nonce: int, balance: int) -> list[PooledTx]:
        """Apply a new account nonce/balance (and the head gas limit) to one sender.

        Returns the txs that became pending (promoted), in nonce order.
        """
        was_pending = set(range(acct.nonce, acct.pending_end))
        self._pending_total -= acct.pending_count
        for n in [n for n in acct.txs if n < nonce]:  # mined, or displaced by a tx we never saw
            del self._by_hash[acct.txs.pop(n).hash]
        acct.nonce = nonce
        acct.pending_end = nonce
        acct.balance = balance
        gas_limit = self._block_gas_limit
        for ptx in list(acct.txs.values()):
            # geth list.Filter: each tx alone must still be affordable and fit a block; the
            # sender's later nonces then wait in the queue for the gap to refill.
            if ptx.cost > balance or (gas_limit is not None and ptx.gas > gas_limit):
                del self._by_hash[ptx.hash]
                del acct.txs[ptx.nonce]
        if not acct.txs:
            self._senders.pop(sender, None)
            return []
        self._push_eviction_candidate(acct)
        run = self._refresh_pending(acct)
        return [ptx for ptx in run if ptx.nonce not in was_pending]

    # --- events ---------------------------------------------------------------------

    def subscribe(self, listener: NewPendingListener) -> Callable[[], None]:
        """Call ``listener(txs)`` with txs that became pending (new or promoted).

        Returns a function that unsubscribes. A listener must not block: queue and return.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, txs: Sequence[PooledTx]) -> None:
        if not txs:
            return
        for listener in list(self._listeners):
            try:
                listener(txs)
            except Exception:
                logger.exception("new-pending-tx listener failed")

    # --- reads --------------------------------------------------------------------

    def get(self, tx_hash: bytes) -> PooledTx | None:
        return self._by_hash.get(tx_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def __len__(self) -> int:
        return len(self._by_hash)

    def pending_count(self) -> int:
        return self._pending_total

    def status(self) -> tuple[int, int]:
        """(pending, queued), as txpool_status."""
        return self._pending_total, len(self._by_hash) - self._pending_total

    def content(self) -> dict[str, dict[bytes, dict[int, PooledTx]]]:
        """txpool_content's shape: {"pending": {sender: {nonce: tx}}, "queued": {...}}."""
        pending: dict[bytes, dict[int, PooledTx]] = {}
        queued: dict[bytes, dict[int, PooledTx]] = {}
        for sender, acct in self._senders.items():
            if acct.pending_count:
                pending[sender] = {p.nonce: p for p in acct.pending()}
            q = acct.queued()
            if q:
                queued[sender] = {p.nonce: p for p in q}
        return {"pending": pending, "queued": queued}

    def content_from(self, address: bytes) -> dict[str, dict[int, PooledTx]]:
        """txpool_contentFrom's shape: {"pending": {nonce: tx}, "queued": {nonce: tx}}."""
        acct = self._senders.get(address)
        if acct is None:
            return {"pending": {}, "queued": {}}
        return {
            "pending": {p.nonce: p for p in acct.pending()},
            "queued": {p.nonce: p for p in acct.queued()},
        }

    def nonce_after_pending(self, address: bytes) -> int:
        """The next nonce after the sender's pending txs (eth_getTransactionCount "pending")."""
        acct = self._senders.get(address)
        if acct is None:
            return self._reader.nonce(address)
        return acct.pending_end

    def pending_for_block(self, base_fee: int | None) -> PendingTxIterator:
        """Executable txs for the block builder, best effective tip first (see PendingTxIterator).

        ``Executor.build_block`` takes py-evm txs: ``(p.tx for p in pool.pending_for_block(fee))``.
        """
        runs = {sender: acct.pending() for sender, acct in self._senders.items() if acct.pending_count}
        return PendingTxIterator(runs, base_fee)

    # --- journal ----------------------------------------------------------------------

    def load_journal(self) -> int:
        """Re-add journaled txs (dropping now-invalid ones), then rewrite the journal compactly.

        Returns how many were pooled. A torn last record (crash mid-append) is ignored.
        """
        path = self._journal_path
        if path is None:
            return 0
        self._close_journal()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_journal_path(path))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise StorageError(f"cannot read tx journal {path}: {exc}") from exc
        admitted: list[PooledTx] = []
        promoted: list[PooledTx] = []
        dropped = 0
        for raw in _decode_journal(data, path):
            try:
                ptx, newly = self._admit(raw)
            except InvalidTransaction as exc:
                dropped += 1
                logger.debug("journaled tx dropped: %s", exc)
                continue
            admitted.append(ptx)
            promoted += newly
        # A journaled tx may have been replaced or evicted by a later record.
        loaded = sum(1 for ptx in admitted if self._by_hash.get(ptx.hash) is ptx)
        logger.info("tx journal: %d loaded, %d dropped", loaded, dropped)
        self._rewrite_journal()
        self._notify([p for p in promoted if self._by_hash.get(p.hash) is p])
        return loaded

    def close(self) -> None:
        """Close the journal file (await pending ``add_async`` calls first)."""
        self._close_journal()

    @staticmethod
    def _tmp_journal_path(path: Path) -> Path:
        return path.with_name(path.name + ".tmp")

    def _close_journal(self) -> None:
        with self._journal_lock:
            if self._journal_file is not None:
                self._journal_file.close()
                self._journal_file = None

    def _write_journal(self, payload: bytes) -> None:
        """Append + flush + fsync (raises OSError); safe from the group-commit thread."""
        path = self._journal_path
        assert path is not None
        with self._journal_lock:
            if self._journal_file is None:
                self._journal_file = open(path, "ab")  # noqa: SIM115 (long-lived)
            self._journal_file.write(payload)
            self._journal_file.flush()
            os.fsync(self._journal_file.fileno())

    def _journal_append_or_rollback(self, txs: Sequence[PooledTx]) -> None:
        """Append + fsync now; on failure take the txs back out and raise StorageError."""
        if self._journal_path is None or not txs:
            return
        try:
            self._write_journal(_encode_journal_records(txs))
        except OSError as exc:
            self._close_journal()
            for ptx in txs:
                if self._by_hash.get(ptx.hash) is ptx:
                    self._remove(ptx)
            raise StorageError(f"cannot append to tx journal {self._journal_path}: {exc}") from exc
        self._journal_records += len(txs)

    def _rewrite_journal(self) -> None:
        """Write the live txs (each sender's in nonce order) to a temp file, fsync, rename."""
        path = self._journal_path
        if path is None:
            return
        tmp = self._tmp_journal_path(path)
        live = [acct.txs[nonce] for acct in self._senders.values() for nonce in sorted(acct.txs)]
        # Txs admitted by add_async but not yet flushed are live, so they are written here
        # and again by their flush: a harmless duplicate ("already known" on load).
        with self._journal_lock:
            self._close_journal()
            try:
                with open(tmp, "wb") as out:
                    out.write(_encode_journal_records(live))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)
                _fsync_dir(path.parent)
            except OSError as exc:
                raise StorageError(f"cannot rewrite tx journal {path}: {exc}") from exc
        self._journal_records = len(live)


def _encode_journal_records(txs: Iterable[PooledTx]) -> bytes:
    return b"".join(JOURNAL_RECORD_HEADER.pack(len(p.raw)) + p.raw for p in txs)


def _decode_journal(data: bytes, path: Path) -> Iterator[bytes]:
    offset = 0
    size = len(data)
    while offset < size:
        if offset + JOURNAL_RECORD_HEADER.size > size:
            logger.warning("tx journal %s: torn record header at byte %d ignored", path, offset)
            return
        (length,) = JOURNAL_RECORD_HEADER.unpack_from(data, offset)
        start = offset + JOURNAL_RECORD_HEADER.size
        if length == 0 or length > JOURNAL_MAX_RECORD_BYTES:
            logger.warning(
                "tx journal %s: corrupt record length %d at byte %d; rest ignored", path, length, offset
            )
            return
        if start + length > size:
            logger.warning("tx journal %s: torn last record at byte %d ignored", path, offset)
            return
        yield data[start : start + length]
        offset = start + length


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "AccountReader",
    "NewPendingListener",
    "PendingTxIterator",
    "PoolLimits",
    "PooledTx",
    "TxPool",
    "decode_transaction",
]
