"""`jsc_node.importer` on a QBFT chain: blocks built and sealed by the node's own executor, exported
as concatenated RLP, imported into a fresh data dir (seal quorum per height, stop at the first bad
block, known blocks skipped) and through `jsc-node import`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_utils import to_checksum_address
from typer.testing import CliRunner

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.cli import app
from jsc_node.consensus.block import decode_block, private_key, sign_commit_seal
from jsc_node.errors import ImportFailed
from jsc_node.genesis import GenesisSpec, parse_genesis
from jsc_node.governance import registry
from jsc_node.importer import ChainImporter, count_blocks, import_files, read_block_files, split_rlp_items
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB

SENDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RECIPIENT = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")
VALIDATOR_KEYS = [private_key(bytes([i]) * 32) for i in range(1, 5)]
OUTSIDER_KEY = private_key(b"\x09" * 32)


def _genesis(keys: list[Any]) -> GenesisSpec:
    doc = json.loads(resources.files("jsc_node").joinpath("data/dev.json").read_text())
    validators = sorted(key.public_key.to_canonical_address() for key in keys)
    doc["extraData"] = (
        "0x" + encode_extra_data(QbftExtraData(b"\x00" * 32, tuple(validators), None, 0, ())).hex()
    )
    # config.jsc: every genesis validator holds an attestation in the registry's genesis storage.
    attested = {address: registry.dev_attestation(i) for i, address in enumerate(validators)}
    doc["alloc"][registry.REGISTRY_ADDRESS.hex()] = registry.genesis_alloc_entry(
        validators, attested, doc["config"]["jsc"]["jurisdictions"]
    )
    return parse_genesis(doc)


@pytest.fixture(scope="module")
def spec() -> GenesisSpec:
    return _genesis(VALIDATOR_KEYS)


def _transfer(nonce: int) -> Any:
    signed = Account.sign_transaction(
        {
            "chainId": 1337,
            "nonce": nonce,
            "to": to_checksum_address(RECIPIENT),
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 1,
            "type": 2,
        },
        SENDER_KEY,
    )
    return PragueTransactionBuilder.decode(bytes(signed.raw_transaction))


def _seal(raw: bytes, keys: list[Any]) -> bytes:
    view = decode_block(raw)
    return view.with_seals([sign_commit_seal(key, view) for key in keys]).encode()


def _make_chain(spec: GenesisSpec, path: Path, count: int, sealers: list[Any]) -> list[bytes]:
    """``count`` blocks of two transfers each, committed on a source node; their sealed RLP."""
    db = LevelDB(path)
    try:
        executor = Executor(db, spec)
        blocks = []
        extra = encode_extra_data(QbftExtraData(b"\x00" * 32, spec.validators, None, 0, ()))
        for i in range(count):
            head = executor.head
            built = executor.build_block(
                head.hash,
                head.timestamp + 1,
                spec.validators[0],
                extra,
                [_transfer(2 * i), _transfer(2 * i + 1)],
            )
            sealed = _seal(rlp.encode(built.block), sealers)
            executor.commit_block(sealed)
            blocks.append(sealed)
        return blocks
    finally:
        db.close()


@pytest.fixture(scope="module")
def chain(spec: GenesisSpec, tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return _make_chain(spec, tmp_path_factory.mktemp("source") / "db", 5, VALIDATOR_KEYS[:3])


@pytest.fixture
def importer(spec: GenesisSpec, tmp_path: Path) -> Iterator[ChainImporter]:
    db = LevelDB(tmp_path / "db")
    yield ChainImporter(Executor(db, spec), spec)
    db.close()


def _write(path: Path, blocks: list[bytes]) -> Path:
    path.write_bytes(b"".join(blocks))
    return path


def test_split_rlp_items_reads_back_to_back_blocks(chain: list[bytes]) -> None:
    assert list(split_rlp_items(b"".join(chain))) == chain
    with pytest.raises(ImportFailed, match="runs past the end"):
        list(split_rlp_items(b"".join(chain)[:-1], "x.rlp"))


def test_import_reproduces_the_source_chain(spec: GenesisSpec, chain: list[bytes], tmp_path: Path) -> None:
    stats = import_files(tmp_path / "data", spec, [_write(tmp_path / "chain.rlp", chain)])
    assert (stats.imported, stats.known, stats.txs) == (5, 0, 10)
    assert stats.head_number == 5
    assert stats.head_hash == decode_block(chain[-1]).onchain_hash
    # Running it again skips what is already canonical; the head stays.
    again = import_files(tmp_path / "data", spec, [tmp_path / "chain.rlp"])
    assert (again.imported, again.known, again.head_hash) == (0, 5, stats.head_hash)


def test_gzipped_files_are_read(spec: GenesisSpec, chain: list[bytes], tmp_path: Path) -> None:
    path = tmp_path / "chain.rlp.gz"
    path.write_bytes(gzip.compress(b"".join(chain)))
    assert [block.rlp for block in read_block_files([path])] == chain
    path.write_bytes(b"not gzip")
    with pytest.raises(ImportFailed, match="cannot read"):
        read_block_files([path])


def test_import_spans_files_in_order(spec: GenesisSpec, chain: list[bytes], tmp_path: Path) -> None:
    files = [_write(tmp_path / "a.rlp", chain[:2]), _write(tmp_path / "b.rlp", chain[2:])]
    assert [block.rlp for block in read_block_files(files)] == chain
    assert import_files(tmp_path / "data", spec, files).head_number == 5


@pytest.mark.parametrize(
    ("sealers", "reason"),
    [
        (VALIDATOR_KEYS[:2], "commit seal count: got 2, expected 3"),
        ([*VALIDATOR_KEYS[:2], OUTSIDER_KEY], "commit seal by a non-validator"),
        ([VALIDATOR_KEYS[0], VALIDATOR_KEYS[0], VALIDATOR_KEYS[1]], "duplicate commit seal"),
    ],
)
def test_seals_below_quorum_stop_the_import(
    importer: ChainImporter, chain: list[bytes], sealers: list[Any], reason: str
) -> None:
    importer.import_blocks([_raw(b) for b in chain[:2]])
    bad = _seal(_unsealed(chain[2]), sealers)
    with pytest.raises(ImportFailed, match=reason) as info:
        importer.import_blocks([_raw(bad), _raw(chain[3])])
    assert info.value.number == 3
    assert info.value.block_hash == decode_block(chain[2]).onchain_hash
    assert importer.executor.head.block_number == 2


def test_invalid_execution_stops_with_number_hash_and_reason(
    importer: ChainImporter, chain: list[bytes]
) -> None:
    items = rlp.decode(chain[0])
    items[0][3] = b"\x11" * 32  # state root
    bad = _seal(rlp.encode(items), VALIDATOR_KEYS[:3])
    with pytest.raises(
        ImportFailed, match=r"block 1 0x[0-9a-f]{64} \(item 0\): header field state_root"
    ) as info:
        importer.import_blocks([_raw(bad)])
    assert info.value.number == 1
    assert importer.executor.head.block_number == 0


def test_a_gap_is_refused(importer: ChainImporter, chain: list[bytes]) -> None:
    with pytest.raises(ImportFailed, match="block number"):
        importer.import_blocks([_raw(chain[0]), _raw(chain[2])])
    assert importer.executor.head.block_number == 1


def _with_header(block: bytes, index: int, value: bytes) -> bytes:
    items = rlp.decode(block)
    items[0][index] = value
    return rlp.encode(items)


def test_a_block_on_another_parent_is_refused_before_execution(
    importer: ChainImporter, chain: list[bytes]
) -> None:
    importer.import_blocks([_raw(chain[0])])
    other = b"\x22" * 32
    bad = _seal(_unsealed(_with_header(chain[1], 0, other)), VALIDATOR_KEYS[:3])
    expected = decode_block(chain[0]).onchain_hash
    with pytest.raises(ImportFailed) as info:
        importer.import_blocks([_raw(bad)])
    assert info.value.number == 2
    assert info.value.reason == f"block parent: got 0x{other.hex()}, expected 0x{expected.hex()}"
    assert importer.executor.head.block_number == 1


def test_a_block_listing_other_validators_is_refused(
    spec: GenesisSpec, importer: ChainImporter, tmp_path: Path
) -> None:
    # Executes cleanly and carries a quorum of real seals: only its validator list is wrong,
    # which the import took as it came before it checked blocks with consensus's sealed-block rule.
    three = spec.validators[:3]
    db = LevelDB(tmp_path / "source")
    try:
        executor = Executor(db, spec)
        head = executor.head
        extra = encode_extra_data(QbftExtraData(b"\x00" * 32, three, None, 0, ()))
        built = executor.build_block(head.hash, head.timestamp + 1, spec.validators[0], extra, [_transfer(0)])
        executor.validate_block(rlp.encode(built.block))  # execution has nothing against it
    finally:
        db.close()
    bad = _seal(rlp.encode(built.block), VALIDATOR_KEYS[:3])
    with pytest.raises(ImportFailed) as info:
        importer.import_blocks([_raw(bad)])
    assert info.value.number == 1
    got = ["0x" + a.hex() for a in three]
    expected = ["0x" + a.hex() for a in spec.validators]
    assert info.value.reason == f"block validators: got {got}, expected {expected}"
    assert importer.executor.head.block_number == 0


def _raw(block: bytes) -> Any:
    from jsc_node.importer import RawBlock

    return RawBlock(block, "", 0)


def _unsealed(block: bytes) -> bytes:
    return decode_block(block).with_seals([]).encode()


# --- the command ---------------------------------------------------------------------------


def _genesis_file(spec: GenesisSpec, path: Path) -> Path:
    path.write_text(json.dumps(spec.raw))
    return path


def test_cli_import(spec: GenesisSpec, chain: list[bytes], tmp_path: Path) -> None:
    genesis = _genesis_file(spec, tmp_path / "genesis.json")
    blocks = _write(tmp_path / "chain.rlp", chain)
    args = ["import", "--genesis-file", str(genesis), "--data-path", str(tmp_path / "data"), str(blocks)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    head = decode_block(chain[-1]).onchain_hash.hex()
    assert "imported 5 blocks (10 txs)" in result.output
    assert f"head: block 5 0x{head}" in result.output


def test_cli_import_stops_at_a_bad_block_with_one_error_line(
    spec: GenesisSpec, chain: list[bytes], tmp_path: Path
) -> None:
    genesis = _genesis_file(spec, tmp_path / "genesis.json")
    blocks = _write(tmp_path / "chain.rlp", [*chain[:3], _unsealed(chain[3]), chain[4]])
    args = ["import", "--genesis-file", str(genesis), "--data-path", str(tmp_path / "data"), str(blocks)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    want = decode_block(chain[3]).onchain_hash.hex()
    assert lines[0].startswith(f"error: import stopped at invalid block 4 0x{want}")
    assert "commit seal count: got 0, expected 3" in lines[0]
    assert "Traceback" not in result.output


def test_cli_import_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["import", "--data-path", str(tmp_path / "d"), str(tmp_path / "none.rlp")]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "cannot read" in result.output


def test_truncated_or_empty_files(chain: list[bytes], tmp_path: Path) -> None:
    empty = tmp_path / "empty.rlp"
    empty.write_bytes(b"")
    assert read_block_files([empty]) == []
    assert count_blocks([empty]) == 0
    cut = tmp_path / "cut.rlp"
    cut.write_bytes(chain[0] + b"\x81")  # a one-byte string prefix, and no byte
    with pytest.raises(ImportFailed, match=r"cut.rlp item 1\): not RLP at byte \d+: length prefix cut short"):
        count_blocks([cut])
    assert count_blocks([_write(tmp_path / "all.rlp", chain)]) == len(chain)
