"""ChainReader: committed blocks, transactions, receipts and logs as neutral views.

Read-only. It reads through py-evm's ChainDB (headers, canonical index, tx lookups, tx and receipt
tries) and turns py-evm objects into jsc_node.views dataclasses, so the RPC layer never sees py-evm.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, ReceiptAPI
from eth.db.chain import ChainDB
from eth.exceptions import HeaderNotFound, TransactionNotFound
from eth_bloom.bloom import BloomFilter

from jsc_node.state.evm.forks import Fork, ForkSchedule, fork_of_vm
from jsc_node.state.evm.rules import (
    ACCESS_LIST_TX_TYPE,
    BLOB_TX_TYPE,
    DYNAMIC_FEE_TX_TYPE,
    LEGACY_TX_TYPE,
    SET_CODE_TX_TYPE,
    blob_base_fee,
    total_blob_gas,
)
from jsc_node.views import (
    AccessListEntry,
    AuthorizationView,
    BlockView,
    LogFilter,
    LogView,
    ReceiptView,
    TxView,
    WithdrawalView,
)

# Blocks whose decoded transactions and receipts stay in memory for hot reads.
BLOCK_CACHE_SIZE = 256


class ChainReader:
    def __init__(self, chaindb: ChainDB, schedule: ForkSchedule) -> None:
        self.chaindb = chaindb
        self.schedule = schedule
        self._bodies: OrderedDict[bytes, tuple[tuple[Any, ...], tuple[bytes, ...]]] = OrderedDict()
        self._receipts: OrderedDict[bytes, tuple[ReceiptAPI, ...]] = OrderedDict()
        self._receipt_views: OrderedDict[bytes, list[ReceiptView]] = OrderedDict()
        self._sizes: OrderedDict[bytes, int] = OrderedDict()

    # -- headers -----------------------------------------------------------------------

    def head(self) -> BlockHeaderAPI:
        return self.chaindb.get_canonical_head()

    def header_by_number(self, number: int) -> BlockHeaderAPI | None:
        try:
            return self.chaindb.get_canonical_block_header_by_number(number)
        except HeaderNotFound:
            return None

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        try:
            return self.chaindb.get_block_header_by_hash(block_hash)
        except HeaderNotFound:
            return None

    def is_canonical(self, header: BlockHeaderAPI) -> bool:
        found = self.header_by_number(header.block_number)
        return found is not None and found.hash == header.hash

    # -- bodies ------------------------------------------------------------------------

    def transactions(self, header: BlockHeaderAPI) -> tuple[Any, ...]:
        return self._body(header)[0]

    def tx_hashes(self, header: BlockHeaderAPI) -> tuple[bytes, ...]:
        return self._body(header)[1]

    def _body(self, header: BlockHeaderAPI) -> tuple[tuple[Any, ...], tuple[bytes, ...]]:
        cached = self._bodies.get(header.hash)
        if cached is None:
            builder = self.schedule.vm_class_for_header(header).get_block_class().get_transaction_builder()
            txs = tuple(self.chaindb.get_block_transactions(header, builder))
            cached = (txs, tuple(bytes(tx.hash) for tx in txs))
            _put(self._bodies, header.hash, cached)
        return cached

    def receipts(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        cached = self._receipts.get(header.hash)
        if cached is None:
            builder = self.schedule.vm_class_for_header(header).get_block_class().receipt_builder
            cached = tuple(self.chaindb.get_receipts(header, builder))
            _put(self._receipts, header.hash, cached)
        return cached

    def block_size(self, header: BlockHeaderAPI) -> int:
        size = self._sizes.get(header.hash)
        if size is None:
            size = self._encoded_size(header)
            _put(self._sizes, header.hash, size)
        return size

    def _encoded_size(self, header: BlockHeaderAPI) -> int:
        vm_class = self.schedule.vm_class_for_header(header)
        uncles = (
            self.chaindb.get_block_uncles(header.uncles_hash) if header.uncles_hash != _EMPTY_UNCLES else ()
        )
        withdrawals = self._withdrawals(header) if fork_of_vm(vm_class) >= Fork.SHANGHAI else None
        return encoded_block_size(
            vm_class.get_block_class(), header, self.transactions(header), uncles, withdrawals
        )

    def _withdrawals(self, header: BlockHeaderAPI) -> tuple[Any, ...]:
        """The withdrawals (EIP-4895) of a Shanghai or later block."""
        return tuple(self.chaindb.get_block_withdrawals(header))

    # -- views -------------------------------------------------------------------------

    def block_view(self, header: BlockHeaderAPI, full_txs: bool) -> BlockView:
        txs = self.transactions(header)
        transactions: tuple[bytes, ...] | tuple[TxView, ...]
        if full_txs:
            transactions = tuple(self.tx_view(tx, header, i) for i, tx in enumerate(txs))
        else:
            transactions = self.tx_hashes(header)
        uncles: tuple[bytes, ...] = ()
        if header.uncles_hash != _EMPTY_UNCLES:
            uncles = tuple(bytes(u.hash) for u in self.chaindb.get_block_uncles(header.uncles_hash))
        withdrawals = None
        if self.schedule.fork_of_header(header) >= Fork.SHANGHAI:
            withdrawals = tuple(
                WithdrawalView(w.index, w.validator_index, bytes(w.address), w.amount)
                for w in self._withdrawals(header)
            )
        return block_view(
            header,
            size=self.block_size(header),
            transactions=transactions,
            uncles=uncles,
            withdrawals=withdrawals,
        )

    def tx_view(
        self, tx: Any, header: BlockHeaderAPI | None, index: int | None, base_fee: int | None = None
    ) -> TxView:
        return tx_view(tx, header, index, base_fee)

    def tx_location(self, tx_hash: bytes) -> tuple[BlockHeaderAPI, int] | None:
        try:
            number, index = self.chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return None
        header = self.header_by_number(number)
        if header is None:
            return None
        return header, index

    def receipt_views(self, header: BlockHeaderAPI) -> list[ReceiptView]:
        """Every receipt of the block as views (cached: eth_getTransactionReceipt asks for one
        receipt at a time, and a receipt's gasUsed and logIndex depend on those before it)."""
        views = self._receipt_views.get(header.hash)
        if views is None:
            views = self._build_receipt_views(header)
            _put(self._receipt_views, header.hash, views)
        return views

    def _build_receipt_views(self, header: BlockHeaderAPI) -> list[ReceiptView]:
        txs = self.transactions(header)
        receipts = self.receipts(header)
        views: list[ReceiptView] = []
        log_index = 0
        previous_cumulative = 0
        base_fee = getattr(header, "base_fee_per_gas", None)
        blob_price = blob_base_fee(header, self.schedule.fork_of_header(header))
        for i, (tx, receipt) in enumerate(zip(txs, receipts, strict=True)):
            logs = []
            for log in receipt.logs:
                logs.append(_log_view(log, header, bytes(tx.hash), i, log_index))
                log_index += 1
            tx_type = tx.type_id or LEGACY_TX_TYPE
            root = bytes(receipt.state_root)
            status: int | None = None
            state_root: bytes | None = None
            if len(root) == 32:
                state_root = root
            else:
                status = 1 if root == b"\x01" else 0
            contract = None
            if not tx.to:
                contract = bytes(generate_contract_address(tx.sender, tx.nonce))
            views.append(
                ReceiptView(
                    type=tx_type,
                    transaction_hash=bytes(tx.hash),
                    transaction_index=i,
                    block_hash=bytes(header.hash),
                    block_number=header.block_number,
                    sender=bytes(tx.sender),
                    to=bytes(tx.to) if tx.to else None,
                    cumulative_gas_used=receipt.gas_used,
                    gas_used=receipt.gas_used - previous_cumulative,
                    effective_gas_price=effective_gas_price(tx, base_fee),
                    contract_address=contract,
                    logs=tuple(logs),
                    logs_bloom=receipt.bloom.to_bytes(256, "big"),
                    status=status,
                    root=state_root,
                    blob_gas_used=total_blob_gas(tx) if tx_type == BLOB_TX_TYPE else None,
                    blob_gas_price=blob_price if tx_type == BLOB_TX_TYPE else None,
                )
            )
            previous_cumulative = receipt.gas_used
        return views

    def logs(self, query: LogFilter, limit: int) -> list[LogView]:
        """Matching logs; raises OverflowError when more than ``limit`` match."""
        found: list[LogView] = []
        for header in self._headers(query.from_block, query.to_block):
            if not _bloom_may_match(header.bloom, query):
                continue
            receipts = self.receipts(header)
            txs = None
            log_index = 0
            for i, receipt in enumerate(receipts):
                for log in receipt.logs:
                    if _log_matches(log, query):
                        if txs is None:
                            txs = self.tx_hashes(header)
                        found.append(_log_view(log, header, txs[i], i, log_index))
                        if len(found) > limit:
                            raise OverflowError(limit)
                    log_index += 1
        return found

    def block_logs(self, header: BlockHeaderAPI) -> list[LogView]:
        return self.logs(LogFilter(header.block_number, header.block_number), limit=1 << 62)

    def _headers(self, start: int, end: int) -> Iterator[BlockHeaderAPI]:
        for number in range(start, end + 1):
            header = self.header_by_number(number)
            if header is None:
                return
            yield header


_EMPTY_UNCLES = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")


def _put(cache: OrderedDict[bytes, Any], key: bytes, value: Any) -> None:
    cache[key] = value
    if len(cache) > BLOCK_CACHE_SIZE:
        cache.popitem(last=False)


def block_view(
    header: BlockHeaderAPI,
    *,
    size: int,
    transactions: tuple[bytes, ...] | tuple[TxView, ...],
    uncles: tuple[bytes, ...],
    withdrawals: tuple[WithdrawalView, ...] | None,
) -> BlockView:
    """A block as the RPC layer sees it: every header field, and the fields later forks added
    (base fee, withdrawals root, blob gas, beacon root, requests hash) where the header has them.
    The one mapping for committed blocks (``ChainReader.block_view``) and simulated ones
    (serve/simulate.py)."""
    return BlockView(
        number=int(header.block_number),
        hash=bytes(header.hash),
        parent_hash=bytes(header.parent_hash),
        nonce=bytes(header.nonce),
        mix_hash=bytes(header.mix_hash),
        sha3_uncles=bytes(header.uncles_hash),
        logs_bloom=int(header.bloom).to_bytes(256, "big"),
        transactions_root=bytes(header.transaction_root),
        state_root=bytes(header.state_root),
        receipts_root=bytes(header.receipt_root),
        miner=bytes(header.coinbase),
        difficulty=int(header.difficulty),
        extra_data=bytes(header.extra_data),
        gas_limit=int(header.gas_limit),
        gas_used=int(header.gas_used),
        timestamp=int(header.timestamp),
        size=size,
        transactions=transactions,
        uncles=uncles,
        base_fee_per_gas=getattr(header, "base_fee_per_gas", None),
        withdrawals_root=_opt_bytes(getattr(header, "withdrawals_root", None)),
        withdrawals=withdrawals,
        blob_gas_used=getattr(header, "blob_gas_used", None),
        excess_blob_gas=getattr(header, "excess_blob_gas", None),
        parent_beacon_block_root=_opt_bytes(getattr(header, "parent_beacon_block_root", None)),
        requests_hash=_opt_bytes(getattr(header, "requests_hash", None)),
    )


def encoded_block_size(
    block_class: Any,
    header: BlockHeaderAPI,
    txs: Sequence[Any],
    uncles: Sequence[Any],
    withdrawals: Sequence[Any] | None,
) -> int:
    """``size`` of a block: the length of its RLP through the fork's own block class, whose sedes
    encodes typed transactions (EIP-2718) as the network does; withdrawals from Shanghai on."""
    fields: list[Any] = [header, list(txs), list(uncles)]
    if withdrawals is not None:
        fields.append(list(withdrawals))
    return len(rlp.encode(block_class(*fields)))


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def effective_gas_price(tx: Any, base_fee: int | None) -> int:
    """The wei per gas ``tx`` pays at ``base_fee`` (EIP-1559: the fee cap, or the base fee and tip
    if less); a legacy or EIP-2930 tx pays its gas price."""
    if tx.type_id in (None, LEGACY_TX_TYPE, ACCESS_LIST_TX_TYPE):
        return int(tx.gas_price)
    if base_fee is None:
        return int(tx.max_fee_per_gas)
    return int(min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas))


def tx_view(tx: Any, header: BlockHeaderAPI | None, index: int | None, base_fee: int | None = None) -> TxView:
    tx_type = tx.type_id or LEGACY_TX_TYPE
    if header is not None:
        base_fee = getattr(header, "base_fee_per_gas", None)
    access_list = None
    if tx_type >= ACCESS_LIST_TX_TYPE:
        access_list = tuple(
            AccessListEntry(bytes(address), tuple(slot.to_bytes(32, "big") for slot in slots))
            for address, slots in tx.access_list
        )
    chain_id: int | None
    if tx_type == LEGACY_TX_TYPE:
        v = tx.v
        chain_id = (v - 35) // 2 if v >= 35 else None
        gas_price = int(tx.gas_price)
    else:
        v = tx.y_parity
        chain_id = tx.chain_id
        gas_price = (
            int(tx.gas_price)
            if tx_type == ACCESS_LIST_TX_TYPE
            else (effective_gas_price(tx, base_fee) if header is not None else int(tx.max_fee_per_gas))
        )
    authorizations = None
    if tx_type == SET_CODE_TX_TYPE:
        authorizations = tuple(
            AuthorizationView(a.chain_id, bytes(a.address), a.nonce, a.y_parity, a.r, a.s)
            for a in tx.authorization_list
        )
    return TxView(
        type=tx_type,
        hash=bytes(tx.hash),
        sender=bytes(tx.sender),
        to=bytes(tx.to) if tx.to else None,
        nonce=tx.nonce,
        gas=tx.gas,
        value=tx.value,
        input=bytes(tx.data),
        gas_price=gas_price,
        v=v,
        r=tx.r,
        s=tx.s,
        chain_id=chain_id,
        max_fee_per_gas=tx.max_fee_per_gas if tx_type >= DYNAMIC_FEE_TX_TYPE else None,
        max_priority_fee_per_gas=tx.max_priority_fee_per_gas if tx_type >= DYNAMIC_FEE_TX_TYPE else None,
        access_list=access_list,
        max_fee_per_blob_gas=tx.max_fee_per_blob_gas if tx_type == BLOB_TX_TYPE else None,
        blob_versioned_hashes=tuple(bytes(h) for h in tx.blob_versioned_hashes)
        if tx_type == BLOB_TX_TYPE
        else None,
        authorization_list=authorizations,
        block_hash=bytes(header.hash) if header is not None else None,
        block_number=header.block_number if header is not None else None,
        block_timestamp=header.timestamp if header is not None else None,
        transaction_index=index,
    )


def _log_view(log: Any, header: BlockHeaderAPI, tx_hash: bytes, tx_index: int, log_index: int) -> LogView:
    return LogView(
        address=bytes(log.address),
        topics=tuple(t.to_bytes(32, "big") for t in log.topics),
        data=bytes(log.data),
        block_number=header.block_number,
        block_hash=bytes(header.hash),
        block_timestamp=header.timestamp,
        transaction_hash=tx_hash,
        transaction_index=tx_index,
        log_index=log_index,
    )


def _bloom_may_match(bloom: int, query: LogFilter) -> bool:
    if not query.addresses and not any(query.topics):
        return True
    bloom_filter = BloomFilter(bloom)
    if query.addresses and not any(a in bloom_filter for a in query.addresses):
        return False
    return all(not options or any(t in bloom_filter for t in options) for options in query.topics)


def _log_matches(log: Any, query: LogFilter) -> bool:
    if query.addresses and bytes(log.address) not in query.addresses:
        return False
    if len(query.topics) > len(log.topics):
        return False  # geth: more topic positions than the log has never match
    for position, options in enumerate(query.topics):
        if not options:
            continue
        if log.topics[position].to_bytes(32, "big") not in options:
            return False
    return True
