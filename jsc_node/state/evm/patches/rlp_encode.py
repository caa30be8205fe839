"""pyrlp's ``encode_raw`` with a fast path for what it is almost always given: bytes, lists, tuples.

pyrlp tells a string from a list with ``isinstance`` against two abstract base classes (its
``Atomic`` and ``collections.abc.Sequence``) at every level of every item it encodes: trie nodes,
accounts, receipts, headers, transactions; ~120 nested items per ERC-20 transfer in each build and
validation. The fast path is jsc-node's one RLP encoder (jsc_node/rlp_codec.py), which checks
exact types first; anything else (bytearray, other Atomic or Sequence types, a value pyrlp refuses,
an item of 2**64 bytes or more) goes to pyrlp's own function, which encodes or raises as before.
The bytes produced are the same: tests/unit/test_rlp_encode.py compares with pyrlp on random
nested items.
"""

from __future__ import annotations

from typing import Any

import rlp.codec

from jsc_node import rlp_codec
from jsc_node.state.evm.patches.byname import replace_by_name

IMPORTED_BY = ("trie.hexary",)
"""py-trie imports the function by name: how it encodes every trie node."""
REPLACES = ("rlp.codec:encode_raw", *(f"{module}:encode_raw" for module in IMPORTED_BY))

PYRLP_ENCODE_RAW = rlp.codec.encode_raw

_fast = rlp_codec.make_encoder(PYRLP_ENCODE_RAW)


def encode_raw(item: Any) -> bytes:
    try:
        return _fast(item)
    except ValueError:  # 2**64 bytes or more: pyrlp raises its EncodingError
        result: bytes = PYRLP_ENCODE_RAW(item)
        return result


def install() -> None:
    replace_by_name(REPLACES[0], encode_raw, IMPORTED_BY)
