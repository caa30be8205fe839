"""Transaction tracing (``debug_trace*``): geth's struct logger and callTracer on py-evm.

py-evm has no tracer hooks. The narrowest place to add them is the opcode loop itself,
``BaseComputation.apply_computation``: :func:`traced_computation_class` makes a subclass of a
fork's computation class whose loop is py-evm's, line for line, with a call to the tracer before
and after each opcode and when a frame starts and ends. Child frames are built from
``type(parent)``, so one subclass set on the state's ``computation_class`` (an instance
attribute, for one transaction) traces the whole call tree. Nothing else in py-evm changes, so a
traced transaction executes exactly as an untraced one.

Replaying a block (:func:`trace_block`) is py-evm's ``VM.import_block`` up to the transactions:
the parent's state, the block's execution context, the block's system calls (EIP-4788/2935),
then each transaction in order; the ones asked for run under a tracer.

geth's conventions followed (eth/tracers/logger, eth/tracers/native/call.go):
- a step shows the state *before* its opcode ran: pc, gas left, stack, memory;
- ``gasCost`` of a call or create includes the gas handed to the callee (py-evm charges it
  before the child starts, so the cost is read when the child frame begins);
- ``storage`` appears on SLOAD/SSTORE only: every slot of that contract seen so far;
- the result's ``gas`` is the receipt's gas used; ``returnValue`` is empty when the
  transaction failed for any reason but a revert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from eth.abc import BlockAPI, BlockHeaderAPI
from eth.consensus.context import ConsensusContext
from eth.db.chain import ChainDB
from eth.exceptions import (
    FullStack,
    Halt,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfBoundsRead,
    OutOfGas,
    Revert,
    StackDepthLimit,
    VMError,
    WriteProtection,
)
from eth.vm.computation import NO_RESULT
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode_values import STOP

from jsc_node.abi import decode_revert_reason
from jsc_node.errors import BlockNotFound, UnknownTracer
from jsc_node.state.evm.forks import Fork, fork_of_vm
from jsc_node.state.storage.leveldb import Overlay
from jsc_node.views import (
    CallFrameView,
    CallLogView,
    StructLogView,
    StructTraceView,
    TraceConfig,
    TraceView,
)

CALL_TRACER: Final = "callTracer"
STRUCT_LOGGER: Final = None

# py-evm mnemonic -> geth's name, where they differ (core/vm/opcodes.go).
_GETH_NAMES: Final = {"SHA3": "KECCAK256"}
_CALL_OPS: Final = frozenset({"CALL", "CALLCODE", "DELEGATECALL", "STATICCALL", "CREATE", "CREATE2"})


_NEEDED_GAS: Final = re.compile(r"Needed (\d+)")
_STACK_COUNTS: Final = re.compile(r"Wanted (\d+) stack items?, (?:only )?had (\w+)")


def geth_error(error: BaseException) -> str:
    """geth's words for an EVM error (core/vm/errors.go)."""
    if isinstance(error, Revert):
        return "execution reverted"
    if isinstance(error, OutOfGas):
        return "out of gas"
    if isinstance(error, InvalidJumpDestination):
        return "invalid jump destination"
    if isinstance(error, InvalidInstruction):
        return f"invalid opcode: {error}"
    if isinstance(error, InsufficientStack):
        counts = _STACK_COUNTS.search(str(error))
        if counts is None:
            return "stack underflow"
        have = "0" if counts.group(2) == "none" else counts.group(2)
        return f"stack underflow ({have} <=> {counts.group(1)})"
    if isinstance(error, FullStack):
        return "stack limit reached 1024 (1023)"
    if isinstance(error, WriteProtection):
        return "write protection"
    if isinstance(error, StackDepthLimit):
        return "max call depth exceeded"
    if isinstance(error, OutOfBoundsRead):
        return "return data out of bounds"
    return str(error) or type(error).__name__


def _as_int(value: int | bytes) -> int:
    return value if isinstance(value, int) else int.from_bytes(value, "big")


def _mnemonic(opcode_fn: Any) -> str:
    name = str(getattr(opcode_fn, "mnemonic", None) or opcode_fn.__wrapped__.mnemonic)
    return _GETH_NAMES.get(name, name)


# --- tracers -----------------------------------------------------------------------


class Tracer:
    """Hooks called by the traced opcode loop. The base class records nothing."""

    def enter(self, computation: Any) -> None:
        pass

    def before_op(self, computation: Any, pc: int, op: str) -> None:
        pass

    def after_op(self, computation: Any, error: BaseException | None) -> None:
        pass

    def exit(self, computation: Any) -> None:
        pass


@dataclass
class _Step:
    pc: int
    op: str
    gas: int
    depth: int
    stack: tuple[int, ...] | None
    memory: bytes | None
    storage: dict[bytes, bytes] | None
    return_data: bytes | None
    refund: int
    cost: int | None = None
    error: str | None = None


class StructLogger(Tracer):
    """geth's default tracer: one entry per executed opcode."""

    def __init__(self, config: TraceConfig) -> None:
        self.config = config
        self.steps: list[_Step] = []
        self._active: list[Any] = []
        self._open: list[_Step | None] = []
        self._storage: dict[bytes, dict[bytes, bytes]] = {}
        # The refund counter moves only on SSTORE/SELFDESTRUCT and when a frame ends: summed
        # again only then, not on every step.
        self._refund = 0
        self._refund_stale = True

    def enter(self, computation: Any) -> None:
        if self._open:
            step = self._open[-1]
            if step is not None and step.cost is None:
                # The caller has paid for the call, including the gas it hands over.
                step.cost = step.gas - self._active[-1].get_gas_remaining()
        self._active.append(computation)
        self._open.append(None)

    def before_op(self, computation: Any, pc: int, op: str) -> None:
        config = self.config
        values = computation._stack.values
        storage = None
        if not config.disable_storage and op in ("SLOAD", "SSTORE"):
            address = bytes(computation.msg.storage_address)
            seen = self._storage.setdefault(address, {})
            if op == "SLOAD" and values:
                slot = _as_int(values[-1])
                seen[slot.to_bytes(32, "big")] = computation.state.get_storage(address, slot).to_bytes(
                    32, "big"
                )
                storage = dict(seen)
            elif op == "SSTORE" and len(values) >= 2:
                seen[_as_int(values[-1]).to_bytes(32, "big")] = _as_int(values[-2]).to_bytes(32, "big")
                storage = dict(seen)
        step = _Step(
            pc=pc,
            op=op,
            gas=computation.get_gas_remaining(),
            depth=computation.msg.depth + 1,
            stack=None if config.disable_stack else tuple(_as_int(v) for v in values),
            memory=bytes(computation._memory._bytes) if config.enable_memory else None,
            storage=storage,
            return_data=bytes(computation.return_data) if config.enable_return_data else None,
            refund=self._refund_counter(),
        )
        self.steps.append(step)
        self._open[-1] = step

    def _refund_counter(self) -> int:
        if self._refund_stale:
            self._refund = sum(c.get_gas_refund() for c in self._active)
            self._refund_stale = False
        return self._refund

    def after_op(self, computation: Any, error: BaseException | None) -> None:
        step = self._open[-1]
        if step is None:
            return
        if step.op in ("SSTORE", "SELFDESTRUCT"):
            self._refund_stale = True
        if step.cost is None:
            step.cost = step.gas - computation.get_gas_remaining()
            if isinstance(error, OutOfGas):
                # geth's cost is what the opcode asked for, including the part it could not pay.
                needed = _NEEDED_GAS.search(str(error))
                step.cost += int(needed.group(1)) if needed else 0
        # geth logs an opcode, then runs it; only a failure found before the run (stack bounds,
        # gas) is the step's own error. A failure while running it (REVERT, a bad jump, an
        # undefined opcode, a write in a static call) ends the frame, the step shows none.
        if isinstance(error, OutOfGas | InsufficientStack | FullStack):
            step.error = geth_error(error)
        self._open[-1] = None

    def exit(self, computation: Any) -> None:
        self._active.pop()
        self._open.pop()
        self._refund_stale = True

    def result(self, gas_used: int, computation: Any) -> StructTraceView:
        failed = bool(computation.is_error)
        output = bytes(computation.output)
        if failed and not isinstance(computation.error, Revert):
            output = b""
        return StructTraceView(
            gas=gas_used,
            failed=failed,
            return_value=output,
            struct_logs=tuple(
                StructLogView(
                    pc=s.pc,
                    op=s.op,
                    gas=s.gas,
                    gas_cost=s.cost or 0,
                    depth=s.depth,
                    stack=s.stack,
                    memory=s.memory,
                    storage=s.storage,
                    return_data=s.return_data,
                    refund=s.refund,
                    error=s.error,
                )
                for s in self.steps
            ),
        )


@dataclass
class _Frame:
    type: str
    sender: bytes
    to: bytes | None
    value: int | None
    gas: int
    input: bytes
    gas_used: int = 0
    output: bytes | None = None
    error: str | None = None
    revert_reason: str | None = None
    calls: list[_Frame] = field(default_factory=list)
    logs: list[CallLogView] = field(default_factory=list)

    def view(self, with_log: bool) -> CallFrameView:
        return CallFrameView(
            type=self.type,
            sender=self.sender,
            to=self.to,
            value=self.value,
            gas=self.gas,
            gas_used=self.gas_used,
            input=self.input,
            output=self.output,
            error=self.error,
            revert_reason=self.revert_reason,
            calls=tuple(c.view(with_log) for c in self.calls),
            logs=tuple(self.logs) if with_log else None,
        )


class CallTracer(Tracer):
    """geth's callTracer: the tree of message calls and creates."""

    def __init__(self, config: TraceConfig) -> None:
        self.config = config
        self.root: _Frame | None = None
        self._stack: list[_Frame] = []
        self._ops: list[str] = []

    def enter(self, computation: Any) -> None:
        msg = computation.msg
        if not self._stack:
            kind = "CREATE" if msg.is_create else "CALL"
        else:
            kind = self._ops[-1] if self._ops and self._ops[-1] in _CALL_OPS else "CALL"
        if kind in ("DELEGATECALL", "CALLCODE"):
            to = bytes(msg.code_address)
        else:
            to = bytes(msg.storage_address) if msg.is_create else bytes(msg.to)
        frame = _Frame(
            type=kind,
            sender=bytes(msg.sender),
            to=to,
            value=None if kind == "STATICCALL" else int(msg.value),
            gas=int(msg.gas),
            input=bytes(msg.code if msg.is_create else msg.data),
        )
        if self._stack:
            if not self.config.only_top_call:
                self._stack[-1].calls.append(frame)
        else:
            self.root = frame
        self._stack.append(frame)
        self._ops.append("")

    def before_op(self, computation: Any, pc: int, op: str) -> None:
        self._ops[-1] = op
        if op == "SELFDESTRUCT" and not self.config.only_top_call:
            values = computation._stack.values
            if values:
                address = bytes(computation.msg.storage_address)
                beneficiary = _as_int(values[-1]).to_bytes(32, "big")[-20:]
                self._stack[-1].calls.append(
                    _Frame(
                        type="SELFDESTRUCT",
                        sender=address,
                        to=beneficiary,
                        value=int(computation.state.get_balance(address)),
                        gas=0,
                        input=b"",
                    )
                )

    def after_op(self, computation: Any, error: BaseException | None) -> None:
        op = self._ops[-1]
        if op.startswith("LOG") and error is None and computation._log_entries:
            _counter, address, topics, data = computation._log_entries[-1]
            frame = self._stack[-1]
            frame.logs.append(
                CallLogView(
                    address=bytes(address),
                    topics=tuple(t.to_bytes(32, "big") for t in topics),
                    data=bytes(data),
                    position=len(frame.calls),
                )
            )

    def exit(self, computation: Any) -> None:
        frame = self._stack.pop()
        self._ops.pop()
        frame.gas_used = frame.gas - int(computation.get_gas_remaining())
        output = bytes(computation.output)
        if not computation.is_error:
            frame.output = output
            return
        error = computation.error
        frame.error = geth_error(error)
        if frame.type in ("CREATE", "CREATE2"):
            frame.to = None
        _drop_logs(frame)
        if isinstance(error, Revert) and output:
            frame.output = output
            frame.revert_reason = decode_revert_reason(output)

    def result(self, tx: Any, gas_used: int) -> CallFrameView:
        assert self.root is not None
        root = self.root
        # The top frame shows the transaction's own gas limit and its receipt's gas used.
        root.gas = int(tx.gas)
        root.gas_used = gas_used
        return root.view(self.config.with_log)


def _drop_logs(frame: _Frame) -> None:
    # geth (callTracer clearFailedLogs): a failed frame's logs, and its children's, never happened.
    frame.logs.clear()
    for child in frame.calls:
        _drop_logs(child)


# geth (eth/tracers/logger/access_list_tracer.go): the opcodes whose account operand is accessed.
_ACCOUNT_TOP_OPS: Final = frozenset({"EXTCODECOPY", "EXTCODEHASH", "EXTCODESIZE", "BALANCE", "SELFDESTRUCT"})
_ACCOUNT_SECOND_OPS: Final = frozenset({"DELEGATECALL", "CALL", "STATICCALL", "CALLCODE"})


class AccessListTracer(Tracer):
    """The accounts and storage slots a transaction touches (geth's access list tracer):
    every SLOAD/SSTORE slot, and every account read or called, except ``excluded`` (sender,
    recipient, precompiles). Reverted frames count: their accesses happened."""

    def __init__(self, excluded: set[bytes], start: dict[bytes, set[bytes]] | None = None) -> None:
        self.excluded = excluded
        self.accessed: dict[bytes, set[bytes]] = {}
        for address, slots in (start or {}).items():
            if address not in excluded or slots:
                self.accessed.setdefault(address, set()).update(slots)

    def before_op(self, computation: Any, pc: int, op: str) -> None:
        values = computation._stack.values
        if op in ("SLOAD", "SSTORE") and values:
            address = bytes(computation.msg.storage_address)
            self.accessed.setdefault(address, set()).add(_as_int(values[-1]).to_bytes(32, "big"))
        elif op in _ACCOUNT_TOP_OPS and values:
            self._add(_as_int(values[-1]))
        elif op in _ACCOUNT_SECOND_OPS and len(values) >= 5:
            self._add(_as_int(values[-2]))

    def _add(self, value: int) -> None:
        address = (value % 2**160).to_bytes(20, "big")
        if address not in self.excluded:
            self.accessed.setdefault(address, set())


def make_tracer(config: TraceConfig) -> StructLogger | CallTracer:
    if config.tracer is None:
        return StructLogger(config)
    if config.tracer == CALL_TRACER:
        return CallTracer(config)
    raise UnknownTracer(f"tracer not found: {config.tracer}")


# --- the traced opcode loop ---------------------------------------------------------


def traced_computation_class(base: type[Any], tracer: Tracer) -> type[Any]:
    """``base`` (a fork's computation class) with ``tracer`` called from its opcode loop."""

    def apply_computation(
        cls: type[Any],
        state: Any,
        message: Any,
        transaction_context: Any,
        parent_computation: Any = None,
    ) -> Any:
        # py-evm's BaseComputation.apply_computation, with the tracer calls added.
        with cls(state, message, transaction_context) as computation:
            tracer.enter(computation)
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)

            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return _exited(tracer, computation)

            opcode_lookup = computation.opcodes
            code = computation.code
            if len(code) == 0:
                # geth does not start its interpreter for empty code: no steps, not even STOP.
                return _exited(tracer, computation)
            # CodeStream.__iter__ inlined, to know the pc of the implicit STOP past the end
            # (geth reports it at len(code); py-evm's iterator does not advance for it).
            raw_code = code._raw_code_bytes
            size = len(raw_code)
            while True:
                pc = code.program_counter
                if pc < size:
                    opcode = raw_code[pc]
                    code.program_counter = pc + 1
                else:
                    opcode = STOP
                try:
                    opcode_fn = opcode_lookup[opcode]
                except KeyError:
                    opcode_fn = InvalidOpcode(opcode)
                tracer.before_op(computation, pc, _mnemonic(opcode_fn))
                try:
                    opcode_fn(computation=computation)
                except Halt:
                    tracer.after_op(computation, None)
                    break
                except VMError as exc:
                    tracer.after_op(computation, exc)
                    raise
                tracer.after_op(computation, None)
                if pc >= size:
                    break
        return _exited(tracer, computation)

    return type(f"Traced{base.__name__}", (base,), {"apply_computation": classmethod(apply_computation)})


def _exited(tracer: Tracer, computation: Any) -> Any:
    # Called once the computation's context has closed, so its error and burnt gas are final.
    # A precompile returns from inside the ``with``: the tracer sees it on the way out all the same.
    tracer.exit(computation)
    return computation


# --- replaying a block ----------------------------------------------------------------


@dataclass(frozen=True)
class TracedTx:
    tx_hash: bytes
    result: TraceView


def trace_block(
    executor: Any,
    header: BlockHeaderAPI,
    config: TraceConfig,
    only_index: int | None = None,
) -> list[TracedTx]:
    """Re-execute block ``header`` on its parent's state; trace every transaction, or only
    the one at ``only_index`` (the ones before it still run, untraced). Nothing is persisted."""
    if header.block_number == 0:
        raise BlockNotFound("genesis is not traceable")
    make_tracer(config)  # an unknown tracer fails before any work
    vm, block, base_header = _vm_at_block_start(executor, header)
    state = vm.state
    computation_class = type(state).computation_class
    previous = base_header
    traced: list[TracedTx] = []
    for index, tx in enumerate(block.transactions):
        if only_index is not None and index > only_index:
            break
        wanted = only_index is None or index == only_index
        tracer = make_tracer(config) if wanted else None
        if tracer is not None:
            state.computation_class = traced_computation_class(computation_class, tracer)
        try:
            receipt, computation = vm.apply_transaction(previous, tx)
        finally:
            state.computation_class = computation_class
        gas_used = int(receipt.gas_used - previous.gas_used)
        previous = vm.increment_blob_gas_used(vm.add_receipt_to_header(previous, receipt), tx)
        if isinstance(tracer, StructLogger):
            traced.append(TracedTx(bytes(tx.hash), tracer.result(gas_used, computation)))
        elif isinstance(tracer, CallTracer):
            traced.append(TracedTx(bytes(tx.hash), tracer.result(tx, gas_used)))
    return traced


def trace_transaction_on(
    executor: Any, state: Any, header: BlockHeaderAPI, tx: Any, config: TraceConfig
) -> TraceView:
    """Run ``tx`` (signed or spoofed) on ``state`` under a tracer, then undo it (``debug_traceCall``)."""
    tracer = make_tracer(config)
    computation_class = type(state).computation_class
    snapshot = state.snapshot()
    state.computation_class = traced_computation_class(computation_class, tracer)
    try:
        computation = state.apply_transaction(tx)
    finally:
        state.computation_class = computation_class
        state.revert(snapshot)
    gas_used = int(executor.schedule.vm_class_for_header(header).finalize_gas_used(tx, computation))
    if isinstance(tracer, StructLogger):
        return tracer.result(gas_used, computation)
    return tracer.result(tx, gas_used)


def _vm_at_block_start(executor: Any, header: BlockHeaderAPI) -> tuple[Any, BlockAPI, BlockHeaderAPI]:
    """A VM for block ``header`` whose state is the parent's plus the block's system calls:
    py-evm's ``VM.import_block`` up to its transactions."""
    overlay = Overlay(executor.db)
    atomic = overlay.atomic()
    chaindb = ChainDB(atomic)
    vm_class = executor.schedule.vm_class_for_header(header)
    block = vm_class.get_block_class().from_header(header, executor.chaindb)
    parent = executor.header_by_hash(header.parent_hash)
    template = vm_class.create_header_from_parent(parent)
    vm = vm_class(template, chaindb, executor.chain_context, ConsensusContext(atomic))
    fields: dict[str, Any] = {
        "coinbase": header.coinbase,
        "difficulty": header.difficulty,
        "gas_limit": header.gas_limit,
        "timestamp": header.timestamp,
        "extra_data": header.extra_data,
        "mix_hash": header.mix_hash,
        "nonce": header.nonce,
        "uncles_hash": header.uncles_hash,
    }
    fork = fork_of_vm(vm_class)
    if fork >= Fork.CANCUN:
        fields["parent_beacon_block_root"] = header.parent_beacon_block_root
    block_fields: dict[str, Any] = {"header": vm.configure_header(**fields), "uncles": block.uncles}
    if fork >= Fork.SHANGHAI:
        block_fields["withdrawals"] = block.withdrawals
    vm._block = vm.get_block().copy(**block_fields)
    context = vm.create_execution_context(header, vm.previous_hashes, vm.chain_context)
    base_header = vm.get_header().copy(gas_used=0)
    vm._state = vm.get_state_class()(vm.chaindb.db, context, base_header.state_root)
    vm.block_preprocessing(block)
    return vm, block, base_header


__all__ = [
    "CALL_TRACER",
    "AccessListTracer",
    "CallTracer",
    "StructLogger",
    "TracedTx",
    "Tracer",
    "make_tracer",
    "trace_block",
    "trace_transaction_on",
    "traced_computation_class",
]
