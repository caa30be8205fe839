"""consensus/rules.py: one row per check, each made to fail once (asserting the named check and
got/expected): the sealed-block rule (header on its parent, validator list, commit seals), the
proposed-block rule built on it, the future-timestamp bound and a Commit's seal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import rlp

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.consensus.block import QbftBlock, decode_block, sign_commit_seal, sign_digest
from jsc_node.consensus.events import Head
from jsc_node.consensus.messages import make_commit
from jsc_node.consensus.rules import (
    MAX_FUTURE_TIMESTAMP_S,
    validate_block_on_parent,
    validate_commit,
    validate_commit_seals,
    validate_proposed_block,
    validate_sealed_block,
    validate_timestamp_not_ahead,
)
from jsc_node.errors import (
    DigestMismatch,
    InvalidBlock,
    InvalidProposalBlock,
    InvalidSeal,
    InvalidSignature,
)
from tests.sim.fakes import make_header, make_keys

KEYS = sorted(make_keys(4, salt=7), key=lambda k: k.public_key.to_canonical_address())
VALS = tuple(k.public_key.to_canonical_address() for k in KEYS)
OUTSIDER = make_keys(1, salt=8)[0]
OUTSIDER_ADDRESS = OUTSIDER.public_key.to_canonical_address()
PARENT = Head(number=4, hash=b"\x11" * 32, timestamp=1_000, proposer=VALS[0], validators=VALS)


def unsealed(
    *,
    number: int = 5,
    parent: bytes = PARENT.hash,
    timestamp: int = 1_001,
    coinbase: bytes = VALS[1],
    validators: tuple[bytes, ...] = VALS,
    round_: int = 0,
    mix_hash: bytes | None = None,
) -> QbftBlock:
    extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, None, round_, ()))
    header = make_header(
        parent_hash=parent, number=number, timestamp=timestamp, coinbase=coinbase, extra_data=extra
    )
    if mix_hash is not None:
        header[13] = mix_hash
    return decode_block(rlp.encode([header, [], [], []]))


def sealed(block: QbftBlock | None = None, signers: tuple[Any, ...] = tuple(KEYS[:3])) -> QbftBlock:
    block = block or unsealed()
    return block.with_seals([sign_commit_seal(k, block) for k in signers])


def _bad_v(block: QbftBlock) -> QbftBlock:
    good = sealed(block)
    return good.with_seals([*good.extra.seals[:2], good.extra.seals[2][:64] + b"\x1b"])


def _other_round(block: QbftBlock) -> QbftBlock:
    return block.with_seals([sign_commit_seal(k, block.with_round(1)) for k in KEYS[:3]])


def _hexes(addresses: tuple[bytes, ...]) -> list[str]:
    return ["0x" + a.hex() for a in addresses]


# Header rules on the parent: (id, block, what, got, expected).
HEADER_ROWS: list[tuple[str, Callable[[], QbftBlock], str, object, object]] = [
    ("number", lambda: unsealed(number=6), "block number", 6, 5),
    ("parent", lambda: unsealed(parent=b"\x22" * 32), "block parent", b"\x22" * 32, PARENT.hash),
    (
        "timestamp equal to the parent's",
        lambda: unsealed(timestamp=1_000),
        "block timestamp not after its parent",
        1_000,
        "> 1000",
    ),
    (
        "mixHash",
        lambda: unsealed(mix_hash=b"\x00" * 32),
        "block mixHash",
        b"\x00" * 32,
        bytes.fromhex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"),
    ),
    (
        "coinbase",
        lambda: unsealed(coinbase=OUTSIDER_ADDRESS),
        "block coinbase",
        OUTSIDER_ADDRESS,
        "a validator",
    ),
    (
        "validator list missing one",
        lambda: unsealed(validators=VALS[:3]),
        "block validators",
        _hexes(VALS[:3]),
        _hexes(VALS),
    ),
    (
        "validator list with an outsider",
        lambda: unsealed(validators=tuple(sorted((*VALS, OUTSIDER_ADDRESS)))),
        "block validators",
        _hexes(tuple(sorted((*VALS, OUTSIDER_ADDRESS)))),
        _hexes(VALS),
    ),
    (
        "validator list out of order",
        lambda: unsealed(validators=tuple(reversed(VALS))),
        "block validators",
        _hexes(tuple(reversed(VALS))),
        _hexes(VALS),
    ),
]

# Commit seals: (id, sealed block, what, got, expected).
SEAL_ROWS: list[tuple[str, Callable[[], QbftBlock], str, object, object]] = [
    ("below quorum", lambda: sealed(signers=tuple(KEYS[:2])), "commit seal count", 2, 3),
    ("no seals", lambda: unsealed(), "commit seal count", 0, 3),
    (
        "by a non-validator",
        lambda: sealed(signers=(KEYS[0], KEYS[1], OUTSIDER)),
        "commit seal by a non-validator",
        OUTSIDER_ADDRESS,
        "a validator",
    ),
    (
        "one validator twice",
        lambda: sealed(signers=(KEYS[0], KEYS[1], KEYS[1])),
        "duplicate commit seal",
        VALS[1],
        "one seal per validator",
    ),
    (
        "over another round",
        lambda: _other_round(unsealed()),
        "commit seal by a non-validator",
        None,
        "a validator",
    ),
    ("signature v", lambda: _bad_v(unsealed()), "signature v", 0x1B, "0 or 1"),
]


def _check(info: pytest.ExceptionInfo[InvalidBlock], what: str, got: object, expected: object) -> None:
    assert info.value.what == what
    assert info.value.expected == expected
    if got is not None:  # a seal over another round recovers to an address nobody chose
        assert info.value.got == got


def test_a_good_sealed_block_passes() -> None:
    validate_sealed_block(sealed(), PARENT)
    validate_sealed_block(sealed(signers=tuple(KEYS)), PARENT)  # more than a quorum is fine
    # The parent's validator set is compared in address order, whatever order it came in.
    validate_sealed_block(sealed(), Head(4, PARENT.hash, 1_000, VALS[0], tuple(reversed(VALS))))


@pytest.mark.parametrize(
    ("make", "what", "got", "expected"), [r[1:] for r in HEADER_ROWS], ids=[r[0] for r in HEADER_ROWS]
)
def test_sealed_block_header_rules(
    make: Callable[[], QbftBlock], what: str, got: object, expected: object
) -> None:
    block = sealed(make())
    with pytest.raises(InvalidBlock) as info:
        validate_sealed_block(block, PARENT)
    assert not isinstance(info.value, InvalidSeal)
    _check(info, what, got, expected)
    with pytest.raises(InvalidBlock, match=what):
        validate_block_on_parent(block, PARENT)


@pytest.mark.parametrize(
    ("make", "what", "got", "expected"), [r[1:] for r in SEAL_ROWS], ids=[r[0] for r in SEAL_ROWS]
)
def test_sealed_block_seal_rules(
    make: Callable[[], QbftBlock], what: str, got: object, expected: object
) -> None:
    block = make()
    validate_block_on_parent(block, PARENT)  # the header is fine: only the seals are wrong
    with pytest.raises(InvalidSeal) as info:
        validate_sealed_block(block, PARENT)
    _check(info, what, got, expected)  # type: ignore[arg-type]


def test_quorum_is_of_the_validators_at_the_blocks_height() -> None:
    # Seven validators need five seals; the same three seals that make a four-set quorum do not.
    seven = tuple(sorted((*VALS, *(k.public_key.to_canonical_address() for k in make_keys(3, salt=9)))))
    block = unsealed(validators=seven)
    with pytest.raises(InvalidSeal, match="commit seal count: got 3, expected 5"):
        validate_sealed_block(sealed(block), Head(4, PARENT.hash, 1_000, VALS[0], seven))
    validate_commit_seals(sealed(block), seven, 3)


# --- proposals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "what", "got", "expected"), [r[1:] for r in HEADER_ROWS], ids=[r[0] for r in HEADER_ROWS]
)
def test_proposed_block_keeps_the_header_rules_as_a_message_error(
    make: Callable[[], QbftBlock], what: str, got: object, expected: object
) -> None:
    block = make()
    with pytest.raises(InvalidProposalBlock) as info:
        validate_proposed_block(block.encode(), block.onchain_hash, 0, PARENT)
    assert isinstance(info.value.__cause__, InvalidBlock)
    _check(info, what, got, expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "digest", "round_", "error", "what"),
    [
        (
            lambda: unsealed(round_=1).encode(),
            lambda: unsealed().onchain_hash,
            0,
            InvalidProposalBlock,
            "block round in extraData",
        ),
        (
            lambda: sealed().encode(),
            lambda: unsealed().onchain_hash,
            0,
            InvalidProposalBlock,
            "proposed block seals",
        ),
        (lambda: unsealed().encode(), lambda: b"\x07" * 32, 0, DigestMismatch, "proposal digest"),
        (lambda: b"\xc0", lambda: b"\x07" * 32, 0, InvalidProposalBlock, "block does not decode"),
    ],
    ids=["round", "seals", "digest", "decode"],
)
def test_proposed_block_rules(
    raw: Callable[[], bytes], digest: Callable[[], bytes], round_: int, error: type[Exception], what: str
) -> None:
    with pytest.raises(error) as info:
        validate_proposed_block(raw(), digest(), round_, PARENT)
    assert str(info.value).startswith(what)


def test_a_good_proposed_block_passes_in_its_round() -> None:
    block = unsealed(round_=2)
    assert validate_proposed_block(block.encode(), block.onchain_hash, 2, PARENT) == block


def test_timestamp_bound_of_a_proposal_about_to_be_prepared() -> None:
    now = 1_000.5
    validate_timestamp_not_ahead(unsealed(timestamp=1_000 + MAX_FUTURE_TIMESTAMP_S), now)
    with pytest.raises(InvalidBlock) as info:
        validate_timestamp_not_ahead(unsealed(timestamp=1_001 + MAX_FUTURE_TIMESTAMP_S), now)
    _check(
        info,
        "block timestamp in the future",
        1_001 + MAX_FUTURE_TIMESTAMP_S,
        f"<= {1_000 + MAX_FUTURE_TIMESTAMP_S}",
    )


# --- commits ----------------------------------------------------------------------------------


def test_commit_rules() -> None:
    block = unsealed(round_=1)
    digest = block.onchain_hash
    validate_commit(make_commit(KEYS[0], 5, 1, digest, sign_commit_seal(KEYS[0], block)), digest, block)
    with pytest.raises(DigestMismatch, match="commit digest"):
        validate_commit(
            make_commit(KEYS[0], 5, 1, b"\x07" * 32, sign_commit_seal(KEYS[0], block)), digest, block
        )
    with pytest.raises(InvalidSignature) as info:
        validate_commit(make_commit(KEYS[0], 5, 1, digest, sign_commit_seal(KEYS[1], block)), digest, block)
    assert (info.value.what, info.value.got, info.value.expected) == ("commit seal signer", VALS[1], VALS[0])
    bad_v = sign_digest(KEYS[0], block.commit_seal_digest)[:64] + b"\x05"
    with pytest.raises(InvalidSignature, match="commit seal does not recover"):
        validate_commit(make_commit(KEYS[0], 5, 1, digest, bad_v), digest, block)
