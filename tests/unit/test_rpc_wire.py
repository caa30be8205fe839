"""rpc/wire.py: request ids come back exactly as sent, whatever their size (geth echoes the raw id)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.rpc.wire import loads_request
from tests.unit.test_rpc_fake import FakeBackend


@pytest.mark.parametrize(
    "raw_id",
    ["18446744073709551617", "-9223372036854775809", "1" + "0" * 40, "18446744073709551615", "7", '"x"'],
)
def test_ids_round_trip_exactly(raw_id: str) -> None:
    body = f'{{"jsonrpc":"2.0","id":{raw_id},"method":"rpc_modules"}}'
    answer = asyncio.run(Dispatcher(FakeBackend()).handle_body(body))
    assert answer is not None
    assert answer.startswith(f'{{"jsonrpc":"2.0","id":{raw_id},"result":'.encode())


def test_batch_and_error_answers_keep_big_ids() -> None:
    body = b'[{"jsonrpc":"2.0","id":18446744073709551617,"method":"nope"},{"jsonrpc":"2.0","id":2.5,"method":"nope"}]'
    answer = asyncio.run(Dispatcher(FakeBackend()).handle_body(body))
    assert answer is not None
    assert answer.startswith(b'[{"jsonrpc":"2.0","id":18446744073709551617,"error":{"code":-32601')
    assert b'"id":2.5,' in answer


def test_small_ids_stay_on_the_fast_path() -> None:
    payload = loads_request(b'{"id":18446744073709551615,"params":[1.5]}')
    assert payload == {"id": 2**64 - 1, "params": [1.5]}
    with pytest.raises(orjson.JSONDecodeError):
        loads_request(b"{not json")
