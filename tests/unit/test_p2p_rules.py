"""p2p without a network: identity (peer ID <-> Ethereum address), the allowlist, the tx batch
codec, and the gossip validation table (reject vs ignore, with the reason)."""

from __future__ import annotations

import contextlib

import pytest
import rlp
from eth_keys.datatypes import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.consensus.block import address_of, decode_block, sign_commit_seal
from jsc_node.consensus.messages import encode_message, make_commit, make_prepare
from jsc_node.errors import (
    InvalidBlock,
    InvalidGossip,
    InvalidMessage,
    InvalidSignature,
    P2PError,
    PeerIdentityError,
)
from jsc_node.p2p.gossip import (
    GossipSettings,
    Kind,
    Verdict,
    decode_tx_batch,
    encode_tx_batch,
    split_tx_batches,
    topic_name,
    validate_gossip,
)
from jsc_node.p2p.host import PeerAllowlist, address_of_peer, parse_peer_id, peer_id_of
from tests.sim.fakes import make_block, make_keys

KEYS = make_keys(4, salt=7)
VALIDATORS = frozenset(address_of(k) for k in KEYS)
OUTSIDER = make_keys(1, salt=8)[0]
SETTINGS = GossipSettings(max_qbft_bytes=4096, max_tx_batch_bytes=4096, max_tx_bytes=512, max_txs_per_batch=8)


def is_validator(address: bytes) -> bool:
    return address in VALIDATORS


# --- identity ---------------------------------------------------------------------------------


def test_peer_id_embeds_the_key_so_the_address_is_recoverable() -> None:
    for key in KEYS:
        peer_id = peer_id_of(key.to_bytes())
        assert str(peer_id).startswith("16Uiu2")  # secp256k1, identity multihash
        assert address_of_peer(peer_id) == address_of(key)
        assert parse_peer_id(str(peer_id)) == peer_id


def test_bad_keys_and_ids_raise_p2p_errors() -> None:
    with pytest.raises(P2PError, match="32 bytes"):
        peer_id_of(b"\x01" * 31)
    with pytest.raises(P2PError, match="not a valid secp256k1 secret"):
        peer_id_of(b"\x00" * 32)
    with pytest.raises(PeerIdentityError):
        parse_peer_id("not-a-peer-id")
    # An RSA-style peer ID hashes its key: no address can be read from it.
    hashed = parse_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
    with pytest.raises(PeerIdentityError, match="does not inline"):
        address_of_peer(hashed)


def test_allowlist_by_validator_address_extra_peer_and_callable() -> None:
    validator_peer = peer_id_of(KEYS[0].to_bytes())
    outsider_peer = peer_id_of(OUTSIDER.to_bytes())
    allowlist = PeerAllowlist(validators=VALIDATORS)
    assert allowlist.allows(validator_peer)
    assert not allowlist.allows(outsider_peer)
    allowlist.set_extra_peers([outsider_peer])
    assert allowlist.allows(outsider_peer)
    allowlist.set_extra_peers([])
    allowlist.set_validators([])
    assert not allowlist.allows(validator_peer)
    assert PeerAllowlist(extra_check=lambda peer: peer == outsider_peer).allows(outsider_peer)


# --- tx batches -------------------------------------------------------------------------------


@given(st.lists(st.binary(min_size=1, max_size=512), min_size=1, max_size=40))
def test_tx_batches_round_trip_and_respect_the_limits(txs: list[bytes]) -> None:
    batches = split_tx_batches(txs, SETTINGS)
    assert [tx for batch in batches for tx in batch] == txs
    for batch in batches:
        data = encode_tx_batch(batch)
        assert len(data) <= SETTINGS.max_tx_batch_bytes
        assert len(batch) <= SETTINGS.max_txs_per_batch
        assert decode_tx_batch(data, SETTINGS) == batch


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xff\x00", "not valid RLP"),
        (rlp.encode([]), "non-empty RLP list"),
        (rlp.encode(b"abc"), "non-empty RLP list"),
        (rlp.encode([b"tx", [b"nested"]]), "non-empty RLP string"),
        (rlp.encode([b""]), "non-empty RLP string"),
        (rlp.encode([b"x" * 513]), "tx size"),
        (rlp.encode([b"x"] * 9), "tx batch count"),
        (b"\x00" * 4097, "tx batch size"),
    ],
)
def test_bad_tx_batches_are_rejected_with_the_reason(data: bytes, what: str) -> None:
    with pytest.raises(InvalidGossip, match=what):
        decode_tx_batch(data, SETTINGS)


def test_topics_carry_the_chain_id() -> None:
    assert topic_name(1337, Kind.QBFT) == "/jsc/1337/qbft/1"
    assert topic_name(1337, Kind.TXS) == "/jsc/1337/txs/1"
    assert topic_name(7, Kind.BLOCKS) == "/jsc/7/blocks/1"


# --- validation table -------------------------------------------------------------------------


def _prepare(key: PrivateKey = KEYS[0]) -> bytes:
    return encode_message(make_prepare(key, 5, 0, b"\x22" * 32))


def _sealed_block(signers: list[PrivateKey]) -> bytes:
    validators = tuple(sorted(VALIDATORS))

    def block(seals: tuple[bytes, ...]) -> bytes:
        extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, None, 0, seals))
        return make_block(
            parent_hash=b"\x11" * 32,
            number=5,
            timestamp=1_700_000_000,
            coinbase=validators[0],
            extra_data=extra,
        )

    unsealed = decode_block(block(()))
    return block(tuple(sign_commit_seal(k, unsealed) for k in signers))


def _bad_signature() -> bytes:
    items = rlp.decode(_prepare())
    items[2] = b"\x01" * 64 + b"\x05"  # v out of range: does not recover
    encoded: bytes = rlp.encode(items)
    return encoded


@pytest.mark.parametrize(
    ("kind", "data", "error", "what"),
    [
        (Kind.QBFT, b"\x00\x01garbage", InvalidMessage, "not valid RLP"),
        (Kind.QBFT, rlp.encode([b"\x13", b"", b""]), InvalidMessage, "signature length"),
        (Kind.QBFT, _bad_signature(), InvalidSignature, "does not recover"),
        (Kind.QBFT, b"\xc0" * 4097, InvalidGossip, "qbft message size"),
        (Kind.BLOCKS, b"\x01\x02", InvalidBlock, "block"),
        (Kind.BLOCKS, _sealed_block([]), InvalidGossip, "without commit seals"),
        (Kind.TXS, b"\xc3\x80\x80\x80", InvalidGossip, "non-empty RLP string"),
    ],
)
def test_rejected_gossip_names_the_rule(kind: Kind, data: bytes, error: type[Exception], what: str) -> None:
    with pytest.raises(error, match=what):
        validate_gossip(kind, data, SETTINGS, is_validator)


def test_accepted_and_ignored_gossip() -> None:
    assert validate_gossip(Kind.QBFT, _prepare(), SETTINGS, is_validator) is Verdict.ACCEPT
    commit = make_commit(KEYS[1], 5, 0, b"\x22" * 32, b"\x03" * 65)
    assert validate_gossip(Kind.QBFT, encode_message(commit), SETTINGS, is_validator) is Verdict.ACCEPT
    # Signed by a key outside the current set: dropped, nobody blamed (set changes race).
    assert validate_gossip(Kind.QBFT, _prepare(OUTSIDER), SETTINGS, is_validator) is Verdict.IGNORE
    block = _sealed_block(list(KEYS[:3]))
    assert validate_gossip(Kind.BLOCKS, block, SETTINGS, is_validator) is Verdict.ACCEPT
    assert validate_gossip(Kind.BLOCKS, _sealed_block([OUTSIDER]), SETTINGS, is_validator) is Verdict.IGNORE
    assert validate_gossip(Kind.TXS, encode_tx_batch([b"\x02tx"]), SETTINGS, is_validator) is Verdict.ACCEPT


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(Kind)),
    st.one_of(
        st.binary(max_size=600),
        st.recursive(
            st.binary(max_size=40), lambda children: st.lists(children, max_size=6), max_leaves=30
        ).map(rlp.encode),
    ),
)
def test_any_bytes_on_any_topic_raise_only_the_rejection_errors(kind: Kind, data: bytes) -> None:
    with contextlib.suppress(InvalidGossip, InvalidMessage, InvalidBlock):
        validate_gossip(kind, data, SETTINGS, is_validator)
