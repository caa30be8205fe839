"""Profile the node's block path in one process, without RPC or consensus.

    python -m bench.profile_block [--phase erc20|native] [--txs 2000] [--cprofile out.prof]

Drives what the execution process does for one proposer block (jsc_node/execution_process.py
ExecutionService): ``TxPool.add`` for every raw tx (decode, checks, sender recovery, journal),
then ``Executor.build_block`` over ``pool.pending_for_block``, ``Executor.commit_block`` (the
LevelDB flush) and ``pool.on_new_head``; each stage timed on its own. The block is built with a
timestamp and extraData only (no seals): commit does not check seals.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import rlp

from bench import workload as wl
from bench.node import write_genesis

GAS_LIMIT = 100_000_000
GOSSIP_BATCH = 100


def stage(name: str, timings: dict[str, float], fn: Any, *args: Any) -> Any:
    """Run ``fn`` and add its CPU time (this process is single-threaded) to ``timings[name]``."""
    started = time.process_time()
    out = fn(*args)
    timings[name] = timings.get(name, 0.0) + time.process_time() - started
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_block")
    parser.add_argument("--phase", choices=("erc20", "native"), default="erc20")
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--block-txs", type=int, default=0, help="cap txs per block (0: gas limit only)")
    parser.add_argument(
        "--cprofile", type=Path, default=None, help="write cProfile stats of the timed part here"
    )
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument(
        "--rpc", type=int, default=0, help="then time N calls of each hot RPC method in-process"
    )
    parser.add_argument(
        "--validator",
        action="store_true",
        help="also time a second node (own data dir) as a QBFT validator: add_batch of the same txs "
        "(gossip intake, own sender recoveries), validate_block of each block, commit_block",
    )
    args = parser.parse_args(argv)

    from jsc_node.config import NodeConfig
    from jsc_node.execution_process import open_node_state
    from jsc_node.genesis import load_genesis
    from jsc_node.node import DEV_ACCOUNTS
    from jsc_node.state import startup
    from jsc_node.state.evm.patches import senders

    startup.install()  # as the execution process does at its start
    w = wl.build(DEV_ACCOUNTS[0][1], n_tx=args.txs, probe_methods=0)
    tmp = Path(tempfile.mkdtemp(prefix="jsc-prof-"))
    genesis = tmp / "genesis.json"
    write_genesis(genesis, w.alloc, GAS_LIMIT)
    config = NodeConfig(data_path=tmp / "data", genesis_file=genesis)
    spec = load_genesis(genesis)
    (tmp / "data").mkdir()
    db, executor, pool, backend = open_node_state(config, spec)
    peer: tuple[Any, Any, Any, Any] | None = None
    if args.validator:
        (tmp / "peer").mkdir()
        peer = open_node_state(NodeConfig(data_path=tmp / "peer", genesis_file=genesis), spec)
    extra = spec_extra = bytes(executor.genesis.extra_data)
    del spec_extra

    def one_block(raws: list[bytes], timings: dict[str, float]) -> tuple[int, int]:
        for raw in raws:
            stage("pool.add (decode, checks, recover, journal)", timings, pool.add, raw)
        if peer is not None:
            senders._cache.clear()  # the peer recovers senders itself, as a separate process would
            for start in range(0, len(raws), GOSSIP_BATCH):
                stage("validator: pool.add_batch (gossip intake)", timings, peer[2].add_batch,
                      raws[start : start + GOSSIP_BATCH])  # fmt: skip
        built_txs = 0
        blocks = 0
        while pool.pending_count() and blocks < 20:
            head = executor.head
            candidates = stage(
                "pool.pending_for_block", timings, pool.pending_for_block, backend.next_base_fee()
            )
            executed = stage(
                "executor.build_block",
                timings,
                executor.build_block,
                bytes(head.hash),
                head.timestamp + 1,
                b"\x00" * 20,
                extra,
                (p.tx for p in candidates),
                args.block_txs or None,
            )
            block_rlp = stage("rlp.encode(block) [seam]", timings, rlp.encode, executed.block)
            if peer is not None:
                stage("validator: validate_block", timings, peer[1].validate_block, block_rlp)
                stage("validator: commit_block", timings, peer[1].commit_block, block_rlp)
            committed = stage(
                "executor.commit_block (decode + flush)", timings, executor.commit_block, block_rlp
            )
            txs = committed.block.transactions
            stage(
                "pool.on_new_head",
                timings,
                pool.on_new_head,
                executor.head.gas_limit,
                backend.next_base_fee(),
                [bytes(tx.hash) for tx in txs],
                {bytes(tx.sender) for tx in txs},
            )
            if peer is not None:
                stage(
                    "validator: pool.on_new_head",
                    timings,
                    peer[2].on_new_head,
                    peer[1].head.gas_limit,
                    peer[3].next_base_fee(),
                    [bytes(tx.hash) for tx in txs],
                    {bytes(tx.sender) for tx in txs},
                )
            built_txs += len(txs)
            blocks += 1
        return built_txs, blocks

    setup_t: dict[str, float] = {}
    one_block(w.setup, setup_t)
    raws = w.erc20 if args.phase == "erc20" else w.native
    timings: dict[str, float] = {}
    recov0 = dict(senders.stats)
    profiler = cProfile.Profile() if args.cprofile else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    if profiler:
        profiler.enable()
    built, blocks = one_block(raws, timings)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    total = time.process_time() - cpu_started
    print(
        f"{args.phase}: {built} txs in {blocks} blocks, wall {wall:.2f}s, CPU {total:.2f}s, "
        f"{built / total:.0f} tx/s of CPU (pool add + build + commit)"
    )
    for name, secs in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(
            f"  {name:<48} {secs * 1000:9.0f} ms CPU {secs / max(built, 1) * 1e6:7.0f} us/tx  {secs / total * 100:5.1f}%"
        )
    print(
        f"  sender recoveries {senders.stats['recoveries'] - recov0['recoveries']}, "
        f"cache hits {senders.stats['hits'] - recov0['hits']}"
    )
    if args.rpc:
        profile_rpc(backend, config, w, raws, args.rpc, args.cprofile, args.top)
    pool.close()
    db.close()
    if peer is not None:
        peer[2].close()
        peer[0].close()
    if profiler:
        profiler.dump_stats(str(args.cprofile))
        stats = pstats.Stats(str(args.cprofile), stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    return 0


def profile_rpc(
    backend: Any, config: Any, w: wl.Workload, raws: list[bytes], n: int, cprofile: Path | None, top: int
) -> None:
    """CPU per request of hot methods through the real Dispatcher (JSON in, JSON out)."""
    import asyncio

    from bench.rpc import hx, request
    from jsc_node.rpc.dispatch import Dispatcher

    dispatcher = Dispatcher(backend, max_batch_size=config.rpc_http_max_batch_size)
    token = hx(w.token)
    data = hx(wl.erc20_balance_of_data(w.read_addresses[0]))
    last = "0x" + wl.tx_hash(raws[0]).hex()  # in the first, largest block
    cases = {
        "eth_blockNumber": request("eth_blockNumber"),
        "eth_getBalance": request("eth_getBalance", hx(w.read_addresses[0]), "latest"),
        "eth_call balanceOf": request("eth_call", {"to": token, "data": data}, "latest"),
        "eth_getTransactionReceipt": request("eth_getTransactionReceipt", last),
        "eth_getBlockByNumber latest": request("eth_getBlockByNumber", "latest", False),
    }

    async def go() -> None:
        for label, body in cases.items():
            answer = await dispatcher.handle_body(body)
            if answer is None or b'"error"' in answer:
                raise RuntimeError(f"{label}: {answer!r:.300}")
            count = n if "Receipt" not in label else max(1, n // 20)
            profiler = cProfile.Profile() if cprofile else None
            started = time.process_time()
            wall = time.perf_counter()
            if profiler:
                profiler.enable()
            for _ in range(count):
                await dispatcher.handle_body(body)
            if profiler:
                profiler.disable()
            cpu = time.process_time() - started
            wall = time.perf_counter() - wall
            print(
                f"rpc {label:<28} {cpu / count * 1e6:8.0f} us CPU/request  ({count / wall:7.0f} req/s in-process, 1 caller)"
            )
            if profiler:
                out = cprofile.with_suffix(f".{label.split()[0]}.prof")
                profiler.dump_stats(str(out))
                pstats.Stats(str(out), stream=sys.stdout).sort_stats("cumulative").print_stats(top)

    asyncio.run(go())


if __name__ == "__main__":
    sys.exit(main())
