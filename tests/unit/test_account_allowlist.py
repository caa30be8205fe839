"""Issue 13's on-chain account allowlist (contracts/AccountAllowlist.sol, config.jsc.accountsAllowlist)
on a real LevelDB with py-evm: the contract and jsc_node/governance/accounts.py read the same
storage; a block holding a transaction from a sender not allowed at its parent's state (or a
contract creation by a sender without the create permission) is invalid for validate_block and
`jsc-node import`, whoever built it; build_block leaves such transactions out; the pool refuses
them with Besu's -32007.

The 4 validators are the list's admins; dev account 4 is listed at genesis, 5 never, 6 is added
by an admin's transaction. Creation is restricted. A "rogue" executor on the same database runs
the same genesis with the rule switched off: the proposer that ignores the list."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_abi import decode
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node import verify
from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.config import NodeConfig
from jsc_node.consensus.block import decode_block, private_key, sign_commit_seal
from jsc_node.devtools import dev_accounts, make_genesis
from jsc_node.errors import ExecutionReverted, ImportFailed, InvalidBlock, SenderNotAuthorized
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import GenesisSpec, load_genesis, parse_genesis
from jsc_node.governance import accounts
from jsc_node.governance.accounts import ALLOWLIST_ADDRESS
from jsc_node.importer import import_files
from jsc_node.rpc.codes import error_object
from jsc_node.state.evm.executor import Executor
from jsc_node.views import BlockId, CallRequest
from tests.unit.registry_harness import calldata, error_data
from tests.unit.test_vote_rule import _Served

REPO = Path(__file__).resolve().parents[2]
KEYS = [a.private_key for a in dev_accounts()]
ADDRESSES = [bytes.fromhex(a.address[2:]) for a in dev_accounts()]
VALIDATORS = tuple(sorted(ADDRESSES[:4]))
VALIDATOR_KEYS = sorted(KEYS[:4], key=lambda k: bytes.fromhex(Account.from_key(k).address[2:]))
ADMIN = ADDRESSES.index(VALIDATORS[0])  # key index of an admin (every validator is one)
LISTED, OUTSIDER, LATER = 4, 5, 6
RECIPIENT = b"\x42" * 20
INIT_CODE = bytes.fromhex("600160005260206000f3")  # a contract whose code is 0x...01 (32 bytes)
EXTRA = encode_extra_data(QbftExtraData(b"\x00" * 32, VALIDATORS, None, 0, ()))


def _hex(address: bytes) -> str:
    return "0x" + address.hex()


def _not_listed(index: int) -> str:
    return f"sender {_hex(ADDRESSES[index])} is not on the chain's account allowlist"


def _no_create(index: int) -> str:
    return (
        f"sender {_hex(ADDRESSES[index])} may not create contracts "
        "(the chain's account allowlist restricts creation)"
    )


def _sealed(block: Any) -> bytes:
    view = decode_block(rlp.encode(block))
    return view.with_seals([sign_commit_seal(private_key(k), view) for k in VALIDATOR_KEYS[:3]]).encode()


@dataclass
class Chain:
    spec: GenesisSpec
    db: Any
    executor: Executor
    rogue: Executor
    """The same database and genesis with the allowlist rule switched off."""
    pool: Any
    backend: Any
    tmp: Path
    committed: list[bytes] = field(default_factory=list)
    nonces: dict[int, int] = field(default_factory=dict)

    def tx(self, key: int, *, to: bytes | None = RECIPIENT, data: bytes = b"") -> Any:
        return PragueTransactionBuilder.decode(self.raw(key, to=to, data=data))

    def raw(self, key: int, *, to: bytes | None = RECIPIENT, data: bytes = b"") -> bytes:
        nonce = self.nonces.get(key, 0)
        self.nonces[key] = nonce + 1
        fields: dict[str, Any] = {
            "chainId": self.spec.chain_id,
            "nonce": nonce,
            "value": 1 if to == RECIPIENT else 0,
            "gas": 1_000_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 1,
            "type": 2,
            "data": data,
        }
        if to is not None:
            fields["to"] = to_checksum_address(to)
        return bytes(Account.sign_transaction(fields, KEYS[key]).raw_transaction)

    def admin_tx(self, signature: str, *args: Any) -> Any:
        return self.tx(ADMIN, to=ALLOWLIST_ADDRESS, data=calldata(signature, *args))

    def build(self, txs: list[Any], *, rogue: bool = False) -> Any:
        executor = self.rogue if rogue else self.executor
        head = self.executor.head
        return executor.build_block(head.hash, head.timestamp + 1, VALIDATORS[0], EXTRA, txs)

    def commit(self, txs: list[Any]) -> Any:
        built = self.build(txs)
        assert not built.skipped, built.skipped
        assert all(r.state_root == b"\x01" for r in built.receipts), "a transaction failed"
        sealed = _sealed(built.block)
        self.executor.commit_block(sealed)
        self.backend.publish_head()
        self.committed.append(sealed)
        return built

    def rogue_block(self, txs: list[Any]) -> bytes:
        built = self.build(txs, rogue=True)
        assert not built.skipped, built.skipped
        return _sealed(built.block)

    def import_with(self, block: bytes | None, name: str) -> Any:
        path = self.tmp / f"{name}.rlp"
        path.write_bytes(b"".join(self.committed) + (block or b""))
        return import_files(self.tmp / f"import-{name}", self.spec, [path])

    def view(self, signature: str, returns: str, *args: Any, sender: bytes | None = None) -> Any:
        request = CallRequest(sender=sender, to=ALLOWLIST_ADDRESS, input=calldata(signature, *args))
        result = asyncio.run(self.backend.call(request, BlockId(tag="latest"), None))
        return decode([returns], result)[0]

    def storage(self) -> accounts.StorageRead:
        state = self.executor.state_at(self.executor.head)
        return lambda slot: int(state.get_storage(ALLOWLIST_ADDRESS, slot))


def _genesis() -> GenesisSpec:
    doc = make_genesis(
        [_hex(v) for v in VALIDATORS],
        block_period_s=1,
        accounts_allowlist=True,
        allowlist_accounts=[_hex(ADDRESSES[LISTED])],
        restrict_create=True,
    )
    return parse_genesis(doc)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    spec = _genesis()
    data = tmp_path / "data"
    data.mkdir()
    db, executor, pool, backend = open_node_state(NodeConfig(data_path=data), spec)
    assert spec.jsc is not None
    open_spec = dataclasses.replace(spec, jsc=dataclasses.replace(spec.jsc, accounts_allowlist=None))
    yield Chain(spec, db, executor, Executor(db, open_spec), pool, backend, tmp_path)
    pool.close()
    db.close()


def test_packaged_artifact_is_the_build_and_the_dev_chain_is_open() -> None:
    build = json.loads((REPO / "contracts" / "build" / "AccountAllowlist.json").read_text())
    # After `make contracts`: cp contracts/build/AccountAllowlist.json jsc_node/data/
    assert accounts.artifact() == build, "jsc_node/data/AccountAllowlist.json is not the build"
    dev = load_genesis(None)
    assert dev.jsc is not None
    assert dev.jsc.accounts_allowlist is None
    assert ALLOWLIST_ADDRESS not in dev.alloc
    spec = _genesis()
    assert spec.jsc is not None
    assert (
        spec.jsc.accounts_allowlist
        == ALLOWLIST_ADDRESS
        == bytes.fromhex("000000000000000000000000000000004a534341")
    )
    assert spec.alloc[ALLOWLIST_ADDRESS].code == bytes.fromhex(build["deployedBytecode"][2:])


def test_genesis_storage_reads_the_same_through_the_contract_and_python(chain: Chain) -> None:
    read = chain.storage()
    assert chain.view("getAdmins()", "address[]") == tuple(_hex(v) for v in VALIDATORS)
    assert accounts.read_admins(read) == VALIDATORS
    assert chain.view("getAccounts()", "address[]") == (_hex(ADDRESSES[LISTED]),)
    assert accounts.read_accounts(read) == (ADDRESSES[LISTED],)
    assert chain.view("createRestricted()", "bool") is True
    assert accounts.create_restricted(read)
    for index, allowed, creates in [(ADMIN, True, True), (LISTED, True, False), (OUTSIDER, False, False)]:
        address = ADDRESSES[index]
        assert chain.view("isAllowed(address)", "bool", address) is allowed
        assert accounts.is_allowed(read, address) is allowed
        assert chain.view("canCreate(address)", "bool", address) is creates
        assert accounts.can_create(read, address) is creates
        assert chain.view("rolesOf(address)", "uint256", address) == accounts.read_roles(read, address)


def test_build_leaves_out_senders_the_chain_does_not_allow(chain: Chain) -> None:
    outsider, listed, creation = (
        chain.tx(OUTSIDER),
        chain.tx(LISTED),
        chain.tx(LISTED, to=None, data=INIT_CODE),
    )
    admin_creation = chain.tx(ADMIN, to=None, data=INIT_CODE)
    built = chain.build([outsider, listed, creation, admin_creation])
    assert [bytes(t.hash) for t in built.block.transactions] == [
        bytes(listed.hash),
        bytes(admin_creation.hash),
    ]
    assert built.skipped == [
        (bytes(outsider.hash), _not_listed(OUTSIDER)),
        (bytes(creation.hash), _no_create(LISTED)),
    ]


@pytest.mark.parametrize("case", ["outsider", "creation"])
def test_a_block_from_a_proposer_ignoring_the_list_is_invalid_for_validate_and_import(
    chain: Chain, case: str
) -> None:
    chain.commit([chain.tx(LISTED)])  # block 1, so the bad block is not the first
    first = chain.tx(LISTED)
    if case == "outsider":
        bad, reason = chain.tx(OUTSIDER), _not_listed(OUTSIDER)
    else:
        bad, reason = chain.tx(LISTED, to=None, data=INIT_CODE), _no_create(LISTED)
    block2 = chain.rogue_block([first, bad])
    expected = f"block 2: transaction 1 0x{bytes(bad.hash).hex()}: {reason}"
    with pytest.raises(InvalidBlock) as refused:
        chain.executor.validate_block(block2)
    assert str(refused.value) == expected
    with pytest.raises(ImportFailed) as failed:
        chain.import_with(block2, case)
    assert failed.value.number == 2
    assert expected in str(failed.value)
    # `jsc-node verify` replaying from genesis reaches the same verdict.
    report = verify.verify_chain(
        _Served(chain.tmp / f"import-{case}", [*chain.committed, block2]), chain.spec
    )
    assert report.summary_line() == "verify: 1 blocks verified, 1 violations"
    (violation,) = report.violations
    assert (violation.number, violation.check, violation.reason) == (2, "block", expected)
    # The same chain without the bad block imports: the refusal is that transaction's.
    assert chain.import_with(None, f"{case}-good").imported == 1


def test_an_added_account_may_send_from_the_next_block_on_and_a_removed_one_may_not(chain: Chain) -> None:
    later = ADDRESSES[LATER]
    add = chain.admin_tx("addAccounts(address[])", [later])
    # In the block that adds it, the parent's state decides: not yet allowed.
    same_block = chain.rogue_block([add, chain.tx(LATER)])
    with pytest.raises(InvalidBlock, match=_not_listed(LATER)):
        chain.executor.validate_block(same_block)
    chain.nonces[LATER] = 0
    built = chain.commit([add])  # block 1
    assert [log.topics[0] for log in built.receipts[0].logs] == [
        int.from_bytes(_topic("AccountAdded(address,address)"), "big")
    ]
    assert accounts.is_allowed(chain.storage(), later)
    chain.commit([chain.tx(LATER)])  # block 2: allowed at its parent
    assert chain.import_with(None, "added").imported == 2

    chain.commit([chain.admin_tx("removeAccounts(address[])", [later])])  # block 3
    assert not accounts.is_allowed(chain.storage(), later)
    stopped = chain.tx(LATER)
    assert chain.build([stopped]).skipped == [(bytes(stopped.hash), _not_listed(LATER))]
    with pytest.raises(InvalidBlock, match=_not_listed(LATER)):
        chain.executor.validate_block(chain.rogue_block([stopped]))


def test_the_create_permission_and_restriction_are_admin_changes(chain: Chain) -> None:
    listed = ADDRESSES[LISTED]
    chain.commit([chain.admin_tx("setCreatePermission(address[],bool)", [listed], True)])
    assert accounts.can_create(chain.storage(), listed)
    chain.commit([chain.tx(LISTED, to=None, data=INIT_CODE)])
    chain.commit([chain.admin_tx("setCreatePermission(address[],bool)", [listed], False)])
    chain.commit([chain.admin_tx("setCreateRestricted(bool)", False)])
    assert not accounts.create_restricted(chain.storage())
    chain.commit([chain.tx(LISTED, to=None, data=INIT_CODE)])  # anyone listed may create now
    assert chain.import_with(None, "create").imported == 5


def test_admin_rules_revert_with_the_contracts_errors(chain: Chain) -> None:
    outsider, listed = ADDRESSES[OUTSIDER], ADDRESSES[LISTED]

    def reverted(signature: str, *args: Any, sender: bytes) -> bytes:
        with pytest.raises(ExecutionReverted) as info:
            chain.view(signature, "bool", *args, sender=sender)
        return info.value.data

    add = "addAccounts(address[])"
    assert reverted(add, [outsider], sender=listed) == error_data("NotAdmin(address)", listed)
    assert reverted(add, [], sender=VALIDATORS[0]) == error_data("EmptyList()")
    assert reverted(add, [listed], sender=VALIDATORS[0]) == error_data("AlreadyAllowed(address)", listed)
    assert reverted(add, [outsider, outsider], sender=VALIDATORS[0]) == error_data(
        "AlreadyAllowed(address)", outsider
    )
    assert reverted("removeAccounts(address[])", [outsider], sender=VALIDATORS[0]) == error_data(
        "NotListed(address)", outsider
    )
    # Admins remove each other down to one; the last cannot go, so the list keeps an admin.
    chain.commit([chain.admin_tx("removeAdmin(address)", v) for v in VALIDATORS[1:]])
    assert accounts.read_admins(chain.storage()) == (VALIDATORS[0],)
    assert reverted("removeAdmin(address)", VALIDATORS[0], sender=VALIDATORS[0]) == error_data(
        "LastAdmin(address)", VALIDATORS[0]
    )
    # A removed admin is no longer allowed to transact (it was never on the accounts list).
    assert not accounts.is_allowed(chain.storage(), VALIDATORS[1])


def test_the_pool_refuses_senders_the_chain_does_not_allow_with_besus_code(chain: Chain) -> None:
    with pytest.raises(SenderNotAuthorized) as refused:
        chain.pool.add(chain.raw(OUTSIDER))
    assert refused.value.reason == _not_listed(OUTSIDER)
    assert error_object(refused.value) == {
        "code": -32007,
        "message": "Sender account not authorized to send transactions",
    }
    # From peers (remote_txs: add_batch): refused, not pooled, so never gossiped on.
    creation = chain.raw(LISTED, to=None, data=INIT_CODE)
    chain.nonces[LISTED] = 0  # the refused creation used no nonce
    results = chain.pool.add_batch([chain.raw(OUTSIDER), creation, chain.raw(LISTED)])
    assert [type(r).__name__ for r in results] == ["SenderNotAuthorized", "SenderNotAuthorized", "bytes"]
    assert chain.pool.pending_count() == 1


def test_transaction_problem_is_pure_over_a_storage_dict() -> None:
    admin, listed, creator, nobody = (bytes([i]) * 20 for i in (1, 2, 3, 4))
    storage = accounts.genesis_storage([admin], [listed, creator], restrict_create=True)
    storage[accounts.roles_slot(creator)] |= accounts.CREATE
    read = lambda slot: storage.get(slot, 0)  # noqa: E731
    assert accounts.transaction_problem(read, admin, creates=True) is None
    assert accounts.transaction_problem(read, listed, creates=False) is None
    assert "may not create contracts" in str(accounts.transaction_problem(read, listed, creates=True))
    assert accounts.transaction_problem(read, creator, creates=True) is None
    assert "not on the chain's account allowlist" in str(
        accounts.transaction_problem(read, nobody, creates=False)
    )
    unrestricted = accounts.genesis_storage([admin], [listed])
    assert accounts.transaction_problem(lambda s: unrestricted.get(s, 0), listed, creates=True) is None
    with pytest.raises(ValueError, match="at least one admin"):
        accounts.genesis_storage([], [listed])


def _topic(signature: str) -> bytes:
    from eth_hash.auto import keccak

    return keccak(signature.encode())


def test_genesis_new_writes_the_allowlist_only_when_asked(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jsc_node.cli import app

    listed = _hex(ADDRESSES[LISTED])
    args = ["genesis", "new", "--validators", "2", "--out"]
    result = CliRunner().invoke(
        app, [*args, str(tmp_path / "on"), "--accounts-allowlist", "--allowlist-accounts", listed]
    )
    assert result.exit_code == 0, result.output
    spec = load_genesis(tmp_path / "on" / "genesis.json")
    assert spec.jsc is not None
    assert spec.jsc.accounts_allowlist == ALLOWLIST_ADDRESS
    storage = spec.alloc[ALLOWLIST_ADDRESS].storage
    read = lambda slot: storage.get(slot, 0)  # noqa: E731
    assert sorted(accounts.read_admins(read)) == sorted(spec.validators)
    assert accounts.read_accounts(read) == (ADDRESSES[LISTED],)
    assert not accounts.create_restricted(read)
    assert all(spec.alloc[v].balance > 0 for v in spec.validators)  # admins can pay for their txs

    result = CliRunner().invoke(app, [*args, str(tmp_path / "off")])
    assert result.exit_code == 0, result.output
    off = load_genesis(tmp_path / "off" / "genesis.json")
    assert off.jsc is not None
    assert off.jsc.accounts_allowlist is None
    assert ALLOWLIST_ADDRESS not in off.alloc


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ("no-code", "config.jsc.accountsAllowlist", "alloc holds no contract code at 0x0000"),
        ("no-admin", "alloc.0x000000000000000000000000000000004a534341.storage", "has no admin"),
        ("bad-address", "config.jsc.accountsAllowlist", ""),
    ],
)
def test_a_genesis_with_a_broken_allowlist_is_refused(change: str, field: str, problem: str) -> None:
    from jsc_node.errors import GenesisError

    doc = make_genesis([_hex(v) for v in VALIDATORS], accounts_allowlist=True)
    key = ALLOWLIST_ADDRESS.hex()
    if change == "no-code":
        del doc["alloc"][key]
    elif change == "no-admin":
        doc["alloc"][key]["storage"] = {}
    else:
        doc["config"]["jsc"]["accountsAllowlist"] = "0x1234"
    with pytest.raises(GenesisError) as refused:
        parse_genesis(doc)
    assert refused.value.field == field
    assert problem in str(refused.value)


def test_the_pool_drops_a_sender_the_chain_stops_allowing(chain: Chain) -> None:
    listed = ADDRESSES[LISTED]
    chain.pool.add(chain.raw(LISTED))
    assert chain.pool.pending_count() == 1
    chain.commit([chain.admin_tx("removeAccounts(address[])", [listed])])
    head = chain.executor.head
    # A head naming the sender (or the full recheck every 32 blocks) re-checks its transactions.
    chain.pool.on_new_head(head.gas_limit, chain.backend.next_base_fee(head), [], [listed])
    assert chain.pool.pending_count() == 0
