"""A pure view over block RLP bytes: what QBFT needs to read, hash and seal a block.

The consensus package may not import py-evm, so a block is read here as a generic RLP list:
``[header, transactions, uncles, withdrawals]`` with a Prague header of 21 fields (older header
shapes of at least 15 fields are read too; QBFT only looks at the first 15).

Hash rules (Besu's ``BftBlockHeaderFunctions``):
- on-chain hash = keccak(RLP(header with extraData re-encoded with no seals and round 0)), so a
  block keeps one hash whichever round and whichever quorum of seals committed it;
- commit-seal digest = keccak(RLP(header with extraData re-encoded with no seals, round kept)).
A commit seal is a 65-byte ``r || s || v`` (v in {0, 1}) secp256k1 signature over that digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import rlp
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey
from eth_keys.main import KeyAPI

from jsc_node import rlp_codec
from jsc_node.chainformat import (
    QbftExtraData,
    decode_extra_data,
    encode_extra_data,
)
from jsc_node.errors import InvalidBlock, InvalidSeal

# Never the pure-Python backend: it recovers ~240 signatures/s against ~30,000/s (FIELD-NOTES).
KEYS = KeyAPI(backend="eth_keys.backends.CoinCurveECCBackend")

HEADER_MIN_FIELDS = 15
HEADER_PRAGUE_FIELDS = 21
I_PARENT_HASH = 0
I_COINBASE = 2
I_NUMBER = 8
I_TIMESTAMP = 11
I_EXTRA_DATA = 12
I_MIX_HASH = 13
SIGNATURE_BYTES = 65


def _int(item: bytes, what: str) -> int:
    if item.startswith(b"\x00"):
        raise InvalidBlock(f"header {what} is not a minimal RLP integer", got=item)
    return int.from_bytes(item, "big")


@dataclass(frozen=True)
class QbftBlock:
    """A decoded block, kept as generic RLP items so it re-encodes byte for byte."""

    header: tuple[bytes, ...]
    """Header fields, raw RLP strings."""
    body: tuple[object, ...]
    """Everything after the header in the block list (transactions, uncles, withdrawals)."""
    extra: QbftExtraData = field(compare=False)
    """The header's extraData, decoded."""

    @property
    def parent_hash(self) -> bytes:
        return self.header[I_PARENT_HASH]

    @property
    def coinbase(self) -> bytes:
        """The block's proposer (Besu reads the proposer of a QBFT block from its coinbase)."""
        return self.header[I_COINBASE]

    @property
    def number(self) -> int:
        return _int(self.header[I_NUMBER], "number")

    @property
    def timestamp(self) -> int:
        return _int(self.header[I_TIMESTAMP], "timestamp")

    @property
    def extra_data(self) -> bytes:
        return self.header[I_EXTRA_DATA]

    @property
    def mix_hash(self) -> bytes:
        return self.header[I_MIX_HASH]

    @property
    def tx_count(self) -> int:
        txs = self.body[0] if self.body else []
        return len(txs) if isinstance(txs, list) else 0

    def _header_with_extra(self, extra: QbftExtraData) -> list[bytes]:
        fields = list(self.header)
        fields[I_EXTRA_DATA] = encode_extra_data(extra)
        return fields

    @cached_property
    def onchain_hash(self) -> bytes:
        """The block hash: extraData without seals and with round 0."""
        return keccak(rlp_codec.encode(self._header_with_extra(replace(self.extra, seals=(), round=0))))

    @cached_property
    def commit_seal_digest(self) -> bytes:
        """What a commit seal signs: extraData without seals, round kept."""
        return keccak(rlp_codec.encode(self._header_with_extra(replace(self.extra, seals=()))))

    def with_extra(self, extra: QbftExtraData) -> QbftBlock:
        return QbftBlock(header=tuple(self._header_with_extra(extra)), body=self.body, extra=extra)

    def with_round(self, round_: int) -> QbftBlock:
        if round_ == self.extra.round:
            return self
        return self.with_extra(replace(self.extra, round=round_))

    def with_seals(self, seals: Sequence[bytes]) -> QbftBlock:
        if tuple(seals) == self.extra.seals:
            return self
        return self.with_extra(replace(self.extra, seals=tuple(seals)))

    def encode(self) -> bytes:
        encoded: bytes = rlp_codec.encode([list(self.header), *self.body])
        return encoded


def decode_block(raw: bytes) -> QbftBlock:
    """Read block RLP; raises InvalidBlock naming what is wrong (never a bare rlp error)."""
    return _decode_block_cached(bytes(raw))


@lru_cache(maxsize=1024)
def _decode_block_cached(raw: bytes) -> QbftBlock:
    try:
        items = rlp.decode(raw, strict=True)
    except rlp.DecodingError as exc:
        raise InvalidBlock(f"block is not valid RLP: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise InvalidBlock("block must be a non-empty RLP list")
    header = items[0]
    if not isinstance(header, list) or len(header) < HEADER_MIN_FIELDS:
        got = len(header) if isinstance(header, list) else "bytes"
        raise InvalidBlock("header field count", got=got, expected=HEADER_PRAGUE_FIELDS)
    if not all(isinstance(item, bytes) for item in header):
        raise InvalidBlock("header fields must all be RLP strings")
    if len(header[I_COINBASE]) != 20 or len(header[I_PARENT_HASH]) != 32:
        raise InvalidBlock("header coinbase/parent hash length", got=len(header[I_COINBASE]), expected=20)
    view = QbftBlock(
        header=tuple(header), body=tuple(items[1:]), extra=decode_extra_data(header[I_EXTRA_DATA])
    )
    _ = view.number, view.timestamp  # fail now, not later, on a non-minimal integer
    return view


def decode_header(header_rlp: bytes) -> QbftBlock:
    """A QbftBlock of a header alone (empty body): what validator history reads."""
    return decode_block(rlp.encode([rlp.decode(header_rlp), [], []]))


def onchain_hash(block_rlp: bytes) -> bytes:
    return decode_block(block_rlp).onchain_hash


def commit_seal_digest(block_rlp: bytes) -> bytes:
    return decode_block(block_rlp).commit_seal_digest


# --- signatures ------------------------------------------------------------------------------


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """A 65-byte r || s || v (v in {0, 1}) secp256k1 signature over a 32-byte digest."""
    signature: bytes = KEYS.ecdsa_sign(digest, key).to_bytes()
    return signature


def recover_address(digest: bytes, signature: bytes) -> bytes:
    """The address that signed ``digest``; raises InvalidSeal if the signature cannot recover.

    Results are cached by (digest, signature): gossip delivers one message many times and a
    proposal's justification repeats signatures already checked.
    """
    return _recover_cached(bytes(digest), bytes(signature))


@lru_cache(maxsize=16384)
def _recover_cached(digest: bytes, signature: bytes) -> bytes:
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidSeal("signature length", got=len(signature), expected=SIGNATURE_BYTES)
    if signature[64] not in (0, 1):
        raise InvalidSeal("signature v", got=signature[64], expected="0 or 1")
    try:
        public_key = KEYS.ecdsa_recover(digest, KEYS.Signature(signature))
    except Exception as exc:  # eth_keys raises BadSignature/ValidationError, coincurve ValueError
        raise InvalidSeal(f"signature does not recover: {exc}") from exc
    address: bytes = public_key.to_canonical_address()
    return address


def sign_commit_seal(key: PrivateKey, block: QbftBlock) -> bytes:
    return sign_digest(key, block.commit_seal_digest)


def recover_seal_signers(block: QbftBlock) -> list[bytes]:
    """Signers of the block's commit seals, in seal order; raises InvalidSeal on a bad seal."""
    digest = block.commit_seal_digest
    return [recover_address(digest, seal) for seal in block.extra.seals]


def address_of(key: PrivateKey) -> bytes:
    address: bytes = key.public_key.to_canonical_address()
    return address


def private_key(secret: bytes) -> PrivateKey:
    """An eth_keys private key bound to the coincurve backend."""
    return KEYS.PrivateKey(secret)
