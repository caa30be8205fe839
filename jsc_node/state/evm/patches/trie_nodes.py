"""Decoded trie nodes kept by their hash, so a node read again is not decoded again.

py-trie's ``HexaryTrie.get_node`` reads a node from the database and RLP-decodes it every time it
is asked: every account and storage read walks from the root, and so does every write when the
state root is computed (~5 nodes a walk). A node's key is the keccak of its encoding, so a node
read once is that node wherever it is asked for again: the decoded form is kept here (bounded,
oldest out first) and each caller gets its own copy, since py-trie edits the nodes it is given
when it builds new ones. Embedded nodes (shorter than 32 bytes, inside their parent) are py-trie's
business as before.
"""

from __future__ import annotations

from typing import Any

from trie.hexary import HexaryTrie

REPLACES = ("trie.hexary:HexaryTrie.get_node",)

MAX_NODES = 16_384
"""~20 MB at most (a branch node with 16 children is ~1.3 KB decoded): the top levels of the
account trie and the working set of a block (~3,500 distinct nodes for 583 ERC-20 transfers)."""
PY_TRIE_GET_NODE: Any = HexaryTrie.get_node

_nodes: dict[bytes, Any] = {}
stats = {"hits": 0, "misses": 0}


def _copy(node: Any) -> Any:
    if type(node) is list:
        return [_copy(item) if type(item) is list else item for item in node]
    return node


def get_node(self: Any, node_hash: Any) -> Any:
    if type(node_hash) is not bytes or len(node_hash) != 32:
        return PY_TRIE_GET_NODE(self, node_hash)
    cached = _nodes.get(node_hash)
    if cached is not None:
        stats["hits"] += 1
        return _copy(cached)
    node = PY_TRIE_GET_NODE(self, node_hash)  # raises MissingTrieNode as before
    stats["misses"] += 1
    if len(_nodes) >= MAX_NODES:
        for stale in list(_nodes)[: MAX_NODES // 4]:
            _nodes.pop(stale, None)
    _nodes[node_hash] = _copy(node)
    return node


def install() -> None:
    HexaryTrie.get_node = get_node  # type: ignore[method-assign]
