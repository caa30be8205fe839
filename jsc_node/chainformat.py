"""QBFT header extraData, byte-compatible with Besu's QBFT codec.

Layout: ``RLP([vanity (32 bytes), [validator addresses], vote, round, [commit seals]])`` where
``vote`` is ``[]`` (no vote) or ``[address, 0xff]`` (add) / ``[address, 0x]`` (drop), ``round`` is an
RLP integer scalar and each commit seal is a 65-byte ``r || s || v`` secp256k1 signature.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import rlp

from jsc_node import rlp_codec
from jsc_node.errors import InvalidBlock

VANITY_BYTES = 32
ADDRESS_BYTES = 20
SEAL_BYTES = 65
VOTE_ADD_BYTE = b"\xff"
VOTE_DROP_BYTE = b""
# mixHash of every BFT block: ASCII "ctical byzantine fault tolerance" (Besu's BftHelpers.EXPECTED_MIX_HASH).
BFT_MIX_HASH = bytes.fromhex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365")


@dataclass(frozen=True)
class Vote:
    recipient: bytes
    """Address the vote is about."""
    add: bool
    """True to add the recipient to the validator set, False to remove it."""


@dataclass(frozen=True)
class QbftExtraData:
    vanity: bytes
    """32 bytes, free for the proposer (zeroes by default)."""
    validators: tuple[bytes, ...]
    """The validators of this block (the set after the parent's votes, which seals it), sorted
    ascending (Besu's BftValidatorsValidationRule compares it with getValidatorsAfterBlock(parent))."""
    vote: Vote | None = None
    """The proposer's validator vote carried by this block, if any."""
    round: int = 0
    """QBFT round in which the block was committed."""
    seals: tuple[bytes, ...] = ()
    """Commit seals: 65-byte signatures over the block's commit-seal hash."""

    def without_seals(self) -> QbftExtraData:
        return replace(self, seals=())


def encode_extra_data(data: QbftExtraData) -> bytes:
    vote: list[bytes] = []
    if data.vote is not None:
        vote = [data.vote.recipient, VOTE_ADD_BYTE if data.vote.add else VOTE_DROP_BYTE]
    encoded: bytes = rlp_codec.encode(
        [data.vanity, list(data.validators), vote, data.round, list(data.seals)]
    )
    return encoded


def decode_extra_data(raw: bytes) -> QbftExtraData:
    """Decode and check the shape; raises InvalidBlock naming what is wrong."""
    try:
        items = rlp.decode(raw, strict=True)
    except rlp.DecodingError as exc:
        raise InvalidBlock(f"extraData is not valid RLP: {exc}") from exc
    if not isinstance(items, list) or len(items) != 5:
        raise InvalidBlock("extraData item count", got=_len(items), expected=5)
    vanity, validators, vote_item, round_item, seals = items
    if not isinstance(vanity, bytes) or len(vanity) != VANITY_BYTES:
        raise InvalidBlock("extraData vanity length", got=_len(vanity), expected=VANITY_BYTES)
    if not isinstance(validators, list) or not all(
        isinstance(v, bytes) and len(v) == ADDRESS_BYTES for v in validators
    ):
        raise InvalidBlock("extraData validators must be a list of 20-byte addresses")
    vote: Vote | None = None
    if not isinstance(vote_item, list):
        raise InvalidBlock("extraData vote must be a list")
    if vote_item:
        if (
            len(vote_item) != 2
            or not isinstance(vote_item[0], bytes)
            or len(vote_item[0]) != ADDRESS_BYTES
            or vote_item[1] not in (VOTE_ADD_BYTE, VOTE_DROP_BYTE)
        ):
            raise InvalidBlock("extraData vote must be [address, 0xff | 0x]")
        vote = Vote(recipient=vote_item[0], add=vote_item[1] == VOTE_ADD_BYTE)
    if not isinstance(round_item, bytes) or round_item.startswith(b"\x00"):
        raise InvalidBlock("extraData round must be a minimal RLP integer")
    if not isinstance(seals, list) or not all(isinstance(s, bytes) and len(s) == SEAL_BYTES for s in seals):
        raise InvalidBlock("extraData seals must be a list of 65-byte signatures")
    return QbftExtraData(
        vanity=vanity,
        validators=tuple(validators),
        vote=vote,
        round=int.from_bytes(round_item, "big"),
        seals=tuple(seals),
    )


def extra_data_for_commit_seal(raw: bytes) -> bytes:
    """extraData with an empty seal list: what a commit seal signs (round kept)."""
    return encode_extra_data(decode_extra_data(raw).without_seals())


def extra_data_for_onchain_hash(raw: bytes) -> bytes:
    """extraData with no seals and round 0: what the block hash covers, so a block keeps one
    hash whichever quorum of seals and whichever round committed it (Besu's
    EXCLUDE_COMMIT_SEALS_AND_ROUND_NUMBER encoding)."""
    return encode_extra_data(replace(decode_extra_data(raw), seals=(), round=0))


def genesis_extra_data(validators: list[bytes]) -> bytes:
    return encode_extra_data(QbftExtraData(vanity=b"\x00" * VANITY_BYTES, validators=tuple(validators)))


def _len(value: object) -> int | str:
    return len(value) if isinstance(value, (bytes, list)) else type(value).__name__
