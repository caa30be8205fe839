"""jsc_node/state/evm/patches/jumpdests.py against py-evm's own backward analysis, position by position."""

from __future__ import annotations

import random

import pytest
from eth.vm.code_stream import CodeStream

from jsc_node.state.evm.patches import jumpdests


class PyEvmCodeStream(CodeStream):
    """py-evm 0.12.1b1's analysis, recursion included."""

    is_valid_opcode = jumpdests.PY_EVM_IS_VALID_OPCODE  # type: ignore[assignment]


def _py_evm_answers(code: bytes) -> list[bool]:
    stream = PyEvmCodeStream(code)
    return [stream.is_valid_opcode(p) for p in range(len(code) + 2)]


@pytest.mark.parametrize("seed", range(40))
def test_same_answers_as_py_evm_on_random_code(seed: int) -> None:
    rng = random.Random(seed)
    # Dense in PUSH opcodes (0x60-0x7f) so PUSH data that looks like PUSHes is common.
    code = bytes(
        rng.choice([rng.randrange(0x60, 0x80), 0x5B, rng.randrange(256)]) for _ in range(rng.randint(0, 300))
    )
    stream = CodeStream(code)
    assert [stream.is_valid_opcode(p) for p in range(len(code) + 2)] == _py_evm_answers(code)


def test_push_data_is_not_an_instruction() -> None:
    code = bytes([0x60, 0x5B, 0x5B, 0x7F, *([0x5B] * 32), 0x5B])  # PUSH1 5b, JUMPDEST, PUSH32 ..., JUMPDEST
    assert sorted(jumpdests.instruction_starts(code)) == [0, 2, 3, 36]
    stream = CodeStream(code)
    assert [p for p in range(len(code)) if stream.is_valid_opcode(p)] == [0, 2, 3, 36]
    assert not stream.is_valid_opcode(len(code))
