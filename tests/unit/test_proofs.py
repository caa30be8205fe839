"""EIP-1186 proofs: geth's answers from the rpc-compat fixtures, and verification against the state
root by a walker that knows nothing of the trie that made the proof."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth_hash.auto import keccak

from jsc_node.genesis import load_genesis
from jsc_node.importer import ChainImporter, read_block_files
from jsc_node.rpc.methods.eth import format_account_proof
from jsc_node.state.evm.executor import Executor
from jsc_node.state.serve.proofs import account_proof, verify_proof
from jsc_node.state.storage.leveldb import LevelDB

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "rpc-compat"
CONTRACT = bytes.fromhex("7dcd17433742f4c0ca53122ab541d0ba67fc27df")
FUNDED = bytes.fromhex("7435ed30a8b4aeb0877cef0c6e8cffe834eb865f")

pytestmark = pytest.mark.skipif(not (FIXTURES / "chain.rlp").is_file(), reason="rpc-compat fixtures missing")


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
    spec = load_genesis(FIXTURES / "genesis.json")
    db = LevelDB(tmp_path_factory.mktemp("chain") / "chaindata")
    ex = Executor(db, spec)
    ChainImporter(ex, spec).import_blocks(read_block_files([FIXTURES / "chain.rlp"]))
    yield ex
    db.close()


def _fixture(name: str) -> tuple[list[object], dict[str, object]]:
    lines = (FIXTURES / "eth_getProof" / f"{name}.io").read_text().splitlines()
    request = orjson.loads(next(line for line in lines if line.startswith(">>"))[2:])
    answer = orjson.loads(next(line for line in lines if line.startswith("<<"))[2:])
    return request["params"], answer["result"]


@pytest.mark.parametrize("name", ["get-account-proof-latest", "get-account-proof-with-storage"])
def test_proofs_match_geth(executor: Executor, name: str) -> None:
    params, expected = _fixture(name)
    keys = params[1]
    assert isinstance(keys, list)
    slots = [bytes.fromhex(k[2:].rjust(64, "0")) for k in keys]
    proof = account_proof(executor.db, executor.head.state_root, CONTRACT, slots)
    assert format_account_proof(proof, [len(k[2:]) // 2 for k in keys]) == expected


def test_account_proof_verifies_against_the_state_root(executor: Executor) -> None:
    root = bytes(executor.head.state_root)
    proof = account_proof(executor.db, root, CONTRACT, [b"\x00" * 32, b"\x01" * 32])
    account = rlp.decode(verify_proof(root, keccak(CONTRACT), proof.account_proof))
    nonce, balance, storage_root, code_hash = account
    assert int.from_bytes(nonce, "big") == proof.nonce
    assert int.from_bytes(balance, "big") == proof.balance
    assert storage_root == proof.storage_hash
    assert code_hash == proof.code_hash == keccak(executor.state_at(executor.head).get_code(CONTRACT))
    for item in proof.storage_proof:
        raw = verify_proof(proof.storage_hash, keccak(item.key), item.proof)
        assert (int.from_bytes(rlp.decode(raw), "big") if raw else 0) == item.value
    assert proof.storage_proof[0].value == 0x2A  # slot 0 of the fixture contract
    assert proof.storage_proof[1].value == 0  # an unset slot: a proof of absence


def test_absent_account_proves_its_absence(executor: Executor) -> None:
    root = bytes(executor.head.state_root)
    nobody = b"\x11" * 20
    proof = account_proof(executor.db, root, nobody, [b"\x00" * 32])
    assert verify_proof(root, keccak(nobody), proof.account_proof) == b""
    assert (proof.balance, proof.nonce, proof.code_hash, proof.storage_hash) == (
        0,
        0,
        EMPTY_SHA3,
        BLANK_ROOT_HASH,
    )
    assert proof.storage_proof[0].proof == ()


def test_proof_at_an_older_block(executor: Executor) -> None:
    header = executor.chaindb.get_canonical_block_header_by_number(10)
    proof = account_proof(executor.db, header.state_root, FUNDED, [])
    account = rlp.decode(verify_proof(bytes(header.state_root), keccak(FUNDED), proof.account_proof))
    assert int.from_bytes(account[1], "big") == executor.state_at(header).get_balance(FUNDED)


def test_a_tampered_proof_is_refused(executor: Executor) -> None:
    root = bytes(executor.head.state_root)
    proof = account_proof(executor.db, root, CONTRACT, [])
    nodes = list(proof.account_proof)
    nodes[-1] = nodes[-1][:-1] + bytes([nodes[-1][-1] ^ 1])
    with pytest.raises(ValueError, match="missing node"):
        verify_proof(root, keccak(CONTRACT), nodes)
    with pytest.raises(ValueError, match="root"):
        verify_proof(b"\x22" * 32, keccak(CONTRACT), proof.account_proof)


def test_output_key_keeps_a_32_byte_form_and_shortens_others(executor: Executor) -> None:
    proof = account_proof(executor.db, executor.head.state_root, CONTRACT, [b"\x00" * 32, b"\x00" * 32])
    out = format_account_proof(proof, [32, 1])
    assert [item["key"] for item in out["storageProof"]] == ["0x" + "00" * 32, "0x0"]
