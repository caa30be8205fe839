"""Solidity revert data read as geth's ``abi.UnpackRevert`` (accounts/abi/abi.go) reads it.

``Error(string)`` gives its string; ``Panic(uint256)`` its reason in geth's words (or ``unknown panic
code: 0x..``); anything else (custom errors, malformed data) no reason. One reading for the whole
node: the message of a reverted ``eth_call`` (``execution reverted: <reason>``, rpc/codes.py) and the
``revertReason`` of callTracer frames (state/serve/tracing.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

ERROR_SELECTOR: Final = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR: Final = bytes.fromhex("4e487b71")  # Panic(uint256)

# Solidity panic codes, in geth's words (accounts/abi/abi.go panicReasons).
PANIC_REASONS: Final[Mapping[int, str]] = {
    0x00: "generic panic",
    0x01: "assert(false)",
    0x11: "arithmetic underflow or overflow",
    0x12: "division or modulo by zero",
    0x21: "enum overflow",
    0x22: "invalid encoded storage byte array accessed",
    0x31: "out-of-bounds array access; popping on an empty array",
    0x32: "out-of-bounds access of an array or bytesN",
    0x41: "out of memory",
    0x51: "uninitialized function",
}


def decode_revert_reason(revert: bytes) -> str | None:
    """The human reason in revert data, or ``None`` for custom errors and malformed data."""
    selector, body = revert[:4], revert[4:]
    if selector == PANIC_SELECTOR and len(body) >= 32:
        code = int.from_bytes(body[:32], "big")
        return PANIC_REASONS.get(code, f"unknown panic code: {code:#x}")
    if selector == ERROR_SELECTOR and len(body) >= 64:
        offset = int.from_bytes(body[:32], "big")
        if offset + 32 > len(body):
            return None
        length = int.from_bytes(body[offset : offset + 32], "big")
        start = offset + 32
        if start + length > len(body):
            return None
        return body[start : start + length].decode("utf-8", errors="replace")
    return None
