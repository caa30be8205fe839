"""jsc_node/state/evm/patches/roots.py against py-evm's own trie (HexaryTrie inserts): same root and the
same node set, for sizes across the 1-, 2- and 3-byte index keys and for values short enough to
be inlined in their parents."""

from __future__ import annotations

import random

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from trie import HexaryTrie

from jsc_node.state.evm.patches import roots


def reference(items: list[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """py-evm 0.12.1b1's eth.db.trie._make_trie_root_and_nodes, uncached."""
    kv_store: dict[bytes, bytes] = {}
    trie = HexaryTrie(kv_store, BLANK_ROOT_HASH)
    with trie.squash_changes() as memory_trie:
        for index, item in enumerate(items):
            memory_trie[rlp.encode(index, sedes=rlp.sedes.big_endian_int)] = item
    return trie.root_hash, kv_store


class Item:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def encode(self) -> bytes:
        return self.data


@pytest.mark.parametrize("count", [0, 1, 2, 3, 15, 16, 17, 127, 128, 129, 200, 300, 1000])
@pytest.mark.parametrize("value_size", [(1, 4), (1, 40), (30, 200)])
def test_same_root_and_nodes_as_py_evm(count: int, value_size: tuple[int, int]) -> None:
    rng = random.Random(count * 1000 + value_size[1])
    items = [rng.randbytes(rng.randint(*value_size)) for _ in range(count)]
    expected_root, expected_nodes = reference(items)
    root, nodes = roots.make_trie_root_and_nodes([Item(i) for i in items])
    assert root == expected_root
    assert {k: v for k, v in nodes.items() if k != BLANK_ROOT_HASH} == {
        k: v for k, v in expected_nodes.items() if k != BLANK_ROOT_HASH
    }


def test_arbitrary_keys_including_a_key_that_prefixes_another() -> None:
    pairs = [(b"\x01", b"a" * 40), (b"\x01\x02", b"b"), (b"\x01\x02\x03", b"c" * 33), (b"\xff", b"d")]
    trie = HexaryTrie({}, BLANK_ROOT_HASH)
    for key, value in pairs:
        trie[key] = value
    assert roots.trie_root_and_nodes(pairs)[0] == trie.root_hash


def test_installed_in_py_evm_where_blocks_are_built_and_persisted() -> None:
    from eth.db import chain, trie
    from eth.vm import base

    assert base.make_trie_root_and_nodes is roots.make_trie_root_and_nodes
    assert chain.make_trie_root_and_nodes is roots.make_trie_root_and_nodes
    assert trie.make_trie_root_and_nodes is roots.make_trie_root_and_nodes
