"""The rpc-compat chain (../shared/conformance/rpc-compat: 45 blocks, Homestead…Prague, PoW with
fake seals and uncles, then PoS) imports on its genesis.json through `jsc_node.importer`; block 45
becomes the head, with the hash of `headfcu.json` (the chain the rpc-compat suite replays on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rlp

from jsc_node.errors import ImportFailed
from jsc_node.genesis import load_genesis, parse_genesis
from jsc_node.importer import import_files, split_rlp_items
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB
from tests.conformance.blockchain_tests import CONFORMANCE

RPC_COMPAT = CONFORMANCE / "rpc-compat"

pytestmark = pytest.mark.skipif(
    not (RPC_COMPAT / "chain.rlp").is_file(), reason=f"rpc-compat fixtures not present at {RPC_COMPAT}"
)


def test_rpc_compat_chain_imports_to_block_45(tmp_path: Path) -> None:
    spec = load_genesis(RPC_COMPAT / "genesis.json")
    fcu = json.loads((RPC_COMPAT / "headfcu.json").read_text())
    head_hash = fcu["params"][0]["headBlockHash"]

    stats = import_files(tmp_path / "data", spec, [RPC_COMPAT / "chain.rlp"])
    assert (stats.imported, stats.known) == (45, 0)
    assert stats.head_number == 45
    assert "0x" + stats.head_hash.hex() == head_hash

    # Reopened, the data dir serves the same canonical chain (what `jsc-node run` will read).
    db = LevelDB(tmp_path / "data" / "chaindata")
    try:
        executor = Executor(db, spec)
        assert "0x" + executor.head.hash.hex() == head_hash
        numbers = [executor.chaindb.get_canonical_block_header_by_number(n).block_number for n in range(46)]
        assert numbers == list(range(46))
        # PoW up to the merge (block 36 by mergeNetsplitBlock), PoS after.
        assert executor.chaindb.get_canonical_block_header_by_number(35).difficulty > 0
        assert executor.chaindb.get_canonical_block_header_by_number(36).difficulty == 0
    finally:
        db.close()


def _genesis_doc() -> dict[str, object]:
    doc: dict[str, object] = json.loads((RPC_COMPAT / "genesis.json").read_text())
    return doc


def test_merge_by_terminal_total_difficulty_alone(tmp_path: Path) -> None:
    """Without mergeNetsplitBlock the first PoS header (difficulty 0) switches to Paris rules,
    allowed because its parent's total difficulty reached terminalTotalDifficulty (EIP-3675)."""
    doc = _genesis_doc()
    config = doc["config"]
    assert isinstance(config, dict)
    del config["mergeNetsplitBlock"]
    stats = import_files(tmp_path / "data", parse_genesis(doc), [RPC_COMPAT / "chain.rlp"])
    assert stats.head_number == 45


def test_pos_block_before_terminal_total_difficulty_is_refused(tmp_path: Path) -> None:
    doc = _genesis_doc()
    config = doc["config"]
    assert isinstance(config, dict)
    del config["mergeNetsplitBlock"]
    config["terminalTotalDifficulty"] = 10**12
    with pytest.raises(ImportFailed, match="PoS block before the terminal total difficulty") as info:
        import_files(tmp_path / "data", parse_genesis(doc), [RPC_COMPAT / "chain.rlp"])
    assert info.value.number == 36


def test_pow_difficulty_is_taken_as_given(tmp_path: Path) -> None:
    """Seals are not checked on an imported chain, so neither is the difficulty formula: block 1
    with another difficulty is accepted, and its difficulty feeds the total difficulty."""
    first = next(split_rlp_items((RPC_COMPAT / "chain.rlp").read_bytes()))
    items = rlp.decode(first)
    difficulty = int.from_bytes(items[0][7], "big") + 12345
    items[0][7] = difficulty.to_bytes((difficulty.bit_length() + 7) // 8, "big")
    path = tmp_path / "one.rlp"
    path.write_bytes(rlp.encode(items))
    spec = load_genesis(RPC_COMPAT / "genesis.json")
    stats = import_files(tmp_path / "data", spec, [path])
    assert stats.head_number == 1
    db = LevelDB(tmp_path / "data" / "chaindata")
    try:
        executor = Executor(db, spec)
        assert executor.head.difficulty == difficulty
        assert executor.chaindb.get_score(executor.head.hash) == executor.genesis.difficulty + difficulty
    finally:
        db.close()
