"""The per-block registry sync (state/evm/forks.py ``sync_validator_registry``): on a chain with
``config.jsc`` every block starts with the ValidatorRegistry's ``syncValidators`` system call
carrying the validators its extraData lists. Real LevelDB, in-process Executor, py-evm running
the contract; seals are fake (the executor does not check them)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils import to_checksum_address

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.errors import InvalidBlock
from jsc_node.governance import registry
from jsc_node.governance.registry import REGISTRY_ADDRESS
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB
from jsc_node.views import BlockId, CallFrameView, PrestateTraceView, TraceConfig
from tests.unit.registry_harness import RegistryChain, calldata, open_registry_chain

ENTITY = ("株式会社テスト", "7000012050002", "JP", "JP-13", b"\x11" * 32)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[RegistryChain]:
    c = open_registry_chain(tmp_path)
    yield c
    c.close()


def _block(chain: RegistryChain, validators: tuple[bytes, ...], txs: list[Any]) -> tuple[bytes, Any]:
    """Build (the proposer's path) and commit a block whose extraData lists ``validators``;
    its sealed RLP and receipts."""
    head = chain.executor.head
    extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, None, 0, ()))
    built = chain.executor.build_block(head.hash, head.timestamp + 1, validators[0], extra, txs)
    assert not built.skipped, built.skipped
    sealed = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, None, 0, (b"\x01" * 65,)))
    raw = bytes(rlp.encode(built.block.copy(header=built.block.header.copy(extra_data=sealed))))
    chain.executor.commit_block(raw)
    chain.backend.publish_head()
    return raw, built.receipts


def _registry_calls(monkeypatch: pytest.MonkeyPatch, executor: Executor) -> list[bytes]:
    """Inputs of every EVM call into the registry made outside transactions (execute_bytecode)."""
    calls: list[bytes] = []
    for _at, vm_class in executor.schedule.by_block + executor.schedule.by_time:
        original = vm_class.execute_bytecode

        def counting(vm: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if kwargs.get("to") == REGISTRY_ADDRESS:
                calls.append(bytes(kwargs["data"]))
            return _original(vm, *args, **kwargs)

        monkeypatch.setattr(vm_class, "execute_bytecode", counting)
    return calls


def _is_validator(chain: RegistryChain, address: bytes) -> bool:
    return bool(chain.view("isValidator(address)", "bool", to_checksum_address(address)))


def test_set_change_is_synced_before_the_transactions(
    chain: RegistryChain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = _registry_calls(monkeypatch, chain.executor)
    genesis_set = chain.validators
    newcomer, candidate = chain.address(4), chain.address(5)
    removed = genesis_set[-1]

    # Block 1: the genesis set again; a candidate submits its attestation. No EVM call.
    raw1, _ = _block(
        chain,
        genesis_set,
        [chain.registry_tx(5, calldata("submit(string,string,string,string,bytes32)", *ENTITY))],
    )
    assert calls == []

    # Block 2: one validator out, one in. The newcomer's approval in the same block counts:
    # the contract knew it as a validator before the block's transactions ran.
    new_set = tuple(sorted((*genesis_set[:-1], newcomer)))
    removed_key = next(i for i in range(4) if chain.address(i) == removed)
    approve = calldata("approve(address)", to_checksum_address(candidate))
    raw2, receipts = _block(
        chain, new_set, [chain.registry_tx(4, approve), chain.registry_tx(removed_key, approve)]
    )
    assert [r.state_root for r in receipts] == [
        b"\x01",
        b"",
    ], "newcomer approves; the removed one reverts"
    assert calls == [registry.sync_validators_calldata(new_set)]

    read = chain.storage()
    assert registry.read_validators(read) == new_set
    # The system call touches no account but the registry: SYSTEM_ADDRESS is not created (EIP-158).
    assert not chain.executor.state_at(chain.executor.head).account_exists(registry.SYSTEM_ADDRESS)
    assert read(registry.SLOT_VALIDATOR_SET_HASH) == int.from_bytes(
        registry.validator_set_hash(new_set), "big"
    )
    assert _is_validator(chain, newcomer)
    assert not _is_validator(chain, removed)
    assert all(_is_validator(chain, v) for v in new_set)
    assert tuple(bytes.fromhex(a[2:]) for a in chain.view("validators()", "address[]")) == new_set
    assert registry.has_approved(read, candidate, newcomer)

    # Block 3: the new set unchanged: no EVM call.
    raw3, _ = _block(chain, new_set, [])
    assert len(calls) == 1

    # Another node importing the blocks (py-evm's import_block) reaches the same state roots.
    db = LevelDB(tmp_path / "other")
    try:
        other = Executor(db, chain.spec)
        other_calls = _registry_calls(monkeypatch, other)
        for raw in (raw1, raw2, raw3):
            other.commit_block(raw)
        assert other.head.state_root == chain.executor.head.state_root
        assert other_calls == [registry.sync_validators_calldata(new_set)]
    finally:
        db.close()

    # debug_traceBlock replays block 2 from the parent's state with the system call first: the
    # newcomer's isValidator slot is already 1 before its transaction, and gas agrees.
    trace = asyncio.run(chain.backend.trace_block(BlockId(number=2), TraceConfig(tracer="prestateTracer")))
    slot = registry.mapping_slot(registry.address_key(newcomer), registry.SLOT_IS_VALIDATOR)
    prestate = trace[0].result
    assert isinstance(prestate, PrestateTraceView)
    storage = prestate.pre[REGISTRY_ADDRESS].storage
    assert storage is not None
    assert storage[slot.to_bytes(32, "big")] == (1).to_bytes(32, "big")
    frames = asyncio.run(chain.backend.trace_block(BlockId(number=2), TraceConfig(tracer="callTracer")))
    tops = [entry.result for entry in frames]
    assert all(isinstance(top, CallFrameView) for top in tops)
    gas = [receipts[0].gas_used, receipts[1].gas_used - receipts[0].gas_used]
    assert [top.gas_used for top in tops if isinstance(top, CallFrameView)] == gas
    assert [top.error for top in tops if isinstance(top, CallFrameView)] == [None, "execution reverted"]


def test_failed_system_call_makes_the_block_invalid(chain: RegistryChain) -> None:
    """Validators out of order: the contract reverts (ValidatorsNotAscending); the build fails
    loudly with the contract's words instead of passing silently."""
    head = chain.executor.head
    backwards = tuple(sorted(chain.validators, reverse=True))
    extra = encode_extra_data(QbftExtraData(b"\x00" * 32, backwards, None, 0, ()))
    with pytest.raises(
        InvalidBlock, match=r"syncValidators\(4 validators\) failed: validator set not ascending at index 1"
    ):
        chain.executor.build_block(head.hash, head.timestamp + 1, backwards[0], extra, [])
    assert chain.executor.head == head
