"""jsc_node/state/evm/patches/trie_nodes.py: with decoded nodes kept by hash, py-trie's roots, reads, proofs
and missing-node errors are what they are without, and its in-place edits never reach the kept
copies."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from trie.exceptions import MissingTrieNode
from trie.hexary import HexaryTrie

from jsc_node.state.evm.patches import trie_nodes


@pytest.fixture
def patched() -> Iterator[None]:
    trie_nodes.install()
    trie_nodes._nodes.clear()
    yield
    trie_nodes._nodes.clear()


def _run(seed: int, use_cache: bool) -> tuple[bytes, list[bytes | None], int]:
    HexaryTrie.get_node = trie_nodes.get_node if use_cache else trie_nodes.PY_TRIE_GET_NODE  # type: ignore[method-assign]
    try:
        rng = random.Random(seed)
        db: dict[bytes, bytes] = {}
        t = HexaryTrie(db, prune=rng.random() < 0.5)
        keys = [rng.randbytes(rng.choice([1, 2, 20, 32])) for _ in range(300)]
        roots = 0
        for _ in range(1500):
            key = rng.choice(keys)
            if rng.random() < 0.25:
                t.delete(key)
            else:
                t.set(key, rng.randbytes(rng.choice([1, 5, 40, 100])))
            roots ^= int.from_bytes(t.root_hash, "big")
        return t.root_hash, [t.get(k) or None for k in keys], roots
    finally:
        HexaryTrie.get_node = trie_nodes.get_node  # type: ignore[method-assign]


@pytest.mark.usefixtures("patched")
@pytest.mark.parametrize("seed", range(6))
def test_same_roots_and_values_as_py_trie(seed: int) -> None:
    before = trie_nodes.stats["hits"]
    assert _run(seed, use_cache=True) == _run(seed, use_cache=False)
    assert trie_nodes.stats["hits"] > before


@pytest.mark.usefixtures("patched")
def test_kept_nodes_are_not_edited_by_later_writes() -> None:
    t = HexaryTrie({})
    for i in range(50):
        t.set(i.to_bytes(2, "big"), b"v%d" % i)
    root = t.root_hash
    snapshot = {k: trie_nodes._copy(v) for k, v in trie_nodes._nodes.items()}
    for i in range(50):
        t.set(i.to_bytes(2, "big"), b"changed")
    assert all(trie_nodes._nodes[k] == v for k, v in snapshot.items())
    old = HexaryTrie(t.db, root)
    assert old.get((7).to_bytes(2, "big")) == b"v7"


@pytest.mark.usefixtures("patched")
def test_a_missing_node_still_raises() -> None:
    with pytest.raises(MissingTrieNode):
        HexaryTrie({}, b"\x11" * 32).get(b"key")
