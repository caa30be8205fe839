"""By hand (not a test): `jsc-node verify` beside `jsc-node import` on the same chain.

Builds a QBFT chain of BLOCKS blocks of TXS transfers each with the node's executor (4 validators,
3 seals a block), exports it, then times, each as its own process:
  jsc-node import FILE            into a fresh data dir
  jsc-node verify --data-path     over that data dir
  jsc-node verify --rpc-url       against `jsc-node run` on a copy of that data dir (DEBUG served)

    .venv/bin/python -m bench.verify_speed [BLOCKS] [TXS]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_utils import to_checksum_address

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.consensus.block import decode_block, sign_commit_seal
from jsc_node.importer import CHAINDATA_DIR
from jsc_node.state import startup
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB
from tests.integration.nodeproc import NodeProcess
from tests.unit.test_verify import KEYS, RECIPIENT, _address, _genesis

SENDERS = [Account.from_key(bytes([0x40 + i]) * 32) for i in range(1)]
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def build(data: Path, blocks: int, txs: int) -> None:
    spec = _genesis()
    db = LevelDB(data / CHAINDATA_DIR)
    try:
        executor = Executor(db, spec)
        validators = tuple(sorted(_address(k) for k in KEYS))
        extra = encode_extra_data(QbftExtraData(b"\x00" * 32, validators, None, 0, ()))
        nonce = 0
        for number in range(1, blocks + 1):
            batch = []
            for _ in range(txs):
                signed = Account.sign_transaction(
                    {
                        "chainId": 1337,
                        "nonce": nonce,
                        "to": to_checksum_address(RECIPIENT),
                        "value": 1,
                        "gas": 21_000,
                        "maxFeePerGas": 10 * 10**9,
                        "maxPriorityFeePerGas": 1,
                        "type": 2,
                    },
                    DEV_KEY,
                )
                batch.append(PragueTransactionBuilder.decode(bytes(signed.raw_transaction)))
                nonce += 1
            head = executor.head
            built = executor.build_block(head.hash, head.timestamp + 1, validators[number % 4], extra, batch)
            assert len(built.block.transactions) == txs, built.skipped[:1]
            view = decode_block(rlp.encode(built.block))
            executor.commit_block(view.with_seals([sign_commit_seal(k, view) for k in KEYS[:3]]).encode())
    finally:
        db.close()
    (data.parent / "genesis.json").write_text(json.dumps(spec.raw))


def timed(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "jsc_node.cli", *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{done.stdout}\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    # The command's own figure (replay only): import's first line, verify's "blocks" line.
    own = next((line for line in lines if line.startswith(("imported", "blocks "))), lines[-1])
    return elapsed, " ".join(own.split())


def main() -> None:
    blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    txs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    startup.install()
    root = Path(tempfile.mkdtemp(prefix="verify-speed-"))
    try:
        build(root / "source", blocks, txs)
        genesis = str(root / "genesis.json")
        timed(["export", "--data-path", str(root / "source"), str(root / "chain.rlp")])
        total = blocks * txs
        rows = []
        for _ in range(ROUNDS):
            rows.extend(measure(root, genesis))
        shutil.copytree(root / "imported", root / "served")
        node = NodeProcess(
            root / "served", extra_args=["--genesis-file", genesis], http_api="ETH,NET,WEB3,DEBUG"
        ).start()
        try:
            for _ in range(ROUNDS):
                t, line = timed(["verify", "--rpc-url", node.url, "--genesis-file", genesis])
                rows.append(("jsc-node verify --rpc-url", t, line))
        finally:
            node.stop()
        print(
            f"{blocks} blocks x {txs} transfers = {total} txs; wall time of each command (start-up included), [its own figure]"
        )
        for name, t, line in rows:
            print(f"  {name:<30} {t:6.1f} s  {blocks / t:6.1f} blocks/s  {total / t:6.0f} tx/s   [{line}]")
    finally:
        shutil.rmtree(root, ignore_errors=True)


ROUNDS = 2


def measure(root: Path, genesis: str) -> list[tuple[str, float, str]]:
    """import into a fresh dir, then verify --data-path over it."""
    rows = []
    shutil.rmtree(root / "imported", ignore_errors=True)
    imported = str(root / "imported")
    t, line = timed(["import", "--data-path", imported, "--genesis-file", genesis, str(root / "chain.rlp")])
    rows.append(("jsc-node import", t, line))
    t, line = timed(["verify", "--data-path", imported, "--genesis-file", genesis])
    rows.append(("jsc-node verify --data-path", t, line))
    return rows


if __name__ == "__main__":
    main()
