"""Message codec: Hypothesis round trips, signatures, and garbage only ever raising InvalidMessage."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from jsc_node.consensus.messages import (
    COMMIT,
    PREPARE,
    PreparedCertificate,
    decode_message,
    decode_prepared_certificate,
    encode_message,
    encode_prepared_certificate,
    make_commit,
    make_prepare,
    make_proposal,
    make_round_change,
)
from jsc_node.errors import InvalidMessage, InvalidSignature, MalformedMessage
from tests.sim.fakes import make_keys

KEYS = make_keys(3)
heights = st.integers(min_value=0, max_value=2**63)
rounds = st.integers(min_value=0, max_value=2**32)
digests = st.binary(min_size=32, max_size=32)
keys = st.sampled_from(KEYS)


@settings(max_examples=50)
@given(keys, heights, rounds, digests)
def test_prepare_round_trip(key: object, height: int, round_: int, digest: bytes) -> None:
    msg = make_prepare(key, height, round_, digest)  # type: ignore[arg-type]
    decoded = decode_message(encode_message(msg))
    assert decoded == msg
    assert decoded.sender == key.public_key.to_canonical_address()  # type: ignore[attr-defined]


@settings(max_examples=50)
@given(keys, heights, rounds, digests, st.binary(min_size=65, max_size=65))
def test_commit_round_trip(key: object, height: int, round_: int, digest: bytes, seal: bytes) -> None:
    msg = make_commit(key, height, round_, digest, seal)  # type: ignore[arg-type]
    decoded = decode_message(encode_message(msg))
    assert decoded == msg
    assert decoded.signature == msg.signature


@settings(max_examples=30)
@given(heights, rounds, st.none() | st.tuples(rounds, digests), st.booleans())
def test_round_change_round_trip(
    height: int, round_: int, prepared: tuple[int, bytes] | None, attach: bool
) -> None:
    prepares = [make_prepare(k, height, 0, b"\x05" * 32) for k in KEYS] if attach else []
    block = b"\xc0" if attach else None
    pr, pd = prepared if prepared else (None, None)
    msg = make_round_change(KEYS[0], height, round_, pr, pd, block, prepares)
    decoded = decode_message(encode_message(msg))
    assert decoded == msg
    assert decoded.prepared_block == block  # type: ignore[union-attr]
    assert decoded.prepares == tuple(prepares)  # type: ignore[union-attr]
    if attach:
        senders = [p.sender for p in decoded.prepares]  # type: ignore[union-attr]
        assert senders == [k.public_key.to_canonical_address() for k in KEYS]


@settings(max_examples=30)
@given(heights, rounds, digests, st.binary(min_size=1, max_size=300))
def test_proposal_round_trip(height: int, round_: int, digest: bytes, block: bytes) -> None:
    rcs = [make_round_change(k, height, round_, 0, digest, b"\xc0", []) for k in KEYS]
    prepares = [make_prepare(k, height, 0, digest) for k in KEYS]
    msg = make_proposal(KEYS[1], height, round_, digest, block, rcs, prepares)
    decoded = decode_message(encode_message(msg))
    assert decoded == msg
    assert decoded.block == block  # type: ignore[union-attr]
    # The justification carries the signed part of each round change only.
    assert all(rc.prepared_block is None for rc in decoded.round_changes)  # type: ignore[union-attr]
    assert [rc.sender for rc in decoded.round_changes] == [k.public_key.to_canonical_address() for k in KEYS]  # type: ignore[union-attr]
    assert decoded.prepares == tuple(prepares)  # type: ignore[union-attr]


def test_prepared_certificate_round_trip() -> None:
    cert = PreparedCertificate(2, b"\xc1\x80", tuple(make_prepare(k, 1, 2, b"\x01" * 32) for k in KEYS))
    assert decode_prepared_certificate(encode_prepared_certificate(cert)) == cert


@given(st.binary(max_size=400))
def test_garbage_raises_only_invalid_message(raw: bytes) -> None:
    with pytest.raises(InvalidMessage):
        decode_message(raw)


@given(st.recursive(st.binary(max_size=40), lambda inner: st.lists(inner, max_size=6), max_leaves=30))
def test_well_formed_rlp_of_any_shape_raises_only_invalid_message(items: object) -> None:
    with pytest.raises(InvalidMessage):
        decode_message(rlp.encode(items))


def _envelope_with(sig: bytes, type_: int = PREPARE, payload: object = None) -> bytes:
    fields = payload if payload is not None else [1, 0, b"\x01" * 32]
    return rlp.encode([type_, rlp.encode(fields), sig])


@pytest.mark.parametrize(
    ("raw", "error", "what"),
    [
        (b"\xc0", MalformedMessage, "envelope item count"),
        (rlp.encode([0x99, b"", b"\x00" * 65]), MalformedMessage, "message type"),
        (rlp.encode([PREPARE, [], b"\x00" * 65]), MalformedMessage, "payload must be an RLP string"),
        (_envelope_with(b"\x00" * 64), MalformedMessage, "signature length"),
        (_envelope_with(b"\x01" * 64 + b"\x05"), InvalidSignature, None),
        (
            _envelope_with(encode_message(make_prepare(KEYS[0], 1, 0, b"\x01" * 32))[-65:], COMMIT),
            MalformedMessage,
            "commit payload item count",
        ),
        (
            rlp.encode([PREPARE, rlp.encode([1, 0, b"\x01" * 32]), b"\x00" * 65, b"x", []]),
            MalformedMessage,
            "attachment count",
        ),
        (
            rlp.encode(
                [
                    PREPARE,
                    rlp.encode([b"\x00\x01", 0, b"\x01" * 32]),
                    encode_message(make_prepare(KEYS[0], 1, 0, b"\x01" * 32))[-65:],
                ]
            ),
            MalformedMessage,
            "height must be a minimal RLP integer below 2**64",
        ),
    ],
)
def test_decode_rules(raw: bytes, error: type[InvalidMessage], what: str | None) -> None:
    with pytest.raises(error) as info:
        decode_message(raw)
    if what is not None:
        assert info.value.what == what


def test_tampered_payload_recovers_another_sender() -> None:
    msg = make_prepare(KEYS[0], 7, 1, b"\x01" * 32)
    items = rlp.decode(encode_message(msg))
    items[1] = rlp.encode([7, 2, b"\x01" * 32])
    try:
        decoded = decode_message(rlp.encode(items))
    except InvalidSignature:
        return
    assert decoded.sender != msg.sender
