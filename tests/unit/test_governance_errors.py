"""jsc_node/governance/errors.py: every custom error of contracts/ValidatorRegistry.sol in words, read
from revert data the contract itself returns (py-evm on a real LevelDB, 4 validators, quorum 3);
and the CLI's "missing quorum" line (jsc_node/govtool.py VoteOutcome)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from jsc_node.errors import ExecutionReverted
from jsc_node.governance import registry
from jsc_node.governance.errors import SELECTORS, decode_registry_error
from jsc_node.governance.registry import Status
from jsc_node.govtool import AttestationView, Sent, VoteOutcome
from tests.unit.registry_harness import RegistryChain, error_data, open_registry_chain

SUBMIT = "submit(string,string,string,string,bytes32)"
DOC = keccak(b"doc")
CANDIDATE = 5


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryChain]:
    c = open_registry_chain(
        tmp_path_factory.mktemp("registry"), attestations=[registry.dev_attestation(i) for i in range(4)]
    )
    yield c
    c.close()


def _reverted(chain: RegistryChain, signature: str, *args: Any, sender: bytes | None = None) -> str | None:
    with pytest.raises(ExecutionReverted) as info:
        chain.call(signature, *args, sender=sender)
    return decode_registry_error(info.value.data)


def test_every_error_of_the_abi_has_words() -> None:
    abi_errors = {
        f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
        for e in registry.artifact()["abi"]
        if e["type"] == "error"
    }
    assert set(SELECTORS.values()) == abi_errors


def test_contract_reverts_in_words(chain: RegistryChain) -> None:
    candidate = chain.address(CANDIDATE)
    who = to_checksum_address(candidate)
    assert (
        _reverted(chain, "checkCorporateNumber(string)", "4011001098994")
        == "corporate number check digit: got 4, expected 3"
    )
    assert (
        _reverted(chain, "checkCorporateNumber(string)", "401100109899")
        == "corporate number length: got 12, expected 13 digits"
    )
    assert (
        _reverted(chain, "checkCorporateNumber(string)", "40110010989A3")
        == "corporate number: a non-digit at position 12"
    )
    assert (
        _reverted(chain, SUBMIT, "X", "4011001098993", "US", "US-CA", DOC, sender=candidate)
        == "jurisdiction 'US' is not allowed by this chain's policy"
    )
    assert (
        _reverted(chain, SUBMIT, "X", "4011001098993", "JP", "KR-11", DOC, sender=candidate)
        == "region 'KR-11' is not a region of jurisdiction 'JP'"
    )
    assert (
        _reverted(chain, SUBMIT, "", "4011001098993", "JP", "JP-13", DOC, sender=candidate)
        == "entity name length: got 0 bytes, expected 1 to 256"
    )
    assert (
        _reverted(chain, "approve(address)", candidate, sender=candidate) == f"not a current validator: {who}"
    )
    validator = chain.validators[0]
    assert (
        _reverted(chain, "approve(address)", candidate, sender=validator)
        == f"attestation of {who} is not pending (status: None)"
    )
    assert (
        _reverted(chain, "revoke(address)", candidate, sender=validator)
        == f"attestation of {who} is not valid (status: None)"
    )
    assert (
        _reverted(chain, "approve(address)", validator, sender=validator)
        == f"a validator cannot approve its own attestation ({to_checksum_address(validator)})"
    )


def test_already_voted_and_active() -> None:
    a, b = bytes(range(20)), bytes(range(1, 21))
    assert decode_registry_error(error_data("AlreadyVoted(address,address)", a, b)) == (
        f"already approved: {to_checksum_address(b)} has already voted on {to_checksum_address(a)} in this round"
    )
    assert decode_registry_error(error_data("AttestationActive(address)", a)) == (
        f"{to_checksum_address(a)} already holds a valid attestation (it must be revoked before a new submission)"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("08c379a0") + bytes(64),  # Error(string): not the registry's
        error_data("CorporateNumberCheckDigit(uint256,uint256)", 4, 3)[:40],  # cut short
        error_data("JurisdictionMalformed(string)", "JPN")[:-40],  # string past the end
    ],
)
def test_other_or_malformed_data_has_no_words(data: bytes) -> None:
    assert decode_registry_error(data) is None


def _outcome(status: Status, votes: int, quorum: int) -> VoteOutcome:
    view = AttestationView(
        address="0x" + "11" * 20,
        status=status,
        round=1,
        entity_name="X",
        corporate_number="4011001098993",
        jurisdiction="JP",
        region="JP-13",
        document_hash="0x" + DOC.hex(),
        submitted_at=3,
        approved_at=9 if status is not Status.PENDING else 0,
        approved_by=[],
        revoked_at=12 if status is Status.REVOKED else 0,
        revoked_by=[],
    )
    return VoteOutcome(Sent("0x", 9, 0), view.address, votes, quorum, view)


def test_missing_quorum_is_spelled_out() -> None:
    subject = "0x" + "11" * 20
    assert (
        _outcome(Status.PENDING, 2, 3).summary(revoke=False)
        == f"{subject}: missing quorum: 2 of 3 approvals; valid at 3"
    )
    assert _outcome(Status.VALID, 3, 3).summary(revoke=False) == f"{subject}: valid since block 9"
    assert (
        _outcome(Status.VALID, 1, 3).summary(revoke=True)
        == f"{subject}: missing quorum: 1 of 3 revocation votes; revoked at 3"
    )
    assert _outcome(Status.REVOKED, 3, 3).summary(revoke=True) == f"{subject}: revoked at block 12"


def test_signing_key_from_key_file_or_keystore(tmp_path: Path) -> None:
    from jsc_node.accounts import save_key
    from jsc_node.devtools import dev_accounts
    from jsc_node.govtool import GovernanceError, load_key

    first, second = dev_accounts()[:2]
    store = tmp_path / "keystore"
    entry = save_key(store, first.private_key, "pw", light_kdf=True)
    save_key(store, second.private_key, "pw", light_kdf=True)
    key_file = tmp_path / "k"
    key_file.write_text(second.private_key.hex() + "\n")
    asked: list[int] = []

    def password() -> str:
        asked.append(1)
        return "pw"

    assert load_key(None, store, first.address, password) == first.private_key
    assert load_key(None, entry.path, None, password) == first.private_key
    assert load_key(key_file, None, second.address, password) == second.private_key
    assert len(asked) == 2  # a hex key file needs no password
    with pytest.raises(GovernanceError, match=r"holds 2 matching accounts \(pick one with --from\)"):
        load_key(None, store, None, password)
    with pytest.raises(GovernanceError, match=f"the key is for {second.address}, not --from"):
        load_key(key_file, None, first.address, password)
    with pytest.raises(GovernanceError, match="exactly one of --key-file"):
        load_key(key_file, store, None, password)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["approve", "0x1234"],
            "error: address '0x1234' is not a 20-byte hex address (0x and 40 hex digits)",
        ),
        (
            ["list", "--block", "soon"],
            "error: --block 'soon' is not a block number or tag (latest, earliest, ...)",
        ),
        (["list", "--rpc-url", "ftp://x"], "error: --rpc-url 'ftp://x' is not an http:// or https:// URL"),
        (["list", "--rpc-url", "http://127.0.0.1:9"], "error: cannot reach http://127.0.0.1:9: "),
        (
            [
                "attest",
                "--entity",
                "X",
                "--corporate-number",
                "4011001098993",
                "--jurisdiction",
                "JP",
                "--region",
                "JP-13",
            ],
            "error: give exactly one of --document FILE or --document-hash 0x..",
        ),
    ],
)
def test_bad_command_lines_are_one_error_line(args: list[str], error: str) -> None:
    from typer.testing import CliRunner

    from jsc_node.cli import app

    result = CliRunner().invoke(app, ["governance", *args])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(error)
    assert result.stdout == ""
