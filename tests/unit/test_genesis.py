from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from jsc_node.chainformat import BFT_MIX_HASH, decode_extra_data, genesis_extra_data
from jsc_node.errors import GenesisError
from jsc_node.genesis import load_genesis, parse_genesis

BESU_EXAMPLE_VALIDATOR = bytes.fromhex("9811ebc35d7b06b3fa8dc5809a1f9c52751e1deb")
BESU_EXAMPLE_EXTRA_DATA = (
    "0xf83aa00000000000000000000000000000000000000000000000000000000000000000"
    "d5949811ebc35d7b06b3fa8dc5809a1f9c52751e1debc080c0"
)


def _dev() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((Path(__file__).parents[2] / "genesis" / "dev.json").read_text())
    return doc


def test_besu_documented_extra_data_round_trips() -> None:
    assert "0x" + genesis_extra_data([BESU_EXAMPLE_VALIDATOR]).hex() == BESU_EXAMPLE_EXTRA_DATA
    decoded = decode_extra_data(bytes.fromhex(BESU_EXAMPLE_EXTRA_DATA[2:]))
    assert decoded.validators == (BESU_EXAMPLE_VALIDATOR,)
    assert decoded.vote is None
    assert decoded.round == 0
    assert decoded.seals == ()


def test_embedded_dev_genesis() -> None:
    spec = load_genesis(None)
    assert spec.chain_id == 1337
    assert spec.qbft is not None
    assert spec.qbft.block_period_s == 1
    assert len(spec.validators) == 1
    assert spec.mix_hash == BFT_MIX_HASH
    assert dict(spec.time_forks)["prague"] == 0
    funded = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")
    assert spec.alloc[funded].balance == 10_000 * 10**18
    # ten dev accounts, 17 precompiles with 1 wei, 4 Prague system contracts, 2 helper contracts,
    # the validator registry
    assert len(spec.alloc) == 10 + 17 + 4 + 2 + 1
    assert spec.base_fee == 1_000_000_000
    # an empty block each second on an idle dev chain (geth --dev.period 1)
    assert spec.qbft.empty_block_period_s == 1


def test_repo_genesis_file_is_the_embedded_one() -> None:
    assert load_genesis(Path(__file__).parents[2] / "genesis" / "dev.json") == load_genesis(None)


def test_alloc_code_storage_nonce() -> None:
    doc = _dev()
    doc["alloc"]["0x1000000000000000000000000000000000000001"] = {
        "balance": "1000",
        "nonce": "0x2",
        "code": "0x6000",
        "storage": {
            "0x01": "0x0000000000000000000000000000000000000000000000000000000000000005",
            "0x02": "0x00",
        },
    }
    account = parse_genesis(doc).alloc[bytes.fromhex("1000000000000000000000000000000000000001")]
    assert account.balance == 1000
    assert account.nonce == 2
    assert account.code == b"\x60\x00"
    assert account.storage == {1: 5}


def test_zero_base_fee() -> None:
    doc = _dev()
    doc["config"]["zeroBaseFee"] = True
    spec = parse_genesis(doc)
    assert spec.zero_base_fee
    assert spec.base_fee == 0


def _broken(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_dev())
    target = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("config", _DELETE, "config"),
        ("config.chainId", _DELETE, "config.chainId"),
        ("config.chainId", "banana", "config.chainId"),
        ("config.chainId", 0, "config.chainId"),
        ("config.osakaTime", 0, "config.osakaTime"),
        ("config.londonBlock", 5, "config.arrowGlacierBlock"),
        ("config.qbft.blockperiodseconds", 0, "config.qbft.blockperiodseconds"),
        ("config.qbft.epochlength", "x", "config.qbft.epochlength"),
        ("config.qbft", [], "config.qbft"),
        ("gasLimit", _DELETE, "gasLimit"),
        ("gasLimit", "0x10", "gasLimit"),
        ("extraData", "0x1234", "extraData"),
        ("extraData", "0x" + genesis_extra_data([]).hex(), "extraData"),
        ("mixHash", "0x" + "00" * 32, "mixHash"),
        ("mixHash", "0x00", "mixHash"),
        ("alloc", [], "alloc"),
        (
            "alloc.0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
            {"balance": "-5"},
            "alloc.0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266.balance",
        ),
        ("baseFeePerGas", "0xzz", "baseFeePerGas"),
    ],
)
def test_bad_genesis_names_the_field(path: str, value: Any, field: str) -> None:
    doc = _broken(path, value)
    if path == "config.londonBlock":
        doc["config"]["arrowGlacierBlock"] = 1
    if path.startswith("alloc.0x"):
        doc["alloc"] = {"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266": value}
    with pytest.raises(GenesisError) as info:
        parse_genesis(doc)
    assert info.value.field == field


def test_bad_alloc_address() -> None:
    doc = _dev()
    doc["alloc"] = {"0x1234": {"balance": "1"}}
    with pytest.raises(GenesisError, match=r"alloc\.0x1234"):
        parse_genesis(doc)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match="does not exist"):
        load_genesis(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(GenesisError, match="not valid JSON"):
        load_genesis(bad)
    bad.write_text("[]")
    with pytest.raises(GenesisError, match="JSON object"):
        load_genesis(bad)


def test_genesis_without_qbft_is_an_imported_chain() -> None:
    doc = _dev()
    del doc["config"]["qbft"]
    with pytest.raises(GenesisError, match=r"config\.jsc.*needs a QBFT chain"):
        parse_genesis(doc)
    del doc["config"]["jsc"]
    doc["mixHash"] = "0x" + "00" * 32
    doc["extraData"] = "0x"
    spec = parse_genesis(doc)
    assert spec.qbft is None
    assert spec.validators == ()
