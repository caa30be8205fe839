"""JWT authentication of JSON-RPC against a real node (uvicorn over HTTP and WebSocket), as Besu's:
HTTP with an RS256 key, WebSocket with an ES256 key, on one node. Keys are made here with
``cryptography``; tokens are signed with PyJWT. Rules and sources: jsc_node/rpc/auth.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from web3 import AsyncWeb3, Web3, WebSocketProvider
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from jsc_node.rpc.dispatch import METHODS
from tests.integration.nodeproc import READY_TIMEOUT_S, NodeProcess

UNAUTHORIZED = {"code": -40100, "message": "Unauthorized"}
UNAUTHORIZED_BODY = {"jsonrpc": "2.0", "id": None, "error": UNAUTHORIZED}

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def token(key: Any = RSA_KEY, algorithm: str = "RS256", **claims: Any) -> str:
    payload: dict[str, Any] = {"permissions": ["*:*"], "exp": int(time.time()) + 600}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=algorithm)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    keys = tmp_path_factory.mktemp("jwt-keys")
    (keys / "rsa.pem").write_bytes(public_pem(RSA_KEY))
    (keys / "ec.pem").write_bytes(public_pem(EC_KEY))
    proc = NodeProcess(
        tmp_path_factory.mktemp("node") / "data",
        extra_args=[
            "--rpc-http-authentication-enabled",
            "--rpc-http-authentication-jwt-public-key-file",
            str(keys / "rsa.pem"),
            "--rpc-ws-authentication-enabled",
            "--rpc-ws-authentication-jwt-public-key-file",
            str(keys / "ec.pem"),
            "--rpc-ws-authentication-jwt-algorithm",
            "ES256",
        ],
    ).start(wait=False)
    try:
        _wait_ready(proc)
        yield proc
    finally:
        proc.stop()


def _wait_ready(proc: NodeProcess) -> None:
    # NodeProcess.wait_ready posts without a token, which this node refuses.
    headers = bearer(token())
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.process is not None
        if proc.process.poll() is not None:
            raise RuntimeError(f"node exited with {proc.process.returncode}:\n{proc.logs()}")
        with contextlib.suppress(httpx.HTTPError):
            if call(proc, "eth_chainId", headers=headers).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"node not ready after {READY_TIMEOUT_S} s:\n{proc.logs()}")


def call(
    node: NodeProcess, method: str, *params: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return post(node, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, headers)


def post(node: NodeProcess, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        node.url,
        content=orjson.dumps(payload),
        headers={"content-type": "application/json", **(headers or {})},
        timeout=30,
    )


# --- HTTP ------------------------------------------------------------------------------------------


def test_valid_token_passes_with_web3(node: NodeProcess) -> None:
    # web3.py's own headers (Content-Type among them) are replaced, not extended, by request_kwargs'
    # "headers": without Content-Type a node with geth's JSON-only rule answers 415.
    headers = {"Content-Type": "application/json", **bearer(token())}
    provider = Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30, "headers": headers})
    w3 = Web3(provider)
    assert w3.eth.chain_id == 1337
    assert w3.eth.block_number >= 0
    assert w3.net.version == "1337"


NOW = int(time.time())
BAD_AUTHORIZATION = {
    "no header": None,
    "not bearer": "Basic dXNlcjpwYXNz",
    "malformed": "Bearer not-a-jwt",
    "bad signature": "Bearer " + token(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "expired": "Bearer " + token(exp=NOW - 5),
    "not yet valid": "Bearer " + token(nbf=NOW + 3600),
    "no exp": "Bearer " + token(exp=None),
    "another algorithm (RS512, same key)": "Bearer " + token(algorithm="RS512"),
    "ES256 where RS256 is configured": "Bearer " + token(EC_KEY, "ES256"),
    "alg none": "Bearer " + jwt.encode({"permissions": ["*:*"], "exp": NOW + 600}, None, algorithm="none"),
}


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
def test_bad_token_gets_401_and_nothing_else(node: NodeProcess, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    single = call(node, "eth_blockNumber", headers=headers)
    assert single.status_code == 401
    assert single.json() == UNAUTHORIZED_BODY  # Besu's body: no id, no result
    batch = post(node, [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(3)], headers)
    assert batch.status_code == 401
    assert batch.json() == UNAUTHORIZED_BODY


def test_keep_alive_connection_serves_after_a_401(node: NodeProcess) -> None:
    # The 401 goes out before the body is read; the connection must still frame the next request.
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "web3_sha3", "params": ["0x" + "ab" * 100_000]})
    json = {"content-type": "application/json"}
    with httpx.Client(timeout=30) as client:
        for _ in range(3):
            assert client.post(node.url, content=body, headers=json).status_code == 401
            ok = client.post(node.url, content=body, headers={**json, **bearer(token())})
            assert ok.status_code == 200
            assert ok.json()["result"].startswith("0x")


def test_eth_only_token(node: NodeProcess) -> None:
    headers = bearer(token(permissions=["eth:*"]))
    allowed = call(node, "eth_blockNumber", headers=headers)
    assert allowed.status_code == 200
    assert allowed.json()["result"].startswith("0x")
    # The perm_* methods arrive with their own branch; until then the name is unknown, and an unknown
    # method is -32601 before any permission check (Besu's order).
    perm = UNAUTHORIZED["code"] if "perm_getAccountsAllowlist" in METHODS else -32601
    for method, params, code in [
        ("admin_peers", [], UNAUTHORIZED["code"]),
        ("qbft_getValidatorsByBlockNumber", ["latest"], UNAUTHORIZED["code"]),
        ("perm_getAccountsAllowlist", [], perm),
    ]:
        refused = call(node, method, *params, headers=headers)
        assert refused.json()["error"]["code"] == code, method
        if code == UNAUTHORIZED["code"]:
            # A single refused call: HTTP 401 with the error in its response object (Besu).
            assert refused.status_code == 401
            assert refused.json() == {"jsonrpc": "2.0", "id": 1, "error": UNAUTHORIZED}
    # The same methods with *:* run.
    assert "result" in call(node, "admin_peers", headers=bearer(token())).json()


def test_batch_refuses_per_item(node: NodeProcess) -> None:
    headers = bearer(token(permissions=["eth:*", "net:version"]))
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "admin_nodeInfo", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "net_version", "params": []},
        {"jsonrpc": "2.0", "id": 4, "method": "net_listening", "params": []},
        {"jsonrpc": "2.0", "id": 5, "method": "qbft_getPendingVotes", "params": []},
    ]
    response = post(node, batch, headers)
    assert response.status_code == 200
    answers = {answer["id"]: answer for answer in response.json()}
    assert answers[1]["result"] == "0x539"
    assert answers[3]["result"] == "1337"
    for refused in (2, 4, 5):
        assert answers[refused] == {"jsonrpc": "2.0", "id": refused, "error": UNAUTHORIZED}


def test_get_needs_no_token_and_serves_no_data(node: NodeProcess) -> None:
    response = httpx.get(node.url, timeout=10)
    assert response.status_code == 405
    assert "result" not in response.json()


def test_health_endpoints_need_no_token(node: NodeProcess) -> None:
    # Besu's /liveness and /readiness (rpc/health.py) answer load balancers without a JWT; the
    # dev chain's lone validator with no bootnodes needs no peer to be ready.
    assert httpx.get(node.url + "/liveness", timeout=10).json() == {"status": "UP"}
    ready = httpx.get(node.url + "/readiness", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["status"] == "UP"
    assert httpx.get(node.url + "/readiness?minPeers=x", timeout=10).status_code == 400
    # The host allowlist still applies.
    refused = httpx.get(node.url + "/liveness", headers={"Host": "evil.example"}, timeout=10)
    assert refused.status_code == 403


# --- WebSocket (ES256) -----------------------------------------------------------------------------


def ws_url(node: NodeProcess) -> str:
    return f"ws://127.0.0.1:{node.ws_port}"


def ws_call(ws: ClientConnection, method: str, *params: Any, request_id: int = 1) -> Any:
    ws.send(
        orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}).decode()
    )
    return orjson.loads(ws.recv(timeout=30))


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("not-a-jwt"), bearer(token()), bearer(token(EC_KEY, "ES256", exp=NOW - 5))],
    ids=["no token", "malformed", "RS256 where ES256 is configured", "expired"],
)
def test_websocket_handshake_without_valid_token_is_refused(
    node: NodeProcess, headers: dict[str, str]
) -> None:
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(ws_url(node), additional_headers=headers, open_timeout=10),
    ):
        pass
    assert refused.value.response.status_code == 401
    assert orjson.loads(refused.value.response.body or b"") == UNAUTHORIZED_BODY


def test_websocket_with_valid_token(node: NodeProcess) -> None:
    permissions = ["eth:blockNumber", "eth:subscribe", "eth:unsubscribe"]
    with connect(
        ws_url(node), additional_headers=bearer(token(EC_KEY, "ES256", permissions=permissions))
    ) as ws:
        assert ws_call(ws, "eth_blockNumber")["result"].startswith("0x")
        assert ws_call(ws, "admin_peers", request_id=2) == {"jsonrpc": "2.0", "id": 2, "error": UNAUTHORIZED}
        assert ws_call(ws, "eth_chainId", request_id=3)["error"] == UNAUTHORIZED
        subscription = ws_call(ws, "eth_subscribe", "newHeads", request_id=4)["result"]
        assert ws_call(ws, "eth_unsubscribe", subscription, request_id=5)["result"] is True
    with connect(
        ws_url(node), additional_headers=bearer(token(EC_KEY, "ES256", permissions=["eth:blockNumber"]))
    ) as ws:
        assert ws_call(ws, "eth_subscribe", "newHeads")["error"] == UNAUTHORIZED


def test_websocket_with_web3(node: NodeProcess) -> None:
    async def go() -> int:
        headers = bearer(token(EC_KEY, "ES256", permissions=["eth:*"]))
        provider = WebSocketProvider(ws_url(node), websocket_kwargs={"additional_headers": headers})
        async with AsyncWeb3(provider) as w3:
            return await w3.eth.chain_id

    assert asyncio.run(go()) == 1337


def test_websocket_token_expiring_on_an_open_connection(node: NodeProcess) -> None:
    # Besu verifies the token again with every message: once it has expired, every call is refused.
    expires = int(time.time()) + 2
    with connect(ws_url(node), additional_headers=bearer(token(EC_KEY, "ES256", exp=expires))) as ws:
        assert "result" in ws_call(ws, "eth_blockNumber")
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        assert ws_call(ws, "eth_blockNumber", request_id=2)["error"] == UNAUTHORIZED
