"""EIP-1186 Merkle proofs (``eth_getProof``) from the stored state trie, and their verification.

The state trie maps ``keccak(address)`` to ``rlp([nonce, balance, storage_root, code_hash])``;
each account's storage trie maps ``keccak(slot)`` to ``rlp(value)`` (value without leading zero
bytes). A proof is the list of RLP trie nodes from the root down the key's path, as geth gives it:
nodes shorter than 32 bytes are embedded in their parent and are not listed on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth_hash.auto import keccak
from trie.hexary import HexaryTrie

from jsc_node.views import AccountProofView, StorageProofView


def _proof_nodes(db: Any, root: bytes, key: bytes) -> tuple[bytes, ...]:
    if root == BLANK_ROOT_HASH:
        return ()
    nodes = HexaryTrie(db, root).get_proof(key)  # type: ignore[no-untyped-call]
    encoded = (rlp.encode(node) for node in nodes)
    # The root is always listed; a node under 32 bytes lives inside its parent (it is not hashed).
    return tuple(node for i, node in enumerate(encoded) if i == 0 or len(node) >= 32)


def account_proof(db: Any, state_root: bytes, address: bytes, slots: Sequence[bytes]) -> AccountProofView:
    """The proof of ``address`` and its ``slots`` (32 bytes each) in the trie under ``state_root``.

    An absent account proves its absence and reads as empty (nonce 0, balance 0, no code, no
    storage), as geth answers."""
    key = keccak(address)
    encoded = HexaryTrie(db, state_root).get(key)
    if encoded:
        nonce, balance, storage_root, code_hash = rlp.decode(encoded)
        nonce, balance = int.from_bytes(nonce, "big"), int.from_bytes(balance, "big")
        storage_root, code_hash = bytes(storage_root), bytes(code_hash)
    else:
        nonce, balance, storage_root, code_hash = 0, 0, BLANK_ROOT_HASH, EMPTY_SHA3
    storage_proofs = []
    storage = HexaryTrie(db, storage_root) if storage_root != BLANK_ROOT_HASH else None
    for slot in slots:
        if storage is None:
            storage_proofs.append(StorageProofView(key=slot, value=0, proof=()))
            continue
        slot_key = keccak(slot)
        raw = storage.get(slot_key)
        value = int.from_bytes(rlp.decode(raw), "big") if raw else 0
        storage_proofs.append(
            StorageProofView(key=slot, value=value, proof=_proof_nodes(db, storage_root, slot_key))
        )
    return AccountProofView(
        address=address,
        account_proof=_proof_nodes(db, state_root, key),
        balance=balance,
        code_hash=code_hash,
        nonce=nonce,
        storage_hash=storage_root,
        storage_proof=tuple(storage_proofs),
    )


def verify_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes:
    """The value under ``key`` that ``proof`` shows in the trie with ``root`` (``b""`` when the
    proof shows the key is absent). Raises ``ValueError`` if the proof does not match the root.

    Independent of the trie that made the proof: the nodes are looked up by their hashes only.
    """
    nodes: Mapping[bytes, bytes] = {keccak(node): node for node in proof}
    if root == BLANK_ROOT_HASH:
        return b""
    if root not in nodes:
        raise ValueError("proof does not start at the root")
    path = _nibbles(key)
    node: Any = rlp.decode(nodes[root])
    while True:
        if len(node) == 17:
            if not path:
                return bytes(node[16])
            child, path = node[path[0]], path[1:]
        elif len(node) == 2:
            prefix, is_leaf = _decode_hex_prefix(bytes(node[0]))
            if is_leaf:
                return bytes(node[1]) if prefix == path else b""
            if path[: len(prefix)] != prefix:
                return b""
            child, path = node[1], path[len(prefix) :]
        else:
            raise ValueError("malformed trie node")
        if child in (b"", []):
            return b""
        if isinstance(child, list):
            node = child  # embedded node
        elif len(child) == 32:
            if bytes(child) not in nodes:
                raise ValueError(f"proof is missing node 0x{bytes(child).hex()}")
            node = rlp.decode(nodes[bytes(child)])
        else:
            raise ValueError("malformed child reference")


def _nibbles(key: bytes) -> list[int]:
    out: list[int] = []
    for byte in key:
        out.extend((byte >> 4, byte & 0x0F))
    return out


def _decode_hex_prefix(encoded: bytes) -> tuple[list[int], bool]:
    nibbles = _nibbles(encoded)
    flag = nibbles[0]
    is_leaf = flag >= 2
    odd = flag % 2 == 1
    return (nibbles[1:] if odd else nibbles[2:]), is_leaf


__all__ = ["account_proof", "verify_proof"]
