"""Bare py-evm: build blocks from the benchmark's pre-signed transactions with py-evm alone.

Run as its own process (``python -m bench.bare WORKLOAD.pickle``) so nothing of jsc_node (its
sender cache, its header hashing) is installed into this py-evm. Prints one JSON object.

A ``MiningChain`` on PragueVM (chain id 1337, in-memory AtomicDB, genesis alloc as the node's),
``mine_all`` over blocks of ``BLOCK_TXS`` transactions. Raw transactions are decoded before the
clock starts (fresh objects: no sender is cached); timed is execution, block finalisation and
persist into the AtomicDB.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from typing import Any

from eth import constants
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks import PragueVM
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from bench.workload import CHAIN_ID

BLOCK_TXS = 500
GAS_LIMIT = 100_000_000


def make_chain(alloc: dict[bytes, int]) -> Any:
    klass = MiningChain.configure(__name__="BareChain", vm_configuration=((0, PragueVM),), chain_id=CHAIN_ID)
    genesis_params = {
        "difficulty": 0,
        "gas_limit": GAS_LIMIT,
        "timestamp": 1_700_000_000,
        "nonce": b"\x00" * 8,
        "extra_data": b"",
        "coinbase": constants.ZERO_ADDRESS,
        "base_fee_per_gas": 10**9,
    }
    state = {addr: {"balance": bal, "nonce": 0, "code": b"", "storage": {}} for addr, bal in alloc.items()}
    return klass.from_genesis(AtomicDB(), genesis_params, state)


def mine(chain: Any, raws: list[bytes], block_txs: int = BLOCK_TXS) -> dict[str, Any]:
    txs = [PragueTransactionBuilder.decode(r) for r in raws]
    ts = chain.header.timestamp
    failed = 0
    blocks = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for i in range(0, len(txs), block_txs):
        ts += 1
        _result, receipts, _comps = chain.mine_all(txs[i : i + block_txs], timestamp=ts)
        failed += sum(1 for r in receipts if r.state_root != b"\x01")
        blocks += 1
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "txs": len(txs),
        "seconds": elapsed,
        "tps": len(txs) / elapsed,
        "cpu_s": cpu,
        "failed": failed,
        "blocks": blocks,
    }


def main(path: str) -> None:
    if any(name.startswith("jsc_node") for name in sys.modules):
        raise SystemExit("bench.bare must run without jsc_node imported (it patches py-evm)")
    with open(path, "rb") as f:
        w = pickle.load(f)
    chain = make_chain(w["alloc"])
    out: dict[str, Any] = {}
    out["native"] = mine(chain, w["native"])
    setup = mine(chain, w["setup"])
    if setup["failed"]:
        raise SystemExit(f"bare: {setup['failed']} setup txs failed")
    out["erc20"] = mine(chain, w["erc20"])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
