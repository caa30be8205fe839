"""Which positions of a contract's code are instructions (not PUSH data), computed once per code.

py-evm's ``CodeStream.is_valid_opcode`` (asked on every JUMP/JUMPI) walks up to 32 bytes back
from the destination, recursively, and keeps what it learns only for the one computation: every
call of a contract analyses its jump destinations again (~50 checks per ERC-20 transfer). One
forward pass over the code gives every instruction start; the sets are kept for the most recently
used codes. Same answers (tests/unit/test_jumpdests.py compares with py-evm's own analysis on
random code).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from eth.vm.code_stream import CodeStream
from eth.vm.opcode_values import PUSH1, PUSH32

REPLACES = ("eth.vm.code_stream:CodeStream.is_valid_opcode",)

MAX_CODES = 1024

PY_EVM_IS_VALID_OPCODE = CodeStream.is_valid_opcode
"""py-evm's own analysis, kept for the tests that compare the two."""

_starts: OrderedDict[bytes, frozenset[int]] = OrderedDict()


def instruction_starts(code: bytes) -> frozenset[int]:
    """Positions in ``code`` where an instruction starts (PUSHn data skipped)."""
    starts = []
    position, length = 0, len(code)
    while position < length:
        starts.append(position)
        opcode = code[position]
        position += 1 + (opcode - PUSH1 + 1 if PUSH1 <= opcode <= PUSH32 else 0)
    return frozenset(starts)


def is_valid_opcode(self: Any, position: int) -> bool:
    code: bytes = self._raw_code_bytes
    starts = _starts.get(code)
    if starts is None:
        starts = instruction_starts(code)
        _starts[code] = starts
        if len(_starts) > MAX_CODES:
            _starts.popitem(last=False)
    else:
        _starts.move_to_end(code)
    return position in starts


def install() -> None:
    if CodeStream.is_valid_opcode is not is_valid_opcode:
        CodeStream.is_valid_opcode = is_valid_opcode
