"""Issue 12's consensus rule on validator votes, as a pure decision.

A block whose header vote adds a validator without a valid, unrevoked attestation in an allowed
jurisdiction, in the parent's state, is invalid on every node. ``vote_problem`` is that decision
over any registry storage: the executor applies it to every block it executes or builds
(state/evm/executor.py), so ``jsc-node import`` and ``jsc-node verify`` apply it too; the RPC can
ask it before a vote is proposed. Drop votes are always allowed (policy is carried out by voting
out), and so is a vote to add an address the block's own validator list already holds (it changes
nothing; Besu's tally ignores it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from jsc_node.chainformat import Vote
from jsc_node.governance.registry import StorageRead, attestation_problem


def vote_problem(
    read: StorageRead, vote: Vote | None, validators: Sequence[bytes], allowed: Iterable[str]
) -> str | None:
    """Why ``vote`` (a block's header vote; ``validators`` the block's own list) breaks the rule,
    in words, or None. ``read`` is the registry's storage in the parent's state; nothing is read
    unless the vote adds an address outside ``validators``."""
    if vote is None or not vote.add or vote.recipient in validators:
        return None
    return attestation_problem(read, vote.recipient, allowed)


def vote_refusal(number: int, vote: Vote, problem: str) -> str:
    """The error of block ``number`` whose vote broke the rule, e.g. ``block 12 votes to add
    0x…: 0x…'s attestation is pending: not yet approved by a quorum of validators``."""
    return f"block {number} votes to add 0x{vote.recipient.hex()}: {problem}"


__all__ = ["vote_problem", "vote_refusal"]
