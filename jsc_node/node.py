"""Starts a node's two processes, supervises them and shuts them down cleanly.

    jsc-node run
      ├── execution process (asyncio): LevelDB, py-evm, tx pool, JSON-RPC   (execution_process.py)
      └── consensus process (trio): QBFT service, later libp2p              (consensus_process.py)
          joined by the execution seam, a Unix socket in the data dir        (seam/)

If either child dies the other is stopped and the node exits non-zero; SIGINT/SIGTERM stop both
(SIGTERM first, SIGKILL after a grace period). Children die with the parent (PR_SET_PDEATHSIG),
so ``kill -9`` of the node is a crash of the whole node, never a half-alive one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from jsc_node import __version__
from jsc_node.config import NodeConfig
from jsc_node.errors import ConfigError
from jsc_node.genesis import DEV_VALIDATOR_KEY, GenesisSpec, load_genesis
from jsc_node.logs import setup_logging
from jsc_node.pins import PINNED_VERSIONS, check_versions
from jsc_node.procutil import data_dir_lock, die_with_parent

log = logging.getLogger("jsc_node")

SHUTDOWN_GRACE_S = 15.0
READY_TIMEOUT_S = 120.0
UNIX_SOCKET_PATH_MAX = 100

DEV_ACCOUNTS = (
    (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    (
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
    (
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    ),
    (
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ),
    (
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    ),
    (
        "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
        "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    ),
    (
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    ),
    (
        "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    ),
    (
        "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
        "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    ),
)


def adopt_libp2p_logging(level: str) -> None:
    """py-libp2p detaches its loggers when imported (no handler, no propagation) unless
    LIBP2P_DEBUG is set, so its warnings reached Python's last-resort handler as bare lines on
    stderr ("Failed to open TCP stream: …" at every redial of a peer that is down). They go
    through the node's log format instead, WARNING and up as for py-evm; the TCP dial failures,
    which the host reports itself ("bootnode … unreachable (retry in …)"), only at --log-level
    DEBUG. Some py-libp2p modules set their own logger to INFO, so the rule is a filter on the
    node's handlers, not logger levels."""
    if os.environ.get("LIBP2P_DEBUG"):
        return  # py-libp2p's own logging, as its docs describe
    libp2p_logger = logging.getLogger("libp2p")
    libp2p_logger.propagate = True
    libp2p_logger.setLevel(max(logging.WARNING, getattr(logging, level)))
    rule = _Libp2pRecords(dials=level == "DEBUG")
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, _Libp2pRecords)]:
            handler.removeFilter(old)
        handler.addFilter(rule)


class _Libp2pRecords(logging.Filter):
    """Passes py-libp2p's records at WARNING and up (TCP dial errors only with ``dials``)."""

    def __init__(self, dials: bool) -> None:
        super().__init__()
        self.dials = dials

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name != "libp2p" and not name.startswith("libp2p."):
            return True
        if name.startswith("libp2p.transport.tcp"):
            return self.dials and record.levelno >= logging.WARNING
        return record.levelno >= logging.WARNING


def load_node_key(config: NodeConfig, spec: GenesisSpec) -> bytes:
    """The node key: the configured file; else DATA/key (created on first start); the embedded
    dev genesis without a key file uses the dev validator key so it produces blocks."""
    path = config.node_private_key_file
    if path is None:
        if config.genesis_file is None:
            return DEV_VALIDATOR_KEY
        path = config.data_path / "key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_bytes(32).hex() + "\n")
            log.info("created node key %s", path)
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read node key file {path}: {exc}") from exc
    text = text[2:] if text.startswith("0x") else text
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ConfigError(f"node key file {path} is not hex") from exc
    if len(key) != 32:
        raise ConfigError(f"node key file {path} must hold a 32-byte secp256k1 key, got {len(key)} bytes")
    return key


def isolation_warning(config: NodeConfig, spec: GenesisSpec, node_key: bytes) -> str | None:
    """The one line a node that can never see a block prints at start: a QBFT genesis of which
    it is not a validator, and no peer to dial (it could only be dialled). None otherwise."""
    if spec.qbft is None or config.bootnodes:
        return None
    from eth_keys.datatypes import PrivateKey

    address = bytes(PrivateKey(node_key).public_key.to_canonical_address())
    if address in spec.validators:
        return None
    return (
        f"this node (0x{address.hex()}) is not a validator of this QBFT genesis and has no bootnodes: "
        "it will produce and receive no blocks unless a peer dials it; give it a validator's key "
        "(--node-private-key-file) or peers to dial (--bootnodes)"
    )


def seam_socket_path(data_path: Path) -> str:
    path = str(data_path.resolve() / "seam.sock")
    if len(path) <= UNIX_SOCKET_PATH_MAX:
        return path
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / f"jsc-node-{digest}.sock")


def init_node(config: NodeConfig) -> GenesisSpec:
    """Create the data dir and write the genesis block (what ``run`` does first, and no more)."""
    from jsc_node.state import startup
    from jsc_node.state.evm.executor import Executor
    from jsc_node.state.storage.leveldb import LevelDB

    startup.install()  # the genesis hash is the BFT block hash
    spec = load_genesis(config.genesis_file)
    with data_dir_lock(config.data_path):
        db = LevelDB(config.data_path / "chaindata")
        try:
            executor = Executor(db, spec)
            print(
                f"initialised {config.data_path}: chain id {spec.chain_id}, genesis 0x{executor.genesis.hash.hex()}"
            )
        finally:
            db.close()
    return spec


def _child(target: str, config: NodeConfig, *args: Any) -> None:
    # spawn hands the child its supervisor's pid as the supervisor knew it
    supervisor = multiprocessing.parent_process()
    if supervisor is None or supervisor.pid is None:
        os._exit(1)
    die_with_parent(signal.SIGKILL, supervisor.pid)
    level = config.log_level
    setup_logging(level, config.logging_format, target, config.log_module_levels)
    from jsc_node.errors import JscError

    try:
        if target == "execution":
            from jsc_node.execution_process import main as execution_main

            execution_main(config, *args)
        else:
            from jsc_node.consensus_process import main as consensus_main

            adopt_libp2p_logging(level)
            consensus_main(config, *args)
    except JscError as exc:
        if config.logging_format == "json":
            log.error("%s", exc)
            logging.shutdown()
        else:
            print(f"error: {exc}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(2)
    except KeyboardInterrupt:
        pass
    # Everything is closed and flushed by now. Skip interpreter teardown: plyvel and py-evm's
    # caches print "Error in sys.excepthook" while modules are torn down, which is noise.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _wait_for_port(host: str, port: int, processes: list[BaseProcess], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.exitcode is not None for p in processes):
            return False
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def _print_banner(config: NodeConfig, spec: GenesisSpec) -> None:
    lines = [
        f"jsc-node v{__version__}",
        f"  chain id      {spec.chain_id}",
        f"  data path     {config.data_path}",
        f"  JSON-RPC      http://{config.rpc_http_host}:{config.rpc_http_port}",
    ]
    if config.rpc_ws_enabled:
        lines.append(f"  WebSocket     ws://{config.rpc_ws_host}:{config.rpc_ws_port}")
    if config.ui_port is not None:
        lines.append(f"  Chain page    http://{config.ui_host}:{config.ui_port}/")
    if config.genesis_file is None:
        lines.append("")
        lines.append("Development accounts (10,000 ETH each; public keys, never use them on a real network):")
        for i, (address, key) in enumerate(DEV_ACCOUNTS):
            lines.append(f"  ({i}) {address}  key {key}")
    if config.logging_format == "json":
        # One record a log pipeline can read, not lines of text among the JSON ones.
        log.info(
            "jsc-node v%s ready",
            __version__,
            extra={
                "chain_id": spec.chain_id,
                "data_path": str(config.data_path),
                "rpc_http": f"http://{config.rpc_http_host}:{config.rpc_http_port}",
                "rpc_ws": f"ws://{config.rpc_ws_host}:{config.rpc_ws_port}"
                if config.rpc_ws_enabled
                else None,
                "ui": None if config.ui_port is None else f"http://{config.ui_host}:{config.ui_port}/",
                "dev_accounts": [address for address, _key in DEV_ACCOUNTS]
                if config.genesis_file is None
                else None,
            },
        )
        return
    print("\n".join(lines), flush=True)


def check_ports_free(config: NodeConfig) -> None:
    """Refuse to start when a listening port is taken, before any child starts (and before a
    banner could point users at someone else's server)."""
    wanted = []
    if config.rpc_http_enabled:
        wanted.append(("--rpc-http-port", config.rpc_http_host, config.rpc_http_port))
    if config.rpc_ws_enabled and config.rpc_ws_port != config.rpc_http_port:
        wanted.append(("--rpc-ws-port", config.rpc_ws_host, config.rpc_ws_port))
    if config.p2p_enabled:
        wanted.append(("--p2p-port", config.p2p_host, config.p2p_port))
    if config.ui_port is not None:
        wanted.append(("--ui-port", config.ui_host, config.ui_port))
    for flag, host, port in wanted:
        if port == 0:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise ConfigError(f"{flag} {port}: cannot listen on {host}:{port} ({exc.strerror})") from exc


def run_node(config: NodeConfig) -> int:
    setup_logging(config.log_level, config.logging_format, "main", config.log_module_levels)
    # Each process checks again before it patches; checked here, a mismatch is one error line
    # and no process starts.
    check_versions(*PINNED_VERSIONS)
    # JWT authentication: a missing or unusable key file refuses the start (one error line) before
    # anything is written.
    from jsc_node.rpc.auth import authentication_warnings, load_authentication

    load_authentication(config)
    for doubt in authentication_warnings(config):
        log.warning(doubt)
    spec = load_genesis(config.genesis_file)
    node_key = load_node_key(config, spec)
    warning = isolation_warning(config, spec, node_key)
    if warning is not None:
        log.warning(warning)
    check_ports_free(config)
    # A bad nodes allowlist refuses the start here (one error line); the consensus process
    # reads it again and watches it.
    from jsc_node.p2p.permissions import load_nodes_allowlist

    load_nodes_allowlist(config.permissions_nodes_config_file)
    with data_dir_lock(config.data_path):
        seam_path = seam_socket_path(config.data_path)
        ctx = multiprocessing.get_context("spawn")
        execution = ctx.Process(target=_child, args=("execution", config, seam_path), name="jsc-execution")
        consensus = ctx.Process(
            target=_child,
            args=("consensus", config, seam_path, node_key),
            name="jsc-consensus",
        )
        stopping = False

        def request_stop(signum: int, _frame: Any) -> None:
            nonlocal stopping
            stopping = True

        # Issue 14: /metrics (jsc_node/metrics/server.py); set up before the children start, which
        # inherit where to write their values.
        from jsc_node.metrics.server import open_metrics

        metrics = open_metrics(
            config, lambda: {"main": os.getpid(), "execution": execution.pid, "consensus": consensus.pid}
        )
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        execution.start()
        consensus.start()
        processes: list[BaseProcess] = [execution, consensus]
        try:
            if config.rpc_http_enabled and _wait_for_port(
                config.rpc_http_host, config.rpc_http_port, processes, READY_TIMEOUT_S
            ):
                _print_banner(config, spec)
            while not stopping and all(p.exitcode is None for p in processes):
                time.sleep(0.1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _stop(processes)
            if metrics is not None:
                metrics.close()
        failed = [p for p in processes if p.exitcode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if stopping and not failed:
            log.info("node stopped")
            return 0
        for p in failed:
            log.error("%s process exited with code %s", p.name, p.exitcode)
        return 1 if failed or not stopping else 0


def _stop(processes: list[BaseProcess]) -> None:
    # Consensus first, so it does not commit into an execution process that is going away.
    for process in reversed(processes):
        if process.exitcode is None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            process.join(SHUTDOWN_GRACE_S)
        if process.exitcode is None:
            process.kill()
            process.join(5)
