"""py-evm execution: genesis, build / validate / commit (the VM classes come from state/evm/forks.py).

A block is executed once. Building (proposer) or validating (other validators) runs it in an
``Overlay`` over LevelDB and keeps that overlay, keyed by the block's on-chain hash; committing the
sealed block later writes the sealed header into the same overlay and flushes it in one LevelDB
batch. The on-chain hash ignores seals and round (state/evm/headers.py), so the block that was executed
and the block that was committed are the same block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI
from eth.consensus.context import ConsensusContext
from eth.constants import (
    BLANK_ROOT_HASH,
    EMPTY_UNCLE_HASH,
    GENESIS_PARENT_HASH,
    MAX_UNCLE_DEPTH,
    ZERO_ADDRESS,
)
from eth.db.account import AccountDB
from eth.db.chain import ChainDB
from eth.exceptions import CanonicalHeadNotFound, HeaderNotFound
from eth.vm.base import VM
from eth.vm.chain_context import ChainContext
from eth.vm.interrupt import EVMMissingData
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_utils.exceptions import ValidationError
from trie.hexary import HexaryTrie

from jsc_node.chainformat import decode_extra_data
from jsc_node.errors import GenesisError, InvalidBlock, InvalidTransaction
from jsc_node.genesis import GenesisSpec
from jsc_node.governance import accounts
from jsc_node.governance.votes import vote_problem, vote_refusal
from jsc_node.state.evm import forks, rules
from jsc_node.state.storage.leveldb import LevelDB, Overlay

log = logging.getLogger(__name__)

ZERO_HASH = b"\x00" * 32
# Pending (built/validated, not yet committed) blocks kept for commit without re-execution.
MAX_PENDING_BLOCKS = 64
# The account allowlist's storage values kept per storage root, for this many roots and slots.
ALLOWLIST_ROOTS_CACHED = 4
MAX_ALLOWLIST_SLOTS_CACHED = 200_000


@dataclass
class ExecutedBlock:
    """A block executed in an overlay, not yet part of the chain."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    overlay: Overlay
    skipped: list[tuple[bytes, str]] = field(default_factory=list)
    """(tx hash, reason) of candidate transactions left out while building."""
    elapsed_s: float = 0.0

    @property
    def hash(self) -> bytes:
        return bytes(self.block.hash)

    @property
    def number(self) -> int:
        return int(self.block.number)


class Executor:
    """Owns the chain database of the execution process: genesis, build, validate, commit."""

    def __init__(self, db: LevelDB, spec: GenesisSpec) -> None:
        self.db = db
        self.spec = spec
        self.schedule = forks.ForkSchedule(spec)
        self.chain_context = ChainContext(spec.chain_id)
        self.chaindb = ChainDB(db)
        self._pending: dict[bytes, ExecutedBlock] = {}
        self.side_states: dict[bytes, Overlay] = {}
        """State root -> the overlay holding that state's trie nodes, for blocks built but never
        committed (state/serve/pending.py keeps the last few); see ``state_db``."""
        # The last block decoded, by its RLP: an importer hands the same bytes to validate_block
        # and commit_block (py-evm blocks are immutable, so sharing the object is safe).
        self._last_decoded: tuple[bytes, BlockAPI] | None = None
        self.genesis = self._init_genesis()
        self.head: BlockHeaderAPI = self.chaindb.get_canonical_head()
        self._allowlist_slots: dict[bytes, dict[int, int]] = {}
        """The account allowlist's storage root -> slot -> value (``allowlist_read``)."""
        self._allowlist_root: dict[bytes, bytes] = {}
        self._allowlist_lock = threading.Lock()
        self.local_sender_filter: Callable[[bytes], str | None] | None = None
        """This node's own filter on the senders of the blocks it builds (the local account
        allowlist file, state/permissions.py): why a sender is refused, or None. Never applied
        to blocks others built: a file differs from node to node, chain state does not."""

    # -- genesis ---------------------------------------------------------------------------

    def _init_genesis(self) -> BlockHeaderAPI:
        overlay = Overlay(self.db)
        header = self._write_genesis(overlay)
        try:
            stored = self.chaindb.get_canonical_block_hash(0)
        except HeaderNotFound:
            overlay.flush()
            log.info("initialised chain %s genesis 0x%s", self.spec.chain_id, header.hash.hex())
            return header
        if stored != header.hash:
            raise GenesisError(
                "(file)",
                f"the data dir holds a chain with genesis 0x{stored.hex()}, this genesis file gives "
                f"0x{header.hash.hex()}; use another --data-path or the genesis the data dir was made with",
            )
        return self.chaindb.get_block_header_by_hash(stored)

    def _write_genesis(self, overlay: Overlay) -> BlockHeaderAPI:
        spec = self.spec
        atomic = overlay.atomic()
        accounts = AccountDB(atomic)
        for address, account in spec.alloc.items():
            accounts.set_balance(address, account.balance)
            accounts.set_nonce(address, account.nonce)
            if account.code:
                accounts.set_code(address, account.code)
            for slot, value in account.storage.items():
                accounts.set_storage(address, slot, value)
        accounts.persist()
        vm_class = self.schedule.vm_class(0, spec.timestamp, spec.difficulty)
        params: dict[str, Any] = {
            "difficulty": spec.difficulty,
            "extra_data": spec.extra_data,
            "gas_limit": spec.gas_limit,
            "mix_hash": spec.mix_hash,
            "nonce": spec.nonce,
            "coinbase": spec.coinbase,
            "timestamp": spec.timestamp,
            "state_root": accounts.state_root,
        }
        fork = forks.fork_of_vm(vm_class)
        if fork >= forks.Fork.LONDON:
            params["base_fee_per_gas"] = spec.base_fee if spec.base_fee is not None else 1_000_000_000
        if fork >= forks.Fork.CANCUN:
            params["parent_beacon_block_root"] = spec.parent_beacon_block_root or ZERO_HASH
            # EIP-4844 genesis fields (geth's genesis.json keys); 0 when absent.
            raw = spec.raw if isinstance(spec.raw, dict) else {}
            for key, name in (("blobGasUsed", "blob_gas_used"), ("excessBlobGas", "excess_blob_gas")):
                if raw.get(key) is not None:
                    params[name] = forks.genesis_int(raw[key], key)
        # Build the generic header, then set the fields fork helpers would reject for a genesis
        # (a BFT genesis has difficulty 1 under post-merge rules).
        # A pre-merge imported genesis passes them through: PoW header helpers need the difficulty.
        fixed: dict[str, Any] = {}
        if self.spec.qbft is not None or fork >= forks.Fork.PARIS:
            fixed = {k: params.pop(k) for k in ("difficulty", "nonce", "mix_hash")}
        header = vm_class.create_genesis_header(**params).copy(**fixed)
        if fork >= forks.Fork.SHANGHAI:
            header = header.copy(withdrawals_root=BLANK_ROOT_HASH)
        block = vm_class.get_block_class()(header, transactions=[], uncles=[])
        ChainDB(atomic).persist_block(block)
        return header

    # -- helpers ---------------------------------------------------------------------------

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        return self.chaindb.get_block_header_by_hash(block_hash)

    def canonical_hash(self, number: int) -> bytes | None:
        try:
            return bytes(self.chaindb.get_canonical_block_hash(number))
        except HeaderNotFound:
            return None

    def _vm(self, header: BlockHeaderAPI, overlay: Overlay, vm_class: type[VM] | None = None) -> VM:
        atomic = overlay.atomic()
        if vm_class is None:
            vm_class = self.schedule.vm_class_for_header(header)
        return vm_class(header, ChainDB(atomic), self.chain_context, ConsensusContext(atomic))

    def decode_block(self, block_rlp: bytes) -> BlockAPI:
        last = self._last_decoded
        if last is not None and last[0] == block_rlp:
            return last[1]
        block_class, _ = self._block_class_and_header_rlp(block_rlp)
        try:
            block: BlockAPI = rlp.decode(block_rlp, sedes=block_class)
        except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError) as exc:
            raise InvalidBlock(f"malformed block: {exc}") from exc
        self._last_decoded = (bytes(block_rlp), block)
        return block

    def decode_header(self, block_rlp: bytes) -> BlockHeaderAPI:
        """The header of a block's RLP, without decoding its transactions."""
        block_class, header_rlp = self._block_class_and_header_rlp(block_rlp)
        try:
            header: BlockHeaderAPI = rlp.decode(header_rlp, sedes=dict(block_class._meta.fields)["header"])
        except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError) as exc:
            raise InvalidBlock(f"malformed block header: {exc}") from exc
        return header

    def _block_class_and_header_rlp(self, block_rlp: bytes) -> tuple[Any, bytes]:
        """The fork's block class (from the header's number, timestamp and difficulty) and the
        header's RLP, read without decoding the rest of the block."""
        try:
            header_rlp = first_list_item(block_rlp)
            items = rlp.decode(header_rlp, strict=True)
        except (rlp.DecodingError, ValueError, IndexError) as exc:
            raise InvalidBlock(f"malformed block: {exc}") from exc
        if not isinstance(items, list) or len(items) < 13 or not all(isinstance(i, bytes) for i in items):
            raise InvalidBlock("malformed block: RLP is not [header, transactions, ...]")
        difficulty = int.from_bytes(items[7], "big")
        number = int.from_bytes(items[8], "big")
        timestamp = int.from_bytes(items[11], "big")
        return self.schedule.vm_class(number, timestamp, difficulty).get_block_class(), header_rlp

    # -- build -----------------------------------------------------------------------------

    def build_block(
        self,
        parent_hash: bytes,
        timestamp: int,
        coinbase: bytes,
        extra_data: bytes,
        transactions: Iterable[Any],
        max_txs: int | None = None,
    ) -> ExecutedBlock:
        """Execute ``transactions`` (py-evm tx objects, best first) on ``parent`` into a new block.

        A transaction that does not apply (nonce, balance, gas) is left out with its reason, and
        so are its sender's later ones in this block (``apply_transactions``).
        """
        started = time.perf_counter()
        parent = self.header_by_hash(parent_hash)
        overlay = Overlay(self.db)
        vm_class = self.schedule.vm_class(parent.block_number + 1, timestamp)
        header_params: dict[str, Any] = {
            "coinbase": coinbase,
            "timestamp": timestamp,
            "extra_data": extra_data,
            "gas_limit": parent.gas_limit,
        }
        fork = forks.fork_of_vm(vm_class)
        if fork >= forks.Fork.CANCUN:
            header_params["parent_beacon_block_root"] = ZERO_HASH
        header = vm_class.create_header_from_parent(parent, **header_params)
        # A node never proposes a block it would reject (the consensus service logs the refusal
        # and the round times out).
        self.validate_vote(header, parent)
        vm = self._vm(header, overlay)
        vm.block_preprocessing(vm.get_block())
        header = vm.get_header().copy(gas_used=0)

        refused: list[tuple[bytes, str]] = []
        permitted = self._permitted_transactions(transactions, parent, refused)
        applied = apply_transactions(vm, header, permitted, all_must_apply=False, max_txs=max_txs)
        applied.skipped[:0] = refused

        withdrawals = () if fork >= forks.Fork.SHANGHAI else None
        filled = vm.set_block_transactions_and_withdrawals(
            vm.get_block(), applied.header, applied.transactions, applied.receipts, withdrawals=withdrawals
        )
        processed = vm.block_postprocessing(filled)
        block = vm.mine_block(processed).block
        ChainDB(overlay.atomic()).persist_block(block)
        executed = ExecutedBlock(
            block, tuple(applied.receipts), overlay, applied.skipped, time.perf_counter() - started
        )
        self._remember(executed)
        return executed

    # -- validate --------------------------------------------------------------------------

    def validate_block(self, block_rlp: bytes) -> ExecutedBlock:
        """Execute a proposed block on scratch state; raises InvalidBlock. Kept for commit."""
        block = self.decode_block(block_rlp)
        cached = self._pending.get(bytes(block.hash))
        if cached is not None:
            return cached
        return self._execute(block)

    def _execute(self, block: BlockAPI) -> ExecutedBlock:
        started = time.perf_counter()
        try:
            parent = self.header_by_hash(block.header.parent_hash)
        except HeaderNotFound as exc:
            raise InvalidBlock(
                f"unknown parent 0x{block.header.parent_hash.hex()} of block {block.number}"
            ) from exc
        vm_class = self.schedule.vm_class_for_header(block.header)
        overlay = Overlay(self.db)
        self.validate_vote(block.header, parent)
        self.validate_senders(block, parent)
        try:
            vm_class.validate_header(block.header, parent)
            if self.spec.qbft is not None and block.uncles:
                raise ValidationError("BFT blocks have no uncles")
            if self.spec.qbft is None:
                self._validate_terminal_difficulty(block.header, parent)
            base = vm_class.create_header_from_parent(parent).copy(gas_used=block.header.gas_used)
            # The block's fork, not the template's: the template's timestamp (parent + 1) may fall
            # before a time fork the block activates.
            vm = self._vm(base, overlay, vm_class)
            applied: list[ReceiptAPI] = []
            # py-evm's per-transaction hook hands over each receipt as it is made: reading them
            # back from the receipt trie afterwards cost ~9% of a block's validation.
            setattr(vm, "transaction_applied_hook", _ReceiptCollector(applied))  # noqa: B010
            imported = vm.import_block(block).block
            _validate_unchanged(imported, block)
            if self.spec.qbft is None:
                # Chain.persist_block -> Chain.validate_block -> validate_uncles, as py-evm does
                # after execution (the seal check is NoProof for an imported chain).
                validate_uncles(ChainDB(overlay.atomic()), block, self.schedule)
            if len(applied) != len(block.transactions):
                raise InvalidBlock(
                    f"block {block.number}: {len(applied)} receipts for {len(block.transactions)} transactions"
                )
            receipts = tuple(applied)
            ChainDB(overlay.atomic()).persist_block(block)
        except InvalidBlock:
            raise
        except (ValidationError, EVMMissingData, HeaderNotFound, rlp.DecodingError, ValueError) as exc:
            raise InvalidBlock(f"block {block.number} 0x{block.hash.hex()} is invalid: {exc}") from exc
        executed = ExecutedBlock(block, receipts, overlay, [], time.perf_counter() - started)
        self._remember(executed)
        return executed

    def validate_vote(self, header: BlockHeaderAPI, parent: BlockHeaderAPI) -> None:
        """Issue 12's rule on a chain with ``config.jsc`` (governance/votes.py): a header vote that
        adds a validator needs a Valid attestation in an allowed jurisdiction in the parent's state.
        Every block executed (validate, commit, import, verify) or built passes here; the parent's
        state is read only for an add vote. Raises InvalidBlock naming the block, the address and
        what is missing."""
        policy = self.spec.jsc
        if policy is None:
            return
        extra = decode_extra_data(header.extra_data)
        vote = extra.vote
        if vote is None or not vote.add or vote.recipient in extra.validators:
            return
        state = self.state_at(parent)
        registry = policy.registry

        def read(slot: int) -> int:
            value: int = state.get_storage(registry, slot)
            return value

        problem = vote_problem(read, vote, extra.validators, policy.jurisdictions)
        if problem is not None:
            raise InvalidBlock(vote_refusal(int(header.block_number), vote, problem))

    def allowlist_read(self, parent: BlockHeaderAPI) -> accounts.StorageRead | None:
        """Storage reads of the chain's account allowlist in ``parent``'s state, or None when the
        genesis policy has none (the chain is open).

        Values are cached by the contract's storage root: the list changes seldom, so a sender
        seen at admission, or in an earlier block, costs a dict lookup, not a storage-trie walk
        (~250 us here); the account is read once per state (one state-trie walk) for its root."""
        policy = self.spec.jsc
        if policy is None or policy.accounts_allowlist is None:
            return None
        address = policy.accounts_allowlist
        state_root = bytes(parent.state_root)
        root = self._allowlist_root.get(state_root)
        if root is None:
            root = self.account_storage_root(parent, address)
            self._allowlist_root = {state_root: root}  # the last state asked about (mostly the head)
        # The pool asks on the event loop while blocks execute in the worker thread.
        with self._allowlist_lock:
            cache = self._allowlist_slots.get(root)
            if cache is None or len(cache) > MAX_ALLOWLIST_SLOTS_CACHED:
                cache = self._allowlist_slots[root] = {}
                while len(self._allowlist_slots) > ALLOWLIST_ROOTS_CACHED:
                    self._allowlist_slots.pop(next(iter(self._allowlist_slots)))
        state: Any = None

        def read(slot: int) -> int:
            nonlocal state
            value = cache.get(slot)
            if value is None:
                if state is None:
                    state = self.state_at(parent)
                value = cache[slot] = int(state.get_storage(address, slot))
            return value

        return read

    def account_storage_root(self, header: BlockHeaderAPI, address: bytes) -> bytes:
        """The storage root of ``address`` after ``header`` (the empty trie's when it has no
        account): one state-trie walk, no storage read. The system contracts' readers compare it
        with the last one seen to learn, cheaply, whether the contract's storage changed."""
        encoded = HexaryTrie(self.state_db(header), bytes(header.state_root)).get(keccak(address))
        return bytes(rlp.decode(encoded)[2]) if encoded else BLANK_ROOT_HASH

    def validate_senders(self, block: BlockAPI, parent: BlockHeaderAPI) -> None:
        """Issue 13's rule on a chain whose ``config.jsc`` names an account allowlist
        (governance/accounts.py ``transaction_problem``): every transaction's sender is allowed,
        and a contract creation's may create, in the parent's state. Every block executed
        (validate, commit, import, verify) passes here, whoever proposed it. Raises InvalidBlock
        naming the block, the transaction and the sender."""
        if not block.transactions:
            return
        read = self.allowlist_read(parent)
        if read is None:
            return
        seen: dict[tuple[bytes, bool], str | None] = {}
        for index, tx in enumerate(block.transactions):
            try:
                sender = bytes(tx.sender)
            except (ValidationError, ValueError) as exc:
                raise InvalidBlock(
                    f"block {block.number}: transaction {index} has a bad signature: {exc}"
                ) from exc
            key = (sender, tx.to == b"")
            if key not in seen:
                seen[key] = accounts.transaction_problem(read, sender, creates=key[1])
            problem = seen[key]
            if problem is not None:
                raise InvalidBlock(
                    f"block {block.number}: transaction {index} 0x{bytes(tx.hash).hex()}: {problem}"
                )

    def _permitted_transactions(
        self, transactions: Iterable[Any], parent: BlockHeaderAPI, refused: list[tuple[bytes, str]]
    ) -> Iterator[Any]:
        """``transactions`` less those this node may not put in a block on ``parent``: the chain's
        allowlist (``validate_senders``' rule) and this node's local filter; each left out is
        added to ``refused`` with its reason."""
        read = self.allowlist_read(parent)
        local = self.local_sender_filter
        if read is None and local is None:
            yield from transactions
            return
        for tx in transactions:
            sender = bytes(tx.sender)
            problem = None if local is None else local(sender)
            if problem is None and read is not None:
                problem = accounts.transaction_problem(read, sender, creates=tx.to == b"")
            if problem is None:
                yield tx
            else:
                refused.append((bytes(tx.hash), problem))

    def _validate_terminal_difficulty(self, header: BlockHeaderAPI, parent: BlockHeaderAPI) -> None:
        """EIP-3675: blocks after the terminal PoW block are PoS (difficulty 0), blocks up to it
        are PoW. The terminal block is the first whose total difficulty reaches the TTD."""
        ttd = self.spec.terminal_total_difficulty
        if ttd is None:
            return
        parent_td = self.chaindb.get_score(parent.hash)
        if parent.difficulty == 0 and parent.block_number > 0:
            # py-evm scores PoS blocks by number; their chain reached the TTD already.
            parent_td = max(parent_td, ttd)
        if parent_td >= ttd and header.difficulty != 0:
            raise InvalidBlock(
                f"PoW block after the terminal total difficulty {ttd} (parent's total {parent_td})",
                got=header.difficulty,
                expected=0,
            )
        if parent_td < ttd and header.difficulty == 0:
            raise InvalidBlock(
                f"PoS block before the terminal total difficulty {ttd} (parent's total {parent_td})"
            )

    def _remember(self, executed: ExecutedBlock) -> None:
        self._pending[executed.hash] = executed
        while len(self._pending) > MAX_PENDING_BLOCKS:
            self._pending.pop(next(iter(self._pending)))

    # -- commit ----------------------------------------------------------------------------

    def commit_block(self, block_rlp: bytes) -> ExecutedBlock:
        """Make ``block_rlp`` (sealed) the new head, atomically. Re-executes only if this process
        never executed the block (e.g. it was committed by others while this node was behind)."""
        # The header is enough when this process executed the block already (the body is the
        # executed one: the header's roots commit to it); the whole block is decoded otherwise.
        header = self.decode_header(block_rlp)
        # QBFT blocks are final: a committed block always extends the head. An imported chain
        # may switch to a side chain: the last imported block becomes the head (geth's import).
        if header.parent_hash != self.head.hash and self.spec.qbft is not None:
            raise InvalidBlock(
                "parent of committed block",
                got=bytes(header.parent_hash),
                expected=bytes(self.head.hash),
            )
        executed = self._pending.pop(bytes(header.hash), None)
        if executed is None:
            executed = self._execute(self.decode_block(block_rlp))
            self._pending.pop(executed.hash, None)
        # Same on-chain hash, possibly other seals/round: store the header as committed.
        executed.overlay[header.hash] = rlp.encode(header)
        executed.block = executed.block.copy(header=header)
        if header.parent_hash != self.head.hash:
            make_canonical_head(executed.overlay, executed.block, self.schedule)
        executed.overlay.flush()
        self.head = header
        # Blocks built on the old head can never be committed now.
        self._pending = {
            h: e for h, e in self._pending.items() if e.block.header.parent_hash == self.head.hash
        }
        return executed

    # -- state reads -----------------------------------------------------------------------

    def state_db(self, header: BlockHeaderAPI) -> LevelDB | Overlay:
        """Where the state after ``header`` lives: LevelDB, or for a block built but never
        committed (the ``pending`` block, state/serve/pending.py) the overlay it was built in."""
        return self.side_states.get(bytes(header.state_root), self.db)

    def state_at(self, header: BlockHeaderAPI) -> Any:
        """A read-only py-evm state after ``header`` (writes go to a throwaway overlay)."""
        vm_class = self.schedule.vm_class_for_header(header)
        return vm_class.build_state(Overlay(self.state_db(header)).atomic(), header, self.chain_context)

    def call_state(self, header: BlockHeaderAPI) -> tuple[VM, Any]:
        """A VM and a free-gas state on top of ``header`` for eth_call / eth_estimateGas."""
        vm = self._vm(header, Overlay(self.db))
        context = vm.in_costless_state()
        state = context.__enter__()
        return vm, state

    def spoof_transaction(
        self,
        state: Any,
        header: BlockHeaderAPI,
        sender: bytes,
        to: bytes | None,
        gas: int,
        value: int,
        data: bytes,
        gas_price: int = 0,
        access_list: Sequence[tuple[bytes, Sequence[bytes]]] = (),
    ) -> Any:
        """An unsigned call from ``sender``. With an access list (``(address, [32-byte key])``
        pairs), an EIP-2930 transaction from Berlin on, as geth: its addresses and slots start
        warm and its intrinsic gas counts them."""
        vm_class = self.schedule.vm_class_for_header(header)
        builder = vm_class.get_transaction_builder()
        common = {
            "nonce": state.get_nonce(sender),
            "gas_price": gas_price,
            "gas": gas,
            "to": to if to is not None else b"",
            "value": value,
            "data": data,
        }
        if access_list and forks.fork_of_vm(vm_class) >= forks.Fork.BERLIN:
            unsigned = builder.new_unsigned_access_list_transaction(
                chain_id=self.spec.chain_id,
                access_list=[
                    (address, [int.from_bytes(k, "big") for k in keys]) for address, keys in access_list
                ],
                **common,
            )
        else:
            unsigned = vm_class.create_unsigned_transaction(**common)
        return SpoofTransaction(unsigned, from_=sender)


@dataclass
class AppliedTransactions:
    """What ``apply_transactions`` put into a block."""

    header: BlockHeaderAPI
    """The block's header after them: gas used, blob gas used, bloom."""
    transactions: list[Any] = field(default_factory=list)
    receipts: list[ReceiptAPI] = field(default_factory=list)
    skipped: list[tuple[bytes, str]] = field(default_factory=list)
    """(tx hash, reason) of the candidates left out."""


def apply_transactions(
    vm: VM,
    header: BlockHeaderAPI,
    transactions: Iterable[Any],
    *,
    all_must_apply: bool,
    max_txs: int | None = None,
) -> AppliedTransactions:
    """Execute ``transactions`` (py-evm tx objects, in order) into the block of ``header`` on
    ``vm``'s state: the loop of a block builder (geth's miner ``commitTransactions``), used by the
    proposer (``Executor.build_block``) and by ``testing_buildBlockV1`` (state/serve/payload.py).

    With ``all_must_apply`` (transactions given by the caller) the first that does not apply is
    an InvalidTransaction in geth's words. Otherwise (the pool's best first) it is left out with
    its reason and so are its sender's later ones, since they cannot apply either (geth's miner
    pops the sender); the loop ends when ``max_txs`` are in or the block has no room for even a
    plain transfer."""
    applied = AppliedTransactions(header)
    failed_senders: set[bytes] = set()
    for tx in transactions:
        if max_txs is not None and len(applied.transactions) >= max_txs:
            break
        if not all_must_apply and header.gas_limit - header.gas_used < rules.TX_BASE_GAS:
            break
        sender = tx.sender
        if sender in failed_senders:
            continue
        try:
            if header.gas_used + tx.gas > header.gas_limit:
                raise ValidationError(rules.ERR_GAS_LIMIT_REACHED)
            if all_must_apply:
                # py-evm checks the nonce too, in its own words; a caller of its own
                # transactions gets geth's.
                rules.validate_nonce(sender, int(tx.nonce), int(vm.state.get_nonce(sender)))
            vm.validate_transaction_against_header(header, tx)
            # VM.apply_transaction, with a snapshot taken after lock_changes() (which drops
            # every earlier checkpoint), so a refused transaction leaves no trace.
            vm.state.lock_changes()
            snapshot = vm.state.snapshot()
            try:
                computation = vm.state.apply_transaction(tx)
            except BaseException:
                vm.state.revert(snapshot)
                raise
        except (ValidationError, EVMMissingData, InvalidTransaction) as exc:
            if all_must_apply:
                raise InvalidTransaction(str(exc)) from exc
            applied.skipped.append((tx.hash, str(exc)))
            failed_senders.add(sender)
            continue
        receipt = vm.make_receipt(header, tx, computation, vm.state)
        vm.validate_receipt(receipt)
        header = vm.add_receipt_to_header(header, receipt)
        header = vm.increment_blob_gas_used(header, tx)
        applied.transactions.append(tx)
        applied.receipts.append(receipt)
    applied.header = header
    return applied


def validate_uncles(chaindb: ChainDB, block: BlockAPI, schedule: forks.ForkSchedule) -> None:
    """py-evm's ``Chain.validate_uncles`` on a ChainDB (an imported chain's ommers; no seals)."""
    has_uncles = len(block.uncles) > 0
    should_have_uncles = block.header.uncles_hash != EMPTY_UNCLE_HASH
    if not has_uncles and not should_have_uncles:
        return
    if has_uncles and not should_have_uncles:
        raise ValidationError("Block has uncles but header suggests uncles should be empty")
    if should_have_uncles and not has_uncles:
        raise ValidationError("Header suggests block should have uncles but block has none")
    uncle_hashes = [uncle.hash for uncle in block.uncles]
    if len(set(uncle_hashes)) != len(uncle_hashes):
        raise ValidationError("Block contains duplicate uncles")

    # The MAX_UNCLE_DEPTH + 1 ancestors of the block, and the uncles they included.
    ancestors: list[BlockHeaderAPI] = []
    header = block.header
    for _ in range(min(block.number, MAX_UNCLE_DEPTH + 1)):
        header = chaindb.get_block_header_by_hash(header.parent_hash)
        ancestors.append(header)
    ancestor_hashes = {ancestor.hash for ancestor in ancestors}
    included = {
        uncle.hash for ancestor in ancestors for uncle in chaindb.get_block_uncles(ancestor.uncles_hash)
    }

    for uncle in block.uncles:
        if uncle.hash == block.hash:
            raise ValidationError("Uncle has same hash as block")
        if uncle.hash in included:
            raise ValidationError(f"Duplicate uncle: 0x{uncle.hash.hex()}")
        if uncle.hash in ancestor_hashes:
            raise ValidationError(f"Uncle 0x{uncle.hash.hex()} cannot be an ancestor of 0x{block.hash.hex()}")
        if uncle.parent_hash not in ancestor_hashes or uncle.parent_hash == block.header.parent_hash:
            raise ValidationError(
                f"Uncle's parent 0x{uncle.parent_hash.hex()} is not an ancestor of 0x{block.hash.hex()}"
            )
        try:
            uncle_parent = chaindb.get_block_header_by_hash(uncle.parent_hash)
        except HeaderNotFound as exc:
            raise ValidationError(f"Uncle ancestor not found: 0x{uncle.parent_hash.hex()}") from exc
        schedule.vm_class_for_header(uncle).validate_uncle(block, uncle, uncle_parent)


def make_canonical_head(overlay: Overlay, block: BlockAPI, schedule: forks.ForkSchedule) -> None:
    """Make ``block`` (persisted in ``overlay``) the canonical head even if its chain scores lower:
    the canonical number index moves to its chain, and the transaction index with it (py-evm's
    reorg leaves the old chain's transaction lookups in place; a reorged-out tx must not be found)."""
    db = overlay.atomic()
    try:
        old_head = ChainDB(db).get_canonical_head()
    except CanonicalHeadNotFound:
        old_head = None
    if old_head is not None and old_head.hash == block.hash:
        return
    with db.atomic_batch() as batch:
        new_headers, _old = ChainDB._set_as_canonical_chain_head(batch, block.header, GENESIS_PARENT_HASH)
        if old_head is not None and new_headers:
            # The old chain above the fork point is no longer canonical.
            fork_number = new_headers[0].block_number - 1
            header = old_head
            while header.block_number > fork_number:
                for tx_hash in ChainDB._get_block_transaction_hashes(batch, header):
                    ChainDB._remove_transaction_from_canonical_chain(batch, tx_hash)
                header = ChainDB._get_block_header_by_hash(batch, header.parent_hash)
        for header in new_headers:
            tx_hashes = ChainDB._get_block_transaction_hashes(batch, header)
            for index, tx_hash in enumerate(tx_hashes):
                ChainDB._add_transaction_to_canonical_chain(batch, tx_hash, header, index)
            has_withdrawals = schedule.fork_of_header(header) >= forks.Fork.SHANGHAI
            if has_withdrawals and header.withdrawals_root != BLANK_ROOT_HASH:
                withdrawals = ChainDB(batch).get_block_withdrawals(header)
                for index, withdrawal in enumerate(withdrawals):
                    ChainDB._add_withdrawal_to_canonical_chain(batch, withdrawal.hash, header, index)


class _ReceiptCollector:
    """A VM's ``transaction_applied_hook``: keeps each applied transaction's receipt, in order."""

    def __init__(self, receipts: list[ReceiptAPI]) -> None:
        self.receipts = receipts

    def __call__(
        self,
        index: int,
        transactions: Any,
        base_header: Any,
        partial_header: Any,
        computation: Any,
        receipt: ReceiptAPI,
    ) -> None:
        self.receipts.append(receipt)


def _validate_unchanged(imported: BlockAPI, block: BlockAPI) -> None:
    if imported.header == block.header:
        return
    for name, _sedes in block.header._meta.fields:
        got, want = getattr(block.header, name), getattr(imported.header, name)
        if got != want:
            raise InvalidBlock(f"header field {name} after execution", got=got, expected=want)
    raise InvalidBlock("header differs after execution")


__all__ = ["ZERO_ADDRESS", "AppliedTransactions", "ExecutedBlock", "Executor", "apply_transactions"]


def first_list_item(data: bytes) -> bytes:
    """The RLP of the first item of the RLP list ``data`` (a block's header), read from the
    length prefixes alone. Raises ValueError if ``data`` is not one list whose first item is a
    list (the strict decode of the item and of the whole block checks the rest)."""

    def span(offset: int) -> tuple[bool, int, int]:
        """(is a list, payload start, end) of the item at ``offset``."""
        first = data[offset]
        if first < 0x80:
            return False, offset, offset + 1
        if first < 0xB8:
            return False, offset + 1, offset + 1 + first - 0x80
        if first < 0xC0:
            size = first - 0xB7
            return (
                False,
                offset + 1 + size,
                offset + 1 + size + int.from_bytes(data[offset + 1 : offset + 1 + size], "big"),
            )
        if first < 0xF8:
            return True, offset + 1, offset + 1 + first - 0xC0
        size = first - 0xF7
        return (
            True,
            offset + 1 + size,
            offset + 1 + size + int.from_bytes(data[offset + 1 : offset + 1 + size], "big"),
        )

    is_list, start, end = span(0)
    if not is_list or end != len(data) or start >= end:
        raise ValueError("block RLP is not one non-empty list")
    header_is_list, _, header_end = span(start)
    if not header_is_list or header_end > end:
        raise ValueError("block RLP does not start with a header list")
    return data[start:header_end]
