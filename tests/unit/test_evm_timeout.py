"""The RPC EVM time limit (jsc_node/state/serve/deadline.py) on a real NodeBackend over LevelDB: a call
that loops until a 50M gas cap is aborted with geth's error after the limit, its kin too; without
a limit it runs to out of gas; block work in other threads never gets the limited meter."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth.vm.gas_meter import GasMeter

from jsc_node.config import NodeConfig
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import load_genesis
from jsc_node.state.serve import deadline
from jsc_node.views import AccountOverride, BlockId, CallRequest, ExecutionFailed

LOOP = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP: forever, 11 gas a turn
TARGET = b"\x42" * 20
LATEST = BlockId(tag="latest")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Any]:
    config = NodeConfig(data_path=tmp_path / "data", rpc_evm_timeout=0.3)
    (tmp_path / "data").mkdir()
    db, _executor, pool, backend = open_node_state(config, load_genesis(None))
    backend.evm_timeout_s = config.rpc_evm_timeout
    yield backend
    pool.close()
    db.close()


def _loop_call(gas: int | None = None) -> tuple[CallRequest, dict[bytes, AccountOverride]]:
    return CallRequest(to=TARGET, gas=gas), {TARGET: AccountOverride(code=LOOP)}


def test_a_looping_call_is_aborted_with_geths_error(node: Any) -> None:
    request, overrides = _loop_call()
    started = time.monotonic()
    with pytest.raises(ExecutionFailed, match=r"^execution aborted \(timeout = 300ms\)$"):
        asyncio.run(node.call(request, LATEST, overrides))
    assert time.monotonic() - started < 5  # 50M gas of this loop takes far longer


def test_estimate_gas_is_limited_too(node: Any) -> None:
    request, overrides = _loop_call()
    with pytest.raises(ExecutionFailed, match="execution aborted"):
        asyncio.run(node.estimate_gas(request, LATEST, overrides))


def test_without_a_limit_the_loop_runs_out_of_gas(node: Any) -> None:
    node.evm_timeout_s = 0
    request, overrides = _loop_call(gas=200_000)
    with pytest.raises(ExecutionFailed, match="out of gas"):
        asyncio.run(node.call(request, LATEST, overrides))


def test_a_short_call_under_the_limit_answers(node: Any) -> None:
    # PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    code = bytes.fromhex("602a60005260206000f3")
    out = asyncio.run(node.call(CallRequest(to=TARGET), LATEST, {TARGET: AccountOverride(code=code)}))
    assert int.from_bytes(out, "big") == 42


def test_other_threads_keep_py_evms_meter() -> None:
    from eth.vm.forks.prague.computation import PragueComputation

    meters: dict[str, type] = {}

    class Msg:
        gas = 100

    def make(name: str) -> None:
        computation = PragueComputation.__new__(PragueComputation)
        computation.msg = Msg()
        meters[name] = type(computation._configure_gas_meter())

    with deadline.time_limit(1.0):
        make("limited")
        worker = threading.Thread(target=make, args=("other thread",))
        worker.start()
        worker.join()
    make("after")
    assert meters == {
        "limited": deadline.DeadlineGasMeter,
        "other thread": GasMeter,
        "after": GasMeter,
    }
