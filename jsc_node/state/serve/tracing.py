"""Transaction tracing (``debug_trace*``): geth's struct logger, callTracer and prestateTracer on py-evm.

py-evm has no tracer hooks. The narrowest place to add them is the opcode loop itself,
``BaseComputation.apply_computation``: :func:`traced_computation_class` makes a subclass of a
fork's computation class whose loop is py-evm's, line for line, with a call to the tracer before
and after each opcode and when a frame starts and ends. Child frames are built from
``type(parent)``, so one subclass set on the state's ``computation_class`` (an instance
attribute, for one transaction) traces the whole call tree. Nothing else in py-evm changes, so a
traced transaction executes exactly as an untraced one.

Replaying a block (:func:`trace_block`) is py-evm's ``VM.import_block`` up to the transactions:
the parent's state, the block's execution context, the block's system calls (EIP-4788/2935),
then each transaction in order; the ones asked for run under a tracer. The prestateTracer also
sees the state just before and just after its transaction (geth's ``OnTxStart``/``OnTxEnd``).

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

from eth._utils.address import generate_contract_address, generate_safe_contract_address
from eth.abc import BlockAPI, BlockHeaderAPI
from eth.consensus.context import ConsensusContext
from eth.constants import EMPTY_SHA3 as EMPTY_CODE_HASH
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
from eth_hash.auto import keccak
from eth_keys.datatypes import Signature

from jsc_node.abi import decode_revert_reason
from jsc_node.errors import BlockNotFound, UnknownTracer
from jsc_node.rlp_codec import encode
from jsc_node.state.evm.forks import Fork, fork_of_vm
from jsc_node.state.evm.rules import SECP256K1_HALF_N, SECP256K1_N
from jsc_node.state.storage.leveldb import Overlay
from jsc_node.views import (
    CallFrameView,
    CallLogView,
    PrestateAccountView,
    PrestateTraceView,
    StructLogView,
    StructTraceView,
    TraceConfig,
    TraceView,
)

CALL_TRACER: Final = "callTracer"
PRESTATE_TRACER: Final = "prestateTracer"
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


# --- prestateTracer ------------------------------------------------------------------

ZERO_HASH: Final = b"\x00" * 32
# EIP-7702: the code of a delegated account is this prefix and the 20-byte target.
_DELEGATION_PREFIX: Final = b"\xef\x01\x00"
# geth (eth/tracers/internal GetMemoryCopyPadded): a CREATE2 init code read past memory is padded
# with zeros up to this many bytes; beyond, the address is not looked up.
_MEMORY_PAD_LIMIT: Final = 1024 * 1024
# Errors a step meets before it runs (geth calls OnOpcode with them, and the prestateTracer then
# looks nothing up).
_BEFORE_RUN_ERRORS: Final = (OutOfGas, InsufficientStack, FullStack)


@dataclass
class _Account:
    balance: int | None
    """``None`` in post: unchanged."""
    nonce: int
    code: bytes | None
    code_hash: bytes | None
    storage: dict[bytes, bytes] | None
    empty: bool

    def view(self) -> PrestateAccountView:
        return PrestateAccountView(
            balance=self.balance,
            code=self.code,
            code_hash=self.code_hash,
            nonce=self.nonce,
            storage=self.storage,
        )


def _delegation_target(code: bytes) -> bytes | None:
    """geth ``types.ParseDelegation``."""
    if len(code) == 23 and code.startswith(_DELEGATION_PREFIX):
        return code[3:]
    return None


def _authority(auth: Any) -> bytes | None:
    """The signer of an EIP-7702 authorization, or ``None`` if it has none (geth
    ``SetCodeAuthorization.Authority``: the signature's own bounds only, not chain id or nonce)."""
    y_parity, r, s = int(auth.y_parity), int(auth.r), int(auth.s)
    if y_parity > 1 or not (0 < r < SECP256K1_N) or not (0 < s <= SECP256K1_HALF_N):
        return None
    digest = keccak(b"\x05" + encode([int(auth.chain_id), bytes(auth.address), int(auth.nonce)]))
    try:
        public_key = Signature(vrs=(y_parity, r, s)).recover_public_key_from_msg_hash(digest)
    except Exception:  # any recovery failure: no authority, as geth's Authority() errs
        return None
    return bytes(public_key.to_canonical_address())


def _authorizations(tx: Any) -> Any:
    """An EIP-7702 transaction's authorization list; empty for any other (py-evm's older
    transaction classes raise instead of answering)."""
    try:
        return tx.authorization_list or ()
    except (AttributeError, NotImplementedError):
        return ()


class PrestateTracer(Tracer):
    """geth's prestateTracer (eth/tracers/native/prestate.go): every account the transaction
    touches as it was when first touched, the storage slots it read or wrote with their values
    then; with ``diffMode``, ``pre`` and ``post`` of only what changed (``processDiffState``).

    The driver calls :meth:`tx_start` on the state before the transaction (geth ``OnTxStart``:
    before the nonce and the gas are taken) and :meth:`tx_end` on the state after it (``OnTxEnd``:
    fees paid, self-destructs and empty accounts gone). What an opcode looks up (geth ``OnOpcode``)
    is read before it runs but kept only once it is known to run: when its callee starts, or when
    it ends without a stack or gas error (geth passes those errors to ``OnOpcode``, which then
    looks nothing up)."""

    def __init__(self, config: TraceConfig, fork: Fork) -> None:
        self.config = config
        self.fork = fork
        self.pre: dict[bytes, _Account] = {}
        self.post: dict[bytes, _Account] = {}
        self.created: set[bytes] = set()
        self.deleted: set[bytes] = set()
        self._pending: list[tuple[str, bytes, Any]] = []

    # -- lookups -----------------------------------------------------------------------

    def _read(self, state: Any, address: bytes) -> _Account:
        """geth ``lookupAccount``'s reads."""
        code = bytes(state.get_code(address))
        balance = int(state.get_balance(address))
        nonce = int(state.get_nonce(address))
        return _Account(
            balance=balance,
            nonce=nonce,
            code=code if code and not self.config.disable_code else None,
            # geth leaves the empty code hash out; the code hash stays with disableCode.
            code_hash=bytes(state.get_code_hash(address)) if code else None,
            storage=None if self.config.prestate_disable_storage else {},
            # geth ``account.exists`` at lookup time, before any storage was read.
            empty=not (nonce > 0 or code or balance != 0),
        )

    def _lookup_account(self, state: Any, address: bytes) -> None:
        if address not in self.pre:
            self.pre[address] = self._read(state, address)

    def _want_account(self, state: Any, address: bytes) -> None:
        """A lookup by an opcode: read now, kept if the opcode runs."""
        if address not in self.pre:
            self._pending.append(("account", address, self._read(state, address)))

    def _want_slot(self, state: Any, address: bytes, slot: int) -> None:
        if self.config.prestate_disable_storage:
            return
        key = slot.to_bytes(32, "big")
        account = self.pre.get(address)
        if account is not None and account.storage is not None and key in account.storage:
            return
        value = int(state.get_storage(address, slot)).to_bytes(32, "big")
        self._pending.append(("slot", address, (key, value)))

    def _commit(self) -> None:
        for kind, address, item in self._pending:
            if kind == "account":
                self.pre.setdefault(address, item)
            elif kind == "slot":
                # The frame's own account was looked up when it was called or created.
                account = self.pre[address]
                if account.storage is not None:
                    account.storage.setdefault(item[0], item[1])
            elif kind == "created":
                self.created.add(address)
            else:
                self.deleted.add(address)
        self._pending.clear()

    # -- geth's hooks ------------------------------------------------------------------

    def tx_start(self, state: Any, tx: Any) -> None:
        """geth ``OnTxStart``: sender, recipient (or the address a create makes), coinbase, and
        the authorities of an EIP-7702 transaction, before any of them changes."""
        sender = bytes(tx.sender)
        if not tx.to:
            to = bytes(generate_contract_address(sender, state.get_nonce(sender)))
            self.created.add(to)
        else:
            to = bytes(tx.to)
            if self.fork >= Fork.PRAGUE:
                target = _delegation_target(bytes(state.get_code(to)))
                if target is not None:
                    self._lookup_account(state, target)
        self._lookup_account(state, sender)
        self._lookup_account(state, to)
        self._lookup_account(state, bytes(state.coinbase))
        for auth in _authorizations(tx):
            authority = _authority(auth)
            if authority is not None:
                self._lookup_account(state, authority)

    def enter(self, computation: Any) -> None:
        # A call or create started: the opcode that made it ran.
        self._commit()
        address = bytes(computation.msg.storage_address)
        if address not in self.pre:
            # Every frame's account was looked up by the opcode or transaction that made it;
            # this only keeps a slot read safe should py-evm start a frame some other way.
            self._lookup_account(computation.state, address)

    def before_op(self, computation: Any, pc: int, op: str) -> None:
        values = computation._stack.values
        count = len(values)
        state = computation.state
        caller = bytes(computation.msg.storage_address)
        if op in ("SLOAD", "SSTORE"):
            if count >= 1:
                self._want_slot(state, caller, _as_int(values[-1]))
        elif op in _ACCOUNT_TOP_OPS:
            if count >= 1:
                self._want_account(state, _address_of(values[-1]))
                if op == "SELFDESTRUCT" and (self.fork < Fork.CANCUN or caller in self.created):
                    # EIP-6780: from Cancun on only an account created in this transaction goes.
                    self._pending.append(("deleted", caller, None))
        elif op in _ACCOUNT_SECOND_OPS:
            if count >= 5:
                address = _address_of(values[-2])
                self._want_account(state, address)
                if self.fork >= Fork.PRAGUE:
                    target = _delegation_target(bytes(state.get_code(address)))
                    if target is not None:
                        self._want_account(state, target)
        elif op == "CREATE":
            address = bytes(generate_contract_address(caller, state.get_nonce(caller)))
            self._want_account(state, address)
            self._pending.append(("created", address, None))
        elif op == "CREATE2" and count >= 4:
            address_2 = self._create2_address(computation, caller, values)
            if address_2 is not None:
                self._want_account(state, address_2)
                self._pending.append(("created", address_2, None))

    @staticmethod
    def _create2_address(computation: Any, caller: bytes, values: Any) -> bytes | None:
        offset, size = _as_int(values[-2]) % 2**64, _as_int(values[-3]) % 2**64
        memory = computation._memory._bytes
        if offset + size > len(memory) + _MEMORY_PAD_LIMIT:
            return None
        init = bytes(memory[offset : offset + size]).ljust(size, b"\x00")
        return bytes(generate_safe_contract_address(caller, _as_int(values[-4]), init))

    def after_op(self, computation: Any, error: BaseException | None) -> None:
        if isinstance(error, _BEFORE_RUN_ERRORS):
            self._pending.clear()
        else:
            self._commit()

    def tx_end(self, state: Any) -> None:
        """geth ``OnTxEnd``: the diff on the state after the transaction, then accounts that were
        empty before it leave ``pre`` (unless ``includeEmpty``)."""
        self._pending.clear()
        if self.config.diff_mode:
            self._diff(state)
        if not self.config.include_empty:
            for address in [a for a, account in self.pre.items() if account.empty]:
                del self.pre[address]

    def _diff(self, state: Any) -> None:
        """geth ``processDiffState``."""
        config = self.config
        for address, before in list(self.pre.items()):
            if address in self.deleted:
                continue  # a deleted account stays in pre only
            modified = False
            after = _Account(balance=None, nonce=0, code=None, code_hash=None, storage={}, empty=False)
            balance = int(state.get_balance(address))
            nonce = int(state.get_nonce(address))
            # geth's GetCodeHash is the zero hash for an account that is not there.
            code_hash = bytes(state.get_code_hash(address)) if state.account_exists(address) else ZERO_HASH
            if balance != before.balance:
                modified = True
                after.balance = balance
            if nonce != before.nonce:
                modified = True
                after.nonce = nonce
            if code_hash != (before.code_hash or EMPTY_CODE_HASH):
                modified = True
                after.code_hash = code_hash
            if not config.disable_code:
                code = bytes(state.get_code(address))
                if code != (before.code or b""):
                    modified = True
                    after.code = code  # b"" when cleared (an EIP-7702 revocation)
            if not config.prestate_disable_storage and before.storage is not None:
                assert after.storage is not None
                for key, value in list(before.storage.items()):
                    if value == ZERO_HASH:
                        del before.storage[key]  # an empty slot is not shown in pre
                    new = int(state.get_storage(address, int.from_bytes(key, "big"))).to_bytes(32, "big")
                    if new == value:
                        before.storage.pop(key, None)
                    else:
                        modified = True
                        if new != ZERO_HASH:
                            after.storage[key] = new
            if modified:
                self.post[address] = after
            else:
                del self.pre[address]

    def result(self) -> PrestateTraceView:
        pre = {address: account.view() for address, account in self.pre.items()}
        if not self.config.diff_mode:
            return PrestateTraceView(pre=pre, post=None)
        return PrestateTraceView(pre=pre, post={a: account.view() for a, account in self.post.items()})


def _address_of(value: int | bytes) -> bytes:
    return (_as_int(value) % 2**160).to_bytes(20, "big")


AnyTracer = StructLogger | CallTracer | PrestateTracer


def make_tracer(config: TraceConfig, fork: Fork) -> AnyTracer:
    if config.tracer is None:
        return StructLogger(config)
    if config.tracer == CALL_TRACER:
        return CallTracer(config)
    if config.tracer == PRESTATE_TRACER:
        return PrestateTracer(config, fork)
    raise UnknownTracer(f"tracer not found: {config.tracer}")


def _traced_result(tracer: AnyTracer, tx: Any, gas_used: int, computation: Any) -> TraceView:
    if isinstance(tracer, StructLogger):
        return tracer.result(gas_used, computation)
    if isinstance(tracer, CallTracer):
        return tracer.result(tx, gas_used)
    return tracer.result()


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
    make_tracer(config, Fork.FRONTIER)  # an unknown tracer fails before any work
    vm, block, base_header = _vm_at_block_start(executor, header)
    fork = fork_of_vm(type(vm))
    state = vm.state
    computation_class = type(state).computation_class
    previous = base_header
    traced: list[TracedTx] = []
    for index, tx in enumerate(block.transactions):
        if only_index is not None and index > only_index:
            break
        wanted = only_index is None or index == only_index
        tracer = make_tracer(config, fork) if wanted else None
        if tracer is not None:
            state.computation_class = traced_computation_class(computation_class, tracer)
            if isinstance(tracer, PrestateTracer):
                tracer.tx_start(state, tx)
        try:
            receipt, computation = vm.apply_transaction(previous, tx)
        finally:
            state.computation_class = computation_class
        gas_used = int(receipt.gas_used - previous.gas_used)
        previous = vm.increment_blob_gas_used(vm.add_receipt_to_header(previous, receipt), tx)
        if tracer is not None:
            if isinstance(tracer, PrestateTracer):
                tracer.tx_end(vm.state)
            traced.append(TracedTx(bytes(tx.hash), _traced_result(tracer, tx, gas_used, computation)))
    return traced


def trace_transaction_on(
    executor: Any, state: Any, header: BlockHeaderAPI, tx: Any, config: TraceConfig
) -> TraceView:
    """Run ``tx`` (signed or spoofed) on ``state`` under a tracer, then undo it (``debug_traceCall``)."""
    vm_class = executor.schedule.vm_class_for_header(header)
    tracer = make_tracer(config, fork_of_vm(vm_class))
    computation_class = type(state).computation_class
    snapshot = state.snapshot()
    state.computation_class = traced_computation_class(computation_class, tracer)
    try:
        if isinstance(tracer, PrestateTracer):
            tracer.tx_start(state, tx)
        computation = state.apply_transaction(tx)
        if isinstance(tracer, PrestateTracer):
            tracer.tx_end(state)
    finally:
        state.computation_class = computation_class
        state.revert(snapshot)
    gas_used = int(vm_class.finalize_gas_used(tx, computation))
    return _traced_result(tracer, tx, gas_used, computation)


def _vm_at_block_start(executor: Any, header: BlockHeaderAPI) -> tuple[Any, BlockAPI, BlockHeaderAPI]:
    """A VM for block ``header`` whose state is the parent's plus the block's system calls:
    py-evm's ``VM.import_block`` up to its transactions."""
    overlay = Overlay(executor.db)
    atomic = overlay.atomic()
    chaindb = ChainDB(atomic)
    vm_class = executor.schedule.vm_class_for_header(header)
    # The pending block's body is in the overlay it was built in (state/serve/pending.py).
    block = vm_class.get_block_class().from_header(header, ChainDB(executor.state_db(header)))
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
    "PRESTATE_TRACER",
    "AccessListTracer",
    "CallTracer",
    "PrestateTracer",
    "StructLogger",
    "TracedTx",
    "Tracer",
    "make_tracer",
    "trace_block",
    "trace_transaction_on",
    "traced_computation_class",
]
