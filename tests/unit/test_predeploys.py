"""The predeployed accounts of every genesis jsc-node writes (jsc_node/data/predeploys.json).

Each code is checked against a second source: its keccak against the code hash published for the
canonical deployment, and Prague's system contracts against the codes py-evm's Prague itself
expects (it writes the EIP-2935 and EIP-4788 slots only into exactly that code).
"""

from __future__ import annotations

import json
from pathlib import Path

import rlp
from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS, BEACON_ROOTS_CONTRACT_CODE
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    HISTORY_STORAGE_ADDRESS,
    HISTORY_STORAGE_CONTRACT_CODE,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
)
from eth_utils import keccak

from jsc_node import genesis
from jsc_node.devtools import dev_genesis
from jsc_node.genesis import load_genesis, predeploy_alloc, predeploys

REPO = Path(__file__).resolve().parents[2]

# keccak256 of the runtime code at the canonical addresses on Ethereum mainnet, as published in
# ethereum-optimism/optimism packages/contracts-bedrock/src/libraries/Preinstalls.sol (and its
# tests): an independent source of what the code must hash to.
MULTICALL3_CODE_HASH = "0xd5c15df687b16f2ff992fc8d767b4216323184a2bbc6ee2f9c398c318e770891"
CREATE2_DEPLOYER_CODE_HASH = "0x2fa86add0aed31f33a762c9d88e807c475bd51d0f52bd0955754b2608f7e4989"


def _contract(address: bytes) -> dict[str, str]:
    return next(c for c in predeploys()["contracts"] if c["address"] == "0x" + address.hex())


def test_code_hashes_match_the_canonical_deployments() -> None:
    for contract in predeploys()["contracts"]:
        code = bytes.fromhex(contract["code"][2:])
        assert "0x" + keccak(code).hex() == contract["codeHash"], contract["name"]
    assert _contract(genesis.MULTICALL3_ADDRESS)["codeHash"] == MULTICALL3_CODE_HASH
    assert _contract(genesis.CREATE2_DEPLOYER_ADDRESS)["codeHash"] == CREATE2_DEPLOYER_CODE_HASH
    assert len(bytes.fromhex(_contract(genesis.MULTICALL3_ADDRESS)["code"][2:])) == 3808


def test_prague_system_contracts_are_the_ones_py_evm_calls() -> None:
    assert bytes(HISTORY_STORAGE_ADDRESS) == genesis.HISTORY_STORAGE_ADDRESS
    assert bytes(BEACON_ROOTS_ADDRESS) == genesis.BEACON_ROOTS_ADDRESS
    assert bytes(WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS) == genesis.WITHDRAWAL_QUEUE_ADDRESS
    assert bytes(CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS) == genesis.CONSOLIDATION_QUEUE_ADDRESS
    # py-evm's Prague writes the parent hash / beacon root only into exactly this code.
    assert _contract(genesis.HISTORY_STORAGE_ADDRESS)["code"] == "0x" + HISTORY_STORAGE_CONTRACT_CODE.hex()
    assert _contract(genesis.BEACON_ROOTS_ADDRESS)["code"] == "0x" + BEACON_ROOTS_CONTRACT_CODE.hex()


def test_helper_addresses_are_their_presigned_deployers_first_create() -> None:
    # CREATE address = keccak(rlp([sender, nonce]))[12:]: the one-time signers of the published
    # presigned deployment transactions, nonce 0.
    signers = {
        genesis.CREATE2_DEPLOYER_ADDRESS: "3fab184622dc19b6109349b94811493bf2a45362",
        genesis.MULTICALL3_ADDRESS: "05f32b3cc3888453ff71b01135b34ff8e41263f2",
    }
    for address, signer in signers.items():
        assert keccak(rlp.encode([bytes.fromhex(signer), 0]))[12:] == address


def test_alloc_is_geths_dev_genesis_for_prague() -> None:
    alloc = predeploy_alloc()
    # geth core/genesis.go DeveloperGenesisBlock (v1.15): 1 wei at 0x01..0x11, system contracts nonce 1
    for i in range(1, 0x12):
        assert alloc[f"{i:040x}"] == {"balance": "0x1"}
    for contract in predeploys()["contracts"]:
        entry = alloc[contract["address"][2:]]
        assert entry["nonce"] == "0x1"
        assert entry["balance"] == "0x0"
        assert entry["code"] == contract["code"]
    spec = load_genesis(None)
    account = spec.alloc[genesis.MULTICALL3_ADDRESS]
    assert (account.nonce, account.balance) == (1, 0)
    assert keccak(account.code).hex() == MULTICALL3_CODE_HASH[2:]


def test_embedded_dev_genesis_is_devtools_dev_genesis() -> None:
    # genesis/dev.json is a link to jsc_node/data/dev.json; both are this document. Regenerate with
    # python -c 'from pathlib import Path; from jsc_node.devtools import write_dev_genesis;
    #            write_dev_genesis(Path("jsc_node/data/dev.json"))'
    embedded = json.loads((REPO / "jsc_node" / "data" / "dev.json").read_text())
    assert embedded == dev_genesis()
    assert json.loads((REPO / "genesis" / "dev.json").read_text()) == embedded
