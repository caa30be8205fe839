"""`jsc-node rlp encode/decode --type qbft-extra-data`, through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsc_node.devtools import DevToolsInputError, decode_extra_data_hex, encode_validators_json

REPO = Path(__file__).resolve().parents[2]
# Besu's documented example (`besu rlp encode --type=QBFT_EXTRA_DATA`).
BESU_VALIDATORS = ["9811ebc35d7b06b3fa8dc5809a1f9c52751e1deb"]
BESU_EXTRA_DATA = (
    "0xf83aa00000000000000000000000000000000000000000000000000000000000000000"
    "d5949811ebc35d7b06b3fa8dc5809a1f9c52751e1debc080c0"
)


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith("JSC_")}
    return subprocess.run(
        [sys.executable, "-m", "jsc_node.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_encode_besu_example_from_stdin() -> None:
    result = run_cli("rlp", "encode", "--type", "qbft-extra-data", stdin=json.dumps(BESU_VALIDATORS))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == BESU_EXTRA_DATA


def test_encode_from_file_with_0x_and_besu_type_spelling(tmp_path: Path) -> None:
    source = tmp_path / "validators.json"
    source.write_text(json.dumps(["0x" + BESU_VALIDATORS[0].upper()]))
    result = run_cli("rlp", "encode", "--type", "QBFT_EXTRA_DATA", "--from", str(source))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == BESU_EXTRA_DATA


def test_decode_besu_example(tmp_path: Path) -> None:
    source = tmp_path / "extra.hex"
    source.write_text(BESU_EXTRA_DATA + "\n")
    result = run_cli("rlp", "decode", "--type", "qbft-extra-data", "--from", str(source))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "vanity": "0x" + "00" * 32,
        "validators": ["0x" + BESU_VALIDATORS[0]],
        "vote": None,
        "round": 0,
        "seals": [],
    }


def test_encode_to_file(tmp_path: Path) -> None:
    target = tmp_path / "out.hex"
    result = run_cli("rlp", "encode", "--to", str(target), stdin=json.dumps(BESU_VALIDATORS))
    assert result.returncode == 0, result.stderr
    assert target.read_text().strip() == BESU_EXTRA_DATA


@pytest.mark.parametrize(
    ("command", "stdin", "message"),
    [
        ("encode", "[not json", "not valid JSON"),
        ("encode", '{"a": 1}', "JSON list"),
        ("encode", '["9811ebc35d7b06b3fa8dc5809a1f9c52751e1d"]', "19 bytes, expected 20"),
        ("encode", '["9811ebc35d7b06b3fa8dc5809a1f9c52751e1debaa"]', "21 bytes, expected 20"),
        ("encode", '["zz11ebc35d7b06b3fa8dc5809a1f9c52751e1deb"]', "not hex"),
        ("encode", "[42]", "hex string"),
        ("decode", "0xnothex", "not hex"),
        ("decode", "0xc0", "item count"),
        ("decode", BESU_EXTRA_DATA[:-2], "not valid RLP"),
    ],
)
def test_bad_input_is_an_error_line_not_a_traceback(command: str, stdin: str, message: str) -> None:
    result = run_cli("rlp", command, "--type", "qbft-extra-data", stdin=stdin)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_missing_input_file(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nope.json"
    result = run_cli("rlp", command, "--from", str(missing))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: input file not found: {missing}"


def test_unknown_type_is_a_usage_error() -> None:
    result = run_cli("rlp", "encode", "--type", "ibft-extra-data", stdin="[]")
    assert result.returncode == 2
    assert "unsupported type" in result.stderr


addresses = st.lists(st.binary(min_size=20, max_size=20), max_size=8)


@given(addresses)
def test_encode_decode_round_trip(validators: list[bytes]) -> None:
    encoded = encode_validators_json(json.dumps([v.hex() for v in validators]))
    decoded = decode_extra_data_hex(encoded)
    assert decoded["validators"] == ["0x" + v.hex() for v in validators]
    assert (decoded["vote"], decoded["round"], decoded["seals"]) == (None, 0, [])


def test_decode_shows_vote_round_and_seals() -> None:
    from jsc_node.chainformat import QbftExtraData, Vote, encode_extra_data

    data = QbftExtraData(
        vanity=b"\x01" * 32,
        validators=(b"\x02" * 20,),
        vote=Vote(recipient=b"\x03" * 20, add=True),
        round=7,
        seals=(b"\x04" * 65,),
    )
    assert decode_extra_data_hex(encode_extra_data(data).hex()) == {
        "vanity": "0x" + "01" * 32,
        "validators": ["0x" + "02" * 20],
        "vote": {"recipient": "0x" + "03" * 20, "add": True},
        "round": 7,
        "seals": ["0x" + "04" * 65],
    }


def test_encode_rejects_non_list_in_process() -> None:
    with pytest.raises(DevToolsInputError, match="JSON list"):
        encode_validators_json('"9811ebc35d7b06b3fa8dc5809a1f9c52751e1deb"')
