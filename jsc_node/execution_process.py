"""Main of the execution process (asyncio): LevelDB, py-evm, the tx pool, the seam server and
the JSON-RPC server (uvicorn). The only process that opens the database."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI

from jsc_node.config import NodeConfig
from jsc_node.errors import InvalidBlock, InvalidTransaction, SeamError
from jsc_node.genesis import GenesisSpec, load_genesis
from jsc_node.seam import SeamServer, hexb, unhex
from jsc_node.state.backend import HeadState, NodeBackend
from jsc_node.state.evm.executor import Executor
from jsc_node.state.pool.pool import PoolLimits, TxPool
from jsc_node.state.storage.leveldb import LevelDB
from jsc_node.views import SyncStatus, SyncStatusEvent

log = logging.getLogger("jsc_node.execution")

MAX_SYNC_BLOCKS = 128


def header_summary(header: BlockHeaderAPI) -> dict[str, Any]:
    return {
        "number": header.block_number,
        "hash": hexb(header.hash),
        "parent_hash": hexb(header.parent_hash),
        "timestamp": header.timestamp,
        "coinbase": hexb(header.coinbase),
        "extra_data": hexb(header.extra_data),
        "gas_limit": header.gas_limit,
    }


class ExecutionService:
    """Carries out the seam's requests. Block work runs in one worker thread, one at a time,
    so JSON-RPC keeps answering while a block executes."""

    def __init__(self, executor: Executor, pool: TxPool, backend: NodeBackend) -> None:
        self.executor = executor
        self.pool = pool
        self.backend = backend
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="block")
        self.on_commit: list[Any] = []
        self.on_sync: list[Callable[[SyncStatus | None], None]] = []

    async def _in_worker(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def handlers(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "header": self.header,
            "headers": self.headers,
            "status": self.status,
            "build_block": self.build_block,
            "validate_block": self.validate_block,
            "commit_block": self.commit_block,
            "remote_txs": self.remote_txs,
            "take_txs": self.take_txs,
            "set_peers": self.set_peers,
            "blocks": self.blocks,
            "set_sync": self.set_sync,
        }

    async def head(self, params: dict[str, Any]) -> dict[str, Any]:
        return header_summary(self.executor.head)

    async def header(self, params: dict[str, Any]) -> dict[str, Any] | None:
        number = int(params["number"])
        header = (
            self.backend.reader.header_by_number(number)
            if number <= self.executor.head.block_number
            else None
        )
        return None if header is None else header_summary(header)

    async def headers(self, params: dict[str, Any]) -> list[str]:
        start = int(params["start"])
        count = min(int(params.get("count", 1)), 1024)
        end = min(start + count, self.executor.head.block_number + 1)
        found = []
        for number in range(start, end):
            header = self.backend.reader.header_by_number(number)
            if header is None:
                break
            found.append(hexb(rlp.encode(header)))
        return found

    async def status(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "pending": self.pool.pending_count(),
            "head": self.executor.head.block_number,
            "votes": {hexb(address): add for address, add in self.backend.votes.items()},
        }

    async def build_block(self, params: dict[str, Any]) -> dict[str, Any]:
        parent = unhex(params["parent"])
        if parent != self.executor.head.hash:
            raise SeamError(f"build_block: parent 0x{parent.hex()} is not the head")
        candidates = self.pool.pending_for_block(self.backend.next_base_fee())
        executed = await self._in_worker(
            self.executor.build_block,
            parent,
            int(params["timestamp"]),
            unhex(params["coinbase"]),
            unhex(params["extra_data"]),
            (pooled.tx for pooled in candidates),
        )
        for tx_hash, reason in executed.skipped:
            log.debug("left tx 0x%s out of block %d: %s", tx_hash.hex(), executed.number, reason)
        return {
            "block": hexb(rlp.encode(executed.block)),
            "hash": hexb(executed.hash),
            "number": executed.number,
            "tx_count": len(executed.block.transactions),
        }

    async def validate_block(self, params: dict[str, Any]) -> dict[str, Any]:
        executed = await self._in_worker(self.executor.validate_block, unhex(params["block"]))
        return {"hash": hexb(executed.hash), "number": executed.number}

    async def commit_block(self, params: dict[str, Any]) -> dict[str, Any]:
        executed = await self._in_worker(self.executor.commit_block, unhex(params["block"]))
        head = self.executor.head
        txs = executed.block.transactions
        self.pool.on_new_head(
            head.gas_limit,
            self.backend.next_base_fee(),
            [bytes(tx.hash) for tx in txs],
            {bytes(tx.sender) for tx in txs},
        )
        log.info(
            "committed block %d 0x%s txs=%d gas=%d exec=%.0fms",
            head.block_number,
            head.hash.hex()[:12],
            len(txs),
            head.gas_used,
            executed.elapsed_s * 1000,
        )
        for listener in self.on_commit:
            listener(executed)
        return {"hash": hexb(executed.hash), "number": executed.number}

    async def remote_txs(self, params: dict[str, Any]) -> dict[str, Any]:
        # One journal fsync for the whole batch; refusals are the peers' problem, not ours.
        results = self.pool.add_batch([unhex(raw) for raw in params.get("txs", [])])
        return {"accepted": sum(1 for r in results if not isinstance(r, InvalidTransaction))}

    async def take_txs(self, params: dict[str, Any]) -> list[str]:
        """Local transactions accepted since the last call, oldest first, at most ``max``."""
        outbox = self.backend.local_txs
        count = min(int(params.get("max", len(outbox))), len(outbox))
        return [hexb(outbox.popleft()) for _ in range(count)]

    async def blocks(self, params: dict[str, Any]) -> list[str]:
        """Canonical blocks with their seals from ``start`` (block sync's server side): at most
        ``count`` (<= 128), and no more once ``max_bytes`` is reached (at least one block)."""
        start = int(params["start"])
        count = max(0, min(int(params.get("count", 1)), MAX_SYNC_BLOCKS))
        max_bytes = int(params.get("max_bytes", 8 * 1024 * 1024))
        found: list[str] = []
        size = 0
        for number in range(start, start + count):
            raw = await self.backend.raw_block(number)
            if raw is None:
                break
            found.append(hexb(raw))
            size += len(raw)
            if size >= max_bytes:
                break
        return found

    async def set_sync(self, params: dict[str, Any]) -> dict[str, Any]:
        """eth_syncing: ``{"starting", "current", "highest"}`` while catching up, ``{}`` after.
        The ``syncing`` subscription hears when catching up starts and when it stops (geth)."""
        was_syncing = self.backend.sync_status is not None
        if "highest" in params:
            self.backend.sync_status = SyncStatus(
                int(params["starting"]), int(params["current"]), int(params["highest"])
            )
        else:
            self.backend.sync_status = None
        status = self.backend.sync_status
        if (status is not None) != was_syncing:
            for listener in self.on_sync:
                listener(status)
        return {}

    async def set_peers(self, params: dict[str, Any]) -> dict[str, Any]:
        self.backend.peers = int(params.get("count", 0))
        self.backend.p2p_listening = bool(params.get("listening", False))
        self.backend.p2p_node = params.get("node")
        self.backend.p2p_peers = list(params.get("peers", []))
        return {}


def open_node_state(config: NodeConfig, spec: GenesisSpec) -> tuple[LevelDB, Executor, TxPool, NodeBackend]:
    db = LevelDB(config.data_path / "chaindata")
    try:
        executor = Executor(db, spec)
    except Exception:
        db.close()
        raise
    limits = PoolLimits(
        max_size=config.tx_pool_max_size,
        max_per_sender=config.tx_pool_max_per_sender,
        price_bump_percent=config.tx_pool_price_bump_percent,
        min_gas_price=config.min_gas_price,
    )
    head_state = HeadState(executor)
    pool = TxPool(spec.chain_id, head_state, limits, journal_path=config.data_path / "txpool.journal")
    backend = NodeBackend(
        executor,
        pool,
        gas_cap=config.rpc_gas_cap,
        min_gas_price=config.min_gas_price,
        evm_timeout_s=config.rpc_evm_timeout,
    )
    backend.head_state = head_state  # one head state for the pool and RPC reads
    pool.set_head(executor.head.gas_limit, backend.next_base_fee())
    restored = pool.load_journal()
    if restored:
        log.info("restored %d transactions from the pool journal", restored)
    return db, executor, pool, backend


async def serve(config: NodeConfig, seam_path: str) -> None:
    import uvicorn

    from jsc_node.rpc.app import create_app, server_options
    from jsc_node.rpc.subscriptions import EventHub

    spec = load_genesis(config.genesis_file)
    db, executor, pool, backend = open_node_state(config, spec)
    service = ExecutionService(executor, pool, backend)
    # Chain events for eth_subscribe and filters; their views are built only while someone listens.
    hub = EventHub()
    service.on_commit.append(
        lambda executed: hub.publish_from(lambda: backend.committed_block_events(executed))
    )
    pool.subscribe(lambda txs: hub.publish_from(lambda: [backend.pending_txs_event(txs)]))
    service.on_sync.append(lambda status: hub.publish(SyncStatusEvent(status)))
    seam = SeamServer(seam_path, service.handlers())
    Path(seam_path).unlink(missing_ok=True)
    await seam.start()

    app = create_app(backend, config, hub)
    # uvicorn runs inside this process's uvloop loop (loop="none"), next to the seam server.
    options = {**server_options(config), "loop": "none", "log_level": "warning"}
    listeners = []
    if config.rpc_http_enabled:
        listeners.append((config.rpc_http_host, config.rpc_http_port))
    if config.rpc_ws_enabled and config.rpc_ws_port != config.rpc_http_port:
        listeners.append((config.rpc_ws_host, config.rpc_ws_port))
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, **options)) for host, port in listeners
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for server in servers:
        server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    log.info(
        "execution ready: chain %d head %d, RPC http://%s:%d",
        spec.chain_id,
        executor.head.block_number,
        config.rpc_http_host,
        config.rpc_http_port,
    )
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await seam.close()
        pool.close()
        db.close()
        log.info("execution process stopped cleanly")


def main(config: NodeConfig, seam_path: str) -> None:
    import uvloop

    from jsc_node.state import startup

    startup.install()  # the runtime patches, BFT block hash and RPC time limit, before any chain opens
    uvloop.run(serve(config, seam_path))


__all__ = ["ExecutionService", "InvalidBlock", "main", "open_node_state"]
