"""`jsc-node run` and `init`: flags become a NodeConfig, JscError becomes `error: ...` and exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsc_node.cli import app
from jsc_node.config import NodeConfig
from jsc_node.errors import DataDirLockedError, GenesisError

REPO = Path(__file__).resolve().parents[2]


class FakeNode:
    """Stands in for jsc_node.node: records the config run_node / init_node were given."""

    def __init__(self, error: Exception | None = None, status: int = 0) -> None:
        self.error = error
        self.status = status
        self.calls: list[tuple[str, NodeConfig]] = []

    def run_node(self, config: NodeConfig) -> int:
        self.calls.append(("run", config))
        if self.error is not None:
            raise self.error
        return self.status

    def init_node(self, config: NodeConfig) -> None:
        self.calls.append(("init", config))
        if self.error is not None:
            raise self.error


def install(monkeypatch: pytest.MonkeyPatch, fake: FakeNode) -> None:
    module = types.ModuleType("jsc_node.node")
    module.run_node = fake.run_node  # type: ignore[attr-defined]
    module.init_node = fake.init_node  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jsc_node.node", module)
    for name in list(os.environ):
        if name.startswith("JSC_"):
            monkeypatch.delenv(name)


def test_run_passes_every_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeNode()
    install(monkeypatch, fake)
    args = [
        "run",
        "--data-path", str(tmp_path / "data"),
        "--genesis-file", str(tmp_path / "genesis.json"),
        "--rpc-http-host", "0.0.0.0",
        "--rpc-http-port", "9545",
        "--rpc-http-cors-origins", "http://a.example,http://b.example",
        "--rpc-http-cors-origins", "http://c.example",
        "--rpc-ws-host", "0.0.0.0",
        "--rpc-ws-port", "9546",
        "--p2p-host", "0.0.0.0",
        "--p2p-port", "40404",
        "--bootnodes", "/ip4/10.0.0.1/tcp/30303/p2p/QmA,/ip4/10.0.0.2/tcp/30303/p2p/QmB",
        "--node-private-key-file", str(tmp_path / "key"),
        "--min-gas-price", "1000",
        "--log-level", "debug",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [(what, config)] = fake.calls
    assert what == "run"
    assert config.data_path == tmp_path / "data"
    assert config.genesis_file == tmp_path / "genesis.json"
    assert (config.rpc_http_host, config.rpc_http_port) == ("0.0.0.0", 9545)
    assert config.rpc_http_cors_origins == ["http://a.example", "http://b.example", "http://c.example"]
    assert (config.rpc_ws_host, config.rpc_ws_port) == ("0.0.0.0", 9546)
    assert (config.p2p_host, config.p2p_port) == ("0.0.0.0", 40404)
    assert config.bootnodes == ["/ip4/10.0.0.1/tcp/30303/p2p/QmA", "/ip4/10.0.0.2/tcp/30303/p2p/QmB"]
    assert config.node_private_key_file == tmp_path / "key"
    assert config.min_gas_price == 1000
    assert config.log_level == "DEBUG"


def test_flags_override_env_which_overrides_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeNode()
    install(monkeypatch, fake)
    config_file = tmp_path / "node.toml"
    config_file.write_text(
        'rpc-http-port = 7000\np2p-port = 7001\nrpc-ws-port = 7002\nbootnodes = ["/ip4/1.2.3.4/tcp/1"]\n'
    )
    monkeypatch.setenv("JSC_P2P_PORT", "8001")
    result = CliRunner().invoke(app, ["run", "--config-file", str(config_file), "--rpc-ws-port", "9002"])
    assert result.exit_code == 0, result.output
    [(_, config)] = fake.calls
    assert (config.rpc_http_port, config.p2p_port, config.rpc_ws_port) == (7000, 8001, 9002)
    assert config.bootnodes == ["/ip4/1.2.3.4/tcp/1"]
    assert config.rpc_http_cors_origins == []


def test_init_passes_data_and_genesis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeNode()
    install(monkeypatch, fake)
    result = CliRunner().invoke(
        app, ["init", "--data-path", str(tmp_path / "d"), "--genesis-file", str(tmp_path / "g.json")]
    )
    assert result.exit_code == 0, result.output
    [(what, config)] = fake.calls
    assert what == "init"
    assert (config.data_path, config.genesis_file) == (tmp_path / "d", tmp_path / "g.json")


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("run", DataDirLockedError("data directory /x is in use by another process")),
        ("init", GenesisError("alloc", "balance is not a number")),
    ],
)
def test_node_errors_print_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str, error: Exception
) -> None:
    install(monkeypatch, FakeNode(error))
    result = CliRunner().invoke(app, [command, "--data-path", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == f"error: {error}\n"
    assert result.stdout == ""


def test_run_exits_with_the_node_status(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, FakeNode(status=1))
    result = CliRunner().invoke(app, ["run", "--data-path", str(tmp_path)])
    assert result.exit_code == 1


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSC_")}
    return subprocess.run(
        [sys.executable, "-m", "jsc_node.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--rpc-http-port", "70000"], "error: invalid configuration: rpc_http_port:"),
        (["run", "--log-level", "chatty"], "error: invalid configuration: log_level:"),
        (
            ["init", "--config-file", "/nonexistent/node.toml"],
            "error: config file not found: /nonexistent/node.toml",
        ),
    ],
)
def test_config_errors_through_the_real_cli(args: list[str], message: str) -> None:
    # Config is checked before the node is imported: these fail the same with or without jsc_node.node.
    result = run_cli(*args)
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_bad_toml_through_the_real_cli(tmp_path: Path) -> None:
    config_file = tmp_path / "node.toml"
    config_file.write_text("rpc-http-port = = 1\n")
    result = run_cli("run", "--config-file", str(config_file))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: config file {config_file} is not valid TOML")


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "init", "account", "genesis", "rlp"):
        assert command in result.stdout


@pytest.mark.parametrize("text", ["eth,net", " ETH , net ", '["eth", "net"]'])
def test_list_settings_from_env_as_on_the_command_line(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    fake = FakeNode()
    install(monkeypatch, fake)
    monkeypatch.setenv("JSC_RPC_HTTP_API", text)
    monkeypatch.setenv("JSC_BOOTNODES", "/ip4/127.0.0.1/tcp/1/p2p/a,/ip4/127.0.0.1/tcp/2/p2p/b")
    monkeypatch.setenv("JSC_RPC_HTTP_CORS_ORIGINS", "http://localhost:3000")
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    [(_, config)] = fake.calls
    assert config.rpc_http_api == ["ETH", "NET"]
    assert config.bootnodes == ["/ip4/127.0.0.1/tcp/1/p2p/a", "/ip4/127.0.0.1/tcp/2/p2p/b"]
    assert config.rpc_http_cors_origins == ["http://localhost:3000"]


@pytest.mark.parametrize("text", ["eth,nope", "[bad"])
def test_bad_list_in_env_is_one_error_line(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    fake = FakeNode()
    install(monkeypatch, fake)
    monkeypatch.setenv("JSC_RPC_HTTP_API", text)
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 1
    assert result.output.startswith("error: invalid JSC_* environment variable: JSC_RPC_HTTP_API")
    assert "Traceback" not in result.output
    assert fake.calls == []
