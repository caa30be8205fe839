"""`jsc-node genesis new` and devtools.make_genesis."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from jsc_node.chainformat import decode_extra_data
from jsc_node.devtools import DEV_ACCOUNT_BALANCE_WEI, DevToolsInputError, dev_accounts, make_genesis
from jsc_node.genesis import load_genesis, predeploy_alloc
from jsc_node.governance import registry
from jsc_node.governance.registry import REGISTRY_ADDRESS

REPO = Path(__file__).resolve().parents[2]
# The ten accounts anvil and Hardhat fund from "test test ... junk" (their documented list).
ANVIL_ACCOUNTS = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSC_")}
    return subprocess.run(
        [sys.executable, "-m", "jsc_node.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )


def test_genesis_new_writes_keys_and_a_qbft_genesis(tmp_path: Path) -> None:
    out = tmp_path / "devnet"
    result = run_cli(
        "genesis", "new", "--validators", "4", "--out", str(out), "--chain-id", "4242", "--block-period", "5"
    )
    assert result.returncode == 0, result.stderr

    addresses = []
    for i in range(4):
        key_file = out / f"validator-{i}" / "key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        text = key_file.read_text()
        assert text.startswith("0x")
        assert len(text) == 66
        address = Account.from_key(bytes.fromhex(text[2:])).address
        assert (out / f"validator-{i}" / "address").read_text().strip() == address
        assert address in result.stdout
        addresses.append(bytes.fromhex(address[2:]))
    assert len(set(addresses)) == 4
    assert "not for production if you share" in (out / "README.md").read_text().lower()

    genesis = json.loads((out / "genesis.json").read_text())
    config = genesis["config"]
    assert config["chainId"] == 4242
    assert config["qbft"] == {
        "blockperiodseconds": 5,
        "epochlength": 30000,
        "requesttimeoutseconds": 10,
        "emptyblockperiodseconds": 60,
    }
    for fork in ("homesteadBlock", "londonBlock", "shanghaiTime", "cancunTime", "pragueTime"):
        assert config[fork] == 0
    assert config["zeroBaseFee"] is False
    assert genesis["gasLimit"] == "0x1c9c380"
    assert genesis["mixHash"] == "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
    assert int(genesis["timestamp"], 16) > 0

    extra = decode_extra_data(bytes.fromhex(genesis["extraData"][2:]))
    assert list(extra.validators) == sorted(addresses)
    assert (extra.vote, extra.round, extra.seals) == (None, 0, ())

    alloc = {"0x" + address.lower().removeprefix("0x"): entry for address, entry in genesis["alloc"].items()}
    predeployed = {"0x" + address for address in predeploy_alloc()}
    registry_at = "0x" + REGISTRY_ADDRESS.hex()
    assert sorted(alloc) == sorted([a.lower() for a in ANVIL_ACCOUNTS] + [*predeployed, registry_at])
    assert all(int(alloc[a.lower()]["balance"], 16) == 10_000 * 10**18 for a in ANVIL_ACCOUNTS)
    # the canonical deployers and Prague's system contracts (geth's dev genesis), with their code
    assert alloc["0x4e59b44847b379578588920ca78fbf26c0b4956c"]["code"].startswith("0x7fffff")
    assert alloc["0xca11bde05977b3631167028862be2a173976ca11"]["nonce"] == "0x1"
    assert "code" in alloc["0x0000f90827f1c53a10cb7a02335b175320002935"]

    # The node's own genesis parser accepts it and sees the same chain.
    spec = load_genesis(out / "genesis.json")
    assert spec.chain_id == 4242
    assert spec.validators == tuple(sorted(addresses))
    assert spec.qbft is not None
    assert spec.qbft.block_period_s == 5
    assert len(spec.alloc) == 10 + len(predeployed) + 1
    # ... with the validator registry, each validator holding a marked development attestation.
    assert spec.jsc is not None
    assert (spec.jsc.registry, spec.jsc.jurisdictions) == (REGISTRY_ADDRESS, ("JP",))
    storage = spec.alloc[REGISTRY_ADDRESS].storage
    for i, address in enumerate(addresses):
        attestation = registry.read_attestation(lambda slot: storage.get(slot, 0), address)
        assert attestation is not None
        assert attestation.valid
        assert attestation.entity_name == f"DEVELOPMENT VALIDATOR {i} (not attested)"
    assert "DEVELOPMENT attestations" in (out / "README.md").read_text()


def test_genesis_new_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "devnet"
    out.mkdir()
    (out / "something").write_text("keep me")
    result = run_cli("genesis", "new", "--validators", "1", "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "refusing to overwrite" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["something"]


def test_genesis_new_needs_a_validator(tmp_path: Path) -> None:
    result = run_cli("genesis", "new", "--validators", "0", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert not (tmp_path / "x").exists()


def test_dev_accounts_are_anvils() -> None:
    accounts = dev_accounts()
    assert [a.address for a in accounts] == ANVIL_ACCOUNTS
    assert accounts[0].private_key.hex() == "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def test_make_genesis_is_deterministic_and_sorts_validators() -> None:
    validators = ["0x" + "bb" * 20, "AA" * 20]
    genesis = make_genesis(
        validators, chain_id=7, block_period_s=1, alloc={}, predeploys=False, registry=False
    )
    assert genesis == make_genesis(
        list(reversed(validators)), chain_id=7, block_period_s=1, alloc={}, predeploys=False, registry=False
    )
    extra = decode_extra_data(bytes.fromhex(genesis["extraData"][2:]))
    assert extra.validators == (b"\xaa" * 20, b"\xbb" * 20)
    assert genesis["alloc"] == {}
    assert genesis["timestamp"] == "0x0"
    assert make_genesis(validators)["alloc"]["f39fd6e51aad88f6f4ce6ab8827279cfffb92266"] == {
        "balance": hex(DEV_ACCOUNT_BALANCE_WEI)
    }


@pytest.mark.parametrize(
    ("validators", "chain_id", "period", "message"),
    [
        ([], 1, 1, "at least one validator"),
        (["aa" * 20, "0xAA" * 1 + "aa" * 19], 1, 1, "distinct"),
        (["aa" * 19], 1, 1, "19 bytes"),
        (["aa" * 20], 0, 1, "chain id"),
        (["aa" * 20], 1, 0, "block period"),
    ],
)
def test_make_genesis_rejects(validators: list[str], chain_id: int, period: int, message: str) -> None:
    with pytest.raises(DevToolsInputError, match=message):
        make_genesis(validators, chain_id=chain_id, block_period_s=period)


def test_genesis_new_empty_block_period(tmp_path: Path) -> None:
    # Production files keep 60 s (the default, checked above); a developer's network can ask for
    # a block every period, as the embedded dev genesis has.
    out = tmp_path / "devnet"
    result = run_cli("genesis", "new", "--validators", "1", "--out", str(out), "--empty-block-period", "1")
    assert result.returncode == 0, result.stderr
    spec = load_genesis(out / "genesis.json")
    assert spec.qbft is not None
    assert spec.qbft.empty_block_period_s == 1
    refused = run_cli(
        "genesis", "new", "--validators", "1", "--out", str(tmp_path / "x"), "--empty-block-period", "-1"
    )
    assert refused.returncode == 2
    assert not (tmp_path / "x").exists()


def test_make_genesis_alloc_entry_wins_over_a_predeploy() -> None:
    own = {"0xCA11BDE05977B3631167028862BE2A173976CA11": {"balance": "0x5"}}
    alloc = make_genesis(["aa" * 20], alloc=own)["alloc"]
    assert alloc["0xCA11BDE05977B3631167028862BE2A173976CA11"] == {"balance": "0x5"}
    assert "ca11bde05977b3631167028862be2a173976ca11" not in alloc
    assert "4e59b44847b379578588920ca78fbf26c0b4956c" in alloc
