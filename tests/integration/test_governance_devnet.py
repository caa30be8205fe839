"""The validator registry on a live network: four validators and a fifth node, real `jsc-node run`
processes (LevelDB, libp2p on 127.0.0.1, 1 s blocks), the operator CLI run as real subprocesses.
The tests run in order on one network, each from where the last left it:

1. the fifth node attests (`jsc-node governance attest`, its own key), three validators approve,
   the validators vote it in, it seals blocks, and `jsc_getValidators` / `governance list` show its
   entity and region.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
    heads,
    raw_block,
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

VALIDATORS = 4
CANDIDATE = FOLLOWER_ADDRESS
"""The fifth node's address (its node key signs its attestation and, once voted in, its seals)."""
ENTITY = "株式会社テスト検証"
# 国税庁's own 法人番号: check digit 7 over 000012050002 (a published, real number).
CORPORATE_NUMBER = "7000012050002"
REGION = "JP-27"
GAS_FUNDS_WEI = 10**18
"""What each validator and the candidate get from the dev account for their registry calls' gas."""
CLI_TIMEOUT_S = 60.0
# The CLI estimates gas before it signs; five nodes on a loaded 2-core machine can take longer
# than the node's 5 s EVM limit for that, which geth does not apply to eth_estimateGas at all
# (internal/ethapi/api.go: only DoCall takes RPCEVMTimeout).
NODE_FLAGS = ("--rpc-evm-timeout", "60")
RECEIPT_TIMEOUT_S = "30"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Four validators and the fifth node (a follower admitted by the allowlist, synced), every one
    of them funded for gas."""
    tmp = tmp_path_factory.mktemp("govnet")
    network = start_network(
        tmp, VALIDATORS, follower=True, extra_args=NODE_FLAGS, follower_at_start=True, attest_follower=False
    )
    try:
        start_follower(network)
        hashes = [
            network.send(network.validators[0], a, GAS_FUNDS_WEI) for a in [*network.addresses, CANDIDATE]
        ]
        for tx_hash in hashes:
            wait_mined_everywhere(network.nodes, tx_hash)
        yield network
    finally:
        stop_all(network.nodes)


def governance(*args: str) -> subprocess.CompletedProcess[str]:
    """`jsc-node governance ...` as an operator runs it: a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "jsc_node.cli", "governance", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def governance_ok(*args: str) -> list[str]:
    """Its stdout lines; exit status 0 required."""
    result = governance(*args)
    assert result.returncode == 0, f"governance {' '.join(args)}: exit {result.returncode}\n{result.stderr}"
    return result.stdout.splitlines()


def key_file(network: Network, node: NodeProcess) -> str:
    return str(network.key_files[network.nodes.index(node)])


def jsc_validators(node: NodeProcess, block: str = "latest") -> dict[str, dict[str, object] | None]:
    answer = node.rpc("jsc_getValidators", block)
    assert isinstance(answer, list)
    return {str(v["address"]): v["attestation"] for v in answer}


def test_a_fifth_node_attested_approved_and_voted_in_seals(net: Network, tmp_path: Path) -> None:
    candidate = net.follower
    assert candidate is not None
    document = tmp_path / "certificate.pdf"
    document.write_bytes("履歴事項全部証明書 (commercial registry certificate)".encode())

    # The candidate submits its own attestation, signed with its node key, over its own node's RPC.
    out = governance_ok(
        "attest",
        "--rpc-url",
        candidate.url,
        "--key-file",
        key_file(net, candidate),
        "--entity",
        ENTITY,
        "--corporate-number",
        CORPORATE_NUMBER,
        "--jurisdiction",
        "JP",
        "--region",
        REGION,
        "--document",
        str(document),
        "--timeout",
        RECEIPT_TIMEOUT_S,
    )
    assert out[-1] == f"{CANDIDATE}: Pending, round 1; needs 3 approvals of current validators", out

    # Three of the four validators approve, each with its node key over its own node: the third
    # approval is the quorum (⌈2·4/3⌉ = 3).
    for i, validator in enumerate(net.validators[:3]):
        out = governance_ok(
            "approve",
            CANDIDATE,
            "--rpc-url",
            validator.url,
            "--key-file",
            key_file(net, validator),
            "--timeout",
            RECEIPT_TIMEOUT_S,
        )
        if i < 2:
            assert out[-1] == f"{CANDIDATE}: missing quorum: {i + 1} of 3 approvals; valid at 3", out
        else:
            assert out[-1].startswith(f"{CANDIDATE}: valid since block "), out
    approved_at = int(out[-1].rsplit(" ", 1)[1])
    attestation = candidate.rpc("jsc_getAttestation", CANDIDATE, "latest")
    assert isinstance(attestation, dict)
    assert (attestation["status"], attestation["approvedAt"]) == ("Valid", hex(approved_at))
    assert attestation["approvedBy"] == sorted_addresses(net.addresses[:3])

    # A majority of the validators (3 of 4) vote it in.
    vote(net.validators[:3], CANDIDATE, True)
    after = sorted_addresses([*net.addresses, CANDIDATE])
    changed_at = wait_for_set(net.nodes, after)
    assert changed_at > approved_at

    # It seals: its commit seal in a later block, and a block it proposed.
    member = bytes.fromhex(CANDIDATE[2:])

    def sealed_and_proposed() -> bool:
        blocks = [raw_block(candidate, n) for n in range(changed_at, min(heads(net.nodes)) + 1)]
        return any(member in recover_seal_signers(b) for b in blocks) and any(
            b.coinbase == member for b in blocks
        )

    wait_until(sealed_and_proposed, STEP_TIMEOUT_S, lambda: f"{CANDIDATE} sealing and proposing")
    for number in range(changed_at, min(heads(net.nodes)) + 1):
        signers = recover_seal_signers(raw_block(net.validators[0], number))
        assert len(signers) >= quorum(len(after)), (number, signers)

    # jsc_getValidators names its entity and region, on every node.
    for node in net.nodes:
        shown = jsc_validators(node)
        assert list(shown) == after
        entry = shown[CANDIDATE]
        assert entry is not None
        assert (entry["entityName"], entry["corporateNumber"], entry["jurisdiction"], entry["region"]) == (
            ENTITY,
            CORPORATE_NUMBER,
            "JP",
            REGION,
        )
    assert validators_at(net.validators[0]) == after

    # `jsc-node governance list`: the table names it, --json gives every field.
    table = governance_ok("list", "--rpc-url", net.validators[1].url)
    row = next(line for line in table if line.startswith(CANDIDATE))
    assert row.split()[1:7] == ["Valid", ENTITY, CORPORATE_NUMBER, "JP", REGION, str(approved_at)], row
    listed = json.loads("\n".join(governance_ok("list", "--rpc-url", net.validators[1].url, "--json")))
    entry = next(a for a in listed["attestations"] if a["address"] == CANDIDATE)
    assert (entry["status"], entry["entityName"], entry["region"], entry["approvedAt"]) == (
        "Valid",
        ENTITY,
        REGION,
        approved_at,
    )
