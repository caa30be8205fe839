"""QBFT messages: Proposal, Prepare, Commit, RoundChange; their signing and their wire codec.

Envelope (ours, not Besu's devp2p framing): ``RLP([type, payload, signature, *attachments])``.
``payload`` is an RLP string holding the RLP-encoded payload list; ``signature`` is the sender's
65-byte secp256k1 signature over ``keccak(bytes([type]) || payload)``. The sender is recovered from
the signature, never carried. Type codes are Besu's QBFT message codes.

Payloads (the part a signature covers):
- Proposal     ``[height, round, digest]``       attachments: block RLP, round-change
  justification (signed RoundChanges without attachments), prepare justification (Prepares)
- Prepare      ``[height, round, digest]``
- Commit       ``[height, round, digest, commit_seal]``
- RoundChange  ``[height, round, [] | [prepared_round, prepared_digest]]``  attachments: the
  prepared block RLP (or empty) and the Prepares that prove it

As in Besu's QBFT, the proposed block and the prepared certificate travel next to the signed part
rather than inside it: the digest (the block's on-chain hash) binds them, and each Prepare carries
its own signature. ``digest`` is always the on-chain hash (no seals, round 0), so one block
re-proposed in a later round keeps its digest; the block's round is checked separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import rlp
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey

from jsc_node import rlp_codec
from jsc_node.consensus.block import SIGNATURE_BYTES, recover_address, sign_digest
from jsc_node.errors import InvalidSeal, InvalidSignature, MalformedMessage

PROPOSAL = 0x12
PREPARE = 0x13
COMMIT = 0x14
ROUND_CHANGE = 0x15
MESSAGE_TYPES = (PROPOSAL, PREPARE, COMMIT, ROUND_CHANGE)
DIGEST_BYTES = 32
# Far more than any validator set we run; keeps a hostile justification from costing unbounded work.
MAX_JUSTIFICATION_ITEMS = 256
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Prepare:
    height: int
    round: int
    digest: bytes
    """On-chain hash of the proposed block."""
    sender: bytes = field(compare=False)
    """Recovered signer address."""
    signature: bytes = field(compare=False)


@dataclass(frozen=True)
class Commit:
    height: int
    round: int
    digest: bytes
    seal: bytes
    """Commit seal: the sender's signature over the block's commit-seal digest for this round."""
    sender: bytes = field(compare=False)
    signature: bytes = field(compare=False)


@dataclass(frozen=True)
class RoundChange:
    height: int
    round: int
    """The round the sender wants to move to."""
    prepared_round: int | None
    """Highest round in which the sender saw a quorum of Prepares, if any."""
    prepared_digest: bytes | None
    sender: bytes = field(compare=False)
    signature: bytes = field(compare=False)
    prepared_block: bytes | None = field(default=None, compare=False)
    """Attachment: the prepared block, so the next proposer can re-propose it."""
    prepares: tuple[Prepare, ...] = field(default=(), compare=False)
    """Attachment: the quorum of Prepares that prove the prepared certificate."""

    def signed_only(self) -> RoundChange:
        """This round change without its attachments, as a proposal's justification carries it."""
        return RoundChange(
            self.height, self.round, self.prepared_round, self.prepared_digest, self.sender, self.signature
        )


@dataclass(frozen=True)
class Proposal:
    height: int
    round: int
    digest: bytes
    sender: bytes = field(compare=False)
    signature: bytes = field(compare=False)
    block: bytes = field(default=b"", compare=False)
    """Attachment: the proposed block's RLP, with this round in its extraData and no seals."""
    round_changes: tuple[RoundChange, ...] = field(default=(), compare=False)
    """Attachment: for round > 0, a quorum of signed RoundChanges for this round."""
    prepares: tuple[Prepare, ...] = field(default=(), compare=False)
    """Attachment: the Prepares of the highest prepared certificate among the round changes."""


Message = Proposal | Prepare | Commit | RoundChange


# --- payloads ---------------------------------------------------------------------------------


def _payload_items(msg: Message) -> list[object]:
    if isinstance(msg, Commit):
        return [msg.height, msg.round, msg.digest, msg.seal]
    if isinstance(msg, RoundChange):
        prepared: list[object] = []
        if msg.prepared_round is not None and msg.prepared_digest is not None:
            prepared = [msg.prepared_round, msg.prepared_digest]
        return [msg.height, msg.round, prepared]
    return [msg.height, msg.round, msg.digest]


def message_type(msg: Message) -> int:
    if isinstance(msg, Proposal):
        return PROPOSAL
    if isinstance(msg, Prepare):
        return PREPARE
    if isinstance(msg, Commit):
        return COMMIT
    return ROUND_CHANGE


def _signing_digest(type_: int, payload: bytes) -> bytes:
    return keccak(bytes([type_]) + payload)


def _sign(key: PrivateKey, type_: int, items: list[object]) -> bytes:
    return sign_digest(key, _signing_digest(type_, rlp_codec.encode(items)))


# --- constructors (sign with the validator key) ------------------------------------------------


def make_prepare(key: PrivateKey, height: int, round_: int, digest: bytes) -> Prepare:
    sender = key.public_key.to_canonical_address()
    signature = _sign(key, PREPARE, [height, round_, digest])
    return Prepare(height, round_, digest, sender, signature)


def make_commit(key: PrivateKey, height: int, round_: int, digest: bytes, seal: bytes) -> Commit:
    sender = key.public_key.to_canonical_address()
    signature = _sign(key, COMMIT, [height, round_, digest, seal])
    return Commit(height, round_, digest, seal, sender, signature)


def make_round_change(
    key: PrivateKey,
    height: int,
    round_: int,
    prepared_round: int | None = None,
    prepared_digest: bytes | None = None,
    prepared_block: bytes | None = None,
    prepares: Sequence[Prepare] = (),
) -> RoundChange:
    sender = key.public_key.to_canonical_address()
    unsigned = RoundChange(height, round_, prepared_round, prepared_digest, sender, b"")
    signature = _sign(key, ROUND_CHANGE, _payload_items(unsigned))
    return RoundChange(
        height, round_, prepared_round, prepared_digest, sender, signature, prepared_block, tuple(prepares)
    )


def make_proposal(
    key: PrivateKey,
    height: int,
    round_: int,
    digest: bytes,
    block: bytes,
    round_changes: Sequence[RoundChange] = (),
    prepares: Sequence[Prepare] = (),
) -> Proposal:
    sender = key.public_key.to_canonical_address()
    signature = _sign(key, PROPOSAL, [height, round_, digest])
    return Proposal(
        height,
        round_,
        digest,
        sender,
        signature,
        block,
        tuple(rc.signed_only() for rc in round_changes),
        tuple(prepares),
    )


# --- encoding ---------------------------------------------------------------------------------


def _envelope(msg: Message) -> list[object]:
    type_ = message_type(msg)
    return [type_, rlp_codec.encode(_payload_items(msg)), msg.signature]


def _items(msg: Message) -> list[object]:
    items = _envelope(msg)
    if isinstance(msg, Proposal):
        items += [
            msg.block,
            [_envelope(rc) for rc in msg.round_changes],
            [_envelope(p) for p in msg.prepares],
        ]
    elif isinstance(msg, RoundChange) and (msg.prepared_block is not None or msg.prepares):
        items += [msg.prepared_block or b"", [_envelope(p) for p in msg.prepares]]
    return items


def encode_message(msg: Message) -> bytes:
    encoded: bytes = rlp_codec.encode(_items(msg))
    return encoded


# --- decoding ---------------------------------------------------------------------------------


def decode_message(raw: bytes) -> Message:
    """Decode and recover the sender. Raises MalformedMessage for bytes of the wrong shape and
    InvalidSignature for a signature that does not recover; never a bare rlp error.

    Cached by bytes: gossip delivers one message several times (messages are immutable)."""
    return _decode_cached(bytes(raw))


@lru_cache(maxsize=4096)
def _decode_cached(raw: bytes) -> Message:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MalformedMessage("message size", got=len(raw), expected=f"<= {MAX_MESSAGE_BYTES}")
    try:
        items = rlp.decode(raw, strict=True)
    except (rlp.DecodingError, rlp.DeserializationError) as exc:
        raise MalformedMessage(f"message is not valid RLP: {exc}") from exc
    return _decode_items(items, allow_attachments=True)


def _decode_items(items: object, *, allow_attachments: bool) -> Message:
    if not isinstance(items, list) or len(items) not in (3, 5, 6):
        raise MalformedMessage("envelope item count", got=_count(items), expected="3, 5 or 6")
    type_ = _uint(items[0], "message type")
    if type_ not in MESSAGE_TYPES:
        raise MalformedMessage("message type", got=type_, expected="0x12..0x15")
    payload, signature = items[1], items[2]
    if not isinstance(payload, bytes):
        raise MalformedMessage("payload must be an RLP string")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise MalformedMessage("signature length", got=_count(signature), expected=SIGNATURE_BYTES)
    try:
        fields = rlp.decode(payload, strict=True)
    except (rlp.DecodingError, rlp.DeserializationError) as exc:
        raise MalformedMessage(f"payload is not valid RLP: {exc}") from exc
    if not isinstance(fields, list):
        raise MalformedMessage("payload must be an RLP list")
    attachments = items[3:]
    expected_extra = {PROPOSAL: (0, 3), ROUND_CHANGE: (0, 2)}.get(type_, (0,))
    if len(attachments) not in expected_extra or (attachments and not allow_attachments):
        raise MalformedMessage("attachment count", got=len(attachments), expected=expected_extra)
    try:
        sender = recover_address(_signing_digest(type_, payload), signature)
    except InvalidSeal as exc:
        raise InvalidSignature(f"message signature does not recover: {exc}") from exc
    if type_ == PREPARE:
        height, round_, digest = _fields(fields, 3, "prepare")
        return Prepare(_uint(height, "height"), _uint(round_, "round"), _digest(digest), sender, signature)
    if type_ == COMMIT:
        height, round_, digest, seal = _fields(fields, 4, "commit")
        if not isinstance(seal, bytes) or len(seal) != SIGNATURE_BYTES:
            raise MalformedMessage("commit seal length", got=_count(seal), expected=SIGNATURE_BYTES)
        return Commit(
            _uint(height, "height"), _uint(round_, "round"), _digest(digest), seal, sender, signature
        )
    if type_ == ROUND_CHANGE:
        height, round_, prepared = _fields(fields, 3, "round change")
        prepared_round: int | None = None
        prepared_digest: bytes | None = None
        if not isinstance(prepared, list) or len(prepared) not in (0, 2):
            raise MalformedMessage("round change prepared item", got=_count(prepared), expected="0 or 2")
        if prepared:
            prepared_round = _uint(prepared[0], "prepared round")
            prepared_digest = _digest(prepared[1])
        block: bytes | None = None
        prepares: tuple[Prepare, ...] = ()
        if attachments:
            block_item = attachments[0]
            if not isinstance(block_item, bytes):
                raise MalformedMessage("round change block must be an RLP string")
            block = block_item or None
            prepares = _prepares(attachments[1])
        return RoundChange(
            _uint(height, "height"),
            _uint(round_, "round"),
            prepared_round,
            prepared_digest,
            sender,
            signature,
            block,
            prepares,
        )
    height, round_, digest = _fields(fields, 3, "proposal")
    if len(attachments) != 3:
        raise MalformedMessage("proposal attachment count", got=len(attachments), expected=3)
    block_item, rc_items, prepare_items = attachments
    if not isinstance(block_item, bytes) or not block_item:
        raise MalformedMessage("proposal block must be a non-empty RLP string")
    if not isinstance(rc_items, list) or len(rc_items) > MAX_JUSTIFICATION_ITEMS:
        raise MalformedMessage("round change justification", got=_count(rc_items), expected="a short list")
    round_changes = []
    for item in rc_items:
        rc = _decode_items(item, allow_attachments=False)
        if not isinstance(rc, RoundChange):
            raise MalformedMessage("justification item type", got=message_type(rc), expected=ROUND_CHANGE)
        round_changes.append(rc)
    return Proposal(
        _uint(height, "height"),
        _uint(round_, "round"),
        _digest(digest),
        sender,
        signature,
        block_item,
        tuple(round_changes),
        _prepares(prepare_items),
    )


def _prepares(items: object) -> tuple[Prepare, ...]:
    if not isinstance(items, list) or len(items) > MAX_JUSTIFICATION_ITEMS:
        raise MalformedMessage("prepare justification", got=_count(items), expected="a short list")
    prepares = []
    for item in items:
        msg = _decode_items(item, allow_attachments=False)
        if not isinstance(msg, Prepare):
            raise MalformedMessage("justification item type", got=message_type(msg), expected=PREPARE)
        prepares.append(msg)
    return tuple(prepares)


def _fields(fields: list[object], count: int, what: str) -> list[object]:
    if len(fields) != count:
        raise MalformedMessage(f"{what} payload item count", got=len(fields), expected=count)
    return fields


def _uint(item: object, what: str) -> int:
    if not isinstance(item, bytes) or item.startswith(b"\x00") or len(item) > 8:
        raise MalformedMessage(f"{what} must be a minimal RLP integer below 2**64", got=_count(item))
    return int.from_bytes(item, "big")


def _digest(item: object) -> bytes:
    if not isinstance(item, bytes) or len(item) != DIGEST_BYTES:
        raise MalformedMessage("digest length", got=_count(item), expected=DIGEST_BYTES)
    return item


def _count(item: object) -> int | str:
    return len(item) if isinstance(item, (bytes, list)) else type(item).__name__


# --- prepared certificate (persisted with the own Commit, see engine.PersistOwnMessage) ----------


@dataclass(frozen=True)
class PreparedCertificate:
    round: int
    block: bytes
    """The prepared block's RLP, with ``round`` in its extraData."""
    prepares: tuple[Prepare, ...]


def encode_prepared_certificate(cert: PreparedCertificate) -> bytes:
    encoded: bytes = rlp_codec.encode([cert.round, cert.block, [_envelope(p) for p in cert.prepares]])
    return encoded


def decode_prepared_certificate(raw: bytes) -> PreparedCertificate:
    try:
        items = rlp.decode(raw, strict=True)
    except (rlp.DecodingError, rlp.DeserializationError) as exc:
        raise MalformedMessage(f"prepared certificate is not valid RLP: {exc}") from exc
    if not isinstance(items, list) or len(items) != 3 or not isinstance(items[1], bytes):
        raise MalformedMessage("prepared certificate shape", got=_count(items), expected=3)
    return PreparedCertificate(_uint(items[0], "prepared round"), items[1], _prepares(items[2]))
