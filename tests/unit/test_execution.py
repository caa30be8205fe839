"""The executor on a real LevelDB in a temp dir: build, validate, commit, reopen."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node.chainformat import QbftExtraData, decode_extra_data, encode_extra_data
from jsc_node.errors import DataDirLockedError, GenesisError, InvalidBlock
from jsc_node.genesis import GenesisSpec, load_genesis
from jsc_node.state.evm.executor import Executor
from jsc_node.state.evm.patches import senders
from jsc_node.state.storage.leveldb import LevelDB, Overlay

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RECIPIENT = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")


@pytest.fixture
def spec() -> GenesisSpec:
    return load_genesis(None)


@pytest.fixture
def executor(tmp_path: Path, spec: GenesisSpec) -> Iterator[Executor]:
    db = LevelDB(tmp_path / "db")
    yield Executor(db, spec)
    db.close()


def _transfers(count: int, start_nonce: int = 0, value: int = 1) -> list[Any]:
    txs = []
    for nonce in range(start_nonce, start_nonce + count):
        signed = Account.sign_transaction(
            {
                "chainId": 1337,
                "nonce": nonce,
                "to": to_checksum_address(RECIPIENT),
                "value": value,
                "gas": 21_000,
                "maxFeePerGas": 10 * 10**9,
                "maxPriorityFeePerGas": 1,
                "type": 2,
            },
            KEY,
        )
        txs.append(PragueTransactionBuilder.decode(bytes(signed.raw_transaction)))
    return txs


def _extra(spec: GenesisSpec, round_: int = 0, seals: tuple[bytes, ...] = ()) -> bytes:
    return encode_extra_data(QbftExtraData(b"\x00" * 32, spec.validators, None, round_, seals))


def _build(executor: Executor, spec: GenesisSpec, txs: list[Any]) -> Any:
    head = executor.head
    return executor.build_block(head.hash, head.timestamp + 1, spec.validators[0], _extra(spec), txs)


def _sealed(block: Any, spec: GenesisSpec, round_: int = 0, seal: bytes = b"\x01" * 65) -> bytes:
    header = block.header.copy(extra_data=_extra(spec, round_, (seal,)))
    return bytes(rlp.encode(block.copy(header=header)))


def test_genesis_is_written_once_and_checked(tmp_path: Path, spec: GenesisSpec) -> None:
    db = LevelDB(tmp_path / "db")
    first = Executor(db, spec).genesis.hash
    assert Executor(db, spec).genesis.hash == first
    other = dataclasses.replace(spec, chain_id=spec.chain_id, gas_limit=spec.gas_limit + 1)
    with pytest.raises(GenesisError, match="holds a chain with genesis"):
        Executor(db, other)
    db.close()


def test_build_commit_reopen(tmp_path: Path, spec: GenesisSpec) -> None:
    db = LevelDB(tmp_path / "db")
    executor = Executor(db, spec)
    built = _build(executor, spec, _transfers(5, value=7))
    assert len(built.block.transactions) == 5
    assert built.block.header.gas_used == 5 * 21_000
    committed = executor.commit_block(_sealed(built.block, spec))
    assert executor.head.block_number == 1
    assert executor.head.hash == committed.hash
    balance = executor.state_at(executor.head).get_balance(RECIPIENT)
    db.close()

    db = LevelDB(tmp_path / "db")
    again = Executor(db, spec)
    assert again.head.block_number == 1
    assert again.head.hash == committed.hash
    assert decode_extra_data(again.head.extra_data).seals == (b"\x01" * 65,)
    assert again.state_at(again.head).get_balance(RECIPIENT) == balance == 10_000 * 10**18 + 35
    db.close()


def test_uncommitted_block_leaves_database_untouched(tmp_path: Path, spec: GenesisSpec) -> None:
    db = LevelDB(tmp_path / "db")
    executor = Executor(db, spec)
    built = _build(executor, spec, _transfers(3))
    assert built.hash not in db
    db.close()
    db = LevelDB(tmp_path / "db")
    assert Executor(db, spec).head.block_number == 0
    db.close()


def test_block_hash_ignores_seals_and_round(executor: Executor, spec: GenesisSpec) -> None:
    built = _build(executor, spec, _transfers(1))
    hashes = {
        executor.decode_block(_sealed(built.block, spec, round_=r, seal=bytes([s]) * 65)).hash
        for r in (0, 3)
        for s in (1, 2)
    }
    assert hashes == {built.hash}
    # ... and the committed header keeps the seals and round it was committed with.
    executor.commit_block(_sealed(built.block, spec, round_=3, seal=b"\x02" * 65))
    extra = decode_extra_data(executor.head.extra_data)
    assert (extra.round, extra.seals) == (3, (b"\x02" * 65,))
    assert executor.head.hash == built.hash


def test_validate_accepts_a_block_built_elsewhere(tmp_path: Path, spec: GenesisSpec) -> None:
    proposer_db, validator_db = LevelDB(tmp_path / "a"), LevelDB(tmp_path / "b")
    proposer, validator = Executor(proposer_db, spec), Executor(validator_db, spec)
    built = _build(proposer, spec, _transfers(4))
    validated = validator.validate_block(rlp.encode(built.block))
    assert validated.hash == built.hash
    validator.commit_block(_sealed(built.block, spec))
    proposer.commit_block(_sealed(built.block, spec))
    assert validator.head.state_root == proposer.head.state_root
    proposer_db.close()
    validator_db.close()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("state_root", b"\x11" * 32, "state_root"),
        ("gas_used", 1, "gas_used"),
        ("receipt_root", b"\x22" * 32, "receipt_root"),
        ("difficulty", 0, "difficulty must be 1"),
        ("mix_hash", b"\x00" * 32, "mixHash"),
        ("timestamp", 0, "timestamp"),
        ("block_number", 7, "numbered consecutively"),
        ("base_fee_per_gas", 1, "base fee"),
    ],
)
def test_validate_rejects_tampered_header(
    tmp_path: Path, spec: GenesisSpec, field: str, value: Any, reason: str
) -> None:
    proposer_db, validator_db = LevelDB(tmp_path / "a"), LevelDB(tmp_path / "b")
    proposer, validator = Executor(proposer_db, spec), Executor(validator_db, spec)
    built = _build(proposer, spec, _transfers(2))
    tampered = built.block.copy(header=built.block.header.copy(**{field: value}))
    with pytest.raises(InvalidBlock, match=reason):
        validator.validate_block(rlp.encode(tampered))
    assert validator.head.block_number == 0
    proposer_db.close()
    validator_db.close()


def test_validate_rejects_unknown_parent_and_garbage(executor: Executor, spec: GenesisSpec) -> None:
    built = _build(executor, spec, [])
    orphan = built.block.copy(header=built.block.header.copy(parent_hash=b"\x33" * 32))
    with pytest.raises(InvalidBlock, match="unknown parent"):
        executor.validate_block(rlp.encode(orphan))
    with pytest.raises(InvalidBlock, match="malformed block"):
        executor.validate_block(b"\xc3\x01\x02\x03")
    with pytest.raises(InvalidBlock):
        executor.validate_block(b"\xff\x00")


def test_commit_refuses_block_not_on_head(executor: Executor, spec: GenesisSpec) -> None:
    first = _build(executor, spec, [])
    executor.commit_block(_sealed(first.block, spec))
    with pytest.raises(InvalidBlock, match="parent of committed block"):
        executor.commit_block(_sealed(first.block, spec))


def test_builder_skips_bad_transactions_and_later_nonces(executor: Executor, spec: GenesisSpec) -> None:
    good = _transfers(2)
    gapped = _transfers(2, start_nonce=5)
    too_rich = _transfers(1, start_nonce=2, value=10**30)
    built = _build(executor, spec, [*good, *too_rich, *gapped])
    assert [tx.nonce for tx in built.block.transactions] == [0, 1]
    assert len(built.skipped) == 1  # the rich one fails; its sender's later nonces are not tried


def test_each_sender_recovered_once(executor: Executor, spec: GenesisSpec) -> None:
    txs = _transfers(20, value=3)
    before = senders.stats["recoveries"]
    built = _build(executor, spec, txs)
    assert len(built.block.transactions) == 20
    assert senders.stats["recoveries"] - before == 20


def test_second_open_is_refused(tmp_path: Path) -> None:
    db = LevelDB(tmp_path / "db")
    with pytest.raises(DataDirLockedError, match="in use"):
        LevelDB(tmp_path / "db")
    db.close()


def test_overlay_flush_is_one_batch(tmp_path: Path) -> None:
    db = LevelDB(tmp_path / "db")
    db[b"keep"] = b"1"
    db[b"gone"] = b"2"
    overlay = Overlay(db)
    overlay[b"new"] = b"3"
    del overlay[b"gone"]
    assert b"gone" not in overlay
    assert b"gone" in db
    assert db.get(b"new") is None
    overlay.flush()
    assert db[b"new"] == b"3"
    assert b"gone" not in db
    assert db[b"keep"] == b"1"
    db.close()
