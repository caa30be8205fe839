"""`jsc-node export` and `jsc-node verify --data-path` on a QBFT chain built and sealed in-process on
a real LevelDB: transfers, and a validator voted in (4 -> 5 validators, seals from the new quorum).
export -> import -> verify round trip; verify passes on the untouched chain and names the block
and the check when a value in the data dir was changed (a header, a receipt, a state account, a
transaction index entry); export and verify refuse a data dir a node holds."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.db.schema import SchemaV1
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie
from typer.testing import CliRunner

from jsc_node import verify
from jsc_node.chainformat import QbftExtraData, Vote, encode_extra_data
from jsc_node.cli import app
from jsc_node.consensus.block import decode_block, private_key, sign_commit_seal
from jsc_node.genesis import GenesisSpec, parse_genesis
from jsc_node.governance import registry
from jsc_node.governance.registry import REGISTRY_ADDRESS
from jsc_node.importer import CHAINDATA_DIR, ValidatorSetChange, split_rlp_items
from jsc_node.procutil import data_dir_lock
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB

SENDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RECIPIENT = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")
KEYS = sorted(
    (private_key(bytes([i]) * 32) for i in range(1, 5)), key=lambda k: k.public_key.to_canonical_address()
)
NEWCOMER_KEY = private_key(b"\x09" * 32)
NEWCOMER = NEWCOMER_KEY.public_key.to_canonical_address()
BLOCKS = 6


def _address(key: Any) -> bytes:
    return bytes(key.public_key.to_canonical_address())


def _genesis() -> GenesisSpec:
    """The dev genesis with these validators; the registry attests them and the newcomer (whose
    add votes the chain carries: an unattested newcomer would make those blocks invalid)."""
    doc = json.loads(resources.files("jsc_node").joinpath("data/dev.json").read_text())
    validators = sorted(_address(k) for k in KEYS)
    doc["extraData"] = (
        "0x" + encode_extra_data(QbftExtraData(b"\x00" * 32, tuple(validators), None, 0, ())).hex()
    )
    attestations = {v: registry.dev_attestation(i + 1) for i, v in enumerate(validators)}
    attestations[NEWCOMER] = registry.dev_attestation(5)
    doc["alloc"][REGISTRY_ADDRESS.hex()] = registry.genesis_alloc_entry(validators, attestations, ["JP"])
    return parse_genesis(doc)


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


@dataclass
class Chain:
    spec: GenesisSpec
    data: Path
    """A data dir holding the chain (DATA/chaindata), as a node leaves it."""
    blocks: list[bytes]
    """Sealed RLP of blocks 1..6."""
    receipts: dict[int, list[bytes]]
    genesis_file: Path


def _build(spec: GenesisSpec, data: Path) -> tuple[list[bytes], dict[int, list[bytes]]]:
    """Block 1: two transfers. Blocks 2-4: a transfer each, and the proposers v0, v1, v2 vote the
    newcomer in (3 of 4: more than half), so it validates block 5 on. Blocks 5 (three transfers)
    and 6 (one) are sealed by 4 of the 5 (quorum(5) = 4). Stored trie nodes are shared by content:
    only block 5's third receipt (63,000 gas so far) is in no other block."""
    db = LevelDB(data / CHAINDATA_DIR)
    blocks: list[bytes] = []
    receipts: dict[int, list[bytes]] = {}
    try:
        executor = Executor(db, spec)
        validators = tuple(sorted(_address(k) for k in KEYS))
        nonce = 0
        for number in range(1, BLOCKS + 1):
            vote = Vote(NEWCOMER, True) if number in (2, 3, 4) else None
            proposer = validators[(number - 1) % 4]
            extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, vote, 0, ()))
            txs = [_transfer(nonce + i) for i in range({1: 2, 5: 3}.get(number, 1))]
            nonce += len(txs)
            head = executor.head
            built = executor.build_block(head.hash, head.timestamp + 1, proposer, extra, txs)
            view = decode_block(rlp.encode(built.block))
            sealers = KEYS[:3] if len(validators) == 4 else KEYS
            sealed = view.with_seals([sign_commit_seal(k, view) for k in sealers]).encode()
            committed = executor.commit_block(sealed)
            blocks.append(sealed)
            receipts[number] = [bytes(r.encode()) for r in committed.receipts]
            if number == 4:
                validators = tuple(sorted((*validators, NEWCOMER)))
    finally:
        db.close()
    return blocks, receipts


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    spec = _genesis()
    root = tmp_path_factory.mktemp("verify")
    blocks, receipts = _build(spec, root / "data")
    genesis_file = root / "genesis.json"
    genesis_file.write_text(json.dumps(spec.raw))
    return Chain(spec, root / "data", blocks, receipts, genesis_file)


@pytest.fixture
def copy(chain: Chain, tmp_path: Path) -> Path:
    """A copy of the chain's data dir, to change values in."""
    target = tmp_path / "copy"
    shutil.copytree(chain.data, target)
    return target


def _verify(chain: Chain, data: Path, *extra: str) -> Any:
    args = ["verify", "--data-path", str(data), "--genesis-file", str(chain.genesis_file), *extra]
    return CliRunner().invoke(app, args)


def _last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


def _replace_in_db(data: Path, find: Callable[[bytes, bytes], bytes | None]) -> int:
    """Rewrite every (key, value) for which ``find`` returns a new value; how many were changed."""
    db = LevelDB(data / CHAINDATA_DIR)
    try:
        changed = {k: new for k, v in db.iterate_prefix(b"") if (new := find(k, v)) is not None}
        for key, value in changed.items():
            db[key] = value
    finally:
        db.close()
    return len(changed)


# --- export, import, verify --------------------------------------------------------------------


def test_export_import_verify_round_trip(chain: Chain, tmp_path: Path) -> None:
    runner = CliRunner()
    exported = tmp_path / "chain.rlp.gz"
    result = runner.invoke(app, ["export", "--data-path", str(chain.data), str(exported)])
    assert result.exit_code == 0, result.output
    assert f"exported blocks 0..{BLOCKS} ({BLOCKS + 1} blocks" in result.output
    written = list(split_rlp_items(gzip.decompress(exported.read_bytes())))
    assert written[1:] == chain.blocks  # the blocks as sealed, seals included
    assert decode_block(written[0]).number == 0

    fresh = tmp_path / "fresh"
    args = ["import", "--data-path", str(fresh), "--genesis-file", str(chain.genesis_file), str(exported)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"imported {BLOCKS} blocks (9 txs)" in result.output

    result = _verify(chain, fresh)
    assert result.exit_code == 0, result.output
    assert _last_line(result.output) == f"verify: {BLOCKS} blocks verified, 0 violations"
    assert "first violation none" in result.output


def test_export_a_range_uncompressed(chain: Chain, tmp_path: Path) -> None:
    out = tmp_path / "part.rlp"
    result = CliRunner().invoke(
        app, ["export", "--data-path", str(chain.data), "--from", "2", "--to", "4", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert list(split_rlp_items(out.read_bytes())) == chain.blocks[1:4]
    result = CliRunner().invoke(app, ["export", "--data-path", str(chain.data), "--to", "99", str(out)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: --to 99 is beyond the head (block {BLOCKS})"


def test_verify_report_validators_over_time_and_json(chain: Chain) -> None:
    result = _verify(chain, chain.data, "--json")
    assert result.exit_code == 0, result.output
    body, last = result.output.rstrip("\n").rsplit("\n", 1)
    assert last == f"verify: {BLOCKS} blocks verified, 0 violations"
    report = json.loads(body)
    assert report["blocksVerified"] == BLOCKS
    assert report["transactions"] == 9
    assert report["violations"] == []
    assert report["firstViolation"] is None
    assert report["attestations"] == "checked"
    spans = {(v["address"], v["fromBlock"], v["toBlock"]) for v in report["validators"]}
    expected = {("0x" + _address(k).hex(), 1, BLOCKS) for k in KEYS} | {("0x" + NEWCOMER.hex(), 5, BLOCKS)}
    assert spans == expected
    newcomer = next(v for v in report["validators"] if v["address"] == "0x" + NEWCOMER.hex())
    assert (newcomer["entity"], newcomer["jurisdiction"], newcomer["region"]) == (
        registry.dev_attestation(5).entity_name,
        "JP",
        "JP-13",
    )
    assert all(v["entity"].startswith("DEVELOPMENT VALIDATOR") for v in report["validators"])
    head = decode_block(chain.blocks[-1])
    assert report["head"]["hash"] == "0x" + head.onchain_hash.hex()


def test_from_narrows_what_is_reported_not_what_is_replayed(chain: Chain) -> None:
    report = verify.verify_data_dir(chain.data, chain.spec, 3, 5)
    assert (report.verified, report.replayed, report.head_number) == (3, 5, 5)
    assert report.violations == []


def test_the_block_rule_hook_sees_each_block_and_its_validator_set_change(chain: Chain) -> None:
    """``BLOCK_RULES``' hook: called once per block, before execution, with the parent header and
    the change (the attestation rule itself is execution's: tests/unit/test_vote_rule.py)."""
    seen: list[tuple[int, int, ValidatorSetChange]] = []

    def record(executor: Executor, parent: Any, block: Any, change: ValidatorSetChange) -> None:
        assert executor.head.hash == parent.hash  # the parent's state is the head's
        seen.append((int(parent.block_number), block.number, change))

    from jsc_node.export import open_data_dir

    with open_data_dir(chain.data) as stored:
        source = verify.DataDirChain(stored, "test")
        report = verify.verify_chain(source, chain.spec, rules=[*verify.BLOCK_RULES, record])
    assert report.violations == []
    assert [(p, n) for p, n, _ in seen] == [(n - 1, n) for n in range(1, BLOCKS + 1)]
    changes = {n: c for _, n, c in seen}
    assert changes[4].added == (NEWCOMER,)
    assert changes[4].vote == Vote(NEWCOMER, True)
    assert changes[2].added == ()
    assert changes[2].vote == Vote(NEWCOMER, True)
    assert NEWCOMER in changes[5].before


# --- a changed data dir ------------------------------------------------------------------------


def test_a_changed_header_is_found_at_its_block(chain: Chain, copy: Path) -> None:
    target = decode_block(chain.blocks[2]).onchain_hash  # block 3

    def bump_gas_limit(key: bytes, value: bytes) -> bytes | None:
        if key != target:
            return None
        fields = rlp.decode(value)
        fields[9] = (int.from_bytes(fields[9], "big") + 1).to_bytes(len(fields[9]), "big")
        return bytes(rlp.encode(fields))

    assert _replace_in_db(copy, bump_gas_limit) == 1
    result = _verify(chain, copy)
    assert result.exit_code == 1
    assert _last_line(result.output) == "verify: 2 blocks verified, 1 violations"
    assert "first violation block 3: stored block: stored header hash: got 0x" in result.output
    assert f"expected 0x{target.hex()}" in result.output


def test_a_changed_receipt_is_found_at_its_block(chain: Chain, copy: Path) -> None:
    original = chain.receipts[5][2]
    changed = bytearray(original)
    changed[100] ^= 0x01  # a byte of the logs bloom (256 bytes from byte 12): the RLP stays well-formed
    assert (
        _replace_in_db(copy, lambda _k, v: v.replace(original, bytes(changed)) if original in v else None)
        == 1
    )
    result = _verify(chain, copy, "--json")
    assert result.exit_code == 1
    assert _last_line(result.output) == f"verify: {BLOCKS} blocks verified, 1 violations"
    first = json.loads(result.output.rstrip("\n").rsplit("\n", 1)[0])["firstViolation"]
    assert first["block"] == 5
    assert first["check"] == "stored receipts"
    assert "does not hash to its key" in first["reason"]


def test_a_changed_account_is_found_in_the_state(chain: Chain, copy: Path) -> None:
    from jsc_node.export import TrieReader

    state_root = decode_block(chain.blocks[-1]).header[3]
    db = LevelDB(copy / CHAINDATA_DIR)
    try:
        account = dict(TrieReader(db.get, "state").leaves(state_root))[keccak(RECIPIENT)]
    finally:
        db.close()
    nonce, balance, storage_root, code_hash = rlp.decode(account)
    richer = rlp.encode(
        [nonce, (int.from_bytes(balance, "big") + 1).to_bytes(len(balance), "big"), storage_root, code_hash]
    )
    assert len(richer) == len(account)
    assert _replace_in_db(copy, lambda _k, v: v.replace(account, richer) if account in v else None) == 1
    result = _verify(chain, copy)
    assert result.exit_code == 1
    assert _last_line(result.output) == f"verify: {BLOCKS} blocks verified, 1 violations"
    assert f"first violation block {BLOCKS} 0x" in result.output
    assert "stored state: node stored under 0x" in result.output


def test_a_removed_transaction_index_is_found(chain: Chain, copy: Path) -> None:
    tx_hash = _transfer(2).hash  # block 2's transaction
    key = SchemaV1.make_transaction_hash_to_block_lookup_key(tx_hash)
    db = LevelDB(copy / CHAINDATA_DIR)
    try:
        del db[key]
    finally:
        db.close()
    result = _verify(chain, copy)
    assert result.exit_code == 1
    assert _last_line(result.output) == f"verify: {BLOCKS} blocks verified, 1 violations"
    assert (
        f"first violation block 2 0x{decode_block(chain.blocks[1]).onchain_hash.hex()}: stored transaction index"
        in result.output
    )
    assert "got      none" in result.output
    assert "expected block 2 index 0" in result.output


# --- refusals --------------------------------------------------------------------------------


def test_a_data_dir_in_use_is_refused(chain: Chain, tmp_path: Path) -> None:
    with data_dir_lock(chain.data):
        for args in (
            ["export", "--data-path", str(chain.data), str(tmp_path / "x.rlp")],
            ["verify", "--data-path", str(chain.data), "--genesis-file", str(chain.genesis_file)],
        ):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 1, result.output
            assert result.output.startswith(
                f"error: data dir {chain.data} is in use by another jsc-node process (pid "
            )
            assert "stop the node first" in result.output
    assert not (tmp_path / "x.rlp").exists()


def test_verify_needs_one_source_and_a_genesis_for_rpc(chain: Chain) -> None:
    result = CliRunner().invoke(
        app, ["verify", "--rpc-url", "http://127.0.0.1:1", "--data-path", str(chain.data)]
    )
    assert result.exit_code != 0
    assert "give one of --rpc-url URL or --data-path DIR" in result.output
    result = CliRunner().invoke(app, ["verify", "--rpc-url", "http://127.0.0.1:1"])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == "error: --rpc-url needs --genesis-file (the genesis the chain is checked against)"
    )


def test_verify_on_another_genesis_is_an_error_not_a_pass(chain: Chain) -> None:
    result = CliRunner().invoke(app, ["verify", "--data-path", str(chain.data)])  # the dev genesis
    assert result.exit_code == 1
    assert "holds a chain with genesis 0x" in result.output
    assert "verify:" not in result.output


def test_an_unreachable_node_or_a_bad_url_is_an_error_line(chain: Chain) -> None:
    args = ["verify", "--rpc-url", "http://127.0.0.1:9", "--genesis-file", str(chain.genesis_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot reach http://127.0.0.1:9: ")
    assert "verify:" not in result.output
    result = CliRunner().invoke(app, [*args[:2], "127.0.0.1:8545", *args[3:]])
    assert result.output.strip() == "error: --rpc-url '127.0.0.1:8545' is not an http:// or https:// URL"


class _Served:
    """A chain source serving the test chain's blocks, block ``at`` replaced by ``block``."""

    description = "served"

    def __init__(self, chain: Chain, at: int, block: bytes) -> None:
        self.chain = chain
        self.at = at
        self.block = block

    def head_number(self) -> int:
        return BLOCKS

    def blocks(self, first: int, last: int) -> Any:
        from jsc_node.export import open_data_dir

        with open_data_dir(self.chain.data) as stored:
            genesis = stored.block(0).rlp
        for number in range(first, last + 1):
            yield (
                number,
                genesis
                if number == 0
                else self.block
                if number == self.at
                else self.chain.blocks[number - 1],
            )

    def after_block(self, applied: Any) -> list[verify.Violation]:
        return []

    def after_chain(self, executor: Executor) -> list[verify.Violation]:
        return []


@pytest.mark.parametrize("served", [1, 2])
def test_an_earlier_block_served_again_is_a_violation(chain: Chain, served: int) -> None:
    report = verify.verify_chain(_Served(chain, 3, chain.blocks[served - 1]), chain.spec)
    assert report.summary_line() == "verify: 2 blocks verified, 1 violations"
    (violation,) = report.violations
    assert (violation.number, violation.check, violation.got, violation.expected) == (
        3,
        "block",
        str(served),
        "3",
    )


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.one_of(st.binary(min_size=1, max_size=3), st.binary(min_size=32, max_size=32)),
        st.binary(min_size=1, max_size=40),  # short values make nodes embedded in their parent
        max_size=40,
    )
)
def test_trie_reader_reads_every_leaf_py_trie_wrote(items: dict[bytes, bytes]) -> None:
    """export.TrieReader (every node checked) against py-trie: branches, extensions, leaves,
    embedded nodes and values in branches (a key that is a prefix of another)."""
    from jsc_node.export import TrieReader

    store: dict[bytes, bytes] = {}
    trie = HexaryTrie(store)
    for key, value in items.items():
        trie[key] = value
    assert list(TrieReader(store.get, "t").leaves(trie.root_hash)) == sorted(items.items())
