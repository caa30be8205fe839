"""The fields of a validator attestation, checked as contracts/ValidatorRegistry.sol checks them.

Pure functions (no I/O, no EVM): the genesis writer, and later the `jsc-node governance` CLI,
refuse bad input here, before a transaction the contract would revert. Each raises an
AttestationError naming the field and what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from jsc_node.errors import AttestationError

CORPORATE_NUMBER_DIGITS: Final = 13
MAX_ENTITY_NAME_BYTES: Final = 256
"""As the contract's MAX_ENTITY_NAME_BYTES (UTF-8 bytes, not characters)."""
JP_PREFECTURES: Final = 47
"""ISO 3166-2:JP is JP-01 (Hokkaido) .. JP-47 (Okinawa), the JIS X 0401 prefecture codes."""

_ALPHA2 = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"([A-Z]{2})-([A-Z0-9]{1,3})")


def corporate_number_check_digit(base: str) -> int:
    """The check digit of a 12-digit base: 9 - (Σ Pn·Qn mod 9), Pn the n-th digit from the right,
    Qn 1 for odd n and 2 for even n (財務省令第70号 第2条)."""
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(base), 1))
    return 9 - total % 9


def validate_corporate_number(text: str) -> str:
    """A 法人番号: exactly 13 ASCII digits whose first is the check digit of the other 12."""
    field = "corporate number"
    if not isinstance(text, str):
        raise AttestationError(field, f"must be a string of 13 digits, got {type(text).__name__}")
    if len(text) != CORPORATE_NUMBER_DIGITS:
        raise AttestationError(field, f"{text!r} has {len(text)} characters, expected 13 digits")
    for position, char in enumerate(text):
        if char not in "0123456789":
            raise AttestationError(field, f"{text!r} has a non-digit {char!r} at position {position + 1}")
    expected = corporate_number_check_digit(text[1:])
    if int(text[0]) != expected:
        raise AttestationError(
            field, f"{text!r} fails its check digit: got {text[0]}, expected {expected} (a mistyped digit?)"
        )
    return text


def validate_jurisdiction_code(text: str) -> str:
    """An ISO 3166-1 alpha-2 code as written in the registry: two uppercase ASCII letters.

    Only the form is checked here; which codes a chain accepts is its genesis policy
    (``config.jsc.jurisdictions``, see ``validate_jurisdiction``)."""
    if not isinstance(text, str) or not _ALPHA2.fullmatch(text):
        raise AttestationError(
            "jurisdiction", f"{text!r} is not an ISO 3166-1 alpha-2 code (two uppercase letters, e.g. 'JP')"
        )
    return text


def validate_jurisdiction(text: str, allowed: tuple[str, ...]) -> str:
    validate_jurisdiction_code(text)
    if text not in allowed:
        raise AttestationError(
            "jurisdiction", f"{text!r} is not allowed by this chain's policy (allowed: {', '.join(allowed)})"
        )
    return text


def validate_region(text: str, jurisdiction: str) -> str:
    """An ISO 3166-2 subdivision code of ``jurisdiction``: 'JP-13'; for JP exactly JP-01..JP-47.

    Other countries' subdivision lists are not carried here: their codes are checked for form
    (the country, '-', 1 to 3 uppercase letters or digits), as the contract does."""
    field = "region"
    match = _SUBDIVISION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise AttestationError(
            field, f"{text!r} is not an ISO 3166-2 code (country, '-', 1-3 letters or digits, e.g. 'JP-13')"
        )
    if match.group(1) != jurisdiction:
        raise AttestationError(field, f"{text!r} is not a region of jurisdiction {jurisdiction!r}")
    if jurisdiction == "JP":
        code = match.group(2)
        if not (len(code) == 2 and code.isdigit() and 1 <= int(code) <= JP_PREFECTURES):
            raise AttestationError(field, f"{text!r} is not a Japanese prefecture (JP-01 .. JP-47)")
    return text


def validate_entity_name(text: str) -> str:
    if not isinstance(text, str):
        raise AttestationError("entity name", f"must be a string, got {type(text).__name__}")
    size = len(text.encode("utf-8"))
    if size == 0 or not text.strip():
        raise AttestationError("entity name", "is empty")
    if size > MAX_ENTITY_NAME_BYTES:
        raise AttestationError("entity name", f"is {size} bytes of UTF-8, at most {MAX_ENTITY_NAME_BYTES}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise AttestationError("entity name", "contains a control character")
    return text


def validate_document_hash(text: str) -> bytes:
    """A SHA-256 digest as 0x-hex (64 hex digits), not all zero."""
    field = "document hash"
    digits = text[2:] if isinstance(text, str) and text[:2].lower() == "0x" else None
    try:
        raw = bytes.fromhex(digits) if digits is not None and len(digits) == 64 else None
    except ValueError:
        raw = None
    if raw is None:
        raise AttestationError(field, f"{text!r} is not a SHA-256 digest (0x and 64 hex digits)")
    if raw == bytes(32):
        raise AttestationError(field, "is all zero")
    return raw


@dataclass(frozen=True)
class AttestationFields:
    """What a candidate submits (the contract's ``submit`` arguments), checked."""

    entity_name: str
    corporate_number: str
    """13 digits, check digit first."""
    jurisdiction: str
    region: str
    document_hash: bytes
    """32 bytes: SHA-256 of the attestation document."""


def attestation_fields(doc: Any, allowed: tuple[str, ...], where: str = "attestation") -> AttestationFields:
    """An attestation from JSON (``entityName``, ``corporateNumber``, ``jurisdiction``,
    ``region``, ``documentHash``), every field checked; errors are prefixed with ``where``."""
    keys = ("entityName", "corporateNumber", "jurisdiction", "region", "documentHash")
    if not isinstance(doc, dict):
        raise AttestationError(where, f"must be a JSON object with {', '.join(keys)}")
    unknown = sorted(set(doc) - set(keys))
    if unknown:
        raise AttestationError(where, f"unknown field {unknown[0]!r} (fields: {', '.join(keys)})")
    missing = [k for k in keys if k not in doc]
    if missing:
        raise AttestationError(where, f"missing field {missing[0]!r}")
    try:
        jurisdiction = validate_jurisdiction(doc["jurisdiction"], allowed)
        return AttestationFields(
            entity_name=validate_entity_name(doc["entityName"]),
            corporate_number=validate_corporate_number(doc["corporateNumber"]),
            jurisdiction=jurisdiction,
            region=validate_region(doc["region"], jurisdiction),
            document_hash=validate_document_hash(doc["documentHash"]),
        )
    except AttestationError as exc:
        raise AttestationError(f"{where}: {exc.field}", exc.problem) from None
