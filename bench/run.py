"""``make bench``: jsc-node against bare py-evm, measured in one run.

This machine is shared and noisy, so speed is reported as a ratio to bare py-evm measured in
the same run, on the same pre-signed transactions:

(a) bare py-evm: ``MiningChain`` on PragueVM, in-memory AtomicDB, ``mine_all`` over 500-tx blocks
    (its own process: bench/bare.py);
(b) the node end to end: a real ``jsc_node.cli run`` on a bench genesis (dev.json, 100M gas
    limit, the bench senders funded), transactions submitted with eth_sendRawTransaction and
    timed until every one is in a committed block; plus submission rate, RPC read rates;
(c) consensus overhead from tests/sim/overhead.py when it exists;
(d) chain import (bench/import_bench.py);
(e) four validators on this machine and a fifth node syncing from them (bench/network.py).

Every wait is bounded; only 127.0.0.1 is used. Usage: ``python -m bench.run [--txs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import workload as wl
from bench.node import NodeProcess, cpu_seconds, write_genesis
from bench.rpc import Conn, hx, rate, request

ROOT = Path(__file__).resolve().parent.parent
NODE_GAS_LIMIT = 100_000_000
BARE_TIMEOUT_S = 240.0
MINED_TIMEOUT_S = 90.0
POLL_S = 0.05
READ_SECONDS = 2.0
READ_MAX_REQUESTS = 50_000
OVERHEAD_TIMEOUT_S = 90.0
OVERHEAD_NS = (4, 7, 10)
OVERHEAD_HEIGHTS = 10


@dataclass
class Method:
    name: str
    conns: int
    batch: int


SUBMIT_METHODS = [
    Method("1 conn, 1 tx/request", 1, 1),
    Method("16 conns, 1 tx/request", 16, 1),
    Method("1 conn, batch 100", 1, 100),
    Method("4 conns, batch 100", 4, 100),
]


@dataclass
class Submitted:
    seconds: float
    accepted: int
    errors: list[str] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)


@dataclass
class PhaseResult:
    name: str
    txs: int
    submit: Submitted
    seconds: float
    blocks: list[int]
    cpu_exec_s: float
    cpu_cons_s: float
    exec_ms: int = 0
    exec_txs: int = 0
    failed: int = 0

    @property
    def tps(self) -> float:
        return self.txs / self.seconds if self.seconds else 0.0


# --- submission and waiting ----------------------------------------------------------------


async def submit(port: int, raws: list[bytes], method: Method) -> Submitted:
    chunks = [raws[i : i + method.batch] for i in range(0, len(raws), method.batch)]
    conns = [await Conn(port).open() for _ in range(min(method.conns, len(chunks)))]
    next_chunk = iter(chunks)
    accepted = 0
    errors: list[str] = []
    hashes: set[str] = set()

    async def worker(conn: Conn) -> None:
        nonlocal accepted
        for chunk in next_chunk:
            if len(chunk) == 1 and method.batch == 1:
                answers = [orjson.loads(await conn.post(request("eth_sendRawTransaction", hx(chunk[0]))))]
            else:
                answers = await conn.batch([("eth_sendRawTransaction", (hx(r),)) for r in chunk])
            for a in answers:
                if "error" in a:
                    errors.append(str(a["error"]))
                else:
                    accepted += 1
                    hashes.add(a["result"])

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    return Submitted(elapsed, accepted, errors, hashes)


async def wait_mined(
    conn: Conn, hashes: set[str], from_block: int, timeout_s: float
) -> tuple[list[int], int]:
    """Poll new blocks until every hash is in one; returns (blocks holding them, last block seen)."""
    missing = set(hashes)
    blocks: list[int] = []
    seen = from_block
    deadline = time.perf_counter() + timeout_s
    while missing and time.perf_counter() < deadline:
        head = int(await conn.call("eth_blockNumber"), 16)
        if head <= seen:
            await asyncio.sleep(POLL_S)
            continue
        answers = await conn.batch(
            [("eth_getBlockByNumber", (hex(n), False)) for n in range(seen + 1, head + 1)]
        )
        for n, a in zip(range(seen + 1, head + 1), answers, strict=True):
            txs = set(a["result"]["transactions"]) if a.get("result") else set()
            if txs & missing:
                blocks.append(n)
                missing -= txs
        seen = head
    if missing:
        raise TimeoutError(f"{len(missing)} of {len(hashes)} transactions not mined after {timeout_s:.0f}s")
    return blocks, seen


async def receipts_failed(conn: Conn, hashes: list[str], blocks: list[int]) -> int:
    """Receipts of ``hashes`` that are missing or not status 1, read per block with
    eth_getBlockReceipts (one call per block, not one per transaction)."""
    wanted = set(hashes)
    ok = 0
    for n in blocks:
        for receipt in await conn.call("eth_getBlockReceipts", hex(n)) or []:
            if receipt["transactionHash"] in wanted and receipt.get("status") == "0x1":
                ok += 1
    return len(wanted) - ok


# --- the node phases -----------------------------------------------------------------------


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        return None
    cmd = [str(exe), "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--threads",
           "--nonblocking", "--duration", "120", "--output", str(out)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


async def node_run(
    node: NodeProcess, w: wl.Workload, log: Callable[[str], None], py_spy_phase: str | None = None
) -> dict[str, Any]:
    port = node.http_port
    conn = await Conn(port).open()
    out: dict[str, Any] = {"probe": []}
    head = int(await conn.call("eth_blockNumber"), 16)

    async def submit_and_mine(raws: list[bytes], method: Method, name: str) -> PhaseResult:
        nonlocal head
        pids = node.children()
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        spy = None
        if name == py_spy_phase:
            spy = start_py_spy(pids.get("execution", 0), node.tmp / f"py-spy-{name}.txt")
            await asyncio.sleep(0.5)
        started = time.perf_counter()
        sub = await submit(port, raws, method)
        log(f"  {name}: {sub.accepted} accepted in {sub.seconds:.2f}s")
        if sub.errors:
            log(f"  {name}: {len(sub.errors)} submissions refused, first: {sub.errors[0]}")
        blocks, head = await wait_mined(conn, sub.hashes, head, MINED_TIMEOUT_S)
        elapsed = time.perf_counter() - started
        cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
        stop_py_spy(spy)
        result = PhaseResult(
            name,
            len(raws),
            sub,
            elapsed,
            blocks,
            cpu1.get("execution", 0) - cpu0.get("execution", 0),
            cpu1.get("consensus", 0) - cpu0.get("consensus", 0),
        )
        by_number = {c.number: c for c in node.commits()}
        for n in blocks:
            if n in by_number:
                result.exec_ms += by_number[n].exec_ms
                result.exec_txs += by_number[n].txs
        return result

    # 1. Which submission method is fastest (native transfers, mined before the next method).
    for method, raws in zip(SUBMIT_METHODS, w.probe, strict=False):
        r = await submit_and_mine(raws, method, f"probe {method.name}")
        out["probe"].append((method, r))
        log(f"  submit probe {method.name:<24} {r.submit.accepted / r.submit.seconds:8.0f} tx/s accepted")
    best = max(out["probe"], key=lambda mr: mr[1].submit.accepted / mr[1].submit.seconds)[0]
    out["best"] = best
    log(f"  fastest submission: {best.name}")

    # 2. Untimed setup: deploy the token, give each ERC-20 sender tokens.
    setup = await submit_and_mine(w.setup, Method("setup", 1, 100), "setup")
    if setup.submit.errors:
        raise RuntimeError(f"setup refused: {setup.submit.errors[:3]}")
    deploy = await conn.call("eth_getTransactionReceipt", "0x" + wl.tx_hash(w.setup[0]).hex())
    if (
        deploy is None
        or deploy.get("status") != "0x1"
        or deploy.get("contractAddress", "").lower() != hx(w.token)
    ):
        raise RuntimeError(f"token deploy failed: {deploy}")
    failed = await receipts_failed(conn, ["0x" + wl.tx_hash(r).hex() for r in w.setup], setup.blocks)
    if failed:
        raise RuntimeError(f"{failed} setup transactions failed")

    # 3. The timed phases.
    for name, raws in (("native", w.native), ("erc20", w.erc20)):
        r = await submit_and_mine(raws, best, name)
        r.failed = await receipts_failed(conn, ["0x" + wl.tx_hash(x).hex() for x in raws], r.blocks)
        out[name] = r
        log(f"  node {name}: {r.tps:.0f} tx/s end to end, {len(r.blocks)} blocks, {r.failed} failed receipts")

    # 4. RPC reads, node idle (its 1 s empty-block timer aside).
    addr = hx(w.read_addresses[0])
    token = hx(w.token)
    call_data = hx(wl.erc20_balance_of_data(w.read_addresses[0]))
    receipt_hashes = ["0x" + wl.tx_hash(x).hex() for x in w.erc20[:: max(1, len(w.erc20) // 50)]]
    bodies: dict[str, Callable[[int], bytes]] = {
        "eth_getBalance": lambda n: request(
            "eth_getBalance", hx(w.read_addresses[n % len(w.read_addresses)]), "latest"
        ),
        "eth_call balanceOf": lambda n: request("eth_call", {"to": token, "data": call_data}, "latest"),
        "eth_blockNumber": lambda n: request("eth_blockNumber"),
        "eth_getTransactionReceipt": lambda n: request(
            "eth_getTransactionReceipt", receipt_hashes[n % len(receipt_hashes)]
        ),
    }
    assert int(await conn.call("eth_getBalance", addr, "latest"), 16) > 0
    assert int(await conn.call("eth_call", {"to": token, "data": call_data}, "latest"), 16) == 0
    out["reads"] = {}
    for label, body in bodies.items():
        for clients in (1, 16):
            out["reads"][(label, clients)] = await rate(port, clients, body, READ_SECONDS, READ_MAX_REQUESTS)
    await conn.close()
    return out


# --- consensus overhead --------------------------------------------------------------------


def consensus_overhead() -> tuple[str, list[dict[str, Any]] | None]:
    if not (ROOT / "tests" / "sim" / "overhead.py").exists():
        return (
            "tests/sim/overhead.py is not present yet (someone else is writing it): no consensus numbers",
            None,
        )
    code = (
        "import json, sys\n"
        "from tests.sim.overhead import measure_overhead\n"
        f"out = [dict(n=n, **measure_overhead(n, {OVERHEAD_HEIGHTS})) for n in {OVERHEAD_NS!r}]\n"
        "sys.stdout.write(json.dumps(out, default=str))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=OVERHEAD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return f"tests/sim/overhead.py: measure_overhead did not finish in {OVERHEAD_TIMEOUT_S:.0f}s", None
    if done.returncode != 0:
        return "tests/sim/overhead.py failed: " + (done.stderr.strip().splitlines() or ["?"])[-1], None
    return "", json.loads(done.stdout)


# --- report --------------------------------------------------------------------------------


def fmt_row(cols: list[Any], widths: list[int]) -> str:
    cols = [int(c) if isinstance(c, float) and c.is_integer() and abs(c) < 1e15 else c for c in cols]
    out = []
    for i, (c, w) in enumerate(zip(cols, widths, strict=True)):
        s = (
            c
            if isinstance(c, str)
            else (
                f"{c:,.0f}"
                if isinstance(c, float) and abs(c) >= 100
                else f"{c:,.2f}"
                if isinstance(c, float)
                else f"{c:,}"
            )
        )
        out.append(s.ljust(w) if i == 0 else s.rjust(w))
    return "  ".join(out)


def report(
    bare: dict[str, Any],
    node: dict[str, Any],
    overhead: tuple[str, list[dict[str, Any]] | None],
    meta: dict[str, Any],
) -> str:
    lines: list[str] = []
    p = lines.append
    p("")
    p(f"jsc-node bench  {meta['when']}  2 cores, load avg at start {meta['load']}")
    p(
        f"workload: {meta['txs']} EIP-1559 txs per phase from {meta['senders']} senders "
        f"({wl.TXS_PER_SENDER} each; pool limit is 64/sender), signed in {meta['sign_s']:.1f}s; node gas limit 100M, 1 s blocks"
    )
    p(
        f"node started (RPC ready) in {meta['node_start_s']:.1f}s; submission for timed phases: {node['best'].name}"
    )
    p("")
    w = [26, 6, 8, 8, 7, 10, 7]
    p(fmt_row(["throughput", "txs", "wall s", "tx/s", "cpu s", "cpu us/tx", "blocks"], w))
    p("-" * (sum(w) + 2 * (len(w) - 1)))
    for phase in ("native", "erc20"):
        b = bare[phase]
        r: PhaseResult = node[phase]
        p(
            fmt_row(
                [
                    f"{phase} bare py-evm",
                    b["txs"],
                    b["seconds"],
                    b["tps"],
                    b["cpu_s"],
                    b["cpu_s"] / b["txs"] * 1e6,
                    b["blocks"],
                ],
                w,
            )
        )
        cpu = r.cpu_exec_s + r.cpu_cons_s
        p(
            fmt_row(
                [f"{phase} node end to end", r.txs, r.seconds, r.tps, cpu, cpu / r.txs * 1e6, len(r.blocks)],
                w,
            )
        )
        if r.exec_ms:
            p(
                fmt_row(
                    [
                        f"{phase} node block exec (log)",
                        r.exec_txs,
                        r.exec_ms / 1000,
                        r.exec_txs / (r.exec_ms / 1000),
                        "",
                        "",
                        len(r.blocks),
                    ],
                    w,
                )
            )
        p(
            fmt_row(
                [
                    f"{phase} node submit only",
                    r.submit.accepted,
                    r.submit.seconds,
                    r.submit.accepted / r.submit.seconds,
                    "",
                    "",
                    "",
                ],
                w,
            )
        )
    p(
        "  (cpu s for the node = execution + consensus process CPU over the phase; exec (log) = sum of 'exec=' of its blocks)"
    )
    for phase in ("native", "erc20"):
        r = node[phase]
        p(f"  {phase}: node CPU execution process {r.cpu_exec_s:.2f}s, consensus process {r.cpu_cons_s:.2f}s; "
          f"submission {r.submit.seconds:.2f}s of {r.seconds:.2f}s end to end")  # fmt: skip
    p("")
    w2 = [26, 9, 8, 10]
    p(fmt_row(["eth_sendRawTransaction", "accepted", "wall s", "tx/s"], w2))
    p("-" * (sum(w2) + 6))
    for method, r in node["probe"]:
        p(
            fmt_row(
                [method.name, r.submit.accepted, r.submit.seconds, r.submit.accepted / r.submit.seconds], w2
            )
        )
    p("")
    w3 = [22, 14, 14]
    p(fmt_row(["RPC reads (req/s)", "1 client", "16 clients"], w3))
    p("-" * (sum(w3) + 4))
    for label in ("eth_getBalance", "eth_call balanceOf", "eth_blockNumber", "eth_getTransactionReceipt"):
        one, sixteen = node["reads"][(label, 1)], node["reads"][(label, 16)]
        errs = one[2] + sixteen[2]
        p(fmt_row([label, one[0], sixteen[0]], w3) + (f"  ({errs} errors)" if errs else ""))
    p(
        "  (peers, FIELD-NOTES: anvil getBalance 12.1k/76.3k, eth_call 10.6k/37.6k; hardhat 4.3k/20.4k, 1.8k/2.6k)"
    )
    p("")
    msg, rows = overhead
    if rows is None:
        p(f"consensus overhead: {msg}")
    else:
        keys = [k for k in rows[0] if k != "n"]
        w4 = [4] + [max(12, len(k)) for k in keys]
        p(f"consensus overhead per height (tests/sim/overhead.py, {OVERHEAD_HEIGHTS} heights)")
        p(fmt_row(["n", *keys], w4))
        for row in rows:
            p(
                fmt_row(
                    [
                        str(row["n"]),
                        *[
                            row.get(k, "") if not isinstance(row.get(k), (dict, list)) else str(row.get(k))
                            for k in keys
                        ],
                    ],
                    w4,
                )
            )
    p("")
    p(
        "(bare = py-evm as installed: eth-hash's default keccak backend, two sender recoveries per tx;"
        " the node: pysha3 keccak, one recovery, one-pass tx/receipt roots, no deep copies of RLP objects,"
        " jump analysis once per code)"
    )
    for phase in ("native", "erc20"):
        p(f"ratio node/bare {phase}: {node[phase].tps / bare[phase]['tps']:.2f}")
    for phase in ("native", "erc20"):
        b = bare[phase]
        r = node[phase]
        cpu = r.cpu_exec_s + r.cpu_cons_s
        p(f"ratio node/bare {phase} (CPU per tx, bare/node): {(b['cpu_s'] / b['txs']) / (cpu / r.txs):.2f}")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ", time.gmtime()) + msg, file=sys.stderr, flush=True)


def run_async(coro: Awaitable[Any]) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def import_report() -> str:
    from bench.import_bench import run_import_bench

    r = run_import_bench()
    return "\n".join(
        [
            "",
            f"chain import ({r['blocks']:,} blocks, {r['txs']:,} txs: transfers and ERC-20 calls)",
            f"{'':28}{'wall s':>10}{'blocks/s':>10}{'tx/s':>10}",
            f"{'node (jsc_node.importer)':28}{r['node_import_s']:>10.2f}{r['node_blocks_per_s']:>10.1f}{r['node_tx_per_s']:>10.1f}",
            f"{'bare py-evm import_block':28}{r['bare_import_s']:>10.2f}{r['bare_blocks_per_s']:>10.1f}{r['bare_tx_per_s']:>10.1f}",
            f"ratio node/bare import: {r['node_vs_bare']:.2f}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--txs", type=int, default=2000, help="transactions per phase (default 2000)")
    parser.add_argument("--senders", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the tmp dir (node logs)")
    parser.add_argument("--skip-import", action="store_true", help="leave out the chain-import section (d)")
    parser.add_argument("--skip-network", action="store_true", help="leave out the 4-validator section (e)")
    parser.add_argument(
        "--network-txs",
        type=int,
        default=2000,
        help="ERC-20 transfers per round of section (e) (default 2000)",
    )
    parser.add_argument(
        "--network-rounds",
        type=int,
        default=3,
        help="timed rounds of section (e), median reported (default 3)",
    )
    parser.add_argument(
        "--py-spy", choices=("native", "erc20"), default=None,
        help="sample the execution process with py-spy during this phase (TMP/py-spy-PHASE.txt; implies --keep)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.py_spy:
        args.keep = True

    from jsc_node.genesis import DEV_VALIDATOR_KEY
    from jsc_node.node import DEV_ACCOUNTS

    started = time.perf_counter()
    meta: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "txs": args.txs,
        "senders": args.senders,
    }
    log(f"bench: signing {args.txs} native + {args.txs} ERC-20 + probe transactions ...")
    t = time.perf_counter()
    w = wl.build(DEV_ACCOUNTS[0][1], n_tx=args.txs, n_senders=args.senders, probe_txs=min(500, args.txs))
    meta["sign_s"] = time.perf_counter() - t

    tmpdir = tempfile.mkdtemp(prefix="jsc-bench-")
    tmp = Path(tmpdir)
    with open(tmp / "workload.pickle", "wb") as f:
        pickle.dump({"alloc": w.alloc, "native": w.native, "setup": w.setup, "erc20": w.erc20}, f)

    def run_bare() -> dict[str, Any] | None:
        done = subprocess.run(
            [sys.executable, "-m", "bench.bare", str(tmp / "workload.pickle")],
            cwd=ROOT, capture_output=True, text=True, timeout=BARE_TIMEOUT_S,
        )  # fmt: skip
        if done.returncode != 0:
            log(done.stderr)
            return None
        out: dict[str, Any] = json.loads(done.stdout)
        log(f"  bare native {out['native']['tps']:.0f} tx/s, erc20 {out['erc20']['tps']:.0f} tx/s")
        return out

    # Bare py-evm runs before and after the node; the ratio uses the faster of the two per
    # phase (the one the shared machine disturbed least), and both are printed.
    log("bench: (a) bare py-evm, run 1 of 2 ...")
    bare_runs = [run_bare()]
    if bare_runs[0] is None:
        return 1

    log("bench: (b) node end to end ...")
    genesis = tmp / "genesis.json"
    write_genesis(genesis, w.alloc, NODE_GAS_LIMIT)
    node = NodeProcess(tmp, genesis, DEV_VALIDATOR_KEY)
    node_out: dict[str, Any] | None = None
    try:
        node.start()
        meta["node_start_s"] = node.started_s
        node_out = run_async(node_run(node, w, log, args.py_spy))
    except Exception as exc:
        import traceback

        log(f"bench: node phase failed: {type(exc).__name__}: {exc}")
        log("".join(traceback.format_exception(exc)[-6:]))
        log(node.tail())
    finally:
        code = node.stop()
        if code not in (0, None):
            log(f"bench: node exited with {code} on SIGTERM (expected 0)")
            log(node.tail())
    if node_out is None:
        log(f"bench: node logs kept in {tmp}")
        return 1

    log("bench: (a) bare py-evm, run 2 of 2 ...")
    bare_runs.append(run_bare())
    runs = [r for r in bare_runs if r is not None]
    bare = {phase: max((r[phase] for r in runs), key=lambda x: x["tps"]) for phase in ("native", "erc20")}
    meta["bare_runs"] = {phase: [r[phase]["tps"] for r in runs] for phase in ("native", "erc20")}

    log("bench: (c) consensus overhead ...")
    overhead = consensus_overhead()
    print(report(bare, node_out, overhead, meta), flush=True)
    if not args.skip_import:
        log("bench: (d) chain import: node vs bare py-evm, same blocks ...")
        print(import_report(), flush=True)
    if not args.skip_network:
        from bench.network import network_section

        log("bench: (e) 4 validators on this machine, then a 5th node syncing from them ...")
        net = network_section(args.network_txs, args.network_rounds, tmp, log, run_async)
        print(net, flush=True)
    print(f"\n(total bench time {time.perf_counter() - started:.0f}s; node logs: "
          f"{tmp if args.keep else 'removed, use --keep'})")  # fmt: skip
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
