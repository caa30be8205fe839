"""(e) of ``make bench``: four QBFT validators on this machine, and a fifth node syncing from them.

The layout is ``jsc-node devnet``'s (jsc_node/devnet.py: keys, genesis, ports base+10i, every node
dialling every validator), with the bench senders funded; the nodes are started here, one
``jsc-node run`` each in its own process group, so the bench owns their pids.

The gas limit is the devnet's (30M, about 580 ERC-20 transfers a block), not section (b)'s 100M:
with 100M a 1,800-transfer block took longer to build and re-execute on four validators sharing
2 cores than the 10 s QBFT request timeout, so that height went through rounds 0, 1 and 2 and
2,000 transfers took 71 s instead of about 27 s.

Load: the signed ERC-20 transfers of bench/workload.py, in batches of ``SUBMIT_BATCH``, batch k to
validator k mod 4 (one connection per validator, all four at once). Each tx's submission time is
when its batch was sent. A watcher polls every validator's eth_blockNumber every ``POLL_S``: a tx
is final when the block holding it is on a validator (QBFT is final on commit) and final on all
four when every validator's head has reached it. Reported: tx/s from the first submission to the
last tx final on all four, latency p50/p99 from submission, and the ratio to bare py-evm ERC-20
tx/s (the goal is >= 0.45x: on 2 cores four validators re-execute every block).

Rounds: this machine is shared, and one 2,000-transfer run moved the ratio between 0.42 and 0.60
from one run to the next. So the load runs ``--rounds`` times (default 3) on the same network,
each round with the next nonces of the same senders, and bare py-evm is measured again right
before each round on that round's transfers, after the setup and the earlier rounds' transfers
(untimed) so that its state is the network's; each round's ratio is to the bare run beside it, and
the median round is the figure.

Sync: then a fifth node (no validator key in genesis, empty data dir, ``--bootnodes`` to the four)
starts, and we time its eth_blockNumber reaching the validators' head; a node that does not catch
up within ``SYNC_TIMEOUT_S`` is reported as "not available", not as a failure.

Every wait is bounded; only 127.0.0.1 is used; every node is stopped (SIGTERM, bounded wait,
SIGKILL) on any exit, Ctrl-C included. Standalone: ``python -m bench.network [--txs N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import workload as wl
from bench.node import cpu_seconds
from bench.rpc import Conn, RpcError, hx

ROOT = Path(__file__).resolve().parent.parent
VALIDATORS = 4
DEFAULT_TXS = 2000
DEFAULT_ROUNDS = 3
SUBMIT_BATCH = 100
POLL_S = 0.05
SYNC_POLL_S = 0.2
READY_TIMEOUT_S = 150.0
SETUP_TIMEOUT_S = 90.0
FINAL_TIMEOUT_S = 120.0
SYNC_TIMEOUT_S = 120.0
BARE_TIMEOUT_S = 240.0


@dataclass
class Sync:
    ok: bool
    message: str
    target: int = 0
    txs: int = 0
    ready_s: float = 0.0
    """Process start to JSON-RPC answering."""
    caught_up_s: float = 0.0
    """Process start to eth_blockNumber >= target."""
    first_block_s: float = 0.0
    """Process start to eth_blockNumber > 0 (peering and the sync's first request before it)."""
    first_head: int = 0
    """The fifth node's head when first seen above 0."""
    first_txs: int = 0
    """Txs in blocks 1..first_head."""


@dataclass
class Round:
    """One timed load of ``txs`` ERC-20 transfers, and bare py-evm measured just before it."""

    txs: int
    accepted: int
    seconds: float
    """First submission to the last tx final on all four validators."""
    submit_s: float
    latency_first: list[float]
    """Per tx: submission to its block committed on the first validator seen with it."""
    latency_all: list[float]
    """Per tx: submission to its block reached by all four validators."""
    blocks: set[int]
    failed: int
    cpu_s: dict[str, float]
    """CPU seconds over the round, all four nodes, per process role."""
    exec_ms: list[int] = field(default_factory=list)
    """Per validator: sum of ``exec=`` of the round's blocks in its log."""
    bare: dict[str, Any] = field(default_factory=dict)
    """bench/bare.py's ERC-20 figures, measured right before the round."""

    @property
    def tps(self) -> float:
        return self.txs / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.tps / self.bare["tps"] if self.bare.get("tps") else 0.0


@dataclass
class NetworkResult:
    start_s: float
    setup_s: float
    rounds: list[Round]
    head_check: str
    heads_equal: bool
    sync: Sync
    gas_limit: int

    @property
    def median(self) -> Round:
        return sorted(self.rounds, key=lambda r: r.ratio)[(len(self.rounds) - 1) // 2]


# --- processes -----------------------------------------------------------------------------


def prepare(directory: Path, w: wl.Workload) -> Any:
    """A devnet directory: 4 validator keys, 1 RPC-node key, genesis with the bench senders."""
    from jsc_node.devnet import DevnetOptions, free_base_port, prepare_devnet
    from jsc_node.devtools import write_devnet

    write_devnet(directory, VALIDATORS, 1337, 1, timestamp=int(time.time()))
    genesis_file = directory / "genesis.json"
    genesis = json.loads(genesis_file.read_text())
    for address, balance in w.alloc.items():
        genesis["alloc"].setdefault(address.hex(), {"balance": hex(balance)})
    genesis_file.write_text(json.dumps(genesis, indent=1))
    options = DevnetOptions(directory, VALIDATORS, rpc_nodes=1, base_port=free_base_port(VALIDATORS + 1))
    return prepare_devnet(options)


def process_roles(nodes: list[Any]) -> dict[int, str]:
    """pid -> supervisor / execution (holds LevelDB open) / other (consensus, resource tracker)."""
    roles: dict[int, str] = {}
    for node in nodes:
        for proc in node.processes:
            role = "other"
            if proc.pid == node.process.pid:
                role = "supervisor"
            else:
                with contextlib.suppress(OSError):
                    for fd in Path(f"/proc/{proc.pid}/fd").iterdir():
                        with contextlib.suppress(OSError):
                            if "chaindata" in os.readlink(fd):
                                role = "execution"
                                break
            roles[proc.pid] = role
    return roles


def node_cpu(roles: dict[int, str]) -> dict[str, float]:
    out = dict.fromkeys(("execution", "other", "supervisor"), 0.0)
    for pid, role in roles.items():
        out[role] += cpu_seconds(pid)
    return out


def exec_ms_in_log(path: Path, blocks: set[int]) -> int:
    from bench.node import COMMIT_RE

    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace")
        return sum(int(m.group(4)) for m in COMMIT_RE.finditer(text) if int(m.group(1)) in blocks)
    return 0


# --- watching blocks -----------------------------------------------------------------------


@dataclass
class Watcher:
    """Every validator's head, polled together; when each block was first seen and seen by all."""

    conns: list[Conn]
    heads: list[int] = field(default_factory=list)
    first_seen: dict[int, float] = field(default_factory=dict)
    all_seen: dict[int, float] = field(default_factory=dict)
    block_txs: dict[int, list[str]] = field(default_factory=dict)
    tx_block: dict[str, int] = field(default_factory=dict)

    async def poll(self) -> None:
        heads = [int(h, 16) for h in await asyncio.gather(*(c.call("eth_blockNumber") for c in self.conns))]
        now = time.perf_counter()
        top = max(heads)
        known = max(self.first_seen, default=0)
        if top > known:
            leader = heads.index(top)
            numbers = range(known + 1, top + 1)
            answers = await self.conns[leader].batch(
                [("eth_getBlockByNumber", (hex(n), False)) for n in numbers]
            )
            for n, a in zip(numbers, answers, strict=True):
                self.first_seen[n] = now
                hashes = list(a["result"]["transactions"]) if a.get("result") else []
                self.block_txs[n] = hashes
                for h in hashes:
                    self.tx_block[h] = n
        low = min(heads)
        for n in range(max(self.all_seen, default=0) + 1, low + 1):
            self.all_seen[n] = now
        self.heads = heads

    async def until(self, hashes: set[str], timeout_s: float, what: str) -> None:
        """Poll until every hash is in a block that all validators have reached."""
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            await self.poll()
            if all(h in self.tx_block and self.tx_block[h] in self.all_seen for h in hashes):
                return
            await asyncio.sleep(POLL_S)
        missing = sum(1 for h in hashes if h not in self.tx_block)
        raise TimeoutError(
            f"{what}: {missing} of {len(hashes)} txs not in a block after {timeout_s:.0f}s "
            f"(validator heads {self.heads})"
        )


async def submit_round_robin(
    conns: list[Conn], raws: list[bytes], sent_at: dict[str, float], refused: list[str]
) -> int:
    """Batch k to validator k mod len(conns); all validators' connections at once."""
    chunks = [raws[i : i + SUBMIT_BATCH] for i in range(0, len(raws), SUBMIT_BATCH)]
    accepted = 0

    async def worker(index: int) -> None:
        nonlocal accepted
        for chunk in chunks[index :: len(conns)]:
            now = time.perf_counter()
            for raw in chunk:
                sent_at["0x" + wl.tx_hash(raw).hex()] = now
            answers = await conns[index].batch([("eth_sendRawTransaction", (hx(r),)) for r in chunk])
            for a in answers:
                if "error" in a:
                    refused.append(str(a["error"]))
                else:
                    accepted += 1

    await asyncio.gather(*(worker(i) for i in range(len(conns))))
    return accepted


async def receipts_failed(conn: Conn, hashes: set[str], blocks: set[int]) -> int:
    ok = 0
    for n in sorted(blocks):
        for receipt in await conn.call("eth_getBlockReceipts", hex(n)) or []:
            if receipt["transactionHash"] in hashes and receipt.get("status") == "0x1":
                ok += 1
    return len(hashes) - ok


# --- the section ---------------------------------------------------------------------------


async def setup(ports: list[int], w: wl.Workload, log: Callable[[str], None]) -> float:
    """Untimed: deploy the token and give every ERC-20 sender tokens (through one validator)."""
    conns = [await Conn(p).open() for p in ports]
    watcher = Watcher([await Conn(p).open() for p in ports])
    try:
        t = time.perf_counter()
        refused: list[str] = []
        await submit_round_robin(conns[:1], w.setup, {}, refused)
        if refused:
            raise RuntimeError(f"setup refused: {refused[:3]}")
        setup_hashes = {"0x" + wl.tx_hash(r).hex() for r in w.setup}
        await watcher.until(setup_hashes, SETUP_TIMEOUT_S, "setup")
        setup_s = time.perf_counter() - t
        setup_blocks = {watcher.tx_block[h] for h in setup_hashes}
        if await receipts_failed(conns[0], setup_hashes, setup_blocks):
            raise RuntimeError("token deploy or distribution failed")
        log(f"  network setup: {len(w.setup)} txs final on all validators in {setup_s:.1f}s")
        return setup_s
    finally:
        for c in conns + watcher.conns:
            await c.close()


async def load(
    ports: list[int],
    raws: list[bytes],
    log: Callable[[str], None],
    cpu: Callable[[], dict[str, float]],
    block_txs: dict[int, list[str]],
) -> Round:
    """One timed round: ``raws`` round robin over the validators, until all are final on all four.
    ``block_txs`` collects every block's tx hashes (for the sync section)."""
    # One request in flight per Conn: the watcher polls on connections of its own.
    conns = [await Conn(p).open() for p in ports]
    watcher = Watcher([await Conn(p).open() for p in ports])
    try:
        await watcher.poll()  # blocks of earlier rounds are known before the clock starts
        refused: list[str] = []
        sent_at: dict[str, float] = {}
        hashes = {"0x" + wl.tx_hash(r).hex() for r in raws}
        cpu0 = cpu()
        started = time.perf_counter()
        poller = asyncio.create_task(watcher.until(hashes, FINAL_TIMEOUT_S, "erc20"))
        try:
            accepted = await submit_round_robin(conns, raws, sent_at, refused)
            submit_s = time.perf_counter() - started
            log(f"  network erc20: {accepted} accepted in {submit_s:.2f}s over {len(conns)} validators")
            if refused:
                raise RuntimeError(f"{len(refused)} transfers refused, first: {refused[:3]}")
        except BaseException:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await poller
            raise
        await poller
        blocks = {watcher.tx_block[h] for h in hashes}
        last_all = max(watcher.all_seen[n] for n in blocks)
        cpu1 = cpu()
        block_txs.update(watcher.block_txs)
        return Round(
            txs=len(raws),
            accepted=accepted,
            seconds=last_all - started,
            submit_s=submit_s,
            latency_first=sorted(watcher.first_seen[watcher.tx_block[h]] - sent_at[h] for h in hashes),
            latency_all=sorted(watcher.all_seen[watcher.tx_block[h]] - sent_at[h] for h in hashes),
            blocks=blocks,
            failed=await receipts_failed(conns[0], hashes, blocks),
            cpu_s={k: cpu1[k] - cpu0[k] for k in cpu1},
        )
    finally:
        for c in conns + watcher.conns:
            await c.close()


async def same_head(ports: list[int]) -> tuple[int, list[str]]:
    """The lowest head of the validators, and its hash on every validator."""
    conns = [await Conn(p).open() for p in ports]
    try:
        heads = [int(h, 16) for h in await asyncio.gather(*(c.call("eth_blockNumber") for c in conns))]
        height = min(heads)
        got = await asyncio.gather(*(c.call("eth_getBlockByNumber", hex(height), False) for c in conns))
        return height, [b["hash"] for b in got]
    finally:
        for c in conns:
            await c.close()


async def measure_sync(
    node: Any, validator_ports: list[int], block_txs: dict[int, list[str]], started: float
) -> Sync:
    """Poll the fifth node until its head reaches the validators' head at its start (bounded)."""
    conns = [await Conn(p).open() for p in validator_ports]
    try:
        heads = [int(h, 16) for h in await asyncio.gather(*(c.call("eth_blockNumber") for c in conns))]
        target = max(heads)
        want_hash = (await conns[heads.index(target)].call("eth_getBlockByNumber", hex(target), False))[
            "hash"
        ]
    finally:
        for c in conns:
            await c.close()
    sync = Sync(False, "", target=target, txs=sum(len(block_txs.get(n, [])) for n in range(1, target + 1)))
    deadline = started + SYNC_TIMEOUT_S
    conn: Conn | None = None
    try:
        while time.perf_counter() < deadline:
            if node.process.poll() is not None:
                sync.message = (
                    f"not available (the fifth node exited with {node.process.returncode}; "
                    f"see {node.plan.log_path})"
                )
                return sync
            if conn is None:
                with contextlib.suppress(OSError):
                    conn = await Conn(node.plan.http_port).open()
                    sync.ready_s = sync.ready_s or time.perf_counter() - started
            if conn is not None:
                try:
                    head = int(await conn.call("eth_blockNumber"), 16)
                except (OSError, asyncio.IncompleteReadError, RpcError):
                    # Stopping or restarting: the next turn sees its exit code, or reconnects.
                    await conn.close()
                    conn = None
                    await asyncio.sleep(SYNC_POLL_S)
                    continue
                if head > 0 and not sync.first_block_s:
                    sync.first_block_s = time.perf_counter() - started
                    sync.first_head = head
                    sync.first_txs = sum(len(block_txs.get(n, [])) for n in range(1, head + 1))
                if head >= target:
                    sync.caught_up_s = time.perf_counter() - started
                    got = (await conn.call("eth_getBlockByNumber", hex(target), False))["hash"]
                    sync.ok = got == want_hash
                    sync.message = (
                        "ok" if sync.ok else f"block {target} hash {got}, validators have {want_hash}"
                    )
                    return sync
            await asyncio.sleep(SYNC_POLL_S)
        sync.message = f"not available (node did not catch up within {SYNC_TIMEOUT_S:.0f} s)"
        return sync
    finally:
        if conn is not None:
            await conn.close()


def run_network(
    w: wl.Workload,
    n_tx: int,
    rounds: int,
    tmp: Path,
    log: Callable[[str], None],
    run_async: Callable[[Any], Any],
    log_level: str = "INFO",
) -> NetworkResult:
    """``rounds`` loads of ``n_tx`` transfers (``w.erc20`` holds ``rounds * n_tx``, nonce order),
    bare py-evm measured before each."""
    from jsc_node.devnet import (
        PERMISSIONS_FILE,
        StopFlag,
        process_tree,
        start_node,
        stop_nodes,
        validate_ports_free,
        wait_ready,
        write_permissions_file,
    )

    directory = tmp / "network"
    devnet = prepare(directory, w)
    plans = list(devnet.nodes)
    validators = [p for p in plans if p.validator]
    fifth = next(p for p in plans if not p.validator)
    validate_ports_free(devnet.nodes)
    write_permissions_file(directory / PERMISSIONS_FILE, plans)
    ports = [p.http_port for p in validators]
    nodes: list[Any] = []
    results: list[Round] = []
    block_txs: dict[int, list[str]] = {}

    def quiet(_msg: str) -> None:
        pass

    try:
        t = time.perf_counter()
        nodes += [start_node(p, devnet.genesis_file, log_level) for p in validators]
        failed = wait_ready(nodes, StopFlag(), READY_TIMEOUT_S)
        if failed is not None:
            raise RuntimeError(f"{failed.plan.name} exited: see {failed.plan.log_path}")
        start_s = time.perf_counter() - t
        log(f"  network: {VALIDATORS} validators answering JSON-RPC in {start_s:.1f}s")
        roles = process_roles(nodes)
        setup_s = run_async(setup(ports, w, log))
        for k in range(rounds):
            bare = bare_erc20(w, n_tx, k, tmp)
            log(f"  network round {k + 1}/{rounds}: bare erc20 {bare['tps']:.0f} tx/s")
            result = run_async(
                load(ports, w.erc20[k * n_tx : (k + 1) * n_tx], log, lambda: node_cpu(roles), block_txs)
            )
            result.bare = bare
            result.exec_ms = [exec_ms_in_log(p.log_path, result.blocks) for p in validators]
            log(f"  network round {k + 1}/{rounds}: {result.tps:.0f} tx/s, ratio {result.ratio:.2f}")
            results.append(result)
        height, hashes = run_async(same_head(ports))

        log("  network: starting a fifth node (not a validator) to sync ...")
        t = time.perf_counter()
        nodes.append(start_node(fifth, devnet.genesis_file, log_level))
        sync = run_async(measure_sync(nodes[-1], ports, block_txs, t))
        nodes[-1].processes = process_tree(nodes[-1].process.pid)
        log(f"  network sync: {sync.message}")
    finally:
        stop_nodes(nodes, quiet)
    equal = len(set(hashes)) == 1
    check = (
        f"all {VALIDATORS} validators have block {height} = {hashes[0]}"
        if equal
        else f"MISMATCH at block {height}: {', '.join(hashes)}"
    )
    return NetworkResult(
        start_s=start_s,
        setup_s=setup_s,
        rounds=results,
        head_check=check,
        heads_equal=equal,
        sync=sync,
        gas_limit=int(json.loads(devnet.genesis_file.read_text())["gasLimit"], 16),
    )


# --- report --------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def report(r: NetworkResult) -> str:
    from bench.run import fmt_row

    lines: list[str] = []
    p = lines.append
    m = r.median
    p("")
    p(
        f"(e) {VALIDATORS} validators on this machine: {len(r.rounds)} rounds of {m.txs:,} ERC-20 transfers, "
        f"batches of {SUBMIT_BATCH} round robin over the validators' RPC; gas limit {r.gas_limit / 1e6:.0f}M, "
        "1 s blocks; bare py-evm measured before each round, on the same state"
    )
    p(
        f"validators started (RPC answering) in {r.start_s:.1f}s; setup (deploy + token distribution) "
        f"final in {r.setup_s:.1f}s"
    )
    p("")
    w = [34, 6, 8, 8, 7, 10, 7, 6]
    p(fmt_row(["throughput", "txs", "wall s", "tx/s", "cpu s", "cpu us/tx", "blocks", "ratio"], w))
    p("-" * (sum(w) + 2 * (len(w) - 1)))
    for k, rd in enumerate(r.rounds, 1):
        b = rd.bare
        p(fmt_row([f"round {k}: erc20 bare py-evm", b["txs"], b["seconds"], b["tps"], b["cpu_s"],
                   b["cpu_s"] / b["txs"] * 1e6, b["blocks"], ""], w))  # fmt: skip
        cpu = sum(rd.cpu_s.values())
        p(fmt_row([f"round {k}: {VALIDATORS} validators, final on all", rd.txs, rd.seconds, rd.tps, cpu,
                   cpu / rd.txs * 1e6, len(rd.blocks), f"{rd.ratio:.2f}"], w))  # fmt: skip
    p(fmt_row(["erc20 submit only (median round)", m.accepted, m.submit_s,
               m.accepted / m.submit_s if m.submit_s else 0.0, "", "", "", ""], w))  # fmt: skip
    p(
        f"  (median round's cpu s = all processes of the {VALIDATORS} nodes: execution "
        f"{m.cpu_s['execution']:.2f}s, consensus and others {m.cpu_s['other']:.2f}s, supervisors "
        f"{m.cpu_s['supervisor']:.2f}s; failed receipts: {', '.join(str(rd.failed) for rd in r.rounds)})"
    )
    p(
        f"  (median round's block exec per validator, log exec=: {', '.join(f'{ms / 1000:.2f}s' for ms in m.exec_ms)})"
    )
    p("")
    w2 = [40, 9, 9, 9]
    p(fmt_row(["finality latency from submission (median round)", "p50 s", "p99 s", "max s"], w2))
    p("-" * (sum(w2) + 6))
    for label, values in (
        ("committed on first validator", m.latency_first),
        ("reached by all validators", m.latency_all),
    ):
        p(
            fmt_row(
                [label, percentile(values, 0.5), percentile(values, 0.99), values[-1] if values else 0.0], w2
            )
        )
    p("")
    s = r.sync
    if s.ok:
        p(
            f"sync of a 5th node (empty data dir, bootnodes = the validators) to block {s.target} "
            f"({s.txs:,} txs), seconds after its process started: RPC up {s.ready_s:.1f}, "
            f"head > 0 {s.first_block_s:.1f} (at block {s.first_head}), caught up {s.caught_up_s:.1f}"
        )
        w3 = [30, 7, 7, 8, 10, 8]
        p(fmt_row(["sync", "blocks", "txs", "wall s", "blocks/s", "tx/s"], w3))
        p("-" * (sum(w3) + 10))
        span = s.caught_up_s - s.first_block_s
        rows = [("from process start", s.target, s.txs, s.caught_up_s)]
        if span > 0 and s.target > s.first_head:
            rows.append(("from head > 0 to caught up", s.target - s.first_head, s.txs - s.first_txs, span))
        for label, blocks, txs, secs in rows:
            p(fmt_row([label, blocks, txs, secs, blocks / secs, txs / secs], w3))
    else:
        p(f"sync: {s.message}")
    p(f"check: {r.head_check}")
    ratios = ", ".join(f"{rd.ratio:.2f}" for rd in r.rounds)
    p(
        f"ratio {VALIDATORS}-validator network/bare erc20: {m.ratio:.2f} median of rounds ({ratios}) (goal >= 0.45)"
    )
    return "\n".join(lines)


# --- standalone ----------------------------------------------------------------------------


def build_workload(n_tx: int) -> wl.Workload:
    from jsc_node.node import DEV_ACCOUNTS

    senders = max(40, -(-n_tx // wl.TXS_PER_SENDER))
    return wl.build(DEV_ACCOUNTS[0][1], n_tx=n_tx, n_senders=senders, probe_methods=0)


def bare_erc20(w: wl.Workload, n_tx: int, round_index: int, tmp: Path) -> dict[str, Any]:
    """bench/bare.py timing round ``round_index``'s transfers on the state the network has then:
    the setup and the earlier rounds' transfers go first, untimed."""
    import pickle

    first = round_index * n_tx
    path = tmp / "network-workload.pickle"
    with open(path, "wb") as f:
        workload = {"alloc": w.alloc, "native": [], "setup": w.setup + w.erc20[:first],
                    "erc20": w.erc20[first : first + n_tx]}  # fmt: skip
        pickle.dump(workload, f)
    done = subprocess.run(
        [sys.executable, "-m", "bench.bare", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=BARE_TIMEOUT_S, check=True,
    )  # fmt: skip
    out: dict[str, Any] = json.loads(done.stdout)["erc20"]
    return out


def network_section(
    n_tx: int,
    rounds: int,
    tmp: Path,
    log: Callable[[str], None],
    run_async: Callable[[Any], Any],
) -> str:
    """Section (e) of bench/run.py. A failure is reported, not raised."""
    log(f"  network: signing {rounds} x {n_tx} ERC-20 transfers ...")
    w = build_workload(rounds * n_tx)
    try:
        return report(run_network(w, n_tx, rounds, tmp, log, run_async))
    except Exception as exc:
        import traceback

        log("".join(traceback.format_exception(exc)[-6:]))
        return f"\n(e) {VALIDATORS}-validator network failed: {type(exc).__name__}: {exc} (logs: {tmp / 'network'})"


def main(argv: list[str] | None = None) -> int:
    from bench.run import log, run_async

    parser = argparse.ArgumentParser(prog="python -m bench.network")
    parser.add_argument(
        "--txs", type=int, default=DEFAULT_TXS, help=f"ERC-20 transfers per round (default {DEFAULT_TXS})"
    )
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help=f"timed rounds (default {DEFAULT_ROUNDS})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the tmp dir (node logs)")
    parser.add_argument(
        "--log-level", default="INFO", help="the nodes' --log-level (DEBUG: rounds, timeouts)"
    )
    args = parser.parse_args(argv)
    if args.txs < 1 or args.rounds < 1:
        parser.error("--txs and --rounds must be at least 1")
    tmp = Path(tempfile.mkdtemp(prefix="jsc-bench-net-"))
    log(f"bench: signing {args.rounds} x {args.txs} ERC-20 transfers ...")
    w = build_workload(args.rounds * args.txs)
    log("bench: (e) 4-validator network ...")
    try:
        result = run_network(w, args.txs, args.rounds, tmp, log, run_async, args.log_level)
    except BaseException:
        log(f"bench: network section failed; node logs kept in {tmp}")
        raise
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print(report(result), flush=True)
    return 0 if result.heads_equal else 1


if __name__ == "__main__":
    sys.exit(main())
