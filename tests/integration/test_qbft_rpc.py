"""Besu's qbft_* API on a real one-validator node."""

from __future__ import annotations

from tests.integration.nodeproc import NodeProcess

DEV_VALIDATOR = "0x65457670Dca8b0E041bF10faF3a6af32aFcEC649"
CANDIDATE = "0x1000000000000000000000000000000000000001"


def test_validators_by_number_and_hash(node: NodeProcess) -> None:
    node.wait_for_block(1)
    assert node.rpc("qbft_getValidatorsByBlockNumber", "latest") == [DEV_VALIDATOR]
    assert node.rpc("qbft_getValidatorsByBlockNumber", "0x0") == [DEV_VALIDATOR]
    block = node.rpc("eth_getBlockByNumber", "0x1", False)
    assert isinstance(block, dict)
    assert node.rpc("qbft_getValidatorsByBlockHash", block["hash"]) == [DEV_VALIDATOR]
    assert node.rpc("qbft_getValidatorsByBlockHash", "0x" + "00" * 32) is None


def test_votes_are_recorded_and_discarded(node: NodeProcess) -> None:
    assert node.rpc("qbft_getPendingVotes") == {}
    # Voting to drop an address that is not a validator changes nothing on chain, so the
    # one-validator chain keeps going while the vote is pending.
    assert node.rpc("qbft_proposeValidatorVote", CANDIDATE, False) is True
    assert node.rpc("qbft_getPendingVotes") == {CANDIDATE: False}
    assert node.rpc("qbft_discardValidatorVote", CANDIDATE) is True
    assert node.rpc("qbft_discardValidatorVote", CANDIDATE) is False
    assert node.rpc("qbft_getPendingVotes") == {}


def test_signer_metrics(node: NodeProcess) -> None:
    node.wait_for_block(1)
    # The dev chain makes a block every second: name the range, or the head can move between calls.
    head = int(str(node.rpc("eth_blockNumber")), 16)
    metrics = node.rpc("qbft_getSignerMetrics", hex(max(1, head - 99)), hex(head))
    assert isinstance(metrics, list)
    assert [m["address"] for m in metrics] == [DEV_VALIDATOR]
    assert int(metrics[0]["proposedBlockCount"], 16) == min(head, 100)
    assert int(metrics[0]["lastProposedBlockNumber"], 16) == head
