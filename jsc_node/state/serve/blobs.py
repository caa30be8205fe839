"""EIP-4844 blob transactions as ``eth_sendRawTransaction`` receives them (the network form).

Over RPC a type-3 transaction comes with its sidecar: ``0x03 || rlp([tx_payload_body, blobs,
commitments, proofs])``. :func:`strip_sidecar` checks the sidecar against the transaction (one blob,
commitment and proof per versioned hash; ``versioned_hash == 0x01 || sha256(commitment)[1:]``; the
KZG proofs verify) and returns the canonical form ``0x03 || rlp(tx_payload_body)``, the only part
the pool keeps: a block carries no blobs, and this node serves no blob sidecars.

The EIP-7594 form that wallets already send (``[tx, 1, blobs, commitments, cell_proofs]``, one
proof per cell) is accepted too, its cell proofs checked instead.

KZG verification uses ``ckzg`` with the mainnet trusted setup that py-evm ships for its point
evaluation precompile (``eth/_utils/kzg_trusted_setup.txt``), loaded once on first use.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Final

import ckzg  # type: ignore[import-not-found]  # (no stubs; a C extension)
import eth
import rlp

from jsc_node.errors import InvalidTransaction
from jsc_node.state.evm.rules import BLOB_TX_TYPE, VERSIONED_HASH_VERSION_KZG

BYTES_PER_BLOB: Final = 131_072
BYTES_PER_COMMITMENT: Final = 48
BYTES_PER_PROOF: Final = 48  # a KZG proof, like a commitment, is a G1 point
CELLS_PER_EXT_BLOB: Final = 128  # EIP-7594
WRAPPER_VERSION_CELL_PROOFS: Final = (
    b"\x01"  # EIP-7594 network form: [tx, 1, blobs, commitments, cell_proofs]
)
_MALFORMED: Final = "rlp: blob transaction network form is [tx, blobs, commitments, proofs]"
TRUSTED_SETUP_PATH: Final = Path(eth.__file__).parent / "_utils" / "kzg_trusted_setup.txt"
# Index of blob_versioned_hashes in the EIP-4844 tx payload body (chain_id, nonce, tip, fee cap,
# gas, to, value, data, access_list, max_fee_per_blob_gas, blob_versioned_hashes, y, r, s).
_HASHES_FIELD: Final = 10

_setup_lock = threading.Lock()
_setup: Any = None


def _trusted_setup() -> Any:
    global _setup
    with _setup_lock:
        if _setup is None:
            _setup = ckzg.load_trusted_setup(str(TRUSTED_SETUP_PATH), 0)
        return _setup


def kzg_to_versioned_hash(commitment: bytes) -> bytes:
    """EIP-4844 ``kzg_to_versioned_hash``."""
    return bytes([VERSIONED_HASH_VERSION_KZG]) + hashlib.sha256(commitment).digest()[1:]


def is_network_form(raw: bytes) -> bool:
    """A type-3 envelope whose payload's first item is a list (the wrapped tx), not the chain id."""
    if raw[:1] != bytes([BLOB_TX_TYPE]) or len(raw) < 2:
        return False
    # RLP: the payload is a list; its first item is a list iff its prefix byte is >= 0xc0.
    payload = raw[1:]
    prefix = payload[0]
    if prefix < 0xC0:
        return False
    offset = 1 if prefix <= 0xF7 else 1 + (prefix - 0xF7)
    return len(payload) > offset and payload[offset] >= 0xC0


def strip_sidecar(raw: bytes) -> bytes:
    """The canonical encoding of a blob transaction sent in the network form, after checking
    its sidecar. Raises ``InvalidTransaction`` in geth's words (core/txpool/validation.go)."""
    try:
        items = rlp.decode(raw[1:])
    except rlp.exceptions.RLPException as exc:
        raise InvalidTransaction(f"rlp: {str(exc).splitlines()[0]}") from exc
    if not isinstance(items, list) or not items or not isinstance(items[0], list):
        raise InvalidTransaction(_MALFORMED)
    cell_proofs = False
    if len(items) == 4:
        body, blobs, commitments, proofs = items
    elif len(items) == 5 and items[1] == WRAPPER_VERSION_CELL_PROOFS:
        # EIP-7594 (Osaka) form, which current wallets (eth-account, viem) already send: one
        # proof per cell. The sidecar is dropped either way, so either proof form will do.
        body, _version, blobs, commitments, proofs = items
        cell_proofs = True
    else:
        raise InvalidTransaction(_MALFORMED)
    if len(body) <= _HASHES_FIELD or not isinstance(body[_HASHES_FIELD], list):
        raise InvalidTransaction("rlp: malformed blob transaction")
    if not all(isinstance(x, list) for x in (blobs, commitments, proofs)):
        raise InvalidTransaction("rlp: malformed blob sidecar")
    validate_sidecar(
        [bytes(h) for h in body[_HASHES_FIELD]],
        [bytes(b) for b in blobs],
        [bytes(c) for c in commitments],
        [bytes(p) for p in proofs],
        cell_proofs=cell_proofs,
    )
    return bytes([BLOB_TX_TYPE]) + bytes(rlp.encode(body))


def validate_sidecar(
    hashes: list[bytes],
    blobs: list[bytes],
    commitments: list[bytes],
    proofs: list[bytes],
    cell_proofs: bool = False,
) -> None:
    """geth's ``validateBlobSidecar``: counts, versioned hashes, then the KZG proofs (one per
    blob, or with ``cell_proofs`` one per cell, EIP-7594)."""
    if not hashes:
        raise InvalidTransaction("blobless blob transaction")
    if len(blobs) != len(hashes):
        raise InvalidTransaction(
            f"invalid number of {len(blobs)} blobs compared to {len(hashes)} blob hashes"
        )
    if len(commitments) != len(hashes):
        raise InvalidTransaction(
            f"invalid number of {len(commitments)} blob commitments compared to {len(hashes)} blob hashes"
        )
    want_proofs = len(hashes) * (CELLS_PER_EXT_BLOB if cell_proofs else 1)
    if len(proofs) != want_proofs:
        raise InvalidTransaction(f"invalid number of {len(proofs)} blob proofs expected {want_proofs}")
    sizes_ok = all(len(b) == BYTES_PER_BLOB for b in blobs) and all(
        len(x) == BYTES_PER_COMMITMENT for x in (*commitments, *proofs)
    )
    if not sizes_ok:
        raise InvalidTransaction("invalid blob sidecar: wrong blob, commitment or proof size")
    for i, (commitment, want) in enumerate(zip(commitments, hashes, strict=True)):
        got = kzg_to_versioned_hash(commitment)
        if got != want:
            raise InvalidTransaction(
                f"blob {i}: computed hash 0x{got.hex()} mismatches transaction one 0x{want.hex()}"
            )
    setup = _trusted_setup()
    try:
        if cell_proofs:
            cells = [cell for blob in blobs for cell in ckzg.compute_cells(blob, setup)]
            valid = ckzg.verify_cell_kzg_proof_batch(
                [c for c in commitments for _ in range(CELLS_PER_EXT_BLOB)],
                list(range(CELLS_PER_EXT_BLOB)) * len(blobs),
                cells,
                proofs,
                setup,
            )
        else:
            valid = ckzg.verify_blob_kzg_proof_batch(
                b"".join(blobs), b"".join(commitments), b"".join(proofs), setup
            )
    except RuntimeError as exc:  # ckzg: malformed field element or point
        raise InvalidTransaction(f"invalid blob proof: {exc}") from exc
    if not valid:
        raise InvalidTransaction("invalid blob proof: verification failed")


__all__ = ["is_network_form", "kzg_to_versioned_hash", "strip_sidecar", "validate_sidecar"]
