"""The transaction pool of the execution process: the admitted transactions by sender and nonce
(pending when gap-free from the account nonce, queued behind a gap), with replacement, limits,
eviction, head updates and the block builder's best-first view, as geth's legacy pool
(core/txpool/legacypool) keeps them. What may enter is state/pool/rules.py's decision; every
accepted tx reaches the journal (state/pool/journal.py), fsynced, before ``add``, ``add_batch``
or ``add_async`` returns.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from eth_utils.crypto import keccak

from jsc_node.errors import InvalidTransaction, StorageError
from jsc_node.state.pool.journal import TxJournal
from jsc_node.state.pool.rules import (
    ERR_ALREADY_KNOWN,
    ERR_FUTURE_REPLACE_PENDING,
    ERR_TXPOOL_OVERFLOW,
    ERR_UNDERPRICED,
    PooledTx,
    PoolLimits,
    decode_transaction,
    validate_replacement,
    validate_size,
    validate_transaction,
    validate_with_state,
)

logger = logging.getLogger(__name__)

FULL_RECHECK_INTERVAL_BLOCKS = 32
EVICTION_HEAP_SLACK = 1024  # stale eviction entries tolerated beyond 2 per sender


# --- ports -----------------------------------------------------------------------------------


class AccountReader(Protocol):
    """Account state at the current head, as the pool needs it."""

    def nonce(self, address: bytes) -> int: ...

    def balance(self, address: bytes) -> int: ...


NewPendingListener = Callable[[Sequence[PooledTx]], None]


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

    - A sender's txs live in one nonce-indexed map. Those with contiguous nonces from the
      account nonce are *pending* (executable); the rest are *queued* (a gap before them).
      Promotion is implicit: when a gap fills, or the account nonce advances, the contiguous
      run grows and the newly pending txs are announced to listeners.
    - The sender is recovered once per tx, at admission (through
      ``state/evm/patches/senders.py``, whose cache py-evm's signature check then hits when
      the block is built), and kept on ``PooledTx.sender``; py-evm's cached ``tx.sender`` is
      primed with it as well.
    - Durability: ``load_journal`` re-adds the journaled txs at start and rewrites the file
      compactly.
    - Single-threaded (asyncio execution process): pool state is touched only on the event
      loop. The one exception is ``add_async``'s group commit, which runs the journal's
      append + fsync in a worker thread so the loop never waits on the disk and concurrent
      submitters share one fsync. The disk's fsync rate otherwise caps ``add`` (measured
      here: ~5,000/s idle, ~250/s with other processes writing).
    - Head updates (``on_new_head``) re-read nonce and balance *eagerly* for senders touched
      by the block (senders of mined pool txs plus the ``senders`` the caller passes), and for
      every sender each ``FULL_RECHECK_INTERVAL_BLOCKS`` blocks (balances can also fall
      without the account sending anything, e.g. a delegated EOA under EIP-7702). In between,
      a stale balance is harmless: the block builder executes each tx and drops a failing
      sender (``PendingTxIterator.skip_sender``). Queued txs have no lifetime limit (geth:
      3 h); they leave when mined past, unaffordable, or evicted.
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
        self._journal = TxJournal(journal_path) if journal_path is not None else None
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
        self.version = 0
        """Moves on every change of the txs or their order (the pending block is cached by it)."""
        # Eviction candidates: each sender's highest-nonce tx by (price, -seq), cheapest
        # first. Entries go stale when that tx leaves or stops being the top; they are
        # skipped when met and the heap is rebuilt when it grows too stale.
        self._evict_heap: list[tuple[tuple[int, int, int], int, bytes]] = []
        self.sender_check: Callable[[bytes, bool], None] | None = None
        """Called with (sender, creates a contract) for every tx offered; raises an
        InvalidTransaction to refuse it (the account allowlists, state/permissions.py)."""

    # --- head ---------------------------------------------------------------------------

    def set_head(self, block_gas_limit: int, base_fee: int | None) -> None:
        self.version += 1
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
        if self._journal is not None and self._journal.needs_compaction(len(self._by_hash)):
            self._rewrite_journal()
        self._notify(promoted)

    # --- admission --------------------------------------------------------------------

    def add(self, raw: bytes) -> bytes:
        """Validate and pool one raw tx; journaled and fsynced before returning its hash."""
        ptx, promoted = self._admit(raw, allow_unprotected=self.limits.allow_unprotected_txs)
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
        ptx, promoted = self._admit(raw, allow_unprotected=self.limits.allow_unprotected_txs)
        if self._journal is None:
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
        journal = self._journal
        assert journal is not None
        while self._journal_waiters:
            batch, self._journal_waiters = self._journal_waiters, []
            try:
                await asyncio.to_thread(journal.append, [ptx.raw for ptx, _, _ in batch])
            except StorageError as exc:
                for ptx, _, durable in batch:
                    if self._by_hash.get(ptx.hash) is ptx:
                        self._remove(ptx)
                    if not durable.done():
                        durable.set_exception(StorageError(str(exc)))
                continue
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
                # From peers: pre-EIP-155 txs are valid in blocks, and geth's pool takes them.
                ptx, newly = self._admit(raw, allow_unprotected=True)
            except InvalidTransaction as exc:
                results.append(exc)
                continue
            accepted.append(ptx)
            promoted += newly
            results.append(ptx.hash)
        self._journal_append_or_rollback(accepted)
        self._notify([p for p in promoted if self._by_hash.get(p.hash) is p])
        return results

    def _admit(self, raw: bytes, *, allow_unprotected: bool) -> tuple[PooledTx, list[PooledTx]]:
        """Validate ``raw`` (state/pool/rules.py) and insert it; returns it and the txs it made
        pending.

        Every refusal is raised before the pool changes, except that a sender whose account
        moved since the last head update is brought up to date first.
        """
        limits = self.limits
        validate_size(raw, limits.max_tx_bytes)
        tx_hash = keccak(raw)
        if tx_hash in self._by_hash:
            raise InvalidTransaction(ERR_ALREADY_KNOWN)
        tx = decode_transaction(raw)
        ptx = validate_transaction(
            raw,
            tx_hash,
            tx,
            chain_id=self.chain_id,
            limits=limits,
            block_gas_limit=self._block_gas_limit,
            base_fee=self._base_fee,
            arrival=self._seq,
            allow_unprotected=allow_unprotected,
        )
        sender = ptx.sender
        if self.sender_check is not None:
            self.sender_check(sender, ptx.tx.to == b"")

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
        old = acct.txs.get(ptx.nonce)
        validate_with_state(
            ptx,
            account_nonce=acct.nonce,
            pending_end=acct.pending_end,
            balance=acct.balance,
            pending_cost=acct.pending_cost(),
            replaced=old,
            max_per_sender=limits.max_per_sender,
        )

        if old is not None:
            validate_replacement(old, ptx, limits.price_bump_percent)
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
            raise InvalidTransaction(ERR_TXPOOL_OVERFLOW)
        if self._price_key(victim) >= self._price_key(new):
            raise InvalidTransaction(ERR_UNDERPRICED)
        if queued and victim.nonce < self._senders[victim.sender].pending_end:
            raise InvalidTransaction(ERR_FUTURE_REPLACE_PENDING)
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
        self.version += 1
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
        self.version += 1
        del self._by_hash[old.hash]
        acct.txs[new.nonce] = new
        self._by_hash[new.hash] = new

    def _remove(self, ptx: PooledTx) -> None:
        """Drop one tx; the sender's later nonces become queued (the run breaks there)."""
        self.version += 1
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
        self.version += 1
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
            # sender's later nonces then wait in the queue for the gap to refill. A sender an
            # account allowlist stopped allowing since admission leaves (no block may hold it).
            if (
                ptx.cost > balance
                or (gas_limit is not None and ptx.gas > gas_limit)
                or not self._sender_permitted(ptx)
            ):
                del self._by_hash[ptx.hash]
                del acct.txs[ptx.nonce]
        if not acct.txs:
            self._senders.pop(sender, None)
            return []
        self._push_eviction_candidate(acct)
        run = self._refresh_pending(acct)
        return [ptx for ptx in run if ptx.nonce not in was_pending]

    def _sender_permitted(self, ptx: PooledTx) -> bool:
        if self.sender_check is None:
            return True
        try:
            self.sender_check(ptx.sender, ptx.tx.to == b"")
        except InvalidTransaction:
            return False
        return True

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
        if self._journal is None:
            return 0
        admitted: list[PooledTx] = []
        promoted: list[PooledTx] = []
        dropped = 0
        for raw in self._journal.load():
            try:
                ptx, newly = self._admit(raw, allow_unprotected=True)  # admitted once already
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
        if self._journal is not None:
            self._journal.close()

    def _journal_append_or_rollback(self, txs: Sequence[PooledTx]) -> None:
        """Append + fsync now; on failure take the txs back out and raise StorageError."""
        if self._journal is None or not txs:
            return
        try:
            self._journal.append(ptx.raw for ptx in txs)
        except StorageError:
            for ptx in txs:
                if self._by_hash.get(ptx.hash) is ptx:
                    self._remove(ptx)
            raise

    def _rewrite_journal(self) -> None:
        """The journal becomes the live txs, each sender's in nonce order."""
        if self._journal is None:
            return
        # Txs admitted by add_async but not yet flushed are live, so they are written here
        # and again by their flush: a harmless duplicate ("already known" on load).
        self._journal.rewrite(
            acct.txs[nonce].raw for acct in self._senders.values() for nonce in sorted(acct.txs)
        )


__all__ = [
    "AccountReader",
    "NewPendingListener",
    "PendingTxIterator",
    "PoolLimits",
    "PooledTx",
    "TxPool",
    "decode_transaction",
]
