"""extraData codec: Besu's documented example and round trips."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from jsc_node.chainformat import (
    QbftExtraData,
    Vote,
    decode_extra_data,
    encode_extra_data,
    extra_data_for_commit_seal,
    extra_data_for_onchain_hash,
    genesis_extra_data,
)
from jsc_node.errors import InvalidBlock

# Besu docs, "QBFT genesis file": extraData for the single validator 9811ebc3...1deb.
BESU_EXAMPLE = bytes.fromhex(
    "f83aa00000000000000000000000000000000000000000000000000000000000000000"
    "d5949811ebc35d7b06b3fa8dc5809a1f9c52751e1debc080c0"
)
BESU_VALIDATOR = bytes.fromhex("9811ebc35d7b06b3fa8dc5809a1f9c52751e1deb")


def test_besu_documented_example_round_trips() -> None:
    decoded = decode_extra_data(BESU_EXAMPLE)
    assert decoded == QbftExtraData(b"\x00" * 32, (BESU_VALIDATOR,), None, 0, ())
    assert encode_extra_data(decoded) == BESU_EXAMPLE
    assert genesis_extra_data([BESU_VALIDATOR]) == BESU_EXAMPLE


addresses = st.binary(min_size=20, max_size=20)
extras = st.builds(
    QbftExtraData,
    vanity=st.binary(min_size=32, max_size=32),
    validators=st.lists(addresses, max_size=8).map(tuple),
    vote=st.none() | st.builds(Vote, recipient=addresses, add=st.booleans()),
    round=st.integers(min_value=0, max_value=2**32),
    seals=st.lists(st.binary(min_size=65, max_size=65), max_size=5).map(tuple),
)


@given(extras)
def test_round_trip(extra: QbftExtraData) -> None:
    raw = encode_extra_data(extra)
    assert decode_extra_data(raw) == extra
    assert decode_extra_data(extra_data_for_commit_seal(raw)) == extra.without_seals()
    hashed = decode_extra_data(extra_data_for_onchain_hash(raw))
    assert (hashed.round, hashed.seals, hashed.validators) == (0, (), extra.validators)


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([b"\x00" * 32, [], [], b""], "item count"),
        ([b"\x00" * 31, [], [], b"", []], "vanity length"),
        ([b"\x00" * 32, [b"\x01" * 19], [], b"", []], "20-byte addresses"),
        ([b"\x00" * 32, [], b"x", b"", []], "vote must be a list"),
        ([b"\x00" * 32, [], [b"\x01" * 20, b"\x01"], b"", []], "vote must be"),
        ([b"\x00" * 32, [], [], b"\x00\x01", []], "minimal RLP integer"),
        ([b"\x00" * 32, [], [], b"", [b"\x01" * 64]], "65-byte signatures"),
    ],
)
def test_malformed_extra_data_is_invalid_block(items: list[object], match: str) -> None:
    with pytest.raises(InvalidBlock, match=match):
        decode_extra_data(rlp.encode(items))


@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_invalid_block(raw: bytes) -> None:
    try:
        decoded = decode_extra_data(raw)
    except InvalidBlock:
        return
    assert encode_extra_data(decoded) == raw  # whatever decodes is canonical
