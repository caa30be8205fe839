"""jsc_node/state/evm/executor.py first_list_item: a block's header RLP from the length prefixes."""

from __future__ import annotations

import random

import pytest
import rlp

from jsc_node.state.evm.executor import first_list_item


@pytest.mark.parametrize("seed", range(30))
def test_equals_the_first_item_of_a_full_decode(seed: int) -> None:
    rng = random.Random(seed)
    header = [rng.randbytes(rng.choice([0, 1, 20, 32, 60, 300])) for _ in range(rng.randint(13, 21))]
    body = [[rng.randbytes(rng.randint(0, 3000)) for _ in range(rng.randint(0, 50))], [], []]
    raw = rlp.encode([header, *body])
    assert first_list_item(raw) == rlp.encode(header)
    assert rlp.decode(first_list_item(raw)) == header


@pytest.mark.parametrize(
    "raw",
    [
        rlp.encode(b"not a list"),
        rlp.encode([b"header is not a list", []]),
        rlp.encode([[b"a"] * 13]) + b"\x00",  # trailing bytes
        rlp.encode([[b"a"] * 13])[:-1],  # truncated
        b"\xc0",  # empty list
    ],
)
def test_refuses_what_is_not_a_block(raw: bytes) -> None:
    with pytest.raises((ValueError, IndexError)):
        first_list_item(raw)
