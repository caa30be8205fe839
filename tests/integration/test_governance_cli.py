"""`jsc-node governance attest|approve|revoke|list` against one real dev node (one validator, so
quorum 1): a dev account attests, a non-validator's approval is refused in the contract's words,
the validator approves (Valid, approvedBy), then revokes (Revoked). Bad fields are refused before
anything is sent: the exact `error:` line, exit 1, the sender's nonce unchanged."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner, Result

from jsc_node.cli import app
from jsc_node.devtools import dev_accounts
from jsc_node.genesis import DEV_VALIDATOR_KEY
from jsc_node.governance.identity import corporate_number_check_digit
from tests.integration.nodeproc import NodeProcess

# 国税庁's own 法人番号: check digit 7 over 000012050002 (a published, real number).
CORPORATE_NUMBER = "7000012050002"
SUBJECT = dev_accounts()[5]
OUTSIDER = dev_accounts()[6]
VALIDATOR = str(Account.from_key(DEV_VALIDATOR_KEY).address)


def _key_file(directory: Path, name: str, key: bytes) -> Path:
    path = directory / name
    path.write_text("0x" + key.hex())
    return path


@pytest.fixture(scope="module")
def funded_validator(node: NodeProcess) -> str:
    """The dev validator holds only the fees it has earned: give it 1 ETH for its votes' gas."""
    funder = dev_accounts()[0]
    tx = {
        "type": 2,
        "chainId": int(str(node.rpc("eth_chainId")), 16),
        "nonce": _nonce(node, funder.address),
        "to": VALIDATOR,
        "value": 10**18,
        "gas": 21_000,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 1,
    }
    raw = Account.sign_transaction(tx, funder.private_key).raw_transaction
    tx_hash = node.rpc("eth_sendRawTransaction", "0x" + bytes(raw).hex())
    deadline = time.monotonic() + 20
    while node.rpc("eth_getTransactionReceipt", tx_hash) is None:
        assert time.monotonic() < deadline, "funding transfer not mined"
        time.sleep(0.1)
    return VALIDATOR


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    return {
        "subject": _key_file(d, "subject.key", SUBJECT.private_key),
        "outsider": _key_file(d, "outsider.key", OUTSIDER.private_key),
        "validator": _key_file(d, "validator.key", DEV_VALIDATOR_KEY),
    }


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, ["governance", *args])


def _attest_args(node: NodeProcess, key: Path, **over: str) -> list[str]:
    fields = {
        "--entity": "株式会社テスト検証",
        "--corporate-number": CORPORATE_NUMBER,
        "--jurisdiction": "JP",
        "--region": "JP-13",
        "--document-hash": "0x" + "ab" * 32,
    }
    fields.update(over)
    args = ["attest", "--rpc-url", node.url, "--key-file", str(key), "--timeout", "20"]
    for flag, value in fields.items():
        args += [flag, value]
    return args


def _nonce(node: NodeProcess, address: str) -> int:
    return int(str(node.rpc("eth_getTransactionCount", address, "pending")), 16)


def _list(node: NodeProcess) -> dict[str, dict[str, object]]:
    result = _run("list", "--rpc-url", node.url, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["quorum"] == 1
    assert doc["validators"] == [VALIDATOR]
    return {a["address"]: a for a in doc["attestations"]}


def test_check_digit_of_the_known_number() -> None:
    assert corporate_number_check_digit(CORPORATE_NUMBER[1:]) == int(CORPORATE_NUMBER[0])


@pytest.mark.parametrize(
    ("over", "error"),
    [
        (
            {"--corporate-number": "1000012050002"},
            "error: corporate number: '1000012050002' fails its check digit: got 1, expected 7 (a mistyped digit?)",
        ),
        (
            {"--corporate-number": "000012050002"},
            "error: corporate number: '000012050002' has 12 characters, expected 13 digits",
        ),
        (
            {"--corporate-number": "70000120500AB"},
            "error: corporate number: '70000120500AB' has a non-digit 'A' at position 12",
        ),
        (
            {"--jurisdiction": "JPN", "--region": "JP-13"},
            "error: jurisdiction: 'JPN' is not an ISO 3166-1 alpha-2 code (two uppercase letters, e.g. 'JP')",
        ),
        (
            {"--jurisdiction": "US", "--region": "US-CA"},
            "error: jurisdiction: 'US' is not allowed by this chain's policy "
            "(the registry at 0x00000000000000000000000000000000004a5343 does not list it)",
        ),
        ({"--region": "JP-48"}, "error: region: 'JP-48' is not a Japanese prefecture (JP-01 .. JP-47)"),
        ({"--region": "KR-11"}, "error: region: 'KR-11' is not a region of jurisdiction 'JP'"),
        ({"--document-hash": "0x" + "00" * 32}, "error: document hash: is all zero"),
    ],
)
def test_bad_fields_are_refused_before_sending(
    node: NodeProcess, keys: dict[str, Path], over: dict[str, str], error: str
) -> None:
    before = _nonce(node, SUBJECT.address)
    result = _run(*_attest_args(node, keys["subject"], **over))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == error
    assert result.stdout == ""
    assert _nonce(node, SUBJECT.address) == before


def test_attest_approve_revoke_list(node: NodeProcess, keys: dict[str, Path], funded_validator: str) -> None:
    document = keys["subject"].parent / "certificate.pdf"
    document.write_bytes(b"commercial registry certificate")
    args = _attest_args(node, keys["subject"])
    i = args.index("--document-hash")
    args[i : i + 2] = ["--document", str(document)]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert f"{SUBJECT.address}: Pending, round 1; needs 1 approvals" in result.stdout
    pending = _list(node)[SUBJECT.address]
    assert pending["status"] == "Pending"
    assert pending["corporateNumber"] == CORPORATE_NUMBER
    assert pending["entityName"] == "株式会社テスト検証"
    assert pending["documentHash"] == "0x" + hashlib.sha256(b"commercial registry certificate").hexdigest()

    # A non-validator is refused by eth_estimateGas, in the contract's words; nothing is sent.
    before = _nonce(node, OUTSIDER.address)
    common = ["--rpc-url", node.url, "--timeout", "20"]
    result = _run("approve", SUBJECT.address, "--key-file", str(keys["outsider"]), *common)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == (f"error: not a current validator: {OUTSIDER.address}")
    assert _nonce(node, OUTSIDER.address) == before

    result = _run("approve", SUBJECT.address, "--key-file", str(keys["validator"]), *common)
    assert result.exit_code == 0, result.output
    valid = _list(node)[SUBJECT.address]
    assert valid["status"] == "Valid"
    assert valid["approvedBy"] == [VALIDATOR]
    assert f"{SUBJECT.address}: valid since block {valid['approvedAt']}" in result.stdout

    result = _run("approve", SUBJECT.address, "--key-file", str(keys["validator"]), *common)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: attestation of {SUBJECT.address} is not pending (status: Valid)"
    )

    table = _run("list", "--rpc-url", node.url)
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if line.startswith(SUBJECT.address))
    assert row.split()[1] == "Valid"
    assert row.endswith(VALIDATOR)
    genesis_row = next(line for line in table.stdout.splitlines() if line.startswith(VALIDATOR))
    assert genesis_row.split()[1] == "Valid"
    assert genesis_row.split()[-2:] == ["genesis", "genesis"]
    assert table.stdout.splitlines()[-1] == "validators: 1, quorum 1; attestations: 2"

    result = _run("revoke", SUBJECT.address, "--key-file", str(keys["validator"]), *common)
    assert result.exit_code == 0, result.output
    revoked = _list(node)[SUBJECT.address]
    assert revoked["status"] == "Revoked"
    assert revoked["revokedBy"] == [VALIDATOR]
    assert f"{SUBJECT.address}: revoked at block {revoked['revokedAt']}" in result.stdout

    # The past is still readable at the block it was approved in.
    result = _run("list", "--rpc-url", node.url, "--json", "--block", str(valid["approvedAt"]))
    assert result.exit_code == 0, result.output
    at = {a["address"]: a for a in json.loads(result.stdout)["attestations"]}
    assert at[SUBJECT.address]["status"] == "Valid"
