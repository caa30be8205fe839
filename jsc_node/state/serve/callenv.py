"""The environment of ``eth_call``, ``eth_estimateGas`` and ``eth_createAccessList``, as geth sets it.

geth runs a call *in* the requested block, on its post-state: NUMBER, TIMESTAMP, COINBASE,
PREVRANDAO, GASLIMIT and BASEFEE are that block's own (internal/ethapi ``doCall`` builds the block
context from the header itself), not the next block's. When the call carries no gas price, the
base fee is taken as 0 (``if msg.GasPrice.Sign() == 0 { blockContext.BaseFee = new(big.Int) }``),
so a free call passes the EIP-1559 fee check and BASEFEE reads 0.
"""

from __future__ import annotations

from typing import Any, Final

from eth.db.chain import ChainDB
from eth.vm.spoof import SpoofTransaction
from eth_utils.exceptions import ValidationError

from jsc_node.errors import InvalidTransaction
from jsc_node.state.serve.tracing import AccessListTracer, geth_error, traced_computation_class
from jsc_node.state.storage.leveldb import Overlay
from jsc_node.views import AccessListEntry, AccessListResultView, CallRequest

ZERO_ADDRESS: Final = b"\x00" * 20
# geth has no bound; a list that keeps changing after this many rounds is returned as it stands.
MAX_ACCESS_LIST_ROUNDS: Final = 32


def call_gas_price(request: CallRequest, header: Any) -> int:
    """The gas price a call pays (geth ``TransactionArgs.ToMessage``): ``gasPrice``, or for
    EIP-1559 fields ``min(maxPriorityFeePerGas + baseFee, maxFeePerGas)``; 0 when none is given."""
    if request.gas_price is not None:
        return request.gas_price
    fee_cap = request.max_fee_per_gas or 0
    tip = request.max_priority_fee_per_gas or 0
    base_fee = getattr(header, "base_fee_per_gas", None)
    if base_fee is None:
        return fee_cap
    if fee_cap == 0 and tip == 0:
        return 0
    price: int = min(tip + base_fee, fee_cap) if request.max_fee_per_gas is not None else tip + base_fee
    return price


def call_state(executor: Any, header: Any, gas_price: int) -> Any:
    """A scratch py-evm state after ``header``, executing in ``header``'s own block context
    (base fee 0 when ``gas_price`` is 0). Writes go to a throwaway overlay."""
    vm_class = executor.schedule.vm_class_for_header(header)
    atomic = Overlay(executor.state_db(header)).atomic()
    context_header = header
    if gas_price == 0 and getattr(header, "base_fee_per_gas", None):
        context_header = header.copy(base_fee_per_gas=0)
    prev_hashes = vm_class.get_prev_hashes(header.parent_hash, ChainDB(atomic))
    return vm_class.build_state(atomic, context_header, executor.chain_context, prev_hashes)


def create_access_list(
    executor: Any,
    state: Any,
    header: Any,
    request: CallRequest,
    gas: int,
    gas_price: int,
) -> AccessListResultView:
    """geth's ``AccessList``: run the call with the list found so far until the list stops
    changing; return it, the gas used with it and the execution error, if any."""
    vm_class = executor.schedule.vm_class_for_header(header)
    computation_class = type(state).computation_class
    sender = request.sender or ZERO_ADDRESS
    nonce = state.get_nonce(sender)
    to = request.to
    created = None
    if to is None:
        from eth._utils.address import generate_contract_address

        created = bytes(generate_contract_address(sender, nonce))
    excluded = {sender, to or created or b"", *(bytes(a) for a in computation_class.get_precompiles())}
    start: dict[bytes, set[bytes]] = {}
    for entry in request.access_list or ():
        start.setdefault(entry.address, set()).update(entry.storage_keys)
    previous = AccessListTracer(excluded, start).accessed
    builder = vm_class.get_transaction_builder()
    chain_id = executor.spec.chain_id
    for _ in range(MAX_ACCESS_LIST_ROUNDS):
        entries = _entries(previous)
        unsigned = builder.new_unsigned_access_list_transaction(
            chain_id=chain_id,
            nonce=nonce,
            gas_price=gas_price,
            gas=gas,
            to=to if to is not None else b"",
            value=request.value or 0,
            data=request.input or b"",
            access_list=[(e.address, [int.from_bytes(k, "big") for k in e.storage_keys]) for e in entries],
        )
        tx = SpoofTransaction(unsigned, from_=sender)
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


def _entries(accessed: dict[bytes, set[bytes]]) -> tuple[AccessListEntry, ...]:
    return tuple(
        AccessListEntry(address, tuple(sorted(slots))) for address, slots in sorted(accessed.items())
    )


__all__ = ["call_gas_price", "call_state", "create_access_list"]
