"""``--rpc-http-api`` / ``--rpc-ws-api``: which namespaces each transport serves (Besu's flags).

A method of a namespace not served answers exactly as an unknown method does in geth (-32601,
``the method X does not exist/is not available``) and never reaches the backend; ``rpc_modules``
lists what the transport serves; the default is ETH,NET,WEB3.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from jsc_node.cli import app as cli_app
from jsc_node.config import DEFAULT_RPC_APIS, RPC_APIS, NodeConfig, load_config
from jsc_node.devnet import NodePlan
from jsc_node.errors import ConfigError
from jsc_node.rpc.app import create_app
from tests.unit.test_cli_run import FakeNode, install, run_cli
from tests.unit.test_rpc_fake import FakeBackend, make_block, post

with warnings.catch_warnings():
    # Starlette 1.x warns at import that it wants "httpx2"; the WebSocket test client still works.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
TX_HASH = "0x" + "11" * 32
VALIDATOR = "0x" + "65" * 20

# Methods a public node must not serve by default, with parameters they would accept.
GATED = [
    ("debug_traceTransaction", [TX_HASH]),
    ("debug_traceCall", [{"to": VALIDATOR}, "latest"]),
    ("debug_getRawHeader", ["0x0"]),
    ("qbft_proposeValidatorVote", [VALIDATOR, True]),
    ("qbft_discardValidatorVote", [VALIDATOR]),
    ("admin_peers", []),
    ("admin_nodeInfo", []),
    ("txpool_status", []),
    ("txpool_content", []),
    ("testing_buildBlockV1", []),
    ("jsc_getValidators", ["latest"]),
    ("jsc_getAttestation", [VALIDATOR, "latest"]),
    ("jsc_getGovernanceEvents", ["0x0", "latest"]),
]


class RecordingBackend:
    """The fake backend, noting every attribute the RPC layer touches."""

    def __init__(self) -> None:
        self.fake = FakeBackend()
        self.fake.add_block(make_block(0))
        self.fake.add_block(make_block(1))
        self.touched: list[str] = []

    def __getattr__(self, name: str) -> Any:
        # Every request is framed in one read snapshot (it pins the head; it reads nothing).
        if name != "read_snapshot":
            self.touched.append(name)
        return getattr(self.fake, name)


def _body(method: str, params: list[Any], request_id: Any = 1) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def _http(app: Any, method: str, *params: Any) -> Any:
    return post(app, _body(method, list(params))).json()


def _not_available(method: str) -> dict[str, Any]:
    return {"code": -32601, "message": f"the method {method} does not exist/is not available"}


def test_default_is_eth_net_web3() -> None:
    config = NodeConfig()
    assert config.rpc_http_api == config.rpc_ws_api == ["ETH", "NET", "WEB3"] == list(DEFAULT_RPC_APIS)


@pytest.mark.parametrize(("method", "params"), GATED)
def test_default_list_answers_as_an_unknown_method_and_changes_nothing(
    method: str, params: list[Any]
) -> None:
    backend = RecordingBackend()
    app = create_app(backend, NodeConfig())  # type: ignore[arg-type]
    answer = post(app, _body(method, params, request_id=7)).json()
    assert answer == {"jsonrpc": "2.0", "id": 7, "error": _not_available(method)}
    unknown = post(app, _body("eth_noSuchMethod", [], request_id=7)).json()
    assert unknown["error"] == _not_available("eth_noSuchMethod")
    assert backend.touched == []
    assert backend.fake.votes == {}


def test_default_list_still_serves_eth_net_web3() -> None:
    app = create_app(FakeBackend(), NodeConfig())
    for method in ("eth_chainId", "net_version", "web3_clientVersion"):
        assert "result" in _http(app, method), method
    assert _http(app, "rpc_modules")["result"] == {"eth": "1.0", "net": "1.0", "web3": "1.0"}


def test_refused_in_a_batch_too() -> None:
    backend = RecordingBackend()
    app = create_app(backend, NodeConfig())  # type: ignore[arg-type]
    batch = (
        b"["
        + _body("qbft_proposeValidatorVote", [VALIDATOR, True], 1)
        + b","
        + _body("eth_chainId", [], 2)
        + b"]"
    )
    first, second = post(app, batch).json()
    assert first["error"] == _not_available("qbft_proposeValidatorVote")
    assert second["result"] == "0x539"
    assert "qbft_propose_vote" not in backend.touched
    assert backend.fake.votes == {}


def test_enabled_namespace_is_served() -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    app = create_app(backend, NodeConfig(rpc_http_api=["ETH", "NET", "WEB3", "DEBUG"]))
    assert _http(app, "debug_getRawHeader", "0x0")["result"] == "0xc0"
    assert _http(app, "debug_traceTransaction", TX_HASH).get("error", {}).get("code") != -32601
    assert _http(app, "qbft_proposeValidatorVote", VALIDATOR, True)["error"] == _not_available(
        "qbft_proposeValidatorVote"
    )
    assert _http(app, "rpc_modules")["result"] == {"debug": "1.0", "eth": "1.0", "net": "1.0", "web3": "1.0"}


def test_qbft_vote_goes_through_when_enabled() -> None:
    backend = FakeBackend()
    app = create_app(backend, NodeConfig(rpc_http_api=["qbft"]))
    assert _http(app, "qbft_proposeValidatorVote", VALIDATOR, True)["result"] is True
    assert backend.votes == {bytes.fromhex("65" * 20): True}


def _ws_call(ws: Any, method: str, *params: Any) -> Any:
    ws.send_text(_body(method, list(params)).decode())
    return orjson.loads(ws.receive_text())


def test_http_and_ws_lists_are_independent() -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    config = NodeConfig(rpc_http_api=["eth", "debug"], rpc_ws_api=["ETH", "TXPOOL"])
    app = create_app(backend, config)
    assert _http(app, "debug_getRawHeader", "0x0")["result"] == "0xc0"
    assert _http(app, "txpool_status")["error"] == _not_available("txpool_status")
    assert _http(app, "rpc_modules")["result"] == {"debug": "1.0", "eth": "1.0"}
    with TestClient(app) as client, client.websocket_connect("ws://localhost/") as ws:
        assert _ws_call(ws, "txpool_status")["result"] == {"pending": "0x0", "queued": "0x0"}
        assert _ws_call(ws, "debug_getRawHeader", "0x0")["error"] == _not_available("debug_getRawHeader")
        assert _ws_call(ws, "rpc_modules")["result"] == {"eth": "1.0", "txpool": "1.0"}


def test_eth_subscribe_follows_the_ws_list() -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    served = create_app(backend, NodeConfig())
    with TestClient(served) as client, client.websocket_connect("ws://localhost/") as ws:
        assert _ws_call(ws, "eth_subscribe", "newHeads")["result"].startswith("0x")
    refused = create_app(backend, NodeConfig(rpc_http_api=["ETH"], rpc_ws_api=["NET", "WEB3"]))
    with TestClient(refused) as client, client.websocket_connect("ws://localhost/") as ws:
        assert _ws_call(ws, "eth_subscribe", "newHeads")["error"] == _not_available("eth_subscribe")
        assert _ws_call(ws, "eth_unsubscribe", "0x1")["error"] == _not_available("eth_unsubscribe")
        assert _ws_call(ws, "eth_newBlockFilter")["error"] == _not_available("eth_newBlockFilter")
        assert _ws_call(ws, "net_version")["result"] == "1337"


def test_filters_are_shared_between_transports() -> None:
    backend = FakeBackend()
    backend.add_block(make_block(0))
    app = create_app(backend, NodeConfig())
    with TestClient(app) as client, client.websocket_connect("ws://localhost/") as ws:
        filter_id = _ws_call(ws, "eth_newBlockFilter")["result"]
    assert _http(app, "eth_getFilterChanges", filter_id)["result"] == []


def test_empty_list_serves_only_rpc_modules() -> None:
    app = create_app(FakeBackend(), NodeConfig(rpc_http_api=[]))
    assert _http(app, "eth_chainId")["error"] == _not_available("eth_chainId")
    assert _http(app, "rpc_modules")["result"] == {}


def test_jsc_is_served_only_when_named() -> None:
    # The fake chain's genesis has no config.jsc: served, the backend answers -32000; not served,
    # -32601 before the backend is reached.
    no_registry = {"code": -32000, "message": "no validator registry in this chain's genesis (config.jsc)"}
    backend = RecordingBackend()
    on = create_app(backend, NodeConfig(rpc_http_api=["ETH", "JSC"]))  # type: ignore[arg-type]
    assert _http(on, "jsc_getValidators", "latest")["error"] == no_registry
    assert _http(on, "jsc_getAttestation", VALIDATOR, "latest")["error"] == no_registry
    assert _http(on, "jsc_getGovernanceEvents", "0x0", "latest")["error"] == no_registry
    assert _http(on, "rpc_modules")["result"] == {"eth": "1.0", "jsc": "1.0"}
    off = create_app(backend, NodeConfig(rpc_http_api=["ETH", "QBFT"]))  # type: ignore[arg-type]
    assert _http(off, "jsc_getValidators", "latest")["error"] == _not_available("jsc_getValidators")


def test_every_namespace_of_the_method_table_is_a_known_api() -> None:
    from jsc_node.rpc.dispatch import METHODS

    app = create_app(FakeBackend(), NodeConfig(rpc_http_api=list(RPC_APIS)))
    served = set(_http(app, "rpc_modules")["result"])
    assert {name.split("_", 1)[0] for name in METHODS} - {"rpc"} == served


# --- configuration and the command line ----------------------------------------------------------


def test_names_are_case_insensitive_and_deduplicated() -> None:
    config = load_config(None, rpc_http_api=["eth", "Debug", "ETH"], rpc_ws_api=["web3"])
    assert config.rpc_http_api == ["ETH", "DEBUG"]
    assert config.rpc_ws_api == ["WEB3"]


def test_unknown_name_is_a_config_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, rpc_ws_api=["ETH", "PERSONAL"])
    message = str(caught.value)
    assert "rpc_ws_api" in message
    assert "'PERSONAL'" in message
    assert "valid: ETH, NET, WEB3, TXPOOL, QBFT, ADMIN, DEBUG, TESTING, JSC" in message


def test_lists_from_toml(tmp_path: Path) -> None:
    config_file = tmp_path / "node.toml"
    config_file.write_text('rpc-http-api = ["eth", "net", "txpool"]\nrpc-ws-api = ["ETH"]\n')
    config = load_config(config_file)
    assert (config.rpc_http_api, config.rpc_ws_api) == (["ETH", "NET", "TXPOOL"], ["ETH"])


def test_flags_comma_separated_or_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNode()
    install(monkeypatch, fake)
    args = ["run", "--rpc-http-api", "eth,net", "--rpc-http-api", "DEBUG", "--rpc-ws-api", "ETH,QBFT"]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    [(_, config)] = fake.calls
    assert config.rpc_http_api == ["ETH", "NET", "DEBUG"]
    assert config.rpc_ws_api == ["ETH", "QBFT"]


def test_flags_left_out_keep_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNode()
    install(monkeypatch, fake)
    result = CliRunner().invoke(cli_app, ["run"])
    assert result.exit_code == 0, result.output
    [(_, config)] = fake.calls
    assert config.rpc_http_api == config.rpc_ws_api == ["ETH", "NET", "WEB3"]


@pytest.mark.parametrize("flag", ["--rpc-http-api", "--rpc-ws-api"])
def test_bad_name_refused_at_start_through_the_real_cli(flag: str) -> None:
    result = run_cli("run", flag, "eth,bogus")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: invalid configuration: {flag[2:].replace('-', '_')}:")
    assert "'bogus'" in lines[0]
    assert "ETH, NET, WEB3, TXPOOL, QBFT, ADMIN, DEBUG, TESTING, JSC" in lines[0]


# --- dev workflows keep every namespace ----------------------------------------------------------


def _flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def test_devnet_nodes_serve_every_namespace(tmp_path: Path) -> None:
    plan = NodePlan(
        name="validator-0",
        key_file=tmp_path / "key",
        data_path=tmp_path / "data",
        log_path=tmp_path / "node.log",
        http_port=8545,
        ws_port=8546,
        p2p_port=30303,
        peer_id="16Uiu2HAm-fake",
        address="0x" + "65" * 20,
    )
    args = plan.run_args(tmp_path / "genesis.json", "INFO")
    every = ",".join(RPC_APIS)
    assert _flag_values(args, "--rpc-http-api") == [every]
    assert _flag_values(args, "--rpc-ws-api") == [every]


def test_make_run_serves_every_namespace() -> None:
    makefile = (REPO / "Makefile").read_text()
    [apis] = re.findall(r"^RPC_APIS \?= (\S+)$", makefile, re.M)
    assert set(apis.split(",")) == set(RPC_APIS)
    [run_line] = [line for line in makefile.splitlines() if line.startswith("\t") and "jsc-node run" in line]
    assert "--rpc-http-api $(RPC_APIS)" in run_line
    assert "--rpc-ws-api $(RPC_APIS)" in run_line


def test_harness_nodes_serve_every_namespace_by_default() -> None:
    from tests.integration.nodeproc import NodeProcess

    node = NodeProcess(Path(sys.prefix))
    assert node.http_api == node.ws_api == ",".join(RPC_APIS)
