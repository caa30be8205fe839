"""An opcode's fixed gas is taken from the gas meter in place, not through two method calls.

py-evm runs every instruction as ``_FastOpcode.__call__``: ``computation.consume_gas(cost,
mnemonic)``, which calls ``GasMeter.consume_gas``, which checks and subtracts; then the opcode's
logic. An ERC-20 transfer runs ~240 instructions, so the two calls are ~480 Python calls per
transfer in every build and every validation. Here the check and the subtraction happen in
``__call__`` itself when the computation's meter is py-evm's own ``GasMeter``: the same
``gas_remaining`` afterwards, and a cost the meter cannot pay still goes through
``GasMeter.consume_gas``, which raises py-evm's ``OutOfGas`` with its message. Any other meter, or a
gas logger at py-evm's DEBUG2 level, takes py-evm's path unchanged.
"""

from __future__ import annotations

from typing import Any

from eth.vm.gas_meter import GasMeter
from eth.vm.opcode import _FastOpcode

REPLACES = ("eth.vm.opcode:_FastOpcode.__call__",)

PY_EVM_CALL = _FastOpcode.__call__


_GAS_LOGGER = GasMeter.logger


def _call(self: Any, computation: Any) -> Any:
    meter: Any = getattr(computation, "_gas_meter", None)
    amount = self.gas_cost
    if type(meter) is GasMeter and 0 <= amount <= meter.gas_remaining and not _GAS_LOGGER.show_debug2:
        meter.gas_remaining -= amount
    else:
        computation.consume_gas(amount, self.mnemonic)
    return self.logic_fn(computation)


def install() -> None:
    _FastOpcode.__call__ = _call
