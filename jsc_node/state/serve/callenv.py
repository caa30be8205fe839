"""The environment of ``eth_call``, ``eth_estimateGas`` and ``eth_createAccessList``, as geth sets it.

geth runs a call *in* the requested block, on its post-state: NUMBER, TIMESTAMP, COINBASE,
PREVRANDAO, GASLIMIT and BASEFEE are that block's own (internal/ethapi ``doCall`` builds the block
context from the header itself), not the next block's. When the call carries no gas price, the
base fee is taken as 0 (``if msg.GasPrice.Sign() == 0 { blockContext.BaseFee = new(big.Int) }``),
so a free call passes the EIP-1559 fee check and BASEFEE reads 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Final

from eth.db.chain import ChainDB
from eth_utils.exceptions import ValidationError

from jsc_node.errors import InvalidTransaction
from jsc_node.state.evm import rules
from jsc_node.state.evm.forks import Fork, fork_of_vm
from jsc_node.state.serve import calltx
from jsc_node.state.serve.tracing import AccessListTracer, geth_error, traced_computation_class
from jsc_node.state.storage.leveldb import Overlay
from jsc_node.views import AccessListEntry, AccessListResultView, CallRequest

ZERO_ADDRESS: Final = b"\x00" * 20
# geth has no bound; a list that keeps changing after this many rounds is returned as it stands.
MAX_ACCESS_LIST_ROUNDS: Final = 32


@dataclass(frozen=True, slots=True)
class CallTx:
    """The transaction a call executes and its intrinsic gas."""

    tx: Any
    intrinsic_gas: int


def call_gas_price(request: CallRequest, header: Any) -> int:
    """The gas price a call pays (geth ``TransactionArgs.ToMessage``; state/serve/calltx.py)."""
    return calltx.message_fees(request, getattr(header, "base_fee_per_gas", None)).gas_price


def call_state(executor: Any, header: Any, gas_price: int, *, free_blob_gas: bool = False) -> Any:
    """A scratch py-evm state after ``header``, executing in ``header``'s own block context
    (base fee 0 when ``gas_price`` is 0; blob base fee 0 with ``free_blob_gas``, from Cancun).
    Writes go to a throwaway overlay."""
    vm_class = executor.schedule.vm_class_for_header(header)
    if free_blob_gas and fork_of_vm(vm_class) >= Fork.CANCUN:
        vm_class = _free_blob_gas_vm(vm_class)
    atomic = Overlay(executor.state_db(header)).atomic()
    context_header = header
    if gas_price == 0 and getattr(header, "base_fee_per_gas", None):
        context_header = header.copy(base_fee_per_gas=0)
    prev_hashes = vm_class.get_prev_hashes(header.parent_hash, ChainDB(atomic))
    return vm_class.build_state(atomic, context_header, executor.chain_context, prev_hashes)


def request_state(executor: Any, header: Any, request: CallRequest) -> Any:
    """``call_state`` for ``request``, as geth's ``applyMessage`` sets the block context: base
    fee 0 when the message's gas price is 0, blob base fee 0 when its blob fee cap is 0
    (``CallDefaults`` makes it 0 for blob hashes without one)."""
    blob_fee_cap = request.max_fee_per_blob_gas
    free_blob_gas = blob_fee_cap == 0 or (blob_fee_cap is None and request.blob_versioned_hashes is not None)
    return call_state(executor, header, call_gas_price(request, header), free_blob_gas=free_blob_gas)


@cache
def _free_blob_gas_vm(vm_class: Any) -> Any:
    """``vm_class`` whose state prices blob gas at 0 (BLOBBASEFEE reads 0, blobs cost nothing)."""
    state_class = vm_class.get_state_class()
    free_state = type(
        f"FreeBlobGas{state_class.__name__}", (state_class,), {"blob_base_fee": property(_zero)}
    )
    return type(f"FreeBlobGas{vm_class.__name__}", (vm_class,), {"_state_class": free_state})


def _zero(state: Any) -> int:
    return 0


def call_transaction(
    executor: Any, state: Any, header: Any, request: CallRequest, gas: int, *, check_gas: bool = True
) -> CallTx:
    """``request`` as the transaction a call executes on ``state`` (state/serve/calltx.py), after
    geth's ``preCheck`` and intrinsic-gas checks of a call: fee caps (unless both are zero, when
    the call runs without a base fee), the EIP-7702 and EIP-3860 refusals, and with ``check_gas``
    that ``gas`` covers the intrinsic gas (a creation's init code words included from Shanghai, as
    core.IntrinsicGas counts them)."""
    vm_class = executor.schedule.vm_class_for_header(header)
    fork = fork_of_vm(vm_class)
    sender = request.sender or ZERO_ADDRESS
    base_fee = getattr(header, "base_fee_per_gas", None)
    built = calltx.request_transaction(
        vm_class,
        executor.spec.chain_id,
        request,
        sender=sender,
        nonce=int(state.get_nonce(sender)),
        gas=gas,
        base_fee=base_fee,
    )
    fees = built.fees
    if base_fee is not None and (fees.fee_cap or fees.tip):
        context_base_fee = base_fee if fees.gas_price else 0
        rules.validate_fee_caps(sender, fees.fee_cap, fees.tip, context_base_fee)
    if request.to is None and fork >= Fork.SHANGHAI:
        rules.validate_initcode_size(request.input or b"")
    tx = calltx.call_transaction(built, sender)
    intrinsic = rules.intrinsic_gas(tx, with_initcode=fork >= Fork.SHANGHAI)
    if check_gas:
        rules.validate_intrinsic_gas(gas, intrinsic)
    return CallTx(tx, intrinsic)


def create_access_list(
    executor: Any,
    state: Any,
    header: Any,
    request: CallRequest,
    gas: int,
) -> AccessListResultView:
    """geth's ``AccessList``: run the call with the list found so far until the list stops
    changing; return it, the gas used with it and the execution error, if any. The sender, the
    recipient, the precompiles and the authorities of the request's authorizations are left out."""
    vm_class = executor.schedule.vm_class_for_header(header)
    computation_class = type(state).computation_class
    sender = request.sender or ZERO_ADDRESS
    to = request.to
    created = None
    if to is None:
        from eth._utils.address import generate_contract_address

        created = bytes(generate_contract_address(sender, state.get_nonce(sender)))
    excluded = {sender, to or created or b"", *(bytes(a) for a in computation_class.get_precompiles())}
    excluded.update(_authorities(request, executor.spec.chain_id, gas))
    start: dict[bytes, set[bytes]] = {}
    for entry in request.access_list or ():
        start.setdefault(entry.address, set()).update(entry.storage_keys)
    previous = AccessListTracer(excluded, start).accessed
    for _ in range(MAX_ACCESS_LIST_ROUNDS):
        entries = _entries(previous)
        tx = call_transaction(executor, state, header, replace(request, access_list=entries), gas).tx
        tracer = AccessListTracer(excluded, {e.address: set(e.storage_keys) for e in entries})
        snapshot = state.snapshot()
        state.computation_class = traced_computation_class(computation_class, tracer)
        try:
            computation = state.apply_transaction(tx)
        except ValidationError as exc:
            raise InvalidTransaction(str(exc)) from exc
        finally:
            state.computation_class = computation_class
            state.revert(snapshot)
        gas_used = int(vm_class.finalize_gas_used(tx, computation))
        error = geth_error(computation.error) if computation.is_error else None
        if tracer.accessed == previous:
            return AccessListResultView(access_list=entries, gas_used=gas_used, error=error)
        previous = tracer.accessed
    return AccessListResultView(access_list=_entries(previous), gas_used=gas_used, error=error)


def _authorities(request: CallRequest, chain_id: int, gas: int) -> set[bytes]:
    """The authorities of the request's authorizations that could apply (geth's ``AccessList``
    leaves them out of the list: a wrong chain or an overflowing nonce never applies)."""
    auths = request.authorization_list or ()
    if len(auths) > gas // rules.PER_EMPTY_ACCOUNT_GAS:
        raise InvalidTransaction("insufficient gas to process all authorizations")
    found: set[bytes] = set()
    for auth in auths:
        if auth.chain_id not in (0, chain_id) or auth.nonce >= 2**64 - 1:
            continue
        address = calltx.authority(auth)
        if address is not None:
            found.add(address)
    return found


def _entries(accessed: dict[bytes, set[bytes]]) -> tuple[AccessListEntry, ...]:
    return tuple(
        AccessListEntry(address, tuple(sorted(slots))) for address, slots in sorted(accessed.items())
    )


__all__ = [
    "CallTx",
    "call_gas_price",
    "call_state",
    "call_transaction",
    "create_access_list",
    "request_state",
]
