"""JWT authentication (jsc_node/rpc/auth.py) in process: token verification with PyJWT on real RSA
and EC keys, Besu's permission format, the key-file checks at start, and the dispatcher's -40100
per call (perm_* methods through a table of their own: this branch does not serve them yet).
The same rules over a real node: tests/integration/test_rpc_auth.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from typer.testing import CliRunner

from jsc_node.cli import app as cli_app
from jsc_node.config import NodeConfig
from jsc_node.errors import ConfigError
from jsc_node.rpc.app import create_app
from jsc_node.rpc.auth import (
    ALGORITHMS,
    Access,
    Grant,
    JwtVerifier,
    RpcAuthentication,
    authentication_warnings,
    load_authentication,
    method_permissions,
)
from jsc_node.rpc.dispatch import METHODS, Dispatcher
from tests.unit.test_cli_run import FakeNode, install
from tests.unit.test_rpc_app import Settings
from tests.unit.test_rpc_fake import FakeBackend, make_block, post, request

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

UNAUTHORIZED = {"code": -40100, "message": "Unauthorized"}
UNAUTHORIZED_BODY = {"jsonrpc": "2.0", "id": None, "error": UNAUTHORIZED}


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def key_files(
    tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    files = {
        "rsa": folder / "rsa.pem",
        "ec": folder / "ec.pem",
        "p384": folder / "p384.pem",
        "junk": folder / "junk.pem",
    }
    files["rsa"].write_bytes(pem(rsa_key))
    files["ec"].write_bytes(pem(ec_key))
    files["p384"].write_bytes(pem(ec.generate_private_key(ec.SECP384R1())))
    files["junk"].write_text("not a key\n")
    return files


def token(key: Any, algorithm: str = "RS256", **claims: Any) -> str:
    payload: dict[str, Any] = {"permissions": ["*:*"], "exp": int(time.time()) + 600}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=algorithm)


# --- permissions (Besu's JsonRpcMethod.getPermissions, matched exactly) ---------------------------


def test_method_permissions_are_besus_three() -> None:
    assert method_permissions("eth_blockNumber") == ("*:*", "eth:*", "eth:blockNumber")
    assert method_permissions("perm_addAccountsToAllowlist") == (
        "*:*",
        "perm:*",
        "perm:addAccountsToAllowlist",
    )


@pytest.mark.parametrize(
    ("permissions", "method", "permitted"),
    [
        (["*:*"], "admin_peers", True),
        (["eth:*"], "eth_blockNumber", True),
        (["eth:*"], "admin_peers", False),
        (["eth:*"], "qbft_getPendingVotes", False),
        (["eth:*"], "perm_getAccountsAllowlist", False),
        (["eth:blockNumber"], "eth_blockNumber", True),
        (["eth:blockNumber"], "eth_chainId", False),
        (["net:*", "eth:blockNumber"], "net_version", True),
        # Exact strings, as Vert.x PermissionBasedAuthorization: no other wildcards, no case folding.
        (["*:blockNumber"], "eth_blockNumber", False),
        (["ETH:*"], "eth_blockNumber", False),
        (["eth"], "eth_blockNumber", False),
        ([], "eth_blockNumber", False),
    ],
)
def test_grant_permits(permissions: list[str], method: str, permitted: bool) -> None:
    assert Grant(frozenset(permissions), time.time() + 60).permits(method) is permitted


def test_grant_expires() -> None:
    grant = Grant(frozenset({"*:*"}), 1000.0)
    assert grant.permits("eth_blockNumber", now=999.9)
    assert not grant.permits("eth_blockNumber", now=1000.0)


def test_access_status_401_only_for_a_refused_single_request() -> None:
    access = Access(Grant(frozenset({"eth:*"}), time.time() + 60))
    assert access("eth_chainId")
    assert access.http_status(b"{}") == 200
    assert not access("admin_peers")
    assert access.http_status(b' {"jsonrpc":"2.0"}') == 401
    assert access.http_status(b" \n[{}]") == 200


# --- verification (PyJWT) -------------------------------------------------------------------------


def test_valid_tokens_rs256_and_es256(
    key_files: dict[str, Path], rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    rs = JwtVerifier.load(key_files["rsa"], "RS256", "--flag")
    es = JwtVerifier.load(key_files["ec"], "ES256", "--flag")
    grant = rs.verify(token(rsa_key, permissions=["eth:*", 7, "net:version"]))
    assert grant is not None
    assert grant.permissions == {"eth:*", "net:version"}  # non-strings ignored, as Vert.x
    assert es.verify(token(ec_key, "ES256")) is not None
    assert rs.verify_header("Bearer " + token(rsa_key)) is not None
    assert rs.verify_header("bearer " + token(rsa_key)) is not None


def test_token_without_permissions_is_valid_but_permits_nothing(
    key_files: dict[str, Path], rsa_key: rsa.RSAPrivateKey
) -> None:
    grant = JwtVerifier.load(key_files["rsa"], "RS256", "--flag").verify(token(rsa_key, permissions=None))
    assert grant is not None
    assert not grant.permits("eth_blockNumber")


def test_bad_tokens_are_refused(
    key_files: dict[str, Path], rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = JwtVerifier.load(key_files["rsa"], "RS256", "--flag")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    bad = {
        "another key": token(other),
        "expired": token(rsa_key, exp=now - 1),
        "not yet valid (nbf)": token(rsa_key, nbf=now + 60),
        "issued in the future (iat)": token(rsa_key, iat=now + 60),
        "no exp": token(rsa_key, exp=None),
        "exp not a number": token(rsa_key, exp=str(now + 600)),
        "permissions not a list": token(rsa_key, permissions="*:*"),
        "RS384 for RS256": token(rsa_key, "RS384"),
        "ES256 for RS256": token(ec_key, "ES256"),
        "alg none": jwt.encode({"permissions": ["*:*"], "exp": now + 600}, None, algorithm="none"),
        # The classic confusion: the public key's PEM used as an HMAC secret.
        "HS256 keyed with the public PEM": _hs256(pem(rsa_key), {"permissions": ["*:*"], "exp": now + 600}),
        "malformed": "not.a.jwt",
        "empty": "",
    }
    for what, bad_token in bad.items():
        assert verifier.verify(bad_token) is None, what
    good = token(rsa_key)
    assert verifier.verify_header(None) is None
    assert verifier.verify_header(good) is None  # no scheme
    assert verifier.verify_header("Basic " + good) is None
    assert verifier.verify_header("Bearer " + good[:-4] + "AAAA") is None  # signature bytes changed


def test_verified_tokens_are_remembered_until_exp(
    key_files: dict[str, Path], rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = JwtVerifier.load(key_files["rsa"], "RS256", "--flag")
    exp = int(time.time()) + 600
    good = token(rsa_key, exp=exp)
    first = verifier.verify(good)
    assert first is not None
    assert verifier.verify(good) is first  # no second signature check
    assert verifier.verify(good, now=exp) is None  # expired while remembered
    assert verifier.verify(good[:-4] + "AAAA") is None  # forged tokens are never remembered
    monkeypatch.setattr("jsc_node.rpc.auth.VERIFIED_CACHE_SIZE", 2)
    fresh = JwtVerifier.load(key_files["rsa"], "RS256", "--flag")
    tokens = [token(rsa_key, exp=exp + i) for i in range(3)]
    for each in tokens:
        assert fresh.verify(each) is not None
    assert list(fresh._verified) == tokens[1:]  # bounded: the oldest went


def _hs256(secret: bytes, payload: dict[str, Any]) -> str:
    # PyJWT itself refuses a PEM as an HMAC key, so the token is assembled by hand.
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(orjson.dumps({"alg": "HS256", "typ": "JWT"})) + b"." + b64(orjson.dumps(payload))
    return (signing_input + b"." + b64(hmac.new(secret, signing_input, hashlib.sha256).digest())).decode()


# --- configuration: a clear error at start ---------------------------------------------------------


def test_enabled_without_key_file_is_a_start_error() -> None:
    with pytest.raises(
        ConfigError,
        match="--rpc-http-authentication-enabled needs --rpc-http-authentication-jwt-public-key-file "
        r"\(the PEM public key tokens are verified with\) or --rpc-http-authentication-credentials-file",
    ):
        load_authentication(NodeConfig(rpc_http_authentication_enabled=True))
    with pytest.raises(
        ConfigError, match="--rpc-ws-authentication-enabled needs --rpc-ws-authentication-jwt-public-key-file"
    ):
        load_authentication(NodeConfig(rpc_ws_authentication_enabled=True))
    assert load_authentication(NodeConfig()) == RpcAuthentication(None, None, ws_port=8546)


def test_posts_to_the_websocket_port_need_its_token_when_http_is_off(key_files: dict[str, Path]) -> None:
    flags: dict[str, Any] = {
        "rpc_ws_authentication_enabled": True,
        "rpc_ws_authentication_jwt_public_key_file": key_files["ec"],
        "rpc_ws_authentication_jwt_algorithm": "ES256",
    }
    off = load_authentication(NodeConfig(rpc_http_enabled=False, **flags))
    assert off.http is off.ws is not None
    assert load_authentication(NodeConfig(**flags)).http is None  # HTTP on and open: the operator's choice


@pytest.mark.parametrize(
    ("file", "algorithm", "message"),
    [
        ("missing", "RS256", "cannot read it"),
        ("junk", "RS256", "not a PEM public key"),
        ("ec", "RS256", "RS256 needs an RSA public key, got an EC secp256r1 key"),
        ("rsa", "ES256", "ES256 needs an EC secp256r1 public key, got an RSA key"),
        ("p384", "ES256", "ES256 needs an EC secp256r1 public key, got an EC secp384r1 key"),
    ],
)
def test_unusable_key_file(key_files: dict[str, Path], file: str, algorithm: str, message: str) -> None:
    path = key_files.get(file, key_files["rsa"].with_name("missing.pem"))
    config = NodeConfig(
        rpc_ws_authentication_enabled=True,
        rpc_ws_authentication_jwt_public_key_file=path,
        rpc_ws_authentication_jwt_algorithm=algorithm,
    )
    with pytest.raises(ConfigError, match=f"--rpc-ws-authentication-jwt-public-key-file {path}: {message}"):
        load_authentication(config)


def test_cli_flags_reach_the_config(monkeypatch: pytest.MonkeyPatch, key_files: dict[str, Path]) -> None:
    fake = FakeNode()
    install(monkeypatch, fake)
    result = CliRunner().invoke(
        cli_app,
        [
            "run",
            "--rpc-http-authentication-enabled",
            "--rpc-http-authentication-jwt-public-key-file", str(key_files["rsa"]),
            "--rpc-ws-authentication-enabled",
            "--rpc-ws-authentication-jwt-public-key-file", str(key_files["ec"]),
            "--rpc-ws-authentication-jwt-algorithm", "es256",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = fake.calls[0][1]
    assert config.rpc_http_authentication_enabled
    assert config.rpc_http_authentication_jwt_public_key_file == key_files["rsa"]
    assert config.rpc_http_authentication_jwt_algorithm == "RS256"
    assert config.rpc_ws_authentication_enabled
    assert config.rpc_ws_authentication_jwt_public_key_file == key_files["ec"]
    assert config.rpc_ws_authentication_jwt_algorithm == "ES256"


def test_run_without_key_file_stops_with_one_error_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "jsc_node.cli", "run", "--data-path", str(data), "--rpc-http-port", "0",
         "--rpc-ws-port", "0", "--p2p-port", "0", "--rpc-http-authentication-enabled"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --rpc-http-authentication-enabled needs --rpc-http-authentication-jwt-public-key-file "
        "(the PEM public key tokens are verified with) or --rpc-http-authentication-credentials-file "
        "(users who get tokens from /login)"
    ]
    assert not data.exists()  # refused before anything is written


def test_algorithms_are_besus_and_the_configs() -> None:
    assert ALGORITHMS == ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
    assert NodeConfig().rpc_http_authentication_jwt_algorithm == "RS256"  # Besu's default
    assert (
        NodeConfig(rpc_ws_authentication_jwt_algorithm="es384").rpc_ws_authentication_jwt_algorithm == "ES384"
    )
    with pytest.raises(ValueError, match="RS256"):
        NodeConfig(rpc_http_authentication_jwt_algorithm="HS256")


def test_warnings_for_what_the_operator_probably_did_not_mean(key_files: dict[str, Path]) -> None:
    key_only = NodeConfig(rpc_http_authentication_jwt_public_key_file=key_files["rsa"])
    assert load_authentication(key_only).http is None
    assert list(authentication_warnings(key_only)) == [
        "--rpc-http-authentication-jwt-public-key-file is ignored: --rpc-http-authentication-enabled "
        "is not set, so HTTP JSON-RPC needs no token"
    ]
    http_only = NodeConfig(
        rpc_http_authentication_enabled=True, rpc_http_authentication_jwt_public_key_file=key_files["rsa"]
    )
    assert list(authentication_warnings(http_only)) == [
        "--rpc-http-authentication-enabled is set but not --rpc-ws-authentication-enabled: "
        "WebSocket JSON-RPC needs no token"
    ]
    ws_off = NodeConfig(
        rpc_http_authentication_enabled=True,
        rpc_http_authentication_jwt_public_key_file=key_files["rsa"],
        rpc_ws_enabled=False,
    )
    assert list(authentication_warnings(ws_off)) == []
    assert list(authentication_warnings(NodeConfig())) == []
    creds_only = NodeConfig(rpc_ws_authentication_credentials_file=key_files["rsa"])
    assert list(authentication_warnings(creds_only)) == [
        "--rpc-ws-authentication-credentials-file is ignored: --rpc-ws-authentication-enabled is not "
        "set, so WebSocket JSON-RPC needs no token"
    ]


# --- the dispatcher: -40100 per call, after the method lookup -------------------------------------


async def _perm_list(_backend: Any, _params: list[Any]) -> list[str]:
    return ["0x0000000000000000000000000000000000000001"]


def test_dispatcher_refuses_per_call() -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    dispatcher = Dispatcher(backend, methods={**METHODS, "perm_getAccountsAllowlist": _perm_list})  # type: ignore[arg-type]
    access = Access(Grant(frozenset({"eth:*"}), time.time() + 60))
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "id": 2, "method": "perm_getAccountsAllowlist"},
        {"jsonrpc": "2.0", "id": 3, "method": "admin_peers"},
        {"jsonrpc": "2.0", "id": 4, "method": "nosuch_method"},
        {"jsonrpc": "2.0", "method": "admin_peers"},  # a refused notification: no answer
    ]
    answers = asyncio.run(dispatcher.handle_payload(batch, None, access))
    assert [a["id"] for a in answers] == [1, 2, 3, 4]
    assert answers[0]["result"] == "0x0"
    assert answers[1]["error"] == UNAUTHORIZED
    assert answers[2]["error"] == UNAUTHORIZED
    assert answers[3]["error"]["code"] == -32601  # unknown before unauthorized, as Besu
    everything = Access(Grant(frozenset({"*:*"}), time.time() + 60))
    allowed = asyncio.run(dispatcher.handle_payload(batch[1], None, everything))
    assert allowed["result"] == ["0x0000000000000000000000000000000000000001"]


# --- the app in process (the transport over a real uvicorn: tests/integration/test_rpc_auth.py) ----


def test_app_http_and_websocket(
    key_files: dict[str, Path], rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    auth = RpcAuthentication(
        http=JwtVerifier.load(key_files["rsa"], "RS256", "--flag"),
        ws=JwtVerifier.load(key_files["ec"], "ES256", "--flag"),
    )
    app = create_app(backend, Settings(origins=("http://wallet.example",)), auth=auth)
    body = b'{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber","params":[]}'
    json = {"content-type": "application/json"}

    refused = post(app, body, {**json, "origin": "http://wallet.example"})
    assert refused.status_code == 401
    assert refused.json() == UNAUTHORIZED_BODY
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.headers["access-control-allow-origin"] == "http://wallet.example"  # readable by the page
    preflight = request(
        app,
        "OPTIONS",
        headers={
            "origin": "http://wallet.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200  # a browser sends no token with the preflight
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()

    bearer = {**json, "authorization": "Bearer " + token(rsa_key, permissions=["eth:*"])}
    assert post(app, body, bearer).json() == {"jsonrpc": "2.0", "id": 7, "result": "0x0"}
    single = post(app, body.replace(b"eth_blockNumber", b"admin_peers"), bearer)
    assert single.status_code == 401
    assert single.json() == {"jsonrpc": "2.0", "id": 7, "error": UNAUTHORIZED}

    with TestClient(app) as client:
        assert client.get("/").status_code == 405  # the hint needs no token and executes nothing
        with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/"):
            pass
        assert denied.value.status_code == 401
        es = {"authorization": "Bearer " + token(ec_key, "ES256", permissions=["eth:blockNumber"])}
        with client.websocket_connect("/", headers=es) as ws:
            ws.send_text(
                '[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}]'
            )
            answers = orjson.loads(ws.receive_text())
    assert answers == [
        {"jsonrpc": "2.0", "id": 1, "result": "0x0"},
        {"jsonrpc": "2.0", "id": 2, "error": UNAUTHORIZED},
    ]


# --- the credentials file and POST /login (Besu's TomlAuth and DefaultAuthenticationService.login) --

BESU_PEGASYS_HASH = "$2a$10$l3GA7K8g6rJ/Yv.YFSygCuI9byngpEzxgWS9qEg5emYDZomQW7fGC"
"""Besu's own test credentials (ethereum/api/src/test/resources/authentication/auth.toml): 'pegasys'."""


def credentials(path: Path, users: dict[str, tuple[str, list[str]]]) -> Path:
    lines = []
    for name, (password_hash, permissions) in users.items():
        lines += [
            f"[Users.{name}]",
            f'password = "{password_hash}"',
            f"permissions = {orjson.dumps(permissions).decode()}",
            "",
        ]
    path.write_text("\n".join(lines))
    return path


def quick_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()  # cost 4: a test, not a vault


def call_at(
    app: Any, url: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=url) as client:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            return await client.post(
                path, content=content, headers={"content-type": "application/json", **(headers or {})}
            )

    return asyncio.run(go())


def login_app(config: NodeConfig) -> Any:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    return create_app(backend, Settings(), auth=load_authentication(config))


BLOCK_NUMBER = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
ADMIN_PEERS = {"jsonrpc": "2.0", "id": 2, "method": "admin_peers", "params": []}


def test_login_issues_besus_token(tmp_path: Path) -> None:
    file = credentials(
        tmp_path / "auth.toml", {"alice": (BESU_PEGASYS_HASH, ["eth:*"]), "bob": (quick_hash("pw"), ["*:*"])}
    )
    app = login_app(
        NodeConfig(rpc_http_authentication_enabled=True, rpc_http_authentication_credentials_file=file)
    )
    url = "http://127.0.0.1:8545"
    answer = call_at(app, url, "/login", {"username": "alice", "password": "pegasys"})
    assert answer.status_code == 200
    issued = answer.json()["token"]
    assert jwt.get_unverified_header(issued)["alg"] == "RS256"
    claims = jwt.decode(issued, options={"verify_signature": False})
    assert claims["permissions"] == ["eth:*"]
    assert claims["username"] == "alice"
    assert claims["exp"] - claims["iat"] == 300  # Besu: five minutes
    bearer = {"authorization": f"Bearer {issued}"}
    assert call_at(app, url, "/", BLOCK_NUMBER, bearer).json()["result"] == "0x0"
    refused = call_at(app, url, "/", ADMIN_PEERS, bearer)
    assert refused.status_code == 401
    assert refused.json()["error"] == UNAUTHORIZED
    assert call_at(app, url, "/", BLOCK_NUMBER).status_code == 401  # still no way in without a token

    # The file is read again at each login, as Besu does: an edit needs no restart.
    credentials(file, {"alice": (BESU_PEGASYS_HASH, ["admin:*"])})
    again = call_at(app, url, "/login", {"username": "alice", "password": "pegasys"}).json()["token"]
    assert jwt.decode(again, options={"verify_signature": False})["permissions"] == ["admin:*"]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (
            {"username": "bob", "password": "wrong"},
            401,
            "Authentication failed: the username or password is incorrect.",
        ),
        (
            {"username": "nobody", "password": "pw"},
            401,
            "Authentication failed: the username or password is incorrect.",
        ),
        (
            {"username": "bob", "password": "x" * 100},
            401,
            "Authentication failed: the username or password is incorrect.",
        ),
        ({"username": "bob"}, 400, "Authentication failed: username and password are required."),
        (
            {"username": "bob", "password": 7},
            400,
            "Authentication failed: username and password are required.",
        ),
        (b"{not json", 400, "Authentication failed: username and password are required."),
    ],
)
def test_login_refusals_in_besus_words(tmp_path: Path, body: Any, status: int, text: str) -> None:
    file = credentials(tmp_path / "auth.toml", {"bob": (quick_hash("pw"), ["*:*"])})
    app = login_app(
        NodeConfig(rpc_http_authentication_enabled=True, rpc_http_authentication_credentials_file=file)
    )
    answer = call_at(app, "http://127.0.0.1:8545", "/login", body)
    assert answer.status_code == status
    assert answer.text == text


def test_login_per_listener(tmp_path: Path, key_files: dict[str, Path]) -> None:
    ws_file = credentials(tmp_path / "ws.toml", {"carol": (quick_hash("pw"), ["eth:*"])})
    app = login_app(
        NodeConfig(
            rpc_http_authentication_enabled=True,
            rpc_http_authentication_jwt_public_key_file=key_files["rsa"],
            rpc_ws_authentication_enabled=True,
            rpc_ws_authentication_credentials_file=ws_file,
        )
    )
    carol = {"username": "carol", "password": "pw"}
    # HTTP authenticates with a public key: its port has no /login (Besu's handleDisabledLogin).
    refused = call_at(app, "http://127.0.0.1:8545", "/login", carol)
    assert refused.status_code == 400
    assert refused.text == "Authentication not enabled"
    issued = call_at(app, "http://127.0.0.1:8546", "/login", carol).json()["token"]
    with (
        TestClient(app) as client,
        client.websocket_connect("/", headers={"authorization": f"Bearer {issued}"}) as ws,
    ):
        ws.send_text(orjson.dumps(BLOCK_NUMBER).decode())
        assert orjson.loads(ws.receive_text())["result"] == "0x0"
    # The WebSocket's login key is its own: its tokens open nothing over HTTP.
    assert (
        call_at(
            app, "http://127.0.0.1:8545", "/", BLOCK_NUMBER, {"authorization": f"Bearer {issued}"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not = [toml", "not valid TOML"),
        ("[Other]\nx = 1\n", r"no \[Users.<name>\] table"),
        ('[Users.dave]\npassword = "plain text"\n', r"\[Users.dave\]: password must be a bcrypt hash"),
        (
            f'[Users.dave]\npassword = "{BESU_PEGASYS_HASH}"\npermissions = "eth:*"\n',
            r"\[Users.dave\]: permissions must be a list of strings",
        ),
    ],
)
def test_bad_credentials_file_is_a_start_error(tmp_path: Path, content: str, message: str) -> None:
    file = tmp_path / "auth.toml"
    file.write_text(content)
    config = NodeConfig(rpc_http_authentication_enabled=True, rpc_http_authentication_credentials_file=file)
    with pytest.raises(ConfigError, match=f"--rpc-http-authentication-credentials-file {file}: {message}"):
        load_authentication(config)


def test_key_file_and_credentials_file_together_are_refused(
    tmp_path: Path, key_files: dict[str, Path]
) -> None:
    config = NodeConfig(
        rpc_ws_authentication_enabled=True,
        rpc_ws_authentication_jwt_public_key_file=key_files["ec"],
        rpc_ws_authentication_credentials_file=credentials(
            tmp_path / "a.toml", {"e": (quick_hash("pw"), [])}
        ),
    )
    with pytest.raises(ConfigError, match="not both"):
        load_authentication(config)
