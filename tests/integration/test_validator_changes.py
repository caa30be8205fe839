"""Validator-set changes by vote with real processes, libp2p on 127.0.0.1: a follower voted in
(1→2, 2→3, 4→5) and a validator voted out (4→3) while live (its own vote the deciding one) or
after a kill -9 (by the three others), the chain final throughout. Besu #8425 (adding a 2nd validator halts the chain) and GoQuorum #1728 (removing one
halts it) are the failures these guard against."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from jsc_node.consensus.block import QbftBlock, decode_block, recover_seal_signers
from jsc_node.consensus.validators import quorum
from jsc_node.devtools import write_devnet
from jsc_node.governance import registry
from jsc_node.p2p.host import peer_id_of
from tests.integration.nodeproc import NodeProcess
from tests.integration.qbftnet import (
    FOLLOWER_KEY,
    STEP_TIMEOUT_S,
    assert_same_chain,
    heads,
    restart,
    send_tx,
    wait_for_peers,
    wait_mined_everywhere,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

REQUEST_TIMEOUT_S = 2
# An empty block each block period: a vote rides in the next block its validator proposes
# instead of waiting 60 s (the devnet default) for a transaction or the empty-block period.
EMPTY_BLOCK_PERIOD_S = 1
# No epoch block (which resets the votes) during a test.
EPOCH_LENGTH = 30_000
FOLLOWER_ADDRESS = str(Account.from_key(FOLLOWER_KEY).address)


@dataclass
class Network:
    validators: list[NodeProcess]
    """In key order: ``addresses[i]`` is ``validators[i]``'s."""
    addresses: list[str]
    """EIP-55 validator addresses."""
    follower: NodeProcess | None
    """A non-validator node with FOLLOWER_KEY, admitted by the validators' nodes allowlist."""
    nonce: int = 0
    """Next nonce of DEV_KEY."""

    @property
    def nodes(self) -> list[NodeProcess]:
        return [*self.validators, *([self.follower] if self.follower is not None else [])]

    def send(self, node: NodeProcess) -> str:
        tx_hash = send_tx(node, self.nonce)
        self.nonce += 1
        return tx_hash


def _start_network(tmp_path: Path, validators: int, *, follower: bool) -> Network:
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
    # The follower is voted in: on a chain with the validator registry (config.jsc) that vote is
    # valid only for an attested address, so the genesis attests it too (a marked development
    # attestation, as the validators').
    given = [bytes.fromhex(k.address[2:]) for k in keys]
    attested = {address: registry.dev_attestation(i) for i, address in enumerate(given)}
    attested[bytes.fromhex(FOLLOWER_ADDRESS[2:])] = registry.dev_attestation(len(given))
    genesis["alloc"][registry.REGISTRY_ADDRESS.hex()] = registry.genesis_alloc_entry(
        given, attested, genesis["config"]["jsc"]["jurisdictions"]
    )
    genesis_path.write_text(json.dumps(genesis))
    # Admitted besides the current validators: the follower (a validator-to-be) and every
    # validator (one voted out must stay connected to keep following, as with Besu's allowlist).
    private_keys = [k.private_key for k in keys]
    key_files = [tmp_path / "net" / f"validator-{k.index}" / "key" for k in keys]
    nodes = [NodeProcess(tmp_path / f"node-{k.index}") for k in keys]
    if follower:
        (tmp_path / "follower.key").write_text(FOLLOWER_KEY.hex())
        private_keys.append(FOLLOWER_KEY)
        key_files.append(tmp_path / "follower.key")
        nodes.append(NodeProcess(tmp_path / "follower"))
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
        ]
    network = Network(
        validators=nodes[:validators],
        addresses=[k.address for k in keys],
        follower=nodes[validators] if follower else None,
    )
    # The follower is started later (``_start_follower``): it joins a chain already under way.
    for node in network.validators:
        node.start(wait=False)
    try:
        for node in network.validators:
            node.wait_ready()
        wait_for_peers(network.validators, validators - 1)
    except BaseException:
        _stop_all(nodes)
        raise
    return network


def _start_follower(network: Network) -> NodeProcess:
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


def _stop_all(nodes: list[NodeProcess]) -> None:
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            node.stop()


@pytest.fixture
def networks() -> Iterator[list[Network]]:
    """Networks a test starts with ``_start_network``; stopped at teardown."""
    started: list[Network] = []
    yield started
    for network in started:
        _stop_all(network.nodes)


def _validators(node: NodeProcess, block: str = "latest") -> list[str]:
    answer = node.rpc("qbft_getValidatorsByBlockNumber", block)
    assert isinstance(answer, list)
    return [str(a) for a in answer]


def _sorted(addresses: list[str]) -> list[str]:
    """Ascending by address bytes, as extraData and qbft_getValidatorsByBlockNumber list them."""
    return sorted(addresses, key=lambda a: bytes.fromhex(a[2:]))


def _vote(voters: list[NodeProcess], subject: str, add: bool) -> None:
    for voter in voters:
        assert voter.rpc("qbft_proposeValidatorVote", subject, add) is True


def _wait_for_set(nodes: list[NodeProcess], expected: list[str]) -> int:
    """Wait until every node's head is validated by ``expected``; the first such block's number
    (the same on all nodes)."""
    wait_until(
        lambda: all(_validators(n) == expected for n in nodes),
        STEP_TIMEOUT_S,
        lambda: (
            f"validators {expected} on every node (now {[_validators(n) for n in nodes]}, "
            f"heads {heads(nodes)})"
        ),
    )
    changes = {_first_block_with(n, expected) for n in nodes}
    assert len(changes) == 1, f"the set changed at different heights: {changes}"
    return changes.pop()


def _first_block_with(node: NodeProcess, expected: list[str]) -> int:
    number = int(str(node.rpc("eth_blockNumber")), 16)
    while number > 0 and _validators(node, hex(number - 1)) == expected:
        number -= 1
    return number


def _block(node: NodeProcess, number: int) -> QbftBlock:
    return decode_block(bytes.fromhex(str(node.rpc("debug_getRawBlock", hex(number)))[2:]))


def _assert_change_on_chain(
    node: NodeProcess, changed_at: int, subject: str, add: bool, after: list[str]
) -> None:
    """The block before the change carries the deciding vote; every block since is sealed by a
    quorum of the new set and by no one outside it."""
    vote = _block(node, changed_at - 1).extra.vote
    assert vote is not None
    assert (vote.recipient, vote.add) == (bytes.fromhex(subject[2:]), add)
    members = {bytes.fromhex(a[2:]) for a in after}
    for number in range(changed_at, int(str(node.rpc("eth_blockNumber")), 16) + 1):
        block = _block(node, number)
        assert set(block.extra.validators) == members, number
        signers = set(recover_seal_signers(block))
        assert signers <= members, (number, signers - members)
        assert len(signers) >= quorum(len(members)), (number, len(signers))


def _voters_on_chain(node: NodeProcess, subject: str) -> set[str]:
    """Proposers of the blocks so far that carry a vote about ``subject``."""
    recipient = bytes.fromhex(subject[2:])
    voters = set()
    for number in range(1, int(str(node.rpc("eth_blockNumber")), 16) + 1):
        block = _block(node, number)
        if block.extra.vote is not None and block.extra.vote.recipient == recipient:
            voters.add("0x" + block.coinbase.hex())
    return voters


def _miner(node: NodeProcess, number: int) -> str:
    block = node.rpc("eth_getBlockByNumber", hex(number), False)
    assert isinstance(block, dict)
    return str(block["miner"]).lower()


def _assert_final_after_change(network: Network, live: list[NodeProcess], expected: list[str]) -> int:
    """Every live node on the new set, a transaction sent after the change final on all, one chain."""
    changed_at = _wait_for_set(live, expected)
    assert wait_mined_everywhere(live, network.send(live[-1])) >= changed_at
    assert_same_chain(live)
    sets = [_validators(n) for n in live]
    assert all(s == expected for s in sets), sets
    return changed_at


@pytest.mark.parametrize("validators", [1, 2, 4], ids=["1to2", "2to3", "4to5"])
def test_a_follower_voted_in_validates(networks: list[Network], tmp_path: Path, validators: int) -> None:
    network = _start_network(tmp_path, validators, follower=True)
    networks.append(network)
    wait_mined_everywhere(network.validators, network.send(network.validators[0]))
    # The validator-to-be joins late: admitted by the allowlist, it syncs, then follows live.
    follower = _start_follower(network)
    everyone = network.nodes
    before = _sorted(network.addresses)
    assert all(_validators(n) == before for n in everyone)
    wait_mined_everywhere(everyone, network.send(follower))

    # Strictly more than half of the validators vote (the others abstain).
    _vote(network.validators[: validators // 2 + 1], FOLLOWER_ADDRESS, True)
    after = _sorted([*network.addresses, FOLLOWER_ADDRESS])
    changed_at = _assert_final_after_change(network, everyone, after)

    # The new validator takes its turn as proposer and the chain goes on: with 2 validators the
    # quorum is both, so every block after the change is final only with the new one's seal.
    follower_address = FOLLOWER_ADDRESS.lower()
    wait_until(
        lambda: any(
            _miner(follower, n) == follower_address for n in range(changed_at, min(heads(everyone)) + 1)
        ),
        STEP_TIMEOUT_S,
        lambda: "a block proposed by the validator voted in",
    )
    wait_mined_everywhere(everyone, network.send(network.validators[0]))
    assert assert_same_chain(everyone) >= changed_at + 2
    for node in everyone:
        _assert_change_on_chain(node, changed_at, FOLLOWER_ADDRESS, True, after)


@pytest.mark.parametrize("crashed", [False, True], ids=["live", "crashed"])
def test_a_validator_voted_out_4to3(networks: list[Network], tmp_path: Path, crashed: bool) -> None:
    network = _start_network(tmp_path, 4, follower=False)
    networks.append(network)
    wait_mined_everywhere(network.nodes, network.send(network.validators[0]))
    removed, rest = network.validators[3], network.validators[:3]
    if crashed:
        removed.kill9()
        # f = 1: the other three keep finalizing before the vote.
        wait_mined_everywhere(rest, network.send(rest[0]))
    live = rest if crashed else network.nodes

    subject = network.addresses[3]
    if crashed:
        # The three others vote it out.
        _vote(rest, subject, False)
    else:
        # Validators 0 and 1 vote first; once both votes are on chain the live validator votes
        # itself out, so the block that removes it is its own and the next proposer follows a
        # proposer no longer in the set (Besu's ProposerSelector: the first validator above it).
        _vote(rest[:2], subject, False)
        wait_until(
            lambda: len(_voters_on_chain(rest[0], subject)) == 2,
            STEP_TIMEOUT_S,
            lambda: f"two votes on chain (now {_voters_on_chain(rest[0], subject)})",
        )
        _vote([removed], subject, False)
    after = _sorted(network.addresses[:3])
    changed_at = _assert_final_after_change(network, live, after)
    assert _validators(rest[0], hex(changed_at - 1)) == _sorted(network.addresses)
    if not crashed:
        assert _miner(rest[0], changed_at - 1) == subject.lower()
    if not crashed:
        # The node voted out follows as a non-validator: a transaction sent to it is final on all.
        wait_mined_everywhere(live, network.send(removed))
        assert_same_chain(live)
    for node in live:
        _assert_change_on_chain(node, changed_at, subject, False, after)
    if crashed:
        # The crashed validator comes back after it was voted out: it syncs the blocks it missed,
        # learns from their votes that it is no longer a validator, and follows.
        network.validators[3] = removed = restart(removed)
        head = max(heads(rest))
        wait_until(
            lambda: (
                int(str(removed.rpc("eth_blockNumber")), 16) >= head and removed.rpc("eth_syncing") is False
            ),
            STEP_TIMEOUT_S,
            lambda: f"restarted node synced to {head} (at {removed.rpc('eth_blockNumber')})",
        )
        wait_mined_everywhere(network.nodes, network.send(removed))
        assert_same_chain(network.nodes)
        assert all(_validators(n) == after for n in network.nodes)
        _assert_change_on_chain(removed, changed_at, subject, False, after)
