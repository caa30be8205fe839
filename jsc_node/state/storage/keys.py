"""Every key the node writes to LevelDB, in one table: the one place a new key goes.

The execution process writes the chain database through py-evm (``eth.db.chain.ChainDB``, the
account database and the VM), always into a block's ``Overlay`` that one LevelDB batch flushes
(state/storage/leveldb.py). Two key spaces result. Named keys come from py-evm's
``eth.db.schema.SchemaV1``; their entries below are built from SchemaV1's own functions and a key
is classified only if that function gives back the same bytes, so a py-evm upgrade that changes a
layout fails tests/unit/test_storage_keys.py instead of leaving an unreadable data dir. Hash keys
are 32 bytes with no prefix, as py-evm lays them out: a header under its block hash (for a QBFT
header the BFT hash, which leaves out seals and round, so it is not the keccak of the stored
bytes), and everything content-addressed under the keccak of its value (trie nodes, contract
code, uncle lists); a hash key is told apart by its value. The node adds no key of its own (its
pool journal, consensus message log and node key are files beside LevelDB). A key the node starts
to write, through py-evm or its own code, gets an entry in ``KEYS`` here: the key test runs a
chain and refuses any stored key no entry claims.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth.db.schema import SchemaV1
from eth_hash.auto import keccak

HASH_BYTES = 32
HEADER_FIELDS_MIN = 15
"""A Frontier header has 15 fields; each later fork appends (Prague: 21)."""
BLOOM_BYTES = 256
BLOOM_FIELD = 6
"""logsBloom's place in every header (Yellow Paper, the block header): no trie node holds a 256-byte item there."""


@dataclass(frozen=True)
class KeyKind:
    """One entry of the table: a layout of keys, with what they hold and who writes and reads them."""

    name: str
    layout: str
    """The key's bytes, as built."""
    value: str
    written_by: str
    read_by: str
    matches: Callable[[bytes, bytes], bool] = field(repr=False, compare=False)
    """True if this (key, value) pair is one of this entry's."""


def _named(make: Callable[[], bytes], name: str, value: str, written_by: str, read_by: str) -> KeyKind:
    key = make()
    return KeyKind(name, repr(key), value, written_by, read_by, lambda k, _v: k == key)


def _stem(make: Callable[[Any], bytes], samples: tuple[Any, ...], render: Callable[[Any], bytes]) -> bytes:
    """The constant part of ``make``'s keys, checked on several arguments (py-evm formats them
    into the key: ``str`` for numbers, ``repr`` for hashes, which quotes with " when a hash holds
    a ' byte and no ")."""
    stems = {make(sample).removesuffix(render(sample)) for sample in samples}
    stem = stems.pop()
    if stems or not stem or any(make(s) != stem + render(s) for s in samples):
        raise RuntimeError(f"py-evm's SchemaV1.{make.__name__} no longer lays keys out as prefix + argument")
    return stem


def _by_number(make: Callable[[Any], bytes], name: str, value: str, written_by: str, read_by: str) -> KeyKind:
    stem = _stem(make, (0, 7, 10**12), lambda n: str(n).encode())

    def matches(key: bytes, _value: bytes) -> bool:
        rest = key[len(stem) :]
        return key.startswith(stem) and rest.isdigit() and make(int(rest)) == key

    layout = f"{stem!r} + block number (decimal ASCII)"
    return KeyKind(name, layout, value, written_by, read_by, matches)


def _by_hash(make: Callable[[Any], bytes], name: str, value: str, written_by: str, read_by: str) -> KeyKind:
    samples = (
        b"\x00" * HASH_BYTES,
        b"'" * HASH_BYTES,
        b"'\"" * (HASH_BYTES // 2),
        b"\\a" * (HASH_BYTES // 2),
    )
    stem = _stem(make, samples, lambda h: repr(h).encode())

    def matches(key: bytes, _value: bytes) -> bool:
        if not key.startswith(stem):
            return False
        try:
            argument = ast.literal_eval(key[len(stem) :].decode("ascii"))
        except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
            return False
        return isinstance(argument, bytes) and len(argument) == HASH_BYTES and make(argument) == key

    layout = f"{stem!r} + Python repr of the 32-byte hash: b'...', or b\"...\" when it holds a ' and no \""
    return KeyKind(name, layout, value, written_by, read_by, matches)


def _is_header(key: bytes, value: bytes) -> bool:
    if len(key) != HASH_BYTES:
        return False
    try:
        items = rlp.decode(value)
    except rlp.DecodingError:
        return False
    return (
        isinstance(items, list)
        and len(items) >= HEADER_FIELDS_MIN
        and all(isinstance(item, bytes) for item in items)
        and len(items[0]) == HASH_BYTES
        and len(items[BLOOM_FIELD]) == BLOOM_BYTES
    )


def _is_content_addressed(key: bytes, value: bytes) -> bool:
    return len(key) == HASH_BYTES and keccak(value) == key


_PERSIST = "ChainDB.persist_block (Executor: genesis, build_block, validate_block)"
_CANONICAL = f"{_PERSIST}; make_canonical_head at commit of a side chain's block"

CANONICAL_HEAD = _named(
    SchemaV1.make_canonical_head_hash_lookup_key,
    name="canonical head",
    value="the head block's hash",
    written_by=_CANONICAL,
    read_by="ChainDB.get_canonical_head: Executor at start, ChainReader.head, make_canonical_head",
)
BLOCK_NUMBER_TO_HASH = _by_number(
    SchemaV1.make_block_number_to_hash_lookup_key,
    name="canonical block number -> hash",
    value="RLP of the canonical block's hash",
    written_by=f"{_CANONICAL} (which also deletes those above a shorter new chain)",
    read_by="ChainDB.get_canonical_block_hash / ..._header_by_number: Executor (genesis check, "
    "canonical_hash), ChainReader.header_by_number, importer's validator history",
)
BLOCK_SCORE = _by_hash(
    SchemaV1.make_block_hash_to_score_lookup_key,
    name="block score (total difficulty)",
    value="RLP integer: parent's score + difficulty, or + block number when difficulty is 0",
    written_by=_PERSIST,
    read_by="ChainDB.persist_block (fork choice), Executor._validate_terminal_difficulty (EIP-3675)",
)
TRANSACTION_LOOKUP = _by_hash(
    SchemaV1.make_transaction_hash_to_block_lookup_key,
    name="transaction hash -> block number, index",
    value="RLP TransactionKey(block_number, index)",
    written_by=f"{_CANONICAL} (which also deletes a reorged-out block's)",
    read_by="ChainDB.get_transaction_index: ChainReader.tx_location (eth_getTransactionByHash, receipts)",
)
WITHDRAWAL_LOOKUP = _by_hash(
    SchemaV1.make_withdrawal_hash_to_block_lookup_key,
    name="withdrawal hash -> block number, index",
    value="RLP WithdrawalKey(block_number, index)",
    written_by=f"{_CANONICAL}, for blocks with withdrawals (imported chains; QBFT blocks have none)",
    read_by="nothing in the node (no JSON-RPC method finds a withdrawal by hash)",
)
HEADER_CHAIN_GAPS = _named(
    SchemaV1.make_header_chain_gaps_lookup_key,
    name="header chain gaps",
    value="RLP (gaps, next number): block numbers below the tip with no header (none here)",
    written_by=f"{_PERSIST}, at every block that extends the tip",
    read_by="ChainDB.persist_block (read, updated, written back)",
)
CHAIN_GAPS = _named(
    SchemaV1.make_chain_gaps_lookup_key,
    name="block chain gaps",
    value="RLP (gaps, next number): block numbers below the tip with no body (none here)",
    written_by=f"{_PERSIST}, at every block that extends the tip",
    read_by="ChainDB.persist_block (read, updated, written back)",
)
HEADER = KeyKind(
    name="header by block hash",
    layout="the 32-byte block hash (QBFT: the BFT hash, without seals and round; else keccak of the value)",
    value="RLP of the header as committed (QBFT: with the seals and round that committed it)",
    written_by=f"{_PERSIST}; Executor.commit_block rewrites it with the sealed header",
    read_by="ChainDB.get_block_header_by_hash: Executor, ChainReader, py-evm (parent, ancestors)",
    matches=_is_header,
)
CONTENT_ADDRESSED = KeyKind(
    name="node or code by keccak",
    layout="keccak256 of the value, 32 bytes",
    value="a state, storage, transaction, receipt or withdrawal trie node; contract code; "
    "an uncle list (imported PoW chains)",
    written_by="AccountDB.persist (state and storage nodes, code: Executor genesis, VM.finalize_block); "
    "VM.set_block_transactions_and_withdrawals / VM.import_block (tx, receipt, withdrawal "
    "nodes); ChainDB.persist_block (uncles)",
    read_by="py-trie HexaryTrie (state reads, ChainDB block bodies and receipts, serve/proofs.py), "
    "AccountDB.get_code, ChainDB.get_block_uncles",
    matches=_is_content_addressed,
)

KEYS: tuple[KeyKind, ...] = (
    CANONICAL_HEAD,
    BLOCK_NUMBER_TO_HASH,
    BLOCK_SCORE,
    TRANSACTION_LOOKUP,
    WITHDRAWAL_LOOKUP,
    HEADER_CHAIN_GAPS,
    CHAIN_GAPS,
    # Hash keys last, and the header before the keccak-keyed: an imported chain's header is
    # keccak-keyed too, and a header is a header.
    HEADER,
    CONTENT_ADDRESSED,
)
"""Every key layout the node writes. SchemaV1's checkpoint list (``persist_checkpoint_header``)
is not here: the node never calls it."""


def classify(key: bytes, value: bytes) -> KeyKind | None:
    """The table entry a stored (key, value) pair belongs to; None for a key the table does not
    know. The value is needed for 32-byte keys only: headers and content-addressed entries
    share that key space."""
    for kind in KEYS:
        if kind.matches(key, value):
            return kind
    return None
