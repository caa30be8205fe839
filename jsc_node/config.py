"""NodeConfig: every knob of a node, validated once.

Precedence, lowest first: defaults < TOML file (``--config-file``) < environment ``JSC_*`` < flags.
Keys are the Besu-style flag names without dashes, in snake case (``rpc_http_port``); in TOML the
flag spelling (``rpc-http-port``) is accepted too.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from jsc_node.errors import ConfigError
from jsc_node.logs import FORMATS as LOG_FORMATS
from jsc_node.logs import LEVELS as LOG_LEVELS
from jsc_node.logs import parse_module_levels

RPC_APIS: Final = ("ETH", "NET", "WEB3", "TXPOOL", "QBFT", "ADMIN", "DEBUG", "TESTING", "JSC", "PERM")
"""Every JSON-RPC namespace jsc-node serves, in Besu's spelling (``--rpc-http-api`` / ``--rpc-ws-api``)."""

DEFAULT_RPC_APIS: Final = ("ETH", "NET", "WEB3")
"""Besu's and geth's default: nothing that votes, administers, traces or builds blocks."""


def validate_apis(names: Iterable[str]) -> list[str]:
    """Upper-cased, deduplicated names in the given order; raises ``ValueError`` naming an unknown one."""
    apis: list[str] = []
    for raw in names:
        name = raw.strip().upper()
        if name not in RPC_APIS:
            raise ValueError(f"unknown RPC API {raw.strip()!r}; valid: {', '.join(RPC_APIS)}")
        if name not in apis:
            apis.append(name)
    return apis


JwtAlgorithm = Literal["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
"""Besu's --rpc-http-authentication-jwt-algorithm values (its HS256 serves only the Engine API)."""
DEFAULT_RPC_EVM_TIMEOUT_S = 5.0
"""geth's --rpc.evmtimeout default."""
DEFAULT_DEV_DATA_PATH = (
    Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "jsc-node" / "dev"
)


class NodeConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JSC_", extra="forbid", frozen=True)

    data_path: Path = Field(
        default=DEFAULT_DEV_DATA_PATH, description="Where LevelDB, keys and the tx journal live."
    )
    genesis_file: Path | None = Field(
        default=None, description="geth/Besu genesis.json; none = embedded dev genesis."
    )
    node_private_key_file: Path | None = Field(
        default=None,
        description="secp256k1 key (hex). Default: DATA/key, created on first start (dev genesis: the dev validator key).",
    )

    rpc_http_enabled: bool = True
    rpc_http_host: str = "127.0.0.1"
    rpc_http_port: int = Field(default=8545, ge=0, le=65535)
    rpc_http_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rpc_ws_enabled: bool = True
    rpc_ws_host: str = "127.0.0.1"
    rpc_ws_port: int = Field(default=8546, ge=0, le=65535)
    rpc_http_api: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RPC_APIS),
        description="Namespaces served over HTTP: ETH, NET, WEB3, TXPOOL, QBFT, ADMIN, DEBUG, TESTING, JSC.",
    )
    rpc_ws_api: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RPC_APIS), description="Namespaces served over WebSocket."
    )
    rpc_max_request_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="geth's 5 MiB body limit."
    )
    rpc_gas_cap: int = Field(
        default=50_000_000, ge=21_000, description="eth_call / eth_estimateGas gas cap (geth)."
    )
    rpc_allow_unprotected_txs: bool = Field(
        default=False,
        description="Accept pre-EIP-155 legacy transactions (v = 27/28, no chain id) over RPC, "
        "e.g. the presigned deployments of the CREATE2 deployer or Multicall3 (geth's "
        "--rpc.allow-unprotected-txs).",
    )
    rpc_evm_timeout: float = Field(
        default=DEFAULT_RPC_EVM_TIMEOUT_S,
        ge=0,
        description="Seconds before eth_call, eth_estimateGas, eth_createAccessList, eth_simulateV1 "
        "and debug_traceCall are aborted (geth's --rpc.evmtimeout); 0: no limit.",
    )

    # --- RPC access guards (rpc/guards.py) and public-RPC limits (rpc/limits.py) ---
    host_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1"],
        description="Host names served over HTTP and WebSocket, port not compared (Besu's flag and "
        "default; DNS-rebinding guard); * for any. IP-address Hosts are always served (geth).",
    )
    rpc_ws_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to open a WebSocket (geth's --ws.origins); unset: local pages "
        "(http://localhost, 127.0.0.1, [::1], the hostname); * for any. No Origin: always allowed.",
    )

    rpc_http_max_active_connections: int = Field(
        default=80,
        ge=1,
        description="HTTP requests answered at once (Besu's flag and default); more get HTTP 503.",
    )
    rpc_ws_max_active_connections: int = Field(
        default=80,
        ge=1,
        description="WebSocket connections open at once (Besu's flag and default); more are closed (1013).",
    )
    rpc_http_max_batch_size: int = Field(
        default=1024,
        ge=1,
        description="Calls in one batch, HTTP and WebSocket (Besu's flag and default); "
        "more: one error, geth's -32600 'batch too large'.",
    )
    rpc_batch_response_max_size: int = Field(
        default=25_000_000,
        ge=0,
        description="Bytes of answers in one batch (geth's --rpc.batch-response-max-size); calls "
        "answered after it is passed get geth's -32003 'response too large'; 0: no limit.",
    )
    rpc_rate_limit: float = Field(
        default=0,
        ge=0,
        description="Calls per second per client IP address (IPv6: per /64), HTTP and WebSocket "
        "together, a batch counting each call; over it: HTTP 429 / JSON-RPC -32005; 0: off.",
    )
    rpc_rate_limit_burst: int = Field(
        default=0,
        ge=0,
        description="Calls a client may make at once above --rpc-rate-limit (the token bucket's "
        "size); 0: one second's worth, at least 1.",
    )

    @field_validator("host_allowlist", "rpc_ws_origins", mode="before")
    @classmethod
    def _guard_lists(cls, value: Any) -> Any:
        return cls._list_from_text(value)

    # JSON-RPC authentication with JWT (Besu's flags; rpc/auth.py). Enabled needs a public key file
    # (tokens the operator issues) or a credentials file (tokens POST /login issues).
    rpc_http_authentication_enabled: bool = Field(
        default=False, description="POSTs need 'Authorization: Bearer <JWT>' (Besu's flag)."
    )
    rpc_http_authentication_jwt_public_key_file: Path | None = Field(
        default=None, description="PEM public key the HTTP tokens are verified with."
    )
    rpc_http_authentication_jwt_algorithm: JwtAlgorithm = Field(
        default="RS256", description="RS256, RS384, RS512, ES256, ES384 or ES512 (Besu's default RS256)."
    )
    rpc_ws_authentication_enabled: bool = Field(
        default=False, description="WebSocket handshakes need 'Authorization: Bearer <JWT>'."
    )
    rpc_ws_authentication_jwt_public_key_file: Path | None = Field(
        default=None, description="PEM public key the WebSocket tokens are verified with."
    )
    rpc_ws_authentication_jwt_algorithm: JwtAlgorithm = Field(
        default="RS256", description="As --rpc-http-authentication-jwt-algorithm."
    )
    rpc_http_authentication_credentials_file: Path | None = Field(
        default=None,
        description="TOML of users (bcrypt password hash, permissions) who get HTTP tokens from POST /login.",
    )
    rpc_ws_authentication_credentials_file: Path | None = Field(
        default=None,
        description="As --rpc-http-authentication-credentials-file, for /login on the WebSocket port.",
    )

    @field_validator(
        "rpc_http_authentication_jwt_algorithm", "rpc_ws_authentication_jwt_algorithm", mode="before"
    )
    @classmethod
    def _jwt_algorithm(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    p2p_enabled: bool = True
    p2p_host: str = "127.0.0.1"
    p2p_port: int = Field(default=30303, ge=0, le=65535)
    bootnodes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    permissions_nodes_config_file: Path | None = Field(
        default=None,
        description="TOML file whose nodes-allowlist admits peers besides the validators (Besu's flag); reloaded on change.",
    )
    permissions_accounts_config_file_enabled: bool = Field(
        default=False,
        description="Admit only senders the accounts-allowlist of --permissions-accounts-config-file lists "
        "(RPC, gossip, blocks this node builds; Besu's flag).",
    )
    permissions_accounts_config_file: Path | None = Field(
        default=None,
        description="TOML file with accounts-allowlist = [0x-addresses]; default permissions_config.toml "
        "in the data dir (Besu's); reloaded on change.",
    )

    tx_pool_max_size: int = Field(
        default=5120, ge=1, description="All pending + queued transactions (geth: 4096+1024)."
    )
    tx_pool_max_per_sender: int = Field(default=64, ge=1)
    tx_pool_price_bump_percent: int = Field(default=10, ge=0)
    min_gas_price: int = Field(
        default=0, ge=0, description="Lowest gas price (or fee cap) the pool accepts, in wei."
    )

    metrics_enabled: bool = Field(default=False, description="Serve Prometheus metrics (Besu's flag).")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9545, ge=0, le=65535)

    # The live chain page (rpc/ui.py): static files and a read-only JSON-RPC on a port of its own.
    ui_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve the chain page at http://--ui-host:PORT/ with a read-only JSON-RPC for "
        "it (POST /rpc, WebSocket /ws); unset: off.",
    )
    ui_host: str = "127.0.0.1"

    log_level: str = "INFO"
    logging_format: str = Field(
        default="plain", description="plain (a line of text) or json (one JSON object a line)."
    )
    log_module_levels: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Levels per logger over --log-level, e.g. jsc_node.p2p=DEBUG,libp2p=INFO.",
    )

    @field_validator("rpc_http_cors_origins", "rpc_http_api", "rpc_ws_api", "bootnodes", mode="before")
    @classmethod
    def _list_from_text(cls, value: Any) -> Any:
        # JSC_BOOTNODES=/ip4/..,/ip4/.. or JSC_RPC_HTTP_API=eth,net as on the command line; a JSON
        # list (["eth", "net"]) is read as one too.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a JSON list: {exc}") from exc
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("rpc_http_api", "rpc_ws_api")
    @classmethod
    def _apis(cls, value: list[str]) -> list[str]:
        return validate_apis(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in LOG_LEVELS:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("logging_format")
    @classmethod
    def _format(cls, value: str) -> str:
        value = value.lower()
        if value not in LOG_FORMATS:
            raise ValueError(f"must be {' or '.join(LOG_FORMATS)}")
        return value

    @field_validator("log_module_levels", mode="before")
    @classmethod
    def _module_levels(cls, value: Any) -> Any:
        # "jsc_node.p2p=DEBUG,libp2p=INFO" from a flag or JSC_LOG_MODULE_LEVELS; a TOML table as is.
        if isinstance(value, str):
            return parse_module_levels(value)
        if isinstance(value, dict):
            return parse_module_levels(",".join(f"{k}={v}" for k, v in value.items()))
        return value

    @model_validator(mode="after")
    def _ui_port_own(self) -> NodeConfig:
        # One port, one server: the chain page's listener would fail to bind after the others started.
        if self.ui_port is not None:
            taken = {
                "--rpc-http-port": self.rpc_http_enabled and self.rpc_http_port,
                "--rpc-ws-port": self.rpc_ws_enabled and self.rpc_ws_port,
                "--p2p-port": self.p2p_enabled and self.p2p_port,
                "--metrics-port": self.metrics_enabled and self.metrics_port,
            }
            for flag, port in taken.items():
                if port == self.ui_port:
                    raise ValueError(
                        f"--ui-port {self.ui_port} is also {flag}: give the chain page a port of its own"
                    )
        return self


def load_config(config_file: Path | None = None, **flags: Any) -> NodeConfig:
    """Build the config from file < env < flags; flags set to None are left out."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(Path(config_file).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {config_file}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from exc
        file_values = {key.replace("-", "_"): value for key, value in raw.items()}
    env_values = _env_values()
    merged = {**file_values, **env_values, **{k: v for k, v in flags.items() if v is not None}}
    try:
        return NodeConfig.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc


def _env_values() -> dict[str, Any]:
    # Parsed through NodeConfig itself so list/bool env syntax follows pydantic-settings.
    try:
        from_env = NodeConfig()
    except (ValidationError, SettingsError) as exc:
        raise ConfigError(f"invalid JSC_* environment variable: {_first_line(exc)}") from exc
    return from_env.model_dump(exclude_defaults=True)


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"JSC_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
    return str(exc).splitlines()[0]
