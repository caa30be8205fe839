"""The HTTP/WebSocket transport: POST only, body limit, CORS, batches over HTTP, WebSocket frames."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from jsc_node.config import RPC_APIS, NodeConfig
from jsc_node.rpc.app import create_app, server_options
from tests.unit.test_rpc_fake import AccessSettings, FakeBackend, make_block, post, request

with warnings.catch_warnings():
    # Starlette 1.x warns at import that it wants "httpx2"; the WebSocket test client still works.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


class Settings(AccessSettings):
    def __init__(self, origins: tuple[str, ...] = (), max_bytes: int = 4096, max_batch: int = 100) -> None:
        self.rpc_http_cors_origins = origins
        self.rpc_max_request_bytes = max_bytes
        self.rpc_http_max_batch_size = max_batch
        self.rpc_http_api = RPC_APIS
        self.rpc_ws_api = RPC_APIS


def _app(settings: Any = None) -> Any:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    backend.add_block(make_block(1))
    return create_app(backend, settings or Settings())


CHAIN_ID = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'


def test_post_single() -> None:
    response = post(_app(), CHAIN_ID)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"jsonrpc": "2.0", "id": 1, "result": "0x539"}


def test_post_batch() -> None:
    body = b"[" + CHAIN_ID + b"," + CHAIN_ID.replace(b'"id":1', b'"id":2') + b"]"
    assert [r["id"] for r in post(_app(), body).json()] == [1, 2]


def test_empty_batch_over_http() -> None:
    assert post(_app(), b"[]").json()["error"] == {"code": -32600, "message": "empty batch"}


def test_parse_error_over_http() -> None:
    response = post(_app(), b"{oops")
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32700


def test_notifications_only_get_an_empty_200() -> None:
    response = post(_app(), b'{"jsonrpc":"2.0","method":"eth_chainId"}')
    assert response.status_code == 200
    assert response.content == b""


def test_body_over_limit_is_413_with_json_error() -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"web3_sha3","params":["0x' + b"00" * 4096 + b'"]}'
    response = post(_app(Settings(max_bytes=4096)), body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == -32600
    assert error["message"] == f"content length too large ({len(body)}>4096)"


def test_streamed_body_over_limit_is_cut_off() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app(Settings(max_bytes=4096)))
        async with httpx.AsyncClient(transport=transport, base_url="http://rpc.test") as client:
            return await client.post("/", content=chunks(), headers={"content-type": "application/json"})

    response = asyncio.run(go())
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "content length too large (>4096)"


def test_body_at_limit_is_served() -> None:
    body = CHAIN_ID.ljust(4096, b" ")
    assert post(_app(Settings(max_bytes=4096)), body).json()["result"] == "0x539"


def test_get_is_refused_with_a_hint() -> None:
    response = request(_app(), "GET")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.json()["error"]


def test_other_verbs_are_405() -> None:
    assert request(_app(), "PUT").status_code == 405


def test_cors_off_by_default() -> None:
    response = post(
        _app(), CHAIN_ID, headers={"origin": "https://dapp.example", "content-type": "application/json"}
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_for_listed_origins() -> None:
    app = _app(Settings(origins=("https://dapp.example",)))
    allowed = post(
        app, CHAIN_ID, headers={"origin": "https://dapp.example", "content-type": "application/json"}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://dapp.example"
    other = post(
        app, CHAIN_ID, headers={"origin": "https://evil.example", "content-type": "application/json"}
    )
    assert "access-control-allow-origin" not in other.headers
    preflight = request(
        app,
        "OPTIONS",
        headers={
            "origin": "https://dapp.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]


def test_cors_wildcard() -> None:
    app = _app(Settings(origins=("*",)))
    response = post(
        app, CHAIN_ID, headers={"origin": "https://any.example", "content-type": "application/json"}
    )
    assert response.headers["access-control-allow-origin"] == "*"


def test_node_config_satisfies_settings() -> None:
    config = NodeConfig(rpc_http_cors_origins=["https://dapp.example"], rpc_http_max_batch_size=7)
    app = create_app(FakeBackend(), config)
    assert (
        post(app, b"[" + b",".join([CHAIN_ID] * 8) + b"]").json()[0]["error"]["message"] == "batch too large"
    )


# --- WebSocket ---------------------------------------------------------------------------


def test_websocket_serves_the_same_methods() -> None:
    with TestClient(_app()) as client, client.websocket_connect("/") as ws:
        ws.send_text(CHAIN_ID.decode())
        assert orjson.loads(ws.receive_text()) == {"jsonrpc": "2.0", "id": 1, "result": "0x539"}
        ws.send_text("[" + CHAIN_ID.decode() + "]")
        assert orjson.loads(ws.receive_text())[0]["result"] == "0x539"
        ws.send_bytes(CHAIN_ID)
        assert orjson.loads(ws.receive_text())["result"] == "0x539"
        ws.send_text("{nope")
        assert orjson.loads(ws.receive_text())["error"]["code"] == -32700
        ws.send_text('{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["newHeads"]}')
        sub_id = orjson.loads(ws.receive_text())["result"]
        assert sub_id.startswith("0x")


def test_websocket_frame_over_limit() -> None:
    with TestClient(_app(Settings(max_bytes=1024))) as client, client.websocket_connect("/") as ws:
        ws.send_text(" " * 2000)
        assert orjson.loads(ws.receive_text())["error"]["code"] == -32600
        ws.send_text(CHAIN_ID.decode())
        assert orjson.loads(ws.receive_text())["result"] == "0x539"


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_no_docs_pages(path: str) -> None:
    assert request(_app(), "GET", path).status_code == 404


def test_server_options_fit_uvicorn() -> None:
    import uvicorn

    options = server_options(Settings(max_bytes=2048))
    assert options["ws_max_size"] == 2048
    uvicorn.Config(_app(), host="127.0.0.1", port=0, **options)


def test_websocket_answers_as_they_finish() -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))

    async def slow_call(*args: Any) -> bytes:
        await asyncio.sleep(0.3)
        return b"\x01"

    backend.call = slow_call  # type: ignore[method-assign]
    with TestClient(create_app(backend, Settings())) as client, client.websocket_connect("/") as ws:
        ws.send_text('{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0x' + "11" * 20 + '"}]}')
        ws.send_text('{"jsonrpc":"2.0","id":2,"method":"eth_chainId","params":[]}')
        first, second = orjson.loads(ws.receive_text()), orjson.loads(ws.receive_text())
    assert (first["id"], second["id"]) == (2, 1)
    assert second["result"] == "0x01"
