"""qbft_* methods through the dispatcher over the fake backend."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from jsc_node.rpc.dispatch import Dispatcher
from tests.unit.test_rpc_fake import FakeBackend, make_block

CANDIDATE = "0x1000000000000000000000000000000000000001"
VALIDATOR = "0x" + "65" * 20


def _call(backend: FakeBackend, method: str, *params: Any) -> dict[str, Any]:
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    answer = asyncio.run(Dispatcher(backend).handle_body(body))
    assert answer is not None
    result: dict[str, Any] = orjson.loads(answer)
    return result


def _backend() -> FakeBackend:
    fake = FakeBackend()
    for n in range(3):
        fake.add_block(make_block(n, []))
    return fake


def test_vote_lifecycle() -> None:
    fake = _backend()
    assert _call(fake, "qbft_proposeValidatorVote", CANDIDATE, True)["result"] is True
    assert _call(fake, "qbft_getPendingVotes")["result"] == {CANDIDATE: True}
    assert _call(fake, "qbft_discardValidatorVote", CANDIDATE)["result"] is True
    assert _call(fake, "qbft_discardValidatorVote", CANDIDATE)["result"] is False
    assert _call(fake, "qbft_getPendingVotes")["result"] == {}


def test_vote_params_are_checked() -> None:
    fake = _backend()
    assert _call(fake, "qbft_proposeValidatorVote", "0x1234", True)["error"]["code"] == -32602
    assert _call(fake, "qbft_proposeValidatorVote", CANDIDATE)["error"]["code"] == -32602
    assert _call(fake, "qbft_proposeValidatorVote", CANDIDATE, "yes")["error"]["code"] == -32602
    assert _call(fake, "qbft_discardValidatorVote")["error"]["code"] == -32602
    assert fake.votes == {}


def test_validators_and_metrics() -> None:
    fake = _backend()
    assert _call(fake, "qbft_getValidatorsByBlockNumber", "latest")["result"] == [VALIDATOR]
    assert _call(fake, "qbft_getValidatorsByBlockNumber", "0x99")["result"] is None
    assert _call(fake, "qbft_getValidatorsByBlockNumber", "banana")["error"]["code"] == -32602
    metrics = _call(fake, "qbft_getSignerMetrics")["result"]
    assert metrics == [{"address": VALIDATOR, "proposedBlockCount": "0x2", "lastProposedBlockNumber": "0x2"}]
