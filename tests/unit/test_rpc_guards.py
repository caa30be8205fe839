"""rpc/guards.py: the Host, media-type and Origin rules, case by case against geth's code
(node/rpcstack.go virtualHostHandler, rpc/http.go validateRequest, rpc/websocket.go
ruleAllowsOrigin), and the middleware on the real app (ASGI, no sockets)."""

from __future__ import annotations

import socket
import warnings
from typing import Any

import pytest

from jsc_node.config import NodeConfig, load_config
from jsc_node.errors import ConfigError
from jsc_node.rpc.app import create_app
from jsc_node.rpc.guards import OriginPolicy, content_type_accepted, host_allowed, request_hostname
from tests.unit.test_rpc_fake import FakeBackend, make_block, post, request

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

DEFAULT = ("localhost", "127.0.0.1")
CHAIN_ID = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'


@pytest.mark.parametrize(
    ("host", "name"),
    [("localhost", "localhost"), ("LocalHost:8545", "localhost"), ("[::1]:8545", "::1"), ("[::1]", "::1"),
     ("::1", "::1"), ("node.example:80", "node.example"), (" a.example ", "a.example")],
)  # fmt: skip
def test_request_hostname(host: str, name: str) -> None:
    assert request_hostname(host) == name


@pytest.mark.parametrize(
    ("host", "allowlist", "served"),
    [
        ("localhost", DEFAULT, True),
        ("localhost:8545", DEFAULT, True),
        ("LOCALHOST:1", DEFAULT, True),
        ("evil.example", DEFAULT, False),
        ("evil.example:8545", DEFAULT, False),
        ("localhost.evil.example", DEFAULT, False),
        ("evil.example", ("*",), True),
        ("rpc.internal:8545", ("localhost", "RPC.internal"), True),
        # geth: an IP address or no Host is always served (rebinding needs a name).
        ("10.1.2.3:8545", DEFAULT, True),
        ("[2001:db8::1]:8545", DEFAULT, True),
        (None, DEFAULT, True),
        ("", DEFAULT, True),
        ("localhost", (), False),
    ],
)
def test_host_allowed(host: str | None, allowlist: tuple[str, ...], served: bool) -> None:
    assert host_allowed(host, allowlist) is served


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON;charset=UTF-8", True),
        ("application/json-rpc", True),
        ("application/jsonrequest", True),
        ("text/plain", False),
        ("text/plain; charset=utf-8", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        ("application/jsonx", False),
        ("", False),
        (None, False),
    ],
)
def test_content_type_accepted(content_type: str | None, accepted: bool) -> None:
    assert content_type_accepted(content_type) is accepted


@pytest.mark.parametrize(
    ("rules", "origin", "allowed"),
    [
        ((), "http://localhost", True),
        ((), "http://localhost:3000", True),
        ((), "http://127.0.0.1:5173", True),
        ((), "http://[::1]:8080", True),
        ((), f"http://{socket.gethostname()}", True),
        ((), "https://localhost", False),  # geth's default names the http scheme
        ((), "http://evil.example", False),
        ((), "http://localhost.evil.example", False),
        ((), "null", False),
        ((), None, True),  # no Origin: not a browser
        (("*",), "http://evil.example", True),
        (("https://dapp.example",), "https://dapp.example", True),
        (("https://dapp.example",), "https://DAPP.example:443", True),
        (("https://dapp.example",), "http://dapp.example", False),
        (("https://dapp.example:8443",), "https://dapp.example", False),
        (("dapp.example",), "http://dapp.example:1234", True),  # no scheme, no port: any
        (("dapp.example:1234",), "https://dapp.example:1234", True),
        (("dapp.example:1234",), "https://dapp.example:1", False),
        (("https://dapp.example",), "http://localhost", False),  # a list replaces the default
    ],
)
def test_origin_policy(rules: tuple[str, ...], origin: str | None, allowed: bool) -> None:
    assert OriginPolicy(rules).allows(origin) is allowed


def _app(**settings: Any) -> Any:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    return create_app(backend, NodeConfig(**settings))


def test_default_config_refuses_foreign_hosts_and_serves_local_ones() -> None:
    app = _app()
    assert post(app, CHAIN_ID).json()["result"] == "0x539"  # Host: localhost
    refused = post(app, CHAIN_ID, headers={"host": "evil.example", "content-type": "application/json"})
    assert refused.status_code == 403
    assert refused.json() == {
        "message": "Host not authorized.",
        "host": "evil.example",
        "hint": "list it in --host-allowlist (* for any)",
    }


def test_host_allowlist_star_admits_any_host() -> None:
    app = _app(host_allowlist=["*"])
    answer = post(app, CHAIN_ID, headers={"host": "evil.example:80", "content-type": "application/json"})
    assert answer.status_code == 200
    assert answer.json()["result"] == "0x539"


def test_text_plain_is_415_with_geths_words() -> None:
    refused = post(_app(), CHAIN_ID, headers={"content-type": "text/plain"})
    assert refused.status_code == 415
    assert refused.json()["error"] == {
        "code": -32600,
        "message": "invalid content type, only application/json is supported",
    }


def test_cors_preflight_still_works_and_get_keeps_its_hint() -> None:
    app = _app(rpc_http_cors_origins=["https://dapp.example"])
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
    assert preflight.headers["access-control-allow-origin"] == "https://dapp.example"
    assert request(app, "GET").status_code == 405


def test_websocket_origin_and_host_refusals_are_403_with_a_body() -> None:
    app = _app()
    with TestClient(app) as client:
        with client.websocket_connect("ws://localhost/", headers={"origin": "http://localhost:3000"}) as ws:
            ws.send_text(CHAIN_ID.decode())
            assert ws.receive_json()["result"] == "0x539"
        evil = {"origin": "http://evil.example"}
        with (
            pytest.raises(WebSocketDenialResponse) as origin,
            client.websocket_connect("ws://localhost/", headers=evil),
        ):
            pass
        assert origin.value.status_code == 403
        assert origin.value.json()["message"] == "Origin not allowed."
        with pytest.raises(WebSocketDenialResponse) as host, client.websocket_connect("ws://evil.example/"):
            pass
        assert host.value.status_code == 403
        assert host.value.json()["message"] == "Host not authorized."


def test_flags_are_lists_from_text() -> None:
    config = load_config(host_allowlist=["a.example", "B.example"], rpc_ws_origins=None)
    assert config.host_allowlist == ["a.example", "B.example"]
    assert config.rpc_ws_origins == []
    assert NodeConfig().host_allowlist == ["localhost", "127.0.0.1"]


def test_bad_guard_config_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSC_HOST_ALLOWLIST", "[not json")
    with pytest.raises(ConfigError, match="HOST_ALLOWLIST"):
        load_config()
