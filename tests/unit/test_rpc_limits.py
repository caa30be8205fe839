"""rpc/limits.py and the batch limits of rpc/dispatch.py: the token bucket on a fake clock, client
keys, call counting, and the limits on the real app (ASGI, no sockets): 429 with Retry-After, 503
over the active-request limit, WebSocket refusals per call, geth's batch errors."""

from __future__ import annotations

import asyncio
import math
import warnings
from typing import Any

import httpx
import orjson
import pytest

from jsc_node.config import NodeConfig
from jsc_node.rpc.app import create_app
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.rpc.limits import MAX_TRACKED_CLIENTS, RateLimiter, call_count, client_key
from tests.unit.test_rpc_fake import FakeBackend, make_block, post

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CHAIN_ID = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=20, clock=clock)
    assert all(limiter.take("a", 1) == 0.0 for _ in range(20))
    assert limiter.take("a", 1) == pytest.approx(0.1)
    assert limiter.take("b", 1) == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert all(limiter.take("a", 1) == 0.0 for _ in range(5))
    assert limiter.take("a", 1) > 0
    clock.now += 1000
    assert all(limiter.take("a", 1) == 0.0 for _ in range(20))  # never above the burst
    assert limiter.take("a", 1) > 0


def test_a_batch_costs_each_call_and_one_larger_than_the_burst_never_passes() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=10, clock=clock)
    assert limiter.take("a", 4) == 0.0
    assert limiter.take("a", 7) == pytest.approx(0.1)  # 6 left, 7 needed
    assert limiter.take("a", 6) == 0.0
    clock.now += 1000
    assert limiter.take("a", 11) == math.inf
    assert limiter.take("a", 10) == 0.0  # the refused batch cost nothing


def test_burst_defaults_to_a_seconds_worth() -> None:
    assert RateLimiter(rate=2.5, burst=0).burst == 3
    assert RateLimiter(rate=0.1, burst=0).burst == 1


def test_idle_buckets_are_dropped_when_too_many_are_kept() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    for n in range(MAX_TRACKED_CLIENTS):
        limiter.take(str(n), 1)
    clock.now += 2  # all full again
    limiter.take("new", 1)
    assert limiter.take("0", 1) == 0.0
    assert len(limiter._buckets) <= 3


@pytest.mark.parametrize(
    ("client", "key"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (("2001:db8:1:2:aaaa::1", 1), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:bbbb::9", 1), "2001:db8:1:2::/64"),
        (("::ffff:203.0.113.7", 1), "203.0.113.7"),
        (None, None),
    ],
)
def test_client_key(client: tuple[str, int] | None, key: str | None) -> None:
    assert client_key({"client": client}) == key


def test_call_count() -> None:
    assert call_count(CHAIN_ID) == 1
    assert call_count(b"[" + b",".join([CHAIN_ID] * 5) + b"]") == 5
    assert call_count(b"{oops") == 1
    assert call_count('[{"method":"a"},{"method":"b"}]') == 2


# --- on the app ---------------------------------------------------------------------------------


def _app(**settings: Any) -> Any:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    return create_app(backend, NodeConfig(**settings))


def test_rate_limit_answers_429_with_retry_after_and_minus_32005() -> None:
    app = _app(rpc_rate_limit=1, rpc_rate_limit_burst=3)
    batch = b"[" + b",".join([CHAIN_ID] * 3) + b"]"
    assert len(post(app, batch).json()) == 3
    refused = post(app, CHAIN_ID)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == {
        "code": -32005,
        "message": "rate limit exceeded: 1 calls per second per client (--rpc-rate-limit)",
    }


def test_a_batch_larger_than_the_burst_is_refused_without_retry_after() -> None:
    app = _app(rpc_rate_limit=2, rpc_rate_limit_burst=4)
    refused = post(app, b"[" + b",".join([CHAIN_ID] * 5) + b"]")
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    assert refused.json()["error"]["message"] == (
        "rate limit exceeded: a batch of 5 calls is more than the 4 a client may make at once "
        "(--rpc-rate-limit-burst)"
    )
    assert len(post(app, b"[" + b",".join([CHAIN_ID] * 4) + b"]").json()) == 4


def test_rate_limit_is_off_by_default() -> None:
    app = _app()
    assert all(post(app, CHAIN_ID).status_code == 200 for _ in range(300))


def test_oversized_body_still_gets_413_with_the_rate_limit_on() -> None:
    app = _app(rpc_rate_limit=1000, rpc_max_request_bytes=1024)
    response = post(app, CHAIN_ID.ljust(5000, b" "))
    assert response.status_code == 413
    assert post(app, CHAIN_ID).json()["result"] == "0x539"


def test_rate_limited_websocket_gets_an_error_per_call_and_stays_open() -> None:
    app = _app(rpc_rate_limit=1, rpc_rate_limit_burst=2)
    with TestClient(app) as client, client.websocket_connect("ws://localhost/") as ws:
        ws.send_text(CHAIN_ID.decode())
        assert orjson.loads(ws.receive_text())["result"] == "0x539"
        ws.send_text(CHAIN_ID.decode())
        assert orjson.loads(ws.receive_text())["result"] == "0x539"
        batch = [{"jsonrpc": "2.0", "id": n, "method": "eth_chainId"} for n in (7, 8)]
        batch.append({"jsonrpc": "2.0", "method": "eth_chainId"})  # a notification: owed nothing
        ws.send_text(orjson.dumps(batch).decode())
        refused = orjson.loads(ws.receive_text())
        assert [(r["id"], r["error"]["code"]) for r in refused] == [(7, -32005), (8, -32005)]
        ws.send_text(CHAIN_ID.decode())
        assert orjson.loads(ws.receive_text())["error"]["code"] == -32005


def test_requests_over_the_active_limit_get_503_at_once() -> None:
    gate = asyncio.Event()

    class SlowBackend(FakeBackend):
        async def chain_id(self) -> int:
            await gate.wait()
            return 1

    backend = SlowBackend()
    backend.add_block(make_block(0))
    app = create_app(backend, NodeConfig(rpc_http_max_active_connections=2))

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            headers = {"content-type": "application/json"}
            slow = [
                asyncio.create_task(client.post("/", content=CHAIN_ID, headers=headers)) for _ in range(2)
            ]
            await asyncio.sleep(0.05)
            over = await asyncio.wait_for(client.post("/", content=CHAIN_ID, headers=headers), 5)
            gate.set()
            return [over, *await asyncio.gather(*slow)]

    over, first, second = asyncio.run(go())
    assert over.status_code == 503
    assert over.json()["error"]["code"] == -32005
    assert "--rpc-http-max-active-connections" in over.json()["error"]["message"]
    assert first.status_code == second.status_code == 200


def test_batch_size_default_is_besus_1024_with_geths_error() -> None:
    app = _app()
    assert len(post(app, b"[" + b",".join([CHAIN_ID] * 1024) + b"]").json()) == 1024
    answer = post(app, b"[" + b",".join([CHAIN_ID] * 1025) + b"]").json()
    assert answer == [{"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "batch too large"}}]


def test_batch_response_cap_gives_geths_response_too_large_to_the_calls_after_it() -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    dispatcher = Dispatcher(backend, max_batch_response_bytes=200)
    calls = [
        {"jsonrpc": "2.0", "id": n, "method": "web3_sha3", "params": ["0x" + "ab" * 8]} for n in range(10)
    ]
    answers = orjson.loads(asyncio.run(dispatcher.handle_body(orjson.dumps(calls))) or b"")
    assert [a["id"] for a in answers] == list(range(10))
    served = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    # Each answer is ~110 bytes: the first two pass 200 (the second takes it over), then -32003.
    assert len(served) == 2
    assert {orjson.dumps(a["error"]) for a in refused} == {b'{"code":-32003,"message":"response too large"}'}
    uncapped = Dispatcher(backend)
    everything = orjson.loads(asyncio.run(uncapped.handle_body(orjson.dumps(calls))) or b"")
    assert all("result" in a for a in everything)


def test_run_passes_the_guard_and_limit_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from jsc_node.cli import app
    from tests.unit.test_cli_run import FakeNode, install

    fake = FakeNode()
    install(monkeypatch, fake)
    args = [
        "run",
        "--host-allowlist", "rpc.example.org,localhost",
        "--host-allowlist", "127.0.0.1",
        "--rpc-ws-origins", "https://dapp.example",
        "--rpc-http-max-active-connections", "10",
        "--rpc-ws-max-active-connections", "11",
        "--rpc-http-max-batch-size", "12",
        "--rpc-batch-response-max-size", "13000",
        "--rpc-rate-limit", "2.5",
        "--rpc-rate-limit-burst", "14",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [(_, config)] = fake.calls
    assert config.host_allowlist == ["rpc.example.org", "localhost", "127.0.0.1"]
    assert config.rpc_ws_origins == ["https://dapp.example"]
    assert (config.rpc_http_max_active_connections, config.rpc_ws_max_active_connections) == (10, 11)
    assert (config.rpc_http_max_batch_size, config.rpc_batch_response_max_size) == (12, 13000)
    assert (config.rpc_rate_limit, config.rpc_rate_limit_burst) == (2.5, 14)
    refused = CliRunner().invoke(app, ["run", "--rpc-http-max-active-connections", "0"])
    assert refused.exit_code == 1
    assert "rpc_http_max_active_connections" in refused.output


def test_defaults_are_besus_and_geths() -> None:
    config = NodeConfig()
    assert config.rpc_http_max_active_connections == config.rpc_ws_max_active_connections == 80
    assert config.rpc_http_max_batch_size == 1024
    assert config.rpc_batch_response_max_size == 25_000_000
    assert config.rpc_max_request_bytes == 5 * 1024 * 1024
    assert config.rpc_rate_limit == 0
