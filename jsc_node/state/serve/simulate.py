"""eth_simulateV1 on py-evm: a chain of simulated blocks on a scratch overlay, never committed.

geth's semantics (go-ethereum ``internal/ethapi/simulate.go``, ``transaction_args.go``,
``core/state_transition.go``; execution-apis ``eth_simulateV1``):

- ``sanitize_chain``: block numbers and timestamps must increase; a missing number is parent + 1,
  a missing time parent + 12 s; a gap in numbers is filled with empty blocks; at most 256 blocks
  past the base.
- Each block: header from the previous one (coinbase, gas limit inherited; mixHash zero; base fee
  0 without validation unless overridden, else EIP-1559 from the parent), state overrides, the
  EIP-2935/EIP-4788 pre-block system updates, the calls in order, EIP-7685 requests, withdrawals,
  then the real roots, bloom and hash of the block.
- Each call becomes an *unsigned* transaction (v = r = s = 0) of type 2 unless it gives
  ``gasPrice`` (legacy), blob hashes (3) or an authorization list (4): its hash is geth's
  (state/serve/calltx.py, shared with eth_call and kin).
  Default gas: what is left of the block, capped by the RPC gas cap that the whole simulation
  shares. geth's pre-checks run before py-evm executes the message (nonce only with validation;
  base fee skipped without validation when both fee fields are zero).
- ``traceTransfers``: every value transfer (calls but DELEGATECALL, creations, SELFDESTRUCT) is
  reported as an ERC-20 ``Transfer`` log from 0xeeee…eeee, in order with the EVM's own logs; a
  reverted frame drops its logs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI
from eth.consensus.context import ConsensusContext
from eth.constants import BLANK_ROOT_HASH
from eth.db.chain import ChainDB
from eth.exceptions import Halt, OutOfGas, Revert
from eth.vm.base import VM
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth_hash.auto import keccak
from eth_utils.exceptions import ValidationError

from jsc_node.errors import (
    ExecutionFailed,
    ExecutionReverted,
    SimBaseFeeTooLow,
    SimBlockGasLimitReached,
    SimBlockNumberOrder,
    SimClientLimit,
    SimInsufficientFunds,
    SimIntrinsicGas,
    SimInvalidParams,
    SimInvalidTransaction,
    SimMaxInitCodeSize,
    SimNonceTooHigh,
    SimNonceTooLow,
    SimTimestampOrder,
    SimTipAboveFeeCap,
    SimulationError,
)
from jsc_node.state.chain import block_view, encoded_block_size, tx_view
from jsc_node.state.evm import rules
from jsc_node.state.evm.executor import Executor
from jsc_node.state.evm.forks import Fork, fork_of_vm
from jsc_node.state.serve import calltx
from jsc_node.state.serve.overrides import apply_state_overrides
from jsc_node.state.storage.leveldb import Overlay
from jsc_node.views import (
    BlockView,
    CallRequest,
    LogView,
    SimBlockCalls,
    SimBlockOverrides,
    SimCallResult,
    SimulatedBlock,
    SimulateRequest,
    StateOverride,
    WithdrawalView,
)

MAX_SIMULATE_BLOCKS = 256
TIMESTAMP_INCREMENT_S = 12
UINT64_MAX = 2**64 - 1
ZERO_ADDRESS = b"\x00" * 20
ZERO_HASH = b"\x00" * 32
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")
TRANSFER_LOG_ADDRESS = b"\xee" * 20
SELFDESTRUCT_OPCODE = 0xFF


# --- transfer and log tracing ------------------------------------------------------------


@dataclass
class _RawLog:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    index: int


@dataclass
class LogTracer:
    """geth's simulate ``tracer``: one log list per call frame; a reverted frame drops its list,
    a successful one hands it to its parent. Log indexes count over the whole block."""

    trace_transfers: bool
    frames: list[list[_RawLog]] = field(default_factory=list)
    count: int = 0
    creating: set[int] = field(default_factory=set)
    """``id()`` of creation messages whose frame is already open."""

    def reset(self) -> None:
        self.frames = []

    def enter(self, sender: bytes, recipient: bytes, value: int, is_delegate: bool) -> None:
        self.frames.append([])
        if value > 0 and not is_delegate:
            self.transfer(sender, recipient, value)

    def exit(self, reverted: bool) -> None:
        if len(self.frames) <= 1:
            if reverted and self.frames:
                self.frames[0] = []
            return
        logs = self.frames.pop()
        if not reverted:
            self.frames[-1].extend(logs)

    def transfer(self, sender: bytes, recipient: bytes, value: int) -> None:
        if self.trace_transfers:
            topics = (TRANSFER_TOPIC, sender.rjust(32, b"\x00"), recipient.rjust(32, b"\x00"))
            self.log(TRANSFER_LOG_ADDRESS, topics, value.to_bytes(32, "big"))

    def log(self, address: bytes, topics: tuple[bytes, ...], data: bytes) -> None:
        if not self.frames:
            return
        self.frames[-1].append(_RawLog(address, topics, data, self.count))
        self.count += 1

    def logs(self) -> list[_RawLog]:
        return list(self.frames[0]) if self.frames else []


def _traced_vm_class(
    vm_class: type[VM],
    tracer: LogTracer,
    precompiles: dict[bytes, Any],
    skip_fees: bool,
    blob_base_fee: int | None,
) -> type[VM]:
    """``vm_class`` whose computations report frames and logs to ``tracer``, with this block's
    precompile table, and whose state leaves transaction validation to the simulator."""
    state_class: Any = vm_class.get_state_class()
    base_computation: Any = state_class.computation_class

    def enter(message: Any) -> None:
        if message.is_create:
            recipient = message.storage_address
        elif message.to == message.sender:
            # CALLCODE runs in the caller's account; geth reports the code's address as ``to``
            # (for a plain call to oneself the two are the same).
            recipient = message.code_address
        else:
            recipient = message.to
        tracer.enter(
            bytes(message.sender),
            bytes(recipient),
            int(message.value),
            is_delegate=not message.should_transfer_value,
        )

    def apply_message(
        cls: Any, state: Any, message: Any, transaction_context: Any, parent_computation: Any = None
    ) -> Any:
        if id(message) in tracer.creating:
            # The frame of a creation was entered by apply_create_message (which calls this).
            tracer.creating.discard(id(message))
            return base_computation.apply_message.__func__(
                cls, state, message, transaction_context, parent_computation
            )
        enter(message)
        try:
            computation = base_computation.apply_message.__func__(
                cls, state, message, transaction_context, parent_computation
            )
        except BaseException:
            tracer.exit(reverted=True)
            raise
        tracer.exit(reverted=bool(computation.is_error))
        return computation

    def apply_create_message(
        cls: Any, state: Any, message: Any, transaction_context: Any, parent_computation: Any = None
    ) -> Any:
        enter(message)
        tracer.creating.add(id(message))
        try:
            computation = base_computation.apply_create_message.__func__(
                cls, state, message, transaction_context, parent_computation
            )
        except BaseException:
            tracer.exit(reverted=True)
            raise
        tracer.exit(reverted=bool(computation.is_error))
        return computation

    def add_log_entry(self: Any, account: bytes, topics: tuple[int, ...], data: bytes) -> None:
        base_computation.add_log_entry(self, account, topics, data)
        tracer.log(bytes(account), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))

    opcodes = dict(base_computation.opcodes)
    selfdestruct = opcodes.get(SELFDESTRUCT_OPCODE)
    if selfdestruct is not None:
        opcodes[SELFDESTRUCT_OPCODE] = _traced_selfdestruct(selfdestruct, tracer)

    computation_class = type(
        f"Sim{base_computation.__name__}",
        (base_computation,),
        {
            "_precompiles": precompiles,
            "opcodes": opcodes,
            "apply_message": classmethod(apply_message),
            "apply_create_message": classmethod(apply_create_message),
            "add_log_entry": add_log_entry,
        },
    )

    def validate_transaction(self: Any, transaction: Any) -> None:
        # The simulator runs geth's pre-checks itself (SimulatorBlock._validate).
        return None

    # EIP-2929: the fork's precompile addresses start warm, wherever this block moved them
    # (geth warms ``vm.ActivePrecompiles(rules)``, not the overridden table).
    warm_precompiles = frozenset(base_computation.get_precompiles())

    def is_address_warm(self: Any, address: bytes) -> bool:
        return bool(self._account_db.is_address_warm(address)) or address in warm_precompiles

    def increment_nonce(self: Any, address: bytes) -> None:
        # geth's uint64 nonce wraps (reachable without validation after a nonce override).
        self.set_nonce(address, (int(self.get_nonce(address)) + 1) % 2**64)

    base_executor = state_class.transaction_executor_class
    executor_class = type(
        f"Sim{base_executor.__name__}", (base_executor,), {"validate_transaction": validate_transaction}
    )
    namespace: dict[str, Any] = {
        "computation_class": computation_class,
        "transaction_executor_class": executor_class,
        "validate_transaction": validate_transaction,
        "is_address_warm": is_address_warm,
        "increment_nonce": increment_nonce,
    }
    if skip_fees:
        # geth: with NoBaseFee and both fee fields zero, no fee is paid to the coinbase (the
        # tip max_fee - base_fee would be negative).
        def get_tip(self: Any, transaction: Any) -> int:
            return max(0, int(state_class.get_tip(self, transaction)))

        namespace["get_tip"] = get_tip
    if blob_base_fee is not None:
        namespace["blob_base_fee"] = property(lambda self: blob_base_fee)
    sim_state_class = type(f"Sim{state_class.__name__}", (state_class,), namespace)
    return type(f"Sim{vm_class.__name__}", (vm_class,), {"_state_class": sim_state_class})


def _traced_selfdestruct(opcode_fn: Any, tracer: LogTracer) -> Callable[..., Any]:
    """SELFDESTRUCT moves the whole balance to the beneficiary: geth traces it as a frame."""

    def traced(computation: Any) -> Any:
        beneficiary = _stack_top_address(computation)
        contract = bytes(computation.msg.storage_address)
        balance = int(computation.state.get_balance(contract))

        def trace() -> None:
            if beneficiary is not None:
                tracer.enter(contract, beneficiary, balance, is_delegate=False)
                tracer.exit(reverted=False)

        try:
            result = opcode_fn(computation=computation)
        except Halt:
            # SELFDESTRUCT ends its frame with Halt once the balance has moved.
            trace()
            raise
        trace()
        return result

    return traced


def _stack_top_address(computation: Any) -> bytes | None:
    try:
        value = computation._stack.values[-1]  # py-evm keeps ints and bytes as pushed
    except (AttributeError, IndexError):
        return None
    raw = bytes(value) if isinstance(value, bytes) else int(value).to_bytes(32, "big")
    return raw.rjust(32, b"\x00")[-20:]


# --- the simulator -----------------------------------------------------------------------


@dataclass
class _PlannedBlock:
    number: int
    time: int
    calls: SimBlockCalls


@dataclass
class _CallOutcome:
    tx: Any
    computation: Any
    max_used_gas: int
    logs: list[_RawLog]
    gas_used: int = 0
    """After refunds (and the EIP-7623 floor): the receipt's share of the block's gas."""


class Simulator:
    """Runs one ``eth_simulateV1`` request on top of ``base``. Not thread-safe; one per request."""

    def __init__(self, executor: Executor, base: BlockHeaderAPI, request: SimulateRequest, gas_cap: int):
        self.executor = executor
        self.base = base
        self.request = request
        self.validate = request.validation
        self.budget = gas_cap if gas_cap > 0 else UINT64_MAX // 2
        self.overlay = Overlay(executor.state_db(base))
        self.chain_id = executor.spec.chain_id
        base_vm = executor.schedule.vm_class_for_header(base)
        self.base_precompiles: dict[bytes, Any] = dict(
            base_vm.get_state_class().computation_class.get_precompiles()
        )

    # -- the chain ------------------------------------------------------------------------

    def sanitize_chain(self) -> list[_PlannedBlock]:
        planned: list[_PlannedBlock] = []
        prev_number = int(self.base.block_number)
        prev_time = int(self.base.timestamp)
        for calls in self.request.blocks:
            overrides = calls.block_overrides or SimBlockOverrides()
            number = overrides.number if overrides.number is not None else prev_number + 1
            if number <= prev_number:
                raise SimBlockNumberOrder(f"block numbers must be in order: {number} <= {prev_number}")
            if number - int(self.base.block_number) > MAX_SIMULATE_BLOCKS:
                raise SimClientLimit("too many blocks")
            for gap in range(prev_number + 1, number):
                prev_time += TIMESTAMP_INCREMENT_S
                planned.append(_PlannedBlock(gap, prev_time, SimBlockCalls()))
            prev_number = number
            if overrides.time is None:
                time = prev_time + TIMESTAMP_INCREMENT_S
            else:
                time = overrides.time
                if time <= prev_time:
                    raise SimTimestampOrder(f"block timestamps must be in order: {time} <= {prev_time}")
            prev_time = time
            planned.append(_PlannedBlock(number, time, calls))
        return planned

    def run(self) -> list[SimulatedBlock]:
        planned = self.sanitize_chain()
        results: list[SimulatedBlock] = []
        parent = self.base
        coinbase = bytes(self.base.coinbase)
        gas_limit = int(self.base.gas_limit)
        for block in planned:
            overrides = block.calls.block_overrides or SimBlockOverrides()
            if overrides.fee_recipient is not None:
                coinbase = overrides.fee_recipient
            if overrides.gas_limit is not None:
                gas_limit = overrides.gas_limit
            result, parent = self._process_block(block, parent, coinbase, gas_limit)
            results.append(result)
        return results

    # -- one block ------------------------------------------------------------------------

    def _header(
        self,
        vm_class: type[VM],
        block: _PlannedBlock,
        parent: BlockHeaderAPI,
        coinbase: bytes,
        gas_limit: int,
    ) -> BlockHeaderAPI:
        overrides = block.calls.block_overrides or SimBlockOverrides()
        fields: dict[str, Any] = {
            "parent_hash": parent.hash,
            "coinbase": coinbase,
            "state_root": parent.state_root,
            "difficulty": 0 if int(parent.difficulty) == 0 else int(self.base.difficulty),
            "block_number": block.number,
            "gas_limit": gas_limit,
            "timestamp": block.time,
            "extra_data": b"",
            "mix_hash": overrides.prev_randao if overrides.prev_randao is not None else ZERO_HASH,
            "nonce": b"\x00" * 8,
        }
        fork = fork_of_vm(vm_class)
        parent_fork = self.executor.schedule.fork_of_header(parent)
        if fork >= Fork.LONDON:
            if overrides.base_fee_per_gas is not None:
                fields["base_fee_per_gas"] = overrides.base_fee_per_gas
            elif self.validate and parent_fork >= Fork.LONDON:
                fields["base_fee_per_gas"] = (
                    0 if self.executor.spec.zero_base_fee else calculate_expected_base_fee_per_gas(parent)
                )
            else:
                fields["base_fee_per_gas"] = 0
        if fork >= Fork.SHANGHAI:
            fields["withdrawals_root"] = BLANK_ROOT_HASH
        if fork >= Fork.CANCUN:
            fields["blob_gas_used"] = 0
            fields["parent_beacon_block_root"] = ZERO_HASH
            if parent_fork < Fork.CANCUN:
                fields["excess_blob_gas"] = 0
            else:
                fields["excess_blob_gas"] = rules.excess_blob_gas(parent, fork)
        if fork >= Fork.PRAGUE:
            fields["requests_hash"] = ZERO_HASH
        header_class = dict(vm_class.get_block_class()._meta.fields)["header"]
        return header_class(**fields)

    def _precompiles(self, overrides: StateOverride | None) -> dict[bytes, Any]:
        """geth ``StateOverride.Apply``'s precompile half: a moved precompile answers at its new
        address only; any override of a precompile's address removes the precompile there."""
        precompiles = dict(self.base_precompiles)
        if not overrides:
            return precompiles
        moved_to: set[bytes] = set()
        for address in sorted(overrides):
            account = overrides[address]
            if address in moved_to:
                raise SimulationError(
                    f"account 0x{address.hex()} has already been overridden by a precompile"
                )
            is_precompile = address in precompiles
            if account.move_precompile_to is not None:
                if not is_precompile:
                    raise SimulationError(f"account 0x{address.hex()} is not a precompile")
                if account.move_precompile_to in overrides:
                    raise SimulationError(
                        f"account 0x{account.move_precompile_to.hex()} is already overridden"
                    )
                precompiles[account.move_precompile_to] = precompiles[address]
                moved_to.add(account.move_precompile_to)
            if is_precompile:
                del precompiles[address]
        return precompiles

    def _process_block(
        self, block: _PlannedBlock, parent: BlockHeaderAPI, coinbase: bytes, gas_limit: int
    ) -> tuple[SimulatedBlock, BlockHeaderAPI]:
        schedule = self.executor.schedule
        vm_class = schedule.vm_class(block.number, block.time, 0 if int(parent.difficulty) == 0 else 1)
        fork = fork_of_vm(vm_class)
        header = self._header(vm_class, block, parent, coinbase, gas_limit)
        overrides = block.calls.block_overrides or SimBlockOverrides()
        precompiles = self._precompiles(block.calls.state_overrides)
        tracer = LogTracer(self.request.trace_transfers)
        sim_class = _traced_vm_class(
            vm_class, tracer, precompiles, skip_fees=not self.validate, blob_base_fee=overrides.blob_base_fee
        )
        atomic = self.overlay.atomic()
        vm = sim_class(header, ChainDB(atomic), self.executor.chain_context, ConsensusContext(atomic))
        apply_state_overrides(vm.state, block.calls.state_overrides, SimInvalidParams)
        vm.state.lock_changes()
        vm.block_preprocessing(vm.get_block())

        outcomes: list[_CallOutcome] = []
        receipts: list[Any] = []
        for call in block.calls.calls:
            outcome = self._apply_call(vm, header, call, tracer)
            receipt = vm.make_receipt(header, outcome.tx, outcome.computation, vm.state)
            outcome.gas_used = int(receipt.gas_used) - int(header.gas_used)
            self.budget -= outcome.gas_used
            header = vm.add_receipt_to_header(header, receipt)
            if fork >= Fork.CANCUN:
                header = vm.increment_blob_gas_used(header, outcome.tx)
            outcomes.append(outcome)
            receipts.append(receipt)

        withdrawals = None
        if fork >= Fork.SHANGHAI:
            withdrawals = [
                Withdrawal(w.index, w.validator_index, w.address, w.amount)
                for w in overrides.withdrawals or ()
            ]
        filled = vm.set_block_transactions_and_withdrawals(
            vm.get_block(), header, [o.tx for o in outcomes], receipts, withdrawals=withdrawals
        )
        processed = vm.block_postprocessing(filled)
        if withdrawals:
            vm.apply_all_withdrawals(withdrawals)
        final = vm.finalize_block(processed).block
        final_header = final.header
        # Stored so that later blocks' BLOCKHASH and parent lookups find it (scratch overlay only).
        self.overlay[bytes(final_header.hash)] = rlp.encode(final_header)
        return self._result(final, outcomes, tracer, fork), final_header

    # -- one call -------------------------------------------------------------------------

    def _apply_call(
        self, vm: VM, header: BlockHeaderAPI, call: CallRequest, tracer: LogTracer
    ) -> _CallOutcome:
        state = vm.state
        sender = call.sender or ZERO_ADDRESS
        block_gas_used = int(header.gas_used)
        nonce = call.nonce if call.nonce is not None else int(state.get_nonce(sender))
        gas = call.gas if call.gas is not None else int(header.gas_limit) - block_gas_used
        if block_gas_used + gas > header.gas_limit:
            raise SimBlockGasLimitReached(f"block gas limit reached: {block_gas_used} >= {header.gas_limit}")
        if call.chain_id is not None and call.chain_id != self.chain_id:
            raise SimulationError(
                f"chainId does not match node's (have={call.chain_id}, want={self.chain_id})"
            )
        gas = min(gas, self.budget)
        value = call.value or 0
        data = call.input or b""
        base_fee: int | None = getattr(header, "base_fee_per_gas", None)
        # geth ``ToTransaction(DynamicFeeTxType)``, unsigned (v = r = s = 0), its sender given.
        built = calltx.request_transaction(
            type(vm),
            self.chain_id,
            call,
            sender=sender,
            nonce=nonce,
            gas=gas,
            base_fee=base_fee,
            error=SimInvalidParams,
        )
        tx = calltx.unsigned_signed_form(type(vm), built, sender)
        fees = built.fees
        fork = fork_of_vm(vm)
        self._validate(
            state,
            fork,
            tx,
            sender,
            nonce,
            gas,
            value,
            data,
            fees.fee_cap,
            fees.tip,
            fees.gas_price,
            base_fee,
            call,
        )
        tracer.reset()
        state.lock_changes()
        try:
            computation = state.apply_transaction(tx)
        except ValidationError as exc:
            raise SimulationError(str(exc)) from exc
        # geth's maxUsedGas: gas used before refunds, at least the EIP-7623 floor.
        peak = gas - int(computation.get_gas_remaining())
        if fork >= Fork.PRAGUE:
            peak = max(peak, rules.floor_data_gas(data))
        return _CallOutcome(tx, computation, peak, tracer.logs())

    def _validate(
        self,
        state: Any,
        fork: Fork,
        tx: Any,
        sender: bytes,
        nonce: int,
        gas: int,
        value: int,
        data: bytes,
        fee_cap: int,
        tip: int,
        gas_price: int,
        base_fee: int | None,
        call: CallRequest,
    ) -> None:
        """geth ``StateTransition.preCheck`` + ``buyGas`` + the intrinsic-gas checks, in order."""
        if self.validate:
            have = int(state.get_nonce(sender))
            rules.validate_nonce(sender, nonce, have, too_low=SimNonceTooLow, too_high=SimNonceTooHigh)
            rules.validate_nonce_not_max(sender, have, SimInvalidTransaction)
        if base_fee is not None and (self.validate or fee_cap or tip):
            rules.validate_fee_caps(
                sender,
                fee_cap,
                tip,
                base_fee,
                tip_above_fee_cap=SimTipAboveFeeCap,
                below_base_fee=SimBaseFeeTooLow,
            )
        blob_fee = 0
        if call.blob_versioned_hashes:
            blob_fee = len(call.blob_versioned_hashes) * rules.GAS_PER_BLOB * (call.max_fee_per_blob_gas or 0)
        want = gas * (fee_cap if base_fee is not None else gas_price) + value + blob_fee
        balance = int(state.get_balance(sender))
        rules.validate_funds(sender, balance, want, SimInsufficientFunds)
        rules.validate_intrinsic_gas(
            gas, rules.intrinsic_gas(tx, with_initcode=fork >= Fork.SHANGHAI), SimIntrinsicGas
        )
        if fork >= Fork.PRAGUE:
            rules.validate_floor_data_gas(gas, data, SimInvalidTransaction)
        if value and balance - gas * gas_price < value:
            raise SimInsufficientFunds(
                f"{rules.ERR_INSUFFICIENT_FUNDS_FOR_TRANSFER}: address 0x{sender.hex()}"
            )
        if call.to is None and fork >= Fork.SHANGHAI:
            rules.validate_initcode_size(data, SimMaxInitCodeSize)

    # -- the answer -----------------------------------------------------------------------

    def _result(
        self, block: Any, outcomes: Sequence[_CallOutcome], tracer: LogTracer, fork: Fork
    ) -> SimulatedBlock:
        header = block.header
        block_hash = bytes(header.hash)
        calls: list[SimCallResult] = []
        for index, outcome in enumerate(outcomes):
            tx_hash = bytes(outcome.tx.hash)
            logs = tuple(
                LogView(
                    address=log.address,
                    topics=log.topics,
                    data=log.data,
                    block_number=int(header.block_number),
                    block_hash=block_hash,
                    block_timestamp=int(header.timestamp),
                    transaction_hash=tx_hash,
                    transaction_index=index,
                    log_index=log.index,
                )
                for log in outcome.logs
            )
            computation = outcome.computation
            error: Exception | None = None
            output = bytes(computation.output)
            if computation.is_error:
                error = _call_error(computation)
                output = b""
            calls.append(
                SimCallResult(
                    return_data=output,
                    logs=logs,
                    gas_used=outcome.gas_used,
                    max_used_gas=outcome.max_used_gas,
                    status=0 if computation.is_error else 1,
                    error=error,
                )
            )
        view = _block_view(block, [o.tx for o in outcomes], self.request.return_full_transactions, fork)
        return SimulatedBlock(block=view, calls=tuple(calls))


def simulate(
    executor: Executor, base: BlockHeaderAPI, request: SimulateRequest, gas_cap: int
) -> list[SimulatedBlock]:
    """Run ``request`` on top of ``base``; raises a ``SimulationError`` subclass."""
    return Simulator(executor, base, request, gas_cap).run()


# --- helpers -----------------------------------------------------------------------------


def _call_error(computation: Any) -> Exception:
    error = computation.error
    if isinstance(error, Revert):
        return ExecutionReverted(bytes(computation.output))
    if isinstance(error, OutOfGas):
        return ExecutionFailed("out of gas")
    from eth.exceptions import InvalidInstruction, StackDepthLimit, WriteProtection

    if isinstance(error, InvalidInstruction):
        return ExecutionFailed(f"invalid opcode: {error}")
    if isinstance(error, WriteProtection):
        return ExecutionFailed("write protection")
    if isinstance(error, StackDepthLimit):
        return ExecutionFailed("max call depth exceeded")
    return ExecutionFailed(str(error) or type(error).__name__)


def _block_view(block: Any, txs: Sequence[Any], full_txs: bool, fork: Fork) -> BlockView:
    header = block.header
    transactions: tuple[bytes, ...] | tuple[Any, ...]
    if full_txs:
        transactions = tuple(tx_view(tx, header, i) for i, tx in enumerate(txs))
    else:
        transactions = tuple(bytes(tx.hash) for tx in txs)
    withdrawals = None
    block_withdrawals = None
    if fork >= Fork.SHANGHAI:
        block_withdrawals = tuple(getattr(block, "withdrawals", ()) or ())
        withdrawals = tuple(
            WithdrawalView(w.index, w.validator_index, bytes(w.address), w.amount) for w in block_withdrawals
        )
    return block_view(
        header,
        size=encoded_block_size(type(block), header, block.transactions, block.uncles, block_withdrawals),
        transactions=transactions,
        uncles=(),
        withdrawals=withdrawals,
    )


__all__ = ["MAX_SIMULATE_BLOCKS", "LogTracer", "Simulator", "simulate"]
