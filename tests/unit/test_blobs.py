"""EIP-4844 blob transactions over RPC: the sidecar is checked, the canonical tx comes out."""

from __future__ import annotations

from pathlib import Path

import ckzg
import orjson
import pytest
import rlp
from eth_hash.auto import keccak

from jsc_node.errors import InvalidTransaction
from jsc_node.state.serve.blobs import _trusted_setup, is_network_form, kzg_to_versioned_hash, strip_sidecar

FIXTURE = (
    Path(__file__).resolve().parents[3] / "shared" / "conformance" / "rpc-compat" / "eth_sendRawTransaction"
)

pytestmark = pytest.mark.skipif(
    not (FIXTURE / "send-blob-tx.io").is_file(), reason="rpc-compat fixtures missing"
)


def _network_tx() -> tuple[bytes, str]:
    lines = (FIXTURE / "send-blob-tx.io").read_text().splitlines()
    request = orjson.loads(next(line for line in lines if line.startswith(">>"))[2:])
    answer = orjson.loads(next(line for line in lines if line.startswith("<<"))[2:])
    return bytes.fromhex(request["params"][0][2:]), answer["result"]


def test_network_form_gives_the_canonical_tx_geth_hashes() -> None:
    raw, tx_hash = _network_tx()
    assert is_network_form(raw)
    canonical = strip_sidecar(raw)
    assert not is_network_form(canonical)
    assert "0x" + keccak(canonical).hex() == tx_hash
    assert len(canonical) < 1024 < len(raw)


def _rebuilt(raw: bytes, change: int, value: object) -> bytes:
    items = rlp.decode(raw[1:])
    items[change] = value
    return b"\x03" + rlp.encode(items)


def test_a_commitment_that_does_not_match_its_versioned_hash_is_refused() -> None:
    raw, _ = _network_tx()
    body, _blobs, _commitments, _proofs = rlp.decode(raw[1:])
    one = bytearray(131_072)
    one[31] = 1  # the blob whose first field element is 1
    other = bytes(ckzg.blob_to_kzg_commitment(bytes(one), _trusted_setup()))
    assert kzg_to_versioned_hash(other) != body[10][0]
    with pytest.raises(InvalidTransaction, match="computed hash"):
        strip_sidecar(_rebuilt(raw, 2, [other]))


def test_counts_must_match_the_versioned_hashes() -> None:
    raw, _ = _network_tx()
    with pytest.raises(InvalidTransaction, match="blobs compared to 1 blob hashes"):
        strip_sidecar(_rebuilt(raw, 1, []))
    with pytest.raises(InvalidTransaction, match="blob proofs expected 1"):
        strip_sidecar(_rebuilt(raw, 3, []))


def test_a_wrong_proof_fails_kzg_verification() -> None:
    raw, _ = _network_tx()
    _body, blobs, _commitments, proofs = rlp.decode(raw[1:])
    blob = bytearray(blobs[0])
    blob[31] ^= 1  # still a valid field element, but not the committed blob
    with pytest.raises(InvalidTransaction, match="invalid blob proof"):
        strip_sidecar(_rebuilt(raw, 1, [bytes(blob)]))
    assert proofs


def test_canonical_type_3_is_not_the_network_form() -> None:
    raw, _ = _network_tx()
    assert not is_network_form(strip_sidecar(raw))
    assert not is_network_form(b"\x02" + raw[1:])


def test_the_eip7594_form_with_cell_proofs_is_accepted() -> None:
    """eth-account (like viem) signs blob txs into the Osaka network form: version 1, cell proofs."""
    from eth_account import Account

    account = Account.from_key("0x" + "11" * 32)
    tx = {
        "type": 3,
        "chainId": 1337,
        "nonce": 0,
        "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "value": 0,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerBlobGas": 10**9,
    }
    signed = account.sign_transaction(tx, blobs=[b"hello blob".ljust(131_072, b"\x00")])
    raw = bytes(signed.raw_transaction)
    items = rlp.decode(raw[1:])
    assert len(items) == 5
    assert items[1] == b"\x01"
    assert is_network_form(raw)
    canonical = strip_sidecar(raw)
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    tx_object = PragueTransactionBuilder.decode(canonical)
    assert tx_object.sender == bytes.fromhex(account.address[2:])
    assert len(tx_object.blob_versioned_hashes) == 1
    # A wrong cell proof is caught.
    items[4][7] = items[4][8]
    with pytest.raises(InvalidTransaction, match="invalid blob proof"):
        strip_sidecar(b"\x03" + rlp.encode(items))
