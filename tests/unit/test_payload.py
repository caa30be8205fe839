"""testing_buildBlockV1 and eth_config against geth's answers in the rpc-compat fixtures, and
eth_call's block environment (geth runs a call in the requested block itself)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from jsc_node.errors import InvalidTransaction
from jsc_node.genesis import load_genesis
from jsc_node.importer import ChainImporter, read_block_files
from jsc_node.rpc.methods.eth import _format_fork
from jsc_node.rpc.methods.testing import decode_payload_attributes, format_payload
from jsc_node.state.evm.executor import Executor
from jsc_node.state.serve import callenv
from jsc_node.state.serve.payload import build_payload, eth_config, geth_gas_limit
from jsc_node.state.storage.leveldb import LevelDB
from jsc_node.views import CallRequest

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


def _first_exchange(path: Path) -> tuple[list[Any], Any]:
    lines = path.read_text().splitlines()
    request = orjson.loads(next(line for line in lines if line.startswith(">>"))[2:])
    answer = orjson.loads(next(line for line in lines if line.startswith("<<"))[2:])
    return request.get("params", []), answer.get("result", answer.get("error"))


@pytest.mark.parametrize("name", ["build-block-empty-transactions", "build-block-with-transactions"])
def test_built_payload_matches_geth(executor: Executor, name: str) -> None:
    params, expected = _first_exchange(FIXTURES / "testing_buildBlockV1" / f"{name}.io")
    head_before = executor.head.hash
    built = build_payload(
        executor,
        bytes.fromhex(params[0][2:]),
        decode_payload_attributes(params[1]),
        [bytes.fromhex(tx[2:]) for tx in params[2]],
        bytes.fromhex(params[3][2:]),
    )
    assert format_payload(built) == expected
    assert executor.head.hash == head_before  # nothing committed


def test_a_transaction_that_does_not_apply_fails_the_build(executor: Executor) -> None:
    params, _error = _first_exchange(FIXTURES / "testing_buildBlockV1" / "build-block-invalid-transaction.io")
    with pytest.raises(InvalidTransaction, match="nonce too high"):
        build_payload(
            executor,
            bytes.fromhex(params[0][2:]),
            decode_payload_attributes(params[1]),
            [bytes.fromhex(tx[2:]) for tx in params[2]],
            b"",
        )


def test_geth_gas_limit_steps_toward_the_target() -> None:
    assert geth_gas_limit(0x47E7C40) == 0x47D5CA2  # the fixture's parent and built block
    assert geth_gas_limit(30_000_000) == 30_000_000 + 30_000_000 // 1024 - 1
    assert geth_gas_limit(60_000_000) == 60_000_000


def test_eth_config_matches_geth(executor: Executor) -> None:
    _params, expected = _first_exchange(FIXTURES / "eth_config" / "get-config.io")
    config = eth_config(executor, executor.head)
    got = {
        "current": _format_fork(config.current),
        "next": _format_fork(config.next),
        "last": _format_fork(config.last),
    }
    assert got == expected


def test_eth_call_runs_in_the_requested_block(executor: Executor) -> None:
    # hive's callenv contract returns NUMBER, CHAINID, COINBASE, BASEFEE, PREVRANDAO, ORIGIN, CALLVALUE.
    params, expected = _first_exchange(FIXTURES / "eth_call" / "call-callenv-options-eip1559.io")
    call = params[0]
    request = CallRequest(
        sender=bytes.fromhex(call["from"][2:]),
        to=bytes.fromhex(call["to"][2:]),
        gas=int(call["gas"], 16),
        max_fee_per_gas=int(call["maxFeePerGas"], 16),
        max_priority_fee_per_gas=int(call["maxPriorityFeePerGas"], 16),
        value=int(call["value"], 16),
        input=bytes.fromhex(call["input"][2:]),
    )
    header = executor.head
    price = callenv.call_gas_price(request, header)
    assert price == min(header.base_fee_per_gas + 0xB, 0x5763D65)
    state = callenv.call_state(executor, header, price)
    tx = executor.spoof_transaction(
        state, header, request.sender or b"", request.to, request.gas or 0, request.value or 0, b"", price
    )
    computation = state.apply_transaction(tx)
    assert "0x" + bytes(computation.output).hex() == expected


def test_a_free_call_sees_base_fee_zero(executor: Executor) -> None:
    header = executor.head
    state = callenv.call_state(executor, header, 0)
    assert state.execution_context.base_fee_per_gas == 0
    assert state.execution_context.block_number == header.block_number
    assert (
        callenv.call_state(executor, header, 1).execution_context.base_fee_per_gas == header.base_fee_per_gas
    )
