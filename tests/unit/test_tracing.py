"""The tracers against geth's own traces.

The rpc-compat fixtures hold geth's full answers to ``debug_traceBlockByNumber`` and
``debug_traceTransaction`` for blocks of the fixture chain (memory, storage and return-data
variants). hive checks only their shape; here every step must match: pc, op, gas, gasCost, depth,
stack, memory, storage. The callTracer has no geth trace in the fixtures: its frames are checked
on contracts made for the purpose (a call into a contract that reverts with ``Error(string)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak

from jsc_node.genesis import load_genesis
from jsc_node.importer import ChainImporter, read_block_files
from jsc_node.rpc.methods.debug import decode_trace_config, format_trace
from jsc_node.state.evm.executor import Executor
from jsc_node.state.serve import callenv
from jsc_node.state.serve.tracing import CallTracer, StructLogger, trace_block, traced_computation_class
from jsc_node.state.storage.leveldb import LevelDB
from jsc_node.views import CallFrameView, StructTraceView, TraceConfig

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "rpc-compat"

pytestmark = pytest.mark.skipif(not (FIXTURES / "chain.rlp").is_file(), reason="rpc-compat fixtures missing")


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
    spec = load_genesis(FIXTURES / "genesis.json")
    db = LevelDB(tmp_path_factory.mktemp("chain") / "chaindata")
    ex = Executor(db, spec)
    ChainImporter(ex, spec).import_blocks(read_block_files([FIXTURES / "chain.rlp"]))
    yield ex
    db.close()


def _exchanges(method: str) -> Iterator[tuple[str, list[Any], Any]]:
    for path in sorted((FIXTURES / method).glob("*.io")):
        request = None
        for line in path.read_text().splitlines():
            if line.startswith(">>"):
                request = orjson.loads(line[2:])
            elif line.startswith("<<") and request is not None:
                answer = orjson.loads(line[2:])
                if "result" in answer:
                    yield f"{path.stem}#{request['id']}", request["params"], answer["result"]
                request = None


BLOCK_CASES = list(_exchanges("debug_traceBlockByNumber"))
TX_CASES = list(_exchanges("debug_traceTransaction"))


@pytest.mark.parametrize(("name", "params", "expected"), BLOCK_CASES, ids=[c[0] for c in BLOCK_CASES])
def test_block_traces_match_geth_step_for_step(
    executor: Executor, name: str, params: list[Any], expected: list[Any]
) -> None:
    config = decode_trace_config(params[1]) if len(params) > 1 else TraceConfig()
    header = executor.chaindb.get_canonical_block_header_by_number(int(params[0], 16))
    got = [
        {"txHash": "0x" + t.tx_hash.hex(), "result": format_trace(t.result)}
        for t in trace_block(executor, header, config)
    ]
    assert len(got) == len(expected)
    for mine, geths in zip(got, expected, strict=True):
        assert mine["txHash"] == geths["txHash"]
        assert {k: v for k, v in mine["result"].items() if k != "structLogs"} == {
            k: v for k, v in geths["result"].items() if k != "structLogs"
        }
        for i, (step, want) in enumerate(
            zip(mine["result"]["structLogs"], geths["result"]["structLogs"], strict=True)
        ):
            assert step == want, f"{name}: {geths['txHash']} step {i}"


@pytest.mark.parametrize(("name", "params", "expected"), TX_CASES, ids=[c[0] for c in TX_CASES])
def test_transaction_trace_matches_geth(
    executor: Executor, name: str, params: list[Any], expected: Any
) -> None:
    tx_hash = bytes.fromhex(params[0][2:])
    number, index = executor.chaindb.get_transaction_index(tx_hash)
    header = executor.chaindb.get_canonical_block_header_by_number(number)
    (traced,) = trace_block(executor, header, TraceConfig(), only_index=index)
    assert traced.tx_hash == tx_hash
    assert format_trace(traced.result) == expected


def test_genesis_is_not_traceable(executor: Executor) -> None:
    from jsc_node.errors import BlockNotFound

    with pytest.raises(BlockNotFound, match="genesis is not traceable"):
        trace_block(executor, executor.genesis, TraceConfig())


def test_disable_stack_leaves_stack_out(executor: Executor) -> None:
    header = executor.chaindb.get_canonical_block_header_by_number(1)
    traced = trace_block(executor, header, TraceConfig(disable_stack=True), only_index=0)[0].result
    assert isinstance(traced, StructTraceView)
    assert all(step.stack is None for step in traced.struct_logs)
    assert all("stack" not in step for step in format_trace(traced)["structLogs"])


def test_call_tracer_top_frame_is_the_transaction(executor: Executor) -> None:
    header = executor.chaindb.get_canonical_block_header_by_number(1)
    traced = trace_block(executor, header, TraceConfig(tracer="callTracer"), only_index=0)[0]
    frame = traced.result
    assert isinstance(frame, CallFrameView)
    assert frame.type == "CREATE"  # 0xc1d6...: a contract creation
    assert frame.gas_used == 66259  # the receipt's gas used, as in geth's struct trace above
    assert frame.calls == ()
    assert frame.output is not None
    assert frame.output.startswith(bytes.fromhex("6000438152"))


# --- callTracer on purpose-made contracts ---------------------------------------------

CALLER = bytes.fromhex("00000000000000000000000000000000000c0de1")
CALLEE = bytes.fromhex("00000000000000000000000000000000000c0de2")
SENDER = bytes.fromhex("7435ed30a8b4aeb0877cef0c6e8cffe834eb865f")  # funded in the fixture chain


def _revert_with_error(reason: str) -> bytes:
    """Runtime code: SSTORE(0, 1) then revert with Error(reason)."""
    data = bytes.fromhex("08c379a0") + (32).to_bytes(32, "big") + len(reason).to_bytes(32, "big")
    data += reason.encode().ljust(32, b"\x00")
    code = bytes.fromhex("6001600055")  # PUSH1 1 PUSH1 0 SSTORE
    for i in range(0, len(data), 32):
        code += bytes([0x7F]) + data[i : i + 32].ljust(32, b"\x00") + bytes([0x60, i, 0x52])  # MSTORE
    return code + bytes([0x60, len(data), 0x60, 0x00, 0xFD])  # REVERT(0, len)


def _call_then_return() -> bytes:
    """Runtime code: CALL(gas, CALLEE, 0, 0, 4, 0, 0) with calldata 0xdeadbeef, return the status."""
    code = bytes.fromhex("63deadbeef60e01b600052")  # mstore(0, 0xdeadbeef << 224)
    code += bytes.fromhex("6000600060046000600073") + CALLEE + bytes.fromhex("5af1")  # CALL
    return code + bytes.fromhex("60005260206000f3")  # mstore(0, status); return(0, 32)


def _run_traced(executor: Executor, tracer: StructLogger | CallTracer) -> Any:
    header = executor.head
    state = callenv.call_state(executor, header, 0)
    state.set_code(CALLER, _call_then_return())
    state.set_code(CALLEE, _revert_with_error("nope"))
    computation_class = type(state).computation_class
    state.computation_class = traced_computation_class(computation_class, tracer)
    tx = SpoofTransaction(
        executor.schedule.vm_class_for_header(header).create_unsigned_transaction(
            nonce=state.get_nonce(SENDER), gas_price=0, gas=200_000, to=CALLER, value=0, data=b"\x01\x02"
        ),
        from_=SENDER,
    )
    return tx, state.apply_transaction(tx)


def test_call_tracer_nests_a_reverted_call_with_its_reason(executor: Executor) -> None:
    tracer = CallTracer(TraceConfig(tracer="callTracer"))
    tx, computation = _run_traced(executor, tracer)
    assert not computation.is_error
    top = tracer.result(tx, 50_000)
    assert (top.type, top.sender, top.to, top.value, top.input) == ("CALL", SENDER, CALLER, 0, b"\x01\x02")
    assert top.output == (0).to_bytes(32, "big")  # the inner call failed: CALL pushed 0
    assert top.error is None
    (inner,) = top.calls
    assert (inner.type, inner.sender, inner.to, inner.value) == ("CALL", CALLER, CALLEE, 0)
    assert inner.input == bytes.fromhex("deadbeef")
    assert inner.error == "execution reverted"
    assert inner.revert_reason == "nope"
    assert inner.output is not None
    assert inner.output[:4] == bytes.fromhex("08c379a0")
    assert 0 < inner.gas_used < inner.gas
    formatted = format_trace(top)
    assert formatted["calls"][0]["revertReason"] == "nope"
    assert formatted["calls"][0]["type"] == "CALL"
    assert "calls" not in formatted["calls"][0]


def test_struct_logger_charges_a_call_with_the_gas_it_forwards(executor: Executor) -> None:
    tracer = StructLogger(TraceConfig())
    _tx, computation = _run_traced(executor, tracer)
    trace = tracer.result(0, computation)
    call_index = next(i for i, s in enumerate(trace.struct_logs) if s.op == "CALL")
    call = trace.struct_logs[call_index]
    first_inner = trace.struct_logs[call_index + 1]
    assert first_inner.depth == 2
    # geth: a CALL's cost includes what it hands over, so the callee starts with at most that.
    assert first_inner.gas < call.gas_cost < call.gas
    revert = next(s for s in trace.struct_logs if s.op == "REVERT")
    assert revert.error is None  # geth marks no error on REVERT itself
    after = trace.struct_logs[trace.struct_logs.index(revert) + 1]
    assert after.depth == 1
    sstore = next(s for s in trace.struct_logs if s.op == "SSTORE")
    assert sstore.storage == {b"\x00" * 32: (1).to_bytes(32, "big")}


def test_call_tracer_only_top_call(executor: Executor) -> None:
    tracer = CallTracer(TraceConfig(tracer="callTracer", only_top_call=True))
    tx, _computation = _run_traced(executor, tracer)
    assert tracer.result(tx, 1).calls == ()


def _trace_code(executor: Executor, code: bytes, gas: int) -> StructTraceView:
    header = executor.head
    state = callenv.call_state(executor, header, 0)
    state.set_code(CALLEE, code)
    tracer = StructLogger(TraceConfig())
    computation_class = type(state).computation_class
    state.computation_class = traced_computation_class(computation_class, tracer)
    unsigned = executor.schedule.vm_class_for_header(header).create_unsigned_transaction(
        nonce=state.get_nonce(SENDER), gas_price=0, gas=gas, to=CALLEE, value=0, data=b""
    )
    computation = state.apply_transaction(SpoofTransaction(unsigned, from_=SENDER))
    return tracer.result(gas, computation)


def test_stack_underflow_is_the_steps_own_error(executor: Executor) -> None:
    trace = _trace_code(executor, bytes([0x01]), 50_000)  # ADD on an empty stack
    (step,) = trace.struct_logs
    assert (step.op, step.error, step.gas_cost) == ("ADD", "stack underflow (0 <=> 2)", 3)
    assert trace.failed
    assert trace.return_value == b""


def test_out_of_gas_shows_the_cost_asked_for(executor: Executor) -> None:
    # PUSH1 1 PUSH1 0 SSTORE with 5 gas left after the intrinsic cost: the second PUSH1 fails.
    trace = _trace_code(executor, bytes.fromhex("6001600055"), 21_000 + 5)
    first, second = trace.struct_logs
    assert (first.op, first.gas, first.gas_cost, first.error) == ("PUSH1", 5, 3, None)
    assert (second.op, second.gas, second.gas_cost, second.error) == ("PUSH1", 2, 3, "out of gas")


def test_an_undefined_opcode_ends_the_frame_without_a_step_error(executor: Executor) -> None:
    trace = _trace_code(executor, bytes([0xFE]), 50_000)  # INVALID
    (step,) = trace.struct_logs
    assert step.op == "INVALID"
    assert step.error is None  # geth: the failure comes from running it (OnFault), not its step
    assert trace.failed


@pytest.mark.parametrize("tracer", [None, "callTracer"])
def test_tracing_does_not_change_execution(executor: Executor, tracer: str | None) -> None:
    """Every transaction of the fixture chain (all tx types, forks Frontier to Prague), traced,
    uses exactly the gas its stored receipt says."""
    from jsc_node.state.chain import ChainReader

    reader = ChainReader(executor.chaindb, executor.schedule)
    traced_txs = 0
    for number in range(1, executor.head.block_number + 1):
        header = executor.chaindb.get_canonical_block_header_by_number(number)
        receipts = reader.receipt_views(header)
        traces = trace_block(executor, header, TraceConfig(tracer=tracer))
        assert [t.tx_hash for t in traces] == [r.transaction_hash for r in receipts]
        for traced, receipt in zip(traces, receipts, strict=True):
            result = traced.result
            used = result.gas if isinstance(result, StructTraceView) else result.gas_used
            assert used == receipt.gas_used, (number, traced.tx_hash.hex())
            if isinstance(result, StructTraceView):
                assert result.failed == (receipt.status == 0)
            traced_txs += 1
    assert traced_txs > 100


def test_refund_counter_after_clearing_a_slot(executor: Executor) -> None:
    header = executor.head
    state = callenv.call_state(executor, header, 0)
    state.set_code(CALLEE, bytes.fromhex("600060005500"))  # SSTORE(0, 0); STOP
    state.set_storage(CALLEE, 0, 7)
    state.lock_changes()  # slot 0 = 7 is the original value (EIP-2200)
    tracer = StructLogger(TraceConfig())
    state.computation_class = traced_computation_class(type(state).computation_class, tracer)
    unsigned = executor.schedule.vm_class_for_header(header).create_unsigned_transaction(
        nonce=state.get_nonce(SENDER), gas_price=0, gas=100_000, to=CALLEE, value=0, data=b""
    )
    computation = state.apply_transaction(SpoofTransaction(unsigned, from_=SENDER))
    steps = tracer.result(0, computation).struct_logs
    assert [s.op for s in steps] == ["PUSH1", "PUSH1", "SSTORE", "STOP"]
    assert [s.refund for s in steps] == [0, 0, 0, 4800]  # EIP-3529: SSTORE_CLEARS_SCHEDULE
    assert format_trace(tracer.result(0, computation))["structLogs"][3]["refund"] == 4800


def test_call_tracer_with_log_shows_the_receipts_logs(executor: Executor) -> None:
    from jsc_node.state.chain import ChainReader

    header = executor.chaindb.get_canonical_block_header_by_number(2)
    receipt = ChainReader(executor.chaindb, executor.schedule).receipt_views(header)[0]
    assert receipt.logs  # 0x25d8...: emits one LOG1
    config = TraceConfig(tracer="callTracer", with_log=True)
    frame = trace_block(executor, header, config, only_index=0)[0].result
    assert isinstance(frame, CallFrameView)
    assert frame.logs is not None
    assert [(log.address, log.topics, log.data) for log in frame.logs] == [
        (log.address, log.topics, log.data) for log in receipt.logs
    ]
    assert all(log.position == 0 for log in frame.logs)  # no sub-calls before them
    formatted = format_trace(frame)["logs"][0]
    assert set(formatted) == {"address", "topics", "data", "position"}
    plain = trace_block(executor, header, TraceConfig(tracer="callTracer"), only_index=0)[0].result
    assert "logs" not in format_trace(plain)


def test_trace_call_runs_a_call_like_eth_call(executor: Executor) -> None:
    """debug_traceCall's engine: hive's callenv contract, traced, returns what geth's eth_call did."""
    from jsc_node.state.serve.tracing import trace_transaction_on

    lines = (FIXTURES / "eth_call" / "call-callenv.io").read_text().splitlines()
    request = orjson.loads(next(line for line in lines if line.startswith(">>"))[2:])["params"][0]
    expected = orjson.loads(next(line for line in lines if line.startswith("<<"))[2:])["result"]
    header = executor.head
    state = callenv.call_state(executor, header, 0)
    tx = executor.spoof_transaction(
        state, header, b"\x00" * 20, bytes.fromhex(request["to"][2:]), 100_000, 0, b""
    )
    trace = trace_transaction_on(executor, state, header, tx, TraceConfig())
    assert isinstance(trace, StructTraceView)
    assert "0x" + trace.return_value.hex() == expected
    assert [s.op for s in trace.struct_logs][:3] == ["PUSH1", "NUMBER", "DUP2"]
    assert trace.struct_logs[2].stack == (0, header.block_number)  # NUMBER is the block's own
    frame = trace_transaction_on(executor, state, header, tx, TraceConfig(tracer="callTracer"))
    assert isinstance(frame, CallFrameView)
    assert frame.gas_used == trace.gas


# --- prestateTracer on purpose-made contracts ---------------------------------------------

OTHER = bytes.fromhex("00000000000000000000000000000000000c0de3")
TARGET = bytes.fromhex("00000000000000000000000000000000000c0de4")


def _prestate(
    executor: Executor, setup: dict[bytes, tuple[bytes, int]], to: bytes, gas: int, **flags: bool
) -> Any:
    """Run a call from SENDER to ``to`` on the head state with ``setup`` (address -> code, balance)
    under the prestateTracer, as debug_traceCall does; the formatted result."""
    from jsc_node.state.evm.forks import fork_of_vm
    from jsc_node.state.serve.tracing import PrestateTracer

    header = executor.head
    state = callenv.call_state(executor, header, 0)
    for address, (code, balance) in setup.items():
        state.set_code(address, code)
        state.set_balance(address, balance)
    state.lock_changes()
    vm_class = executor.schedule.vm_class_for_header(header)
    tracer = PrestateTracer(TraceConfig(tracer="prestateTracer", **flags), fork_of_vm(vm_class))
    state.computation_class = traced_computation_class(type(state).computation_class, tracer)
    unsigned = vm_class.create_unsigned_transaction(
        nonce=state.get_nonce(SENDER), gas_price=0, gas=gas, to=to, value=0, data=b""
    )
    tx = SpoofTransaction(unsigned, from_=SENDER)
    tracer.tx_start(state, tx)
    state.apply_transaction(tx)
    tracer.tx_end(state)
    return format_trace(tracer.result())


def _call_code(address: bytes) -> bytes:
    """CALL(gas 0, address, value 0, no data, no return data); STOP."""
    return bytes.fromhex("6000600060006000600073") + address + bytes.fromhex("6000f100")


def test_prestate_skips_a_call_that_runs_out_of_gas_before_it_runs(executor: Executor) -> None:
    setup = {CALLER: (_call_code(OTHER), 0), OTHER: (b"", 5)}
    # 21,000 + 7 pushes: the cold CALL (2,600) cannot be paid. geth hands the error to OnOpcode,
    # and the prestateTracer looks nothing up for it.
    starved = _prestate(executor, setup, CALLER, 21_000 + 21 + 100)
    assert "0x" + OTHER.hex() not in starved
    assert "0x" + CALLER.hex() in starved
    fed = _prestate(executor, setup, CALLER, 100_000)
    assert fed["0x" + OTHER.hex()] == {"balance": "0x5"}


def test_prestate_looks_up_an_eip7702_delegation_target(executor: Executor) -> None:
    setup = {
        OTHER: (bytes.fromhex("ef0100") + TARGET, 1),  # an EOA delegated to TARGET
        TARGET: (bytes.fromhex("00"), 0),
    }
    result = _prestate(executor, setup, OTHER, 100_000)
    assert result["0x" + TARGET.hex()] == {
        "balance": "0x0",
        "code": "0x00",
        "codeHash": "0x" + keccak(b"\x00").hex(),
    }
    assert result["0x" + OTHER.hex()]["code"] == "0xef0100" + TARGET.hex()


def test_prestate_diff_of_an_inner_create(executor: Executor) -> None:
    # CREATE(value 0, offset 0, size 0): an empty contract at keccak(rlp([CALLER, 0]))[12:].
    from eth._utils.address import generate_contract_address

    setup = {CALLER: (bytes.fromhex("600060006000f000"), 0)}
    diff = _prestate(executor, setup, CALLER, 100_000, diff_mode=True)
    made = "0x" + bytes(generate_contract_address(CALLER, 0)).hex()
    assert made not in diff["pre"]  # created: absent before
    assert diff["post"][made] == {"nonce": 1}  # EIP-161: a new contract's nonce is 1
    assert diff["post"]["0x" + CALLER.hex()] == {"nonce": 1}  # CREATE bumped the creator's nonce
    caller_before = diff["pre"]["0x" + CALLER.hex()]
    assert caller_before["balance"] == "0x0"
    assert "nonce" not in caller_before  # 0: left out
