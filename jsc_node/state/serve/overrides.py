"""State overrides (geth's ``OverrideAccount``) applied to a scratch py-evm state, for eth_call,
eth_estimateGas, eth_createAccessList and eth_simulateV1."""

from __future__ import annotations

from typing import Any

from jsc_node.errors import JscError
from jsc_node.views import StateOverride


def apply_state_overrides(state: Any, overrides: StateOverride | None, error: type[JscError]) -> None:
    """Apply ``overrides`` in address order; ``error`` is raised (geth's words) for an account that
    sets both ``state`` and ``stateDiff``, and nothing of that account is applied."""
    if not overrides:
        return
    for address in sorted(overrides):
        account = overrides[address]
        if account.state is not None and account.state_diff is not None:
            raise error(f"account 0x{address.hex()} has both 'state' and 'stateDiff'")
        if account.nonce is not None:
            state.set_nonce(address, account.nonce)
        if account.code is not None:
            state.set_code(address, account.code)
        if account.balance is not None:
            state.set_balance(address, account.balance)
        if account.state is not None:
            state.delete_storage(address)
        for slot, value in (account.state or account.state_diff or {}).items():
            state.set_storage(address, int.from_bytes(slot, "big"), int.from_bytes(value, "big"))
