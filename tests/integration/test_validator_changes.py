"""Validator-set changes by vote with real processes, libp2p on 127.0.0.1, on one chain: from one
validator, nodes voted in one by one (1→2, 2→3, 3→4), then a validator voted out 4→3 while live
(its own vote the deciding one), voted in again, and voted out 4→3 after a kill -9 (by the three
others); the chain final throughout. The tests run in file order on one network (four nodes
started at once: starting a network per case took most of this file's minutes). A fifth
validator voted into four, through the registry's attest/approve flow, is
tests/integration/test_governance_devnet.py. Besu #8425 (adding a 2nd validator halts the chain)
and GoQuorum #1728 (removing one halts it) are the failures these guard against."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jsc_node.consensus.block import recover_seal_signers
from jsc_node.consensus.validators import quorum
from tests.integration.nodeproc import NodeProcess
from tests.integration.qbftnet import (
    STEP_TIMEOUT_S,
    Network,
    assert_same_chain,
    heads,
    miner,
    raw_blocks,
    restart,
    sorted_addresses,
    start_network,
    stop_all,
    validators_at,
    vote,
    wait_for_set,
    wait_mined_everywhere,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Four nodes with validator keys, started together; only validator 0 seals at genesis, the
    other three (attested, admitted by the allowlist) follow until voted in."""
    started = start_network(tmp_path_factory.mktemp("changes"), 4, follower=False, genesis_validators=1)
    try:
        wait_mined_everywhere(started.nodes, started.send(started.validators[0]))
        yield started
    finally:
        stop_all(started.nodes)


def _assert_change_on_chain(
    node: NodeProcess, changed_at: int, subject: str, add: bool, after: list[str]
) -> None:
    """The block before the change carries the deciding vote; every block since is sealed by a
    quorum of the new set and by no one outside it."""
    blocks = raw_blocks(node, changed_at - 1, int(str(node.rpc("eth_blockNumber")), 16))
    deciding = blocks[0].extra.vote
    assert deciding is not None
    assert (deciding.recipient, deciding.add) == (bytes.fromhex(subject[2:]), add)
    members = {bytes.fromhex(a[2:]) for a in after}
    for number, block in enumerate(blocks[1:], start=changed_at):
        assert set(block.extra.validators) == members, number
        signers = set(recover_seal_signers(block))
        assert signers <= members, (number, signers - members)
        assert len(signers) >= quorum(len(members)), (number, len(signers))


def _voters_on_chain(node: NodeProcess, subject: str, add: bool, since: int) -> set[str]:
    """Proposers of the blocks after ``since`` that carry a vote to add (or drop) ``subject``."""
    recipient = bytes.fromhex(subject[2:])
    last = int(str(node.rpc("eth_blockNumber")), 16)
    return {
        "0x" + block.coinbase.hex()
        for block in raw_blocks(node, since + 1, last)
        if block.extra.vote is not None
        and (block.extra.vote.recipient, block.extra.vote.add) == (recipient, add)
    }


def _assert_final_after_change(network: Network, live: list[NodeProcess], expected: list[str]) -> int:
    """Every live node on the new set, a transaction sent after the change final on all, one chain."""
    changed_at = wait_for_set(live, expected)
    assert wait_mined_everywhere(live, network.send(live[-1])) >= changed_at
    assert_same_chain(live)
    sets = [validators_at(n) for n in live]
    assert all(s == expected for s in sets), sets
    return changed_at


def _vote_in(network: Network, index: int) -> None:
    """Validators 0..index-1 seal; validator ``index`` (a follower until now) is voted in by
    strictly more than half of them (the others abstain), then proposes and seals."""
    everyone = network.nodes
    joining = network.validators[index]
    before = sorted_addresses(network.addresses[:index])
    assert all(validators_at(n) == before for n in everyone)
    # The validator-to-be follows: a transaction sent to it is final on every node.
    wait_mined_everywhere(everyone, network.send(joining))

    subject = network.addresses[index]
    vote(network.validators[: index // 2 + 1], subject, True)
    after = sorted_addresses(network.addresses[: index + 1])
    changed_at = _assert_final_after_change(network, everyone, after)

    # The new validator takes its turn as proposer and the chain goes on: with 2 validators the
    # quorum is both, so every block after the change is final only with the new one's seal.
    wait_until(
        lambda: any(
            miner(joining, n) == subject.lower() for n in range(changed_at, min(heads(everyone)) + 1)
        ),
        STEP_TIMEOUT_S,
        lambda: "a block proposed by the validator voted in",
    )
    wait_mined_everywhere(everyone, network.send(network.validators[0]))
    assert assert_same_chain(everyone) >= changed_at + 2
    for node in everyone:
        _assert_change_on_chain(node, changed_at, subject, True, after)


def test_1_a_follower_voted_in_validates_1to2(network: Network) -> None:
    _vote_in(network, 1)


def test_2_a_follower_voted_in_validates_2to3(network: Network) -> None:
    _vote_in(network, 2)


def test_3_a_follower_voted_in_validates_3to4(network: Network) -> None:
    _vote_in(network, 3)


def test_4_a_validator_voted_out_4to3_live(network: Network) -> None:
    """Validators 0 and 1 vote validator 3 out; once both votes are on chain it votes itself out,
    so the block that removes it is its own and the next proposer follows a proposer no longer in
    the set (Besu's ProposerSelector: the first validator above it). It follows as a non-validator."""
    removed, rest = network.validators[3], network.validators[:3]
    subject = network.addresses[3]
    since = heads([rest[0]])[0]
    vote(rest[:2], subject, False)
    wait_until(
        lambda: len(_voters_on_chain(rest[0], subject, False, since)) == 2,
        STEP_TIMEOUT_S,
        lambda: f"two votes on chain (now {_voters_on_chain(rest[0], subject, False, since)})",
    )
    vote([removed], subject, False)
    after = sorted_addresses(network.addresses[:3])
    changed_at = _assert_final_after_change(network, network.nodes, after)
    assert validators_at(rest[0], hex(changed_at - 1)) == sorted_addresses(network.addresses)
    assert miner(rest[0], changed_at - 1) == subject.lower()
    # The node voted out follows as a non-validator: a transaction sent to it is final on all.
    wait_mined_everywhere(network.nodes, network.send(removed))
    assert_same_chain(network.nodes)
    for node in network.nodes:
        _assert_change_on_chain(node, changed_at, subject, False, after)


def test_5_a_validator_voted_out_4to3_crashed(network: Network) -> None:
    """Validator 3, voted in again, is killed; the three others vote it out (f = 1: they keep
    finalizing); it comes back, syncs the blocks it missed, learns from their votes that it is no
    longer a validator, and follows."""
    _vote_in(network, 3)
    removed, rest = network.validators[3], network.validators[:3]
    subject = network.addresses[3]
    removed.kill9()
    wait_mined_everywhere(rest, network.send(rest[0]))
    vote(rest, subject, False)
    after = sorted_addresses(network.addresses[:3])
    changed_at = _assert_final_after_change(network, rest, after)
    assert validators_at(rest[0], hex(changed_at - 1)) == sorted_addresses(network.addresses)
    for node in rest:
        _assert_change_on_chain(node, changed_at, subject, False, after)

    network.validators[3] = removed = restart(removed)
    head = max(heads(rest))
    wait_until(
        lambda: int(str(removed.rpc("eth_blockNumber")), 16) >= head and removed.rpc("eth_syncing") is False,
        STEP_TIMEOUT_S,
        lambda: f"restarted node synced to {head} (at {removed.rpc('eth_blockNumber')})",
    )
    wait_mined_everywhere(network.nodes, network.send(removed))
    assert_same_chain(network.nodes)
    assert all(validators_at(n) == after for n in network.nodes)
    _assert_change_on_chain(removed, changed_at, subject, False, after)
