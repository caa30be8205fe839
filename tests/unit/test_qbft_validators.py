"""Quorum maths (Hypothesis), Besu's proposer rotation, vote tallies and epochs."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from jsc_node.chainformat import QbftExtraData, Vote, encode_extra_data
from jsc_node.consensus.block import QbftBlock, decode_block
from jsc_node.consensus.validators import (
    ValidatorHistory,
    VoteTally,
    f,
    proposer_for_round,
    quorum,
    sort_validators,
    validators_for_next_block,
)
from tests.sim.fakes import make_block, make_genesis

A, B, C, D, E = (bytes([i]) * 20 for i in (0x10, 0x20, 0x30, 0x40, 0x50))


@pytest.mark.parametrize(
    ("n", "q", "faults"),
    [(1, 1, 0), (2, 2, 0), (3, 2, 0), (4, 3, 1), (5, 4, 1), (6, 4, 1), (7, 5, 2), (10, 7, 3), (100, 67, 33)],
)
def test_quorum_table(n: int, q: int, faults: int) -> None:
    assert (quorum(n), f(n)) == (q, faults)


@given(st.integers(min_value=1, max_value=10_000))
def test_quorum_properties(n: int) -> None:
    q, faults = quorum(n), f(n)
    assert q * 3 >= 2 * n > (q - 1) * 3  # q = ceil(2n/3)
    assert 3 * faults < n <= 3 * faults + 3  # f = floor((n-1)/3)
    assert 2 * q - n >= faults + 1  # two quorums share an honest validator (safety)
    assert q <= n - faults  # the honest validators alone form a quorum (liveness)


def test_quorum_of_empty_set_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        quorum(0)


@pytest.mark.parametrize(
    ("validators", "previous", "round_", "expected"),
    [
        ((A, B, C, D), A, 0, B),  # next after the previous proposer
        ((A, B, C, D), A, 1, C),  # plus the round
        ((A, B, C, D), D, 0, A),  # wraps around
        ((A, B, C, D), C, 5, A),  # (2 + 1 + 5) % 4 = 0
        ((D, C, B, A), A, 0, B),  # sorted by address whatever the input order
        ((A, B, C, D), b"\x00" * 20, 0, A),  # genesis coinbase: first validator above it, no +1
        ((A, B, D), C, 0, D),  # dropped proposer: the next address above it starts
        ((A, B, D), C, 1, A),
        ((A, B, D), E, 0, A),  # dropped proposer above all: wrap to the first
        ((A,), A, 7, A),
    ],
)
def test_proposer_rotation(
    validators: tuple[bytes, ...], previous: bytes, round_: int, expected: bytes
) -> None:
    assert proposer_for_round(validators, previous, round_) == expected


def test_tally_adds_after_more_than_half() -> None:
    tally = VoteTally(sort_validators([A, B, C, D]))
    tally = tally.apply_block(1, A, Vote(E, True), 100)
    tally = tally.apply_block(2, B, Vote(E, True), 100)
    assert E not in tally.validators  # 2 of 4 is not more than half
    tally = tally.apply_block(3, C, Vote(E, True), 100)
    assert tally.validators == (A, B, C, D, E)
    assert not tally.add_votes  # votes about E are cleared once applied


def test_tally_drop_and_vote_changes() -> None:
    tally = VoteTally((A, B, C))
    tally = tally.apply_block(1, A, Vote(C, False), 100)
    tally = tally.apply_block(2, A, Vote(C, False), 100)  # the same voter twice counts once
    assert C in tally.validators
    tally = tally.apply_block(3, B, Vote(C, True), 100)  # B votes the other way
    tally = tally.apply_block(4, B, Vote(C, False), 100)  # and changes its mind
    assert tally.validators == (A, B)


def test_tally_ignores_non_validator_proposers_and_empty_votes() -> None:
    tally = VoteTally((A,))
    assert tally.apply_block(1, E, Vote(D, True), 100) == tally
    assert tally.apply_block(1, A, None, 100) == tally


def test_single_validator_adds_a_second_with_one_vote() -> None:
    assert VoteTally((A,)).apply_block(1, A, Vote(B, True), 100).validators == (A, B)


def test_last_validator_cannot_be_voted_out() -> None:
    assert VoteTally((A,)).apply_block(1, A, Vote(A, False), 100).validators == (A,)


def test_votes_reset_at_epoch_blocks_and_epoch_votes_are_ignored() -> None:
    tally = VoteTally((A, B, C, D))
    tally = tally.apply_block(8, A, Vote(E, True), 10)
    tally = tally.apply_block(9, B, Vote(E, True), 10)
    tally = tally.apply_block(10, C, Vote(E, True), 10)  # epoch block: reset, vote ignored
    assert tally.add_votes == {}
    tally = tally.apply_block(11, D, Vote(E, True), 10)
    assert E not in tally.validators


def _chain(votes: list[tuple[bytes, Vote | None]], epoch: int) -> list:  # type: ignore[type-arg]
    genesis = make_genesis([A, B, C, D])
    chain = [genesis]
    history = ValidatorHistory(genesis, epoch)
    for number, (proposer, vote) in enumerate(votes, start=1):
        validators = history.validators_at(number)
        extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, vote, 0, ()))
        raw = make_block(
            parent_hash=chain[-1].onchain_hash,
            number=number,
            timestamp=number,
            coinbase=proposer,
            extra_data=extra,
        )
        block = decode_block(raw)
        history.append(block)
        chain.append(block)
    return chain


def test_validator_set_is_a_pure_function_of_extra_data() -> None:
    chain = _chain([(A, Vote(E, True)), (B, Vote(E, True)), (C, Vote(E, True)), (D, None)], epoch=100)
    assert validators_for_next_block(chain, 100) == (A, B, C, D, E)
    assert chain[4].extra.validators == (A, B, C, D, E)  # block 4 lists the set after block 3
    assert validators_for_next_block(chain[:3], 100) == (A, B, C, D)
    # From an epoch block onward the same answer comes from the tail alone.
    chain = _chain(
        [(A, Vote(E, True)), (B, Vote(E, True)), (C, None), (D, Vote(E, True)), (A, Vote(E, True))], epoch=3
    )
    assert validators_for_next_block(chain[3:], 3) == validators_for_next_block(chain, 3) == (A, B, C, D)


def test_history_refuses_gaps() -> None:
    chain = _chain([(A, None), (B, None)], epoch=100)
    history = ValidatorHistory(chain[0], 100)
    with pytest.raises(ValueError, match="does not follow"):
        history.append(chain[2])


def _header_rlp(block: QbftBlock) -> bytes:
    return rlp.encode(list(block.header))


def test_replay_from_headers_gives_the_history_of_the_blocks() -> None:
    chain = _chain(
        [(A, Vote(E, True)), (B, Vote(E, True)), (C, Vote(E, True)), (D, Vote(A, False))], epoch=100
    )
    built = ValidatorHistory(chain[0], 100)
    for block in chain[1:]:
        built.append(block)
    replayed = ValidatorHistory.replay(_header_rlp(chain[0]), 100, [_header_rlp(b) for b in chain[1:3]])
    replayed.extend(_header_rlp(b) for b in chain[3:])  # in batches, as the consensus driver reads them
    assert replayed.head.onchain_hash == chain[-1].onchain_hash
    assert [replayed.validators_at(h) for h in range(1, 6)] == [built.validators_at(h) for h in range(1, 6)]
    assert replayed.validators_at(5) == (A, B, C, D, E)  # E joined after block 3; D's drop vote is alone
    with pytest.raises(ValueError, match="does not follow"):
        replayed.extend([_header_rlp(chain[2])])


def test_as_head_is_the_head_block_with_the_next_blocks_validators() -> None:
    chain = _chain([(A, Vote(E, True)), (B, Vote(E, True)), (C, Vote(E, True))], epoch=100)
    history = ValidatorHistory.replay(_header_rlp(chain[0]), 100, [_header_rlp(b) for b in chain[1:]])
    head = history.as_head()
    assert (head.number, head.hash, head.timestamp, head.proposer) == (
        3,
        chain[3].onchain_hash,
        chain[3].timestamp,
        C,
    )
    assert head.validators == (A, B, C, D, E)
    assert ValidatorHistory(chain[0], 100).as_head().validators == (A, B, C, D)
