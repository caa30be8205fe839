"""Issue 12's consensus rule, where the state is (state/evm/executor.py ``Executor._execute``): a
block whose header vote adds a validator without a Valid attestation in an allowed jurisdiction in
the parent's state is invalid, for validate_block, `jsc-node import` and `jsc-node verify` alike;
build_block refuses to make one; drop votes and votes for attested addresses pass.

A 4-validator chain with the registry on a real LevelDB, blocks sealed with the validators' keys.
Block 1 sets up every case: a candidate submits (Pending), three validators revoke an address the
genesis attested (Revoked); another address is attested from genesis (Valid), one never submitted.
The bad blocks are assembled and sealed here (build_block would refuse them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rlp
import trio
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node import verify
from jsc_node.chainformat import QbftExtraData, Vote, encode_extra_data
from jsc_node.consensus.block import decode_block, private_key, sign_commit_seal
from jsc_node.devtools import dev_accounts, make_genesis
from jsc_node.errors import ImportFailed, InvalidBlock
from jsc_node.genesis import GenesisSpec, parse_genesis
from jsc_node.governance import registry
from jsc_node.governance.registry import REGISTRY_ADDRESS
from jsc_node.governance.votes import vote_problem
from jsc_node.importer import CHAINDATA_DIR, import_files
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB
from tests.unit.registry_harness import calldata, registry_tx

KEYS = [a.private_key for a in dev_accounts()]
ADDRESSES = [bytes.fromhex(a.address[2:]) for a in dev_accounts()]
VALIDATORS = tuple(sorted(ADDRESSES[:4]))
VALIDATOR_KEYS = sorted(KEYS[:4], key=lambda k: bytes.fromhex(Account.from_key(k).address[2:]))
PENDING, UNATTESTED, ATTESTED, REVOKED = ADDRESSES[5], ADDRESSES[6], ADDRESSES[7], ADDRESSES[8]
ENTITY = ("株式会社テスト", "7000012050002", "JP", "JP-13", b"\x11" * 32)


def _hex(address: bytes) -> str:
    return "0x" + address.hex()


REFUSALS = {
    "unattested": (UNATTESTED, f"{_hex(UNATTESTED)} has no attestation in the validator registry"),
    "pending": (
        PENDING,
        f"{_hex(PENDING)}'s attestation is pending: not yet approved by a quorum of validators",
    ),
    "revoked": (REVOKED, f"{_hex(REVOKED)}'s attestation was revoked at block 1"),
}


def _genesis() -> GenesisSpec:
    doc = make_genesis([_hex(a) for a in VALIDATORS], block_period_s=1)
    attestations = {v: registry.dev_attestation(i + 1) for i, v in enumerate(VALIDATORS)}
    attestations[ATTESTED] = registry.dev_attestation(8)
    attestations[REVOKED] = registry.dev_attestation(9)
    doc["alloc"][REGISTRY_ADDRESS.hex()] = registry.genesis_alloc_entry(VALIDATORS, attestations, ["JP"])
    return parse_genesis(doc)


def _tx(key_index: int, nonce: int, data: bytes) -> Any:
    return registry_tx(KEYS[key_index], nonce, data)


def _extra(vote: Vote | None) -> bytes:
    return encode_extra_data(QbftExtraData(b"\x00" * 32, VALIDATORS, vote, 0, ()))


def _sealed(block: Any) -> bytes:
    view = decode_block(rlp.encode(block))
    return view.with_seals([sign_commit_seal(private_key(k), view) for k in VALIDATOR_KEYS[:3]]).encode()


@dataclass
class Chain:
    spec: GenesisSpec
    executor: Executor
    block1: bytes
    genesis_file: Path
    tmp: Path

    def assemble(self, vote: Vote | None) -> bytes:
        """Block 2 carrying ``vote``, executed without it (as a proposer that skips the rule
        would), sealed by a quorum."""
        head = self.executor.head
        built = self.executor.build_block(head.hash, head.timestamp + 1, VALIDATORS[1], _extra(None), [])
        return _sealed(built.block.copy(header=built.block.header.copy(extra_data=_extra(vote))))

    def chain_file(self, block2: bytes, name: str) -> Path:
        path = self.tmp / f"{name}.rlp"
        path.write_bytes(self.block1 + block2)
        return path


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    spec = _genesis()
    tmp = tmp_path_factory.mktemp("votes")
    db = LevelDB(tmp / "source")
    executor = Executor(db, spec)
    head = executor.head
    txs = [_tx(5, 0, calldata("submit(string,string,string,string,bytes32)", *ENTITY))]
    txs += [_tx(i, 0, calldata("revoke(address)", to_checksum_address(REVOKED))) for i in range(3)]
    built = executor.build_block(head.hash, head.timestamp + 1, VALIDATORS[0], _extra(None), txs)
    assert not built.skipped, built.skipped
    block1 = _sealed(built.block)
    executor.commit_block(block1)
    state = executor.state_at(executor.head)
    read = lambda slot: state.get_storage(REGISTRY_ADDRESS, slot)  # noqa: E731
    assert registry.read_status(read, PENDING) is registry.Status.PENDING
    assert registry.read_status(read, REVOKED) is registry.Status.REVOKED
    genesis_file = tmp / "genesis.json"
    genesis_file.write_text(json.dumps(spec.raw))
    yield Chain(spec, executor, block1, genesis_file, tmp)
    db.close()


def _refusal(address: bytes, problem: str) -> str:
    return f"block 2 votes to add {_hex(address)}: {problem}"


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_build_refuses_an_add_vote_without_a_valid_attestation(chain: Chain, case: str) -> None:
    address, problem = REFUSALS[case]
    head = chain.executor.head
    with pytest.raises(InvalidBlock) as refused:
        chain.executor.build_block(
            head.hash, head.timestamp + 1, VALIDATORS[1], _extra(Vote(address, True)), []
        )
    assert str(refused.value) == _refusal(address, problem)


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_block_with_such_a_vote_is_invalid_for_validate_import_and_verify(chain: Chain, case: str) -> None:
    address, problem = REFUSALS[case]
    block2 = chain.assemble(Vote(address, True))

    with pytest.raises(InvalidBlock) as refused:
        chain.executor.validate_block(block2)
    assert str(refused.value) == _refusal(address, problem)

    data = chain.tmp / f"import-{case}"
    with pytest.raises(ImportFailed) as failed:
        import_files(data, chain.spec, [chain.chain_file(block2, case)])
    assert failed.value.number == 2
    assert _refusal(address, problem) in str(failed.value)

    report = verify.verify_chain(_Served(data, [chain.block1, block2]), chain.spec)
    assert report.summary_line() == "verify: 1 blocks verified, 1 violations"
    (violation,) = report.violations
    assert (violation.number, violation.check, violation.reason) == (2, "block", _refusal(address, problem))
    assert "first violation block 2" in report.table()


def test_add_vote_for_an_attested_address_and_drop_votes_pass(chain: Chain) -> None:
    for vote in (
        Vote(ATTESTED, True),
        Vote(REVOKED, False),
        Vote(VALIDATORS[3], False),
        Vote(VALIDATORS[2], True),
    ):
        head = chain.executor.head
        built = chain.executor.build_block(head.hash, head.timestamp + 1, VALIDATORS[1], _extra(vote), [])
        assert decode_block(rlp.encode(built.block)).extra.vote == vote
        chain.executor.validate_block(_sealed(built.block))

    block2 = _sealed(
        chain.executor.build_block(
            chain.executor.head.hash,
            chain.executor.head.timestamp + 1,
            VALIDATORS[1],
            _extra(Vote(ATTESTED, True)),
            [],
        ).block
    )
    data = chain.tmp / "import-attested"
    stats = import_files(data, chain.spec, [chain.chain_file(block2, "attested")])
    assert stats.imported == 2
    report = verify.verify_chain(_Served(data, [chain.block1, block2]), chain.spec)
    assert report.summary_line() == "verify: 2 blocks verified, 0 violations"
    assert report.attestations == "checked"
    assert report.as_json()["attestations"] == "checked"
    # The table's entity, jurisdiction and region come from the replayed registry.
    (first, *_rest) = report.validators
    fields = registry.dev_attestation(VALIDATORS.index(first.address) + 1)
    assert (first.entity, first.jurisdiction, first.region) == (fields.entity_name, "JP", "JP-13")
    assert fields.entity_name in report.table()


def test_vote_problem_is_pure_and_skips_what_needs_no_attestation() -> None:
    """The decision alone, over a storage dict: drop votes and votes for a member of the set read
    nothing; an add vote reads the status slot."""
    reads: list[int] = []
    storage = registry.genesis_storage(VALIDATORS, {ATTESTED: registry.dev_attestation(1)}, ["JP"])

    def read(slot: int) -> int:
        reads.append(slot)
        return storage.get(slot, 0)

    assert vote_problem(read, None, VALIDATORS, ["JP"]) is None
    assert vote_problem(read, Vote(UNATTESTED, False), VALIDATORS, ["JP"]) is None
    assert vote_problem(read, Vote(VALIDATORS[0], True), VALIDATORS, ["JP"]) is None
    assert reads == []
    assert vote_problem(read, Vote(ATTESTED, True), VALIDATORS, ["JP"]) is None
    assert vote_problem(read, Vote(UNATTESTED, True), VALIDATORS, ["JP"]) == REFUSALS["unattested"][1]
    assert vote_problem(read, Vote(ATTESTED, True), VALIDATORS, ["US"]) == (
        f"{_hex(ATTESTED)} is attested in jurisdiction 'JP', not one allowed (US)"
    )


def test_verify_says_when_a_chain_has_no_registry(tmp_path: Path) -> None:
    spec = parse_genesis(make_genesis([_hex(a) for a in VALIDATORS], registry=False))
    db = LevelDB(tmp_path / CHAINDATA_DIR)
    Executor(db, spec)
    db.close()
    report = verify.verify_chain(_Served(tmp_path, []), spec)
    assert report.attestations == "no validator registry on this chain"
    assert "attestations    no validator registry on this chain" in report.table()
    assert report.as_json()["attestations"] == "no validator registry on this chain"


class _Served:
    """A chain source: the genesis of the data dir ``data`` (a node's, or an import's), then
    ``blocks`` as given."""

    description = "served"

    def __init__(self, data: Path, blocks: list[bytes]) -> None:
        self.data = data
        self.served = blocks

    def head_number(self) -> int:
        return len(self.served)

    def blocks(self, first: int, last: int) -> Iterator[tuple[int, bytes]]:
        yield 0, _genesis_block(self.data)
        for number in range(max(first, 1), last + 1):
            yield number, self.served[number - 1]

    def after_block(self, applied: Any) -> list[verify.Violation]:
        return []

    def after_chain(self, executor: Executor) -> list[verify.Violation]:
        return []


def _genesis_block(data: Path) -> bytes:
    from jsc_node.export import open_data_dir

    with open_data_dir(data) as stored:
        return bytes(stored.block(0).rlp)


def test_build_refusal_is_not_fatal_for_the_consensus_service(tmp_path: Path) -> None:
    """The proposer's build answered InvalidBlock (its own vote breaks the rule): the service logs
    it and lives on; the round times out and the next round builds again."""
    from jsc_node.consensus.block import address_of
    from jsc_node.consensus.engine import EngineConfig, QbftEngine
    from jsc_node.consensus.service import ConsensusService, NoPeers, OwnMessageLog
    from tests.sim.fakes import make_genesis as sim_genesis
    from tests.sim.fakes import make_keys
    from tests.unit.test_consensus_service_events import FakeExecution

    (key,) = make_keys(1, salt=11)
    genesis = sim_genesis([address_of(key)], timestamp=1)
    execution = FakeExecution(rlp.encode([list(genesis.header), [], [], []]), genesis)
    refused: list[int] = []
    build = execution.build_block

    async def refusing_once(parent: bytes, timestamp: int, coinbase: bytes, extra_data: bytes) -> Any:
        if not refused:
            refused.append(1)
            execution.built.set()
            raise InvalidBlock(f"block 1 votes to add {_hex(UNATTESTED)}: {REFUSALS['unattested'][1]}")
        return await build(parent, timestamp, coinbase, extra_data)

    execution.build_block = refusing_once  # type: ignore[method-assign]
    # Round 1 must build, seal and commit within its timeout (twice round 0's) even on a loaded
    # machine, or a round-2 build would follow: 0.3 s was too short under CI load.
    engine = QbftEngine(key, EngineConfig(block_period_s=1, request_timeout_s=1.0))
    service = ConsensusService(
        engine, execution, NoPeers(), OwnMessageLog(tmp_path / "own.log"), epoch_length=30000
    )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            with trio.fail_after(15):
                while not execution.commits:  # round 0 refused, round 1 built, sealed, committed
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert refused == [1]
    assert len(execution.builds) == 1
