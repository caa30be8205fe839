"""Issue 13's account allowlists on one real node over HTTP (web3.py): a chain whose genesis switches
the AccountAllowlist contract on (the dev validator is its admin), run with
--permissions-accounts-config-file-enabled. A sender refused by either list gets Besu's -32007
from eth_sendRawTransaction; perm_addAccountsToAllowlist, an edited file with
perm_reloadPermissionsFromFile, an edited file alone, and the admin's addAccounts transaction each
let the sender's next transaction in; removing it stops the next one.

Dev account 0 is on both lists; account 1 is on the chain's list only (the local file decides);
account 2 is in the local file only (the chain's list decides)."""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from jsc_node.devtools import dev_accounts, make_genesis
from jsc_node.genesis import DEV_VALIDATOR_KEY
from jsc_node.governance.accounts import ALLOWLIST_ADDRESS, artifact
from jsc_node.state.permissions import WATCH_INTERVAL_S
from tests.integration.conftest import web3_for
from tests.integration.nodeproc import NodeProcess

KEYS = [a.private_key for a in dev_accounts()[:3]]
BOTH, CHAIN_ONLY, FILE_ONLY = (Account.from_key(k).address for k in KEYS)
VALIDATOR = Account.from_key(DEV_VALIDATOR_KEY).address
REFUSED = {"code": -32007, "message": "Sender account not authorized to send transactions"}
WAIT_S = 30


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, Path]]:
    root = tmp_path_factory.mktemp("perm")
    doc = make_genesis(
        [VALIDATOR],
        block_period_s=1,
        empty_block_period_s=1,
        accounts_allowlist=True,
        allowlist_accounts=[BOTH, CHAIN_ONLY],
    )
    (root / "genesis.json").write_text(json.dumps(doc))
    (root / "key").write_text(DEV_VALIDATOR_KEY.hex())
    allowlist = root / "permissions_config.toml"
    allowlist.write_text(
        f'accounts-allowlist = ["{BOTH.lower()}", "{FILE_ONLY.lower()}", "{VALIDATOR.lower()}"]\n'
    )
    proc = NodeProcess(
        root / "data",
        extra_args=[
            "--genesis-file",
            str(root / "genesis.json"),
            "--node-private-key-file",
            str(root / "key"),
            "--permissions-accounts-config-file-enabled",
            "--permissions-accounts-config-file",
            str(allowlist),
        ],
    ).start()
    yield proc, allowlist
    proc.stop()


@pytest.fixture(scope="module")
def w3(node: tuple[NodeProcess, Path]) -> Web3:
    return web3_for(node[0].url)


def _raw(w3: Web3, key: Any, **fields: Any) -> str:
    account = Account.from_key(key)
    tx = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "to": "0x" + "42" * 20,
        "value": 1,
        "gas": 200_000,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 1,
        **fields,
    }
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def _send(w3: Web3, key: Any, **fields: Any) -> dict[str, Any]:
    answer: dict[str, Any] = w3.provider.make_request("eth_sendRawTransaction", [_raw(w3, key, **fields)])  # type: ignore[arg-type]
    return answer


def _mined(w3: Web3, key: Any, **fields: Any) -> Any:
    answer = _send(w3, key, **fields)
    assert "result" in answer, answer
    receipt = w3.eth.wait_for_transaction_receipt(answer["result"], timeout=WAIT_S, poll_latency=0.05)
    assert receipt["status"] == 1
    return receipt


def _refused(w3: Web3, key: Any) -> None:
    answer = _send(w3, key)
    assert answer.get("error") == REFUSED, answer


def _perm(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))  # type: ignore[arg-type]


def _ok(w3: Web3, method: str, *params: Any) -> Any:
    answer = _perm(w3, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def test_the_local_file_decides_for_a_sender_the_chain_allows(
    w3: Web3, node: tuple[NodeProcess, Path]
) -> None:
    _, path = node
    _mined(w3, KEYS[0])
    _refused(w3, KEYS[1])
    assert _ok(w3, "perm_getAccountsAllowlist") == [BOTH.lower(), FILE_ONLY.lower(), VALIDATOR.lower()]

    assert _ok(w3, "perm_addAccountsToAllowlist", [CHAIN_ONLY]) == "Success"
    assert CHAIN_ONLY.lower() in tomllib.loads(path.read_text())["accounts-allowlist"]
    _mined(w3, KEYS[1])
    assert _ok(w3, "perm_removeAccountsFromAllowlist", [CHAIN_ONLY]) == "Success"
    _refused(w3, KEYS[1])

    # Besu's refusals, -32000, nothing changed.
    for params, message in [
        ([["0x12"]], "Request contains an invalid account"),
        ([[BOTH]], "Cannot add an existing account to allowlist"),
        ([[CHAIN_ONLY, CHAIN_ONLY]], "Request contains duplicate accounts"),
        ([[]], "Request contains an empty list of accounts"),
    ]:
        assert _perm(w3, "perm_addAccountsToAllowlist", *params)["error"] == {
            "code": -32000,
            "message": message,
        }
    assert _perm(w3, "perm_removeAccountsFromAllowlist", [CHAIN_ONLY])["error"] == {
        "code": -32000,
        "message": "Cannot remove an absent account from allowlist",
    }

    # The file edited by hand, then perm_reloadPermissionsFromFile.
    listed = tomllib.loads(path.read_text())["accounts-allowlist"]
    path.write_text(f"accounts-allowlist = {json.dumps([*listed, CHAIN_ONLY.lower()])}\n")
    assert _ok(w3, "perm_reloadPermissionsFromFile") == "Success"
    _mined(w3, KEYS[1])
    # ... and edited by hand alone: the node looks at the file again at most WATCH_INTERVAL_S after
    # its last look. (A transaction sent before that is pooled, and this node's blocks leave it
    # out once the file is re-read: the local list filters the blocks this node builds.)
    path.write_text(f"accounts-allowlist = {json.dumps(listed)}\n")
    time.sleep(WATCH_INTERVAL_S + 0.5)
    _refused(w3, KEYS[1])


def test_the_chain_list_decides_and_its_admin_changes_it(w3: Web3) -> None:
    _refused(w3, KEYS[2])  # in the local file, not on the chain's list
    allowlist = w3.eth.contract(address=Web3.to_checksum_address(ALLOWLIST_ADDRESS), abi=artifact()["abi"])
    add = allowlist.functions.addAccounts([FILE_ONLY])._encode_transaction_data()
    _mined(w3, DEV_VALIDATOR_KEY, to=allowlist.address, value=0, data=add)
    assert allowlist.functions.isAllowed(FILE_ONLY).call() is True
    _mined(w3, KEYS[2])
    remove = allowlist.functions.removeAccounts([FILE_ONLY])._encode_transaction_data()
    _mined(w3, DEV_VALIDATOR_KEY, to=allowlist.address, value=0, data=remove)
    _refused(w3, KEYS[2])
    # A non-admin's change is mined and reverts (NotAdmin): the list stays as it was.
    answer = _send(w3, KEYS[0], to=allowlist.address, value=0, data=add)
    receipt = w3.eth.wait_for_transaction_receipt(answer["result"], timeout=WAIT_S, poll_latency=0.05)
    assert receipt["status"] == 0
    assert allowlist.functions.isAllowed(FILE_ONLY).call() is False
