"""rpc/ui.py: the chain page's port serves its static files and a READ-ONLY JSON-RPC. Every
method outside its allowlist is refused with -32601 naming the port, over POST /rpc and over the
WebSocket, and reaches no handler; ``eth_subscribe`` serves newHeads only; the one log query is
capped; the host allowlist, the media-type rule and the rate limit apply as on the RPC port; a
WebSocket from the page's own origin is accepted behind any allowed host name. Through the real
app over ASGI (no sockets), on the fake backend of tests/unit/test_rpc_fake.py."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

from jsc_node.config import NodeConfig, load_config
from jsc_node.errors import ConfigError, DevToolsInputError
from jsc_node.execution_process import listeners
from jsc_node.rpc.subscriptions import EventHub
from jsc_node.rpc.ui import UI_LOG_RANGE_MAX, UI_MAX_BATCH, UI_METHODS, create_ui_app, same_origin
from tests.unit.test_rpc_fake import FakeBackend, make_block, post, request

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

JSON = {"content-type": "application/json"}
REFUSED = [
    ("eth_sendRawTransaction", ["0x02f86c"]),
    ("eth_call", [{"to": "0x" + "11" * 20}, "latest"]),
    ("eth_estimateGas", [{"to": "0x" + "11" * 20}]),
    ("eth_createAccessList", [{"to": "0x" + "11" * 20}]),
    ("eth_simulateV1", [{"blockStateCalls": []}, "latest"]),
    ("debug_traceCall", [{"to": "0x" + "11" * 20}, "latest"]),
    ("debug_traceBlockByNumber", ["0x0"]),
    ("eth_getLogs", [{"fromBlock": "earliest", "toBlock": "latest"}]),
    ("eth_newFilter", [{}]),
    ("eth_newBlockFilter", []),
    ("qbft_proposeValidatorVote", ["0x" + "22" * 20, True]),
    ("qbft_getSignerMetrics", []),
    ("admin_changeLogLevel", ["DEBUG"]),
    ("perm_addAccountsToAllowlist", [["0x" + "22" * 20]]),
    ("testing_buildBlockV1", [{}]),
    ("txpool_content", []),
    ("no_suchMethod", []),
]


def _backend(head: int = 3) -> FakeBackend:
    backend = FakeBackend()
    for number in range(head + 1):
        backend.add_block(make_block(number))
    return backend


def _app(backend: FakeBackend | None = None, **settings: Any) -> Any:
    return create_ui_app(backend or _backend(), NodeConfig(**settings), EventHub())


def _call(method: str, params: list[Any], request_id: int = 1) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def _refusal(method: str) -> dict[str, Any]:
    return {
        "code": -32601,
        "message": f"the method {method} is not available on the chain page's read-only port "
        "(--ui-port); use the node's JSON-RPC port",
    }


@pytest.mark.parametrize(("method", "params"), REFUSED)
def test_a_method_off_the_allowlist_is_refused_over_post_and_never_runs(
    method: str, params: list[Any]
) -> None:
    backend = _backend()
    answer = post(_app(backend), _call(method, params), path="/rpc")
    assert answer.status_code == 200
    assert answer.json() == {"jsonrpc": "2.0", "id": 1, "error": _refusal(method)}
    assert backend.calls == []  # no handler ran: eth_sendRawTransaction reached no pool


def test_the_reads_the_page_makes_are_answered_as_on_the_rpc_port() -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBlockByNumber", "params": ["0x2", False]},
        {"jsonrpc": "2.0", "id": 4, "method": "eth_sendRawTransaction", "params": ["0x00"]},
    ]
    answers = post(_app(), orjson.dumps(batch), path="/rpc").json()
    assert [a.get("result") for a in answers[:2]] == ["0x3", "0x539"]
    assert answers[2]["result"]["number"] == "0x2"
    assert answers[2]["result"]["hash"] == "0x" + (2).to_bytes(32, "big").hex()
    assert answers[3]["error"] == _refusal("eth_sendRawTransaction")  # one refused call, the rest served


def test_every_allowlisted_method_is_one_the_node_has() -> None:
    from jsc_node.rpc.dispatch import METHODS, UNSUPPORTED

    served = set(METHODS) | set(UNSUPPORTED)
    assert UI_METHODS.issubset(served)
    writes = {"eth_sendRawTransaction", "eth_call", "eth_estimateGas", "eth_getLogs", "eth_newFilter"}
    assert not UI_METHODS & writes
    assert not any(m.split("_")[0] in {"debug", "admin", "perm", "testing", "txpool"} for m in UI_METHODS)


def test_a_batch_over_the_ui_cap_is_one_error() -> None:
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber", "params": []}
        for i in range(UI_MAX_BATCH + 1)
    ]
    answer = post(_app(), orjson.dumps(batch), path="/rpc").json()
    assert answer == [{"jsonrpc": "2.0", "id": 0, "error": {"code": -32600, "message": "batch too large"}}]


def test_governance_events_are_capped_in_range() -> None:
    backend = _backend()
    backend.add_block(make_block(6000))  # head 6000
    app = _app(backend)
    widest = _call("jsc_getGovernanceEvents", [hex(6001 - UI_LOG_RANGE_MAX), "latest"])
    # Within the cap the node's handler runs (the fake chain has no registry: its -32000).
    assert post(app, widest, path="/rpc").json()["error"]["code"] == -32000
    for params in ([hex(6000 - UI_LOG_RANGE_MAX), "latest"], ["earliest", "latest"], ["earliest"]):
        refused = post(app, _call("jsc_getGovernanceEvents", params), path="/rpc").json()["error"]
        assert refused["code"] == -32005, params
        assert f"at most {UI_LOG_RANGE_MAX}" in refused["message"]
    backwards = post(app, _call("jsc_getGovernanceEvents", ["0x10", "0x5"]), path="/rpc").json()
    assert backwards["error"] == {"code": -32602, "message": "invalid block range params"}


def test_websocket_serves_new_heads_only_and_refuses_writes() -> None:
    backend = _backend()
    with TestClient(_app(backend)) as client, client.websocket_connect("ws://localhost/ws") as ws:
        ws.send_text(_call("eth_subscribe", ["newHeads"]).decode())
        assert ws.receive_json()["result"].startswith("0x")
        ws.send_text(_call("eth_subscribe", ["logs", {}], 2).decode())
        logs = ws.receive_json()["error"]
        assert logs["code"] == -32601
        assert "newHeads" in logs["message"]
        assert "--ui-port" in logs["message"]
        ws.send_text(_call("eth_sendRawTransaction", ["0x00"], 3).decode())
        assert ws.receive_json()["error"] == _refusal("eth_sendRawTransaction")
        ws.send_text(_call("eth_blockNumber", [], 4).decode())
        assert ws.receive_json()["result"] == "0x3"
    assert backend.calls == []


def test_the_page_is_served_with_a_strict_policy() -> None:
    app = _app()
    page = request(app, "GET", "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    script = request(app, "GET", "/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert request(app, "GET", "/no-such-file.js").status_code == 404


def test_host_allowlist_and_media_type_apply() -> None:
    app = _app()
    evil = {"host": "evil.example"}
    assert request(app, "GET", "/", headers=evil).status_code == 403
    refused = post(app, _call("eth_blockNumber", []), headers={**JSON, **evil}, path="/rpc")
    assert refused.status_code == 403
    assert refused.json()["message"] == "Host not authorized."
    plain = post(app, _call("eth_blockNumber", []), headers={"content-type": "text/plain"}, path="/rpc")
    assert plain.status_code == 415
    named = _app(host_allowlist=["chain.example"])
    assert request(named, "GET", "/", headers={"host": "chain.example:8547"}).status_code == 200
    with (
        TestClient(named) as client,
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("ws://evil.example/ws"),
    ):
        pass
    assert denied.value.status_code == 403


def test_websocket_from_the_pages_own_origin_behind_a_named_host() -> None:
    app = _app(host_allowlist=["chain.example"])
    with TestClient(app) as client:
        own = {"origin": "http://chain.example:8547"}
        with client.websocket_connect("ws://chain.example:8547/ws", headers=own) as ws:
            ws.send_text(_call("eth_blockNumber", []).decode())
            assert ws.receive_json()["result"] == "0x3"
        for origin in ("http://evil.example", "http://chain.example:9999", "null"):
            with (
                pytest.raises(WebSocketDenialResponse) as denied,
                client.websocket_connect("ws://chain.example:8547/ws", headers={"origin": origin}),
            ):
                pass
            assert denied.value.status_code == 403, origin
    # --rpc-ws-origins still admits a listed foreign origin.
    listed = _app(host_allowlist=["chain.example"], rpc_ws_origins=["https://ops.example"])
    with (
        TestClient(listed) as client,
        client.websocket_connect(
            "ws://chain.example:8547/ws", headers={"origin": "https://ops.example"}
        ) as ws,
    ):
        ws.send_text(_call("eth_chainId", []).decode())
        assert ws.receive_json()["result"] == "0x539"


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8547", "127.0.0.1:8547", True),
        ("http://Chain.Example:8547", "chain.example:8547", True),
        ("https://chain.example", "chain.example", True),
        ("https://chain.example:443", "chain.example", True),
        ("http://chain.example", "chain.example:80", True),
        ("http://[::1]:8547", "[::1]:8547", True),
        ("http://chain.example:8548", "chain.example:8547", False),
        ("https://chain.example", "chain.example:80", False),
        ("http://evil.example:8547", "chain.example:8547", False),
        ("null", "chain.example", False),
        ("file://chain.example", "chain.example", False),
        (None, "chain.example", False),
        ("http://chain.example", None, False),
    ],
)
def test_same_origin(origin: str | None, host: str | None, same: bool) -> None:
    assert same_origin(origin, host) is same


def test_rate_limit_applies_to_the_ui_port() -> None:
    app = _app(rpc_rate_limit=1, rpc_rate_limit_burst=1)
    assert post(app, _call("eth_blockNumber", []), path="/rpc").status_code == 200
    second = post(app, _call("eth_blockNumber", []), path="/rpc")
    assert second.status_code == 429
    assert second.json()["error"]["code"] == -32005


def test_ui_port_is_off_by_default_and_listens_only_when_set() -> None:
    assert NodeConfig().ui_port is None
    assert all(which == "rpc" for which, _, _ in listeners(NodeConfig()))
    config = load_config(ui_port=8547, ui_host="0.0.0.0")
    assert ("ui", "0.0.0.0", 8547) in listeners(config)
    assert NodeConfig(ui_port=8547).ui_host == "127.0.0.1"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"ui_port": 8545}, "--ui-port 8545 is also --rpc-http-port"),
        ({"ui_port": 8546}, "--ui-port 8546 is also --rpc-ws-port"),
        ({"ui_port": 9545, "metrics_enabled": True}, "is also --metrics-port"),
        ({"ui_port": 0}, "ui_port"),
        ({"ui_port": 70000}, "ui_port"),
    ],
)
def test_bad_ui_port_is_a_config_error(flags: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_config(**flags)


def test_ui_port_from_the_cli_and_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jsc_node.cli import app
    from tests.unit.test_cli_run import FakeNode, install

    fake = FakeNode()
    install(monkeypatch, fake)
    result = CliRunner().invoke(app, ["run", "--ui-port", "8547", "--ui-host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    toml = tmp_path / "node.toml"
    toml.write_text("ui-port = 18547\n")
    result = CliRunner().invoke(app, ["run", "--config-file", str(toml)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert [(c.ui_port, c.ui_host) for _, c in fake.calls] == [
        (8547, "0.0.0.0"),
        (18547, "127.0.0.1"),
        (None, "127.0.0.1"),
    ]


def test_devnet_gives_every_node_a_chain_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The devnet plan, in process (no node starts): base+10i+4 for each node's page, its flags
    through the real CLI, its URL in devnet.json and the table, clear of the metrics port."""
    from typer.testing import CliRunner

    from jsc_node.cli import app
    from jsc_node.devnet import DevnetOptions, RunningNode, devnet_document, format_table, prepare_devnet
    from tests.unit.test_cli_run import FakeNode, install

    for metrics in (False, True):
        devnet = prepare_devnet(
            DevnetOptions(tmp_path / "d", validators=2, rpc_nodes=1, base_port=21000, metrics=metrics)
        )
        assert [p.ui_port for p in devnet.nodes] == [21004, 21014, 21024]
        fake = FakeNode()
        install(monkeypatch, fake)
        for plan in devnet.nodes:
            result = CliRunner().invoke(app, plan.run_args(devnet.genesis_file, "INFO"))
            assert result.exit_code == 0, result.output
        assert [(c.ui_host, c.ui_port) for _, c in fake.calls] == [
            ("127.0.0.1", port) for port in (21004, 21014, 21024)
        ]
        running = [RunningNode(plan, process=None, log_offset=0) for plan in devnet.nodes]  # type: ignore[arg-type]
        doc = devnet_document(devnet.chain_id, running)
        assert [n["ui"] for n in doc["nodes"]] == [f"http://127.0.0.1:{p}/" for p in (21004, 21014, 21024)]
        assert "http://127.0.0.1:21014/" in format_table(running)
    too_high = DevnetOptions(tmp_path / "e", validators=1, base_port=65532)
    with pytest.raises(DevToolsInputError, match=re.escape("65532..65536")):
        prepare_devnet(too_high)


def test_a_busy_ui_port_stops_the_node_before_it_starts() -> None:
    import socket

    from jsc_node.node import check_ports_free

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = NodeConfig(ui_port=port, rpc_http_port=0, rpc_ws_port=0, p2p_port=0)
        with pytest.raises(ConfigError, match=f"--ui-port {port}: cannot listen on 127.0.0.1:{port}"):
            check_ports_free(config)
