"""The registry's custom errors (contracts/ValidatorRegistry.sol) read back into words.

Pure: revert data in, a sentence out. One reading for everyone who meets a reverted registry call:
the `jsc-node governance` CLI (jsc_node/govtool.py) and, later, the RPC and consensus checks. The
words match governance/identity.py's where both refuse the same thing ("corporate number check
digit: got 4, expected 3").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from eth_hash.auto import keccak

from jsc_node.governance.registry import Status

Arg = int | str | bytes
"""A decoded argument: uint -> int, string -> str, address -> 20 bytes."""


def _addr(value: Arg) -> str:
    """EIP-55 mixed case, as wallets and block explorers show an address."""
    assert isinstance(value, bytes)
    digits = value.hex()
    nibbles = keccak(digits.encode()).hex()[:40]
    return "0x" + "".join(c.upper() if int(n, 16) >= 8 else c for c, n in zip(digits, nibbles, strict=True))


def _n(value: Arg) -> int:
    assert isinstance(value, int)
    return value


def _s(value: Arg) -> str:
    assert isinstance(value, str)
    return value


def _status(value: Arg) -> str:
    assert isinstance(value, int)
    try:
        return Status(value).name.capitalize()
    except ValueError:
        return f"status {value}"


# Signature -> its words. Every error of the contract's ABI is here (tests/unit/test_governance_errors.py).
_WORDS: Final[dict[str, Callable[[Sequence[Arg]], str]]] = {
    "NotSystem(address)": lambda a: f"not the system address: called by {_addr(a[0])}",
    "ValidatorsNotAscending(uint256)": lambda a: f"validator set not ascending at index {_n(a[0])}",
    "EmptyValidatorSet()": lambda a: "empty validator set",
    "SelfApproval(address)": lambda a: f"a validator cannot approve its own attestation ({_addr(a[0])})",
    "NotValidator(address)": lambda a: f"not a current validator: {_addr(a[0])}",
    "EntityNameLength(uint256,uint256)": lambda a: (
        f"entity name length: got {_n(a[0])} bytes, expected 1 to {_n(a[1])}"
    ),
    "CorporateNumberLength(uint256)": lambda a: (
        f"corporate number length: got {_n(a[0])}, expected 13 digits"
    ),
    "CorporateNumberNotDigit(uint256)": lambda a: f"corporate number: a non-digit at position {_n(a[0]) + 1}",
    "CorporateNumberCheckDigit(uint256,uint256)": lambda a: (
        f"corporate number check digit: got {_n(a[0])}, expected {_n(a[1])}"
    ),
    "JurisdictionMalformed(string)": lambda a: (
        f"jurisdiction {_s(a[0])!r} is not an ISO 3166-1 alpha-2 code (two uppercase letters)"
    ),
    "JurisdictionNotAllowed(string)": lambda a: (
        f"jurisdiction {_s(a[0])!r} is not allowed by this chain's policy"
    ),
    "RegionMalformed(string)": lambda a: f"region {_s(a[0])!r} is not an ISO 3166-2 code of its jurisdiction",
    "RegionNotInJurisdiction(string,string)": lambda a: (
        f"region {_s(a[0])!r} is not a region of jurisdiction {_s(a[1])!r}"
    ),
    "DocumentHashZero()": lambda a: "document hash is all zero",
    "AttestationActive(address)": lambda a: (
        f"{_addr(a[0])} already holds a valid attestation (it must be revoked before a new submission)"
    ),
    "NotPending(address,uint8)": lambda a: (
        f"attestation of {_addr(a[0])} is not pending (status: {_status(a[1])})"
    ),
    "NotValid(address,uint8)": lambda a: (
        f"attestation of {_addr(a[0])} is not valid (status: {_status(a[1])})"
    ),
    "AlreadyVoted(address,address)": lambda a: (
        f"already approved: {_addr(a[1])} has already voted on {_addr(a[0])} in this round"
    ),
}

SELECTORS: Final[dict[bytes, str]] = {keccak(sig.encode())[:4]: sig for sig in _WORDS}
"""4-byte selector -> the error's signature."""


def _decode_args(types: Sequence[str], body: bytes) -> list[Arg] | None:
    """The head/tail ABI encoding of ``types`` (uint256, uint8, address, string only), or None
    when ``body`` is malformed."""
    args: list[Arg] = []
    for i, kind in enumerate(types):
        word = body[32 * i : 32 * i + 32]
        if len(word) != 32:
            return None
        value = int.from_bytes(word, "big")
        if kind == "address":
            args.append(word[12:])
        elif kind == "string":
            length_word = body[value : value + 32]
            if len(length_word) != 32:
                return None
            length = int.from_bytes(length_word, "big")
            data = body[value + 32 : value + 32 + length]
            if len(data) != length:
                return None
            args.append(data.decode("utf-8", errors="replace"))
        else:
            args.append(value)
    return args


def decode_registry_error(revert: bytes) -> str | None:
    """The words for revert data of one of the registry's custom errors, or None when the data is
    not one of them (or is malformed)."""
    signature = SELECTORS.get(revert[:4])
    if signature is None:
        return None
    inner = signature[signature.index("(") + 1 : -1]
    args = _decode_args(inner.split(",") if inner else [], revert[4:])
    if args is None:
        return None
    return _WORDS[signature](args)
