"""jsc_node/state/evm/executor.py apply_transactions: the one block-building loop, in its two
modes (the pool's best, skipping what does not apply; given transactions, all of which must)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth.consensus.context import ConsensusContext
from eth.db.chain import ChainDB
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node.errors import InvalidTransaction
from jsc_node.genesis import load_genesis
from jsc_node.state.evm.executor import Executor, apply_transactions
from jsc_node.state.storage.leveldb import LevelDB, Overlay

KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
)
RECIPIENT = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[Executor]:
    db = LevelDB(tmp_path / "db")
    yield Executor(db, load_genesis(None))
    db.close()


def _transfer(nonce: int, key: str = KEYS[0], gas: int = 21_000) -> Any:
    signed = Account.sign_transaction(
        {
            "chainId": 1337,
            "nonce": nonce,
            "to": to_checksum_address(RECIPIENT),
            "value": 1,
            "gas": gas,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 1,
            "type": 2,
        },
        key,
    )
    return PragueTransactionBuilder.decode(bytes(signed.raw_transaction))


def _block_vm(executor: Executor, gas_limit: int) -> tuple[Any, Any]:
    """A VM and an empty header for the block after the head, with ``gas_limit``."""
    head = executor.head
    vm_class = executor.schedule.vm_class(head.block_number + 1, head.timestamp + 1)
    header = vm_class.create_header_from_parent(head, timestamp=head.timestamp + 1).copy(gas_limit=gas_limit)
    atomic = Overlay(executor.db).atomic()
    vm = vm_class(header, ChainDB(atomic), executor.chain_context, ConsensusContext(atomic))
    vm.block_preprocessing(vm.get_block())
    return vm, vm.get_header().copy(gas_used=0)


def test_pool_mode_skips_a_failing_sender_and_its_later_nonces(executor: Executor) -> None:
    vm, header = _block_vm(executor, 30_000_000)
    gap, after_gap = _transfer(2), _transfer(1)
    other = _transfer(0, KEYS[1])
    applied = apply_transactions(vm, header, [_transfer(0), gap, after_gap, other], all_must_apply=False)
    assert [tx.hash for tx in applied.transactions] == [_transfer(0).hash, other.hash]
    # The tx with the gap is refused (py-evm's words); its sender's next one is not even tried.
    assert [tx_hash for tx_hash, _reason in applied.skipped] == [gap.hash]
    assert "nonce" in applied.skipped[0][1].lower()
    assert applied.header.gas_used == 2 * 21_000
    assert [r.gas_used for r in applied.receipts] == [21_000, 42_000]


def test_pool_mode_leaves_out_what_does_not_fit_and_stops_when_nothing_can(executor: Executor) -> None:
    vm, header = _block_vm(executor, 60_000)
    big = _transfer(0, KEYS[1], gas=50_000)
    applied = apply_transactions(
        vm, header, [_transfer(0), big, _transfer(1), _transfer(2)], all_must_apply=False
    )
    assert [tx.nonce for tx in applied.transactions] == [0, 1]
    assert applied.skipped == [(big.hash, "gas limit reached")]
    # 18,000 gas left: less than any transaction needs, so nonce 2 is never looked at.
    assert applied.header.gas_used == 42_000


def test_pool_mode_stops_at_max_txs(executor: Executor) -> None:
    vm, header = _block_vm(executor, 30_000_000)
    applied = apply_transactions(
        vm, header, [_transfer(n) for n in range(5)], all_must_apply=False, max_txs=3
    )
    assert [tx.nonce for tx in applied.transactions] == [0, 1, 2]
    assert applied.skipped == []


@pytest.mark.parametrize(
    ("txs", "gas_limit", "message"),
    [
        (
            lambda: [_transfer(1)],
            30_000_000,
            "nonce too high: address 0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266, tx: 1 state: 0",
        ),
        (
            lambda: [_transfer(0), _transfer(0)],
            30_000_000,
            "nonce too low: address 0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266, tx: 0 state: 1",
        ),
        (lambda: [_transfer(0), _transfer(1)], 30_000, "gas limit reached"),
    ],
    ids=["nonce too high", "nonce too low", "gas limit"],
)
def test_given_mode_refuses_in_geths_words(
    executor: Executor, txs: Any, gas_limit: int, message: str
) -> None:
    vm, header = _block_vm(executor, gas_limit)
    with pytest.raises(InvalidTransaction) as raised:
        apply_transactions(vm, header, txs(), all_must_apply=True)
    assert str(raised.value) == message


def test_given_mode_applies_all_when_all_apply(executor: Executor) -> None:
    vm, header = _block_vm(executor, 30_000_000)
    txs = [_transfer(0), _transfer(1), _transfer(0, KEYS[1])]
    applied = apply_transactions(vm, header, txs, all_must_apply=True)
    assert applied.transactions == txs
    assert applied.skipped == []
