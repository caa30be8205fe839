"""jsc_node/state/evm/patches/rlp_encode.py gives pyrlp's bytes and pyrlp's errors, and is what py-evm's trie
and pyrlp's ``encode`` call once the patches are installed (tests/conftest.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest
import rlp
import rlp.codec
import trie.hexary

from jsc_node.state.evm.patches import rlp_encode


def _random_item(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.55:
        size = rng.choice([0, 1, 1, 2, 20, 55, 56, 57, 200, 1100])
        data = rng.randbytes(size)
        return bytearray(data) if rng.random() < 0.05 else data
    items = [_random_item(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 3, 17, 40]))]
    return tuple(items) if rng.random() < 0.5 else items


def test_same_bytes_as_pyrlp_on_random_nested_items() -> None:
    rng = random.Random(7)
    for _ in range(1000):
        item = _random_item(rng)
        assert rlp_encode.encode_raw(item) == rlp_encode.PYRLP_ENCODE_RAW(item)


def test_edges_of_the_short_forms() -> None:
    for item in (b"", b"\x00", b"\x7f", b"\x80", b"\xff", b"a" * 55, b"a" * 56, [], [b"a" * 54], [b"a" * 55]):
        assert rlp_encode.encode_raw(item) == rlp_encode.PYRLP_ENCODE_RAW(item)
    for big in (b"a" * 70_000, [b"a" * 300] * 300):
        assert rlp_encode.encode_raw(big) == rlp_encode.PYRLP_ENCODE_RAW(big)


def test_what_pyrlp_refuses_is_refused_the_same_way() -> None:
    for bad in ("text", 5, None, [b"ok", 3.5], {b"k": b"v"}):
        with pytest.raises(rlp.EncodingError):
            rlp_encode.PYRLP_ENCODE_RAW(bad)
        with pytest.raises(rlp.EncodingError):
            rlp_encode.encode_raw(bad)


def test_installed_where_py_evm_looks() -> None:
    assert rlp.codec.encode_raw is rlp_encode.encode_raw
    assert trie.hexary.encode_raw is rlp_encode.encode_raw
    assert rlp.encode([b"cat", b"dog"]) == bytes.fromhex("c88363617483646f67")  # the RLP spec's example
