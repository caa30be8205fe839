"""ethereum/tests BlockchainTests (../shared/conformance/blockchain-tests) through `jsc_node.importer`:
every fixture, in a pool of two processes (see tests/conformance/blockchain_tests.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth.exceptions import TransactionNotFound

from jsc_node.genesis import parse_genesis
from jsc_node.importer import ChainImporter
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB
from tests.conformance.blockchain_tests import FIXTURES, fixture_files, genesis_doc, iter_failures, run_all

pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"blockchain-tests fixtures not present at {FIXTURES}"
)


@pytest.mark.slow
def test_every_blockchain_test_imports_as_its_fixture_says() -> None:
    files = fixture_files()
    expected = sum(len(json.loads(path.read_text())) for path in files)
    outcomes = run_all(files, workers=2)
    assert len(outcomes) == expected
    failures = [f"{outcome.name}: {outcome.failure}" for outcome in iter_failures(outcomes)]
    assert not failures, f"{len(failures)} of {expected} failed:\n" + "\n".join(failures)


SIDE_CHAIN_FIXTURE = FIXTURES / "InvalidBlocks" / "bcMultiChainTest" / "UncleFromSideChain.json"


@pytest.mark.skipif(not SIDE_CHAIN_FIXTURE.is_file(), reason="UncleFromSideChain fixture absent")
def test_a_side_chain_block_becomes_head_and_takes_the_indexes(tmp_path: Path) -> None:
    """Chain A (1-3), then B1 forking from genesis: as geth's import, the last block is the head;
    A2, A3 leave the number index and their transactions leave the transaction index."""
    fixture = next(iter(json.loads(SIDE_CHAIN_FIXTURE.read_text()).values()))
    spec = parse_genesis(genesis_doc(fixture))
    raws = [bytes.fromhex(block["rlp"][2:]) for block in fixture["blocks"]]
    db = LevelDB(tmp_path / "db")
    try:
        executor = Executor(db, spec)
        importer = ChainImporter(executor, spec)
        for raw in raws[:3]:
            importer.import_block(raw)
        a2_txs = [tx.hash for tx in executor.decode_block(raws[1]).transactions]
        assert a2_txs
        assert executor.chaindb.get_transaction_index(a2_txs[0]) == (2, 0)

        importer.import_block(raws[3])  # B1
        b1 = executor.decode_block(raws[3])
        assert executor.head.hash == b1.hash == executor.chaindb.get_canonical_head().hash
        assert executor.canonical_hash(1) == b1.hash
        assert executor.canonical_hash(2) is None
        with pytest.raises(TransactionNotFound):
            executor.chaindb.get_transaction_index(a2_txs[0])
        assert executor.chaindb.get_transaction_index(b1.transactions[0].hash) == (1, 0)
    finally:
        db.close()
