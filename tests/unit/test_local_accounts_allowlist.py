"""This node's local account allowlist (state/permissions.py), Besu's
--permissions-accounts-config-file: the TOML file read, edited as perm_add/removeAccounts... do
(Besu's refusals, in Besu's order), reloaded when it changes, a bad file keeping the previous
list; AccountPermissions refuses a sender it does not list with -32007; the executor's local
filter leaves such senders out of the blocks this node builds, never out of blocks it validates."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.config import NodeConfig
from jsc_node.devtools import dev_accounts
from jsc_node.errors import AllowlistEditError, ConfigError, SenderNotAuthorized
from jsc_node.genesis import load_genesis
from jsc_node.rpc.codes import error_object
from jsc_node.state import permissions
from jsc_node.state.evm.executor import Executor
from jsc_node.state.permissions import (
    AccountPermissions,
    LocalAccountsAllowlist,
    load_accounts_allowlist,
    open_account_permissions,
)
from jsc_node.state.storage.leveldb import LevelDB

A, B, C = (bytes([i]) * 20 for i in (0xAA, 0xBB, 0xCC))
NODES = 'nodes-allowlist = ["16Uiu2HAmPeer"]\n'


def _hex(address: bytes) -> str:
    return "0x" + address.hex()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    # A rewrite within the same mtime tick and size must still count: move the mtime.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    return path


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "permissions_config.toml",
        f'# operator notes\n{NODES}accounts-allowlist = ["{_hex(A)}", "{_hex(B).upper().replace("0X", "0x")}"]\n',
    )


def test_the_file_is_read_in_order_any_case(toml: Path) -> None:
    assert load_accounts_allowlist(toml) == (A, B)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("accounts-allowlist = [", "is not valid TOML"),
        ('nodes-allowlist = ["x"]\n', "has no 'accounts-allowlist' key"),
        ('accounts-allowlist = "0xaa"\n', "must be a list of 0x-addresses, got str"),
        ('accounts-allowlist = ["aa' + "a" * 38 + '"]\n', "entry 0 ('aa"),
        (f'accounts-allowlist = ["{_hex(A)}", "0x12"]\n', "entry 1 ('0x12'): not an address"),
        (f'accounts-allowlist = ["{_hex(A)}", "{_hex(A)}"]\n', "listed twice"),
    ],
)
def test_a_bad_file_is_one_clear_error(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path / "p.toml", text)
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_accounts_allowlist(path)
    with pytest.raises(ConfigError, match="not found"):
        load_accounts_allowlist(tmp_path / "missing.toml")


def test_add_and_remove_rewrite_the_file_keeping_the_nodes_list(toml: Path) -> None:
    local = LocalAccountsAllowlist(toml)
    local.add([_hex(C)])
    assert local.accounts == (A, B, C)
    document = tomllib.loads(toml.read_text())
    assert document == {
        "nodes-allowlist": ["16Uiu2HAmPeer"],
        "accounts-allowlist": [_hex(A), _hex(B), _hex(C)],
    }
    local.remove([_hex(A), _hex(C)])
    assert local.accounts == (B,)
    assert load_accounts_allowlist(toml) == (B,)
    assert tomllib.loads(toml.read_text())["nodes-allowlist"] == ["16Uiu2HAmPeer"]


@pytest.mark.parametrize(
    ("op", "entries", "message"),
    [
        ("add", [], "Request contains an empty list of accounts"),
        ("add", ["0x12"], "Request contains an invalid account"),
        ("add", ["aa" * 20], "Request contains an invalid account"),  # Besu requires the 0x
        ("add", [None], "Request contains an invalid account"),
        ("add", [_hex(C), _hex(C).upper().replace("0X", "0x")], "Request contains duplicate accounts"),
        ("add", [_hex(C), _hex(A)], "Cannot add an existing account to allowlist"),
        ("remove", [_hex(A), _hex(C)], "Cannot remove an absent account from allowlist"),
        ("remove", [], "Request contains an empty list of accounts"),
    ],
)
def test_besus_refusals_change_nothing(toml: Path, op: str, entries: list[object], message: str) -> None:
    local = LocalAccountsAllowlist(toml)
    before = toml.read_bytes()
    with pytest.raises(AllowlistEditError) as refused:
        getattr(local, op)(entries)
    assert str(refused.value) == message
    assert error_object(refused.value) == {"code": -32000, "message": message}
    assert local.accounts == (A, B)
    assert toml.read_bytes() == before


def test_an_edited_file_is_picked_up_and_a_bad_one_keeps_the_previous_list(toml: Path) -> None:
    local = LocalAccountsAllowlist(toml, interval_s=0)
    assert not local.contains(C)
    _write(toml, f'accounts-allowlist = ["{_hex(C)}"]\n')
    assert local.contains(C)
    assert not local.contains(A)
    _write(toml, "accounts-allowlist = [\n")  # half-written
    assert local.contains(C)
    assert local.accounts == (C,)
    with pytest.raises(ConfigError):
        local.reload()
    # An add against a file changed behind the node edits what is on disk.
    _write(toml, f'accounts-allowlist = ["{_hex(B)}"]\n')
    local.add([_hex(A)])
    assert load_accounts_allowlist(toml) == (B, A)


def test_account_permissions_refuse_unlisted_senders_with_minus_32007(toml: Path) -> None:
    gate = AccountPermissions(LocalAccountsAllowlist(toml), None)
    gate.check(A, creates=True)
    with pytest.raises(SenderNotAuthorized) as refused:
        gate.check(C, creates=False)
    assert str(toml) in refused.value.reason
    assert error_object(refused.value)["code"] == -32007
    assert gate.local_problem(A) is None
    assert gate.local_problem(C) == refused.value.reason
    # perm_* answers when the list is off: Besu's words.
    off = AccountPermissions(None, None)
    assert not off.active
    off.check(C, creates=True)
    with pytest.raises(AllowlistEditError, match=r"^Account allowlist has not been enabled$"):
        off.local_accounts()
    with pytest.raises(AllowlistEditError, match=r"^Node/Account allowlist has not been enabled$"):
        off.reload_local()
    _write(toml, "not toml [")
    with pytest.raises(AllowlistEditError, match=r"^Error reloading permissions file"):
        gate.reload_local()
    assert gate.local_accounts() == (A, B)


def test_the_flags_choose_the_file_and_a_missing_file_stops_the_node(tmp_path: Path) -> None:
    spec = load_genesis(None)
    off = open_account_permissions(NodeConfig(data_path=tmp_path), spec, lambda: None)
    assert not off.active  # the dev chain: no local list, no chain list
    enabled = NodeConfig(data_path=tmp_path, permissions_accounts_config_file_enabled=True)
    with pytest.raises(ConfigError, match=f"not found: {tmp_path / permissions.DEFAULT_FILE_NAME}"):
        open_account_permissions(enabled, spec, lambda: None)
    _write(tmp_path / permissions.DEFAULT_FILE_NAME, f'accounts-allowlist = ["{_hex(A)}"]\n')
    gate = open_account_permissions(enabled, spec, lambda: None)
    assert gate.local is not None
    assert gate.local_accounts() == (A,)


def test_the_local_list_filters_blocks_this_node_builds_never_blocks_it_validates(
    toml: Path, tmp_path: Path
) -> None:
    spec = load_genesis(None)
    key = dev_accounts()[1].private_key
    signed = Account.sign_transaction(
        {
            "chainId": spec.chain_id,
            "nonce": 0,
            "to": "0x" + "42" * 20,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 1,
            "type": 2,
        },
        key,
    )
    tx = PragueTransactionBuilder.decode(bytes(signed.raw_transaction))
    extra = encode_extra_data(QbftExtraData(b"\x00" * 32, spec.validators, None, 0, ()))
    gate = AccountPermissions(LocalAccountsAllowlist(toml), None)
    db = LevelDB(tmp_path / "db")
    try:
        here, other = Executor(db, spec), Executor(db, spec)
        here.local_sender_filter = gate.local_problem
        head = here.head
        built = here.build_block(head.hash, head.timestamp + 1, spec.validators[0], extra, [tx])
        assert built.block.transactions == ()
        assert built.skipped == [(bytes(tx.hash), gate.local_problem(bytes(tx.sender)))]
        # A block another node built with that sender is valid here: the file is not chain state.
        from_peer = other.build_block(head.hash, head.timestamp + 2, spec.validators[0], extra, [tx])
        assert len(from_peer.block.transactions) == 1
        here._pending.clear()
        assert here.validate_block(rlp.encode(from_peer.block)).number == 1
    finally:
        db.close()
