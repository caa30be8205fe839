"""Browser-origin defences against a real node started as ``make run`` starts it (every namespace on
both transports, default flags otherwise): the Host allowlist (DNS rebinding), JSON-only POSTs (no
CORS-free "simple" cross-site requests) and the WebSocket Origin allowlist, each compared with
geth's documented behaviour (node/rpcstack.go virtualHostHandler, rpc/http.go validateRequest,
rpc/websocket.go wsHandshakeValidator) and Besu's flag names and defaults."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
import websockets

from tests.integration.nodeproc import NodeProcess

ADMIN_NODE_INFO = {"jsonrpc": "2.0", "id": 1, "method": "admin_nodeInfo", "params": []}
VALIDATORS = {"jsonrpc": "2.0", "id": 7, "method": "qbft_getValidatorsByBlockNumber", "params": ["latest"]}


def post(node: NodeProcess, headers: dict[str, str], body: Any = ADMIN_NODE_INFO) -> httpx.Response:
    return httpx.post(node.url, content=json.dumps(body).encode(), headers=headers, timeout=10)


def ws_handshake_status(port: int, host: str, origin: str | None) -> tuple[int, bytes]:
    """The HTTP status (and the rest of the answer) of a WebSocket upgrade sent byte by byte, so
    that the Host header is exactly the one given."""
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length and (chunk := sock.recv(4096)):
            body += chunk
    status_line = head.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), head + b"\r\n\r\n" + body


async def ws_call(port: int, origin: str | None, message: dict[str, Any]) -> Any:
    headers = {"Origin": origin} if origin is not None else {}
    async with websockets.connect(
        f"ws://127.0.0.1:{port}", additional_headers=headers, open_timeout=10
    ) as ws:
        await ws.send(json.dumps(message))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    proc = NodeProcess(tmp_path_factory.mktemp("guards") / "data").start()
    yield proc
    proc.stop()


# --- Host allowlist (DNS rebinding) ------------------------------------------------------------


def test_http_request_with_a_foreign_host_is_refused(node: NodeProcess) -> None:
    response = post(node, {"Host": "evil.example", "Content-Type": "application/json"})
    assert response.status_code == 403
    assert response.json()["message"] == "Host not authorized."
    assert "listenAddr" not in response.text


def test_http_request_with_a_foreign_host_and_port_is_refused(node: NodeProcess) -> None:
    response = post(node, {"Host": f"evil.example:{node.http_port}", "Content-Type": "application/json"})
    assert response.status_code == 403


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "[::1]"])
def test_local_hosts_pass_with_and_without_port(node: NodeProcess, host: str) -> None:
    for value in (host, f"{host}:{node.http_port}"):
        response = post(node, {"Host": value, "Content-Type": "application/json"})
        assert response.status_code == 200, value
        assert "listenAddr" in response.json()["result"]


def test_websocket_handshake_with_a_foreign_host_is_refused(node: NodeProcess) -> None:
    status, answer = ws_handshake_status(node.ws_port, f"evil.example:{node.ws_port}", None)
    assert status == 403
    assert b"Host not authorized." in answer


def test_websocket_handshake_with_localhost_passes(node: NodeProcess) -> None:
    status, _ = ws_handshake_status(node.ws_port, f"localhost:{node.ws_port}", None)
    assert status == 101


# --- JSON-only POSTs ---------------------------------------------------------------------------


def test_text_plain_post_is_415_and_runs_nothing(node: NodeProcess) -> None:
    # The "simple" cross-site request a web page can send without a CORS preflight.
    response = post(node, {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert response.status_code == 415
    assert response.json()["error"]["message"] == "invalid content type, only application/json is supported"
    assert "listenAddr" not in response.text


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_other_simple_request_types_and_none_are_415(node: NodeProcess, content_type: str | None) -> None:
    # httpx sets no Content-Type for raw bytes: None sends none (geth: 415 too).
    headers = {"Content-Type": content_type} if content_type is not None else {}
    response = post(node, headers)
    assert response.status_code == 415
    assert "listenAddr" not in response.text


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/json-rpc",
     "application/jsonrequest"],
)  # fmt: skip
def test_json_content_types_are_served(node: NodeProcess, content_type: str) -> None:
    response = post(node, {"Content-Type": content_type})
    assert response.status_code == 200
    assert "listenAddr" in response.json()["result"]


# --- WebSocket Origin allowlist ----------------------------------------------------------------


def test_websocket_from_a_foreign_origin_is_refused(node: NodeProcess) -> None:
    status, _ = ws_handshake_status(node.ws_port, f"127.0.0.1:{node.ws_port}", "http://evil.example")
    assert status == 403
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(ws_call(node.ws_port, "http://evil.example", VALIDATORS))
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", ["http://localhost", "http://localhost:3000", None])
def test_websocket_from_localhost_or_without_origin_is_served(node: NodeProcess, origin: str | None) -> None:
    answer = asyncio.run(ws_call(node.ws_port, origin, VALIDATORS))
    assert answer["id"] == 7
    assert len(answer["result"]) == 1
