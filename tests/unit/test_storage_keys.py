"""jsc_node/state/storage/keys.py: the key table against what the node really writes.

A chain is built, validated on a second node and committed on both, on real LevelDB, then every
stored key is classified; a key no entry claims fails. Hash keys are checked beyond their layout:
each header key is its header's block hash, and the keccak-keyed entries are exactly what the
headers' roots reach (state, storage, code, transaction, receipt, withdrawal tries, uncles).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth._utils.address import generate_contract_address
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3, EMPTY_UNCLE_HASH
from eth.db.chain import ChainDB
from eth.db.schema import SchemaV1
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from jsc_node.genesis import GenesisSpec, load_genesis
from jsc_node.importer import import_files
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage import keys
from jsc_node.state.storage.leveldb import LevelDB
from tests.unit.test_execution import KEY, _build, _sealed, _transfers

RPC_COMPAT = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "rpc-compat"
SENDER = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")

# Runtime: SSTORE(NUMBER, CALLDATALOAD(0)), so each call writes a new storage slot.
RUNTIME = bytes.fromhex("6000354355" + "00")
# Init: SSTORE(0, 0x2a), then return RUNTIME (CODECOPY from offset 17, the init code's length).
INIT = (
    bytes.fromhex("602a600055" + f"60{len(RUNTIME):02x}6011600039" + f"60{len(RUNTIME):02x}6000f3") + RUNTIME
)


def _tx(nonce: int, to: bytes | None, data: bytes, gas: int = 200_000) -> Any:
    fields: dict[str, Any] = {
        "chainId": 1337,
        "nonce": nonce,
        "value": 0,
        "gas": gas,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 1,
        "type": 2,
        "data": data,
    }
    if to is not None:
        fields["to"] = to_checksum_address(to)
    return PragueTransactionBuilder.decode(bytes(Account.sign_transaction(fields, KEY).raw_transaction))


def _items(db: LevelDB) -> dict[bytes, bytes]:
    return dict(db.iterate_prefix(b""))


def _node_refs(node: Any, on_leaf: Callable[[bytes], None] | None) -> Iterator[Any]:
    """The children of a decoded trie node (hash references or embedded nodes); leaf values go
    to ``on_leaf``."""
    if len(node) == 17:
        yield from node[:16]
        if node[16] and on_leaf is not None:
            on_leaf(node[16])
    elif len(node) == 2:
        if node[0][0] >> 4 >= 2:  # hex-prefix flag 2/3: a leaf (Yellow Paper appendix C)
            if on_leaf is not None:
                on_leaf(node[1])
        else:
            yield node[1]


def _walk(
    items: dict[bytes, bytes],
    root: bytes,
    on_leaf: Callable[[bytes], None] | None = None,
    partial: bool = False,
) -> set[bytes]:
    """Keys of every stored node of the trie at ``root``; ``partial``: of those stored (py-evm
    keeps only part of an intermediate state)."""
    found: set[bytes] = set()
    if root == BLANK_ROOT_HASH:
        return found
    stack: list[Any] = [root]
    while stack:
        ref = stack.pop()
        if isinstance(ref, list):
            stack.extend(_node_refs(ref, on_leaf))
        elif len(ref) == 32 and ref not in found and (ref in items or not partial):
            found.add(ref)
            stack.extend(_node_refs(rlp.decode(items[ref]), on_leaf))
    return found


def _reachable(items: dict[bytes, bytes], chaindb: ChainDB, header_keys: set[bytes]) -> dict[str, set[bytes]]:
    """What each header's roots reach, by what it is."""
    reached: dict[str, set[bytes]] = collections.defaultdict(set)

    def account(value: bytes) -> None:
        _nonce, _balance, storage_root, code_hash = rlp.decode(value)
        reached["storage node"] |= _walk(items, storage_root)
        if code_hash != EMPTY_SHA3:
            reached["code"].add(code_hash)

    def receipt(value: bytes) -> None:
        # Before Byzantium (EIP-658) a receipt's first field is the state root after its
        # transaction: py-evm stores that intermediate state too.
        if value[0] >= 0xC0:
            first = rlp.decode(value)[0]
            if len(first) == 32:
                reached["intermediate state node"] |= _walk(items, first, account, partial=True)

    for key in header_keys:
        header = chaindb.get_block_header_by_hash(key)
        assert header.hash == key, "a header is stored under its block hash"
        reached["state node"] |= _walk(items, header.state_root, account)
        reached["transaction node"] |= _walk(items, header.transaction_root)
        reached["receipt node"] |= _walk(items, header.receipt_root, receipt)
        reached["withdrawal node"] |= _walk(items, getattr(header, "withdrawals_root", BLANK_ROOT_HASH))
        if header.uncles_hash != EMPTY_UNCLE_HASH:
            reached["uncles"].add(header.uncles_hash)
    return reached


def check_every_key(db: LevelDB) -> tuple[collections.Counter[str], dict[str, set[bytes]]]:
    """Classify every stored key (none unknown) and check the hash keys against the chain."""
    items = _items(db)
    by_kind: dict[str, set[bytes]] = collections.defaultdict(set)
    unknown = []
    for key, value in items.items():
        kind = keys.classify(key, value)
        if kind is None:
            unknown.append(key)
        else:
            by_kind[kind.name].add(key)
    assert unknown == [], f"keys no entry of jsc_node/state/storage/keys.py claims: {unknown[:5]}"

    reached = _reachable(items, ChainDB(db), by_kind[keys.HEADER.name])
    everything_reached = set().union(*reached.values())
    assert by_kind[keys.CONTENT_ADDRESSED.name] == everything_reached
    return collections.Counter({name: len(found) for name, found in by_kind.items()}), reached


@pytest.fixture
def spec() -> GenesisSpec:
    return load_genesis(None)


def test_every_key_of_a_built_validated_and_committed_chain_is_in_the_table(
    tmp_path: Path, spec: GenesisSpec
) -> None:
    proposer_db, validator_db = LevelDB(tmp_path / "proposer"), LevelDB(tmp_path / "validator")
    proposer, validator = Executor(proposer_db, spec), Executor(validator_db, spec)
    contract = generate_contract_address(SENDER, 0)
    blocks = [
        [_tx(0, None, INIT), *_transfers(2, start_nonce=1)],
        [_tx(3, contract, b"\x07" * 32), _tx(4, contract, b"\x08" * 32)],
        [],
        [*_transfers(3, start_nonce=5), _tx(8, contract, b"\x09" * 32)],
    ]
    for txs in blocks:
        built = _build(proposer, spec, txs)
        assert len(built.block.transactions) == len(txs)
        validator.validate_block(rlp.encode(built.block))
        validator.commit_block(_sealed(built.block, spec))
        proposer.commit_block(_sealed(built.block, spec))
    assert proposer.state_at(proposer.head).get_code(contract) == RUNTIME
    assert proposer.state_at(proposer.head).get_storage(contract, 0) == 0x2A

    for db in (proposer_db, validator_db):
        counts, reached = check_every_key(db)
        assert counts[keys.CANONICAL_HEAD.name] == 1
        assert counts[keys.BLOCK_NUMBER_TO_HASH.name] == counts[keys.BLOCK_SCORE.name] == 5
        assert counts[keys.TRANSACTION_LOOKUP.name] == 9
        assert counts[keys.HEADER.name] == 5
        assert counts[keys.HEADER_CHAIN_GAPS.name] == counts[keys.CHAIN_GAPS.name] == 1
        for what in ("state node", "storage node", "code", "transaction node", "receipt node"):
            assert reached[what], what
        assert RUNTIME in {_items(db)[code_hash] for code_hash in reached["code"]}
    proposer_db.close()
    validator_db.close()


@pytest.mark.skipif(not (RPC_COMPAT / "chain.rlp").exists(), reason="needs ../shared/conformance")
def test_every_key_of_an_imported_chain_is_in_the_table(tmp_path: Path) -> None:
    """The execution-apis test chain: PoW blocks with uncles, then PoS blocks with withdrawals
    and every transaction type, through ``jsc-node import``."""
    spec = load_genesis(RPC_COMPAT / "genesis.json")
    import_files(tmp_path, spec, [RPC_COMPAT / "chain.rlp"])
    db = LevelDB(tmp_path / "chaindata")
    try:
        counts, reached = check_every_key(db)
    finally:
        db.close()
    assert counts[keys.WITHDRAWAL_LOOKUP.name] > 0
    assert counts[keys.HEADER.name] > 45
    assert reached["uncles"]
    assert reached["withdrawal node"]


def _hash_with_quote() -> bytes:
    return b"'" + b"\x01" * 31


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (SchemaV1.make_canonical_head_hash_lookup_key(), keys.CANONICAL_HEAD),
        (SchemaV1.make_header_chain_gaps_lookup_key(), keys.HEADER_CHAIN_GAPS),
        (SchemaV1.make_chain_gaps_lookup_key(), keys.CHAIN_GAPS),
        (SchemaV1.make_block_number_to_hash_lookup_key(0), keys.BLOCK_NUMBER_TO_HASH),
        (SchemaV1.make_block_number_to_hash_lookup_key(10**15), keys.BLOCK_NUMBER_TO_HASH),
        (SchemaV1.make_block_hash_to_score_lookup_key(b"\xab" * 32), keys.BLOCK_SCORE),
        (SchemaV1.make_transaction_hash_to_block_lookup_key(b"\x00" * 32), keys.TRANSACTION_LOOKUP),
        (SchemaV1.make_transaction_hash_to_block_lookup_key(_hash_with_quote()), keys.TRANSACTION_LOOKUP),
        (SchemaV1.make_transaction_hash_to_block_lookup_key(b"'\"\\" + b"a" * 29), keys.TRANSACTION_LOOKUP),
        (SchemaV1.make_withdrawal_hash_to_block_lookup_key(b"\x10" * 32), keys.WITHDRAWAL_LOOKUP),
    ],
)
def test_each_schema_key_is_classified_as_its_entry(key: bytes, kind: keys.KeyKind) -> None:
    assert keys.classify(key, b"") is kind


@pytest.mark.parametrize(
    "key",
    [
        b"block-number-to-hash:01",  # py-evm never writes a leading zero
        b"block-number-to-hash:",
        b"block-number-to-hash:-1",
        b"transaction-hash-to-block:b'\\x00'",  # one byte, not a hash
        b"transaction-hash-to-block:__import__('os')",
        b"transaction-hash-to-block:" + repr(b"\x00" * 32).encode() + b" ",
        b"v1:canonical_head_hash2",
        b"v2:canonical_head_hash",
        b"jsc:anything",
        b"",
    ],
)
def test_a_key_no_entry_lays_out_is_unknown(key: bytes) -> None:
    assert keys.classify(key, b"") is None


def test_hash_keys_are_told_apart_by_value(spec: GenesisSpec, tmp_path: Path) -> None:
    db = LevelDB(tmp_path / "db")
    executor = Executor(db, spec)
    genesis_rlp = db[executor.genesis.hash]
    db.close()
    code = b"\x60\x00"
    assert keys.classify(executor.genesis.hash, genesis_rlp) is keys.HEADER
    assert keys.classify(keccak(code), code) is keys.CONTENT_ADDRESSED
    assert keys.classify(b"\x11" * 32, code) is None  # 32 bytes, but neither a header nor keccak(value)
    assert keys.classify(keccak(code)[:31], code) is None


def test_a_schema_function_that_changes_its_layout_is_refused() -> None:
    """If py-evm rendered the hash another way (hex here), the table refuses to build."""

    def make_transaction_hash_to_block_lookup_key(transaction_hash: bytes) -> bytes:
        return b"transaction-hash-to-block:" + transaction_hash.hex().encode()

    with pytest.raises(RuntimeError, match="make_transaction_hash_to_block_lookup_key"):
        keys._by_hash(make_transaction_hash_to_block_lookup_key, "tx", "", "", "")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"jsc:pending-block", b"\x01"),  # a prefix no entry lays out
        (keccak(b"orphan"), b"orphan"),  # keccak-keyed, but no header's roots reach it
    ],
)
def test_the_check_refuses_a_stray_key(tmp_path: Path, spec: GenesisSpec, key: bytes, value: bytes) -> None:
    db = LevelDB(tmp_path / "db")
    Executor(db, spec)
    check_every_key(db)
    db[key] = value
    with pytest.raises(AssertionError):
        check_every_key(db)
    db.close()
