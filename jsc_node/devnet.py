"""``jsc-node devnet``: N validators and K RPC nodes on 127.0.0.1, one ``jsc-node run`` each.

    D/genesis.json, D/README.md    written on the first run (devtools.write_devnet), reused after
    D/validator-<i>/key, address   validator keys: the layout of ``jsc-node genesis new``
    D/rpc-<j>/key                  RPC (non-validator) node keys, created when first needed
    D/<name>/data/                 each node's data dir; D/<name>/node.log its output (appended)
    D/devnet.json                  the nodes: URLs, p2p multiaddrs, addresses, pids
    D/permissions_config.toml      nodes-allowlist: every node's peer ID (rewritten at each start)
    D/prometheus.yml               with --metrics: a Prometheus scrape of every node (rewritten at each start)
    D/devnet.lock                  held while a devnet runs on D

Node i (validators first) listens on base+10i (JSON-RPC HTTP), base+10i+1 (WebSocket) and
base+10i+2 (libp2p), so with the default base 8545 the first validator has the usual 8545/8546;
with ``--metrics`` also base+10i+3 (Prometheus ``/metrics``); and base+10i+4, the chain page
(``--ui-port``).
Every node dials every validator (``--bootnodes``): there is no peer discovery yet, and a star
around one or two bootnodes would split the network when they go down. Every node gets
``--permissions-nodes-config-file D/permissions_config.toml``: validators admit each other by
address, and RPC nodes only because the file lists them (edit it while the devnet runs to admit
or drop a peer; nodes reload it).

The devnet supervises node supervisors: each ``jsc-node run`` already supervises its own
execution and consensus processes. Nodes run in their own process groups, so Ctrl-C reaches only
the devnet, which stops them in order (SIGTERM, bounded wait, SIGKILL); they get SIGTERM from the
kernel if the devnet itself dies (PR_SET_PDEATHSIG). A node that dies on its own is reported and
left dead: the others keep running, so the operator can look at its log and restart it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from jsc_node.config import RPC_APIS
from jsc_node.errors import ConfigError, DevToolsInputError
from jsc_node.procutil import die_with_parent, pid_lock

HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 8545
# Ports of node i: base + PORT_STRIDE*i + (0 HTTP, 1 WS, 2 p2p, 3 metrics with --metrics, 4 chain page).
PORT_STRIDE = 10
UI_PORT_OFFSET = 4
"""Every devnet node serves its chain page (``--ui-port``) on base+10i+4, with or without --metrics."""
MAX_PORT = 65535
DEFAULT_CHAIN_ID = 1337
DEFAULT_BLOCK_PERIOD_S = 1
# A node's own start budget is 120 s (node.READY_TIMEOUT_S); all of them start at once.
READY_TIMEOUT_S = 150.0
# A node stops consensus then execution, each with a 15 s grace (node.SHUTDOWN_GRACE_S).
STOP_TIMEOUT_S = 40.0
KILL_WAIT_S = 10.0
POLL_INTERVAL_S = 0.2
# How deep and wide to walk a node's process tree for its pids (it is supervisor + 3 children).
PROCESS_TREE_DEPTH = 4
PROCESS_TREE_MAX = 64
LOG_TAIL_BYTES = 4096
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PERMISSIONS_FILE = "permissions_config.toml"
PROMETHEUS_FILE = "prometheus.yml"


@dataclass(frozen=True)
class DevnetOptions:
    directory: Path
    validators: int
    rpc_nodes: int = 0
    base_port: int = DEFAULT_BASE_PORT
    chain_id: int | None = None
    """None: 1337 for a new devnet, the genesis's chain id on a restart."""
    block_period_s: int | None = None
    """None: 1 s for a new devnet, the genesis's period on a restart."""
    log_level: str = "INFO"
    accounts_allowlist: bool = False
    """New devnet only: the account allowlist contract in genesis, switched on (the validators are
    its admins; devtools.make_genesis)."""
    nodes_allowlist: bool = False
    """New devnet only: the node allowlist contract in genesis, switched on (the validators are its
    admins; every validator and RPC node is listed: the RPC nodes' keys are made before the genesis)."""
    metrics: bool = False
    """Every node with --metrics-enabled on its own port; D/prometheus.yml scrapes them all."""


@dataclass(frozen=True)
class NodePlan:
    name: str
    key_file: Path
    data_path: Path
    log_path: Path
    http_port: int
    ws_port: int
    p2p_port: int
    peer_id: str
    address: str | None
    """EIP-55 validator address; None for an RPC node."""
    bootnodes: tuple[str, ...] = ()
    permissions_file: Path | None = None
    """The devnet's nodes allowlist (``--permissions-nodes-config-file``)."""
    metrics_port: int | None = None
    """``--metrics-port`` (with ``--metrics-enabled``); None: no metrics."""
    ui_port: int | None = None
    """``--ui-port``: the node's chain page."""

    @property
    def validator(self) -> bool:
        return self.address is not None

    @property
    def rpc_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.ws_port}"

    @property
    def p2p_addr(self) -> str:
        return f"/ip4/{HOST}/tcp/{self.p2p_port}/p2p/{self.peer_id}"

    @property
    def metrics_url(self) -> str | None:
        return None if self.metrics_port is None else f"http://{HOST}:{self.metrics_port}/metrics"

    @property
    def ui_url(self) -> str | None:
        return None if self.ui_port is None else f"http://{HOST}:{self.ui_port}/"

    def run_args(self, genesis_file: Path, log_level: str) -> list[str]:
        """``jsc-node run`` arguments (without the program name)."""
        args = [
            "run",
            "--data-path",
            str(self.data_path),
            "--genesis-file",
            str(genesis_file),
            "--node-private-key-file",
            str(self.key_file),
            "--rpc-http-host",
            HOST,
            "--rpc-http-port",
            str(self.http_port),
            "--rpc-ws-host",
            HOST,
            "--rpc-ws-port",
            str(self.ws_port),
            "--p2p-host",
            HOST,
            "--p2p-port",
            str(self.p2p_port),
            "--log-level",
            log_level,
            # A dev tool: every namespace (debug_trace*, qbft_ votes, admin_peers) on both transports.
            "--rpc-http-api",
            ",".join(RPC_APIS),
            "--rpc-ws-api",
            ",".join(RPC_APIS),
        ]
        if self.bootnodes:
            args += ["--bootnodes", ",".join(self.bootnodes)]
        if self.permissions_file is not None:
            args += ["--permissions-nodes-config-file", str(self.permissions_file)]
        if self.metrics_port is not None:
            args += ["--metrics-enabled", "--metrics-host", HOST, "--metrics-port", str(self.metrics_port)]
        if self.ui_port is not None:
            args += ["--ui-host", HOST, "--ui-port", str(self.ui_port)]
        return args


@dataclass(frozen=True)
class ProcessId:
    """A pid with its start time (/proc stat field 22), so a reused pid is never mistaken for it."""

    pid: int
    start_ticks: int


@dataclass
class RunningNode:
    plan: NodePlan
    process: subprocess.Popen[bytes]
    log_offset: int
    """Size of the log before this start: what the node wrote since is after it."""
    processes: list[ProcessId] = field(default_factory=list)
    exited: bool = False

    @property
    def pids(self) -> list[int]:
        return [] if self.exited else [p.pid for p in self.processes]


@dataclass(frozen=True)
class Devnet:
    directory: Path
    genesis_file: Path
    chain_id: int
    block_period_s: int
    nodes: tuple[NodePlan, ...]
    created: bool
    """True when this run wrote the keys and genesis."""


# --- layout: keys, genesis, ports ----------------------------------------------------------------


def prepare_devnet(options: DevnetOptions) -> Devnet:
    """Create keys and genesis in an empty or missing directory, or check and reuse those there."""
    if options.validators < 1:
        raise DevToolsInputError(f"a devnet needs at least one validator, got {options.validators}")
    if options.rpc_nodes < 0:
        raise DevToolsInputError(f"--rpc-nodes must be 0 or more, got {options.rpc_nodes}")
    if options.log_level not in LOG_LEVELS:
        raise ConfigError(f"--log-level {options.log_level!r}: expected one of {', '.join(LOG_LEVELS)}")
    # Absolute: the restart command printed for a dead node then works from any directory.
    directory = options.directory.resolve()
    options = replace(options, directory=directory)
    genesis_file = directory / "genesis.json"
    created = not genesis_file.exists()
    if created:
        _create_devnet(options)
    from jsc_node.genesis import load_genesis

    spec = load_genesis(genesis_file)
    if spec.qbft is None:
        raise DevToolsInputError(f"{genesis_file} has no qbft section: not a devnet genesis")
    _check_same_chain(options, spec.chain_id, spec.qbft.block_period_s)
    validator_keys = _validator_keys(directory, options.validators, set(spec.validators))
    plans = _plan_nodes(directory, validator_keys, _rpc_node_keys(directory, options.rpc_nodes), options)
    return Devnet(
        directory=directory,
        genesis_file=genesis_file,
        chain_id=spec.chain_id,
        block_period_s=spec.qbft.block_period_s,
        nodes=tuple(plans),
        created=created,
    )


def _create_devnet(options: DevnetOptions) -> None:
    from eth_account import Account

    from jsc_node.accounts import write_secret
    from jsc_node.consensus.block import address_of, private_key
    from jsc_node.devtools import write_devnet

    # With the node allowlist the RPC nodes are genesis nodes: their keys exist before the genesis
    # lists them (written once write_devnet has made the directory; _rpc_node_keys reads them).
    rpc_keys = [
        bytes(Account.create().key) for _ in range(options.rpc_nodes if options.nodes_allowlist else 0)
    ]
    write_devnet(
        options.directory,
        options.validators,
        DEFAULT_CHAIN_ID if options.chain_id is None else options.chain_id,
        DEFAULT_BLOCK_PERIOD_S if options.block_period_s is None else options.block_period_s,
        timestamp=int(time.time()),
        accounts_allowlist=options.accounts_allowlist,
        nodes_allowlist=options.nodes_allowlist,
        allowlist_nodes=[address_of(private_key(key)).hex() for key in rpc_keys],
    )
    for j, key in enumerate(rpc_keys):
        key_file = options.directory / f"rpc-{j}" / "key"
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_secret(key_file, "0x" + key.hex())


def _check_same_chain(options: DevnetOptions, chain_id: int, block_period_s: int) -> None:
    # A restart reuses the genesis: flags that would describe another chain are refused, not ignored.
    if options.chain_id is not None and options.chain_id != chain_id:
        raise DevToolsInputError(
            f"{options.directory} holds a devnet with chain id {chain_id}, not {options.chain_id}; "
            "drop --chain-id or use a new --dir"
        )
    if options.block_period_s is not None and options.block_period_s != block_period_s:
        raise DevToolsInputError(
            f"{options.directory} holds a devnet with {block_period_s} s blocks, not "
            f"{options.block_period_s} s; drop --block-period or use a new --dir"
        )


def _validator_keys(directory: Path, count: int, genesis_validators: set[bytes]) -> list[bytes]:
    from jsc_node.accounts import read_private_key_file
    from jsc_node.consensus.block import address_of, private_key

    if count != len(genesis_validators):
        raise DevToolsInputError(
            f"{directory} holds a devnet of {len(genesis_validators)} validators, not {count}; "
            f"run it with -n {len(genesis_validators)} or use a new --dir"
        )
    keys = []
    for i in range(count):
        key_file = directory / f"validator-{i}" / "key"
        if not key_file.exists():
            raise DevToolsInputError(f"{key_file} is missing: {directory} is not a complete devnet")
        key = read_private_key_file(key_file)
        if address_of(private_key(key)) not in genesis_validators:
            raise DevToolsInputError(f"{key_file} is not the key of a validator in {directory}/genesis.json")
        keys.append(key)
    return keys


def _rpc_node_keys(directory: Path, count: int) -> list[bytes]:
    from eth_account import Account

    from jsc_node.accounts import read_private_key_file, write_secret

    keys = []
    for j in range(count):
        key_file = directory / f"rpc-{j}" / "key"
        if not key_file.exists():
            key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Besu's key file format, as write_devnet writes validator keys.
            write_secret(key_file, "0x" + bytes(Account.create().key).hex())
        keys.append(read_private_key_file(key_file))
    return keys


def _plan_nodes(
    directory: Path, validator_keys: list[bytes], rpc_keys: list[bytes], options: DevnetOptions
) -> list[NodePlan]:
    from eth_account import Account

    from jsc_node.p2p.host import peer_id_of

    named = [(f"validator-{i}", key, True) for i, key in enumerate(validator_keys)]
    named += [(f"rpc-{j}", key, False) for j, key in enumerate(rpc_keys)]
    last_port = options.base_port + PORT_STRIDE * (len(named) - 1) + UI_PORT_OFFSET
    if options.base_port < 1 or last_port > MAX_PORT:
        raise DevToolsInputError(
            f"--base-port {options.base_port}: {len(named)} nodes need ports "
            f"{options.base_port}..{last_port}, which must lie in 1..{MAX_PORT}"
        )
    plans = []
    for i, (name, key, is_validator) in enumerate(named):
        base = options.base_port + PORT_STRIDE * i
        node_dir = directory / name
        plans.append(
            NodePlan(
                name=name,
                key_file=node_dir / "key",
                data_path=node_dir / "data",
                log_path=node_dir / "node.log",
                http_port=base,
                ws_port=base + 1,
                p2p_port=base + 2,
                metrics_port=base + 3 if options.metrics else None,
                ui_port=base + UI_PORT_OFFSET,
                peer_id=str(peer_id_of(key)),
                address=str(Account.from_key(key).address) if is_validator else None,
            )
        )
    boot = [plan for plan in plans if plan.validator]
    return [
        replace(
            plan,
            bootnodes=tuple(b.p2p_addr for b in boot if b.name != plan.name),
            permissions_file=directory / PERMISSIONS_FILE,
        )
        for plan in plans
    ]


def write_permissions_file(path: Path, plans: Iterable[NodePlan]) -> None:
    """Every node's peer ID, validators too (a validator voted out stays admitted), so RPC nodes
    are admitted by the validators and by each other."""
    lines = [
        "# Written by jsc-node devnet at each start; nodes reload it when it changes.\n",
        "nodes-allowlist = [\n",
    ]
    lines += [f'  "{plan.peer_id}",  # {plan.name}\n' for plan in plans]
    lines.append("]\n")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(lines))
    tmp.replace(path)  # a node reloading it never reads half a file


def write_prometheus_config(path: Path, plans: Iterable[NodePlan]) -> None:
    """A Prometheus configuration scraping every node's /metrics, each target labelled with its
    node name (``prometheus --config.file D/prometheus.yml``)."""
    lines = [
        "# Written by jsc-node devnet --metrics at each start.\n",
        "global:\n",
        "  scrape_interval: 5s\n",
        "scrape_configs:\n",
        "  - job_name: jsc-node\n",
        "    static_configs:\n",
    ]
    for plan in plans:
        if plan.metrics_port is not None:
            lines += [
                f'      - targets: ["{HOST}:{plan.metrics_port}"]\n',
                # `role`, not `validator`: that is the label of jsc_qbft_proposals_total and kin, which
                # a target label of the same name would rename to exported_validator.
                f'        labels: {{node: "{plan.name}", role: "{"validator" if plan.validator else "rpc"}"}}\n',
            ]
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(lines))
    tmp.replace(path)


def validate_ports_free(plans: tuple[NodePlan, ...]) -> None:
    """Refuse before starting anything: one busy port would leave a devnet with a hole in it."""
    for plan in plans:
        for port, what in (
            (plan.http_port, "JSON-RPC HTTP"),
            (plan.ws_port, "WebSocket"),
            (plan.p2p_port, "p2p"),
            *(() if plan.metrics_port is None else ((plan.metrics_port, "metrics"),)),
            *(() if plan.ui_port is None else ((plan.ui_port, "chain page"),)),
        ):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                # SO_REUSEADDR: a port in TIME_WAIT after the last devnet stopped is free.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((HOST, port))
                except OSError as exc:
                    raise ConfigError(
                        f"port {port} ({plan.name} {what}) on {HOST} is in use ({exc.strerror}): "
                        "another devnet or node is running there; stop it or choose other ports "
                        "with --base-port"
                    ) from exc


def devnet_lock(directory: Path) -> contextlib.AbstractContextManager[None]:
    return pid_lock(
        directory / "devnet.lock",
        lambda owner: f"a devnet is already running on {directory} (pid {owner}); stop it first",
    )


# --- devnet.json and the table -------------------------------------------------------------------


def devnet_document(chain_id: int, nodes: list[RunningNode]) -> dict[str, Any]:
    return {
        "chainId": chain_id,
        "nodes": [
            {
                "name": node.plan.name,
                "rpc": node.plan.rpc_url,
                "ws": node.plan.ws_url,
                "p2p": node.plan.p2p_addr,
                "address": node.plan.address,
                "validator": node.plan.validator,
                "pids": node.pids,
                # With --metrics only: the devnet.json of a devnet without them keeps its shape.
                **({} if node.plan.metrics_url is None else {"metrics": node.plan.metrics_url}),
                "ui": node.plan.ui_url,
            }
            for node in nodes
        ],
    }


def save_devnet_json(devnet: Devnet, nodes: list[RunningNode]) -> Path:
    path = devnet.directory / "devnet.json"
    tmp = path.with_name(f".devnet.json.tmp{os.getpid()}")
    tmp.write_text(json.dumps(devnet_document(devnet.chain_id, nodes), indent=2) + "\n")
    tmp.replace(path)  # readers never see half a file
    return path


def format_table(nodes: list[RunningNode]) -> str:
    header = ("name", "rpc", "ws", "page", "p2p", "address", "pids")
    rows = [header] + [
        (
            n.plan.name,
            n.plan.rpc_url,
            n.plan.ws_url,
            n.plan.ui_url or "-",
            n.plan.p2p_addr,
            n.plan.address or "-",
            ",".join(str(pid) for pid in n.pids),
        )
        for n in nodes
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


# --- processes -----------------------------------------------------------------------------------


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after "(comm)": state is field 3, starttime field 22 (proc(5)).
    return int(stat.rsplit(")", 1)[1].split()[19])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def process_tree(pid: int) -> list[ProcessId]:
    """``pid`` and its descendants (a node: supervisor, execution, consensus, resource tracker)."""
    tree: list[ProcessId] = []
    level = [pid]
    for _ in range(PROCESS_TREE_DEPTH):
        next_level: list[int] = []
        for p in level:
            ticks = _start_ticks(p)
            if ticks is None or len(tree) >= PROCESS_TREE_MAX:
                continue
            tree.append(ProcessId(p, ticks))
            next_level += _children(p)
        if not next_level:
            break
        level = next_level
    return tree


def stable_process_tree(pid: int, settle_s: float = POLL_INTERVAL_S) -> list[ProcessId]:
    """``process_tree`` without short-lived helpers: only processes seen in two looks
    ``settle_s`` apart (a library may run a tool such as ldconfig while a node starts)."""
    first = set(process_tree(pid))
    time.sleep(settle_s)
    return [proc for proc in process_tree(pid) if proc in first]


def _alive(proc: ProcessId) -> bool:
    return _start_ticks(proc.pid) == proc.start_ticks


def start_node(plan: NodePlan, genesis_file: Path, log_level: str) -> RunningNode:
    plan.data_path.mkdir(parents=True, exist_ok=True)
    with open(plan.log_path, "ab") as log:
        offset = log.tell()
        log.write(
            f"--- jsc-node devnet: {plan.name} starting at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode()
        )
        log.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "jsc_node.cli", *plan.run_args(genesis_file, log_level)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # Own process group: Ctrl-C in the terminal reaches the devnet only, which stops nodes in order.
            process_group=0,
            # In the forked child before exec: the node gets SIGTERM (a clean stop) if the devnet dies.
            preexec_fn=functools.partial(die_with_parent, signal.SIGTERM, os.getpid()),
        )
    return RunningNode(plan=plan, process=process, log_offset=offset)


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def _error_lines(node: RunningNode) -> list[str]:
    """The ``error:`` lines the node wrote since it started (a node refuses bad input with one)."""
    try:
        with open(node.plan.log_path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(node.log_offset, size - LOG_TAIL_BYTES))
            tail = log.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in tail.splitlines() if line.startswith("error:")]


def restart_command(plan: NodePlan, genesis_file: Path, log_level: str) -> str:
    return shlex.join(["jsc-node", *plan.run_args(genesis_file, log_level)])


class StopFlag:
    def __init__(self) -> None:
        self.signal: int | None = None

    def set(self, signum: int, _frame: Any) -> None:
        self.signal = signum

    def __bool__(self) -> bool:
        return self.signal is not None


def wait_ready(nodes: list[RunningNode], stop: StopFlag, timeout_s: float) -> RunningNode | None:
    """Wait until every node's JSON-RPC port answers; returns the first node that exited instead.

    Raises TimeoutError when ``timeout_s`` passes first; returns None early when ``stop`` is set.
    """
    pending = list(nodes)
    deadline = time.monotonic() + timeout_s
    while pending and not stop:
        if time.monotonic() > deadline:
            raise TimeoutError(", ".join(n.plan.name for n in pending))
        for node in list(pending):
            if node.process.poll() is not None:
                return node
            if _port_open(node.plan.http_port):
                # Both children and the resource tracker are started before the RPC port opens.
                node.processes = stable_process_tree(node.process.pid)
                pending.remove(node)
        time.sleep(POLL_INTERVAL_S)
    return None


def stop_nodes(nodes: list[RunningNode], out: Callable[[str], None]) -> bool:
    """SIGTERM every node supervisor, wait (bounded), SIGKILL what is left. True if all stopped
    on SIGTERM."""
    running = [n for n in nodes if n.process.poll() is None]
    if running:
        out(f"devnet: stopping {len(running)} node(s) ...")
    for node in running:
        with contextlib.suppress(ProcessLookupError):
            node.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for node in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.wait(max(0.0, deadline - time.monotonic()))
    clean = True
    for node in running:
        if node.process.poll() is None:
            clean = False
            out(f"devnet: {node.plan.name} did not stop in {STOP_TIMEOUT_S:.0f} s; killing it")
            node.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(KILL_WAIT_S)
    # A supervisor's children die with it (PR_SET_PDEATHSIG); make sure, and kill any that linger.
    leftovers = [p for n in nodes for p in n.processes if _alive(p)]
    deadline = time.monotonic() + KILL_WAIT_S
    while leftovers and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        leftovers = [p for p in leftovers if _alive(p)]
    for proc in leftovers:
        clean = False
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    return clean


# --- the command ---------------------------------------------------------------------------------


def run_devnet(options: DevnetOptions, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Start the devnet and supervise it until SIGINT/SIGTERM. 0 after a clean stop; 1 if a node
    failed to start or every node died. Bad input raises a JscError before any node starts."""
    out_stream = stdout or sys.stdout
    err_stream = stderr or sys.stderr

    def out(text: str) -> None:
        print(text, file=out_stream, flush=True)

    def err(text: str) -> None:
        print(text, file=err_stream, flush=True)

    devnet = prepare_devnet(options)
    with devnet_lock(devnet.directory):
        validate_ports_free(devnet.nodes)
        # Under the lock: a second devnet refused on D must not rewrite the running one's file.
        write_permissions_file(devnet.directory / PERMISSIONS_FILE, devnet.nodes)
        if options.metrics:
            write_prometheus_config(devnet.directory / PROMETHEUS_FILE, devnet.nodes)
        stop = StopFlag()
        previous = {sig: signal.signal(sig, stop.set) for sig in (signal.SIGINT, signal.SIGTERM)}
        nodes: list[RunningNode] = []
        try:
            return _supervise(devnet, options, nodes, stop, out, err)
        finally:
            stop_nodes(nodes, out)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if nodes:
                save_devnet_json(devnet, _mark_exited(nodes))
                out("devnet: all nodes stopped")


def _mark_exited(nodes: list[RunningNode]) -> list[RunningNode]:
    for node in nodes:
        node.exited = node.process.poll() is not None
    return nodes


def _supervise(
    devnet: Devnet,
    options: DevnetOptions,
    nodes: list[RunningNode],
    stop: StopFlag,
    out: Callable[[str], None],
    err: Callable[[str], None],
) -> int:
    validators = sum(1 for plan in devnet.nodes if plan.validator)
    verb = "created" if devnet.created else "restarting"
    out(
        f"devnet: {verb} {devnet.directory}: {validators} validator(s), "
        f"{len(devnet.nodes) - validators} RPC node(s), chain id {devnet.chain_id}, "
        f"{devnet.block_period_s} s blocks"
    )
    for plan in devnet.nodes:
        nodes.append(start_node(plan, devnet.genesis_file, options.log_level))
    try:
        failed = wait_ready(nodes, stop, READY_TIMEOUT_S)
    except TimeoutError as exc:
        err(f"error: devnet: node(s) not ready after {READY_TIMEOUT_S:.0f} s: {exc}; see their node.log")
        return 1
    if failed is not None:
        reason = "; ".join(_error_lines(failed)) or f"exit code {failed.process.returncode}"
        err(f"error: devnet: {failed.plan.name} failed to start ({reason}); log: {failed.plan.log_path}")
        return 1
    if stop:
        return 0
    path = save_devnet_json(devnet, nodes)
    out(format_table(nodes))
    out(f"devnet: wrote {path}; logs in {devnet.directory}/<name>/node.log")
    from jsc_node.devtools import DEV_MNEMONIC

    out(f"devnet: the ten dev accounts of {DEV_MNEMONIC!r} hold 10,000 ETH each (public keys)")
    out(
        "devnet: Ctrl-C stops every node. If a node dies on its own the devnet says which and "
        "keeps the others running (restart it with the command it prints)."
    )
    return _watch(devnet, options, nodes, stop, err)


def _watch(
    devnet: Devnet,
    options: DevnetOptions,
    nodes: list[RunningNode],
    stop: StopFlag,
    err: Callable[[str], None],
) -> int:
    # Runs until a signal: the devnet is a foreground service, like `jsc-node run`.
    while not stop:
        for node in nodes:
            if node.exited or node.process.poll() is None:
                continue
            node.exited = True
            reason = "; ".join(_error_lines(node))
            err(
                f"devnet: {node.plan.name} (pid {node.process.pid}) exited on its own with code "
                f"{node.process.returncode}{': ' + reason if reason else ''}; the other nodes keep running"
            )
            err(f"devnet:   log: {node.plan.log_path}")
            err(
                f"devnet:   restart it with: {restart_command(node.plan, devnet.genesis_file, options.log_level)}"
            )
            err(
                "devnet:   (a node restarted by hand is yours to stop: Ctrl-C here stops only the devnet's nodes)"
            )
            save_devnet_json(devnet, nodes)
        if all(node.exited for node in nodes):
            err("error: devnet: every node has exited")
            return 1
        time.sleep(POLL_INTERVAL_S)
    return 0


def free_base_port(nodes: int, tries: int = 50) -> int:
    """A ``--base-port`` P with every node's ports (P+10i .. P+10i+4) free on 127.0.0.1 now
    (bounded tries; for tests and benchmarks, which must not collide with other runs)."""
    for _ in range(tries):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            base = int(probe.getsockname()[1])
        ports = [base + PORT_STRIDE * i + k for i in range(nodes) for k in range(UI_PORT_OFFSET + 1)]
        if ports[-1] > 65535:
            continue
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind((HOST, port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no free port range for {nodes} nodes in {tries} tries")
