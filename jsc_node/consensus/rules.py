"""Every QBFT validity rule, as pure functions that raise: a block on its parent and the validator
set at its height, a final (sealed) block, a proposal and its round-change justification, a round
change's prepared certificate, a commit (EEA QBFT spec v1; Besu's
``QbftBlockHeaderValidationRulesetFactory`` and ``qbft-core`` message validators). One sealed-block
rule serves the engine (a peer's sealed block), block sync and ``jsc-node import``; block rules
raise ``InvalidBlock`` (``InvalidSeal`` for seals), message rules an ``InvalidMessage`` subclass,
each naming the failed check with got/expected, and the caller decides to drop, ban or stop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from jsc_node.chainformat import BFT_MIX_HASH
from jsc_node.consensus.block import QbftBlock, decode_block, recover_address, recover_seal_signers
from jsc_node.consensus.events import Head
from jsc_node.consensus.messages import Commit, Prepare, Proposal, RoundChange
from jsc_node.consensus.validators import quorum
from jsc_node.errors import (
    DigestMismatch,
    InvalidBlock,
    InvalidJustification,
    InvalidProposalBlock,
    InvalidSeal,
    InvalidSignature,
    WrongHeight,
    WrongProposer,
    WrongRound,
)

MAX_FUTURE_TIMESTAMP_S = 2
"""How far ahead of this validator's clock a proposed block's timestamp may be. Proposers stamp
``max(parent + block period, floor(now))``, so an honest block is never ahead of an honest clock;
the margin is for clock skew between validators (Besu allows one second)."""


# --- blocks (each raises InvalidBlock) ----------------------------------------------------------


def validate_block_on_parent(block: QbftBlock, parent: Head) -> None:
    """The header rules every QBFT block meets on its parent, whether proposed or sealed (Besu's
    QbftBlockHeaderValidationRulesetFactory: ancestry, timestamp after the parent, the BFT
    mixHash, the coinbase a validator, extraData's validator list equal to the set after the
    parent's votes). Execution checks the fields it computes (roots, gas, base fee) when it runs
    the block; these are the ones consensus can check from the header alone."""
    if block.number != parent.number + 1:
        raise InvalidBlock("block number", got=block.number, expected=parent.number + 1)
    if block.parent_hash != parent.hash:
        raise InvalidBlock("block parent", got=block.parent_hash, expected=parent.hash)
    if block.timestamp <= parent.timestamp:
        # The Yellow Paper's rule, which execution enforces too; a proposer stamps at least
        # parent + block period.
        raise InvalidBlock(
            "block timestamp not after its parent", got=block.timestamp, expected=f"> {parent.timestamp}"
        )
    if block.mix_hash != BFT_MIX_HASH:  # Besu's BftHelpers.EXPECTED_MIX_HASH
        raise InvalidBlock("block mixHash", got=block.mix_hash, expected=BFT_MIX_HASH)
    validators = tuple(sorted(parent.validators))
    if block.coinbase not in validators:  # Besu's BftCoinbaseValidationRule
        raise InvalidBlock("block coinbase", got=block.coinbase, expected="a validator")
    if block.extra.validators != validators:  # Besu's QbftValidatorsValidationRule
        raise InvalidBlock(
            "block validators", got=_hex_list(block.extra.validators), expected=_hex_list(validators)
        )


def validate_commit_seals(block: QbftBlock, validators: Sequence[bytes], quorum_size: int) -> None:
    """A committed block must carry seals from at least a quorum of distinct validators of its
    height (QBFT spec: commit certificate). Raises InvalidSeal with got/expected."""
    members = set(validators)
    signers: set[bytes] = set()
    for signer in recover_seal_signers(block):
        if signer not in members:
            raise InvalidSeal("commit seal by a non-validator", got=signer, expected="a validator")
        if signer in signers:
            raise InvalidSeal("duplicate commit seal", got=signer, expected="one seal per validator")
        signers.add(signer)
    if len(signers) < quorum_size:
        raise InvalidSeal("commit seal count", got=len(signers), expected=quorum_size)


def validate_sealed_block(block: QbftBlock, parent: Head) -> None:
    """A final block: the header rules on its parent and commit seals from a quorum of the
    validators at its height (``parent.validators``). Its timestamp is not held against this
    node's clock: the seals show that a quorum did that before preparing it."""
    validate_block_on_parent(block, parent)
    validate_commit_seals(block, parent.validators, quorum(len(parent.validators)))


def validate_timestamp_not_ahead(block: QbftBlock, now: float) -> None:
    """A block about to be prepared is not stamped ahead of this validator's clock: preparing it
    would let a proposer push the chain's clock ahead (later blocks must be later still)."""
    if block.timestamp > now + MAX_FUTURE_TIMESTAMP_S:
        raise InvalidBlock(
            "block timestamp in the future",
            got=block.timestamp,
            expected=f"<= {int(now) + MAX_FUTURE_TIMESTAMP_S}",
        )


def _hex_list(addresses: Iterable[bytes]) -> list[str]:
    return ["0x" + a.hex() for a in addresses]


# --- messages (each raises a specific InvalidMessage) --------------------------------------------


def validate_proposal(
    p: Proposal,
    height: int,
    current_round: int,
    parent: Head,
    validators: tuple[bytes, ...],
    quorum_size: int,
    expected_proposer: bytes,
    now: float | None = None,
) -> QbftBlock:
    """QBFT spec: a proposal is from the round's proposer, for this height and a round not behind
    ours, names its block by digest, and for round > 0 is justified by round changes. With
    ``now`` (a proposal about to be prepared), its block is not stamped ahead of that clock."""
    if p.height != height:
        raise WrongHeight("proposal height", got=p.height, expected=height)
    if p.round < current_round:
        raise WrongRound("proposal for an old round", got=p.round, expected=f">= {current_round}")
    if p.sender != expected_proposer:
        raise WrongProposer("proposal signer", got=p.sender, expected=expected_proposer)
    block = validate_proposed_block(p.block, p.digest, p.round, parent)
    if p.round == 0:
        if p.round_changes or p.prepares:
            raise InvalidJustification(
                "round 0 proposal justification", got=len(p.round_changes) + len(p.prepares), expected=0
            )
    else:
        validate_round_change_justification(p, height, validators, quorum_size)
    if now is not None:
        try:
            validate_timestamp_not_ahead(block, now)
        except InvalidBlock as exc:
            raise InvalidProposalBlock(exc.what, got=exc.got, expected=exc.expected) from exc
    return block


def validate_proposed_block(raw: bytes, digest: bytes, round_: int, parent: Head) -> QbftBlock:
    """A block proposed (or re-proposed in a round change) for the height after ``parent``: the
    header rules on the parent, the round in its extraData, no seals yet, named by ``digest``."""
    try:
        block = decode_block(raw)
    except InvalidBlock as exc:
        raise InvalidProposalBlock(f"block does not decode: {exc}") from exc
    try:
        validate_block_on_parent(block, parent)
    except InvalidBlock as exc:
        raise InvalidProposalBlock(exc.what, got=exc.got, expected=exc.expected) from exc
    if block.extra.round != round_:
        raise InvalidProposalBlock("block round in extraData", got=block.extra.round, expected=round_)
    if block.extra.seals:
        raise InvalidProposalBlock("proposed block seals", got=len(block.extra.seals), expected=0)
    if block.onchain_hash != digest:
        raise DigestMismatch("proposal digest", got=digest, expected=block.onchain_hash)
    return block


def validate_round_change_justification(
    p: Proposal, height: int, validators: tuple[bytes, ...], quorum_size: int
) -> None:
    """Round r > 0: a quorum of RoundChanges for (height, r) from distinct validators; if any
    carries a prepared certificate, the proposal re-proposes the block of the highest prepared
    round and carries a quorum of Prepares for it (QBFT spec: isProposalJustification)."""
    senders: set[bytes] = set()
    for rc in p.round_changes:
        if rc.height != height or rc.round != p.round:
            raise InvalidJustification(
                "round change in justification", got=(rc.height, rc.round), expected=(height, p.round)
            )
        if rc.sender not in validators:
            raise InvalidJustification(
                "round change by a non-validator", got=rc.sender, expected="a validator"
            )
        if rc.sender in senders:
            raise InvalidJustification(
                "two round changes by one validator", got=rc.sender, expected="distinct"
            )
        if rc.prepared_round is not None and rc.prepared_round >= p.round:
            raise InvalidJustification("prepared round", got=rc.prepared_round, expected=f"< {p.round}")
        senders.add(rc.sender)
    if len(senders) < quorum_size:
        raise InvalidJustification("round change count", got=len(senders), expected=quorum_size)
    prepared = [rc for rc in p.round_changes if rc.prepared_round is not None]
    if not prepared:
        if p.prepares:
            raise InvalidJustification(
                "prepares without a prepared round change", got=len(p.prepares), expected=0
            )
        return
    highest = max(rc.prepared_round or 0 for rc in prepared)
    digests = {rc.prepared_digest for rc in prepared if rc.prepared_round == highest}
    if p.digest not in digests:
        raise InvalidJustification(
            "proposal does not re-propose the highest prepared block",
            got=p.digest,
            expected=sorted(d or b"" for d in digests)[0],
        )
    validate_prepares(p.prepares, height, highest, p.digest, validators, quorum_size)


def validate_prepares(
    prepares: Iterable[Prepare],
    height: int,
    round_: int,
    digest: bytes,
    validators: tuple[bytes, ...],
    quorum_size: int,
) -> None:
    """A prepared certificate: a quorum of Prepares for (height, round, digest), distinct validators."""
    senders: set[bytes] = set()
    for p in prepares:
        if (p.height, p.round) != (height, round_):
            raise InvalidJustification(
                "prepare in certificate", got=(p.height, p.round), expected=(height, round_)
            )
        if p.digest != digest:
            raise InvalidJustification("prepare digest in certificate", got=p.digest, expected=digest)
        if p.sender not in validators:
            raise InvalidJustification("prepare by a non-validator", got=p.sender, expected="a validator")
        if p.sender in senders:
            raise InvalidJustification("two prepares by one validator", got=p.sender, expected="distinct")
        senders.add(p.sender)
    if len(senders) < quorum_size:
        raise InvalidJustification("prepare count in certificate", got=len(senders), expected=quorum_size)


def validate_round_change_certificate(
    rc: RoundChange, height: int, parent: Head, validators: tuple[bytes, ...], quorum_size: int
) -> None:
    """A RoundChange that claims a prepared round must attach that block and a quorum of Prepares."""
    if rc.prepared_round is None:
        return
    if rc.prepared_round >= rc.round:
        raise InvalidJustification("prepared round", got=rc.prepared_round, expected=f"< {rc.round}")
    if rc.prepared_block is None or rc.prepared_digest is None:
        raise InvalidJustification("prepared round change without its block", got=None, expected="block")
    validate_proposed_block(rc.prepared_block, rc.prepared_digest, rc.prepared_round, parent)
    validate_prepares(rc.prepares, height, rc.prepared_round, rc.prepared_digest, validators, quorum_size)


def validate_commit(c: Commit, digest: bytes, block: QbftBlock) -> None:
    """A Commit names the proposal's block and carries its sender's seal over that block at the
    Commit's round."""
    if c.digest != digest:
        raise DigestMismatch("commit digest", got=c.digest, expected=digest)
    try:
        signer = recover_address(block.with_round(c.round).commit_seal_digest, c.seal)
    except InvalidSeal as exc:
        raise InvalidSignature(f"commit seal does not recover: {exc}") from exc
    if signer != c.sender:
        raise InvalidSignature("commit seal signer", got=signer, expected=c.sender)


__all__ = [
    "MAX_FUTURE_TIMESTAMP_S",
    "validate_block_on_parent",
    "validate_commit",
    "validate_commit_seals",
    "validate_prepares",
    "validate_proposal",
    "validate_proposed_block",
    "validate_round_change_certificate",
    "validate_round_change_justification",
    "validate_sealed_block",
    "validate_timestamp_not_ahead",
]
