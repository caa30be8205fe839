"""What the node's block worker does while a burst of transactions is mined.

    python -m bench.timeline [--phase erc20|native] [--txs 2000]

Starts a node (bench genesis), deploys the token, then submits the phase's transactions in one
burst and prints, every ~0.3 s until all are mined: the pool's pending/queued counts, the head,
and (with py-spy in the venv) which ``jsc_node/state/evm/executor.py`` function the execution
process's ``block_0`` worker thread is in. A build that runs while its block's commit waits
behind it shows up as a long ``build_block`` span followed by ``commit_block`` of a smaller block.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import workload as wl
from bench.node import NodeProcess, write_genesis
from bench.rpc import Conn
from bench.run import SUBMIT_METHODS, Method, submit, wait_mined

SAMPLE_S = 0.3
MAX_S = 120.0


def worker_frame(py_spy: Path, pid: int) -> str:
    out = subprocess.run(
        [str(py_spy), "dump", "--pid", str(pid), "--nonblocking"], capture_output=True, text=True, timeout=10
    ).stdout
    if '"block_0"' not in out:
        return "-"
    block = out.split('"block_0"', 1)[1].split("\nThread ", 1)[0]
    frames = [line.strip() for line in block.splitlines() if "jsc_node/state/evm/executor.py" in line]
    return frames[-1] if frames else "idle"


async def run(node: NodeProcess, w: wl.Workload, raws: list[bytes]) -> None:
    conn = await Conn(node.http_port).open()
    setup = await submit(node.http_port, w.setup, Method("setup", 1, 100))
    await wait_mined(conn, setup.hashes, 0, 60)
    await asyncio.sleep(2.0)
    py_spy = Path(sys.executable).with_name("py-spy")
    pid = node.children().get("execution", 0)
    t0 = time.perf_counter()
    stop = asyncio.Event()

    async def watch() -> None:
        last = None
        wconn = await Conn(node.http_port).open()
        while not stop.is_set() and time.perf_counter() - t0 < MAX_S:
            status = await wconn.call("txpool_status")
            head = int(await wconn.call("eth_blockNumber"), 16)
            frame = worker_frame(py_spy, pid) if py_spy.exists() and pid else ""
            line = (int(status["pending"], 16), int(status["queued"], 16), head, frame)
            if line != last:
                print(
                    f"{time.perf_counter() - t0:7.2f}s pending={line[0]:<5} queued={line[1]:<4} head={line[2]:<4} {frame}"
                )
                last = line
            await asyncio.sleep(SAMPLE_S)
        await wconn.close()

    task = asyncio.create_task(watch())
    sub = await submit(node.http_port, raws, SUBMIT_METHODS[3])
    print(f"{time.perf_counter() - t0:7.2f}s submitted {sub.accepted} ({len(sub.errors)} refused)")
    head = int(await conn.call("eth_blockNumber"), 16)
    await wait_mined(conn, sub.hashes, max(0, head - 2), MAX_S)
    print(f"{time.perf_counter() - t0:7.2f}s all mined")
    stop.set()
    await task
    await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.timeline")
    parser.add_argument("--phase", choices=("erc20", "native"), default="erc20")
    parser.add_argument("--txs", type=int, default=2000)
    args = parser.parse_args(argv)
    from jsc_node.genesis import DEV_VALIDATOR_KEY
    from jsc_node.node import DEV_ACCOUNTS

    w = wl.build(DEV_ACCOUNTS[0][1], n_tx=args.txs, probe_methods=0)
    tmp = Path(tempfile.mkdtemp(prefix="jsc-timeline-"))
    genesis = tmp / "genesis.json"
    write_genesis(genesis, w.alloc, 100_000_000)
    node = NodeProcess(tmp, genesis, DEV_VALIDATOR_KEY)
    node.start()
    try:
        asyncio.run(run(node, w, w.erc20 if args.phase == "erc20" else w.native))
    finally:
        node.stop()
    for c in node.commits():
        print(f"committed block {c.number}: txs={c.txs} exec={c.exec_ms}ms")
    print(f"node logs: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
