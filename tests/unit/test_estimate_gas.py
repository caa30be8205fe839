"""eth_estimateGas and the EIP-7623 calldata floor, on a real NodeBackend over LevelDB (the dev
chain runs Prague): a calldata-heavy transaction is estimated at its floor, so the estimate is a gas
limit the node's own pool accepts (before, 1 KiB of 0xff was estimated at 37,384 and the pool then
refused the transaction with 'insufficient gas for floor data gas cost')."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jsc_node.config import NodeConfig
from jsc_node.errors import InvalidTransaction
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import load_genesis
from jsc_node.views import BlockId, CallRequest

LATEST = BlockId(tag="latest")
EOA = b"\x42" * 20  # no code in the dev genesis


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "data").mkdir()
    db, _executor, pool, backend = open_node_state(
        NodeConfig(data_path=tmp_path / "data"), load_genesis(None)
    )
    yield backend
    pool.close()
    db.close()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 21_000),  # no calldata: the floor is the base cost
        (b"\x00" * 4, 21_040),  # zero bytes: intrinsic 4 a byte is above the floor's 10 a token
        (b"\xff" * 4, 21_160),  # intrinsic 21,064 < floor 21,000 + 10 * 16
        (b"\xff" * 1024, 61_960),  # intrinsic 37,384 < floor 21,000 + 10 * 4,096 (anvil: 61,960)
        (b"\x00" * 512 + b"\xff" * 512, 46_600),  # floor 21,000 + 10 * (512 + 2,048) over intrinsic 31,240
    ],
)
def test_a_transfer_is_estimated_at_least_at_its_calldata_floor(
    node: Any, data: bytes, expected: int
) -> None:
    assert asyncio.run(node.estimate_gas(CallRequest(to=EOA, input=data), LATEST, None)) == expected


def test_a_gas_cap_under_the_floor_is_refused_with_geths_words(node: Any) -> None:
    request = CallRequest(to=EOA, input=b"\xff" * 1024, gas=50_000)
    with pytest.raises(
        InvalidTransaction, match=r"^insufficient gas for floor data gas cost: have 50000, want 61960$"
    ):
        asyncio.run(node.estimate_gas(request, LATEST, None))
