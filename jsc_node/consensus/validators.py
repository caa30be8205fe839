"""Validator-set maths: quorum sizes, the proposer of a round, and votes carried in blocks.

- ``quorum(n) = ceil(2n/3)`` and ``f(n) = floor((n-1)/3)`` (ConsenSys' Dafny QBFT spec).
- Proposer: Besu's round-robin (``ProposerSelector``): round 0 of height h is proposed by the
  validator after the proposer (coinbase) of block h-1, round r by the one r places further; if the
  previous proposer is no longer a validator, the first validator above its address starts the
  rotation (with no extra +1).
- Votes (Besu's ``VoteTally``): a block's proposer may carry one vote in extraData, to add or drop
  one address; the change applies after the block once more than half of the validators voted for
  it; votes are discarded at every epoch block (``number % epoch_length == 0``), whose own vote is
  ignored. Block h's extraData lists the validators of block h, i.e. the set after block h-1.
- Validator lists are sorted ascending by address, as Besu keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from jsc_node.chainformat import Vote
from jsc_node.consensus.block import QbftBlock, decode_header
from jsc_node.consensus.events import Head


def quorum(n: int) -> int:
    """Smallest number of validators any two of whose sets share an honest one: ceil(2n/3)."""
    if n < 1:
        raise ValueError(f"a validator set has at least one member, got {n}")
    return (2 * n + 2) // 3


def f(n: int) -> int:
    """Largest number of faulty validators n tolerates: floor((n-1)/3)."""
    if n < 1:
        raise ValueError(f"a validator set has at least one member, got {n}")
    return (n - 1) // 3


def sort_validators(addresses: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(sorted(set(addresses)))


def proposer_for_round(validators: Sequence[bytes], previous_proposer: bytes, round_: int) -> bytes:
    """The proposer of ``round_`` at the height after the block proposed by ``previous_proposer``."""
    ordered = sort_validators(validators)
    if not ordered:
        raise ValueError("empty validator set")
    if previous_proposer in ordered:
        start = ordered.index(previous_proposer)
        offset = round_ + 1  # Besu's changeEachBlock: the proposer moves on with each block
    else:
        later = [i for i, v in enumerate(ordered) if v > previous_proposer]
        start = later[0] if later else 0
        offset = round_
    return ordered[(start + offset) % len(ordered)]


@dataclass(frozen=True)
class VoteTally:
    """Validators after some block, with the votes pending since the last epoch block."""

    validators: tuple[bytes, ...]
    """Current validator set, sorted."""
    add_votes: Mapping[bytes, frozenset[bytes]] = field(default_factory=dict)
    """Subject address -> voters who want it added."""
    drop_votes: Mapping[bytes, frozenset[bytes]] = field(default_factory=dict)
    """Subject address -> voters who want it dropped."""

    def apply_block(self, number: int, proposer: bytes, vote: Vote | None, epoch_length: int) -> VoteTally:
        """The tally after block ``number`` carrying ``vote`` by ``proposer``."""
        if epoch_length > 0 and number % epoch_length == 0:
            return VoteTally(self.validators)
        if vote is None or proposer not in self.validators:
            return self
        subject = vote.recipient
        add = {k: set(v) for k, v in self.add_votes.items()}
        drop = {k: set(v) for k, v in self.drop_votes.items()}
        # One standing vote per (voter, subject): a later vote replaces an earlier opposite one.
        (add if vote.add else drop).setdefault(subject, set()).add(proposer)
        (drop if vote.add else add).get(subject, set()).discard(proposer)
        validators = set(self.validators)
        needed = len(validators) // 2 + 1  # strictly more than half
        voters = validators & (add if vote.add else drop).get(subject, set())
        if len(voters) >= needed:
            if vote.add:
                validators.add(subject)
            else:
                validators.discard(subject)
            add.pop(subject, None)
            drop.pop(subject, None)
        if not validators:  # never vote the last validator out
            return self
        return VoteTally(
            sort_validators(validators),
            {k: frozenset(v) for k, v in add.items() if v},
            {k: frozenset(v) for k, v in drop.items() if v},
        )


def tally_after_blocks(
    start_validators: Sequence[bytes], blocks: Iterable[QbftBlock], epoch_length: int
) -> VoteTally:
    """Fold the votes of ``blocks`` (consecutive, ascending) into the set ``start_validators``
    that validates the first of them."""
    tally = VoteTally(sort_validators(start_validators))
    for block in blocks:
        tally = tally.apply_block(block.number, block.coinbase, block.extra.vote, epoch_length)
    return tally


def validators_for_next_block(chain: Sequence[QbftBlock], epoch_length: int) -> tuple[bytes, ...]:
    """The validator set of block ``chain[-1].number + 1``, as a pure function of extraData.

    ``chain`` must hold consecutive blocks from the last epoch block (or genesis) up to the head;
    the epoch block's extraData names the set, the later blocks' votes move it.
    """
    if not chain:
        raise ValueError("need at least the head block")
    start = _last_epoch_index(chain, epoch_length)
    return tally_after_blocks(chain[start].extra.validators, chain[start:], epoch_length).validators


def _last_epoch_index(chain: Sequence[QbftBlock], epoch_length: int) -> int:
    for i in range(len(chain) - 1, -1, -1):
        if chain[i].number == 0 or (epoch_length > 0 and chain[i].number % epoch_length == 0):
            return i
    raise ValueError("chain must start at an epoch block or genesis")


class ValidatorHistory:
    """Validator sets by height for a growing chain (what a driver or the simulation keeps).

    Append each committed block in order; ``validators_at(h)`` is the set that validates block h.
    A node starting on a chain it holds replays it from the headers (``replay``, then ``extend``
    with later headers): the consensus driver reads them over the seam, ``jsc-node import`` from
    its own database.
    """

    def __init__(self, genesis: QbftBlock, epoch_length: int) -> None:
        self.epoch_length = epoch_length
        self._tally = tally_after_blocks(genesis.extra.validators, [genesis], epoch_length)
        self._sets: dict[int, tuple[bytes, ...]] = {1: self._tally.validators}
        self.head = genesis

    @classmethod
    def replay(
        cls, genesis_header: bytes, epoch_length: int, headers: Iterable[bytes] = ()
    ) -> ValidatorHistory:
        """The history of a chain from its header RLPs: genesis, then blocks 1, 2, ... in order
        (extraData is all it reads: the votes, and the genesis validator list)."""
        history = cls(decode_header(genesis_header), epoch_length)
        history.extend(headers)
        return history

    def extend(self, headers: Iterable[bytes]) -> None:
        """Append the blocks of these header RLPs, in order, from ``head.number + 1``."""
        for raw in headers:
            self.append(decode_header(raw))

    def append(self, block: QbftBlock) -> None:
        if block.number != self.head.number + 1:
            raise ValueError(f"block {block.number} does not follow head {self.head.number}")
        self._tally = self._tally.apply_block(
            block.number, block.coinbase, block.extra.vote, self.epoch_length
        )
        self._sets[block.number + 1] = self._tally.validators
        self.head = block

    def validators_at(self, height: int) -> tuple[bytes, ...]:
        return self._sets[height]

    def as_head(self) -> Head:
        """The head block as the parent of the next one: what the engine starts a height from
        and what ``rules.validate_sealed_block`` checks the next block against."""
        head = self.head
        return Head(
            number=head.number,
            hash=head.onchain_hash,
            timestamp=head.timestamp,
            proposer=head.coinbase,
            validators=self._sets[head.number + 1],
        )

    @property
    def tally(self) -> VoteTally:
        return self._tally
