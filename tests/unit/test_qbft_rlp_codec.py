"""The fast encoder gives exactly pyrlp's bytes."""

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
