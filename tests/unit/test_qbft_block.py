"""The block view: hash rules pinned with a hand-built header, seals, decoding errors."""

from __future__ import annotations

import pytest
import rlp
from eth_hash.auto import keccak

from jsc_node.chainformat import BFT_MIX_HASH, QbftExtraData, encode_extra_data
from jsc_node.consensus.block import (
    HEADER_PRAGUE_FIELDS,
    decode_block,
    decode_header,
    recover_address,
    recover_seal_signers,
    sign_commit_seal,
    sign_digest,
)
from jsc_node.errors import InvalidBlock, InvalidSeal
from tests.sim.fakes import make_block, make_header, make_keys

KEYS = make_keys(4)
VALIDATORS = tuple(sorted(k.public_key.to_canonical_address() for k in KEYS))


def _extra(round_: int = 0, seals: tuple[bytes, ...] = ()) -> bytes:
    return encode_extra_data(QbftExtraData(b"\x00" * 32, VALIDATORS, None, round_, seals))


def _block(round_: int = 3, seals: tuple[bytes, ...] = ()) -> bytes:
    return make_block(
        parent_hash=b"\x11" * 32,
        number=5,
        timestamp=1_700_000_000,
        coinbase=VALIDATORS[0],
        extra_data=_extra(round_, seals),
    )


def test_onchain_hash_is_keccak_of_header_with_no_seals_and_round_zero() -> None:
    seals = (b"\x01" * 65, b"\x02" * 65)
    block = decode_block(_block(round_=3, seals=seals))
    expected_header = make_header(
        parent_hash=b"\x11" * 32,
        number=5,
        timestamp=1_700_000_000,
        coinbase=VALIDATORS[0],
        extra_data=_extra(0, ()),
    )
    assert len(expected_header) == HEADER_PRAGUE_FIELDS
    assert block.onchain_hash == keccak(rlp.encode(expected_header))
    # Neither the round nor the seals change the block hash.
    assert decode_block(_block(round_=0)).onchain_hash == block.onchain_hash


def test_commit_seal_digest_keeps_the_round_and_drops_the_seals() -> None:
    block = decode_block(_block(round_=3, seals=(b"\x01" * 65,)))
    header = make_header(
        parent_hash=b"\x11" * 32,
        number=5,
        timestamp=1_700_000_000,
        coinbase=VALIDATORS[0],
        extra_data=_extra(3, ()),
    )
    assert block.commit_seal_digest == keccak(rlp.encode(header))
    assert block.commit_seal_digest != block.with_round(4).commit_seal_digest


def test_fields_are_read_from_the_header() -> None:
    block = decode_block(_block())
    assert (block.number, block.timestamp, block.parent_hash, block.coinbase) == (
        5,
        1_700_000_000,
        b"\x11" * 32,
        VALIDATORS[0],
    )
    assert block.header[13] == block.mix_hash == BFT_MIX_HASH
    assert block.extra.round == 3


def test_a_header_alone_decodes_to_the_same_block_fields_and_hash() -> None:
    block = decode_block(_block(round_=2, seals=(b"\x01" * 65,)))
    header = decode_header(rlp.encode(list(block.header)))
    assert header.header == block.header
    assert header.onchain_hash == block.onchain_hash
    assert header.extra == block.extra
    assert header.tx_count == 0


def test_with_round_and_with_seals_reencode_byte_for_byte() -> None:
    raw = _block(round_=2)
    block = decode_block(raw)
    assert block.encode() == raw
    assert block.with_round(5).with_round(2).encode() == raw
    sealed = block.with_seals([b"\x03" * 65])
    assert decode_block(sealed.encode()).extra.seals == (b"\x03" * 65,)
    assert sealed.onchain_hash == block.onchain_hash


def test_commit_seals_sign_and_recover() -> None:
    block = decode_block(_block(round_=1))
    seals = [sign_commit_seal(k, block) for k in KEYS[:3]]
    assert all(len(s) == 65 and s[64] in (0, 1) for s in seals)
    sealed = block.with_seals(seals)
    assert recover_seal_signers(sealed) == [k.public_key.to_canonical_address() for k in KEYS[:3]]
    # A seal over another round recovers to someone else.
    other_round = block.with_round(2).with_seals(seals)
    assert recover_seal_signers(other_round)[0] != KEYS[0].public_key.to_canonical_address()


def test_recover_refuses_malformed_signatures() -> None:
    digest = keccak(b"x")
    good = sign_digest(KEYS[0], digest)
    assert recover_address(digest, good) == KEYS[0].public_key.to_canonical_address()
    with pytest.raises(InvalidSeal, match="signature v"):
        recover_address(digest, good[:64] + b"\x1b")
    with pytest.raises(InvalidSeal, match="signature length"):
        recover_address(digest, good[:64])
    with pytest.raises(InvalidSeal):
        recover_address(digest, b"\x00" * 64 + b"\x00")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\xff\x00", "not valid RLP"),
        (rlp.encode(b"abc"), "non-empty RLP list"),
        (rlp.encode([[b"\x01"] * 10]), "header field count"),
        (rlp.encode([[[b"\x01"]] * 21]), "RLP strings"),
    ],
)
def test_decode_block_errors_are_invalid_block(raw: bytes, match: str) -> None:
    with pytest.raises(InvalidBlock, match=match):
        decode_block(raw)


def test_non_minimal_number_is_refused() -> None:
    header = make_header(
        parent_hash=b"\x11" * 32, number=5, timestamp=1, coinbase=VALIDATORS[0], extra_data=_extra()
    )
    header[8] = b"\x00\x05"
    with pytest.raises(InvalidBlock, match="minimal"):
        decode_block(rlp.encode([header, [], [], []]))
