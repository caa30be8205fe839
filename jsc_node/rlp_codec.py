"""RLP encoding of bytes, non-negative integers and nested lists: jsc-node's one encoder of these shapes.

Consensus encodes its messages, blocks and extraData with ``encode``; on the execution side, pyrlp's
``encode_raw`` gets its fast path from ``make_encoder`` (state/evm/patches/rlp_encode.py) and the
one-pass trie roots wrap their nodes with ``encode`` and ``encode_list_payload``
(state/evm/patches/roots.py). pyrlp tells a string from a list with ``isinstance`` against abstract
base classes at every level (and ``rlp.encode`` infers a sedes for every item first); exact types
are checked here first. Long-form prefixes are pyrlp's own ``length_prefix`` (a ValueError from
2**64 bytes on). The bytes are pyrlp's (tests/unit/test_qbft_rlp_codec.py,
tests/unit/test_rlp_encode.py); decoding stays with pyrlp (``rlp.decode(strict=True)``), which checks
canonical form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlp.codec import length_prefix

SHORT = 56
"""Payloads shorter than this carry their length in the prefix byte itself."""
_STRING_PREFIX = tuple(bytes((0x80 + n,)) for n in range(SHORT))
_LIST_PREFIX = tuple(bytes((0xC0 + n,)) for n in range(SHORT))


def encode_list_payload(payload: bytes) -> bytes:
    """The RLP list whose items' encodings, concatenated, are ``payload``."""
    size = len(payload)
    if size < SHORT:
        return _LIST_PREFIX[size] + payload
    prefix: bytes = length_prefix(size, 0xC0)
    return prefix + payload


def make_encoder(other: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """An encoder of ``bytes`` and ``list``/``tuple`` (exact types, nested) that hands any other item,
    at any depth, to ``other``."""

    def encode(item: Any) -> bytes:
        kind = type(item)
        if kind is bytes:
            data: bytes = item
            size = len(data)
            if size == 1 and data[0] < 0x80:
                return data
            if size < SHORT:
                return _STRING_PREFIX[size] + data
            prefix: bytes = length_prefix(size, 0x80)
            return prefix + data
        if kind is list or kind is tuple:
            return encode_list_payload(b"".join([encode(child) for child in item]))
        return other(item)

    return encode


def _encode_other(item: object) -> bytes:
    if isinstance(item, int) and not isinstance(item, bool):
        if item < 0:
            raise ValueError(f"RLP cannot encode a negative integer: {item}")
        return encode(item.to_bytes((item.bit_length() + 7) // 8, "big"))
    if isinstance(item, bytes):  # a subclass
        return encode(bytes(item))
    if isinstance(item, (list, tuple)):  # a subclass
        return encode(list(item))
    raise TypeError(f"RLP cannot encode {type(item).__name__}")


encode = make_encoder(_encode_other)
"""RLP of bytes, a non-negative int (big-endian, no leading zeros), or a list/tuple of those (nested);
ValueError for a negative int, TypeError for anything else (bool included)."""
