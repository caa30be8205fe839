"""NodeBackend: the execution side's answer to jsc_node.rpc.ports.RpcBackend (structurally; state/ does not import rpc/).

Runs in the execution process's asyncio loop. Cheap reads answer inline; eth_call, eth_estimateGas
and wide eth_getLogs run in a worker thread so a slow one does not stall the loop. Blocks are
built, validated and committed by ExecutionService (one at a time, in its own worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import platform
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, TypeVar

import rlp
from eth.abc import BlockHeaderAPI
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_utils.exceptions import ValidationError

from jsc_node import CLIENT_NAME, __version__
from jsc_node.chainformat import decode_extra_data
from jsc_node.config import DEFAULT_RPC_EVM_TIMEOUT_S
from jsc_node.errors import (
    BlockNotFound,
    ExecutionReverted,
    InvalidBlock,
    InvalidTransaction,
    NoValidatorRegistry,
    UnknownTracer,
    VoteRefused,
)
from jsc_node.governance.registry import attestation_problem
from jsc_node.logs import change_levels
from jsc_node.state.chain import ChainReader, effective_gas_price, tx_view
from jsc_node.state.evm import rules
from jsc_node.state.evm.executor import ExecutedBlock, Executor
from jsc_node.state.evm.forks import Fork
from jsc_node.state.permissions import AccountPermissions, NodePermissions
from jsc_node.state.pool.pool import PooledTx, TxPool
from jsc_node.state.serve import (
    blobs,
    callenv,
    calltx,
    deadline,
    governance,
    payload,
    pending,
    proofs,
    tracing,
)
from jsc_node.state.serve.overrides import apply_state_overrides
from jsc_node.state.serve.simulate import simulate
from jsc_node.views import (
    AccessListResultView,
    AccountProofView,
    AttestationView,
    BlockId,
    BlockTraceEntry,
    BlockView,
    BuiltPayloadView,
    CallRequest,
    EthConfigView,
    ExecutionFailed,
    FeeHistoryView,
    GovernanceEventView,
    LogFilter,
    LogQueryLimitExceeded,
    LogView,
    NewHeadEvent,
    NewLogsEvent,
    NewPendingTxsEvent,
    PayloadAttributes,
    ReceiptView,
    SimulatedBlock,
    SimulateRequest,
    StateOverride,
    SyncStatus,
    TraceConfig,
    TraceView,
    TxPoolContent,
    TxView,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

ZERO_ADDRESS = b"\x00" * 20
DEFAULT_PRIORITY_FEE_WEI = 1_000_000_000
MAX_LOG_RESULTS = 10_000
LOCAL_TX_OUTBOX = 20_000
HEAD_STATES_KEPT = 2
"""Head states cached: the published head's (RPC reads) and, while a commit is being published,
the new head's (the pool's re-checks)."""

_PINNED_HEAD: ContextVar[BlockHeaderAPI | None] = ContextVar("jsc_node_pinned_head", default=None)
"""The head one JSON-RPC request, or one whole batch, is answered from (NodeBackend.read_snapshot).
A context variable: the batch's members (asyncio tasks) and their worker threads inherit it."""


def _validators_of(header: BlockHeaderAPI) -> tuple[bytes, ...]:
    """The validators a QBFT header's extraData names; none for a header of another chain."""
    try:
        return tuple(decode_extra_data(header.extra_data).validators)
    except InvalidBlock:
        return ()


class HeadState:
    """The py-evm states of the latest heads, kept until the head moves: most reads (RPC at
    "latest", the pool's nonce and balance checks) are at the head, and building a state costs
    LevelDB reads. Used from the event loop thread only."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._states: dict[bytes, Any] = {}

    def get(self, header: BlockHeaderAPI | None = None) -> Any:
        """The state after ``header``, by default the executor's head (the newest committed)."""
        if header is None:
            header = self._executor.head
        state = self._states.get(header.hash)
        if state is None:
            state = self._executor.state_at(header)
            self._states[header.hash] = state
            while len(self._states) > HEAD_STATES_KEPT:
                del self._states[next(iter(self._states))]
        return state

    # The pool's AccountReader: the pool follows the executor's head, ahead of what RPC shows
    # while a commit is being published (NodeBackend.publish_head).
    def nonce(self, address: bytes) -> int:
        return int(self.get().get_nonce(address))

    def balance(self, address: bytes) -> int:
        return int(self.get().get_balance(address))


class NodeBackend:
    def __init__(
        self,
        executor: Executor,
        pool: TxPool,
        gas_cap: int,
        min_gas_price: int = 0,
        evm_timeout_s: float = DEFAULT_RPC_EVM_TIMEOUT_S,
    ) -> None:
        self.executor = executor
        self.reader = ChainReader(executor.chaindb, executor.schedule)
        self.pool = pool
        self.gas_cap = gas_cap
        self.evm_timeout_s = evm_timeout_s
        """eth_call and kin are aborted after this many seconds (0: never), as geth's --rpc.evmtimeout."""
        self.min_gas_price = min_gas_price
        self.peers = 0
        self.sync_status: SyncStatus | None = None
        self.p2p_listening = False
        self.p2p_node: dict[str, Any] | None = None
        """This node's libp2p identity as the consensus process reports it (admin_nodeInfo)."""
        self.p2p_peers: list[dict[str, Any]] = []
        """Connected peers as the consensus process reports them, every second (admin_peers)."""
        self.votes: dict[bytes, bool] = {}
        """This node's validator votes (qbft_proposeValidatorVote, and the registry policy's drop
        votes); the consensus process hears of each change (``on_vote``) and puts them into the
        blocks it proposes."""
        self.policy_votes: dict[bytes, str] = {}
        """The drop votes in ``votes`` that the validator-registry policy holds (``config.jsc``):
        validator -> what is wrong with its attestation (``apply_registry_policy``)."""
        self.local_txs: deque[bytes] = deque(maxlen=LOCAL_TX_OUTBOX)
        """Transactions accepted over RPC, not yet handed to the consensus process to gossip.
        Bounded: if nobody collects them the oldest are dropped (they stay pooled and mined here)."""
        self.on_local_tx: Callable[[], None] = lambda: None
        """Called after a transaction joins ``local_txs`` (the execution process pushes it on)."""
        self.on_vote: Callable[[bytes, bool | None], None] = lambda address, add: None
        """Called with (address, add) when a vote is proposed, (address, None) when discarded."""
        self.on_log_level: Callable[[int, tuple[str, ...]], None] = lambda level, loggers: None
        """Called after admin_changeLogLevel changed this process (the consensus process follows)."""
        self._policy_seen: tuple[bytes, tuple[bytes, ...], frozenset[bytes]] | None = None
        """What ``apply_registry_policy`` last looked at: the registry's storage root, the head's
        validators and the held add votes; the same again gives the same answer."""
        self.head_state = HeadState(executor)
        self._published: BlockHeaderAPI = executor.head

    # -- the head RPC reads see --------------------------------------------------------
    #
    # Read-your-writes, as geth's users rely on it: once any answer has shown block B (a receipt,
    # a log, a block, a notification), every later "latest" read is at height >= B, and a
    # sender's "pending" nonce counts B. The executor's head moves in the block worker thread
    # right after the block's LevelDB batch is written (receipts and the tx index readable from
    # then on); the pool catches up on the event loop after that. So RPC reads follow a separate
    # published head, which ExecutionService moves only once the pool has taken the block in, and
    # nothing above it is shown (``_shown``). One request, or one batch, reads one head.

    @property
    def head(self) -> BlockHeaderAPI:
        """The head RPC reads are answered from: the request's pinned head, else the published one."""
        pinned = _PINNED_HEAD.get()
        return pinned if pinned is not None else self._published

    def publish_head(self) -> None:
        """Show the executor's head to RPC reads (called once the pool has taken the block in)."""
        self._published = self.executor.head

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Answer everything inside from the head published now (one request, or one batch)."""
        if _PINNED_HEAD.get() is not None:
            yield
            return
        token = _PINNED_HEAD.set(self._published)
        try:
            yield
        finally:
            _PINNED_HEAD.reset(token)

    def _shown(self, header: BlockHeaderAPI) -> bool:
        """Whether a block found in the database may be shown: not above the head RPC reads see.
        (QBFT blocks are final, so the height alone decides; the tx index is canonical.)"""
        return bool(header.block_number <= self.head.block_number)

    # -- helpers -----------------------------------------------------------------------

    @functools.cached_property
    def pending_blocks(self) -> pending.PendingBlocks:
        """The ``pending`` block, rebuilt when the head or the pool changes (state/serve/pending.py)."""
        pool = self.pool
        return pending.PendingBlocks(
            self.executor,
            lambda: (pooled.tx for pooled in pool.pending_for_block(self.next_base_fee())),
            lambda: pool.version,
        )

    def _header(self, block: BlockId) -> BlockHeaderAPI:
        if block.tag is not None:
            if block.tag == "earliest":
                return self.executor.genesis
            if block.tag == "pending":
                # geth: state and calls at "pending" run on the pending block's post-state, in
                # its context (eth/api_backend.go StateAndHeaderByNumber).
                return self.pending_blocks.get(self.head).header
            return self.head
        if block.number is not None:
            header = (
                self.reader.header_by_number(block.number) if block.number <= self.head.block_number else None
            )
            if header is None:
                raise BlockNotFound("header not found")
            return header
        assert block.hash is not None
        header = self.reader.header_by_hash(block.hash)
        if header is None or not self._shown(header):
            raise BlockNotFound("header not found")
        if block.require_canonical and not self.reader.is_canonical(header):
            raise BlockNotFound("hash is not currently canonical")
        return header

    def state(self, block: BlockId) -> Any:
        """A read-only py-evm state after ``block``."""
        header = self._header(block)
        if header.hash == self.head.hash:
            return self.head_state.get(header)
        return self.executor.state_at(header)

    def next_base_fee(self, head: BlockHeaderAPI | None = None) -> int | None:
        """The base fee of the block after ``head`` (default: the head RPC reads see)."""
        if head is None:
            head = self.head
        if self.executor.schedule.fork_of_header(head) < Fork.LONDON:
            return None
        if self.executor.spec.zero_base_fee:
            return 0
        return int(calculate_expected_base_fee_per_gas(head))

    # -- chain facts -------------------------------------------------------------------

    async def chain_id(self) -> int:
        return self.executor.spec.chain_id

    async def client_version(self) -> str:
        machine = platform.machine().lower().replace("x86_64", "amd64").replace("aarch64", "arm64")
        python = ".".join(str(x) for x in sys.version_info[:3])
        return f"{CLIENT_NAME}/v{__version__}/{sys.platform}-{machine}/python{python}"

    async def head_number(self) -> int:
        return int(self.head.block_number)

    async def resolve_block(self, block: BlockId) -> int | None:
        if block.tag == "pending":
            # A number is a committed block; readers of the pending block ask pending_block.
            return int(self.head.block_number)
        try:
            return int(self._header(block).block_number)
        except BlockNotFound:
            return None

    async def syncing(self) -> SyncStatus | None:
        return self.sync_status

    async def peer_count(self) -> int:
        return self.peers

    async def listening(self) -> bool:
        return self.p2p_listening

    # -- blocks and transactions -------------------------------------------------------

    async def block_by_number(self, number: int, full_txs: bool) -> BlockView | None:
        if number > self.head.block_number:
            return None
        header = self.reader.header_by_number(number)
        return None if header is None else self.reader.block_view(header, full_txs)

    async def pending_block(self, full_txs: bool) -> BlockView:
        return self.pending_blocks.get(self.head).view(full_txs)

    async def pending_receipts(self) -> list[ReceiptView]:
        return self.pending_blocks.get(self.head).receipts()

    async def block_by_hash(self, block_hash: bytes, full_txs: bool) -> BlockView | None:
        header = self.reader.header_by_hash(block_hash)
        if header is None or not self._shown(header):
            return None
        return self.reader.block_view(header, full_txs)

    async def block_transaction_count(self, number: int) -> int | None:
        if number > self.head.block_number:
            return None
        header = self.reader.header_by_number(number)
        return None if header is None else len(self.reader.tx_hashes(header))

    def _tx_location(self, tx_hash: bytes) -> tuple[BlockHeaderAPI, int] | None:
        """Where a mined transaction is, if its block is shown (``_shown``)."""
        found = self.reader.tx_location(tx_hash)
        if found is None or not self._shown(found[0]):
            return None
        return found

    async def transaction_by_hash(self, tx_hash: bytes) -> TxView | None:
        found = self._tx_location(tx_hash)
        if found is not None:
            header, index = found
            return tx_view(self.reader.transactions(header)[index], header, index)
        pooled = self.pool.get(tx_hash)
        if pooled is not None:
            return tx_view(pooled.tx, None, None)
        return None

    async def transaction_by_block_and_index(self, number: int, index: int) -> TxView | None:
        if number > self.head.block_number:
            return None
        header = self.reader.header_by_number(number)
        if header is None:
            return None
        txs = self.reader.transactions(header)
        if not 0 <= index < len(txs):
            return None
        return tx_view(txs[index], header, index)

    async def receipt(self, tx_hash: bytes) -> ReceiptView | None:
        found = self._tx_location(tx_hash)
        if found is None:
            return None
        header, index = found
        return self.reader.receipt_views(header)[index]

    async def block_receipts(self, number: int) -> list[ReceiptView] | None:
        if number > self.head.block_number:
            return None
        header = self.reader.header_by_number(number)
        return None if header is None else self.reader.receipt_views(header)

    # -- state -------------------------------------------------------------------------

    async def balance(self, address: bytes, block: BlockId) -> int:
        return int(self.state(block).get_balance(address))

    async def nonce(self, address: bytes, block: BlockId) -> int:
        if block.tag == "pending":
            return int(self.pool.nonce_after_pending(address))
        return int(self.state(block).get_nonce(address))

    async def code(self, address: bytes, block: BlockId) -> bytes:
        return bytes(self.state(block).get_code(address))

    async def storage_at(self, address: bytes, slot: bytes, block: BlockId) -> bytes:
        value = self.state(block).get_storage(address, int.from_bytes(slot, "big"))
        return int(value).to_bytes(32, "big")

    # -- execution ---------------------------------------------------------------------

    async def _time_limited(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread, its EVM work aborted after ``evm_timeout_s``
        (state/serve/deadline.py; geth's ``execution aborted (timeout = 5s)``)."""

        def limited() -> T:
            with deadline.time_limit(self.evm_timeout_s):
                return fn(*args)

        return await asyncio.to_thread(limited)

    async def call(self, request: CallRequest, block: BlockId, overrides: StateOverride | None) -> bytes:
        header = self._header(block)
        return await self._time_limited(self._call_sync, request, header, overrides)

    def _call_sync(
        self, request: CallRequest, header: BlockHeaderAPI, overrides: StateOverride | None
    ) -> bytes:
        # geth runs eth_call in the requested block's own context (state/serve/callenv.py).
        state = callenv.request_state(self.executor, header, request)
        apply_state_overrides(state, overrides, InvalidTransaction)
        gas = min(request.gas if request.gas is not None else self.gas_cap, self.gas_cap)
        computation = self._run(state, header, request, gas)
        _raise_if_error(computation)
        return bytes(computation.output)

    def _run(self, state: Any, header: BlockHeaderAPI, request: CallRequest, gas: int) -> Any:
        _validate_call_funds(state, request, gas)
        tx = callenv.call_transaction(self.executor, state, header, request, gas).tx
        snapshot = state.snapshot()
        try:
            return state.apply_transaction(tx)
        except ValidationError as exc:
            raise InvalidTransaction(str(exc)) from exc
        finally:
            state.revert(snapshot)

    async def estimate_gas(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None
    ) -> int:
        header = self._header(block)
        return await self._time_limited(self._estimate_sync, request, header, overrides)

    def _estimate_sync(
        self, request: CallRequest, header: BlockHeaderAPI, overrides: StateOverride | None
    ) -> int:
        state = callenv.request_state(self.executor, header, request)
        apply_state_overrides(state, overrides, InvalidTransaction)
        # geth's estimator ignores a limit under 21,000 and starts from the block's gas limit.
        given = request.gas if request.gas is not None and request.gas >= rules.TX_BASE_GAS else None
        hi = min(given if given is not None else header.gas_limit, self.gas_cap)
        if request.value and not (request.gas_price or request.max_fee_per_gas):
            balance = state.get_balance(request.sender or ZERO_ADDRESS)
            if request.value > balance:
                raise InvalidTransaction(rules.ERR_INSUFFICIENT_FUNDS_FOR_TRANSFER)
        hi = min(hi, self._gas_allowance(state, header, request))
        # geth's estimator takes a limit under the intrinsic gas for one too low, not an error.
        intrinsic = callenv.call_transaction(self.executor, state, header, request, hi, check_gas=False)
        if hi < intrinsic.intrinsic_gas:
            raise InvalidTransaction(f"gas required exceeds allowance ({hi})")
        # EIP-7623 (Prague): a transaction pays at least its calldata floor, and one whose gas limit
        # is below the floor is refused, so no limit under it is an answer (geth's estimator fails
        # every such limit in the state transition's pre-check).
        floor = 0
        if self.executor.schedule.fork_of_header(header) >= Fork.PRAGUE:
            floor = rules.floor_data_gas(request.input or b"")
            rules.validate_floor_data_gas(hi, request.input or b"")
        top = self._run(state, header, request, hi)
        if top.is_error:
            if _is_revert(top):
                raise ExecutionReverted(bytes(top.output))
            if _is_out_of_gas(top):
                raise InvalidTransaction(f"gas required exceeds allowance ({hi})")
            _raise_if_error(top)
        lo = max(intrinsic.intrinsic_gas, floor) - 1
        used = hi - top.get_gas_remaining()
        # geth's first guess: what it used plus refunds and a call stipend, scaled for EIP-150
        # (a call forwards at most 63/64 of its gas).
        guess = (used + top.get_gas_refund() + rules.CALL_STIPEND_GAS) * 64 // 63
        if lo < guess < hi and not self._run(state, header, request, guess).is_error:
            hi = guess
        else:
            lo = max(lo, used - 1)
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            if self._run(state, header, request, mid).is_error:
                lo = mid
            else:
                hi = mid
        return hi

    def _gas_allowance(self, state: Any, header: BlockHeaderAPI, request: CallRequest) -> int:
        """geth's estimator caps the gas limit at what the sender can pay at the fee cap it names
        (eth/gasestimator ``Estimate``): (balance - value) // fee cap; no cap without a fee."""
        fee_cap = calltx.message_fees(request, getattr(header, "base_fee_per_gas", None)).fee_cap
        if not fee_cap:
            return self.gas_cap if self.gas_cap > 0 else 2**64 - 1
        available = int(state.get_balance(request.sender or ZERO_ADDRESS))
        if request.value:
            if request.value >= available:
                raise InvalidTransaction(rules.ERR_INSUFFICIENT_FUNDS_FOR_TRANSFER)
            available -= request.value
        if request.blob_versioned_hashes:
            blob_cost = _blob_cost(request)
            if blob_cost >= available:
                raise InvalidTransaction(rules.ERR_INSUFFICIENT_FUNDS)
            available -= blob_cost
        return available // fee_cap

    async def fill_transaction(self, request: CallRequest) -> tuple[bytes, TxView]:
        """geth ``FillTransaction``: ``setDefaults`` on the head (fees, pending nonce, value,
        the estimate as gas, chain id), then ``ToTransaction(DynamicFeeTxType)``, unsigned."""
        head = self.head
        sender = request.sender or ZERO_ADDRESS
        filled = await self._fee_defaults(request, head)
        if filled.value is None:
            filled = replace(filled, value=0)
        if filled.nonce is None:
            filled = replace(filled, nonce=await self.nonce(sender, BlockId(tag="pending")))
        _validate_fill_shape(filled)
        if filled.gas is None:
            # geth estimates at "latest" with the filled fees, no nonce and no overrides.
            estimate_request = replace(filled, nonce=None)
            gas = await self._time_limited(self._estimate_sync, estimate_request, head, None)
            filled = replace(filled, gas=gas)
        chain_id = self.executor.spec.chain_id
        if filled.chain_id is not None and filled.chain_id != chain_id:
            raise InvalidTransaction(
                f"chainId does not match node's (have={filled.chain_id}, want={chain_id})"
            )
        vm_class = self.executor.schedule.vm_class_for_header(head)
        assert filled.nonce is not None
        assert filled.gas is not None
        built = calltx.request_transaction(
            vm_class,
            chain_id,
            filled,
            sender=sender,
            nonce=filled.nonce,
            gas=filled.gas,
            base_fee=getattr(head, "base_fee_per_gas", None),
        )
        tx = calltx.unsigned_signed_form(vm_class, built, sender)
        return calltx.encode_unsigned(built), tx_view(tx, None, None)

    async def _fee_defaults(self, request: CallRequest, head: BlockHeaderAPI) -> CallRequest:
        """geth ``setFeeDefaults`` on the head: ``request`` with its fees filled, or a refusal in
        geth's words."""
        if request.max_fee_per_blob_gas == 0:
            raise InvalidTransaction("maxFeePerBlobGas, if specified, must be non-zero")
        fork = self.executor.schedule.fork_of_header(head)
        blob_fee_cap = request.max_fee_per_blob_gas
        if fork >= Fork.CANCUN and request.blob_versioned_hashes is not None and blob_fee_cap is None:
            # Twice the head's blob base fee: slack for a rising fee.
            blob_fee_cap = 2 * (rules.blob_base_fee(head, fork) or 0)
        request = replace(request, max_fee_per_blob_gas=blob_fee_cap)
        if request.gas_price is not None and request.authorization_list is not None:
            raise InvalidTransaction("both gasPrice and authorizationList specified")
        fee_cap, tip = request.max_fee_per_gas, request.max_priority_fee_per_gas
        if request.gas_price is None and fee_cap is not None and tip is not None:
            if fee_cap == 0:
                raise InvalidTransaction("maxFeePerGas must be non-zero")
            _validate_fee_order(fee_cap, tip)
            return request
        is_london = fork >= Fork.LONDON
        if request.gas_price is not None:
            if request.gas_price == 0 and is_london:
                raise InvalidTransaction("gasPrice must be non-zero after london fork")
            return request
        if not is_london:
            if fee_cap is not None or tip is not None:
                raise InvalidTransaction(
                    "maxFeePerGas and maxPriorityFeePerGas are not valid before London is active"
                )
            return replace(request, gas_price=await self.gas_price())
        if tip is None:
            tip = await self.max_priority_fee()
        if fee_cap is None:
            # Twice the head's base fee plus the tip: slack for a rising base fee.
            fee_cap = tip + 2 * int(getattr(head, "base_fee_per_gas", 0) or 0)
        _validate_fee_order(fee_cap, tip)
        return replace(request, max_fee_per_gas=fee_cap, max_priority_fee_per_gas=tip)

    async def simulate_v1(self, request: SimulateRequest, block: BlockId) -> list[SimulatedBlock]:
        header = self._header(block)
        return await self._time_limited(simulate, self.executor, header, request, self.gas_cap)

    async def gas_price(self) -> int:
        return max((self.next_base_fee() or 0) + await self.max_priority_fee(), self.min_gas_price)

    async def max_priority_fee(self) -> int:
        if self.executor.spec.zero_base_fee:
            return self.min_gas_price
        return max(DEFAULT_PRIORITY_FEE_WEI, self.min_gas_price)

    async def fee_history(self, count: int, newest: int, percentiles: Sequence[float]) -> FeeHistoryView:
        oldest = newest - count + 1
        base_fees: list[int] = []
        ratios: list[float] = []
        rewards: list[tuple[int, ...]] = []
        blob_fees: list[int] = []
        blob_ratios: list[float] = []
        last: BlockHeaderAPI | None = None
        for number in range(oldest, newest + 1):
            header = self.reader.header_by_number(number)
            if header is None:
                raise BlockNotFound("header not found")
            last = header
            base_fee = getattr(header, "base_fee_per_gas", None) or 0
            base_fees.append(base_fee)
            ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
            fork = self.executor.schedule.fork_of_header(header)
            blob_fees.append(rules.blob_base_fee(header, fork) or 0)
            blob_ratios.append(rules.blob_gas_used_ratio(header, fork))
            if percentiles:
                rewards.append(self._rewards(header, base_fee, percentiles))
        assert last is not None
        last_fork = self.executor.schedule.fork_of_header(last)
        if last_fork < Fork.LONDON or self.executor.spec.zero_base_fee:
            base_fees.append(0)
        else:
            base_fees.append(int(calculate_expected_base_fee_per_gas(last)))
        return FeeHistoryView(
            oldest_block=oldest,
            base_fee_per_gas=tuple(base_fees),
            gas_used_ratio=tuple(ratios),
            reward=tuple(rewards) if percentiles else None,
            base_fee_per_blob_gas=(*blob_fees, rules.next_blob_base_fee(last, last_fork) or 0),
            blob_gas_used_ratio=tuple(blob_ratios),
        )

    def _rewards(
        self, header: BlockHeaderAPI, base_fee: int, percentiles: Sequence[float]
    ) -> tuple[int, ...]:
        txs = self.reader.transactions(header)
        if not txs:
            return tuple(0 for _ in percentiles)
        receipts = self.reader.receipt_views(header)
        tips = sorted(
            (effective_gas_price(tx, base_fee) - base_fee, receipt.gas_used)
            for tx, receipt in zip(txs, receipts, strict=True)
        )
        total = sum(gas for _, gas in tips) or 1
        result: list[int] = []
        index, cumulative = 0, tips[0][1]
        for p in percentiles:
            threshold = total * p / 100
            while cumulative < threshold and index < len(tips) - 1:
                index += 1
                cumulative += tips[index][1]
            result.append(tips[index][0])
        return tuple(result)

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        if raw[:1] == bytes([rules.BLOB_TX_TYPE]):
            # EIP-4844: over RPC a blob tx comes with its sidecar; check it, pool the tx alone.
            if self.executor.schedule.fork_of_header(self.head) < Fork.CANCUN:
                raise InvalidTransaction(rules.ERR_TX_TYPE_NOT_SUPPORTED)
            if not blobs.is_network_form(raw):
                raise InvalidTransaction("missing sidecar in blob transaction")
            raw = await asyncio.to_thread(blobs.strip_sidecar, raw)
        # Concurrent submitters share one journal fsync (group commit); the answer comes
        # only once the transaction is durable.
        tx_hash = await self.pool.add_async(raw)
        # Gossiped by the consensus process (seam event local_txs) whether it is executable now
        # or waits for a nonce gap: peers, and the next proposer, need it either way.
        self.local_txs.append(raw)
        self.on_local_tx()
        return tx_hash

    async def get_logs(self, query: LogFilter) -> list[LogView]:
        try:
            if query.to_block - query.from_block > 64:
                return await asyncio.to_thread(self.reader.logs, query, MAX_LOG_RESULTS)
            return self.reader.logs(query, MAX_LOG_RESULTS)
        except OverflowError as exc:
            raise LogQueryLimitExceeded(f"query returned more than {MAX_LOG_RESULTS} results") from exc

    # -- admin ---------------------------------------------------------------------------

    async def admin_node_info(self) -> dict[str, Any]:
        node = self.p2p_node or {}
        listen = list(node.get("listen_addrs", []))
        return {
            "id": node.get("id"),
            "name": await self.client_version(),
            "address": node.get("address"),
            "listenAddr": listen[0] if listen else None,
            "listenAddrs": listen,
            "protocols": {
                "jsc": {
                    "network": self.executor.spec.chain_id,
                    "genesis": "0x" + bytes(self.executor.genesis.hash).hex(),
                    "head": "0x" + bytes(self.head.hash).hex(),
                    "headNumber": int(self.head.block_number),
                }
            },
        }

    async def admin_peers(self) -> list[dict[str, Any]]:
        return [
            {
                "id": peer.get("id"),
                "address": peer.get("address"),
                "network": {
                    "remoteAddress": (peer.get("remote_addrs") or [None])[0],
                    "inbound": bool(peer.get("inbound")),
                },
            }
            for peer in self.p2p_peers
        ]

    async def admin_change_log_level(self, level: int, loggers: tuple[str, ...]) -> None:
        changed = change_levels(level, loggers)
        log.info("log level %s on %s", logging.getLevelName(level), ", ".join(changed))
        self.on_log_level(level, loggers)

    # -- PERM: the local account allowlist (state/permissions.py) ---------------------

    permissions: AccountPermissions = AccountPermissions(None, None)
    """Whom the pool admits; set by the execution process (``open_node_state``)."""

    async def perm_accounts_allowlist(self) -> tuple[bytes, ...]:
        return self.permissions.local_accounts()

    async def perm_add_accounts(self, entries: list[Any]) -> None:
        self.permissions.add_local(entries)

    async def perm_remove_accounts(self, entries: list[Any]) -> None:
        self.permissions.remove_local(entries)

    async def perm_reload(self) -> None:
        # Besu reloads both files; "not enabled" only when neither list is.
        if self.permissions.local is not None or self.node_permissions.local is None:
            self.permissions.reload_local()
        self.node_permissions.reload_local()

    # -- PERM: the local nodes file; the consensus process reloads it (state/permissions.py) --

    node_permissions: NodePermissions = NodePermissions(None)
    """The nodes file perm_*Nodes* edit; set by the execution process (``open_node_state``)."""

    async def perm_nodes_allowlist(self) -> tuple[str, ...]:
        return self.node_permissions.local_nodes()

    async def perm_add_nodes(self, entries: list[Any]) -> None:
        self.node_permissions.add_local(entries)

    async def perm_remove_nodes(self, entries: list[Any]) -> None:
        self.node_permissions.remove_local(entries)

    # -- QBFT --------------------------------------------------------------------------

    async def qbft_propose_vote(self, address: bytes, add: bool) -> None:
        policy = self.executor.spec.jsc
        if policy is not None:
            who = f"0x{address.hex()}"
            held = self.policy_votes.get(address)
            if held is not None:
                if add:
                    raise VoteRefused(
                        address,
                        f"cannot vote to add {who}: the validator-registry policy votes it out ({held})",
                    )
                return  # the policy holds this very drop vote
            if add:
                # The chain's rule (a block whose vote adds an address without a valid attestation
                # in the parent's state is invalid): refused here at once rather than carried into
                # proposals the other validators reject. An add for a current validator is a no-op
                # (consensus skips it), so only a newcomer is checked.
                header = self.head
                if address not in _validators_of(header):
                    problem = attestation_problem(
                        self._policy_read(header, policy.registry), address, policy.jurisdictions
                    )
                    if problem is not None:
                        raise VoteRefused(address, f"cannot vote to add {who}: {problem}")
        self.votes[address] = add
        self.on_vote(address, add)

    async def qbft_discard_vote(self, address: bytes) -> bool:
        held = self.policy_votes.get(address)
        if held is not None:
            who = f"0x{address.hex()}"
            raise VoteRefused(
                address,
                f"cannot discard the vote to drop {who}: the validator-registry policy holds it ({held}); "
                f"it is withdrawn once {who} has left the validator set or is attested again",
            )
        if self.votes.pop(address, None) is None:
            return False
        self.on_vote(address, None)
        return True

    def apply_registry_policy(self) -> None:
        """Carry out the validator-registry policy (``config.jsc``) at the executor's head, after
        each commit and once at startup: every validator of the head's set whose attestation has a
        problem gets a held drop vote (replacing this node's own vote about it), withdrawn once
        it has left the set or is attested again; a held add vote whose address lost its valid
        attestation is withdrawn, so this node never proposes a block the others reject. Each
        change goes to ``on_vote``.

        Cost per block: one account read (the registry's storage root) when the registry's
        storage, the validator set and the held add votes are as at the last call; otherwise
        ``attestation_problem`` per validator, two storage slots of the head state when the
        attestation is valid (status, jurisdiction), one otherwise, and the same for each held
        add vote of a non-validator. Nothing without ``config.jsc``."""
        policy = self.executor.spec.jsc
        if policy is None:
            return
        header = self.executor.head
        validators = _validators_of(header)
        # A block that left the registry's storage, the set and the held votes alone (most blocks)
        # changes nothing: one account read instead of the slots below.
        seen = (self.executor.account_storage_root(header, policy.registry), validators, self._held_adds())
        if seen == self._policy_seen:
            return
        read = self._policy_read(header, policy.registry)
        wanted: dict[bytes, str] = {}
        for validator in validators:
            problem = attestation_problem(read, validator, policy.jurisdictions)
            if problem is not None:
                wanted[validator] = problem
        for address in [a for a in self.policy_votes if a not in wanted]:
            del self.policy_votes[address]
            self.votes.pop(address, None)
            log.info(
                "registry policy: withdrew the vote to drop 0x%s at block %d: %s",
                address.hex(),
                header.block_number,
                "it left the validator set" if address not in validators else "its attestation is valid",
            )
            self.on_vote(address, None)
        for address, problem in wanted.items():
            if address in self.policy_votes:
                self.policy_votes[address] = problem
                continue
            own = self.votes.get(address)
            if own is not None:
                log.info(
                    "registry policy: this node's own vote to %s 0x%s is replaced by the policy's drop vote",
                    "add" if own else "drop",
                    address.hex(),
                )
            self.policy_votes[address] = problem
            self.votes[address] = False
            log.warning(
                "registry policy: voting validator 0x%s out at block %d: %s",
                address.hex(),
                header.block_number,
                problem,
            )
            if own is not False:
                self.on_vote(address, False)
        for address, add in list(self.votes.items()):
            if not add or address in validators:
                continue
            problem = attestation_problem(read, address, policy.jurisdictions)
            if problem is not None:
                del self.votes[address]
                log.warning(
                    "registry policy: withdrew this node's vote to add 0x%s at block %d "
                    "(the other validators would reject a block carrying it): %s",
                    address.hex(),
                    header.block_number,
                    problem,
                )
                self.on_vote(address, None)
        self._policy_seen = (seen[0], validators, self._held_adds())

    def _held_adds(self) -> frozenset[bytes]:
        return frozenset(address for address, add in self.votes.items() if add)

    def _policy_read(self, header: BlockHeaderAPI, registry_address: bytes) -> Callable[[int], int]:
        """The registry's storage after ``header``, a head (the state HeadState keeps for it)."""
        state = self.head_state.get(header)
        return lambda slot: int(state.get_storage(registry_address, slot))

    async def qbft_pending_votes(self) -> dict[bytes, bool]:
        return dict(self.votes)

    async def qbft_validators(self, block: BlockId) -> tuple[bytes, ...] | None:
        try:
            header = self._header(block)
        except BlockNotFound:
            return None
        try:
            return tuple(sorted(decode_extra_data(header.extra_data).validators))
        except InvalidBlock:
            return None  # not a QBFT block (an imported chain)

    async def qbft_signer_metrics(self, start: int, end: int) -> list[tuple[bytes, int, int]]:
        counts: dict[bytes, list[int]] = {}
        for number in range(start, min(end, self.head.block_number) + 1):
            header = self.reader.header_by_number(number)
            if header is None or number == 0:
                continue
            entry = counts.setdefault(bytes(header.coinbase), [0, 0])
            entry[0] += 1
            entry[1] = number
        return [(address, count, last) for address, (count, last) in sorted(counts.items())]

    # -- JSC (the validator registry, contracts/ValidatorRegistry.sol) ------------------

    def _registry(self) -> bytes:
        policy = self.executor.spec.jsc
        if policy is None:
            raise NoValidatorRegistry()
        return policy.registry

    def _registry_read(self, header: BlockHeaderAPI) -> Callable[[int], int]:
        registry_address = self._registry()
        state = (
            self.head_state.get(header) if header.hash == self.head.hash else self.executor.state_at(header)
        )
        return lambda slot: int(state.get_storage(registry_address, slot))

    async def jsc_validators(self, block: BlockId) -> list[tuple[bytes, AttestationView | None]] | None:
        self._registry()
        try:
            header = self._header(block)
        except BlockNotFound:
            return None
        try:  # the set qbft_getValidatorsByBlockNumber answers
            validators = sorted(decode_extra_data(header.extra_data).validators)
        except InvalidBlock:
            return None
        read = self._registry_read(header)
        return [(address, governance.attestation_view(read, address)) for address in validators]

    async def jsc_attestation(self, address: bytes, block: BlockId) -> AttestationView | None:
        self._registry()
        return governance.attestation_view(self._registry_read(self._header(block)), address)

    async def jsc_governance_events(self, first: int, last: int) -> list[GovernanceEventView]:
        query = LogFilter(from_block=first, to_block=last, addresses=(self._registry(),))
        return governance.decode_events(await self.get_logs(query))

    # -- pool ----------------------------------------------------------------------------

    async def txpool_content(self) -> TxPoolContent:
        content = self.pool.content()
        return TxPoolContent(
            pending={
                s: {n: tx_view(p.tx, None, None) for n, p in txs.items()}
                for s, txs in content["pending"].items()
            },
            queued={
                s: {n: tx_view(p.tx, None, None) for n, p in txs.items()}
                for s, txs in content["queued"].items()
            },
        )

    async def txpool_status(self) -> tuple[int, int]:
        return self.pool.status()

    # -- debug, proofs, tracing, payload building ---------------------------------------

    def _canonical(self, number: int) -> BlockHeaderAPI | None:
        if number > self.head.block_number:
            return None
        return self.reader.header_by_number(number)

    async def raw_header(self, number: int) -> bytes | None:
        header = self._canonical(number)
        return None if header is None else rlp.encode(header)

    async def raw_block(self, number: int) -> bytes | None:
        header = self._canonical(number)
        if header is None:
            return None
        block_class = self.executor.schedule.vm_class_for_header(header).get_block_class()
        return bytes(rlp.encode(block_class.from_header(header, self.executor.chaindb)))

    async def raw_receipts(self, number: int) -> list[bytes] | None:
        header = self._canonical(number)
        return None if header is None else [bytes(r.encode()) for r in self.reader.receipts(header)]

    async def raw_transaction(self, tx_hash: bytes) -> bytes | None:
        found = self._tx_location(tx_hash)
        if found is not None:
            header, index = found
            return bytes(self.reader.transactions(header)[index].encode())
        pooled = self.pool.get(tx_hash)
        return None if pooled is None else bytes(pooled.tx.encode())

    async def trace_transaction(self, tx_hash: bytes, config: TraceConfig) -> TraceView | None:
        found = self._tx_location(tx_hash)
        if found is None:
            return None
        header, index = found
        traced = await asyncio.to_thread(self._trace_sync, header, config, index)
        return traced[0].result

    async def trace_block(self, block: BlockId, config: TraceConfig) -> list[BlockTraceEntry]:
        try:
            header = self._header(block)
        except BlockNotFound:
            shown = f"0x{block.hash.hex()}" if block.hash is not None else f"#{block.number}"
            raise BlockNotFound(f"block {shown} not found") from None
        traced = await asyncio.to_thread(self._trace_sync, header, config, None)
        return [BlockTraceEntry(t.tx_hash, t.result) for t in traced]

    def _trace_sync(
        self, header: BlockHeaderAPI, config: TraceConfig, index: int | None
    ) -> list[tracing.TracedTx]:
        try:
            return tracing.trace_block(self.executor, header, config, index)
        except UnknownTracer as exc:
            raise ExecutionFailed(str(exc)) from exc

    async def account_proof(self, address: bytes, slots: Sequence[bytes], block: BlockId) -> AccountProofView:
        header = self._header(block)
        return await asyncio.to_thread(
            proofs.account_proof, self.executor.state_db(header), header.state_root, address, slots
        )

    async def create_access_list(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None
    ) -> AccessListResultView:
        header = self._header(block)
        return await self._time_limited(self._access_list_sync, request, header, overrides)

    def _access_list_sync(
        self, request: CallRequest, header: BlockHeaderAPI, overrides: StateOverride | None
    ) -> AccessListResultView:
        state = callenv.request_state(self.executor, header, request)
        apply_state_overrides(state, overrides, InvalidTransaction)
        gas = min(request.gas if request.gas is not None else self.gas_cap, self.gas_cap)
        _validate_call_funds(state, request, gas)
        return callenv.create_access_list(self.executor, state, header, request, gas)

    async def build_payload(
        self,
        parent_hash: bytes,
        attributes: PayloadAttributes,
        transactions: Sequence[bytes] | None,
        extra_data: bytes,
    ) -> BuiltPayloadView:
        pool_txs: list[Any] = []
        if transactions is None:
            pool_txs = [pooled.tx for pooled in self.pool.pending_for_block(self.next_base_fee())]
        return await asyncio.to_thread(
            payload.build_payload, self.executor, parent_hash, attributes, transactions, extra_data, pool_txs
        )

    async def fork_config(self) -> EthConfigView:
        return payload.eth_config(self.executor, self.head)

    async def trace_call(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None, config: TraceConfig
    ) -> TraceView:
        header = self._header(block)
        return await self._time_limited(self._trace_call_sync, request, header, overrides, config)

    def _trace_call_sync(
        self,
        request: CallRequest,
        header: BlockHeaderAPI,
        overrides: StateOverride | None,
        config: TraceConfig,
    ) -> TraceView:
        state = callenv.request_state(self.executor, header, request)
        apply_state_overrides(state, overrides, InvalidTransaction)
        gas = min(request.gas if request.gas is not None else self.gas_cap, self.gas_cap)
        _validate_call_funds(state, request, gas)
        # The transaction eth_call runs (geth's TraceCall executes the same ToMessage).
        tx = callenv.call_transaction(self.executor, state, header, request, gas).tx
        try:
            return tracing.trace_transaction_on(self.executor, state, header, tx, config)
        except UnknownTracer as exc:
            raise ExecutionFailed(str(exc)) from exc
        except ValidationError as exc:
            raise InvalidTransaction(str(exc)) from exc

    # -- chain events, published through jsc_node.rpc.subscriptions.EventHub ---------------

    def committed_block_events(self, executed: ExecutedBlock) -> tuple[NewHeadEvent, NewLogsEvent]:
        """The views of a block ExecutionService just committed (subscriptions and filters)."""
        header = executed.block.header
        head = NewHeadEvent(self.reader.block_view(header, False))
        return head, NewLogsEvent(self.reader.block_logs(header))

    def pending_txs_event(self, txs: Sequence[PooledTx]) -> NewPendingTxsEvent:
        """The views of transactions that just became pending in the pool."""
        return NewPendingTxsEvent([tx_view(ptx.tx, None, None) for ptx in txs])


def _is_revert(computation: Any) -> bool:
    from eth.exceptions import Revert

    return isinstance(computation.error, Revert)


def _is_out_of_gas(computation: Any) -> bool:
    from eth.exceptions import OutOfGas

    return isinstance(computation.error, OutOfGas)


def _raise_if_error(computation: Any) -> None:
    if not computation.is_error:
        return
    if _is_revert(computation):
        raise ExecutionReverted(bytes(computation.output))
    if _is_out_of_gas(computation):
        raise ExecutionFailed("out of gas")
    from eth.exceptions import InvalidInstruction, StackDepthLimit, WriteProtection

    error = computation.error
    if isinstance(error, InvalidInstruction):
        raise ExecutionFailed(f"invalid opcode: {error}")
    if isinstance(error, WriteProtection):
        raise ExecutionFailed("write protection")
    if isinstance(error, StackDepthLimit):
        raise ExecutionFailed("max call depth exceeded")
    raise ExecutionFailed(str(error) or type(error).__name__)


def _validate_call_funds(state: Any, request: CallRequest, gas: int) -> None:
    """geth ``buyGas`` for eth_call and kin: the sender covers gas x the price it names + value
    + its blobs' gas x the blob fee cap it names."""
    sender = request.sender or ZERO_ADDRESS
    price = request.gas_price or request.max_fee_per_gas or 0
    cost = gas * price + (request.value or 0) + _blob_cost(request)
    rules.validate_funds(sender, int(state.get_balance(sender)), cost)


def _blob_cost(request: CallRequest) -> int:
    """The most a request's blobs can cost: their blob gas x its blob fee cap."""
    blobs = len(request.blob_versioned_hashes or ())
    return blobs * rules.GAS_PER_BLOB * (request.max_fee_per_blob_gas or 0)


def _validate_fee_order(fee_cap: int, tip: int) -> None:
    """geth ``setFeeDefaults``: the fee cap is at least the tip (hexutil's 0x form in the words)."""
    if fee_cap < tip:
        raise InvalidTransaction(f"maxFeePerGas ({hex(fee_cap)}) < maxPriorityFeePerGas ({hex(tip)})")


def _validate_fill_shape(request: CallRequest) -> None:
    """geth ``setDefaults``: the blob count and what a creation may carry."""
    hashes = request.blob_versioned_hashes
    if hashes is not None and not hashes:
        raise InvalidTransaction("need at least 1 blob for a blob transaction")
    if hashes is not None and len(hashes) > rules.BLOB_TX_MAX_BLOBS:
        raise InvalidTransaction(
            f"too many blobs in transaction (have={len(hashes)}, max={rules.BLOB_TX_MAX_BLOBS})"
        )
    if request.to is None:
        if hashes is not None:
            raise InvalidTransaction('missing "to" in blob transaction')
        if not request.input:
            raise InvalidTransaction("contract creation without any data provided")
        if request.authorization_list:
            raise InvalidTransaction(
                'authorizationList provided for contract creation, but "to" field is missing'
            )
