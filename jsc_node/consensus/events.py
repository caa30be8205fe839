"""What goes into the QBFT engine and what comes out: the events a driver feeds to
``QbftEngine.step(event, now)`` and the actions it returns, to be carried out in order (Besu's
``BftEventQueue`` inputs and the engine's effects, as plain frozen dataclasses with no behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jsc_node.errors import InvalidMessage

TimerKind = Literal["round", "block", "resend"]
"""``round``: the round timed out; ``block``: the proposer may build now; ``resend``: send our
RoundChange again while stuck in the round."""


@dataclass(frozen=True)
class Head:
    """A chain head as consensus sees it: the parent of the block being decided."""

    number: int
    hash: bytes
    """The on-chain (BFT) hash: extraData without seals and with round 0."""
    timestamp: int
    proposer: bytes
    """The head block's coinbase (for the genesis block, its coinbase, usually zero)."""
    validators: tuple[bytes, ...]
    """Validator set of block ``number + 1`` (see ``validators.ValidatorHistory``)."""


# --- events (driver -> engine) -------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Begin deciding block ``head.number + 1``. Call ``QbftEngine.restore()`` first with the
    persisted own messages, if any."""

    head: Head


@dataclass(frozen=True)
class NewHead:
    """The chain head moved (our CommitBlock landed, or sync imported blocks); the engine moves
    to the next height."""

    head: Head


@dataclass(frozen=True)
class MessageReceived:
    """Raw bytes of a consensus message from a peer (gossip)."""

    message: bytes


@dataclass(frozen=True)
class Timeout:
    """A timer scheduled by ``ScheduleTimeout`` fired: its fields echoed."""

    height: int
    round: int
    kind: TimerKind = "round"


@dataclass(frozen=True)
class BlockBuilt:
    """Answer to ``BuildBlock``: the block RLP (seals empty, round as asked)."""

    block: bytes


@dataclass(frozen=True)
class BlockValidated:
    """Answer to ``ValidateBlock``: execution's verdict on the block named by ``digest``."""

    digest: bytes
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class SealedBlockReceived:
    """A committed block with its commit seals, gossiped by a peer after its CommitBlock."""

    block: bytes


@dataclass(frozen=True)
class PendingTxs:
    """The pool holds ``count`` executable transactions (lets a waiting proposer stop waiting for
    ``empty_block_period_s``)."""

    count: int


@dataclass(frozen=True)
class ProposeVote:
    """This validator's vote about ``recipient``, carried in the blocks it proposes."""

    recipient: bytes
    add: bool | None
    """True to add, False to drop, None to withdraw this validator's vote about ``recipient``."""


Event = (
    Start
    | NewHead
    | MessageReceived
    | Timeout
    | BlockBuilt
    | BlockValidated
    | PendingTxs
    | ProposeVote
    | SealedBlockReceived
)


# --- actions (engine -> driver) ------------------------------------------------------------------


@dataclass(frozen=True)
class Broadcast:
    """Gossip the bytes to all validators (the engine already counted its own copy: do not feed
    it back)."""

    message: bytes


@dataclass(frozen=True)
class PersistOwnMessage:
    """Write durably (fsync) BEFORE the Broadcast that follows it (always the next action); give
    the records back to ``restore()`` on restart, so the validator never signs two different
    messages for one height/round and keeps its prepared certificate (CometBFT's WAL rule).
    Records of heights below the head may be discarded."""

    message: bytes
    prepared_certificate: bytes = b""
    """With an own Commit: the prepared certificate it rests on (QBFT safety needs it after a
    restart, in the next RoundChange)."""


@dataclass(frozen=True)
class ScheduleTimeout:
    """Call back with ``Timeout(height, round, kind)`` at time ``at``; a later schedule does not
    cancel an earlier one (stale ones are ignored)."""

    height: int
    round: int
    kind: TimerKind
    at: float


@dataclass(frozen=True)
class BuildBlock:
    """Execution builds a block on ``parent_hash`` with that timestamp, coinbase = this validator
    and exactly this extraData; answer with ``BlockBuilt``."""

    parent_hash: bytes
    height: int
    round: int
    timestamp: int
    extra_data: bytes


@dataclass(frozen=True)
class ValidateBlock:
    """Execution checks the block (no commit); answer with ``BlockValidated``."""

    block: bytes
    digest: bytes


@dataclass(frozen=True)
class CommitBlock:
    """The block (with round and commit seals in extraData) is final: persist it (ignore it if
    that block is already held, e.g. synced meanwhile), make it head, gossip it to peers (they
    feed it as ``SealedBlockReceived``), send ``NewHead``."""

    block: bytes
    height: int
    digest: bytes


@dataclass(frozen=True)
class RequestSync:
    """Peers are at ``height`` or above: fetch and import the missing blocks (each through
    ``rules.validate_sealed_block``), then send ``NewHead``."""

    height: int


@dataclass(frozen=True)
class MessageDropped:
    """A message was refused; ``reason`` is the error class name (for metrics), ``error`` the
    InvalidMessage with got/expected."""

    reason: str
    error: InvalidMessage


Action = (
    Broadcast
    | PersistOwnMessage
    | ScheduleTimeout
    | BuildBlock
    | ValidateBlock
    | CommitBlock
    | RequestSync
    | MessageDropped
)


__all__ = [
    "Action",
    "BlockBuilt",
    "BlockValidated",
    "Broadcast",
    "BuildBlock",
    "CommitBlock",
    "Event",
    "Head",
    "MessageDropped",
    "MessageReceived",
    "NewHead",
    "PendingTxs",
    "PersistOwnMessage",
    "ProposeVote",
    "RequestSync",
    "ScheduleTimeout",
    "SealedBlockReceived",
    "Start",
    "Timeout",
    "TimerKind",
    "ValidateBlock",
]
