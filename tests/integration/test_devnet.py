"""`jsc-node devnet` as a subprocess: devnet.json, block production, signals, restart, busy ports,
a node dying on its own. One validator only: several validators need the libp2p wiring."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from web3 import Web3
from websockets.sync.client import connect as ws_connect

from jsc_node.devnet import free_base_port
from tests.integration.conftest import DEV_KEY, web3_for

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
GONE_TIMEOUT_S = 15.0
PEER_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60.0
NODE_KEYS = {"name", "rpc", "ws", "ui", "p2p", "address", "validator", "pids"}
P2P_ADDR = re.compile(r"^/ip4/127\.0\.0\.1/tcp/(\d+)/p2p/(16Uiu2\w+)$")


def devnet_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "jsc_node.cli", "devnet", *args]


@dataclass
class Devnet:
    directory: Path
    args: list[str]
    out_path: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, object]:
        self.out_path = self.directory.parent / f"{self.directory.name}-{time.monotonic_ns()}.out"
        with open(self.out_path, "wb") as out:
            self.process = subprocess.Popen(
                devnet_command("--dir", str(self.directory), *self.args),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"devnet exited with {self.process.returncode}:\n{self.output()}")
            if "devnet: wrote" in self.output():
                doc: dict[str, object] = json.loads((self.directory / "devnet.json").read_text())
                return doc
            time.sleep(0.1)
        raise TimeoutError(f"devnet not ready after {READY_TIMEOUT_S} s:\n{self.output()}")

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def devnets() -> Iterator[list[Devnet]]:
    started: list[Devnet] = []
    yield started
    for devnet in started:  # a failed test must not leave nodes behind (they die with the devnet)
        devnet.kill()


def nodes_of(doc: dict[str, object]) -> list[dict[str, object]]:
    nodes = doc["nodes"]
    assert isinstance(nodes, list)
    return nodes


def pids_of(doc: dict[str, object]) -> list[int]:
    return [pid for node in nodes_of(doc) for pid in node["pids"]]  # type: ignore[attr-defined]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def check_node_shape(node: dict[str, object], name: str, base_port: int, validator: bool) -> None:
    assert set(node) == NODE_KEYS
    assert node["name"] == name
    assert node["rpc"] == f"http://127.0.0.1:{base_port}"
    assert node["ws"] == f"ws://127.0.0.1:{base_port + 1}"
    assert node["ui"] == f"http://127.0.0.1:{base_port + 4}/"
    match = P2P_ADDR.match(str(node["p2p"]))
    assert match, node["p2p"]
    assert int(match.group(1)) == base_port + 2
    assert node["validator"] is validator
    pids = node["pids"]
    assert isinstance(pids, list)
    # The supervisor and its children (execution, consensus, multiprocessing's resource tracker).
    assert len(pids) >= 3
    assert all(alive(pid) for pid in pids)


def send_transfer(w3: Web3) -> int:
    """A signed transfer from the first dev account; returns the block that includes it."""
    account = w3.eth.account.from_key(DEV_KEY)
    tx = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address),
        "to": "0x000000000000000000000000000000000000dEaD",
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
    }
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), 30)
    assert receipt["status"] == 1
    return int(receipt["blockNumber"])


def run_quick(*args: str) -> subprocess.CompletedProcess[str]:
    """A devnet command expected to fail before starting any node."""
    return subprocess.run(
        devnet_command(*args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )


@pytest.mark.slow
def test_one_validator_produces_blocks_stops_on_sigint_and_restarts(
    tmp_path: Path, devnets: list[Devnet]
) -> None:
    directory = tmp_path / "devnet"
    base = free_base_port(1)
    first = Devnet(directory, ["-n", "1", "--base-port", str(base)])
    devnets.append(first)
    doc = first.start()

    assert set(doc) == {"chainId", "nodes"}
    assert doc["chainId"] == 1337
    [node] = nodes_of(doc)
    check_node_shape(node, "validator-0", base, validator=True)
    assert node["address"] == (directory / "validator-0" / "address").read_text().strip()
    genesis = json.loads((directory / "genesis.json").read_text())
    assert genesis["config"]["qbft"]["blockperiodseconds"] == 1
    assert str(node["address"]).lower()[2:] in genesis["extraData"]

    w3 = web3_for(str(node["rpc"]))
    assert w3.eth.chain_id == 1337
    with ws_connect(str(node["ws"]), open_timeout=10) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
        assert json.loads(ws.recv(timeout=10))["result"] == "0x539"
    mined_in = send_transfer(w3)
    assert mined_in >= 1
    head = w3.eth.get_block("latest")

    pids = pids_of(doc)
    assert first.stop(signal.SIGINT) == 0, first.output()
    assert wait_gone(pids) == []
    assert "all nodes stopped" in first.output()

    # The same directory again: same keys and genesis, the chain continues from its head.
    second = Devnet(directory, ["-n", "1", "--base-port", str(base)])
    devnets.append(second)
    doc2 = second.start()
    assert "restarting" in second.output()
    [node2] = nodes_of(doc2)
    assert node2["address"] == node["address"]
    assert node2["p2p"] == node["p2p"]
    w3 = web3_for(str(node2["rpc"]))
    assert w3.eth.block_number >= head["number"]
    assert w3.eth.get_block(head["number"])["hash"] == head["hash"]
    assert send_transfer(w3) > head["number"]
    pids2 = pids_of(doc2)
    assert set(pids2).isdisjoint(pids)
    assert second.stop(signal.SIGINT) == 0, second.output()
    assert wait_gone(pids2) == []

    # A restart that would describe another chain is refused before any node starts.
    wrong = run_quick("-n", "2", "--dir", str(directory), "--base-port", str(base))
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("error:")
    assert "-n 1" in wrong.stderr


@pytest.mark.slow
def test_rpc_node_busy_ports_and_a_node_dying(tmp_path: Path, devnets: list[Devnet]) -> None:
    directory = tmp_path / "devnet"
    base = free_base_port(2)
    devnet = Devnet(directory, ["-n", "1", "--rpc-nodes", "1", "--base-port", str(base)])
    devnets.append(devnet)
    doc = devnet.start()

    validator, rpc_node = nodes_of(doc)
    check_node_shape(validator, "validator-0", base, validator=True)
    check_node_shape(rpc_node, "rpc-0", base + 10, validator=False)
    assert rpc_node["address"] is None
    assert validator["p2p"] != rpc_node["p2p"]
    for node in (validator, rpc_node):
        assert web3_for(str(node["rpc"])).eth.chain_id == 1337
    mined = send_transfer(web3_for(str(validator["rpc"])))
    assert mined >= 1

    # The RPC node is admitted (the devnet's nodes allowlist lists every node) and follows the chain.
    allowlist = (directory / "permissions_config.toml").read_text()
    for node in (validator, rpc_node):
        assert str(node["p2p"]).rsplit("/", 1)[1] in allowlist
    follower = web3_for(str(rpc_node["rpc"]))
    deadline = time.monotonic() + PEER_TIMEOUT_S
    while time.monotonic() < deadline and (follower.net.peer_count < 1 or follower.eth.block_number < mined):
        time.sleep(0.2)
    assert follower.net.peer_count == 1
    assert follower.eth.block_number >= mined

    # The same directory while it runs, and the same ports from another directory: one error line each.
    same_dir = run_quick("-n", "1", "--rpc-nodes", "1", "--dir", str(directory), "--base-port", str(base))
    assert same_dir.returncode == 1
    assert "already running" in same_dir.stderr
    busy = run_quick("-n", "1", "--dir", str(tmp_path / "other"), "--base-port", str(base))
    assert busy.returncode == 1
    assert busy.stderr.startswith("error:")
    assert f"port {base} " in busy.stderr
    assert "in use" in busy.stderr

    # A node killed from outside is reported; the devnet and the other node keep running.
    rpc_pids = rpc_node["pids"]
    assert isinstance(rpc_pids, list)
    os.kill(rpc_pids[0], signal.SIGKILL)
    reported = re.compile(r"rpc-0 \(pid \d+\) exited on its own")
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while time.monotonic() < deadline and not reported.search(devnet.output()):
        time.sleep(0.1)
    assert reported.search(devnet.output()), devnet.output()
    assert "other nodes keep running" in devnet.output()
    assert wait_gone(rpc_pids) == []
    assert devnet.process is not None
    assert devnet.process.poll() is None
    assert web3_for(str(validator["rpc"])).eth.chain_id == 1337
    after = json.loads((directory / "devnet.json").read_text())
    assert nodes_of(after)[1]["pids"] == []

    validator_pids = validator["pids"]
    assert isinstance(validator_pids, list)
    assert devnet.stop(signal.SIGTERM) == 0, devnet.output()
    assert wait_gone(validator_pids) == []


def test_layout_ports_bootnodes_and_reuse(tmp_path: Path) -> None:
    """The plan, in process (no node starts): ports by index, bootnodes, keys kept across runs."""
    from jsc_node.devnet import DevnetOptions, prepare_devnet
    from jsc_node.errors import DevToolsInputError

    options = DevnetOptions(tmp_path / "d", validators=3, rpc_nodes=1, base_port=20000)
    devnet = prepare_devnet(options)
    assert devnet.created
    assert [p.name for p in devnet.nodes] == ["validator-0", "validator-1", "validator-2", "rpc-0"]
    assert [(p.http_port, p.ws_port, p.p2p_port) for p in devnet.nodes] == [
        (20000 + 10 * i, 20001 + 10 * i, 20002 + 10 * i) for i in range(4)
    ]
    v0, v1, v2, rpc = devnet.nodes
    # Everyone dials every validator, never itself (no peer discovery yet).
    assert v0.bootnodes == (v1.p2p_addr, v2.p2p_addr)
    assert v1.bootnodes == (v0.p2p_addr, v2.p2p_addr)
    assert v2.bootnodes == (v0.p2p_addr, v1.p2p_addr)
    assert rpc.bootnodes == (v0.p2p_addr, v1.p2p_addr, v2.p2p_addr)
    assert len({p.peer_id for p in devnet.nodes}) == 4
    assert rpc.address is None
    assert all(p.data_path.parent == tmp_path / "d" / p.name for p in devnet.nodes)
    # Every node reads the devnet's nodes allowlist (written under the devnet lock at start).
    for plan in devnet.nodes:
        args = plan.run_args(devnet.genesis_file, "INFO")
        flag = args.index("--permissions-nodes-config-file")
        assert args[flag + 1] == str(tmp_path / "d" / "permissions_config.toml")

    again = prepare_devnet(options)
    assert not again.created
    assert again.nodes == devnet.nodes
    # One more RPC node later: the existing keys stay.
    more = prepare_devnet(DevnetOptions(tmp_path / "d", validators=3, rpc_nodes=2, base_port=20000))
    assert more.nodes[:4] == devnet.nodes
    with pytest.raises(DevToolsInputError, match="-n 3"):
        prepare_devnet(DevnetOptions(tmp_path / "d", validators=4))
    with pytest.raises(DevToolsInputError, match="chain id 1337, not 5"):
        prepare_devnet(DevnetOptions(tmp_path / "d", validators=3, chain_id=5))
    with pytest.raises(DevToolsInputError, match="65535"):
        prepare_devnet(DevnetOptions(tmp_path / "d", validators=3, base_port=65530))
