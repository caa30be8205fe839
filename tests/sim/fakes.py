"""Small hand-built blocks in the Prague header shape, and validator keys, for tests and the sim."""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey

from jsc_node.chainformat import BFT_MIX_HASH, genesis_extra_data
from jsc_node.consensus.block import QbftBlock, address_of, decode_block, private_key

EMPTY_LIST_HASH = keccak(rlp.encode([]))
EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
ZERO32 = b"\x00" * 32
# A transaction payload the fake execution refuses: lets Byzantine proposers build invalid blocks.
BAD_TX = b"\xba\xd0"


def make_header(
    *,
    parent_hash: bytes,
    number: int,
    timestamp: int,
    coinbase: bytes,
    extra_data: bytes,
    gas_limit: int = 30_000_000,
    tx_root: bytes = EMPTY_TRIE_ROOT,
) -> list[object]:
    """The 21 fields of a Prague header, in order."""
    return [
        parent_hash,
        EMPTY_LIST_HASH,  # uncles hash
        coinbase,
        ZERO32,  # state root
        tx_root,
        EMPTY_TRIE_ROOT,  # receipts root
        b"\x00" * 256,  # logs bloom
        0,  # difficulty
        number,
        gas_limit,
        0,  # gas used
        timestamp,
        extra_data,
        BFT_MIX_HASH,
        b"\x00" * 8,  # nonce
        7,  # base fee
        EMPTY_TRIE_ROOT,  # withdrawals root
        0,  # blob gas used
        0,  # excess blob gas
        ZERO32,  # parent beacon block root
        ZERO32,  # requests hash
    ]


def make_block(
    *,
    parent_hash: bytes,
    number: int,
    timestamp: int,
    coinbase: bytes,
    extra_data: bytes,
    txs: Sequence[bytes] = (),
) -> bytes:
    tx_root = keccak(rlp.encode(list(txs))) if txs else EMPTY_TRIE_ROOT
    header = make_header(
        parent_hash=parent_hash,
        number=number,
        timestamp=timestamp,
        coinbase=coinbase,
        extra_data=extra_data,
        tx_root=tx_root,
    )
    encoded: bytes = rlp.encode([header, list(txs), [], []])
    return encoded


def make_genesis(validators: Sequence[bytes], timestamp: int = 0) -> QbftBlock:
    raw = make_block(
        parent_hash=ZERO32,
        number=0,
        timestamp=timestamp,
        coinbase=b"\x00" * 20,
        extra_data=genesis_extra_data(sorted(validators)),
    )
    return decode_block(raw)


def make_keys(n: int, salt: int = 0) -> list[PrivateKey]:
    """Deterministic validator keys."""
    return [private_key(keccak(f"jsc-sim-{salt}-{i}".encode())) for i in range(n)]


def addresses(keys: Sequence[PrivateKey]) -> list[bytes]:
    return [address_of(k) for k in keys]
