"""jsc_node/state/evm/patches/senders.py: one recovery per transaction, cached under the transaction's hash.

The cache must never answer for a transaction it did not recover: a changed field or signature is
another hash, so another recovery. Bad signatures still fail as py-evm failed them."""

from __future__ import annotations

import pytest
import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_hash.auto import keccak
from eth_keys import keys
from eth_utils.exceptions import ValidationError

from jsc_node.state.evm import rules
from jsc_node.state.evm.patches import senders

KEY = keys.PrivateKey(b"\x07" * 32)
OTHER = keys.PrivateKey(b"\x08" * 32)
CHAIN_ID = 1337


def _typed(key: keys.PrivateKey = KEY, nonce: int = 0, value: int = 1) -> bytes:
    fields = [CHAIN_ID, nonce, 1, 2, 21_000, b"\x02" * 20, value, b"", []]
    v, r, s = key.sign_msg_hash(keccak(b"\x02" + rlp.encode(fields))).vrs
    return b"\x02" + rlp.encode([*fields, v, r, s])


def _legacy(key: keys.PrivateKey = KEY, nonce: int = 0) -> bytes:
    tx = PragueTransactionBuilder.create_unsigned_transaction(
        nonce=nonce, gas_price=1, gas=21_000, to=b"\x02" * 20, value=1, data=b""
    ).as_signed_transaction(key, chain_id=CHAIN_ID)
    return rlp.encode(tx)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    senders._cache.clear()


@pytest.mark.parametrize("make", [_typed, _legacy])
def test_sender_is_recovered_once_and_found_again_from_a_fresh_decode(make: object) -> None:
    raw = make()  # type: ignore[operator]
    tx = PragueTransactionBuilder.decode(raw)
    before = dict(senders.stats)
    assert senders.recover_sender(tx, keccak(raw)) == KEY.public_key.to_canonical_address()
    assert senders.stats["recoveries"] == before["recoveries"] + 1
    # A block's copy of the same bytes (py-evm asks with the inner payload of a typed tx).
    again = PragueTransactionBuilder.decode(raw)
    inner = getattr(again, "_inner", again)
    assert senders.signed_hash(inner) == keccak(raw) == senders.signed_hash(again)
    assert bytes(again.sender) == KEY.public_key.to_canonical_address()
    assert senders.stats["recoveries"] == before["recoveries"] + 1
    assert senders.stats["hits"] >= before["hits"] + 1


def test_same_signature_on_other_content_is_recovered_not_served_from_the_cache() -> None:
    raw = _typed()
    senders.recover_sender(PragueTransactionBuilder.decode(raw), keccak(raw))
    items = rlp.decode(raw[1:])
    items[6] = (2).to_bytes(1, "big")  # value 1 -> 2, signature kept
    forged = b"\x02" + rlp.encode(items)
    recovered = senders.recover_sender(PragueTransactionBuilder.decode(forged))
    assert recovered != KEY.public_key.to_canonical_address()


def test_matches_eth_keys_for_many_keys() -> None:
    for i in range(1, 20):
        key = keys.PrivateKey(i.to_bytes(32, "big"))
        raw = _typed(key, nonce=i)
        assert (
            senders.recover_sender(PragueTransactionBuilder.decode(raw))
            == key.public_key.to_canonical_address()
        )


def test_unrecoverable_and_out_of_range_signatures_fail_as_before() -> None:
    fields = [CHAIN_ID, 0, 1, 2, 21_000, b"\x02" * 20, 1, b"", []]
    n = rules.SECP256K1_N
    for y, r, s in ((0, n, 1), (0, 1, n), (0, 0, 1)):
        tx = PragueTransactionBuilder.decode(b"\x02" + rlp.encode([*fields, y, r, s]))
        with pytest.raises(ValidationError, match="Bad Signature"):
            senders.recover_sender(tx)
    # Odd but recoverable: the same address eth-keys gives.
    tx = PragueTransactionBuilder.decode(b"\x02" + rlp.encode([*fields, 1, 1, 1]))
    expected = keys.Signature(vrs=(1, 1, 1)).recover_public_key_from_msg(tx.get_message_for_signing())
    assert senders.recover_sender(tx) == expected.to_canonical_address()


def test_high_s_is_refused() -> None:
    raw = _typed()
    items = rlp.decode(raw[1:])
    s = int.from_bytes(items[-1], "big")
    items[-1] = (rules.SECP256K1_N - s).to_bytes(32, "big")
    items[-3] = b"" if items[-3] == b"\x01" else b"\x01"
    tx = PragueTransactionBuilder.decode(b"\x02" + rlp.encode(items))
    with pytest.raises(ValidationError, match="Invalid Signature"):
        tx.check_signature_validity()
