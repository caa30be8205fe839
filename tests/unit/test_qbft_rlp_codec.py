"""jsc_node/rlp_codec.py, the one RLP encoder of bytes, ints and lists, gives exactly pyrlp's bytes."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from jsc_node import rlp_codec

items = st.recursive(
    st.binary(max_size=70) | st.integers(min_value=0, max_value=2**256),
    lambda inner: st.lists(inner, max_size=8),
    max_leaves=40,
)


@given(items)
def test_same_bytes_as_pyrlp(item: object) -> None:
    assert rlp_codec.encode(item) == rlp.encode(item)


@pytest.mark.parametrize("item", [-1, "text", 1.5, True])
def test_refuses_what_rlp_cannot_hold(item: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        rlp_codec.encode(item)


@given(st.lists(items, max_size=12))
def test_a_list_from_its_items_encodings(children: list[object]) -> None:
    payload = b"".join(rlp_codec.encode(child) for child in children)
    assert rlp_codec.encode_list_payload(payload) == rlp.encode(children)


class _Bytes(bytes):
    pass


class _List(list[object]):
    pass


def test_subclasses_encode_as_their_base_types() -> None:
    item = _List([_Bytes(b"dog"), (_Bytes(b"x" * 60), 1024), _List()])
    assert rlp_codec.encode(item) == rlp.encode([b"dog", [b"x" * 60, 1024], []])
