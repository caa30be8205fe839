"""Helpers for tests that run several `jsc-node run` processes as one QBFT network on 127.0.0.1:
start validators (and a follower admitted by an allowlist), send a dev-account transfer, wait for
it on every node, compare chains, restart a node, read the validator set and vote on it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from eth_account import Account
from eth_hash.auto import keccak

from jsc_node.chainformat import genesis_extra_data
from jsc_node.consensus.block import QbftBlock, decode_block
from jsc_node.devtools import registry_address_hex, write_devnet
from jsc_node.governance import registry
from jsc_node.p2p.host import peer_id_of
from tests.integration.conftest import DEV_KEY
from tests.integration.nodeproc import NodeProcess

RECIPIENT = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
FOLLOWER_KEY = keccak(b"jsc-node test follower")
"""A non-validator node's key; tests admit its peer ID with a nodes allowlist file."""
FOLLOWER_ADDRESS = str(Account.from_key(FOLLOWER_KEY).address)
STEP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 2
# An empty block each block period: a vote rides in the next block its validator proposes
# instead of waiting 60 s (the devnet default) for a transaction or the empty-block period.
EMPTY_BLOCK_PERIOD_S = 1
# No epoch block (which resets the votes) during a test.
EPOCH_LENGTH = 30_000


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: Callable[[], str] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what() if what else 'condition'}: not in {timeout_s} s")


def rpc_batch(node: NodeProcess, method: str, params: list[list[object]]) -> list[object]:
    """``method`` called with each entry of ``params``, as JSON-RPC batches of at most 500 calls
    (the node's batch limit is Besu's 1024): one HTTP request per batch instead of one per call.
    The results, in order; an error answer raises."""
    results: list[object] = []
    for first in range(0, len(params), 500):
        chunk = params[first : first + 500]
        body = [{"jsonrpc": "2.0", "id": i, "method": method, "params": p} for i, p in enumerate(chunk)]
        answers = httpx.post(node.url, json=body, timeout=60).json()
        assert isinstance(answers, list), answers
        assert len(answers) == len(chunk), answers
        by_id = {a["id"]: a for a in answers}
        for i, p in enumerate(chunk):
            if "error" in by_id[i]:
                raise RuntimeError(f"{method}{p}: {by_id[i]['error']}")
            results.append(by_id[i]["result"])
    return results


def heads(nodes: list[NodeProcess]) -> list[int]:
    return [int(str(n.rpc("eth_blockNumber")), 16) for n in nodes]


def wait_for_peers(nodes: list[NodeProcess], want: int, timeout_s: float = 30.0) -> None:
    wait_until(
        lambda: all(int(str(n.rpc("net_peerCount")), 16) >= want for n in nodes),
        timeout_s,
        lambda: f"{want} peers each (now {[n.rpc('net_peerCount') for n in nodes]})",
    )


def wait_for_height(node: NodeProcess, height: int, timeout_s: float) -> None:
    wait_until(
        lambda: heads([node])[0] >= height,
        timeout_s,
        lambda: f"height {height} (node at {heads([node])[0]})",
    )


def send_tx(node: NodeProcess, nonce: int, to: str = RECIPIENT, value: int = 1) -> str:
    """A transfer (1 wei by default) from the dev account, sent to ``node``; its hash."""
    raw = Account.sign_transaction(
        {
            "chainId": 1337,
            "nonce": nonce,
            "to": to,
            "value": value,
            "gas": 21_000,
            "maxFeePerGas": 20 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "type": 2,
        },
        DEV_KEY,
    ).raw_transaction
    return str(node.rpc("eth_sendRawTransaction", "0x" + raw.hex().removeprefix("0x")))


def wait_mined_everywhere(nodes: list[NodeProcess], tx_hash: str, timeout_s: float = STEP_TIMEOUT_S) -> int:
    """Until ``tx_hash`` has a receipt on every node; the (single) block number it is in."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        receipts = [n.rpc("eth_getTransactionReceipt", tx_hash) for n in nodes]
        if all(isinstance(r, dict) for r in receipts):
            numbers = {int(r["blockNumber"], 16) for r in receipts if isinstance(r, dict)}
            assert len(numbers) == 1, f"mined at different heights: {numbers}"
            return numbers.pop()
        time.sleep(0.2)
    raise TimeoutError(f"{tx_hash} not mined on every node in {timeout_s} s: {heads(nodes)}")


def assert_same_chain(nodes: list[NodeProcess]) -> int:
    """Every node has the same block hash at every height up to the lowest head; that head."""
    top = min(heads(nodes))
    calls: list[list[object]] = [[hex(number), False] for number in range(top + 1)]
    chains = [[str(b["hash"]) for b in rpc_batch(n, "eth_getBlockByNumber", calls)] for n in nodes]  # type: ignore[index]
    for number in range(top + 1):
        hashes = {chain[number] for chain in chains}
        assert len(hashes) == 1, f"fork at height {number}: {hashes}"
    return top


def restart(node: NodeProcess) -> NodeProcess:
    """The same node (data dir, flags, ports) started again."""
    return NodeProcess(
        node.data_path,
        extra_args=node.extra_args,
        http_port=node.http_port,
        ws_port=node.ws_port,
        p2p_port=node.p2p_port,
        env=node.env,
    ).start()


@dataclass
class Network:
    validators: list[NodeProcess]
    """In key order: ``addresses[i]`` is ``validators[i]``'s."""
    addresses: list[str]
    """EIP-55 validator addresses."""
    follower: NodeProcess | None
    """A non-validator node with FOLLOWER_KEY, admitted by the validators' nodes allowlist."""
    key_files: list[Path]
    """Each node's key file, validators then the follower (as ``nodes``)."""
    genesis_path: Path
    nonce: int = 0
    """Next nonce of DEV_KEY."""

    @property
    def nodes(self) -> list[NodeProcess]:
        return [*self.validators, *([self.follower] if self.follower is not None else [])]

    def send(self, node: NodeProcess, to: str = RECIPIENT, value: int = 1) -> str:
        tx_hash = send_tx(node, self.nonce, to, value)
        self.nonce += 1
        return tx_hash


def start_network(
    tmp_path: Path,
    validators: int,
    *,
    follower: bool,
    env: dict[int, dict[str, str]] | None = None,
    extra_args: tuple[str, ...] = (),
    follower_at_start: bool = False,
    attest_follower: bool = True,
    genesis_validators: int | None = None,
) -> Network:
    """``validators`` validators with 1 s blocks, an empty block each second, 2 s round timeouts
    and no epoch, started and peered; ``env[i]`` adds to node i's environment, ``extra_args`` to
    every node's flags. The follower is only prepared (``start_follower`` starts it on a chain
    under way) unless ``follower_at_start``: then it starts with the validators. The validators,
    and the follower if ``attest_follower``, hold development attestations from genesis (on a
    config.jsc chain only an address validly attested may be voted in). With
    ``genesis_validators``, only the first that many validators' keys are the genesis set (in
    extraData and the registry); the others, attested, start with them as validators-to-be."""
    keys = write_devnet(
        tmp_path / "net", validators, chain_id=1337, block_period_s=1, timestamp=int(time.time())
    )
    genesis_path = tmp_path / "net" / "genesis.json"
    genesis = json.loads(genesis_path.read_text())
    genesis["config"]["qbft"].update(
        requesttimeoutseconds=REQUEST_TIMEOUT_S,
        emptyblockperiodseconds=EMPTY_BLOCK_PERIOD_S,
        epochlength=EPOCH_LENGTH,
    )
    members = [bytes.fromhex(k.address[2:]) for k in keys[: genesis_validators or validators]]
    if genesis_validators is not None:
        genesis["extraData"] = "0x" + genesis_extra_data(members).hex()
    if attest_follower or genesis_validators is not None:
        attested = {bytes.fromhex(k.address[2:]): registry.dev_attestation(k.index) for k in keys}
        if attest_follower:
            attested[bytes.fromhex(FOLLOWER_ADDRESS[2:])] = registry.dev_attestation(len(keys))
        genesis["alloc"][registry_address_hex()] = registry.genesis_alloc_entry(
            members, attested, genesis["config"]["jsc"]["jurisdictions"]
        )
    genesis_path.write_text(json.dumps(genesis))
    # Admitted besides the current validators: the follower (a validator-to-be) and every
    # validator (one voted out must stay connected to keep following, as with Besu's allowlist).
    private_keys = [k.private_key for k in keys]
    key_files = [tmp_path / "net" / f"validator-{k.index}" / "key" for k in keys]
    nodes = [NodeProcess(tmp_path / f"node-{k.index}", env=(env or {}).get(k.index, {})) for k in keys]
    if follower:
        (tmp_path / "follower.key").write_text(FOLLOWER_KEY.hex())
        private_keys.append(FOLLOWER_KEY)
        key_files.append(tmp_path / "follower.key")
        nodes.append(NodeProcess(tmp_path / "follower", env=(env or {}).get(validators, {})))
    allowlist = ", ".join(f'"{peer_id_of(k)}"' for k in private_keys)
    (tmp_path / "permissions.toml").write_text(f"nodes-allowlist = [{allowlist}]\n")
    # No peer discovery: every node dials every other, so a node voted in is connected to all.
    boot = [
        f"/ip4/127.0.0.1/tcp/{n.p2p_port}/p2p/{peer_id_of(k)}"
        for n, k in zip(nodes, private_keys, strict=True)
    ]
    for node, key_file in zip(nodes, key_files, strict=True):
        node.extra_args = [
            "--genesis-file",
            str(genesis_path),
            "--node-private-key-file",
            str(key_file),
            "--bootnodes",
            ",".join(b for b in boot if f"/tcp/{node.p2p_port}/" not in b),
            "--permissions-nodes-config-file",
            str(tmp_path / "permissions.toml"),
            *extra_args,
        ]
    network = Network(
        validators=nodes[:validators],
        addresses=[k.address for k in keys],
        follower=nodes[validators] if follower else None,
        key_files=key_files,
        genesis_path=genesis_path,
    )
    starting = network.nodes if follower_at_start else network.validators
    for node in starting:
        node.start(wait=False)
    try:
        for node in starting:
            node.wait_ready()
        wait_for_peers(starting, len(starting) - 1)
    except BaseException:
        stop_all(nodes)
        raise
    return network


def start_follower(network: Network) -> NodeProcess:
    """Start the follower, wait until it has synced to the validators' head and is connected to all."""
    assert network.follower is not None
    head = max(heads(network.validators))
    follower = network.follower.start()
    wait_until(
        lambda: (
            int(str(follower.rpc("eth_blockNumber")), 16) >= head and follower.rpc("eth_syncing") is False
        ),
        STEP_TIMEOUT_S,
        lambda: f"follower synced to {head} (at {follower.rpc('eth_blockNumber')})",
    )
    wait_for_peers(network.nodes, len(network.nodes) - 1)
    return follower


def stop_all(nodes: list[NodeProcess]) -> None:
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            node.stop()


def validators_at(node: NodeProcess, block: str = "latest") -> list[str]:
    """qbft_getValidatorsByBlockNumber: EIP-55, ascending by address bytes."""
    answer = node.rpc("qbft_getValidatorsByBlockNumber", block)
    assert isinstance(answer, list)
    return [str(a) for a in answer]


def sorted_addresses(addresses: list[str]) -> list[str]:
    """Ascending by address bytes, as extraData and qbft_getValidatorsByBlockNumber list them."""
    return sorted(addresses, key=lambda a: bytes.fromhex(a[2:]))


def vote(voters: list[NodeProcess], subject: str, add: bool) -> None:
    for voter in voters:
        assert voter.rpc("qbft_proposeValidatorVote", subject, add) is True


def wait_for_set(nodes: list[NodeProcess], expected: list[str], timeout_s: float = STEP_TIMEOUT_S) -> int:
    """Wait until every node's head is validated by ``expected``; the first such block's number
    (the same on all nodes)."""
    wait_until(
        lambda: all(validators_at(n) == expected for n in nodes),
        timeout_s,
        lambda: (
            f"validators {expected} on every node (now {[validators_at(n) for n in nodes]}, "
            f"heads {heads(nodes)})"
        ),
    )
    changes = {first_block_with(n, expected) for n in nodes}
    assert len(changes) == 1, f"the set changed at different heights: {changes}"
    return changes.pop()


def first_block_with(node: NodeProcess, expected: list[str]) -> int:
    number = int(str(node.rpc("eth_blockNumber")), 16)
    while number > 0 and validators_at(node, hex(number - 1)) == expected:
        number -= 1
    return number


def raw_block(node: NodeProcess, number: int) -> QbftBlock:
    """Block ``number`` as stored (debug_getRawBlock), commit seals included."""
    return decode_block(bytes.fromhex(str(node.rpc("debug_getRawBlock", hex(number)))[2:]))


def raw_blocks(node: NodeProcess, first: int, last: int) -> list[QbftBlock]:
    """Blocks ``first`` to ``last`` (both included) as ``raw_block`` reads them, in one batch."""
    raw = rpc_batch(node, "debug_getRawBlock", [[hex(n)] for n in range(first, last + 1)])
    return [decode_block(bytes.fromhex(str(r)[2:])) for r in raw]


def miner(node: NodeProcess, number: int) -> str:
    block = node.rpc("eth_getBlockByNumber", hex(number), False)
    assert isinstance(block, dict)
    return str(block["miner"]).lower()


# A rogue validator for the tests that need a block no honest node would build: a
# ``sitecustomize.py`` on one node's PYTHONPATH (both of its processes import it at start) patches
# product modules as they are imported. The product has no test hook. ``patches`` is Python source
# (a docstring, then functions) that defines ``PATCHES``: module name -> function(module).
_PATCH_AFTER_IMPORT = """

import importlib.abc
import importlib.machinery
import sys


class PatchAfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            PATCHES[name](module)

        spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, PatchAfterImport())
"""


def rogue_sitecustomize(patches: str) -> str:
    """The text of a ``sitecustomize.py`` that applies ``patches``' PATCHES after each import."""
    return patches + _PATCH_AFTER_IMPORT
