"""Transactions, receipts and withdrawals roots, built in one bottom-up pass.

py-evm computes these roots (``eth.db.trie.make_trie_root_and_nodes``) by inserting every item into
a ``HexaryTrie``: each insert re-encodes and re-hashes the nodes on its path and prunes the old
ones. For a 2,000-transaction block that was 43% of block building (three tries: transactions at
build, receipts, and both again in ``ChainDB.persist_block``). The keys are known up front
(``rlp(index)``), so the trie can be built once from the sorted keys: every node is encoded and
hashed exactly once, with jsc-node's one RLP encoder (jsc_node/rlp_codec.py). Same root, same node
set (tests/unit/test_roots.py checks both against py-evm's own function on random inputs).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from eth.constants import BLANK_ROOT_HASH
from eth_hash.auto import keccak

from jsc_node.rlp_codec import encode, encode_list_payload
from jsc_node.state.evm.patches.byname import replace_by_name

IMPORTED_BY = ("eth.vm.base", "eth.db.chain")
"""Block building and validation (``VM``), and ``ChainDB.persist_block``."""
REPLACES = (
    "eth.db.trie:make_trie_root_and_nodes",
    *(f"{module}:make_trie_root_and_nodes" for module in IMPORTED_BY),
)

_EMPTY_SLOT = b"\x80"
_CACHE_SIZE = 16
"""Build computes a block's roots, then ``persist_block`` recomputes them at commit."""


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    padded = [flag + 1, *nibbles] if len(nibbles) % 2 else [flag, 0, *nibbles]
    return bytes((padded[i] << 4) | padded[i + 1] for i in range(0, len(padded), 2))


def _nibbles(key: bytes) -> tuple[int, ...]:
    out: list[int] = []
    for byte in key:
        out.append(byte >> 4)
        out.append(byte & 0x0F)
    return tuple(out)


def trie_root_and_nodes(pairs: Sequence[tuple[bytes, bytes]]) -> tuple[bytes, dict[bytes, bytes]]:
    """Root hash and ``{hash: node RLP}`` of the hexary Merkle-Patricia trie of ``pairs``
    (distinct keys, non-empty values), as ``HexaryTrie`` would store them."""
    if not pairs:
        return BLANK_ROOT_HASH, {}
    items = sorted((_nibbles(key), value) for key, value in pairs)
    nodes: dict[bytes, bytes] = {}

    def reference(encoded: bytes) -> bytes:
        """How a parent holds a child: inline below 32 bytes, else by hash."""
        if len(encoded) < 32:
            return encoded
        digest: bytes = keccak(encoded)
        nodes[digest] = encoded
        return b"\xa0" + digest

    def node(lo: int, hi: int, depth: int) -> bytes:
        first = items[lo][0]
        if hi - lo == 1:
            return encode_list_payload(encode(_hex_prefix(first[depth:], True)) + encode(items[lo][1]))
        last = items[hi - 1][0]  # sorted: the common prefix of first and last is everyone's
        shared = depth
        while shared < len(first) and shared < len(last) and first[shared] == last[shared]:
            shared += 1
        if shared > depth:
            child = reference(node(lo, hi, shared))
            return encode_list_payload(encode(_hex_prefix(first[depth:shared], False)) + child)
        slots = [_EMPTY_SLOT] * 17
        i = lo
        if len(items[i][0]) == depth:  # a key that ends here sorts first
            slots[16] = encode(items[i][1])
            i += 1
        while i < hi:
            nibble = items[i][0][depth]
            j = i + 1
            while j < hi and items[j][0][depth] == nibble:
                j += 1
            slots[nibble] = reference(node(i, j, depth + 1))
            i = j
        return encode_list_payload(b"".join(slots))

    root = node(0, len(items), 0)
    root_hash: bytes = keccak(root)
    nodes[root_hash] = root
    return root_hash, nodes


@functools.lru_cache(_CACHE_SIZE)
def _ordered_root(encoded_items: tuple[bytes, ...]) -> tuple[bytes, dict[bytes, bytes]]:
    # The key is ``rlp.encode(index, sedes=big_endian_int)``.
    return trie_root_and_nodes([(encode(i), item) for i, item in enumerate(encoded_items)])


def make_trie_root_and_nodes(items: Sequence[Any]) -> tuple[Any, dict[Any, bytes]]:
    """Drop-in for ``eth.db.trie.make_trie_root_and_nodes``: the trie of ``rlp(index) -> item.encode()``.
    Callers get a copy of the node dict (py-evm's callers only read it; the cache keeps its own)."""
    root, nodes = _ordered_root(tuple(item.encode() for item in items))
    return root, dict(nodes)


def install() -> None:
    replace_by_name(REPLACES[0], make_trie_root_and_nodes, IMPORTED_BY)
