"""Validator-set changes by vote with real processes, libp2p on 127.0.0.1: a follower voted in
(1→2, 2→3) and a validator voted out (4→3) while live (its own vote the deciding one) or
after a kill -9 (by the three others), the chain final throughout. A fifth validator voted into
four, through the registry's attest/approve flow, is tests/integration/test_governance_devnet.py
(the same network size here took 3–4 minutes of the suite's two cores for no other path). Besu #8425 (adding a 2nd validator halts the chain) and GoQuorum #1728 (removing one
halts it) are the failures these guard against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jsc_node.consensus.block import recover_seal_signers
from jsc_node.consensus.validators import quorum
from tests.integration.nodeproc import NodeProcess
from tests.integration.qbftnet import (
    FOLLOWER_ADDRESS,
    STEP_TIMEOUT_S,
    Network,
    assert_same_chain,
    heads,
    miner,
    raw_block,
    restart,
    sorted_addresses,
    start_follower,
    start_network,
    stop_all,
    validators_at,
    vote,
    wait_for_set,
    wait_mined_everywhere,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def networks() -> Iterator[list[Network]]:
    """Networks a test starts with ``start_network``; stopped at teardown."""
    started: list[Network] = []
    yield started
    for network in started:
        stop_all(network.nodes)


def _assert_change_on_chain(
    node: NodeProcess, changed_at: int, subject: str, add: bool, after: list[str]
) -> None:
    """The block before the change carries the deciding vote; every block since is sealed by a
    quorum of the new set and by no one outside it."""
    deciding = raw_block(node, changed_at - 1).extra.vote
    assert deciding is not None
    assert (deciding.recipient, deciding.add) == (bytes.fromhex(subject[2:]), add)
    members = {bytes.fromhex(a[2:]) for a in after}
    for number in range(changed_at, int(str(node.rpc("eth_blockNumber")), 16) + 1):
        block = raw_block(node, number)
        assert set(block.extra.validators) == members, number
        signers = set(recover_seal_signers(block))
        assert signers <= members, (number, signers - members)
        assert len(signers) >= quorum(len(members)), (number, len(signers))


def _voters_on_chain(node: NodeProcess, subject: str) -> set[str]:
    """Proposers of the blocks so far that carry a vote about ``subject``."""
    recipient = bytes.fromhex(subject[2:])
    voters = set()
    for number in range(1, int(str(node.rpc("eth_blockNumber")), 16) + 1):
        block = raw_block(node, number)
        if block.extra.vote is not None and block.extra.vote.recipient == recipient:
            voters.add("0x" + block.coinbase.hex())
    return voters


def _assert_final_after_change(network: Network, live: list[NodeProcess], expected: list[str]) -> int:
    """Every live node on the new set, a transaction sent after the change final on all, one chain."""
    changed_at = wait_for_set(live, expected)
    assert wait_mined_everywhere(live, network.send(live[-1])) >= changed_at
    assert_same_chain(live)
    sets = [validators_at(n) for n in live]
    assert all(s == expected for s in sets), sets
    return changed_at


@pytest.mark.parametrize("validators", [1, 2], ids=["1to2", "2to3"])
def test_a_follower_voted_in_validates(networks: list[Network], tmp_path: Path, validators: int) -> None:
    network = start_network(tmp_path, validators, follower=True)
    networks.append(network)
    wait_mined_everywhere(network.validators, network.send(network.validators[0]))
    # The validator-to-be joins late: admitted by the allowlist, it syncs, then follows live.
    follower = start_follower(network)
    everyone = network.nodes
    before = sorted_addresses(network.addresses)
    assert all(validators_at(n) == before for n in everyone)
    wait_mined_everywhere(everyone, network.send(follower))

    # Strictly more than half of the validators vote (the others abstain).
    vote(network.validators[: validators // 2 + 1], FOLLOWER_ADDRESS, True)
    after = sorted_addresses([*network.addresses, FOLLOWER_ADDRESS])
    changed_at = _assert_final_after_change(network, everyone, after)

    # The new validator takes its turn as proposer and the chain goes on: with 2 validators the
    # quorum is both, so every block after the change is final only with the new one's seal.
    follower_address = FOLLOWER_ADDRESS.lower()
    wait_until(
        lambda: any(
            miner(follower, n) == follower_address for n in range(changed_at, min(heads(everyone)) + 1)
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
    network = start_network(tmp_path, 4, follower=False)
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
        vote(rest, subject, False)
    else:
        # Validators 0 and 1 vote first; once both votes are on chain the live validator votes
        # itself out, so the block that removes it is its own and the next proposer follows a
        # proposer no longer in the set (Besu's ProposerSelector: the first validator above it).
        vote(rest[:2], subject, False)
        wait_until(
            lambda: len(_voters_on_chain(rest[0], subject)) == 2,
            STEP_TIMEOUT_S,
            lambda: f"two votes on chain (now {_voters_on_chain(rest[0], subject)})",
        )
        vote([removed], subject, False)
    after = sorted_addresses(network.addresses[:3])
    changed_at = _assert_final_after_change(network, live, after)
    assert validators_at(rest[0], hex(changed_at - 1)) == sorted_addresses(network.addresses)
    if not crashed:
        assert miner(rest[0], changed_at - 1) == subject.lower()
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
        assert all(validators_at(n) == after for n in network.nodes)
        _assert_change_on_chain(removed, changed_at, subject, False, after)
