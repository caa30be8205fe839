"""jsc_node/state/evm/patches/opcodes.py: an opcode's fixed gas leaves the meter as py-evm's path leaves it,
and a cost the meter cannot pay raises py-evm's OutOfGas with py-evm's message."""

from __future__ import annotations

from typing import Any

import pytest
from eth.exceptions import OutOfGas
from eth.vm.gas_meter import GasMeter
from eth.vm.opcode import _FastOpcode

from jsc_node.state.evm.patches import opcodes


class _Computation:
    def __init__(self, gas: int, meter: Any = None) -> None:
        self._gas_meter = meter if meter is not None else GasMeter(gas)
        self.ran: list[str] = []

    def consume_gas(self, amount: int, reason: str) -> None:
        self._gas_meter.consume_gas(amount, reason)


def _opcode(cost: int) -> Any:
    return _FastOpcode(lambda computation: computation.ran.append("logic"), "ADD", cost)


def test_installed() -> None:
    assert _FastOpcode.__call__ is opcodes._call


@pytest.mark.parametrize("gas", [3, 4, 1_000_000])
def test_same_gas_left_and_logic_run(gas: int) -> None:
    ours, theirs = _Computation(gas), _Computation(gas)
    _opcode(3)(ours)
    opcodes.PY_EVM_CALL(_opcode(3), theirs)
    assert ours._gas_meter.gas_remaining == theirs._gas_meter.gas_remaining == gas - 3
    assert ours.ran == theirs.ran == ["logic"]


def test_out_of_gas_is_py_evms_error_and_logic_does_not_run() -> None:
    ours, theirs = _Computation(2), _Computation(2)
    with pytest.raises(OutOfGas) as mine:
        _opcode(3)(ours)
    with pytest.raises(OutOfGas) as original:
        opcodes.PY_EVM_CALL(_opcode(3), theirs)
    assert str(mine.value) == str(original.value)
    assert ours.ran == theirs.ran == []
    assert ours._gas_meter.gas_remaining == 2


def test_another_meter_goes_through_the_computation() -> None:
    class Meter:
        def __init__(self) -> None:
            self.gas_remaining = 10
            self.asked: list[int] = []

        def consume_gas(self, amount: int, reason: str) -> None:
            self.asked.append(amount)

    meter = Meter()
    _opcode(5)(_Computation(0, meter))
    assert meter.asked == [5]
    assert meter.gas_remaining == 10
