"""QbftEngine: one rule per row (asserting the drop reason), n=1 end to end, round changes,
persistence before broadcast, restart without double signing, empty-block period, catch-up."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.consensus.block import QbftBlock, decode_block, sign_commit_seal, sign_digest
from jsc_node.consensus.engine import EngineConfig, QbftEngine
from jsc_node.consensus.events import (
    Action,
    BlockBuilt,
    BlockValidated,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Head,
    MessageDropped,
    MessageReceived,
    NewHead,
    PendingTxs,
    PersistOwnMessage,
    RequestSync,
    ScheduleTimeout,
    SealedBlockReceived,
    Start,
    Timeout,
    ValidateBlock,
)
from jsc_node.consensus.messages import (
    Commit,
    Message,
    Prepare,
    Proposal,
    RoundChange,
    decode_message,
    encode_message,
    make_commit,
    make_prepare,
    make_proposal,
    make_round_change,
)
from jsc_node.consensus.rules import MAX_FUTURE_TIMESTAMP_S, validate_prepares
from jsc_node.consensus.validators import proposer_for_round
from jsc_node.errors import (
    DigestMismatch,
    DuplicateMessage,
    InvalidJustification,
    InvalidMessage,
    InvalidProposalBlock,
    InvalidSignature,
    MalformedMessage,
    NotAValidator,
    WrongHeight,
    WrongProposer,
    WrongRound,
)
from tests.sim.fakes import make_block, make_genesis, make_keys

T0 = 1_000
KEYS = sorted(make_keys(4, salt=99), key=lambda k: k.public_key.to_canonical_address())
VALS = tuple(k.public_key.to_canonical_address() for k in KEYS)
OUTSIDER = make_keys(1, salt=98)[0]
GENESIS = make_genesis(VALS, timestamp=T0)
HEAD0 = Head(0, GENESIS.onchain_hash, T0, b"\x00" * 20, VALS)
CONFIG = EngineConfig(block_period_s=1, request_timeout_s=2.0)


def key_of(address: bytes) -> object:
    return KEYS[VALS.index(address)]


def proposer(round_: int) -> int:
    return VALS.index(proposer_for_round(VALS, HEAD0.proposer, round_))


def block(
    round_: int = 0,
    *,
    number: int = 1,
    parent: bytes | None = None,
    txs: Sequence[bytes] = (b"tx",),
    validators: tuple[bytes, ...] = VALS,
    coinbase: bytes | None = None,
    stamp: int = T0 + 1,
) -> QbftBlock:
    extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, None, round_, ()))
    raw = make_block(
        parent_hash=GENESIS.onchain_hash if parent is None else parent,
        number=number,
        timestamp=stamp,
        coinbase=coinbase or VALS[proposer(round_)],
        extra_data=extra,
        txs=txs,
    )
    return decode_block(raw)


def proposal(
    b: QbftBlock,
    round_: int = 0,
    *,
    signer: int | None = None,
    rcs: Sequence[RoundChange] = (),
    prepares: Sequence[Prepare] = (),
    digest: bytes | None = None,
    height: int = 1,
) -> Proposal:
    k = KEYS[proposer(round_) if signer is None else signer]
    return make_proposal(k, height, round_, digest or b.onchain_hash, b.encode(), rcs, prepares)


def rc(i: int, round_: int, cert: tuple[int, QbftBlock, Sequence[Prepare]] | None = None) -> RoundChange:
    if cert is None:
        return make_round_change(KEYS[i], 1, round_)
    pr, b, prepares = cert
    return make_round_change(KEYS[i], 1, round_, pr, b.onchain_hash, b.with_round(pr).encode(), prepares)


def started(index: int = 3, config: EngineConfig = CONFIG, now: float = T0) -> QbftEngine:
    engine = QbftEngine(KEYS[index], config)  # type: ignore[arg-type]
    engine.step(Start(HEAD0), now)
    return engine


def feed(engine: QbftEngine, msg: Message | bytes, now: float = T0 + 1) -> list[Action]:
    raw = msg if isinstance(msg, bytes) else encode_message(msg)
    return engine.step(MessageReceived(raw), now)


def dropped(actions: list[Action]) -> list[InvalidMessage]:
    return [a.error for a in actions if isinstance(a, MessageDropped)]


def sent(actions: list[Action]) -> list[Message]:
    return [decode_message(a.message) for a in actions if isinstance(a, Broadcast)]


def accept(engine: QbftEngine, p: Proposal, now: float = T0 + 1) -> list[Action]:
    """Feed a proposal and answer its ValidateBlock with ok."""
    actions = feed(engine, p, now)
    for a in list(actions):
        if isinstance(a, ValidateBlock):
            actions += engine.step(BlockValidated(a.digest, True), now)
    return actions


# --- one rule per row ----------------------------------------------------------------------------

B0 = block(0)
P0 = proposal(B0)
PREPARED_CERT = (0, B0, [make_prepare(k, 1, 0, B0.onchain_hash) for k in KEYS[:3]])


def _bad_seal_commit() -> Commit:
    return make_commit(KEYS[1], 1, 0, B0.onchain_hash, sign_digest(KEYS[1], b"\x01" * 32))  # type: ignore[arg-type]


def _foreign_seal_commit() -> Commit:
    return make_commit(KEYS[1], 1, 0, B0.onchain_hash, sign_commit_seal(KEYS[2], B0))  # type: ignore[arg-type]


CASES: list[tuple[str, Callable[[], list[Message | bytes]], type[InvalidMessage], str | None]] = [
    ("garbage bytes", lambda: [b"\x01\x02\x03"], MalformedMessage, None),
    (
        "signer outside the set",
        lambda: [make_prepare(OUTSIDER, 1, 0, B0.onchain_hash)],
        NotAValidator,
        "message signer",
    ),  # type: ignore[arg-type]
    ("old height", lambda: [make_prepare(KEYS[1], 0, 0, B0.onchain_hash)], WrongHeight, "message height"),
    (
        "round far ahead",
        lambda: [make_prepare(KEYS[1], 1, 50, B0.onchain_hash)],
        WrongRound,
        "round too far ahead",
    ),
    (
        "proposal by a non-proposer",
        lambda: [proposal(B0, signer=(proposer(0) + 1) % 4)],
        WrongProposer,
        "proposal signer",
    ),
    ("block number", lambda: [proposal(block(0, number=2))], InvalidProposalBlock, "block number"),
    ("block parent", lambda: [proposal(block(0, parent=b"\x09" * 32))], InvalidProposalBlock, "block parent"),
    ("block round", lambda: [proposal(block(1), 0)], InvalidProposalBlock, "block round in extraData"),
    (
        "block seals",
        lambda: [proposal(B0.with_seals([b"\x01" * 65]))],
        InvalidProposalBlock,
        "proposed block seals",
    ),
    (
        "block coinbase",
        lambda: [proposal(block(0, coinbase=OUTSIDER.public_key.to_canonical_address()))],
        InvalidProposalBlock,
        "block coinbase",
    ),
    (
        "block validators",
        lambda: [proposal(block(0, validators=VALS[:3]))],
        InvalidProposalBlock,
        "block validators",
    ),
    (
        "block does not decode",
        lambda: [make_proposal(KEYS[proposer(0)], 1, 0, B0.onchain_hash, b"\xc0")],
        InvalidProposalBlock,
        None,
    ),  # type: ignore[arg-type]
    ("proposal digest", lambda: [proposal(B0, digest=b"\x07" * 32)], DigestMismatch, "proposal digest"),
    (
        "round 0 with justification",
        lambda: [proposal(B0, rcs=[rc(1, 0)])],
        InvalidJustification,
        "round 0 proposal justification",
    ),
    (
        "round 1 without round changes",
        lambda: [proposal(block(1), 1)],
        InvalidJustification,
        "round change count",
    ),
    (
        "round 1, too few round changes",
        lambda: [proposal(block(1), 1, rcs=[rc(0, 1), rc(1, 1)])],
        InvalidJustification,
        "round change count",
    ),
    (
        "round 1, round changes for round 2",
        lambda: [proposal(block(1), 1, rcs=[rc(i, 2) for i in range(3)])],
        InvalidJustification,
        "round change in justification",
    ),
    (
        "round 1, one validator twice",
        lambda: [proposal(block(1), 1, rcs=[rc(0, 1), rc(0, 1), rc(1, 1)])],
        InvalidJustification,
        "two round changes by one validator",
    ),
    (
        "round 1, a round change by an outsider",
        lambda: [proposal(block(1), 1, rcs=[rc(0, 1), rc(1, 1), make_round_change(OUTSIDER, 1, 1)])],
        InvalidJustification,
        "round change by a non-validator",
    ),  # type: ignore[arg-type]
    (
        "round 1 ignores the prepared block",
        lambda: [
            proposal(
                block(1, txs=[b"other"]),
                1,
                rcs=[rc(0, 1, PREPARED_CERT), rc(1, 1), rc(2, 1)],
                prepares=PREPARED_CERT[2],
            )
        ],
        InvalidJustification,
        "proposal does not re-propose the highest prepared block",
    ),
    (
        "round 1, prepared but too few prepares",
        lambda: [
            proposal(
                B0.with_round(1),
                1,
                rcs=[rc(0, 1, PREPARED_CERT), rc(1, 1), rc(2, 1)],
                prepares=PREPARED_CERT[2][:2],
            )
        ],
        InvalidJustification,
        "prepare count in certificate",
    ),
    (
        "round 1, prepares without a prepared round change",
        lambda: [proposal(block(1), 1, rcs=[rc(0, 1), rc(1, 1), rc(2, 1)], prepares=PREPARED_CERT[2])],
        InvalidJustification,
        "prepares without a prepared round change",
    ),
    ("second proposal in a round", lambda: [P0, proposal(block(0, txs=[b"b"]))], DuplicateMessage, None),
    (
        "prepare for another block",
        lambda: [P0, make_prepare(KEYS[1], 1, 0, b"\x03" * 32)],
        DigestMismatch,
        "prepare digest",
    ),
    (
        "two prepares from one validator",
        lambda: [make_prepare(KEYS[1], 1, 0, b"\x03" * 32), make_prepare(KEYS[1], 1, 0, b"\x04" * 32)],
        DuplicateMessage,
        None,
    ),
    (
        "commit seal over another digest",
        lambda: [P0, _bad_seal_commit()],
        InvalidSignature,
        "commit seal signer",
    ),
    (
        "commit seal by another validator",
        lambda: [P0, _foreign_seal_commit()],
        InvalidSignature,
        "commit seal signer",
    ),
    (
        "commit seal checked once the proposal arrives",
        lambda: [_bad_seal_commit(), P0],
        InvalidSignature,
        "commit seal signer",
    ),
    (
        "commit for another block",
        lambda: [P0, make_commit(KEYS[1], 1, 0, b"\x03" * 32, sign_commit_seal(KEYS[1], B0))],
        DigestMismatch,
        "commit digest",
    ),  # type: ignore[arg-type]
    ("round change for round 0", lambda: [rc(1, 0)], WrongRound, None),
    (
        "prepared round change without its block",
        lambda: [make_round_change(KEYS[1], 1, 1, 0, B0.onchain_hash)],
        InvalidJustification,
        "prepared round change without its block",
    ),
    (
        "prepared round not below the round",
        lambda: [make_round_change(KEYS[1], 1, 1, 1, B0.onchain_hash, B0.encode(), PREPARED_CERT[2])],
        InvalidJustification,
        "prepared round",
    ),
    (
        "prepared round change with a thin certificate",
        lambda: [rc(1, 1, (0, B0, PREPARED_CERT[2][:1]))],
        InvalidJustification,
        "prepare count in certificate",
    ),
    (
        "prepared round change, certificate for another round",
        lambda: [rc(1, 2, (1, B0, PREPARED_CERT[2]))],
        InvalidJustification,
        "prepare in certificate",
    ),
]


@pytest.mark.parametrize(("name", "messages", "error", "what"), CASES, ids=[c[0] for c in CASES])
def test_validation_rule(
    name: str, messages: Callable[[], list[Message | bytes]], error: type[InvalidMessage], what: str | None
) -> None:
    engine = started(index=3)
    errors: list[InvalidMessage] = []
    for msg in messages():
        errors += dropped(feed(engine, msg))
    assert len(errors) == 1, errors
    assert isinstance(errors[0], error)
    if what is not None:
        assert errors[0].what == what
    assert engine.stats[f"dropped_{type(errors[0]).__name__}"] == 1


def test_errors_carry_got_and_expected() -> None:
    engine = started(index=3)
    [error] = dropped(feed(engine, proposal(block(0, number=2))))
    assert (error.got, error.expected) == (2, 1)
    with pytest.raises(InvalidJustification) as info:
        validate_prepares(PREPARED_CERT[2][:2], 1, 0, B0.onchain_hash, VALS, 3)
    assert (info.value.got, info.value.expected) == (2, 3)


def test_repeated_messages_are_ignored_quietly() -> None:
    engine = started(index=3)
    accept(engine, P0)
    prepare = make_prepare(KEYS[1], 1, 0, B0.onchain_hash)
    assert feed(engine, prepare) == []
    assert feed(engine, prepare) == []
    assert feed(engine, P0) == []


# --- flows ---------------------------------------------------------------------------------------


def _persist_then_broadcast(actions: list[Action]) -> None:
    for i, action in enumerate(actions):
        if isinstance(action, PersistOwnMessage):
            nxt = actions[i + 1]
            assert isinstance(nxt, Broadcast)
            assert nxt.message == action.message
        if isinstance(action, Broadcast) and not (i and isinstance(actions[i - 1], PersistOwnMessage)):
            raise AssertionError("broadcast without persisting first")


def test_single_validator_proposes_prepares_and_commits_alone() -> None:
    key = KEYS[0]
    head = replace(HEAD0, validators=(VALS[0],))
    engine = QbftEngine(key, CONFIG)  # type: ignore[arg-type]
    actions = engine.step(Start(head), T0)
    timers = [a for a in actions if isinstance(a, ScheduleTimeout)]
    assert {(t.kind, t.at) for t in timers} == {("round", T0 + 1 + 2.0), ("block", T0 + 1)}
    [build] = [a for a in engine.step(Timeout(1, 0, "block"), T0 + 1) if isinstance(a, BuildBlock)]
    assert (build.height, build.round, build.timestamp, build.parent_hash) == (
        1,
        0,
        T0 + 1,
        GENESIS.onchain_hash,
    )
    raw = make_block(
        parent_hash=build.parent_hash,
        number=1,
        timestamp=build.timestamp,
        coinbase=VALS[0],
        extra_data=build.extra_data,
        txs=[b"tx"],
    )
    actions = engine.step(BlockBuilt(raw), T0 + 1)
    _persist_then_broadcast(actions)
    assert [type(m).__name__ for m in sent(actions)] == ["Proposal", "Prepare", "Commit"]
    [commit] = [a for a in actions if isinstance(a, CommitBlock)]
    committed = decode_block(commit.block)
    assert committed.onchain_hash == decode_block(raw).onchain_hash == commit.digest
    assert committed.extra.seals == (sign_commit_seal(key, committed.with_seals([])),)  # type: ignore[arg-type]
    # Then the next height starts from the new head.
    head1 = Head(1, committed.onchain_hash, committed.timestamp, VALS[0], (VALS[0],))
    actions = engine.step(NewHead(head1), T0 + 1.1)
    assert engine.height == 2
    assert any(isinstance(a, ScheduleTimeout) and a.kind == "block" and a.at == T0 + 2 for a in actions)


def test_four_validators_commit_with_a_quorum_of_three() -> None:
    engine = started(index=3)
    actions = accept(engine, P0)
    assert [type(m).__name__ for m in sent(actions)] == ["Prepare"]
    actions = feed(engine, make_prepare(KEYS[0], 1, 0, B0.onchain_hash))
    assert sent(actions) == []
    actions = feed(engine, make_prepare(KEYS[1], 1, 0, B0.onchain_hash))
    [commit] = sent(actions)
    assert isinstance(commit, Commit)
    persisted = [a for a in actions if isinstance(a, PersistOwnMessage)]
    assert persisted[0].prepared_certificate  # the certificate travels with the own commit
    for i in (0, 1):
        actions = feed(engine, make_commit(KEYS[i], 1, 0, B0.onchain_hash, sign_commit_seal(KEYS[i], B0)))  # type: ignore[arg-type]
    [done] = [a for a in actions if isinstance(a, CommitBlock)]
    assert len(decode_block(done.block).extra.seals) == 3


def test_invalid_block_is_not_prepared() -> None:
    engine = started(index=3)
    [validate] = [a for a in feed(engine, P0) if isinstance(a, ValidateBlock)]
    actions = engine.step(BlockValidated(validate.digest, False, "bad state root"), T0 + 1)
    assert sent(actions) == []
    assert isinstance(dropped(actions)[0], InvalidProposalBlock)


def test_timeout_sends_round_change_with_prepared_certificate() -> None:
    engine = started(index=3)
    accept(engine, P0)
    feed(engine, make_prepare(KEYS[0], 1, 0, B0.onchain_hash))
    feed(engine, make_prepare(KEYS[1], 1, 0, B0.onchain_hash))  # prepared in round 0
    actions = engine.step(Timeout(1, 0), T0 + 10)
    [change] = sent(actions)
    assert isinstance(change, RoundChange)
    assert (change.round, change.prepared_round, change.prepared_digest) == (1, 0, B0.onchain_hash)
    assert change.prepared_block is not None
    assert len(change.prepares) == 3
    assert any(isinstance(a, ScheduleTimeout) and a.round == 1 and a.at == T0 + 10 + 4.0 for a in actions)


def test_next_proposer_re_proposes_the_highest_prepared_block() -> None:
    index = proposer(1)
    engine = started(index=index)
    engine.step(Timeout(1, 0), T0 + 10)  # its own round change for round 1
    others = [i for i in range(4) if i != index][:2]
    actions = feed(engine, rc(others[0], 1, PREPARED_CERT), T0 + 10)
    actions += feed(engine, rc(others[1], 1), T0 + 10)
    assert not any(isinstance(a, BuildBlock) for a in actions)
    [p] = [m for m in sent(actions) if isinstance(m, Proposal)]
    assert (p.round, p.digest) == (1, B0.onchain_hash)
    assert decode_block(p.block).extra.round == 1
    assert len(p.round_changes) == 3
    assert len(p.prepares) == 3


def test_next_proposer_builds_a_new_block_when_nothing_was_prepared() -> None:
    index = proposer(1)
    engine = started(index=index)
    engine.step(Timeout(1, 0), T0 + 10)
    actions: list[Action] = []
    for i in [i for i in range(4) if i != index][:2]:
        actions += feed(engine, rc(i, 1), T0 + 10)
    [build] = [a for a in actions if isinstance(a, BuildBlock)]
    assert build.round == 1
    b1 = block(1)
    b1 = decode_block(
        make_block(
            parent_hash=build.parent_hash,
            number=1,
            timestamp=build.timestamp,
            coinbase=VALS[index],
            extra_data=build.extra_data,
        )
    )
    [p] = [m for m in sent(engine.step(BlockBuilt(b1.encode()), T0 + 10)) if isinstance(m, Proposal)]
    assert p.round == 1
    assert len(p.round_changes) == 3
    assert p.prepares == ()
    # A validator that sees the justified proposal for round 1 jumps there and prepares.
    follower = started(index=[i for i in range(4) if i != index][2])
    actions = accept(follower, p, now=T0 + 10)
    assert follower.round == 1
    assert [type(m).__name__ for m in sent(actions)] == ["Prepare"]


def test_f_plus_one_round_changes_pull_a_validator_forward() -> None:
    engine = started(index=3)
    assert sent(feed(engine, rc(0, 2))) == []
    actions = feed(engine, rc(1, 3))
    assert engine.round == 2  # the (f+1)-th highest round asked for
    [change] = sent(actions)
    assert isinstance(change, RoundChange)
    assert change.round == 2


def test_quorum_of_round_changes_moves_a_validator_to_that_round() -> None:
    engine = started(index=3)
    for i in range(3):
        feed(engine, rc(i, 4))
    assert engine.round == 4


def test_restart_never_signs_a_second_block_for_one_round() -> None:
    index = proposer(0)
    engine = started(index=index)
    engine.step(Timeout(1, 0, "block"), T0 + 1)
    actions = engine.step(BlockBuilt(block(0, txs=[b"first"]).encode()), T0 + 1)
    records = [a for a in actions if isinstance(a, PersistOwnMessage)]
    [first] = [m for m in sent(actions) if isinstance(m, Proposal)]
    # Crash, restart from the persisted own messages, build again: a different block.
    again = QbftEngine(KEYS[index], CONFIG)  # type: ignore[arg-type]
    again.restore(records)
    actions = again.step(Start(HEAD0), T0 + 1.5)
    actions += again.step(Timeout(1, 0, "block"), T0 + 1.5)
    assert not any(isinstance(a, BuildBlock) for a in actions)  # it knows it proposed already
    actions += again.step(BlockBuilt(block(0, txs=[b"second"]).encode()), T0 + 1.5)
    assert not [m for m in sent(actions) if isinstance(m, Proposal) and m.digest != first.digest]
    # Its own proposal counts again: it prepares that block, and only that one.
    assert {m.digest for m in sent(actions) if isinstance(m, Prepare)} == {first.digest}


def test_sign_once_guard_refuses_a_different_message_for_one_round() -> None:
    engine = started(index=3)
    accept(engine, P0)
    other = proposal(block(0, txs=[b"other"]))
    engine._hs().rounds[0].accepted = False  # force the path a bug or a restart could take
    engine._hs().rounds[0].proposal = other
    engine._out = []
    engine._enter_prepare(1, 0)
    assert not any(isinstance(a, Broadcast) for a in engine._out)
    assert engine.stats["refused_double_sign"] == 1


def test_restart_keeps_round_and_prepared_certificate() -> None:
    engine = started(index=3)
    records: list[PersistOwnMessage] = []
    for step in (
        accept(engine, P0),
        feed(engine, make_prepare(KEYS[0], 1, 0, B0.onchain_hash)),
        feed(engine, make_prepare(KEYS[1], 1, 0, B0.onchain_hash)),
        engine.step(Timeout(1, 0), T0 + 9),
    ):
        records += [a for a in step if isinstance(a, PersistOwnMessage)]
    again = QbftEngine(KEYS[3], CONFIG)  # type: ignore[arg-type]
    again.restore(records)
    again.step(Start(HEAD0), T0 + 20)
    assert again.round == 1
    [change] = sent(again.step(Timeout(1, 1), T0 + 30))
    assert isinstance(change, RoundChange)
    assert change.prepared_round == 0


def test_empty_block_waits_for_the_empty_block_period_unless_txs_arrive() -> None:
    config = EngineConfig(block_period_s=1, empty_block_period_s=5, request_timeout_s=2.0)
    head = replace(HEAD0, validators=(VALS[0],))
    engine = QbftEngine(KEYS[0], config)  # type: ignore[arg-type]
    actions = engine.step(Start(head), T0)
    [round_timer] = [a for a in actions if isinstance(a, ScheduleTimeout) and a.kind == "round"]
    assert round_timer.at == T0 + 5 + 2.0  # others allow for the empty-block wait

    def build(at: float, txs: Sequence[bytes]) -> list[Action]:
        [b] = [a for a in engine.step(Timeout(1, 0, "block"), at) if isinstance(a, BuildBlock)]
        raw = make_block(
            parent_hash=b.parent_hash,
            number=1,
            timestamp=b.timestamp,
            coinbase=VALS[0],
            extra_data=b.extra_data,
            txs=txs,
        )
        return engine.step(BlockBuilt(raw), at)

    actions = build(T0 + 1, [])
    assert sent(actions) == []
    assert [a.at for a in actions if isinstance(a, ScheduleTimeout)] == [T0 + 2]
    actions = build(T0 + 5, [])
    assert [type(m).__name__ for m in sent(actions)][:1] == ["Proposal"]
    # Pending transactions end the wait at once.
    engine2 = QbftEngine(KEYS[0], config)  # type: ignore[arg-type]
    engine2.step(Start(head), T0)
    [b] = [a for a in engine2.step(Timeout(1, 0, "block"), T0 + 1) if isinstance(a, BuildBlock)]
    empty = make_block(
        parent_hash=b.parent_hash, number=1, timestamp=b.timestamp, coinbase=VALS[0], extra_data=b.extra_data
    )
    engine2.step(BlockBuilt(empty), T0 + 1)
    assert any(isinstance(a, BuildBlock) for a in engine2.step(PendingTxs(2), T0 + 1.5))
    # The wait's block timer then fires while that build is in flight: no second build (it
    # would queue behind the first in the execution process and be thrown away).
    assert not any(isinstance(a, BuildBlock) for a in engine2.step(Timeout(1, 0, "block"), T0 + 2))


def test_pending_txs_bring_a_non_proposers_round_timer_forward() -> None:
    # With an empty-block period, round 0 normally times out after it; once transactions are
    # pending a live proposer proposes one block period after the parent, so a crashed proposer
    # is replaced after block period + request timeout.
    config = EngineConfig(block_period_s=1, empty_block_period_s=60, request_timeout_s=2.0)
    engine = started(index=_non_proposer(), config=config)
    actions = engine.step(PendingTxs(3), T0 + 0.5)
    [timer] = [a for a in actions if isinstance(a, ScheduleTimeout)]
    assert (timer.kind, timer.round, timer.at) == ("round", 0, HEAD0.timestamp + 1 + 2.0)
    assert engine.step(PendingTxs(4), T0 + 0.6) == []  # once per height
    moved = engine.step(Timeout(1, 0, "round"), timer.at)
    assert engine.round == 1
    assert [type(m).__name__ for m in sent(moved)] == ["RoundChange"]


def _non_proposer() -> int:
    return next(i for i in range(len(VALS)) if i != proposer(0))


def test_future_messages_are_buffered_then_replayed_and_trigger_sync() -> None:
    engine = started(index=3)
    b2 = block(0, number=2, parent=B0.onchain_hash)
    early = make_prepare(KEYS[1], 2, 0, b2.onchain_hash)
    actions = feed(engine, early)
    assert [a for a in actions if isinstance(a, RequestSync)] == [RequestSync(1)]
    assert feed(engine, make_prepare(KEYS[2], 2, 0, b2.onchain_hash)) == []  # once per round
    head1 = Head(1, B0.onchain_hash, T0 + 1, VALS[proposer(0)], VALS)
    engine.step(NewHead(head1), T0 + 2)
    assert engine.height == 2
    assert set(engine._hs().rounds[0].prepares) == {VALS[1], VALS[2]}


def test_future_buffer_is_bounded() -> None:
    config = replace(CONFIG, future_per_sender=3)
    engine = started(index=3, config=config)
    for r in range(10):
        feed(engine, make_prepare(KEYS[1], 2, r, b"\x01" * 32))
    assert engine.stats["future_buffer_full"] == 7
    assert (
        dropped(feed(engine, make_prepare(KEYS[1], 50, 0, b"\x01" * 32)))[0].what == "message too far ahead"
    )


def test_sealed_block_from_a_peer_commits_a_lagging_validator() -> None:
    engine = started(index=3)
    sealed = B0.with_seals([sign_commit_seal(k, B0) for k in KEYS[:3]])
    [commit] = [
        a for a in engine.step(SealedBlockReceived(sealed.encode()), T0 + 3) if isinstance(a, CommitBlock)
    ]
    assert commit.digest == B0.onchain_hash
    thin = started(index=3)
    errors = dropped(
        thin.step(SealedBlockReceived(B0.with_seals([sign_commit_seal(KEYS[0], B0)]).encode()), T0 + 3)
    )
    assert isinstance(errors[0], InvalidSignature)
    # The header rules of consensus/rules.py apply to it as to block sync: a wrong validator list
    # is refused even with a quorum of seals.
    short = block(0, validators=VALS[:3])
    listed = started(index=3)
    errors = dropped(
        listed.step(
            SealedBlockReceived(short.with_seals([sign_commit_seal(k, short) for k in KEYS[:3]]).encode()),
            T0 + 3,
        )
    )
    assert isinstance(errors[0], InvalidProposalBlock)
    assert str(errors[0]).startswith("sealed block: block validators")
    ahead = started(index=3)
    b5 = block(0, number=5, parent=b"\x05" * 32)
    assert RequestSync(5) in ahead.step(SealedBlockReceived(b5.encode()), T0 + 3)


def test_commit_certificate_of_an_earlier_round_still_commits() -> None:
    engine = started(index=3)
    accept(engine, P0)
    engine.step(Timeout(1, 0), T0 + 10)  # now in round 1
    actions: list[Action] = []
    for i in range(3):
        actions += feed(
            engine, make_commit(KEYS[i], 1, 0, B0.onchain_hash, sign_commit_seal(KEYS[i], B0)), T0 + 11
        )  # type: ignore[arg-type]
    assert [a.digest for a in actions if isinstance(a, CommitBlock)] == [B0.onchain_hash]


def test_non_validator_follows_but_never_signs() -> None:
    engine = QbftEngine(OUTSIDER, CONFIG)  # type: ignore[arg-type]
    engine.step(Start(HEAD0), T0)
    actions = accept(engine, P0)
    actions += engine.step(Timeout(1, 0), T0 + 10)
    assert not any(isinstance(a, (Broadcast, PersistOwnMessage)) for a in actions)
    for i in range(3):
        actions = feed(
            engine, make_commit(KEYS[i], 1, 0, B0.onchain_hash, sign_commit_seal(KEYS[i], B0)), T0 + 11
        )  # type: ignore[arg-type]
    assert any(isinstance(a, CommitBlock) for a in actions)


def test_late_proposal_of_an_old_round_completes_a_commit_certificate() -> None:
    engine = started(index=3)
    engine.step(Timeout(1, 0), T0 + 10)  # moved on to round 1 without seeing the proposal
    assert isinstance(dropped(feed(engine, P0, T0 + 11))[0], WrongRound)  # nothing waits for it
    for i in range(3):
        feed(engine, make_commit(KEYS[i], 1, 0, B0.onchain_hash, sign_commit_seal(KEYS[i], B0)), T0 + 11)  # type: ignore[arg-type]
    actions = feed(engine, P0, T0 + 12)
    assert [a.digest for a in actions if isinstance(a, CommitBlock)] == [B0.onchain_hash]
    assert sent(actions) == []  # an old round is never prepared


def test_round_change_is_resent_while_the_round_is_stuck() -> None:
    # A validator restarted (or cut off) after a round change missed it; the others send it again
    # every request timeout while stuck, so the f+1 rule can pull it into the round.
    config = EngineConfig(block_period_s=1, request_timeout_s=2.0)
    engine = started(index=_non_proposer(), config=config)
    timed_out_at = T0 + 3.0
    moved = engine.step(Timeout(1, 0, "round"), timed_out_at)
    [rc_bytes] = [a.message for a in moved if isinstance(a, Broadcast)]
    [resend] = [a for a in moved if isinstance(a, ScheduleTimeout) and a.kind == "resend"]
    assert (resend.height, resend.round, resend.at) == (1, 1, timed_out_at + 2.0)
    again = engine.step(Timeout(1, 1, "resend"), resend.at)
    assert [a.message for a in again if isinstance(a, Broadcast)] == [rc_bytes]  # the same signed bytes
    assert not any(isinstance(a, PersistOwnMessage) for a in again)
    assert [a.at for a in again if isinstance(a, ScheduleTimeout)] == [resend.at + 2.0]
    # Once the round moved on, a stale resend timer does nothing.
    engine.step(Timeout(1, 1, "round"), resend.at + 10)
    assert engine.step(Timeout(1, 1, "resend"), resend.at + 11) == []


def test_round_zero_is_timed_from_its_proposal_for_everyone_including_the_proposer() -> None:
    # A validator without pending transactions (they reached only some validators) must not
    # sit in round 0 for the empty-block period once round 0 really started: the others, which
    # had them, time out one request timeout after the proposal, and a quorum split over
    # round 0 and later rounds cannot meet through the f+1 rule.
    config = EngineConfig(block_period_s=1, empty_block_period_s=60, request_timeout_s=2.0)
    engine = started(index=_non_proposer(), config=config)
    actions = feed(engine, P0, now=T0 + 3)
    [timer] = [a for a in actions if isinstance(a, ScheduleTimeout) and a.kind == "round"]
    assert (timer.round, timer.at) == (0, T0 + 3 + 2.0)
    moved = engine.step(Timeout(1, 0, "round"), timer.at)
    assert engine.round == 1
    assert [type(m).__name__ for m in sent(moved)] == ["RoundChange"]
    # Without an empty-block period, round 0's timer already counts from the block period.
    plain = started(index=_non_proposer())
    assert not [a for a in feed(plain, P0) if isinstance(a, ScheduleTimeout) and a.round == 0]


def test_a_proposal_stamped_in_the_future_is_not_prepared() -> None:
    engine = started(index=_non_proposer())
    ahead = block(0, stamp=int(T0 + 1) + MAX_FUTURE_TIMESTAMP_S + 1)
    actions = feed(engine, proposal(ahead), now=T0 + 1)
    [error] = dropped(actions)
    assert isinstance(error, InvalidProposalBlock)
    assert "future" in str(error)
    assert not any(isinstance(a, ValidateBlock) for a in actions)
    # Within the clock-skew margin it is validated as usual.
    engine2 = started(index=_non_proposer())
    near = block(0, stamp=int(T0 + 1) + MAX_FUTURE_TIMESTAMP_S)
    assert any(isinstance(a, ValidateBlock) for a in feed(engine2, proposal(near), now=T0 + 1))
