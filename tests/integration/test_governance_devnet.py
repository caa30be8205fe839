"""The validator registry on a live network: four validators and a fifth node, real `jsc-node run`
processes (LevelDB, libp2p on 127.0.0.1, 1 s blocks), the operator CLI run as real subprocesses.
The tests run in order on one network, each from where the last left it:

1. the fifth node attests (`jsc-node governance attest`, its own key), three validators approve,
   three vote it in (4→5), it seals and proposes, `jsc_getValidators` / `governance list` show its
   entity and region;
2. `qbft_proposeValidatorVote(unattested, true)` is refused with the words of what is missing;
3. a rogue validator (the same node, its vote refusal and the executor's vote rule switched off by
   a `sitecustomize.py` on its PYTHONPATH: no test hook in the product) proposes blocks carrying
   that vote anyway: every honest validator refuses them (its log says why), the chain keeps
   finalizing, the vote never lands and the address never becomes a validator;
4. the fifth node's and validator 3's attestations are revoked with `jsc-node governance revoke`:
   every honest node votes them out by itself (policy drop votes), 5→4→3 live, and the longest
   gap between blocks stays within a few block periods;
5. `jsc-node verify --rpc-url` replays the chain: 0 violations, attestations checked, and its
   validators-over-time table shows the join, both removals, entities and regions.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_hash.auto import keccak

from jsc_node.consensus.block import recover_seal_signers
from jsc_node.consensus.validators import quorum
from tests.integration.nodeproc import NodeProcess
from tests.integration.qbftnet import (
    FOLLOWER_ADDRESS,
    STEP_TIMEOUT_S,
    Network,
    heads,
    raw_block,
    rogue_sitecustomize,
    sorted_addresses,
    start_network,
    stop_all,
    validators_at,
    vote,
    wait_for_set,
    wait_mined_everywhere,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

VALIDATORS = 4
CANDIDATE = FOLLOWER_ADDRESS
"""The fifth node's address (its node key signs its attestation and, once voted in, its seals)."""
UNATTESTED = str(Account.from_key(keccak(b"jsc-node test: never attested")).address)
ENTITY = "株式会社テスト検証"
# 国税庁's own 法人番号: check digit 7 over 000012050002 (a published, real number).
CORPORATE_NUMBER = "7000012050002"
REGION = "JP-27"
GAS_FUNDS_WEI = 10**18
"""What each validator and the candidate get from the dev account for their registry calls' gas."""
CLI_TIMEOUT_S = 90.0
RECEIPT_TIMEOUT_S = "60"
# The CLI estimates gas before it signs; five nodes on a loaded 2-core machine can take longer
# than the node's 5 s EVM limit for that, which geth does not apply to eth_estimateGas at all
# (internal/ethapi/api.go: only DoCall takes RPCEVMTimeout).
NODE_FLAGS = ("--rpc-evm-timeout", "60")
ROGUE = 3
"""Index of the validator started with the rogue switch (off until step 3)."""
MAX_GAP_S = 12
"""Longest time allowed between two consecutive blocks while validators are voted out (from the
first revocation to three blocks after the last removal): the block period (1 s), two round
changes (2 s, then 4 s: QBFT doubles the round timeout) and slack for a machine running other
suites, where a halt (GoQuorum #1728, Besu #8425) never ends. Measured on this 2-core machine:
1-2 s at load average 2-8, 5 s at 12-19, 10 s at 25 (during the CLI's vote rounds, before any
removal)."""

ROGUE_SITECUSTOMIZE = '''
"""Test-only: while the file $JSC_TEST_ROGUE_FLAG exists, this node neither refuses a vote for an
unattested address (state/backend.py's attestation_problem answers None) nor applies issue 12's
vote rule to blocks it builds or validates (Executor.validate_vote does nothing). Both of the
node's processes import this at start (spawned children inherit PYTHONPATH)."""
import os

FLAG = os.environ["JSC_TEST_ROGUE_FLAG"]


def rogue():
    return os.path.exists(FLAG)


def patch_backend(module):
    original = module.attestation_problem

    def attestation_problem(*args, **kwargs):
        return None if rogue() else original(*args, **kwargs)

    module.attestation_problem = attestation_problem


def patch_executor(module):
    original = module.Executor.validate_vote

    def validate_vote(self, header, parent):
        if not rogue():
            original(self, header, parent)

    module.Executor.validate_vote = validate_vote


PATCHES = {"jsc_node.state.backend": patch_backend, "jsc_node.state.evm.executor": patch_executor}
'''


class Devnet:
    """The module's network and what the steps learn about it."""

    def __init__(self, network: Network, rogue_flag: Path) -> None:
        self.network = network
        self.rogue_flag = rogue_flag
        self.joined_at: int | None = None
        """First block the fifth node validated."""
        self.removed_at: dict[str, int] = {}
        """Address -> first block without it."""

    @property
    def validators(self) -> list[NodeProcess]:
        return self.network.validators

    @property
    def candidate(self) -> NodeProcess:
        assert self.network.follower is not None
        return self.network.follower

    @property
    def nodes(self) -> list[NodeProcess]:
        return self.network.nodes

    def key_file(self, node: NodeProcess) -> str:
        return str(self.network.key_files[self.nodes.index(node)])

    def address(self, node: NodeProcess) -> str:
        return self.network.addresses[self.validators.index(node)] if node in self.validators else CANDIDATE


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """Four validators and the fifth node (a non-validator admitted by the allowlist), started
    together; every one funded for gas. Validator ROGUE carries the rogue switch, off."""
    tmp = tmp_path_factory.mktemp("govnet")
    rogue_dir = tmp / "rogue-site"
    rogue_dir.mkdir()
    (rogue_dir / "sitecustomize.py").write_text(rogue_sitecustomize(ROGUE_SITECUSTOMIZE))
    rogue_env = {
        "PYTHONPATH": os.pathsep.join(p for p in [str(rogue_dir), os.environ.get("PYTHONPATH", "")] if p),
        "JSC_TEST_ROGUE_FLAG": str(tmp / "rogue-on"),
    }
    network = start_network(
        tmp,
        VALIDATORS,
        follower=True,
        env={ROGUE: rogue_env},
        extra_args=NODE_FLAGS,
        follower_at_start=True,
        attest_follower=False,
    )
    try:
        recipients = [*network.addresses, CANDIDATE]
        hashes = [network.send(network.validators[0], a, GAS_FUNDS_WEI) for a in recipients]
        wait_mined_everywhere(network.nodes, hashes[-1])
        for tx_hash in hashes:
            receipt = network.validators[0].rpc("eth_getTransactionReceipt", tx_hash)
            assert isinstance(receipt, dict)
            assert receipt["status"] == "0x1", receipt
        yield Devnet(network, tmp / "rogue-on")
    finally:
        stop_all(network.nodes)


# --- helpers -----------------------------------------------------------------------------------


def governance(*args: str) -> subprocess.Popen[str]:
    """`jsc-node governance ...` as an operator runs it: a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "jsc_node.cli", "governance", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> list[str]:
    """Its stdout lines; exit status 0 required."""
    out, err = process.communicate(timeout=CLI_TIMEOUT_S)
    assert process.returncode == 0, f"{' '.join(map(str, process.args))}: exit {process.returncode}\n{err}"
    return out.splitlines()


def governance_ok(*args: str) -> list[str]:
    return finish(governance(*args))


def cast_votes(net: Devnet, kind: str, rounds: list[list[tuple[NodeProcess, str]]]) -> dict[str, list[str]]:
    """``governance approve|revoke SUBJECT`` from each (validator node, subject) of each round, a
    round's calls at once, one round after another; each subject's output lines (the last line of
    each call), in order.

    A round holds at most one vote per subject: the CLI signs the gas eth_estimateGas gives at the
    head, exactly, and a vote on a subject costs a little more once another vote on it is in
    (the registry's _count writes each approver it finds), so two votes on one subject mined in
    the same block leave the second out of gas."""
    assert all(len({subject for _, subject in ballots}) == len(ballots) for ballots in rounds)
    outcomes: dict[str, list[str]] = {}
    for ballots in rounds:
        assert len({node.url for node, _ in ballots}) == len(ballots), "one call per signer (its nonce)"
        running = [
            (
                subject,
                governance(
                    kind,
                    subject,
                    "--rpc-url",
                    node.url,
                    "--key-file",
                    net.key_file(node),
                    "--timeout",
                    RECEIPT_TIMEOUT_S,
                ),
            )
            for node, subject in ballots
        ]
        for subject, process in running:
            outcomes.setdefault(subject, []).append(finish(process)[-1])
    return outcomes


def rpc_error(node: NodeProcess, method: str, *params: object) -> dict[str, Any]:
    body = httpx.post(
        node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30
    ).json()
    assert "error" in body, f"{method} answered {body}"
    error: dict[str, Any] = body["error"]
    return error


def jsc_validators(node: NodeProcess, block: str = "latest") -> dict[str, dict[str, Any] | None]:
    answer = node.rpc("jsc_getValidators", block)
    assert isinstance(answer, list)
    return {str(v["address"]): v["attestation"] for v in answer}


def head(node: NodeProcess) -> int:
    return heads([node])[0]


def votes_in(node: NodeProcess, first: int, last: int) -> list[tuple[int, str, str, bool]]:
    """(block, proposer, subject, add) of every header vote in ``first..last``."""
    found = []
    for number in range(first, last + 1):
        block = raw_block(node, number)
        if block.extra.vote is not None:
            subject = "0x" + block.extra.vote.recipient.hex()
            found.append((number, "0x" + block.coinbase.hex(), subject, block.extra.vote.add))
    return found


# --- the steps ---------------------------------------------------------------------------------


def test_1_a_fifth_node_attested_approved_and_voted_in_seals(net: Devnet, tmp_path: Path) -> None:
    candidate = net.candidate
    document = tmp_path / "certificate.pdf"
    document.write_bytes("履歴事項全部証明書 (commercial registry certificate)".encode())

    # The candidate submits its own attestation, signed with its node key, over its own node's RPC.
    out = governance_ok(
        "attest",
        "--rpc-url",
        candidate.url,
        "--key-file",
        net.key_file(candidate),
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

    # Three of the four validators approve, each with its node key over its own node; the third
    # is the quorum (⌈2·4/3⌉ = 3).
    outcome = cast_votes(net, "approve", [[(v, CANDIDATE)] for v in net.validators[:3]])[CANDIDATE]
    assert outcome[:2] == [
        f"{CANDIDATE}: missing quorum: 1 of 3 approvals; valid at 3",
        f"{CANDIDATE}: missing quorum: 2 of 3 approvals; valid at 3",
    ], outcome
    assert outcome[2].startswith(f"{CANDIDATE}: valid since block "), outcome
    approved_at = int(outcome[2].rsplit(" ", 1)[1])
    attestation = candidate.rpc("jsc_getAttestation", CANDIDATE, "latest")
    assert isinstance(attestation, dict)
    assert (attestation["status"], attestation["approvedAt"]) == ("Valid", hex(approved_at))
    assert attestation["approvedBy"] == sorted_addresses(net.network.addresses[:3])

    # A majority of the validators (3 of 4) vote it in.
    vote(net.validators[:3], CANDIDATE, True)
    after = sorted_addresses([*net.network.addresses, CANDIDATE])
    changed_at = wait_for_set(net.nodes, after)
    assert changed_at > approved_at
    net.joined_at = changed_at

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
    assert table[-1] == "validators: 5, quorum 4; attestations: 5", table


def test_2_a_vote_for_an_unattested_address_is_refused(net: Devnet) -> None:
    validator = net.validators[0]
    error = rpc_error(validator, "qbft_proposeValidatorVote", UNATTESTED, True)
    who = UNATTESTED.lower()
    assert error == {
        "code": -32000,
        "message": f"cannot vote to add {who}: {who} has no attestation in the validator registry",
    }
    # Nothing held: the votes it holds are the ones of step 1 (Besu keeps a vote once it won).
    assert validator.rpc("qbft_getPendingVotes") == {CANDIDATE: True}


def test_3_a_block_carrying_such_a_vote_is_rejected_and_the_chain_goes_on(net: Devnet) -> None:
    rogue = net.validators[ROGUE]
    honest = [n for n in net.nodes if n is not rogue]
    who = UNATTESTED.lower()
    start = min(heads(net.nodes))
    # An honest validator logs a refused proposal at WARNING ("refused a proposal: execution
    # refused the block: ..."), which the nodes' default INFO level shows.

    net.rogue_flag.touch()
    try:
        # The rogue node takes the vote the others refuse, and proposes blocks carrying it.
        assert rogue.rpc("qbft_proposeValidatorVote", UNATTESTED, True) is True
        assert rogue.rpc("qbft_getPendingVotes") == {UNATTESTED: True}
        refusal = re.compile(
            r"execution refused the block: block (\d+) votes to add "
            + re.escape(f"{who}: {who} has no attestation in the validator registry")
        )

        def refused_everywhere() -> bool:
            return all(refusal.search(n.logs()) for n in honest)

        wait_until(
            refused_everywhere, STEP_TIMEOUT_S, lambda: "every honest validator refusing a rogue proposal"
        )
        refused_at = max(int(m.group(1)) for n in honest for m in refusal.finditer(n.logs()))
        # Heights keep rising on the honest nodes past the refused proposals.
        wait_until(
            lambda: min(heads(honest)) >= refused_at + 3,
            STEP_TIMEOUT_S,
            lambda: f"honest nodes past block {refused_at + 3} (at {heads(honest)})",
        )
    finally:
        for node in honest:
            node.rpc("admin_changeLogLevel", "INFO", ["jsc_node.consensus"])
        # Restored: the vote withdrawn, the switch off; the node is honest again.
        assert rogue.rpc("qbft_discardValidatorVote", UNATTESTED) is True
        net.rogue_flag.unlink()

    # The vote never landed in a block and the address never validated one, on any node.
    end = min(heads(net.nodes))
    assert not [v for v in votes_in(net.validators[0], start, end) if v[2] == who]
    for node in net.nodes:
        assert UNATTESTED not in validators_at(node)
        assert UNATTESTED not in jsc_validators(node)
    # The restored node proposes again, and its block is final.
    rogue_address = net.address(rogue).lower()
    wait_until(
        lambda: any(
            raw_block(net.validators[0], n).coinbase.hex() == rogue_address[2:]
            for n in range(end + 1, head(net.validators[0]) + 1)
        ),
        STEP_TIMEOUT_S,
        lambda: "a block proposed by the restored node",
    )


def test_4_revoked_validators_are_voted_out_live(net: Devnet) -> None:
    v0, v1, v2, v3 = net.validators
    leaving = net.address(v3)
    start = min(heads(net.nodes))
    # The fifth node's attestation and validator 3's, each revoked by a quorum of the five (4),
    # one vote on each at a time (see cast_votes).
    against_candidate = [v0, v1, v2, v3]
    against_leaving = [net.candidate, v0, v1, v2]
    outcome = cast_votes(
        net,
        "revoke",
        [[(a, CANDIDATE), (b, leaving)] for a, b in zip(against_candidate, against_leaving, strict=True)],
    )
    for subject in (CANDIDATE, leaving):
        assert outcome[subject][:3] == [
            f"{subject}: missing quorum: {i} of 4 revocation votes; revoked at 4" for i in (1, 2, 3)
        ], outcome
        assert outcome[subject][3].startswith(f"{subject}: revoked at block "), outcome
    revoked_at = {subject: int(outcome[subject][3].rsplit(" ", 1)[1]) for subject in (CANDIDATE, leaving)}

    # No operator votes: every node holds the policy's drop votes; 5→4→3 while blocks go on.
    remaining = sorted_addresses(net.network.addresses[:3])
    changed_at = wait_for_set(net.nodes, remaining, timeout_s=2 * STEP_TIMEOUT_S)
    wait_until(
        lambda: min(heads([v0, v1, v2])) >= changed_at + 3,
        STEP_TIMEOUT_S,
        lambda: f"three blocks after the change at {changed_at} (at {heads([v0, v1, v2])})",
    )
    end = min(heads(net.nodes))
    blocks = [raw_block(v0, n) for n in range(start, end + 1)]
    # Each removal: the first block whose validator list lacks it.
    for address in (CANDIDATE, leaving):
        member = bytes.fromhex(address[2:])
        net.removed_at[address] = next(b.number for b in blocks if member not in b.extra.validators)
    assert max(net.removed_at.values()) == changed_at
    assert all(net.removed_at[a] > revoked_at[a] for a in revoked_at), (net.removed_at, revoked_at)
    # They were voted out by drop votes no operator proposed (the policy's), and no block voted
    # to keep or add either of them.
    subjects = {bytes.fromhex(a[2:]) for a in (CANDIDATE, leaving)}
    about = [b for b in blocks if b.extra.vote is not None and b.extra.vote.recipient in subjects]
    assert all(b.extra.vote is not None and not b.extra.vote.add for b in about)
    assert {b.extra.vote.recipient for b in about if b.extra.vote is not None} == subjects
    for node in (v0, v1, v2):
        logs = node.logs()
        for address in (CANDIDATE, leaving):
            assert f"registry policy: voting validator {address.lower()} out at block " in logs, address
            assert f"registry policy: withdrew the vote to drop {address.lower()} at block " in logs, address
    # Without a halt: the longest time between two blocks, while the nodes voted them out (from
    # the first revocation on) and over the whole step.
    gaps = {
        later.number: later.timestamp - earlier.timestamp for earlier, later in itertools.pairwise(blocks)
    }
    first_revoked = min(revoked_at.values())
    removal = max(gap for number, gap in gaps.items() if number > first_revoked)
    print(
        f"revocation: blocks {start}..{end}, revoked at {revoked_at}, removed at {net.removed_at}; longest "
        f"gap {removal} s from the first revocation on, {max(gaps.values())} s over the step; blocks after a "
        f"gap over 1 s: { {n: g for n, g in gaps.items() if g > 1} }"
    )
    assert removal <= MAX_GAP_S, (removal, gaps)
    # The nodes voted out follow as non-validators; a transfer sent to one is final on all.
    wait_mined_everywhere(net.nodes, net.network.send(v3))
    for node in net.nodes:
        assert validators_at(node) == remaining
        assert [a for a, att in jsc_validators(node).items() if att is not None] == remaining


def test_5_verify_replays_the_chain_with_its_validators_over_time(net: Devnet) -> None:
    v0 = net.validators[0]
    assert net.joined_at is not None
    assert len(net.removed_at) == 2
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jsc_node.cli",
            "verify",
            "--rpc-url",
            v0.url,
            "--genesis-file",
            str(net.network.genesis_path),
        ],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    elapsed = time.monotonic() - started
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    verified = re.fullmatch(r"verify: (\d+) blocks verified, 0 violations", lines[-1])
    assert verified is not None, lines[-1]
    last = int(verified.group(1))
    print(f"verify: {last} blocks in {elapsed:.1f} s")
    assert last > max(net.removed_at.values())
    assert any(line.startswith("attestations    checked") for line in lines), lines
    assert "first violation none" in lines
    # validators over time: one row per stretch of heights a validator served.
    rows = [
        re.fullmatch(r"  (0x[0-9a-f]{40})  (\d+)\.\.(\d+)\s+(.+?)\s+(\S+)\s+(\S+)", line) for line in lines
    ]
    served = {(m[1], int(m[2]), int(m[3])): (m[4], m[5], m[6]) for m in rows if m is not None}
    genesis = [a.lower() for a in net.network.addresses]
    expected = {(a, 1, last) for a in genesis[:3]}
    expected.add((genesis[3], 1, net.removed_at[net.address(net.validators[3])] - 1))
    expected.add((CANDIDATE.lower(), net.joined_at, net.removed_at[CANDIDATE] - 1))
    assert set(served) == expected, served
    assert served[(CANDIDATE.lower(), net.joined_at, net.removed_at[CANDIDATE] - 1)] == (ENTITY, "JP", REGION)
    for address in genesis:
        entity, jurisdiction, region = served[next(k for k in served if k[0] == address)]
        assert re.fullmatch(r"DEVELOPMENT VALIDATOR \d \(not attested\)", entity), entity
        assert (jurisdiction, region) == ("JP", "JP-13")
