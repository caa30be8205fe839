"""The ``jsc-node`` command line: run, init, import, export, verify, account, genesis, governance, rlp.

Flags follow Besu's names (``--data-path``, ``--rpc-http-port``...). Every JscError ends the command
with ``error: <message>`` on stderr and exit status 1; a traceback means a bug in jsc-node.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from jsc_node.config import DEFAULT_DEV_DATA_PATH, DEFAULT_RPC_APIS, RPC_APIS, load_config
from jsc_node.errors import JscError

if TYPE_CHECKING:
    from jsc_node.importer import ImportStats

EXIT_ERROR = 1

app = typer.Typer(
    name="jsc-node",
    help="A permissioned, Ethereum-compatible QBFT node.",
    no_args_is_help=True,
    add_completion=False,
    # Help text is plain: "[default: ...]" in it must not be read as rich markup.
    rich_markup_mode=None,
    # Never print local variables in a traceback: they can hold passwords and private keys.
    pretty_exceptions_show_locals=False,
)
account_app = typer.Typer(
    help="Manage encrypted account keystores (Web3 Secret Storage V3).", no_args_is_help=True
)
genesis_app = typer.Typer(help="Create genesis files for development networks.", no_args_is_help=True)
rlp_app = typer.Typer(help="Encode and decode RLP structures (as `besu rlp`).", no_args_is_help=True)
governance_app = typer.Typer(
    help="The validator registry: attest, approve, revoke, list (over --rpc-url).", no_args_is_help=True
)
app.add_typer(account_app, name="account")
app.add_typer(genesis_app, name="genesis")
app.add_typer(rlp_app, name="rlp")
app.add_typer(governance_app, name="governance")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors jsc-node raises on purpose into ``error: ...`` and exit 1."""
    try:
        yield
    except JscError as exc:
        fail(str(exc))


# --- shared options ------------------------------------------------------------------------------

DataPathOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-path", help=f"Data directory. [default: {DEFAULT_DEV_DATA_PATH}]", show_default=False
    ),
]
GenesisFileOpt = Annotated[
    Path | None,
    typer.Option("--genesis-file", help="geth/Besu genesis.json. [default: the embedded dev genesis]"),
]
ConfigFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--config-file", help="TOML file of settings (keys as the flags); env JSC_* and flags override it."
    ),
]
NodeKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--node-private-key-file", help="Node key, hex. [default: DATA/key, created on first start]"
    ),
]
LogLevelOpt = Annotated[
    str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR. [default: INFO]")
]


def _split_list(values: list[str] | None) -> list[str] | None:
    """Besu list flags: repeated and/or comma-separated (``--bootnodes a,b --bootnodes c``)."""
    if not values:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


# --- run / init ----------------------------------------------------------------------------------


@app.command()
def run(
    data_path: DataPathOpt = None,
    genesis_file: GenesisFileOpt = None,
    rpc_http_host: Annotated[str | None, typer.Option("--rpc-http-host", help="[default: 127.0.0.1]")] = None,
    rpc_http_port: Annotated[int | None, typer.Option("--rpc-http-port", help="[default: 8545]")] = None,
    rpc_http_cors_origins: Annotated[
        list[str] | None,
        typer.Option(
            "--rpc-http-cors-origins",
            metavar="ORIGIN[,ORIGIN...]",
            help="Allowed CORS origins, comma-separated or repeated; * for all.",
        ),
    ] = None,
    rpc_http_api: Annotated[
        list[str] | None,
        typer.Option(
            "--rpc-http-api",
            metavar="API[,API...]",
            help=f"Namespaces served over HTTP, comma-separated or repeated: {', '.join(RPC_APIS)}. "
            f"[default: {','.join(DEFAULT_RPC_APIS)}]",
        ),
    ] = None,
    rpc_ws_host: Annotated[str | None, typer.Option("--rpc-ws-host", help="[default: 127.0.0.1]")] = None,
    rpc_ws_port: Annotated[int | None, typer.Option("--rpc-ws-port", help="[default: 8546]")] = None,
    rpc_ws_api: Annotated[
        list[str] | None,
        typer.Option(
            "--rpc-ws-api",
            metavar="API[,API...]",
            help=f"Namespaces served over WebSocket, as --rpc-http-api. [default: {','.join(DEFAULT_RPC_APIS)}]",
        ),
    ] = None,
    p2p_host: Annotated[str | None, typer.Option("--p2p-host", help="[default: 127.0.0.1]")] = None,
    p2p_port: Annotated[int | None, typer.Option("--p2p-port", help="[default: 30303]")] = None,
    bootnodes: Annotated[
        list[str] | None,
        typer.Option(
            "--bootnodes",
            metavar="MULTIADDR[,MULTIADDR...]",
            help="Peers to dial at start (multiaddrs), comma-separated or repeated.",
        ),
    ] = None,
    permissions_nodes_config_file: Annotated[
        Path | None,
        typer.Option(
            "--permissions-nodes-config-file",
            metavar="PATH",
            help="TOML file: nodes-allowlist = [peer IDs or /p2p/ multiaddrs] admitted besides the "
            "validators; reloaded when it changes.",
        ),
    ] = None,
    permissions_accounts_config_file_enabled: Annotated[
        bool | None,
        typer.Option(
            "--permissions-accounts-config-file-enabled",
            help="Admit only senders on the accounts-allowlist of the accounts config file (RPC, "
            "gossip, blocks built here; never block validity). [default: off]",
            show_default=False,
        ),
    ] = None,
    permissions_accounts_config_file: Annotated[
        Path | None,
        typer.Option(
            "--permissions-accounts-config-file",
            metavar="PATH",
            help="TOML file: accounts-allowlist = [0x-addresses]; reloaded when it changes. "
            "[default: <data-path>/permissions_config.toml]",
        ),
    ] = None,
    node_private_key_file: NodeKeyOpt = None,
    min_gas_price: Annotated[
        int | None,
        typer.Option("--min-gas-price", help="Lowest gas price the pool accepts, wei. [default: 0]"),
    ] = None,
    rpc_gas_cap: Annotated[
        int | None,
        typer.Option("--rpc-gas-cap", help="Gas cap of eth_call and eth_estimateGas. [default: 50000000]"),
    ] = None,
    rpc_evm_timeout: Annotated[
        float | None,
        typer.Option(
            "--rpc-evm-timeout",
            help="Seconds before eth_call, eth_estimateGas and kin are aborted; 0: never. [default: 5]",
        ),
    ] = None,
    rpc_allow_unprotected_txs: Annotated[
        bool | None,
        typer.Option(
            "--rpc-allow-unprotected-txs",
            help="Accept pre-EIP-155 (no chain id) legacy transactions over RPC, as geth's "
            "--rpc.allow-unprotected-txs. [default: off]",
            show_default=False,
        ),
    ] = None,
    host_allowlist: Annotated[
        list[str] | None,
        typer.Option(
            "--host-allowlist",
            metavar="HOST[,HOST...]",
            help="Host names served over HTTP and WebSocket (DNS-rebinding guard; port not compared; "
            "IP-address Hosts always served); * for any. [default: localhost,127.0.0.1]",
        ),
    ] = None,
    rpc_ws_origins: Annotated[
        list[str] | None,
        typer.Option(
            "--rpc-ws-origins",
            metavar="ORIGIN[,ORIGIN...]",
            help="Origins allowed to open a WebSocket (geth's --ws.origins); * for any; a client "
            "sending no Origin is always allowed. [default: local pages: http://localhost, "
            "http://127.0.0.1, http://[::1], http://HOSTNAME]",
        ),
    ] = None,
    rpc_http_max_active_connections: Annotated[
        int | None,
        typer.Option(
            "--rpc-http-max-active-connections",
            help="HTTP requests answered at once; more get HTTP 503. [default: 80]",
        ),
    ] = None,
    rpc_ws_max_active_connections: Annotated[
        int | None,
        typer.Option(
            "--rpc-ws-max-active-connections",
            help="WebSocket connections open at once; more are closed (1013). [default: 80]",
        ),
    ] = None,
    rpc_http_max_batch_size: Annotated[
        int | None,
        typer.Option(
            "--rpc-http-max-batch-size", help="Calls in one batch, HTTP and WebSocket. [default: 1024]"
        ),
    ] = None,
    rpc_batch_response_max_size: Annotated[
        int | None,
        typer.Option(
            "--rpc-batch-response-max-size",
            help="Bytes of answers in one batch; later calls get 'response too large'; 0: no limit. "
            "[default: 25000000]",
        ),
    ] = None,
    rpc_rate_limit: Annotated[
        float | None,
        typer.Option(
            "--rpc-rate-limit",
            help="Calls per second per client IP (IPv6: /64), HTTP and WebSocket, each call of a "
            "batch counted; over it HTTP 429 / error -32005; 0: off. [default: 0]",
        ),
    ] = None,
    rpc_rate_limit_burst: Annotated[
        int | None,
        typer.Option(
            "--rpc-rate-limit-burst",
            help="Calls a client may make at once above --rpc-rate-limit; 0: one second's worth. [default: 0]",
        ),
    ] = None,
    rpc_http_authentication_enabled: Annotated[
        bool | None,
        typer.Option(
            "--rpc-http-authentication-enabled",
            help="HTTP POSTs need 'Authorization: Bearer <JWT>' signed by the key of "
            "--rpc-http-authentication-jwt-public-key-file (Besu's flag). [default: off]",
            show_default=False,
        ),
    ] = None,
    rpc_http_authentication_jwt_public_key_file: Annotated[
        Path | None,
        typer.Option(
            "--rpc-http-authentication-jwt-public-key-file",
            metavar="PATH",
            help="PEM public key (-----BEGIN PUBLIC KEY-----) the tokens are verified with.",
        ),
    ] = None,
    rpc_http_authentication_jwt_algorithm: Annotated[
        str | None,
        typer.Option(
            "--rpc-http-authentication-jwt-algorithm",
            metavar="ALG",
            help="RS256, RS384, RS512, ES256, ES384 or ES512. [default: RS256]",
        ),
    ] = None,
    rpc_http_authentication_credentials_file: Annotated[
        Path | None,
        typer.Option(
            "--rpc-http-authentication-credentials-file",
            metavar="PATH",
            help="TOML of users ([Users.NAME] password = bcrypt hash, permissions = [...]) who get "
            "HTTP tokens from POST /login (instead of a public key file).",
        ),
    ] = None,
    rpc_ws_authentication_enabled: Annotated[
        bool | None,
        typer.Option(
            "--rpc-ws-authentication-enabled",
            help="WebSocket handshakes need 'Authorization: Bearer <JWT>' signed by the key of "
            "--rpc-ws-authentication-jwt-public-key-file (Besu's flag). [default: off]",
            show_default=False,
        ),
    ] = None,
    rpc_ws_authentication_jwt_public_key_file: Annotated[
        Path | None,
        typer.Option(
            "--rpc-ws-authentication-jwt-public-key-file",
            metavar="PATH",
            help="PEM public key (-----BEGIN PUBLIC KEY-----) the tokens are verified with.",
        ),
    ] = None,
    rpc_ws_authentication_jwt_algorithm: Annotated[
        str | None,
        typer.Option(
            "--rpc-ws-authentication-jwt-algorithm",
            metavar="ALG",
            help="RS256, RS384, RS512, ES256, ES384 or ES512. [default: RS256]",
        ),
    ] = None,
    rpc_ws_authentication_credentials_file: Annotated[
        Path | None,
        typer.Option(
            "--rpc-ws-authentication-credentials-file",
            metavar="PATH",
            help="TOML of users ([Users.NAME] password = bcrypt hash, permissions = [...]) who get "
            "WebSocket tokens from POST /login (instead of a public key file).",
        ),
    ] = None,
    log_level: LogLevelOpt = None,
    logging_format: Annotated[
        str | None,
        typer.Option("--logging-format", help="plain, or json: one JSON object a line. [default: plain]"),
    ] = None,
    log_module_levels: Annotated[
        str | None,
        typer.Option(
            "--log-module-levels",
            metavar="LOGGER=LEVEL[,...]",
            help="Levels per logger over --log-level, e.g. jsc_node.p2p=DEBUG,libp2p=INFO.",
        ),
    ] = None,
    metrics_enabled: Annotated[
        bool | None,
        typer.Option(
            "--metrics-enabled",
            help="Serve Prometheus metrics at /metrics. [default: off]",
            show_default=False,
        ),
    ] = None,
    metrics_host: Annotated[str | None, typer.Option("--metrics-host", help="[default: 127.0.0.1]")] = None,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="[default: 9545]")] = None,
    ui_port: Annotated[
        int | None,
        typer.Option(
            "--ui-port",
            help="Serve the live chain page at http://--ui-host:PORT/ (with a read-only JSON-RPC of "
            "its own). [default: off; make run: 8547]",
        ),
    ] = None,
    ui_host: Annotated[str | None, typer.Option("--ui-host", help="[default: 127.0.0.1]")] = None,
    config_file: ConfigFileOpt = None,
) -> None:
    """Run a node: JSON-RPC over HTTP and WebSocket, libp2p, QBFT."""
    with user_errors():
        # Flags left None are not set: the TOML file and JSC_* env decide them.
        config = load_config(
            config_file,
            data_path=data_path,
            genesis_file=genesis_file,
            rpc_http_host=rpc_http_host,
            rpc_http_port=rpc_http_port,
            rpc_http_cors_origins=_split_list(rpc_http_cors_origins),
            rpc_http_api=_split_list(rpc_http_api),
            rpc_ws_host=rpc_ws_host,
            rpc_ws_port=rpc_ws_port,
            rpc_ws_api=_split_list(rpc_ws_api),
            p2p_host=p2p_host,
            p2p_port=p2p_port,
            bootnodes=_split_list(bootnodes),
            permissions_nodes_config_file=permissions_nodes_config_file,
            permissions_accounts_config_file_enabled=permissions_accounts_config_file_enabled,
            permissions_accounts_config_file=permissions_accounts_config_file,
            node_private_key_file=node_private_key_file,
            min_gas_price=min_gas_price,
            rpc_gas_cap=rpc_gas_cap,
            rpc_evm_timeout=rpc_evm_timeout,
            rpc_allow_unprotected_txs=rpc_allow_unprotected_txs,
            host_allowlist=_split_list(host_allowlist),
            rpc_ws_origins=_split_list(rpc_ws_origins),
            rpc_http_max_active_connections=rpc_http_max_active_connections,
            rpc_ws_max_active_connections=rpc_ws_max_active_connections,
            rpc_http_max_batch_size=rpc_http_max_batch_size,
            rpc_batch_response_max_size=rpc_batch_response_max_size,
            rpc_rate_limit=rpc_rate_limit,
            rpc_rate_limit_burst=rpc_rate_limit_burst,
            rpc_http_authentication_enabled=rpc_http_authentication_enabled,
            rpc_http_authentication_jwt_public_key_file=rpc_http_authentication_jwt_public_key_file,
            rpc_http_authentication_jwt_algorithm=rpc_http_authentication_jwt_algorithm,
            rpc_ws_authentication_enabled=rpc_ws_authentication_enabled,
            rpc_ws_authentication_jwt_public_key_file=rpc_ws_authentication_jwt_public_key_file,
            rpc_ws_authentication_jwt_algorithm=rpc_ws_authentication_jwt_algorithm,
            rpc_http_authentication_credentials_file=rpc_http_authentication_credentials_file,
            rpc_ws_authentication_credentials_file=rpc_ws_authentication_credentials_file,
            log_level=log_level,
            logging_format=logging_format,
            log_module_levels=log_module_levels,
            metrics_enabled=metrics_enabled,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            ui_port=ui_port,
            ui_host=ui_host,
        )
        # Imported here: the node pulls in py-evm, libp2p and uvicorn, which the other commands never need.
        from jsc_node.node import run_node

        status = run_node(config)
    if status != 0:
        # A node process failed; run_node has logged which and why.
        raise typer.Exit(status)


@app.command()
def init(
    data_path: DataPathOpt = None,
    genesis_file: GenesisFileOpt = None,
    node_private_key_file: NodeKeyOpt = None,
    log_level: LogLevelOpt = None,
    config_file: ConfigFileOpt = None,
) -> None:
    """Create the data directory and write the genesis block, then exit."""
    with user_errors():
        # Flags left None are not set: the TOML file and JSC_* env decide them.
        config = load_config(
            config_file,
            data_path=data_path,
            genesis_file=genesis_file,
            node_private_key_file=node_private_key_file,
            log_level=log_level,
        )
        from jsc_node.node import init_node

        init_node(config)


@app.command()
def devnet(
    validators: Annotated[int, typer.Option("-n", "--validators", min=1, help="Number of validators.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Devnet directory: keys, genesis, data dirs, logs, devnet.json.")
    ],
    rpc_nodes: Annotated[
        int, typer.Option("--rpc-nodes", min=0, help="Non-validator nodes serving JSON-RPC.")
    ] = 0,
    base_port: Annotated[
        int,
        typer.Option(
            "--base-port",
            min=1,
            max=65535,
            help="Node i listens on P+10i (HTTP), P+10i+1 (WS), P+10i+2 (p2p).",
        ),
    ] = 8545,
    chain_id: Annotated[
        int | None, typer.Option("--chain-id", min=1, help="New devnet only. [default: 1337]")
    ] = None,
    block_period: Annotated[
        int | None,
        typer.Option(
            "--block-period", min=1, help="QBFT block period, seconds; new devnet only. [default: 1]"
        ),
    ] = None,
    log_level: LogLevelOpt = None,
    accounts_allowlist: Annotated[
        bool,
        typer.Option(
            "--accounts-allowlist",
            help="New devnet only: the account allowlist contract in genesis, switched on; the "
            "validators are its admins and nobody else is listed. [default: off, an open chain]",
        ),
    ] = False,
    nodes_allowlist: Annotated[
        bool,
        typer.Option(
            "--nodes-allowlist",
            help="New devnet only: the node allowlist contract in genesis, switched on; the "
            "validators are its admins, every validator and RPC node is listed. [default: off]",
        ),
    ] = False,
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics",
            help="Each node serves Prometheus metrics on its own port (base+10i+3); DIR/prometheus.yml "
            "scrapes them all. [default: off]",
        ),
    ] = False,
) -> None:
    """Run N validators (and RPC nodes) on 127.0.0.1 until Ctrl-C; the same --dir again restarts them."""
    from jsc_node.devnet import DevnetOptions, run_devnet

    with user_errors():
        status = run_devnet(
            DevnetOptions(
                directory=directory,
                validators=validators,
                rpc_nodes=rpc_nodes,
                base_port=base_port,
                chain_id=chain_id,
                block_period_s=block_period,
                log_level=(log_level or "INFO").upper(),
                accounts_allowlist=accounts_allowlist,
                nodes_allowlist=nodes_allowlist,
                metrics=metrics,
            )
        )
    if status != 0:
        raise typer.Exit(status)


@app.command("import")
def import_blocks(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE.rlp",
            help="Files of concatenated RLP blocks (geth's export format), imported in order.",
        ),
    ],
    data_path: DataPathOpt = None,
    genesis_file: GenesisFileOpt = None,
    config_file: ConfigFileOpt = None,
) -> None:
    """Import RLP blocks with full validation (geth's import, Besu's blocks import); the last
    block becomes the head. Stops at the first invalid block."""
    with user_errors():
        config = load_config(config_file, data_path=data_path, genesis_file=genesis_file)
        from jsc_node.genesis import load_genesis
        from jsc_node.importer import import_files

        spec = load_genesis(config.genesis_file)
        with _import_progress() as progress:
            stats = import_files(config.data_path, spec, files, progress)
    typer.echo(
        f"imported {stats.imported} blocks ({stats.txs} txs) in {stats.elapsed_s:.1f} s: "
        f"{stats.blocks_per_s:.1f} blocks/s, {stats.txs_per_s:.0f} tx/s"
        + (f"; {stats.known} already known" if stats.known else "")
    )
    typer.echo(f"head: block {stats.head_number} 0x{stats.head_hash.hex()}")


@contextmanager
def _import_progress() -> Iterator[Callable[[int], Callable[[ImportStats], None]]]:
    """A rich progress bar on stderr (blocks, tx/s, ETA); drawn only on a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("blocks  {task.fields[tps]} tx/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )

    def start(total: int) -> Callable[[ImportStats], None]:
        task = progress.add_task("import", total=total, tps="0")

        def advance(stats: ImportStats) -> None:
            progress.update(task, completed=stats.imported + stats.known, tps=f"{stats.txs_per_s:,.0f}")

        return advance

    with progress:
        yield start


# --- export / verify -----------------------------------------------------------------------------

FromBlockOpt = Annotated[int | None, typer.Option("--from", min=0, help="First block. [default: 0]")]
ToBlockOpt = Annotated[int | None, typer.Option("--to", min=0, help="Last block. [default: the head]")]


@app.command("export")
def export_chain(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Output file; gzipped if it ends in .gz.")],
    data_path: DataPathOpt = None,
    from_block: FromBlockOpt = None,
    to_block: ToBlockOpt = None,
) -> None:
    """Write canonical blocks, with their commit seals, as concatenated RLP (geth's export; what
    `jsc-node import` reads). The data dir must not be in use by a running node."""
    with user_errors():
        config = load_config(data_path=data_path)
        from jsc_node.export import export_blocks

        with _block_progress("exporting") as progress:
            stats = export_blocks(config.data_path, file, from_block, to_block, progress)
    typer.echo(
        f"exported blocks {stats.first}..{stats.last} ({stats.blocks} blocks, {stats.bytes} bytes) to {file}"
    )


@app.command("verify")
def verify_chain(
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc-url",
            help="Check the chain a node serves (debug_getRawBlock: the node serves DEBUG).",
        ),
    ] = None,
    data_path: Annotated[
        Path | None,
        typer.Option("--data-path", help="Check a data dir's own database (no node may be running on it)."),
    ] = None,
    genesis_file: GenesisFileOpt = None,
    from_block: FromBlockOpt = None,
    to_block: ToBlockOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    rpc_timeout: Annotated[
        float, typer.Option("--rpc-timeout", min=0.1, help="Seconds per JSON-RPC request.")
    ] = 30.0,
) -> None:
    """Replay a chain from its genesis in a scratch dir and check every block: parent link,
    header fields, commit seals of the validators of its height, re-execution; over a data dir
    also the stored receipts, transaction index and state. Last line: `verify: N blocks
    verified, V violations`; exit status 0 only when V is 0."""
    with user_errors():
        if (rpc_url is None) == (data_path is None):
            raise typer.BadParameter("give one of --rpc-url URL or --data-path DIR")
        from jsc_node.genesis import load_genesis
        from jsc_node.verify import verify_data_dir, verify_rpc

        if rpc_url is not None:
            if genesis_file is None:
                # The genesis is what the chain is checked against: never the node's word for it.
                fail("--rpc-url needs --genesis-file (the genesis the chain is checked against)")
            spec = load_genesis(genesis_file)
            with _block_progress("verifying") as progress:
                report = verify_rpc(
                    rpc_url, spec, from_block, to_block, _verify_progress(progress), rpc_timeout
                )
        else:
            assert data_path is not None
            spec = load_genesis(genesis_file)
            with _block_progress("verifying") as progress:
                report = verify_data_dir(data_path, spec, from_block, to_block, _verify_progress(progress))
    typer.echo(json.dumps(report.as_json(), indent=2) if json_output else report.table())
    typer.echo(report.summary_line())
    if report.violations:
        raise typer.Exit(EXIT_ERROR)


if TYPE_CHECKING:
    from jsc_node.verify import VerifyReport

BlockProgress = Callable[[int, int, int], None]
"""(blocks done, blocks in all, transactions done)."""


def _verify_progress(progress: BlockProgress) -> Callable[[VerifyReport], None]:
    def advance(report: VerifyReport) -> None:
        progress(report.replayed, report.total, report.txs)

    return advance


@contextmanager
def _block_progress(label: str) -> Iterator[Callable[..., None]]:
    """As `jsc-node import`'s bar on a terminal; elsewhere a log line on stderr every 5 s."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("blocks  {task.fields[tps]} tx/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )
    task = progress.add_task(label, total=None, tps="0")
    started = time.monotonic()
    last_log = [started]

    def advance(done: int, total: int, txs: int = 0) -> None:
        now = time.monotonic()
        tps = txs / (now - started) if now > started else 0.0
        if console.is_terminal:
            progress.update(task, completed=done, total=total, tps=f"{tps:,.0f}")
        elif now - last_log[0] >= LOG_INTERVAL_S:
            last_log[0] = now
            typer.echo(f"{label}: block {done}/{total}, {tps:,.0f} tx/s", err=True)

    with progress:
        yield advance


LOG_INTERVAL_S = 5.0


# --- account -------------------------------------------------------------------------------------

KeystoreOpt = Annotated[
    Path | None,
    typer.Option("--keystore", help="Keystore directory. [default: DATA/keystore]", show_default=False),
]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option("--password-file", help="File whose first line is the password. [default: prompt twice]"),
]
LightKdfOpt = Annotated[
    bool, typer.Option("--lightkdf", help="Weaker, faster scrypt (N=4096), as geth's --lightkdf. Tests only.")
]
PlaintextOpt = Annotated[
    bool,
    typer.Option(
        "--insecure-plaintext",
        help="Write the private key UNENCRYPTED (hex, mode 0600). Anyone who reads the file owns the account.",
    ),
]


def _keystore_dir(keystore: Path | None, data_path: Path | None) -> Path:
    if keystore is not None:
        return keystore
    from jsc_node.accounts import default_keystore_dir

    return default_keystore_dir(load_config(data_path=data_path).data_path)


def _password(password_file: Path | None) -> str:
    from jsc_node.accounts import read_password_file

    if password_file is not None:
        return read_password_file(password_file)
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt="Repeat password", err=True)
    if not password:
        typer.echo("warning: empty password; anyone with the file can use the key", err=True)
    return password


@account_app.command("new")
def account_new(
    keystore: KeystoreOpt = None,
    data_path: DataPathOpt = None,
    password_file: PasswordFileOpt = None,
    lightkdf: LightKdfOpt = False,
    insecure_plaintext: PlaintextOpt = False,
) -> None:
    """Create a new account and save its key, encrypted with a password."""
    from jsc_node.accounts import new_account

    with user_errors():
        directory = _keystore_dir(keystore, data_path)
        password = None if insecure_plaintext else _password(password_file)
        entry = new_account(directory, password, light_kdf=lightkdf, insecure_plaintext=insecure_plaintext)
    _report_saved(entry.address, entry.path, entry.encrypted)


@account_app.command("list")
def account_list(keystore: KeystoreOpt = None, data_path: DataPathOpt = None) -> None:
    """List the accounts in the keystore, oldest first."""
    from jsc_node.accounts import list_accounts

    with user_errors():
        directory = _keystore_dir(keystore, data_path)
        for i, entry in enumerate(list_accounts(directory)):
            note = "" if entry.encrypted else " (UNENCRYPTED)"
            typer.echo(f"Account #{i}: {entry.address} {entry.path}{note}")


@account_app.command("import")
def account_import(
    keyfile: Annotated[Path, typer.Argument(help="File holding a hex private key (0x optional).")],
    keystore: KeystoreOpt = None,
    data_path: DataPathOpt = None,
    password_file: PasswordFileOpt = None,
    lightkdf: LightKdfOpt = False,
    insecure_plaintext: PlaintextOpt = False,
) -> None:
    """Import a hex private key into the keystore, encrypted with a password."""
    from jsc_node.accounts import read_private_key_file, save_key

    with user_errors():
        key = read_private_key_file(keyfile)
        directory = _keystore_dir(keystore, data_path)
        password = None if insecure_plaintext else _password(password_file)
        entry = save_key(directory, key, password, light_kdf=lightkdf, insecure_plaintext=insecure_plaintext)
    _report_saved(entry.address, entry.path, entry.encrypted)


def _report_saved(address: str, path: Path, encrypted: bool) -> None:
    typer.echo(f"Public address of the key:   {address}")
    typer.echo(f"Path of the secret key file: {path}")
    if encrypted:
        typer.echo("Back up the key file and remember the password: without both the account is lost.")
    else:
        typer.echo("WARNING: the key is stored UNENCRYPTED; use it for development only.", err=True)


# --- genesis -------------------------------------------------------------------------------------


@genesis_app.command("new")
def genesis_new(
    validators: Annotated[
        int, typer.Option("--validators", min=1, help="Number of validator keys to create.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to create (must not exist or be empty).")],
    chain_id: Annotated[int, typer.Option("--chain-id", min=1, help="EIP-155 chain id.")] = 1337,
    block_period: Annotated[
        int, typer.Option("--block-period", min=1, help="QBFT block period, seconds (blockperiodseconds).")
    ] = 2,
    empty_block_period: Annotated[
        int,
        typer.Option(
            "--empty-block-period",
            min=0,
            help="Seconds an idle chain waits before an empty block (emptyblockperiodseconds); "
            "the block period or less: a block every period, as the embedded dev genesis.",
        ),
    ] = 60,
    attestations_file: Annotated[
        Path | None,
        typer.Option(
            "--attestations",
            help="JSON list, one object per validator in order (validator-0 first): entityName, "
            "corporateNumber (法人番号, 13 digits), jurisdiction (JP), region (JP-01..JP-47), "
            "documentHash (SHA-256, 0x-hex); written into the validator registry's genesis storage. "
            "[default: development attestations, marked as such]",
        ),
    ] = None,
    accounts_allowlist: Annotated[
        bool,
        typer.Option(
            "--accounts-allowlist",
            help="Put the account allowlist contract (contracts/AccountAllowlist.sol) in genesis and "
            "switch it on (config.jsc.accountsAllowlist): only listed senders may transact, on every "
            "node. The validators are its admins (funded to pay for admin transactions). [default: off, an open chain]",
        ),
    ] = False,
    allowlist_accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--allowlist-accounts",
            metavar="ADDRESS[,ADDRESS...]",
            help="With --accounts-allowlist: accounts allowed to transact from genesis.",
        ),
    ] = None,
    restrict_contract_creation: Annotated[
        bool,
        typer.Option(
            "--restrict-contract-creation",
            help="With --accounts-allowlist: creating a contract needs the CREATE permission an "
            "admin grants (setCreatePermission). [default: any allowed account may]",
        ),
    ] = False,
    nodes_allowlist: Annotated[
        bool,
        typer.Option(
            "--nodes-allowlist",
            help="Put the node allowlist contract (contracts/NodeAllowlist.sol) in genesis and switch "
            "it on (config.jsc.nodesAllowlist): every node admits the nodes it lists besides the "
            "validators and its nodes file. The validators are its admins and are listed. [default: off]",
        ),
    ] = False,
    allowlist_nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--allowlist-nodes",
            metavar="ADDRESS[,ADDRESS...]",
            help="With --nodes-allowlist: more nodes listed from genesis, by the address of their "
            "node key (admin_nodeInfo's address).",
        ),
    ] = None,
) -> None:
    """Create validator keys and a QBFT genesis.json funding the ten dev accounts, with the validator
    registry (config.jsc) holding each validator's attestation."""
    from jsc_node.devtools import DEV_MNEMONIC, load_attestations, registry_address_hex, write_devnet
    from jsc_node.errors import DevToolsInputError
    from jsc_node.governance.accounts import ALLOWLIST_ADDRESS
    from jsc_node.governance.nodes import NODES_ALLOWLIST_ADDRESS

    with user_errors():
        attestations = None if attestations_file is None else load_attestations(attestations_file, validators)
        listed = _split_list(allowlist_accounts)
        if (listed or restrict_contract_creation) and not accounts_allowlist:
            raise DevToolsInputError(
                "--allowlist-accounts and --restrict-contract-creation need --accounts-allowlist"
            )
        listed_nodes = _split_list(allowlist_nodes)
        if listed_nodes and not nodes_allowlist:
            raise DevToolsInputError("--allowlist-nodes needs --nodes-allowlist")
        keys = write_devnet(
            out,
            validators,
            chain_id,
            block_period,
            timestamp=int(time.time()),
            empty_block_period_s=empty_block_period,
            attestations=attestations,
            accounts_allowlist=accounts_allowlist,
            allowlist_accounts=listed or (),
            restrict_create=restrict_contract_creation,
            nodes_allowlist=nodes_allowlist,
            allowlist_nodes=listed_nodes or (),
        )
    for key in keys:
        typer.echo(f"validator-{key.index}: {key.address}  {out / f'validator-{key.index}' / 'key'}")
    typer.echo(f"genesis:     {out / 'genesis.json'} (chain id {chain_id}, {block_period} s blocks)")
    typer.echo(
        f"registry:    0x{registry_address_hex()} (config.jsc), "
        + (f"attestations from {attestations_file}" if attestations_file else "DEVELOPMENT attestations")
    )
    if accounts_allowlist:
        typer.echo(
            f"allowlist:   0x{ALLOWLIST_ADDRESS.hex()} (config.jsc.accountsAllowlist), admins: the validators, "
            f"{len(listed or ())} account(s) listed"
            + (", contract creation restricted" if restrict_contract_creation else "")
        )
    if nodes_allowlist:
        typer.echo(
            f"nodes:       0x{NODES_ALLOWLIST_ADDRESS.hex()} (config.jsc.nodesAllowlist), admins: the "
            f"validators, {len(keys) + len(listed_nodes or ())} node(s) listed"
        )
    typer.echo(f"dev accounts funded: the first ten of {DEV_MNEMONIC!r}")
    typer.echo(
        "WARNING: the validator keys are unencrypted files; not for production if you share them.",
        err=True,
    )


# --- rlp -----------------------------------------------------------------------------------------


class RlpType(StrEnum):
    qbft_extra_data = "qbft-extra-data"


def _rlp_type(value: str) -> RlpType:
    # Besu spells it QBFT_EXTRA_DATA; accept both spellings.
    normalized = value.strip().lower().replace("_", "-")
    try:
        return RlpType(normalized)
    except ValueError:
        raise typer.BadParameter(f"unsupported type {value!r}; supported: qbft-extra-data") from None


TypeOpt = Annotated[
    RlpType,
    typer.Option("--type", parser=_rlp_type, help="What the data is: qbft-extra-data (QBFT_EXTRA_DATA)."),
]
FromOpt = Annotated[Path | None, typer.Option("--from", help="Input file. [default: stdin]")]
ToOpt = Annotated[Path | None, typer.Option("--to", help="Output file. [default: stdout]")]


def _read_input(source: Path | None) -> str:
    if source is None:
        return sys.stdin.read()
    try:
        return source.read_text()
    except FileNotFoundError:
        fail(f"input file not found: {source}")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {source}: {exc}")


def _write_output(text: str, target: Path | None) -> None:
    if target is None:
        typer.echo(text)
        return
    try:
        target.write_text(text + "\n")
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}")


@rlp_app.command("encode")
def rlp_encode(
    type_: TypeOpt = RlpType.qbft_extra_data,
    source: FromOpt = None,
    target: ToOpt = None,
) -> None:
    """Encode a JSON list of validator addresses as genesis QBFT extraData (0x-hex)."""
    from jsc_node.devtools import encode_validators_json

    text = _read_input(source)
    with user_errors():
        encoded = encode_validators_json(text)
    _write_output(encoded, target)


@rlp_app.command("decode")
def rlp_decode(
    type_: TypeOpt = RlpType.qbft_extra_data,
    source: FromOpt = None,
    target: ToOpt = None,
) -> None:
    """Decode 0x-hex QBFT extraData; prints vanity, validators, vote, round and seals as JSON."""
    from jsc_node.devtools import decode_extra_data_hex

    text = _read_input(source)
    with user_errors():
        fields = decode_extra_data_hex(text)
    _write_output(json.dumps(fields, indent=2), target)


# --- governance ----------------------------------------------------------------------------------

RpcUrlOpt = Annotated[str, typer.Option("--rpc-url", help="JSON-RPC endpoint of a node of the chain.")]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        "--node-private-key-file",
        help="File holding the signer's hex private key (a validator's node key, for approve/revoke).",
    ),
]
SignKeystoreOpt = Annotated[
    Path | None,
    typer.Option("--keystore", help="Keystore file, or directory (with --from when it holds several)."),
]
SignPasswordOpt = Annotated[
    Path | None,
    typer.Option("--password-file", help="File whose first line is the password. [default: prompt]"),
]
FromAddressOpt = Annotated[
    str | None, typer.Option("--from", help="Signer's address: picks the keystore entry, checks the key.")
]
ReceiptTimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the transaction's receipt.", min=0.1)
]


def _signing_key(
    key_file: Path | None, keystore: Path | None, password_file: Path | None, sender: str | None
) -> bytes:
    from jsc_node.accounts import read_password_file
    from jsc_node.govtool import load_key

    def password() -> str:
        if password_file is not None:
            return read_password_file(password_file)
        answer: str = typer.prompt("Password", hide_input=True, err=True)
        return answer

    return load_key(key_file, keystore, sender, password)


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@governance_app.command("attest")
def governance_attest(
    entity: Annotated[str, typer.Option("--entity", help="Legal entity name (UTF-8, at most 256 bytes).")],
    corporate_number: Annotated[
        str, typer.Option("--corporate-number", help="法人番号: 13 digits, check digit first.")
    ],
    jurisdiction: Annotated[str, typer.Option("--jurisdiction", help="ISO 3166-1 alpha-2, e.g. JP.")],
    region: Annotated[str, typer.Option("--region", help="Hosting region, ISO 3166-2, e.g. JP-13.")],
    document: Annotated[
        Path | None, typer.Option("--document", help="The attestation document; its SHA-256 is recorded.")
    ] = None,
    document_hash: Annotated[
        str | None, typer.Option("--document-hash", help="SHA-256 of the document, 0x and 64 hex digits.")
    ] = None,
    rpc_url: RpcUrlOpt = "http://127.0.0.1:8545",
    key_file: KeyFileOpt = None,
    keystore: SignKeystoreOpt = None,
    password_file: SignPasswordOpt = None,
    sender: FromAddressOpt = None,
    timeout: ReceiptTimeoutOpt = 60.0,
) -> None:
    """Submit the signer's own attestation to the validator registry (Pending until a quorum approves)."""
    from jsc_node import govtool

    with user_errors():
        if (document is None) == (document_hash is None):
            raise govtool.GovernanceError("give exactly one of --document FILE or --document-hash 0x..")
        digest = govtool.document_sha256(document) if document is not None else str(document_hash)
        fields = govtool.check_attestation(entity, corporate_number, jurisdiction, region, digest)
        rpc = govtool.Rpc(rpc_url)
        key = _signing_key(key_file, keystore, password_file, sender)
        sent, view = govtool.attest(rpc, key, fields, timeout, _progress)
        quorum = govtool.Registry(rpc).quorum()
    typer.echo(f"submitted in block {sent.block_number} ({sent.tx_hash})")
    typer.echo(
        f"{view.address}: {view.status.name.capitalize()}, round {view.round}; "
        f"needs {quorum} approvals of current validators"
    )


def _vote(
    address: str,
    revoke: bool,
    rpc_url: str,
    key_file: Path | None,
    keystore: Path | None,
    password_file: Path | None,
    sender: str | None,
    timeout: float,
) -> None:
    from jsc_node import govtool

    with user_errors():
        govtool.parse_address(address)
        rpc = govtool.Rpc(rpc_url)
        key = _signing_key(key_file, keystore, password_file, sender)
        outcome = govtool.vote(rpc, key, address, revoke, timeout, _progress)
    typer.echo(
        f"{'revocation' if revoke else 'approval'} mined in block {outcome.sent.block_number} ({outcome.sent.tx_hash})"
    )
    typer.echo(outcome.summary(revoke))


AddressArg = Annotated[str, typer.Argument(help="The attested validator's address.")]


@governance_app.command("approve")
def governance_approve(
    address: AddressArg,
    rpc_url: RpcUrlOpt = "http://127.0.0.1:8545",
    key_file: KeyFileOpt = None,
    keystore: SignKeystoreOpt = None,
    password_file: SignPasswordOpt = None,
    sender: FromAddressOpt = None,
    timeout: ReceiptTimeoutOpt = 60.0,
) -> None:
    """Approve a pending attestation, signed by a current validator's key."""
    _vote(address, False, rpc_url, key_file, keystore, password_file, sender, timeout)


@governance_app.command("revoke")
def governance_revoke(
    address: AddressArg,
    rpc_url: RpcUrlOpt = "http://127.0.0.1:8545",
    key_file: KeyFileOpt = None,
    keystore: SignKeystoreOpt = None,
    password_file: SignPasswordOpt = None,
    sender: FromAddressOpt = None,
    timeout: ReceiptTimeoutOpt = 60.0,
) -> None:
    """Vote to revoke a valid attestation, signed by a current validator's key."""
    _vote(address, True, rpc_url, key_file, keystore, password_file, sender, timeout)


@governance_app.command("list")
def governance_list(
    rpc_url: RpcUrlOpt = "http://127.0.0.1:8545",
    block: Annotated[str, typer.Option("--block", help="Block number or tag.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Every attestation in the validator registry, with the current validators and quorum."""
    from jsc_node import govtool

    with user_errors():
        registry = govtool.Registry(govtool.Rpc(rpc_url), govtool.block_tag(block))
        views = registry.all()
        validators = registry.validators()
        quorum = registry.quorum()
    if as_json:
        doc = {
            "block": block,
            "validators": validators,
            "quorum": quorum,
            "attestations": [v.as_json() for v in views],
        }
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    typer.echo(govtool.table(views))
    typer.echo(f"validators: {len(validators)}, quorum {quorum}; attestations: {len(views)}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
