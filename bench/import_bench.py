"""Import speed: ``jsc_node.importer`` against bare py-evm, on the same synthetic chain, same run.

1. Build a chain on the dev genesis with the node's own executor (``Executor.build_block``, sealed
   by the dev validator, committed): block 1 deploys ERC20Token (``contracts/build``), then every
   block carries native transfers and ERC-20 ``transfer`` calls from the funded dev accounts.
2. Export it as concatenated RLP (geth's export format).
3. Time ``jsc_node.importer`` into a fresh data dir (LevelDB, one batch per block, commit-seal
   check, full re-execution).
4. Time bare py-evm on the same blocks, alternating with 3 chunk by chunk: ``Chain.import_block``
   on an in-memory ``AtomicDB`` holding the same genesis, with the node's QBFT VM class (py-evm's
   stock PragueVM refuses BFT headers: difficulty 1, long extraData). Both run in this process, so both use the node's BFT block
   hashing and its runtime patches (state/evm/headers.py, state/evm/patches/, installed first); the ratio
   is the node's own overhead: LevelDB and its fsync per block, the overlay, seal recovery, RLP.

``run_import_bench()`` returns the figures; ``python -m bench.import_bench`` prints them as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import rlp
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_keys import keys
from eth_utils import keccak

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.consensus.block import decode_block, private_key, sign_commit_seal
from jsc_node.genesis import DEV_VALIDATOR_KEY, GenesisSpec, load_genesis
from jsc_node.importer import CHAINDATA_DIR, ChainImporter, read_block_files
from jsc_node.procutil import data_dir_lock
from jsc_node.state import startup
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB

REPO = Path(__file__).resolve().parents[1]
ERC20_ARTIFACT = REPO / "contracts" / "build" / "ERC20Token.json"
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # transfer(address,uint256)

BLOCKS = 2_000
# Node and bare import alternate over chunks of this many blocks (see run_import_bench).
CHUNK_BLOCKS = 100
NATIVE_PER_BLOCK = 2
ERC20_PER_BLOCK = 2
ERC20_GAS = 100_000
DEPLOY_GAS = 3_000_000
MAX_FEE = 10 * 10**9
TIP = 1
# The funded dev accounts of genesis/dev.json (the hardhat/anvil mnemonic's first ten keys).
SENDER_KEYS = (
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
)


class _Signer:
    """Signs EIP-1559 transactions for a few senders, keeping their nonces."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self.keys = [keys.PrivateKey(bytes.fromhex(k)) for k in SENDER_KEYS]
        self.nonces = [0] * len(self.keys)

    def address(self, sender: int) -> bytes:
        address: bytes = self.keys[sender].public_key.to_canonical_address()
        return address

    def sign(self, sender: int, to: bytes, value: int, data: bytes, gas: int) -> Any:
        unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
            chain_id=self.chain_id,
            nonce=self.nonces[sender],
            max_priority_fee_per_gas=TIP,
            max_fee_per_gas=MAX_FEE,
            gas=gas,
            to=to,
            value=value,
            data=data,
            access_list=[],
        )
        self.nonces[sender] += 1
        signed = unsigned.as_signed_transaction(self.keys[sender], chain_id=self.chain_id)
        # py-evm signs into London's typed class; a Prague block wants Prague's.
        return PragueTransactionBuilder.decode(signed.encode())


def _erc20_init_code(initial_supply: int) -> bytes:
    artifact = json.loads(ERC20_ARTIFACT.read_text())
    return bytes.fromhex(artifact["bytecode"][2:]) + initial_supply.to_bytes(32, "big")


def _contract_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


def generate_chain(spec: GenesisSpec, data_path: Path, blocks: int) -> tuple[list[bytes], int]:
    """``blocks`` sealed blocks built and committed by the node's executor; (their RLP, tx count)."""
    validator_key = private_key(DEV_VALIDATOR_KEY)
    validator = validator_key.public_key.to_canonical_address()
    extra = encode_extra_data(QbftExtraData(b"\x00" * 32, spec.validators, None, 0, ()))
    signer = _Signer(spec.chain_id)
    token_owner = 0
    token = _contract_address(signer.address(token_owner), 0)
    recipients = [bytes([0xEE]) * 19 + bytes([i]) for i in range(16)]

    db = LevelDB(data_path)
    try:
        executor = Executor(db, spec)
        out: list[bytes] = []
        txs_total = 0
        for number in range(1, blocks + 1):
            if number == 1:
                txs = [signer.sign(token_owner, b"", 0, _erc20_init_code(10**30), DEPLOY_GAS)]
            else:
                txs = []
                for i in range(ERC20_PER_BLOCK):
                    to = recipients[(number + i) % len(recipients)]
                    data = TRANSFER_SELECTOR + to.rjust(32, b"\x00") + (1).to_bytes(32, "big")
                    txs.append(signer.sign(token_owner, token, 0, data, ERC20_GAS))
                for i in range(NATIVE_PER_BLOCK):
                    sender = 1 + (number * NATIVE_PER_BLOCK + i) % (len(SENDER_KEYS) - 1)
                    txs.append(signer.sign(sender, recipients[i], 10**12, b"", 21_000))
            head = executor.head
            built = executor.build_block(head.hash, head.timestamp + 1, validator, extra, txs)
            if len(built.block.transactions) != len(txs):
                raise RuntimeError(f"block {number} left out transactions: {built.skipped}")
            view = decode_block(rlp.encode(built.block))
            sealed = view.with_seals([sign_commit_seal(validator_key, view)]).encode()
            executor.commit_block(sealed)
            out.append(sealed)
            txs_total += len(txs)
        return out, txs_total
    finally:
        db.close()


class BareImporter:
    """py-evm's ``Chain.import_block`` on an in-memory ``AtomicDB`` holding the node's genesis."""

    def __init__(self, spec: GenesisSpec, genesis_dir: Path) -> None:
        db = LevelDB(genesis_dir)
        try:
            executor = Executor(db, spec)  # the same genesis, written the node's way
            vm_class = executor.schedule.vm_class(1, spec.timestamp + 1)
            memory = AtomicDB()
            for key, value in db.iterate_prefix(b""):
                memory[key] = value
        finally:
            db.close()
        chain_class = Chain.configure(
            __name__="BareImportChain", vm_configuration=((0, vm_class),), chain_id=spec.chain_id
        )
        self.chain = chain_class(memory)
        self.block_class = vm_class.get_block_class()

    def import_blocks(self, raws: list[bytes]) -> None:
        for raw in raws:
            self.chain.import_block(rlp.decode(raw, sedes=self.block_class))

    @property
    def head_hash(self) -> bytes:
        return bytes(self.chain.get_canonical_head().hash)


def run_import_bench(blocks: int = BLOCKS, chunk: int = CHUNK_BLOCKS) -> dict[str, Any]:
    """Build, export, then time node import vs bare py-evm import of the same ``blocks`` blocks.

    The two imports alternate over the same chunks of ``chunk`` blocks (node, then bare, then the
    next chunk), so a load change on a shared machine hits both alike; each side's time is the sum
    over its chunks. The node side is ``jsc_node.importer`` as ``jsc-node import`` runs it (blocks
    read from the exported file, a fresh data dir under the data dir lock).
    """
    startup.install()  # as `jsc-node import` does
    spec = load_genesis(None)
    with tempfile.TemporaryDirectory(prefix="jsc-import-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        raws, txs = generate_chain(spec, root / "source", blocks)
        build_s = time.perf_counter() - started
        chain_file = root / "chain.rlp"
        chain_file.write_bytes(b"".join(raws))

        bare = BareImporter(spec, root / "bare-genesis")
        node_s = bare_s = 0.0
        with data_dir_lock(root / "imported"):
            db = LevelDB(root / "imported" / CHAINDATA_DIR)
            try:
                importer = ChainImporter(Executor(db, spec), spec)
                file_blocks = read_block_files([chain_file])
                for first in range(0, len(file_blocks), chunk):
                    stats = importer.import_blocks(file_blocks[first : first + chunk])
                    node_s += stats.elapsed_s
                    started = time.perf_counter()
                    bare.import_blocks(raws[first : first + chunk])
                    bare_s += time.perf_counter() - started
            finally:
                db.close()

    if stats.head_hash != bare.head_hash or stats.head_number != blocks:
        raise RuntimeError(
            f"node and bare import disagree: node head {stats.head_number} 0x{stats.head_hash.hex()}, "
            f"bare 0x{bare.head_hash.hex()}"
        )
    return {
        "blocks": blocks,
        "txs": txs,
        "txs_per_block": round(txs / blocks, 2),
        "chain_bytes": sum(len(raw) for raw in raws),
        "build_s": round(build_s, 2),
        "node_import_s": round(node_s, 2),
        "node_blocks_per_s": round(blocks / node_s, 1),
        "node_tx_per_s": round(txs / node_s, 1),
        "bare_import_s": round(bare_s, 2),
        "bare_blocks_per_s": round(blocks / bare_s, 1),
        "bare_tx_per_s": round(txs / bare_s, 1),
        "node_vs_bare": round(bare_s / node_s, 3),
        "head": "0x" + stats.head_hash.hex(),
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else BLOCKS
    print(json.dumps(run_import_bench(count), indent=2))
