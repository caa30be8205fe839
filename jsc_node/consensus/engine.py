"""The QBFT engine: a pure state machine, ``QbftEngine.step(event, now) -> list[Action]``.

No I/O, no clock, no threads: the driver (``consensus/service.py``) feeds every input as an event
with the current time in seconds (float, any epoch consistent with block timestamps, i.e. Unix
time) and carries out the returned actions **in order** (both are in ``consensus/events.py``).
What a proposal, a round change, a commit or a peer's sealed block must satisfy is in
``consensus/rules.py``; this module holds the state machine that applies those rules.

Protocol (EEA QBFT spec v1; Besu ``consensus/qbft-core``): round 0 of each height is proposed by the
round-robin proposer once ``block_period_s`` after its parent (later, up to
``empty_block_period_s``, if it has no transaction); a validated proposal is prepared, a quorum of
Prepares makes it prepared (commit sent), a quorum of Commits makes it final. A round that times out
(``request_timeout_s * 2**round``) moves everyone to the next round with a RoundChange carrying its
latest prepared certificate; the next proposer needs a quorum of them and must re-propose the block
of the highest prepared round. f+1 RoundChanges for higher rounds pull a lagging validator forward.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from eth_keys.datatypes import PrivateKey

from jsc_node.chainformat import VANITY_BYTES, QbftExtraData, Vote, encode_extra_data
from jsc_node.consensus.block import QbftBlock, address_of, decode_block, sign_commit_seal
from jsc_node.consensus.events import (
    Action,
    BlockBuilt,
    BlockValidated,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Event,
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
    PROPOSAL,
    ROUND_CHANGE,
    Commit,
    Message,
    Prepare,
    PreparedCertificate,
    Proposal,
    RoundChange,
    decode_message,
    decode_prepared_certificate,
    encode_message,
    encode_prepared_certificate,
    make_commit,
    make_prepare,
    make_proposal,
    make_round_change,
    message_type,
)
from jsc_node.consensus.rules import (
    validate_commit,
    validate_proposal,
    validate_round_change_certificate,
    validate_sealed_block,
)
from jsc_node.consensus.validators import f, proposer_for_round, quorum
from jsc_node.errors import (
    DigestMismatch,
    DuplicateMessage,
    InvalidBlock,
    InvalidMessage,
    InvalidProposalBlock,
    InvalidSeal,
    InvalidSignature,
    NotAValidator,
    WrongHeight,
    WrongRound,
)

_M = TypeVar("_M", Prepare, Commit, RoundChange)

# Rounds ahead of the current one whose messages are kept (round timers double, so ten rounds
# ahead is a thousand times the base timeout: an honest validator is never that far ahead).
MAX_ROUND_LOOKAHEAD = 10
# Cap of the timeout exponent, so a long outage cannot overflow the timer.
MAX_TIMEOUT_EXPONENT = 16


@dataclass(frozen=True)
class EngineConfig:
    block_period_s: int = 1
    """``blockperiodseconds``: minimum time between a block and its parent."""
    empty_block_period_s: int = 0
    """``emptyblockperiodseconds``: an empty block waits this long after its parent (0 = off)."""
    request_timeout_s: float = 4.0
    """``requesttimeoutseconds``: round r times out after ``request_timeout_s * 2**r``."""
    epoch_length: int = 30000
    """``epochlength``: votes are discarded at blocks whose number is a multiple of it."""
    future_heights: int = 10
    """Messages up to this many heights ahead are buffered, later ones dropped."""
    future_buffer_limit: int = 2048
    """Most messages buffered for future heights, in all."""
    future_per_sender: int = 64
    """Most messages buffered for future heights per sender."""


# --- state --------------------------------------------------------------------------------------


@dataclass
class RoundState:
    proposal: Proposal | None = None
    """The proposal of this round that passed the consensus rules (its block may await execution)."""
    block: QbftBlock | None = None
    """The proposal's block, decoded (round = this round, no seals)."""
    accepted: bool = False
    """Execution validated the block and this validator prepared it."""
    prepares: dict[bytes, Prepare] = field(default_factory=dict)
    """By sender: the first Prepare of each validator in this round."""
    commits: dict[bytes, Commit] = field(default_factory=dict)
    """By sender: the first Commit of each validator in this round (seal checked once the block is known)."""
    sent_commit: bool = False


@dataclass
class HeightState:
    height: int
    parent: Head
    validators: tuple[bytes, ...]
    quorum: int
    f: int
    round: int = 0
    rounds: dict[int, RoundState] = field(default_factory=dict)
    round_changes: dict[int, dict[bytes, RoundChange]] = field(default_factory=dict)
    """Round -> sender -> RoundChange, for rounds from the current one up to the lookahead."""
    prepared: PreparedCertificate | None = None
    """Latest prepared certificate of this validator at this height."""
    committed: bool = False
    validated: dict[bytes, bool] = field(default_factory=dict)
    """Digest -> execution verdict."""
    awaiting_validation: set[bytes] = field(default_factory=set)
    own: dict[tuple[int, int], tuple[Message, bytes]] = field(default_factory=dict)
    """(round, message type) -> the message this validator signed, and its bytes."""
    build_requested: set[int] = field(default_factory=set)
    waiting_for_txs: bool = False
    early_round_timer: bool = False
    """Round 0's timer was brought forward because transactions are pending (see _on_pending_txs)."""
    ahead: dict[bytes, int] = field(default_factory=dict)
    """Validator -> highest height seen in its messages, when above this one."""
    sync_requested: bool = False

    def round_state(self, round_: int) -> RoundState:
        return self.rounds.setdefault(round_, RoundState())


class QbftEngine:
    """One validator's QBFT state machine. ``step`` is the only entry point besides ``restore``."""

    def __init__(self, key: PrivateKey, config: EngineConfig | None = None) -> None:
        self.key = key
        self.address = address_of(key)
        self.config = config or EngineConfig()
        self.head: Head | None = None
        self.state: HeightState | None = None
        self.votes: dict[bytes, bool] = {}
        self.pending_txs = 0
        self.stats: Counter[str] = Counter()
        self._future: dict[int, list[Message]] = {}
        self._future_count: Counter[bytes] = Counter()
        self._restored: list[PersistOwnMessage] = []
        self._out: list[Action] = []
        self._now = 0.0

    # --- entry points ---------------------------------------------------------------------------

    def restore(self, records: Iterable[PersistOwnMessage]) -> None:
        """Load own messages persisted before a restart (call before ``Start``)."""
        self._restored = list(records)

    def step(self, event: Event, now: float) -> list[Action]:
        self._out = []
        self._now = now
        if isinstance(event, MessageReceived):
            self._on_message(event.message)
        elif isinstance(event, Timeout):
            self._on_timeout(event)
        elif isinstance(event, BlockBuilt):
            self._on_block_built(event.block)
        elif isinstance(event, BlockValidated):
            self._on_block_validated(event)
        elif isinstance(event, (Start, NewHead)):
            self._on_head(event.head, start=isinstance(event, Start))
        elif isinstance(event, PendingTxs):
            self._on_pending_txs(event.count)
        elif isinstance(event, SealedBlockReceived):
            self._on_sealed_block(event.block)
        else:
            if event.add is None:
                self.votes.pop(event.recipient, None)
            else:
                self.votes[event.recipient] = event.add
        out, self._out = self._out, []
        return out

    @property
    def height(self) -> int | None:
        return self.state.height if self.state else None

    @property
    def round(self) -> int | None:
        return self.state.round if self.state else None

    def proposer(self, round_: int) -> bytes:
        hs = self._hs()
        return proposer_for_round(hs.validators, hs.parent.proposer, round_)

    # --- heads and heights ------------------------------------------------------------------------

    def _on_head(self, head: Head, *, start: bool) -> None:
        if start and self.state is not None:
            return  # already started
        if not start and self.state is None:
            self.head = head  # known, but the engine has not been started yet
            return
        if self.state is not None and head.number < self.state.height:
            return  # stale or repeated head
        self.head = head
        self._start_height(head)

    def _start_height(self, head: Head) -> None:
        height = head.number + 1
        validators = tuple(sorted(head.validators))
        n = len(validators)
        hs = HeightState(height, head, validators, quorum(n), f(n))
        self.state = hs
        for h in [h for h in self._future if h < height]:
            for msg in self._future.pop(h):
                self._future_count[msg.sender] -= 1
        start_round = self._apply_restored(hs)
        self._enter_round(hs.height, start_round, send_round_change=False)
        for msg in self._future.pop(height, []):
            self._future_count[msg.sender] -= 1
            self._route(msg)

    def _hs(self) -> HeightState:
        assert self.state is not None, "engine not started"
        return self.state

    # --- rounds -------------------------------------------------------------------------------------

    def _round_timeout_at(self, round_: int) -> float:
        hs = self._hs()
        base = self.config.request_timeout_s * float(1 << min(round_, MAX_TIMEOUT_EXPONENT))
        if round_ == 0:
            # Round 0 starts when the proposer may propose; with an empty-block period the
            # others cannot tell whether it waits for transactions, so they allow for it.
            wait = max(self.config.block_period_s, self.config.empty_block_period_s)
            return max(self._now, hs.parent.timestamp + wait) + base
        return self._now + base

    def _enter_round(self, height: int, round_: int, *, send_round_change: bool) -> None:
        """Enter ``round_`` at ``height``. Precondition: ``height`` is the current height and
        ``round_`` >= the current round. Starts the round timer, sends our RoundChange if the move
        was a timeout or the f+1 rule, then acts on what is already known of the round."""
        hs = self._hs()
        assert height == hs.height
        assert round_ >= hs.round
        hs.round = round_
        for r in [r for r in hs.round_changes if r < round_]:
            del hs.round_changes[r]
        self._out.append(ScheduleTimeout(hs.height, round_, "round", self._round_timeout_at(round_)))
        if send_round_change:
            self._send_round_change(round_)
        if round_ == 0:
            if self.proposer(0) == self.address:
                at = max(self._now, float(hs.parent.timestamp + self.config.block_period_s))
                self._out.append(ScheduleTimeout(hs.height, 0, "block", at))
        else:
            self._try_propose_after_round_change(round_)
        rs = hs.rounds.get(round_)
        if rs is not None and rs.proposal is not None and not rs.accepted:
            self._validate_or_accept(round_)
        self._check_committed(round_)

    def _on_timeout(self, timeout: Timeout) -> None:
        hs = self.state
        if hs is None or timeout.height != hs.height or hs.committed or timeout.round != hs.round:
            return
        if timeout.kind == "resend":
            # Still stuck in this round: send our RoundChange again, so a validator that was
            # restarted or cut off since (and missed it) can apply the f+1 rule and join now,
            # instead of after everyone's next, exponentially later, timeout.
            own = hs.own.get((hs.round, ROUND_CHANGE))
            if own is not None:
                self._out.append(Broadcast(own[1]))
                self._schedule_round_change_resend(hs.round)
            return
        if timeout.kind == "block":
            # A build may already be in flight (pending transactions ended an empty-block wait
            # before this timer fired): a second one would only queue behind it and be dropped.
            if (
                hs.round == 0
                and self.proposer(0) == self.address
                and 0 not in _proposed(hs)
                and 0 not in hs.build_requested
            ):
                self._request_build(0)
            return
        hs.sync_requested = False  # allow another sync request in the new round
        self._enter_round(hs.height, hs.round + 1, send_round_change=True)
        self._maybe_request_sync()

    def _schedule_round_change_resend(self, round_: int) -> None:
        hs = self._hs()
        self._out.append(
            ScheduleTimeout(hs.height, round_, "resend", self._now + self.config.request_timeout_s)
        )

    def _send_round_change(self, round_: int) -> None:
        hs = self._hs()
        self._schedule_round_change_resend(round_)
        cert = hs.prepared
        if cert is None:
            rc = make_round_change(self.key, hs.height, round_)
        else:
            digest = decode_block(cert.block).onchain_hash
            rc = make_round_change(self.key, hs.height, round_, cert.round, digest, cert.block, cert.prepares)
        self._send(rc)

    # --- proposing ----------------------------------------------------------------------------------

    def _request_build(self, round_: int) -> None:
        hs = self._hs()
        hs.build_requested.add(round_)
        vote = self._pick_vote(hs)
        extra = QbftExtraData(
            vanity=b"\x00" * VANITY_BYTES, validators=hs.validators, vote=vote, round=round_
        )
        timestamp = max(hs.parent.timestamp + self.config.block_period_s, int(self._now))
        self._out.append(BuildBlock(hs.parent.hash, hs.height, round_, timestamp, encode_extra_data(extra)))

    def _pick_vote(self, hs: HeightState) -> Vote | None:
        epoch = self.config.epoch_length
        if epoch > 0 and hs.height % epoch == 0:
            return None  # an epoch block's vote is ignored (votes reset there)
        for recipient, add in sorted(self.votes.items()):
            if (recipient in hs.validators) != add:
                return Vote(recipient, add)
        return None

    def _on_block_built(self, raw: bytes) -> None:
        hs = self.state
        if hs is None or hs.committed:
            return
        try:
            block = decode_block(raw)
        except InvalidBlock:
            self.stats["own_block_invalid"] += 1
            return
        round_ = block.extra.round
        if (
            block.number != hs.height
            or block.parent_hash != hs.parent.hash
            or round_ != hs.round
            or round_ not in hs.build_requested
            or round_ in _proposed(hs)
            or self.proposer(round_) != self.address
        ):
            return
        if round_ == 0 and block.tx_count == 0 and self.pending_txs == 0:
            deadline = hs.parent.timestamp + self.config.empty_block_period_s
            if self._now < deadline:
                # emptyblockperiodseconds: look again each block period until it elapses.
                hs.waiting_for_txs = True
                hs.build_requested.discard(0)
                at = min(float(deadline), self._now + self.config.block_period_s)
                self._out.append(ScheduleTimeout(hs.height, 0, "block", at))
                return
        hs.waiting_for_txs = False
        hs.validated[block.onchain_hash] = True
        if round_ == 0:
            self._propose(0, block, (), ())
            return
        justification = self._round_change_justification(round_)
        if justification is None or justification[1] is not None:
            return  # quorum lost (cannot happen: round changes are kept) or a prepared block must go
        self._propose(round_, block, justification[0], ())

    def _on_pending_txs(self, count: int) -> None:
        self.pending_txs = count
        hs = self.state
        if count == 0 or hs is None or hs.round != 0 or hs.committed:
            return
        if hs.waiting_for_txs:
            hs.waiting_for_txs = False
            self._request_build(0)
        elif self.proposer(0) != self.address:
            # Round 0's timer allows for a proposer waiting out the empty-block period. With
            # transactions pending (they are gossiped to every validator) a live proposer proposes
            # one block period after the parent, so a crashed one is detected as quickly as with
            # no empty-block period, instead of after it (60 s by default).
            self._bring_round0_timer_forward(float(hs.parent.timestamp + self.config.block_period_s))

    def _bring_round0_timer_forward(self, start: float) -> None:
        """Round 0 really started at ``start`` (the proposer stopped waiting for transactions):
        time it out one request timeout later, not after the empty-block period."""
        hs = self._hs()
        if hs.early_round_timer or self.config.empty_block_period_s <= self.config.block_period_s:
            return
        hs.early_round_timer = True
        at = max(self._now, start) + self.config.request_timeout_s
        self._out.append(ScheduleTimeout(hs.height, 0, "round", at))

    def _round_change_justification(
        self, round_: int
    ) -> tuple[tuple[RoundChange, ...], RoundChange | None] | None:
        """A quorum of RoundChanges for ``round_`` and the one with the highest prepared round."""
        hs = self._hs()
        rcs = list(hs.round_changes.get(round_, {}).values())
        if len(rcs) < hs.quorum:
            return None
        prepared = [rc for rc in rcs if rc.prepared_round is not None]
        best = max(prepared, key=lambda rc: (rc.prepared_round or 0, rc.sender)) if prepared else None
        chosen = [best] if best else []
        chosen += [rc for rc in sorted(rcs, key=lambda rc: rc.sender) if rc is not best]
        return tuple(chosen[: hs.quorum]), best

    def _try_propose_after_round_change(self, round_: int) -> None:
        hs = self._hs()
        if (
            round_ != hs.round
            or hs.committed
            or round_ in _proposed(hs)
            or self.proposer(round_) != self.address
        ):
            return
        justification = self._round_change_justification(round_)
        if justification is None:
            return
        rcs, best = justification
        if best is None:
            if round_ not in hs.build_requested:
                self._request_build(round_)
            return
        assert best.prepared_block is not None  # checked when the round change was accepted
        block = decode_block(best.prepared_block).with_round(round_)
        self._propose(round_, block, rcs, best.prepares)

    def _propose(
        self,
        round_: int,
        block: QbftBlock,
        round_changes: tuple[RoundChange, ...],
        prepares: tuple[Prepare, ...],
    ) -> None:
        hs = self._hs()
        block = block.with_round(round_).with_seals(())
        proposal = make_proposal(
            self.key, hs.height, round_, block.onchain_hash, block.encode(), round_changes, prepares
        )
        self._send(proposal)

    # --- sending ------------------------------------------------------------------------------------

    def _send(self, msg: Message, prepared_certificate: bytes = b"") -> None:
        """Sign-once guard, persist, broadcast, then count our own copy."""
        hs = self._hs()
        if self.address not in hs.validators:
            return  # not a validator at this height: follow the chain, never sign
        key = (msg.round, message_type(msg))
        previous = hs.own.get(key)
        if previous is not None:
            if _same_content(previous[0], msg):
                self._out.append(Broadcast(previous[1]))
            else:
                self.stats["refused_double_sign"] += 1
            return
        raw = encode_message(msg)
        hs.own[key] = (msg, raw)
        self._out.append(PersistOwnMessage(raw, prepared_certificate))
        self._out.append(Broadcast(raw))
        self._route(msg)

    # --- receiving ----------------------------------------------------------------------------------

    def _on_message(self, raw: bytes) -> None:
        try:
            msg = decode_message(raw)
        except InvalidMessage as exc:
            self._drop(exc)
            return
        self._route(msg)

    def _drop(self, exc: InvalidMessage) -> None:
        reason = type(exc).__name__
        self.stats[f"dropped_{reason}"] += 1
        self._out.append(MessageDropped(reason, exc))

    def _route(self, msg: Message) -> None:
        hs = self.state
        if hs is None or msg.height > hs.height:
            self._buffer_future(msg)
            return
        if msg.height < hs.height:
            self._drop(WrongHeight("message height", got=msg.height, expected=hs.height))
            return
        if hs.committed:
            self.stats["ignored_after_commit"] += 1
            return
        try:
            self._handle(msg)
        except InvalidMessage as exc:
            self._drop(exc)

    def _buffer_future(self, msg: Message) -> None:
        hs = self.state
        limit = (hs.height if hs else (self.head.number + 1 if self.head else 0)) + self.config.future_heights
        if hs is not None and msg.height > limit:
            self._drop(WrongHeight("message too far ahead", got=msg.height, expected=f"<= {limit}"))
            return
        if (
            sum(self._future_count.values()) >= self.config.future_buffer_limit
            or self._future_count[msg.sender] >= self.config.future_per_sender
        ):
            self.stats["future_buffer_full"] += 1
            return
        self._future.setdefault(msg.height, []).append(msg)
        self._future_count[msg.sender] += 1
        if hs is not None and msg.sender in hs.validators:
            hs.ahead[msg.sender] = max(hs.ahead.get(msg.sender, 0), msg.height)
            self._maybe_request_sync()

    def _maybe_request_sync(self) -> None:
        """A validator of this height speaks of a later height: the blocks we miss probably exist.
        Ask the driver to sync them, at most once per round (sync checks the commit seals, so a
        Byzantine validator lying about its height costs one wasted request per round, no more;
        waiting for f+1 such validators instead stalls a validator whose commits were lost)."""
        hs = self._hs()
        if hs.committed or hs.sync_requested:
            return
        heights = [h for h in hs.ahead.values() if h > hs.height]
        if heights:
            hs.sync_requested = True
            self.stats["sync_requested"] += 1
            self._out.append(RequestSync(max(heights) - 1))

    def _handle(self, msg: Message) -> None:
        hs = self._hs()
        if msg.sender not in hs.validators:
            raise NotAValidator("message signer", got=msg.sender, expected="a validator of this height")
        if msg.round > hs.round + MAX_ROUND_LOOKAHEAD:
            raise WrongRound(
                "round too far ahead", got=msg.round, expected=f"<= {hs.round + MAX_ROUND_LOOKAHEAD}"
            )
        if isinstance(msg, Proposal):
            self._handle_proposal(msg)
        elif isinstance(msg, Prepare):
            self._handle_prepare(msg)
        elif isinstance(msg, Commit):
            self._handle_commit(msg)
        else:
            self._handle_round_change(msg)

    # --- proposal -----------------------------------------------------------------------------------

    def _handle_proposal(self, p: Proposal) -> None:
        hs = self._hs()
        old = p.round < hs.round
        if old and not hs.rounds.get(p.round, RoundState()).commits:
            raise WrongRound("proposal for an old round", got=p.round, expected=f">= {hs.round}")
        # A late proposal of an old round is still worth keeping when Commits of that round are
        # waiting for it: with a quorum of them it is a commit certificate. It is never prepared.
        block = validate_proposal(
            p,
            hs.height,
            p.round if old else hs.round,
            hs.parent,
            hs.validators,
            hs.quorum,
            self.proposer(p.round),
            # An old round's block is never prepared: its stamp is not held against our clock.
            now=None if old else self._now,
        )
        rs = hs.round_state(p.round)
        if rs.proposal is not None:
            if rs.proposal.digest == p.digest:
                return
            raise DuplicateMessage("second proposal in round", got=p.digest, expected=rs.proposal.digest)
        rs.proposal, rs.block = p, block
        if p.round == 0 == hs.round:
            # Everyone, the proposer included, times round 0 from its proposal: a validator that
            # had no pending transaction must not stay in round 0 for the empty-block period
            # while the others (which had one) move on; a quorum split over rounds 0 and r>0
            # cannot use the f+1 rule to meet again.
            self._bring_round0_timer_forward(self._now)
        self._check_commit_seals(p.round)
        if old:
            self._check_committed(p.round)
        elif p.round > hs.round:
            # A justified proposal for a later round moves us there (QBFT spec: upon valid proposal).
            self._enter_round(hs.height, p.round, send_round_change=False)
        else:
            self._validate_or_accept(p.round)
            self._check_committed(p.round)

    def _validate_or_accept(self, round_: int) -> None:
        hs = self._hs()
        rs = hs.rounds[round_]
        assert rs.proposal is not None
        assert rs.block is not None
        verdict = hs.validated.get(rs.proposal.digest)
        if verdict:
            self._enter_prepare(hs.height, round_)
        elif verdict is None and rs.proposal.digest not in hs.awaiting_validation:
            hs.awaiting_validation.add(rs.proposal.digest)
            self._out.append(ValidateBlock(rs.proposal.block, rs.proposal.digest))

    def _on_block_validated(self, event: BlockValidated) -> None:
        hs = self.state
        if hs is None or event.digest not in hs.awaiting_validation:
            return
        hs.awaiting_validation.discard(event.digest)
        hs.validated[event.digest] = event.ok
        rs = hs.rounds.get(hs.round)
        if not event.ok:
            self.stats["proposal_block_invalid"] += 1
            error = InvalidProposalBlock(f"execution refused the block: {event.reason}", got=event.digest)
            self._drop(error)
            return
        if rs is not None and rs.proposal is not None and rs.proposal.digest == event.digest:
            self._enter_prepare(hs.height, hs.round)

    def _enter_prepare(self, height: int, round_: int) -> None:
        """The proposal of the current round passed consensus and execution checks: prepare it.
        Precondition: ``height``/``round_`` are current and the proposal is not yet accepted."""
        hs = self._hs()
        if height != hs.height:
            return
        rs = hs.rounds[round_]
        if round_ != hs.round or rs.accepted or hs.committed or rs.proposal is None:
            return
        rs.accepted = True
        self._send(make_prepare(self.key, hs.height, round_, rs.proposal.digest))
        self._check_prepared(round_)

    # --- prepare ------------------------------------------------------------------------------------

    def _handle_prepare(self, p: Prepare) -> None:
        hs = self._hs()
        if p.round < hs.round:
            raise WrongRound("prepare for an old round", got=p.round, expected=hs.round)
        rs = hs.round_state(p.round)
        if rs.proposal is not None and p.digest != rs.proposal.digest:
            raise DigestMismatch("prepare digest", got=p.digest, expected=rs.proposal.digest)
        if _store_once(rs.prepares, p, "prepare"):
            self._check_prepared(p.round)

    def _check_prepared(self, round_: int) -> None:
        """Enter commit once the accepted proposal of the current round has a quorum of Prepares."""
        hs = self._hs()
        rs = hs.rounds.get(round_)
        if rs is None or round_ != hs.round or not rs.accepted or rs.sent_commit or rs.proposal is None:
            return
        assert rs.block is not None
        digest = rs.proposal.digest
        matching = sorted((p for p in rs.prepares.values() if p.digest == digest), key=lambda p: p.sender)
        if len(matching) < hs.quorum:
            return
        self._enter_commit(hs.height, round_, tuple(matching[: hs.quorum]))

    def _enter_commit(self, height: int, round_: int, prepares: tuple[Prepare, ...]) -> None:
        """A quorum of Prepares for the accepted proposal: it is prepared; record the certificate
        (persisted with the Commit) and send our Commit with its seal."""
        hs = self._hs()
        rs = hs.rounds[round_]
        assert height == hs.height
        assert rs.proposal is not None
        assert rs.block is not None
        digest = rs.proposal.digest
        rs.sent_commit = True
        block = rs.block.with_round(round_)
        cert = PreparedCertificate(round_, block.encode(), prepares)
        hs.prepared = cert
        seal = sign_commit_seal(self.key, block)
        commit = make_commit(self.key, hs.height, round_, digest, seal)
        self._send(commit, encode_prepared_certificate(cert))

    # --- commit -------------------------------------------------------------------------------------

    def _handle_commit(self, c: Commit) -> None:
        hs = self._hs()
        rs = hs.round_state(c.round)
        if rs.block is not None:
            assert rs.proposal is not None
            validate_commit(c, rs.proposal.digest, rs.block)
        if _store_once(rs.commits, c, "commit"):
            self._check_committed(c.round)

    def _check_commit_seals(self, round_: int) -> None:
        """The proposal of ``round_`` just arrived: drop stored commits that do not fit it."""
        hs = self._hs()
        rs = hs.rounds[round_]
        assert rs.proposal is not None
        assert rs.block is not None
        for sender, c in list(rs.commits.items()):
            try:
                validate_commit(c, rs.proposal.digest, rs.block)
            except InvalidMessage as exc:
                del rs.commits[sender]
                self._drop(exc)

    def _check_committed(self, round_: int) -> None:
        """A quorum of valid commit seals for a known proposal of any round of this height is a
        commit certificate: the block is final."""
        hs = self._hs()
        rs = hs.rounds.get(round_)
        if hs.committed or rs is None or rs.block is None or rs.proposal is None:
            return
        digest = rs.proposal.digest
        commits = sorted((c for c in rs.commits.values() if c.digest == digest), key=lambda c: c.sender)
        if len(commits) < hs.quorum:
            return
        self._enter_committed(hs.height, round_, tuple(commits))

    def _enter_committed(self, height: int, round_: int, commits: tuple[Commit, ...]) -> None:
        """A commit certificate: the block of ``round_`` is final at ``height``; hand it over with
        the seals and wait for NewHead."""
        hs = self._hs()
        rs = hs.rounds[round_]
        assert height == hs.height
        assert rs.block is not None
        assert rs.proposal is not None
        hs.committed = True
        block = rs.block.with_round(round_).with_seals([c.seal for c in commits])
        self.stats["committed"] += 1
        self._out.append(CommitBlock(block.encode(), hs.height, rs.proposal.digest))

    def _on_sealed_block(self, raw: bytes) -> None:
        """A peer's committed block: for our height, its commit seals are a commit certificate
        (commit it without waiting for the messages we missed); for a later height, sync."""
        hs = self.state
        if hs is None or hs.committed:
            return
        try:
            block = decode_block(raw)
            if block.number > hs.height:
                hs.ahead[block.coinbase] = max(hs.ahead.get(block.coinbase, 0), block.number + 1)
                hs.sync_requested = False
                self._maybe_request_sync()
                return
            if block.number < hs.height:
                return
            validate_sealed_block(block, hs.parent)
        except InvalidSeal as exc:
            self._drop(InvalidSignature(f"sealed block: {exc}"))
            return
        except InvalidBlock as exc:
            self._drop(InvalidProposalBlock(f"sealed block: {exc}"))
            return
        hs.committed = True
        self.stats["committed_from_peer_block"] += 1
        self._out.append(CommitBlock(block.encode(), hs.height, block.onchain_hash))

    # --- round change -------------------------------------------------------------------------------

    def _handle_round_change(self, rc: RoundChange) -> None:
        hs = self._hs()
        if rc.round < hs.round or rc.round == 0:
            raise WrongRound("round change for an old round", got=rc.round, expected=f">= {max(hs.round, 1)}")
        validate_round_change_certificate(rc, hs.height, hs.parent, hs.validators, hs.quorum)
        if not _store_once(hs.round_changes.setdefault(rc.round, {}), rc, "round change"):
            return
        # f+1 rule: f+1 validators want later rounds, so at least one honest one timed out.
        if rc.round > hs.round:
            highest: dict[bytes, int] = {}
            for r, by_sender in hs.round_changes.items():
                for sender in by_sender:
                    if r > hs.round:
                        highest[sender] = max(highest.get(sender, 0), r)
            rounds = sorted(highest.values(), reverse=True)
            if len(rounds) >= hs.f + 1:
                target = rounds[hs.f]
                self._enter_round(hs.height, target, send_round_change=True)
        # Quorum rule: a quorum for a round at or above ours moves us there; its proposer proposes.
        if hs.round <= rc.round and len(hs.round_changes.get(rc.round, {})) >= hs.quorum:
            if rc.round > hs.round:
                self._enter_round(hs.height, rc.round, send_round_change=False)
            else:
                self._try_propose_after_round_change(rc.round)

    # --- restart ------------------------------------------------------------------------------------

    def _apply_restored(self, hs: HeightState) -> int:
        """Reload own messages of this height; return the round to resume in."""
        start_round = 0
        messages: list[Message] = []
        for record in self._restored:
            try:
                msg = decode_message(record.message)
            except InvalidMessage:
                continue
            if msg.sender != self.address or msg.height != hs.height:
                continue
            hs.own[(msg.round, message_type(msg))] = (msg, record.message)
            start_round = max(start_round, msg.round)
            messages.append(msg)
            if isinstance(msg, (Proposal, Prepare, Commit)):
                hs.validated[msg.digest] = True
            if record.prepared_certificate:
                with contextlib.suppress(InvalidMessage):
                    cert = decode_prepared_certificate(record.prepared_certificate)
                    if hs.prepared is None or cert.round > hs.prepared.round:
                        hs.prepared = cert
        hs.round = start_round
        for msg in messages:
            if msg.round == start_round or isinstance(msg, RoundChange):
                self._route(msg)
        return start_round


def _store_once(store: dict[bytes, _M], msg: _M, what: str) -> bool:
    """Keep the first message of each sender; False for a repeat of it (gossip duplicates are
    normal), DuplicateMessage for a different one (equivocation)."""
    existing = store.get(msg.sender)
    if existing is not None:
        if _same_content(existing, msg):
            return False
        raise DuplicateMessage(f"second, different {what} from one validator", got=msg.sender)
    store[msg.sender] = msg
    return True


def _same_content(a: Message, b: Message) -> bool:
    return type(a) is type(b) and a == b


def _proposed(hs: HeightState) -> set[int]:
    return {r for (r, t) in hs.own if t == PROPOSAL}


__all__ = ["EngineConfig", "QbftEngine"]
