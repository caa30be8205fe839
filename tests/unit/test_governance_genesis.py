"""The attestation field rules (jsc_node/governance/identity.py), the genesis policy `config.jsc`
(jsc_node/genesis.py) and `jsc-node genesis new --attestations` (jsc_node/devtools.py, cli.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsc_node.devtools import dev_genesis, load_attestations, make_genesis
from jsc_node.errors import AttestationError, DevToolsInputError, GenesisError
from jsc_node.genesis import parse_genesis
from jsc_node.governance import registry
from jsc_node.governance.identity import (
    corporate_number_check_digit,
    validate_corporate_number,
    validate_document_hash,
    validate_entity_name,
    validate_jurisdiction,
    validate_region,
)
from jsc_node.governance.registry import REGISTRY_ADDRESS
from tests.unit.test_cli_genesis import run_cli

GOOD = {
    "entityName": "株式会社サンプル",
    "corporateNumber": "4011001098993",
    "jurisdiction": "JP",
    "region": "JP-13",
    "documentHash": "0x" + "ab" * 32,
}


@pytest.mark.parametrize(
    ("base", "check"),
    # The three real numbers: sums 59, 29, 34 (SOVEREIGNTY-NOTES §1).
    [("011001098993", 4), ("010705000725", 7), ("120901007402", 2)],
)
def test_check_digit_of_real_numbers(base: str, check: int) -> None:
    assert corporate_number_check_digit(base) == check


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(1, 9))
def test_exactly_one_check_digit_fits_each_base(base: str, first: int) -> None:
    number = f"{first}{base}"
    if first == corporate_number_check_digit(base):
        assert validate_corporate_number(number) == number
    else:
        with pytest.raises(AttestationError, match="fails its check digit"):
            validate_corporate_number(number)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: validate_jurisdiction("jp", ("JP",)), "not an ISO 3166-1 alpha-2 code"),
        (lambda: validate_jurisdiction("JPN", ("JP",)), "not an ISO 3166-1 alpha-2 code"),
        (lambda: validate_jurisdiction("US", ("JP",)), "not allowed by this chain's policy"),
        (lambda: validate_region("JP-48", "JP"), "not a Japanese prefecture"),
        (lambda: validate_region("JP-00", "JP"), "not a Japanese prefecture"),
        (lambda: validate_region("JP-1", "JP"), "not a Japanese prefecture"),
        (lambda: validate_region("JP13", "JP"), "not an ISO 3166-2 code"),
        (lambda: validate_region("US-CA", "JP"), "not a region of jurisdiction 'JP'"),
        (lambda: validate_entity_name(""), "is empty"),
        (lambda: validate_entity_name("あ" * 86), "258 bytes of UTF-8, at most 256"),
        (lambda: validate_entity_name("A\nB"), "control character"),
        (lambda: validate_document_hash("0x" + "00" * 32), "all zero"),
        (lambda: validate_document_hash("ab" * 32), "not a SHA-256 digest"),
        (lambda: validate_document_hash("0x" + "zz" * 32), "not a SHA-256 digest"),
    ],
)
def test_field_rules_refuse_with_clear_words(call: Any, message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        call()


def test_accepted_regions() -> None:
    assert validate_region("JP-01", "JP") == "JP-01"
    assert validate_region("JP-47", "JP") == "JP-47"
    assert validate_region("US-CA", "US") == "US-CA"


# --- config.jsc -----------------------------------------------------------------------------------


def _with_jsc(value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(dev_genesis())
    doc["config"]["jsc"] = value
    return doc


def test_dev_genesis_policy() -> None:
    spec = parse_genesis(dev_genesis())
    assert spec.jsc is not None
    assert spec.jsc.registry == REGISTRY_ADDRESS
    assert spec.jsc.jurisdictions == ("JP",)
    # a genesis without config.jsc (an imported chain) has no policy
    doc = copy.deepcopy(dev_genesis())
    del doc["config"]["jsc"]
    assert parse_genesis(doc).jsc is None


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (["JP"], "config.jsc", "must be an object"),
        ({"jurisdictions": ["JP"]}, "config.jsc.registry", "is required"),
        ({"registry": "0x4a5343", "jurisdictions": ["JP"]}, "config.jsc.registry", "must be 20 bytes"),
        ({"registry": "4a53", "jurisdictions": ["JP"]}, "config.jsc.registry", "0x-prefixed"),
        ({"registry": "0x" + "11" * 20, "jurisdictions": ["JP"]}, "config.jsc.registry", "no contract code"),
        ({"registry": "0x" + REGISTRY_ADDRESS.hex()}, "config.jsc.jurisdictions", "non-empty list"),
        (
            {"registry": "0x" + REGISTRY_ADDRESS.hex(), "jurisdictions": []},
            "config.jsc.jurisdictions",
            "non-empty",
        ),
        (
            {"registry": "0x" + REGISTRY_ADDRESS.hex(), "jurisdictions": "JP"},
            "config.jsc.jurisdictions",
            "list",
        ),
        (
            {"registry": "0x" + REGISTRY_ADDRESS.hex(), "jurisdictions": ["jp"]},
            "config.jsc.jurisdictions[0]",
            "alpha-2",
        ),
        (
            {"registry": "0x" + REGISTRY_ADDRESS.hex(), "jurisdictions": ["JP", "JP"]},
            "config.jsc.jurisdictions[1]",
            "twice",
        ),
        (
            {"registry": "0x" + REGISTRY_ADDRESS.hex(), "jurisdictions": ["JP", 1]},
            "config.jsc.jurisdictions[1]",
            "alpha-2",
        ),
        # the policy allows US but the registry's genesis storage does not
        ({"registry": "0x" + REGISTRY_ADDRESS.hex(), "jurisdictions": ["JP", "US"]}, "storage", "'US'"),
        (
            {"registry": "0x" + REGISTRY_ADDRESS.hex(), "jurisdictions": ["JP"], "quorum": 2},
            "config.jsc.quorum",
            "unknown key",
        ),
    ],
)
def test_config_jsc_errors_name_the_field(value: Any, field: str, message: str) -> None:
    with pytest.raises(GenesisError, match=message) as info:
        parse_genesis(_with_jsc(value))
    assert info.value.field.endswith(field)


def test_make_genesis_takes_attestations_in_validator_order() -> None:
    validators = ["0x" + "bb" * 20, "0x" + "aa" * 20]
    fields = [registry.dev_attestation(7), load_attestations_from([GOOD])[0]]
    doc = make_genesis(validators, attestations=fields)
    storage = parse_genesis(doc).alloc[REGISTRY_ADDRESS].storage
    read = lambda slot: storage.get(slot, 0)  # noqa: E731
    bb, aa = registry.read_attestation(read, b"\xbb" * 20), registry.read_attestation(read, b"\xaa" * 20)
    assert bb is not None
    assert bb.entity_name == "DEVELOPMENT VALIDATOR 7 (not attested)"
    assert aa is not None
    assert (aa.entity_name, aa.corporate_number) == ("株式会社サンプル", "4011001098993")
    assert registry.read_validators(read) == (b"\xaa" * 20, b"\xbb" * 20)
    assert registry.dev_corporate_number(7) == bb.corporate_number
    validate_corporate_number(bb.corporate_number)
    with pytest.raises(DevToolsInputError, match="1 attestations for 2 validators"):
        make_genesis(validators, attestations=fields[:1])
    with pytest.raises(DevToolsInputError, match="jurisdiction 'JP' is not allowed"):
        make_genesis(validators, attestations=fields, jurisdictions=("US",))


# --- genesis new --attestations -----------------------------------------------------------------


def load_attestations_from(doc: Any, count: int | None = None, tmp: Path | None = None) -> list[Any]:
    import tempfile

    directory = Path(tmp or tempfile.mkdtemp())
    path = directory / "attestations.json"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return load_attestations(path, len(doc) if count is None and isinstance(doc, list) else (count or 1))


@pytest.mark.parametrize(
    ("doc", "count", "message"),
    [
        ({"entityName": "x"}, 1, "must be a JSON list"),
        ([GOOD], 2, "has 1 entries for 2 validators"),
        (
            [{**GOOD, "corporateNumber": "4011001098994"}],
            1,
            r"attestations\[0\]: corporate number: .* check digit",
        ),
        ([{**GOOD, "corporateNumber": "401100109899"}], 1, "12 characters, expected 13 digits"),
        ([{**GOOD, "corporateNumber": "40110010989A3"}], 1, "non-digit 'A'"),
        ([{**GOOD, "corporateNumber": 4011001098993}], 1, "must be a string of 13 digits"),
        (
            [GOOD, {**GOOD, "region": "JP-48"}],
            2,
            r"attestations\[1\]: region: 'JP-48' is not a Japanese prefecture",
        ),
        ([{**GOOD, "jurisdiction": "US", "region": "US-CA"}], 1, "'US' is not allowed"),
        ([{**GOOD, "address": "0x" + "aa" * 20}], 1, "unknown field 'address'"),
        ([{k: v for k, v in GOOD.items() if k != "documentHash"}], 1, "missing field 'documentHash'"),
        (["JP"], 1, "must be a JSON object"),
    ],
)
def test_attestations_file_errors(tmp_path: Path, doc: Any, count: int, message: str) -> None:
    with pytest.raises(DevToolsInputError, match=message):
        load_attestations_from(doc, count, tmp_path)


def test_attestations_file_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DevToolsInputError, match="not found"):
        load_attestations(tmp_path / "missing.json", 1)
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(DevToolsInputError, match="not valid JSON"):
        load_attestations(tmp_path / "bad.json", 1)


def test_genesis_new_with_attestations(tmp_path: Path) -> None:
    second = {
        **GOOD,
        "entityName": "Sakura Hosting KK",
        "corporateNumber": "7010705000725",
        "region": "JP-27",
    }
    (tmp_path / "att.json").write_text(json.dumps([GOOD, second], ensure_ascii=False))
    out = tmp_path / "net"
    result = run_cli(
        "genesis", "new", "--validators", "2", "--out", str(out), "--attestations", str(tmp_path / "att.json")
    )
    assert result.returncode == 0, result.stderr
    spec = parse_genesis(json.loads((out / "genesis.json").read_text()))
    storage = spec.alloc[REGISTRY_ADDRESS].storage
    read = lambda slot: storage.get(slot, 0)  # noqa: E731
    for i, want in enumerate((GOOD, second)):
        address = bytes.fromhex((out / f"validator-{i}" / "address").read_text().strip()[2:])
        got = registry.read_attestation(read, address)
        assert got is not None
        assert got.valid
        assert (got.entity_name, got.corporate_number, got.region) == (
            want["entityName"],
            want["corporateNumber"],
            want["region"],
        )
    assert "DEVELOPMENT" not in (out / "README.md").read_text()
    assert f"registry:    0x{REGISTRY_ADDRESS.hex()} (config.jsc), attestations from" in result.stdout


def test_genesis_new_refuses_a_bad_attestation_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "att.json").write_text(json.dumps([{**GOOD, "corporateNumber": "4011001098994"}]))
    out = tmp_path / "net"
    result = run_cli(
        "genesis", "new", "--validators", "1", "--out", str(out), "--attestations", str(tmp_path / "att.json")
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: attestations file ")
    assert (
        "attestations[0]: corporate number: '4011001098994' fails its check digit: got 4, expected 3"
        in result.stderr
    )
    assert not out.exists()


def test_a_genesis_validator_without_a_valid_attestation_is_refused() -> None:
    # Every honest node would hold a drop vote for it from block 1 (the registry policy), so a
    # genesis whose validators are not attested would vote its own set away: refused at load.
    doc = copy.deepcopy(dev_genesis())
    entry = doc["alloc"][REGISTRY_ADDRESS.hex()]
    validator = parse_genesis(doc).validators[0]
    status_slot = registry.attestation_base(validator) + registry.OFF_STATUS
    for status, words in ((0, "has no attestation"), (1, "pending"), (3, "revoked")):
        entry["storage"][f"0x{status_slot:064x}"] = f"0x{status:064x}"
        with pytest.raises(GenesisError, match=f"genesis validator 0x{validator.hex()}.*{words}") as info:
            parse_genesis(doc)
        assert info.value.field.endswith(".storage")


def test_the_registry_needs_prague_from_genesis() -> None:
    doc = copy.deepcopy(dev_genesis())
    doc["config"]["pragueTime"] = 1_000
    with pytest.raises(GenesisError, match="needs Prague rules from genesis") as info:
        parse_genesis(doc)
    assert info.value.field == "config.pragueTime"
    del doc["config"]["pragueTime"]
    with pytest.raises(GenesisError, match="needs Prague rules from genesis"):
        parse_genesis(doc)
