"""eth_simulateV1: parameter decoding, error codes, the simulator on a scratch dev chain, and a few
execution-apis rpc-compat fixtures replayed against the real simulator on the imported test chain."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jsc_node.errors import (
    BlockNotFound,
    ExecutionReverted,
    InvalidParams,
    SimBaseFeeTooLow,
    SimBlockGasLimitReached,
    SimBlockNumberOrder,
    SimClientLimit,
    SimInsufficientFunds,
    SimIntrinsicGas,
    SimNonceTooHigh,
    SimNonceTooLow,
    SimTimestampOrder,
    SimulationError,
)
from jsc_node.genesis import GenesisSpec, load_genesis
from jsc_node.importer import ChainImporter, read_block_files
from jsc_node.rpc.codes import error_object, simulate_call_error
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.rpc.methods.simulate import decode_simulate_request
from jsc_node.state.backend import NodeBackend
from jsc_node.state.evm.executor import Executor
from jsc_node.state.serve.simulate import TRANSFER_LOG_ADDRESS, TRANSFER_TOPIC, simulate
from jsc_node.state.storage.leveldb import LevelDB
from jsc_node.views import (
    AccountOverride,
    CallRequest,
    SimBlockCalls,
    SimBlockOverrides,
    SimulateRequest,
)
from tests.conformance.rpc_compat import compare

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "rpc-compat"
GAS_CAP = 50_000_000
ALICE = bytes.fromhex("c000000000000000000000000000000000000000")
BOB = bytes.fromhex("c100000000000000000000000000000000000000")
# PUSH1 0 PUSH1 0 REVERT
REVERTING_CODE = bytes.fromhex("60006000fd")
# LOG0 of 0 bytes, then STOP
LOGGING_CODE = bytes.fromhex("60006000a000")


# --- decoding ------------------------------------------------------------------------------


def test_decode_request_reads_every_member() -> None:
    request = decode_simulate_request(
        {
            "blockStateCalls": [
                {
                    "blockOverrides": {
                        "number": "0x10",
                        "time": "0x20",
                        "gasLimit": "0x30",
                        "feeRecipient": "0x" + "aa" * 20,
                        "baseFeePerGas": "0x7",
                        "withdrawals": [
                            {
                                "index": "0x1",
                                "validatorIndex": "0x2",
                                "address": "0x" + "bb" * 20,
                                "amount": "0x3",
                            }
                        ],
                    },
                    "stateOverrides": {"0x" + ALICE.hex(): {"balance": "0x3e8"}},
                    "calls": [{"from": "0x" + ALICE.hex(), "to": "0x" + BOB.hex(), "value": "0x1"}],
                },
                {},
            ],
            "traceTransfers": True,
            "validation": True,
        }
    )
    first = request.blocks[0]
    assert first.block_overrides == SimBlockOverrides(
        number=16,
        time=32,
        gas_limit=48,
        fee_recipient=b"\xaa" * 20,
        base_fee_per_gas=7,
        withdrawals=first.block_overrides.withdrawals if first.block_overrides else None,
    )
    assert first.block_overrides is not None
    assert first.block_overrides.withdrawals is not None
    assert first.block_overrides.withdrawals[0].amount == 3
    assert first.state_overrides == {ALICE: AccountOverride(balance=1000)}
    assert first.calls == (CallRequest(sender=ALICE, to=BOB, value=1),)
    assert request.blocks[1] == SimBlockCalls()
    assert request.trace_transfers
    assert request.validation
    assert not request.return_full_transactions


@pytest.mark.parametrize(
    "value",
    [
        [],
        {"blockStateCalls": {}},
        {"blockStateCalls": [{"calls": {}}]},
        {"blockStateCalls": [{"blockOverrides": {"number": 5}}]},
        {"blockStateCalls": [], "validation": "yes"},
    ],
)
def test_decode_request_refuses_bad_shapes(value: Any) -> None:
    with pytest.raises(InvalidParams):
        decode_simulate_request(value)


# --- error codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (SimNonceTooLow("x"), -38010),
        (SimNonceTooHigh("x"), -38011),
        (SimBaseFeeTooLow("x"), -38012),
        (SimIntrinsicGas("x"), -38013),
        (SimInsufficientFunds("x"), -38014),
        (SimBlockGasLimitReached("x"), -38015),
        (SimBlockNumberOrder("x"), -38020),
        (SimTimestampOrder("x"), -38021),
        (SimClientLimit("x"), -38026),
        (SimulationError("account 0x01 is not a precompile"), -32000),
    ],
)
def test_simulation_errors_have_their_codes(exc: Exception, code: int) -> None:
    assert error_object(exc)["code"] == code


def test_call_errors_are_revert_or_vm_error() -> None:
    assert simulate_call_error(ExecutionReverted(b"\x01")) == {
        "code": 3,
        "message": "execution reverted",
        "data": "0x01",
    }
    assert simulate_call_error(ExecutionReverted(b""))["code"] == 3
    from jsc_node.errors import ExecutionFailed

    assert simulate_call_error(ExecutionFailed("out of gas"))["code"] == -32015


class _NoBackend:
    def read_snapshot(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    async def simulate_v1(self, request: SimulateRequest, block: Any) -> Any:
        raise AssertionError("not reached")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ([{"blockStateCalls": []}], -32602),
        ([{"blockStateCalls": [{}] * 257}], -38026),
        ([{"blockStateCalls": [{}]}, "latest", "extra"], -32602),
    ],
)
def test_request_level_refusals(params: list[Any], code: int) -> None:
    dispatcher = Dispatcher(_NoBackend())  # type: ignore[arg-type]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_simulateV1", "params": params})
    answer = json.loads(asyncio.run(dispatcher.handle_body(body)) or b"{}")
    assert answer["error"]["code"] == code


# --- the simulator on a scratch dev chain ----------------------------------------------------


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[Executor, GenesisSpec]]:
    spec = load_genesis(None)
    db = LevelDB(tmp_path / "db")
    yield Executor(db, spec), spec
    db.close()


def _run(executor: Executor, *blocks: SimBlockCalls, **options: bool) -> Any:
    return simulate(executor, executor.head, SimulateRequest(blocks=blocks, **options), GAS_CAP)


def _funded(*calls: CallRequest, balance: int = 10**18, **block: Any) -> SimBlockCalls:
    return SimBlockCalls(
        block_overrides=SimBlockOverrides(**block) if block else None,
        state_overrides={ALICE: AccountOverride(balance=balance)},
        calls=calls,
    )


def test_transfers_run_on_scratch_state(dev: tuple[Executor, GenesisSpec]) -> None:
    executor, _spec = dev
    head = executor.head
    results = _run(
        executor,
        _funded(CallRequest(sender=ALICE, to=BOB, value=5), CallRequest(sender=ALICE, to=BOB, value=7)),
        SimBlockCalls(calls=(CallRequest(sender=BOB, to=ALICE, value=12),)),
    )
    assert [r.block.number for r in results] == [head.block_number + 1, head.block_number + 2]
    assert results[1].block.parent_hash == results[0].block.hash
    assert results[0].block.timestamp == head.timestamp + 12
    assert [c.gas_used for c in results[0].calls] == [21_000, 21_000]
    assert results[0].block.gas_used == 42_000
    assert all(c.status == 1 and c.error is None for r in results for c in r.calls)
    # Nonces follow the simulated state: two distinct transactions from one sender.
    assert len(set(results[0].block.transactions)) == 2
    # Nothing reached the chain.
    state = executor.state_at(executor.head)
    assert state.get_balance(BOB) == 0
    assert state.get_balance(ALICE) == 0
    assert executor.head == head


def test_gaps_in_block_numbers_are_filled(dev: tuple[Executor, GenesisSpec]) -> None:
    executor, _spec = dev
    target = executor.head.block_number + 4
    results = _run(executor, SimBlockCalls(block_overrides=SimBlockOverrides(number=target)))
    assert [r.block.number for r in results] == list(range(executor.head.block_number + 1, target + 1))


@pytest.mark.parametrize(
    ("blocks", "error"),
    [
        ((SimBlockCalls(block_overrides=SimBlockOverrides(number=0)),), SimBlockNumberOrder),
        (
            (
                SimBlockCalls(block_overrides=SimBlockOverrides(time=10**9)),
                SimBlockCalls(block_overrides=SimBlockOverrides(time=10**9)),
            ),
            SimTimestampOrder,
        ),
        ((SimBlockCalls(block_overrides=SimBlockOverrides(number=10**6)),), SimClientLimit),
        ((SimBlockCalls(calls=(CallRequest(sender=ALICE, to=BOB, value=1),)),), SimInsufficientFunds),
        ((_funded(CallRequest(sender=ALICE, to=BOB, gas=20_000)),), SimIntrinsicGas),
        (
            (_funded(CallRequest(sender=ALICE, to=BOB, gas=40_000), gas_limit=30_000),),
            SimBlockGasLimitReached,
        ),
        (
            (
                SimBlockCalls(
                    state_overrides={BOB: AccountOverride(move_precompile_to=ALICE)},
                ),
            ),
            SimulationError,
        ),
    ],
)
def test_refusals(dev: tuple[Executor, GenesisSpec], blocks: tuple[SimBlockCalls, ...], error: type) -> None:
    executor, _spec = dev
    with pytest.raises(error):
        _run(executor, *blocks)


def test_validation_checks_nonces_and_base_fee(dev: tuple[Executor, GenesisSpec]) -> None:
    executor, _spec = dev
    with pytest.raises(SimNonceTooHigh):
        _run(executor, _funded(CallRequest(sender=ALICE, to=BOB, nonce=3)), validation=True)
    with pytest.raises(SimBaseFeeTooLow):
        _run(executor, _funded(CallRequest(sender=ALICE, to=BOB), base_fee_per_gas=7), validation=True)
    # Without validation the same calls go through.
    _run(executor, _funded(CallRequest(sender=ALICE, to=BOB, nonce=3), base_fee_per_gas=7))


def test_trace_transfers_and_reverts(dev: tuple[Executor, GenesisSpec]) -> None:
    executor, _spec = dev
    logger = bytes.fromhex("c200000000000000000000000000000000000000")
    block = SimBlockCalls(
        state_overrides={
            ALICE: AccountOverride(balance=10**18),
            BOB: AccountOverride(code=REVERTING_CODE),
            logger: AccountOverride(code=LOGGING_CODE),
        },
        calls=(
            CallRequest(sender=ALICE, to=logger, value=9),
            CallRequest(sender=ALICE, to=BOB, value=9),
        ),
    )
    [result] = _run(executor, block, trace_transfers=True)
    ok, reverted = result.calls
    assert [log.address for log in ok.logs] == [TRANSFER_LOG_ADDRESS, logger]
    transfer = ok.logs[0]
    assert transfer.topics == (TRANSFER_TOPIC, ALICE.rjust(32, b"\x00"), logger.rjust(32, b"\x00"))
    assert int.from_bytes(transfer.data, "big") == 9
    assert [log.log_index for log in ok.logs] == [0, 1]
    assert all(log.block_hash == result.block.hash for log in ok.logs)
    assert reverted.status == 0
    assert reverted.logs == ()
    assert isinstance(reverted.error, ExecutionReverted)
    # Without traceTransfers only the EVM's own log shows.
    [plain] = _run(executor, block)
    assert [log.address for log in plain.calls[0].logs] == [logger]


# --- rpc-compat fixtures against the real simulator ----------------------------------------

REPRESENTATIVE = (
    "ethSimulate-simple",
    "ethSimulate-simple-validation-fulltx",
    "ethSimulate-eth-send-should-produce-more-logs-on-forward",
    "ethSimulate-move-ecrecover-and-call",
    "ethSimulate-blockhash-complex",
    "ethSimulate-self-destructive-contract-produces-logs",
    "ethSimulate-run-out-of-gas-in-block-38015",
    "ethSimulate-overflow-nonce",
    "ethSimulate-transaction-too-low-nonce-38010",
    "ethSimulate-block-num-order-38020",
)


@pytest.fixture(scope="module")
def compat_dispatcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dispatcher]:
    if not (FIXTURES / "chain.rlp").is_file():
        pytest.skip("rpc-compat fixtures not present")
    spec = load_genesis(FIXTURES / "genesis.json")
    db = LevelDB(tmp_path_factory.mktemp("compat") / "db")
    executor = Executor(db, spec)
    ChainImporter(executor, spec).import_blocks(read_block_files([FIXTURES / "chain.rlp"]))
    yield Dispatcher(NodeBackend(executor, None, gas_cap=GAS_CAP))  # type: ignore[arg-type]
    db.close()


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_rpc_compat_fixture(compat_dispatcher: Dispatcher, name: str) -> None:
    lines = (FIXTURES / "eth_simulateV1" / f"{name}.io").read_text().splitlines()
    request = next(line[2:].strip() for line in lines if line.startswith(">>"))
    expected = json.loads(next(line[2:].strip() for line in lines if line.startswith("<<")))
    got = json.loads(asyncio.run(compat_dispatcher.handle_body(request)) or b"{}")
    assert compare(expected, got, spec_only=False) is None


def test_unknown_base_block(compat_dispatcher: Dispatcher) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_simulateV1",
            "params": [{"blockStateCalls": [{}]}, "0x999"],
        }
    )
    answer = json.loads(asyncio.run(compat_dispatcher.handle_body(body)) or b"{}")
    assert answer["error"] == error_object(BlockNotFound("header not found"))


def test_callcode_and_selfdestruct_transfers(dev: tuple[Executor, GenesisSpec]) -> None:
    executor, _spec = dev
    caller = bytes.fromhex("c200000000000000000000000000000000000000")
    library = bytes.fromhex("c300000000000000000000000000000000000000")
    doomed = bytes.fromhex("c400000000000000000000000000000000000000")
    # CALLCODE(gas=0xffff, addr=library, value=1, no args, no return), STOP
    callcode = bytes.fromhex("60006000600060006001" + "73" + library.hex() + "61ffff" + "f2" + "00")
    # SELFDESTRUCT(beneficiary=BOB)
    selfdestruct = bytes.fromhex("73" + BOB.hex() + "ff")
    block = SimBlockCalls(
        state_overrides={
            caller: AccountOverride(code=callcode, balance=10),
            doomed: AccountOverride(code=selfdestruct, balance=33),
        },
        calls=(CallRequest(sender=ALICE, to=caller), CallRequest(sender=ALICE, to=doomed)),
    )
    [result] = _run(executor, block, trace_transfers=True)
    [via_callcode] = result.calls[0].logs
    # geth reports CALLCODE's transfer to the code's address, though the value stays put.
    assert via_callcode.topics[1:] == (caller.rjust(32, b"\x00"), library.rjust(32, b"\x00"))
    [destructed] = result.calls[1].logs
    assert destructed.topics[1:] == (doomed.rjust(32, b"\x00"), BOB.rjust(32, b"\x00"))
    assert int.from_bytes(destructed.data, "big") == 33
