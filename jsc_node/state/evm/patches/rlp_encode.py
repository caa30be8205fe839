"""pyrlp's ``encode_raw`` with a fast path for what it is almost always given: bytes, lists, tuples.

pyrlp tells a string from a list with ``isinstance`` against two abstract base classes (its
``Atomic`` and ``collections.abc.Sequence``) at every level of every item it encodes: trie nodes,
accounts, receipts, headers, transactions; ~120 nested items per ERC-20 transfer in each build and
validation. Exact types are checked here first; anything else (bytearray, other Atomic or Sequence
types, a value pyrlp refuses) goes to pyrlp's own function, which encodes or raises as before.
The bytes produced are the same: tests/unit/test_rlp_encode.py compares with pyrlp on random
nested items. ``bench/bare.py`` runs without jsc_node and keeps pyrlp's.
"""

from __future__ import annotations

from typing import Any

import rlp.codec
import trie.hexary

PYRLP_ENCODE_RAW = rlp.codec.encode_raw
_SHORT = 56
_STRING_SHORT = [bytes((0x80 + n,)) for n in range(_SHORT)]
_LIST_SHORT = [bytes((0xC0 + n,)) for n in range(_SHORT)]


def encode_raw(item: Any) -> bytes:
    kind = type(item)
    if kind is bytes:
        data: bytes = item
        size = len(data)
        if size == 1 and data[0] < 0x80:
            return data
        if size < _SHORT:
            return _STRING_SHORT[size] + data
        return _long(data, 0x80, data)
    if kind is list or kind is tuple:
        payload = b"".join([encode_raw(x) for x in item])
        size = len(payload)
        if size < _SHORT:
            return _LIST_SHORT[size] + payload
        return _long(payload, 0xC0, item)
    result: bytes = PYRLP_ENCODE_RAW(item)
    return result


def _long(payload: bytes, offset: int, item: Any) -> bytes:
    try:
        prefix: bytes = rlp.codec.length_prefix(len(payload), offset)
    except ValueError:  # 2**64 bytes or more
        result: bytes = PYRLP_ENCODE_RAW(item)  # raises pyrlp's EncodingError
        return result
    return prefix + payload


def install() -> None:
    # py-trie imports the function by name.
    modules: tuple[Any, ...] = (rlp.codec, trie.hexary)
    for module in modules:
        if getattr(module, "encode_raw", None) is PYRLP_ENCODE_RAW:
            module.encode_raw = encode_raw


install()
