"""Issue 13's on-chain node allowlist (contracts/NodeAllowlist.sol, config.jsc.nodesAllowlist) and the
local nodes file's perm_*Nodes*, on a real LevelDB with py-evm: the contract and
jsc_node/governance/nodes.py read the same storage; the execution side's ChainNodesAllowlist sees a
change after an admin's transaction is committed and nothing after other blocks; the p2p admission
set admits a peer the chain lists besides the validators and the file, and stops when it is
removed; perm_*Nodes* edit the file with Besu's refusals in Besu's order and change nothing then.

The 4 validators are the list's admins and are listed; node N (a key of its own) is added by an
admin's transaction, then removed."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_abi import decode
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node.config import NodeConfig
from jsc_node.consensus.block import address_of, private_key
from jsc_node.devtools import make_genesis
from jsc_node.errors import AllowlistEditError, ConfigError, ExecutionReverted, GenesisError
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import GenesisSpec, load_genesis, parse_genesis
from jsc_node.governance import nodes
from jsc_node.governance.nodes import NODES_ALLOWLIST_ADDRESS
from jsc_node.p2p.host import PeerAllowlist, address_of_peer, peer_id_of
from jsc_node.p2p.permissions import ChainNodes, load_nodes_allowlist
from jsc_node.rpc.codes import error_object
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.seam.codec import decode_server_frame, encode_event
from jsc_node.seam.messages import EVENTS, NodesAllowlistChanged
from jsc_node.state.permissions import ChainNodesAllowlist, open_chain_nodes, peer_id_of_node_entry
from jsc_node.views import BlockId, CallRequest
from tests.unit.registry_harness import calldata, error_data
from tests.unit.test_account_allowlist import ADDRESSES, ADMIN, EXTRA, KEYS, RECIPIENT, VALIDATORS, _sealed

REPO = Path(__file__).resolve().parents[2]
NODE_SECRET = b"\x07" * 32
NODE = address_of(private_key(NODE_SECRET))
NODE_PEER = peer_id_of(NODE_SECRET)
OTHER_PEER = peer_id_of(b"\x08" * 32)
OUTSIDER = 5


def _hex(address: bytes) -> str:
    return "0x" + address.hex()


@dataclass
class Chain:
    spec: GenesisSpec
    db: Any
    executor: Any
    pool: Any
    backend: Any
    watch: ChainNodesAllowlist
    nonces: dict[int, int] = field(default_factory=dict)

    def tx(self, key: int, *, to: bytes = RECIPIENT, data: bytes = b"") -> Any:
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
            "to": to_checksum_address(to),
        }
        return PragueTransactionBuilder.decode(
            bytes(Account.sign_transaction(fields, KEYS[key]).raw_transaction)
        )

    def admin_tx(self, signature: str, *args: Any, key: int = ADMIN) -> Any:
        return self.tx(key, to=NODES_ALLOWLIST_ADDRESS, data=calldata(signature, *args))

    def commit(self, txs: list[Any]) -> Any:
        head = self.executor.head
        built = self.executor.build_block(head.hash, head.timestamp + 1, VALIDATORS[0], EXTRA, txs)
        assert not built.skipped, built.skipped
        assert all(r.state_root == b"\x01" for r in built.receipts), "a transaction failed"
        self.executor.commit_block(_sealed(built.block))
        self.backend.publish_head()
        return built

    def view(self, signature: str, returns: str, *args: Any, sender: bytes | None = None) -> Any:
        request = CallRequest(sender=sender, to=NODES_ALLOWLIST_ADDRESS, input=calldata(signature, *args))
        result = asyncio.run(self.backend.call(request, BlockId(tag="latest"), None))
        return decode([returns], result)[0]

    def storage(self) -> nodes.StorageRead:
        state = self.executor.state_at(self.executor.head)
        return lambda slot: int(state.get_storage(NODES_ALLOWLIST_ADDRESS, slot))


def _genesis() -> GenesisSpec:
    return parse_genesis(make_genesis([_hex(v) for v in VALIDATORS], block_period_s=1, nodes_allowlist=True))


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    spec = _genesis()
    db, executor, pool, backend = open_node_state(NodeConfig(data_path=tmp_path), spec)
    watch = open_chain_nodes(spec, executor.account_storage_root, executor.state_at)
    assert watch is not None
    yield Chain(spec, db, executor, pool, backend, watch)
    pool.close()
    db.close()


def test_packaged_artifact_is_the_build_and_the_dev_chain_has_no_node_list() -> None:
    build = json.loads((REPO / "contracts" / "build" / "NodeAllowlist.json").read_text())
    # After `make contracts`: cp contracts/build/NodeAllowlist.json jsc_node/data/
    assert nodes.artifact() == build, "jsc_node/data/NodeAllowlist.json is not the build"
    dev = load_genesis(None)
    assert dev.jsc is not None
    assert dev.jsc.nodes_allowlist is None
    assert open_chain_nodes(dev, lambda h, a: b"", lambda h: None) is None
    spec = _genesis()
    assert spec.jsc is not None
    assert spec.jsc.nodes_allowlist == NODES_ALLOWLIST_ADDRESS == bytes.fromhex("00" * 16 + "4a53434e")
    assert spec.alloc[NODES_ALLOWLIST_ADDRESS].code == bytes.fromhex(build["deployedBytecode"][2:])
    assert spec.jsc.accounts_allowlist is None  # each list is switched on by itself


def test_genesis_storage_reads_the_same_through_the_contract_and_python(chain: Chain) -> None:
    read = chain.storage()
    assert chain.view("getAdmins()", "address[]") == tuple(_hex(v) for v in VALIDATORS)
    assert nodes.read_admins(read) == VALIDATORS
    assert chain.view("getNodes()", "address[]") == tuple(_hex(v) for v in VALIDATORS)
    assert nodes.read_nodes(read) == VALIDATORS
    assert chain.watch.at_head(chain.executor.head) == VALIDATORS
    for address, listed in [(VALIDATORS[1], True), (NODE, False)]:
        assert chain.view("isAllowed(address)", "bool", address) is listed
        assert nodes.is_allowed(read, address) is listed
    assert chain.view("isAdmin(address)", "bool", VALIDATORS[2]) is True
    assert nodes.is_admin(read, VALIDATORS[2])
    assert not nodes.is_admin(read, NODE)


def test_an_admins_transactions_change_the_list_the_execution_side_pushes(chain: Chain) -> None:
    chain.watch.at_head(chain.executor.head)
    chain.commit([chain.tx(ADMIN)])  # a block that leaves the contract alone: nothing to push
    assert chain.watch.changed(chain.executor.head) is None
    chain.commit([chain.admin_tx("addNodes(address[])", [NODE])])
    assert chain.watch.changed(chain.executor.head) == (*VALIDATORS, NODE)
    assert chain.watch.changed(chain.executor.head) is None  # told once
    assert chain.view("isAllowed(address)", "bool", NODE) is True
    chain.commit([chain.admin_tx("removeNodes(address[])", [VALIDATORS[0]])])
    # Removal moves the last into the gap, as the contract's comment says.
    assert chain.watch.changed(chain.executor.head) == (NODE, *VALIDATORS[1:])
    assert not nodes.is_allowed(chain.storage(), VALIDATORS[0])


def test_the_contract_refuses_what_its_rules_forbid(chain: Chain) -> None:
    def refused(signature: str, args: list[Any], sender: bytes) -> bytes:
        request = CallRequest(sender=sender, to=NODES_ALLOWLIST_ADDRESS, input=calldata(signature, *args))
        with pytest.raises(ExecutionReverted) as error:
            asyncio.run(chain.backend.call(request, BlockId(tag="latest"), None))
        return bytes(error.value.data)

    admin, outsider = ADDRESSES[ADMIN], ADDRESSES[OUTSIDER]
    assert refused("addNodes(address[])", [[NODE]], outsider) == error_data("NotAdmin(address)", outsider)
    assert refused("addNodes(address[])", [[]], admin) == error_data("EmptyList()")
    assert refused("addNodes(address[])", [[b"\x00" * 20]], admin) == error_data("ZeroAddress()")
    assert refused("addNodes(address[])", [[NODE, NODE]], admin) == error_data("AlreadyListed(address)", NODE)
    assert refused("removeNodes(address[])", [[NODE]], admin) == error_data("NotListed(address)", NODE)
    assert refused("removeAdmin(address)", [NODE], admin) == error_data("NotAnAdmin(address)", NODE)
    for validator in VALIDATORS[1:]:
        chain.commit([chain.admin_tx("removeAdmin(address)", validator)])
    assert nodes.read_admins(chain.storage()) == (VALIDATORS[0],)
    assert refused("removeAdmin(address)", [VALIDATORS[0]], VALIDATORS[0]) == error_data(
        "LastAdmin(address)", VALIDATORS[0]
    )


def test_genesis_new_writes_the_node_list_only_when_asked(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jsc_node.cli import app

    args = ["genesis", "new", "--validators", "2", "--out"]
    result = CliRunner().invoke(
        app, [*args, str(tmp_path / "on"), "--nodes-allowlist", "--allowlist-nodes", _hex(NODE)]
    )
    assert result.exit_code == 0, result.output
    spec = load_genesis(tmp_path / "on" / "genesis.json")
    assert spec.jsc is not None
    assert spec.jsc.nodes_allowlist == NODES_ALLOWLIST_ADDRESS
    storage = spec.alloc[NODES_ALLOWLIST_ADDRESS].storage
    read = lambda slot: storage.get(slot, 0)  # noqa: E731
    assert sorted(nodes.read_admins(read)) == sorted(spec.validators)
    assert sorted(nodes.read_nodes(read)) == sorted([*spec.validators, NODE])
    assert all(spec.alloc[v].balance > 0 for v in spec.validators)  # admins can pay for their txs

    result = CliRunner().invoke(app, [*args, str(tmp_path / "off")])
    assert result.exit_code == 0, result.output
    off = load_genesis(tmp_path / "off" / "genesis.json")
    assert off.jsc is not None
    assert off.jsc.nodes_allowlist is None
    assert NODES_ALLOWLIST_ADDRESS not in off.alloc
    refused = CliRunner().invoke(app, [*args, str(tmp_path / "bad"), "--allowlist-nodes", _hex(NODE)])
    assert refused.exit_code != 0
    assert "--allowlist-nodes needs --nodes-allowlist" in refused.output


@pytest.mark.parametrize(
    ("change", "where", "problem"),
    [
        ("no-code", "config.jsc.nodesAllowlist", "alloc holds no contract code at 0x0000"),
        ("no-admin", "alloc.0x000000000000000000000000000000004a53434e.storage", "has no admin"),
        ("registry", "config.jsc.nodesAllowlist", "another config.jsc contract"),
        ("bad-address", "config.jsc.nodesAllowlist", ""),
    ],
)
def test_a_genesis_with_a_broken_node_list_is_refused(change: str, where: str, problem: str) -> None:
    doc = make_genesis([_hex(v) for v in VALIDATORS], nodes_allowlist=True)
    key = NODES_ALLOWLIST_ADDRESS.hex()
    if change == "no-code":
        del doc["alloc"][key]
    elif change == "no-admin":
        doc["alloc"][key]["storage"] = {}
    elif change == "registry":
        doc["config"]["jsc"]["nodesAllowlist"] = doc["config"]["jsc"]["registry"]
    else:
        doc["config"]["jsc"]["nodesAllowlist"] = "0x1234"
    with pytest.raises(GenesisError) as refused:
        parse_genesis(doc)
    assert refused.value.field == where
    assert problem in str(refused.value)


# --- the seam event and the p2p admission set ---------------------------------------------------


def test_the_seam_event_crosses_as_hex_addresses() -> None:
    event = NodesAllowlistChanged((NODE, VALIDATORS[0]))
    assert EVENTS["nodes_allowlist_changed"] is NodesAllowlistChanged
    frame = encode_event(event)
    assert json.loads(frame[4:])["params"] == {"nodes": [_hex(NODE), _hex(VALIDATORS[0])]}
    assert decode_server_frame(frame[4:]) == event


def test_admission_is_validators_or_the_file_or_the_chains_list() -> None:
    validator_peer = peer_id_of(b"\x09" * 32)
    allowlist = PeerAllowlist([address_of_peer(validator_peer)], [OTHER_PEER])
    assert allowlist.allows(validator_peer)
    assert allowlist.allows(OTHER_PEER)
    assert not allowlist.allows(NODE_PEER)
    allowlist.set_chain_nodes([NODE])
    assert allowlist.allows(NODE_PEER)  # by the address its peer ID inlines
    assert allowlist.allows(validator_peer)
    assert allowlist.allows(OTHER_PEER)
    allowlist.set_chain_nodes([])
    assert not allowlist.allows(NODE_PEER)
    allowlist.set_extra_peers([NODE_PEER])  # the file alone admits it too
    assert allowlist.allows(NODE_PEER)


def test_chain_nodes_applies_the_latest_push_in_order() -> None:
    applied: list[tuple[bytes, ...]] = []

    class Sink:
        async def set_chain_nodes(self, addresses: Any) -> None:
            applied.append(tuple(addresses))
            await trio.sleep(0.05)  # a push while this one is applied waits for it

    async def main() -> None:
        relay = ChainNodes()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay.run, Sink())
            relay.push([NODE])
            await trio.sleep(0.01)
            relay.push([VALIDATORS[0]])
            relay.push([VALIDATORS[1]])  # supersedes the one before, not yet applied
            with trio.fail_after(2):
                while len(applied) < 2:
                    await trio.sleep(0.01)
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert applied == [(NODE,), (VALIDATORS[1],)]


# --- perm_*Nodes* on the local file ------------------------------------------------------------


def test_peer_ids_are_checked_without_libp2p_as_the_p2p_loader_does(tmp_path: Path) -> None:
    peer = str(NODE_PEER)
    for entry in (peer, f" /ip4/10.0.0.5/tcp/30303/p2p/{peer} ", f"/dns4/rpc.example/tcp/1/p2p/{peer}"):
        assert peer_id_of_node_entry(entry) == peer
    qm_rsa = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"  # a sha256 multihash: key not inlined
    bad = [
        "",
        "16Uiu2nope",
        peer[:-1],
        peer + "1",
        "0O" + peer[2:],
        qm_rsa,
        f"/ip4/1.2.3.4/tcp/1/{peer}",
        7,
        None,
    ]
    for entry in bad:
        assert peer_id_of_node_entry(entry) is None, entry
        path = tmp_path / "n.toml"
        path.write_text(f"nodes-allowlist = [{json.dumps(entry)}]\n" if entry is not None else "x = 1\n")
        with pytest.raises(ConfigError):
            load_nodes_allowlist(path)  # the consensus process refuses the same entries


def _dispatch(backend: Any, method: str, *params: Any) -> Any:
    dispatcher = Dispatcher(backend, apis=["PERM"])
    return asyncio.run(
        dispatcher.handle_payload({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    )


def test_perm_nodes_methods_edit_the_file_with_besus_refusals(tmp_path: Path, chain: Chain) -> None:
    path = tmp_path / "permissions_config.toml"
    boot = f"/ip4/127.0.0.1/tcp/30303/p2p/{OTHER_PEER}"
    path.write_text(f'# notes\naccounts-allowlist = ["0x{"aa" * 20}"]\nnodes-allowlist = ["{boot}"]\n')
    config = NodeConfig(data_path=tmp_path / "node", permissions_nodes_config_file=path, bootnodes=[boot])
    (tmp_path / "node").mkdir()
    db, _, pool, backend = open_node_state(config, chain.spec)

    def call(method: str, *params: Any) -> Any:
        answer = _dispatch(backend, method, *params)
        return answer.get("result", answer.get("error"))

    peer = str(NODE_PEER)
    assert call("perm_getNodesAllowlist") == [boot]
    assert call("perm_addNodesToAllowlist", [peer]) == "Success"
    assert load_nodes_allowlist(path) == (str(OTHER_PEER), peer)  # what the consensus process reads
    assert tomllib.loads(path.read_text())["accounts-allowlist"] == ["0x" + "aa" * 20]  # kept
    before = path.read_bytes()
    for method, params, words in [
        ("perm_addNodesToAllowlist", [], "Request contains an empty list of nodes"),
        ("perm_addNodesToAllowlist", [peer, "16Uiu2nope"], "Request contains an invalid node"),
        ("perm_addNodesToAllowlist", [str(OTHER_PEER)] * 2, "Request contains duplicate nodes"),
        ("perm_addNodesToAllowlist", [f"/ip4/10.1.1.1/tcp/1/p2p/{peer}"], "Cannot add an existing node to allowlist"),
        ("perm_removeNodesFromAllowlist", [str(peer_id_of(b"\x0a" * 32))], "Cannot remove an absent node from allowlist"),
        ("perm_removeNodesFromAllowlist", [str(OTHER_PEER)], "Cannot remove a fixed node (bootnode or static node) from allowlist"),
    ]:  # fmt: skip
        assert call(method, params) == {"code": -32000, "message": words}, (method, params)
        assert path.read_bytes() == before  # a refusal changes nothing
    assert call("perm_addNodesToAllowlist", peer)["code"] == -32602  # not an array
    assert call("perm_removeNodesFromAllowlist", [peer]) == "Success"
    assert call("perm_getNodesAllowlist") == [boot]
    path.write_text(f'nodes-allowlist = ["{boot}", "{peer}"]\n')  # edited by hand
    assert call("perm_reloadPermissionsFromFile") == "Success"
    assert call("perm_getNodesAllowlist") == [boot, peer]
    path.write_text("nodes-allowlist = [")
    assert call("perm_reloadPermissionsFromFile")["message"].startswith("Error reloading permissions file")

    pool.close()
    db.close()
    for method, params in [("perm_getNodesAllowlist", ()), ("perm_addNodesToAllowlist", ([peer],))]:
        answer = _dispatch(chain.backend, method, *params)  # a node without a nodes file
        assert answer["error"] == {"code": -32000, "message": "Node allowlist has not been enabled"}
    assert error_object(AllowlistEditError("x"))["code"] == -32000


def test_a_devnet_with_the_node_list_lists_its_rpc_nodes_from_genesis(tmp_path: Path) -> None:
    from jsc_node.accounts import read_private_key_file
    from jsc_node.devnet import DevnetOptions, prepare_devnet

    options = DevnetOptions(directory=tmp_path / "dn", validators=2, rpc_nodes=1, nodes_allowlist=True)
    devnet = prepare_devnet(options)
    spec = load_genesis(devnet.genesis_file)
    storage = spec.alloc[NODES_ALLOWLIST_ADDRESS].storage
    listed = nodes.read_nodes(lambda slot: storage.get(slot, 0))
    rpc_node = address_of(private_key(read_private_key_file(tmp_path / "dn" / "rpc-0" / "key")))
    assert sorted(listed) == sorted([*spec.validators, rpc_node])
    prepare_devnet(options)  # a restart reuses the RPC node's key the genesis lists
    assert address_of(private_key(read_private_key_file(tmp_path / "dn" / "rpc-0" / "key"))) == rpc_node
