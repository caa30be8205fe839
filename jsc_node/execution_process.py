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
from jsc_node.seam.messages import (
    Ack,
    BlockCommitted,
    BlocksReply,
    BlocksRequest,
    BlockValid,
    BuildBlockRequest,
    BuiltBlock,
    CommitBlockRequest,
    Event,
    HeadChanged,
    HeadersReply,
    HeadersRequest,
    HeaderSummary,
    HeadRequest,
    LocalTxs,
    LogLevelChanged,
    NodesAllowlistChanged,
    PendingChanged,
    RemoteTxsRequest,
    Request,
    Response,
    SetPeersRequest,
    SetSyncRequest,
    TxsAccepted,
    ValidateBlockRequest,
    VoteDiscarded,
    VoteProposed,
)
from jsc_node.seam.server import Handler, SeamServer
from jsc_node.state.backend import HeadState, NodeBackend
from jsc_node.state.evm.executor import Executor
from jsc_node.state.permissions import open_account_permissions, open_chain_nodes, open_node_permissions
from jsc_node.state.pool.pool import PoolLimits, TxPool
from jsc_node.state.storage.leveldb import LevelDB
from jsc_node.views import SyncStatus, SyncStatusEvent

log = logging.getLogger("jsc_node.execution")

MAX_HEADERS = 1024
MAX_SYNC_BLOCKS = 128
LOCAL_TX_BATCH = 2_000
LOCAL_TX_BATCH_BYTES = 8 * 1024 * 1024
"""At most this many transactions, and bytes (a frame carries twice as many in hex, within the
seam's 64 MiB), in one ``local_txs`` event."""


def header_summary(header: BlockHeaderAPI) -> HeaderSummary:
    return HeaderSummary(
        number=header.block_number,
        hash=bytes(header.hash),
        parent_hash=bytes(header.parent_hash),
        timestamp=header.timestamp,
        coinbase=bytes(header.coinbase),
        extra_data=bytes(header.extra_data),
        gas_limit=header.gas_limit,
    )


class ExecutionService:
    """Carries out the seam's requests and produces its events. Block work (build, validate,
    commit) runs one request at a time, in arrival order, in one worker thread, so JSON-RPC and
    the seam's short requests keep being answered while a block executes."""

    def __init__(self, executor: Executor, pool: TxPool, backend: NodeBackend) -> None:
        self.executor = executor
        self.pool = pool
        self.backend = backend
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="block")
        # Held by a block request from its first look at the head to its answer: the next one
        # sees the head and the pool as this one left them, as when requests were served in turn.
        self._block_lane = asyncio.Lock()
        self.on_commit: list[Any] = []
        self.on_sync: list[Callable[[SyncStatus | None], None]] = []
        self.events: SeamServer | None = None
        """Where events go (set once the seam server exists)."""
        self._pending_sent = -1
        self._local_txs_ready = asyncio.Event()
        backend.on_local_tx = self._on_local_tx
        backend.on_vote = self._on_vote
        backend.on_log_level = lambda level, loggers: self._publish(LogLevelChanged(level, loggers))
        pool.subscribe(lambda txs: self._check_pending())

    async def _in_worker(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def handlers(self) -> dict[type[Request[Response]], Handler]:
        return {
            HeadRequest: self.head,
            HeadersRequest: self.headers,
            BuildBlockRequest: self.build_block,
            ValidateBlockRequest: self.validate_block,
            CommitBlockRequest: self.commit_block,
            RemoteTxsRequest: self.remote_txs,
            SetPeersRequest: self.set_peers,
            BlocksRequest: self.blocks,
            SetSyncRequest: self.set_sync,
        }

    # -- events --------------------------------------------------------------------------------

    def _publish(self, event: Event) -> None:
        if self.events is not None:
            self.events.publish(event)

    def snapshot(self) -> list[Event]:
        """The events a new subscriber starts from: the pending count and every held vote (the
        operator's and the registry policy's)."""
        self._pending_sent = self.pool.pending_count()
        self._local_txs_ready.set()  # a subscriber for what piled up meanwhile, perhaps
        return [
            PendingChanged(self._pending_sent),
            *(VoteProposed(address, add) for address, add in self.backend.votes.items()),
        ]

    def _check_pending(self) -> None:
        """Push the pool's executable count when it changed. Called wherever the pool changes:
        its new-pending notice, a transaction taken over RPC, remote_txs and commit_block."""
        count = self.pool.pending_count()
        if count != self._pending_sent:
            self._pending_sent = count
            self._publish(PendingChanged(count))

    def _on_local_tx(self) -> None:
        self._local_txs_ready.set()
        self._check_pending()

    def _on_vote(self, address: bytes, add: bool | None) -> None:
        self._publish(VoteDiscarded(address) if add is None else VoteProposed(address, add))

    async def relay_local_txs(self) -> None:
        """Transactions accepted over RPC (backend.local_txs, bounded) go out as ``local_txs``
        events, oldest first, while a connection wants them; they wait in the outbox otherwise."""
        outbox = self.backend.local_txs
        while True:
            await self._local_txs_ready.wait()
            self._local_txs_ready.clear()
            await asyncio.sleep(0)  # what the same burst of RPC calls added goes in one event
            while outbox and self.events is not None and self.events.wants(LocalTxs):
                batch = [outbox.popleft()]
                size = len(batch[0])
                while (
                    outbox and len(batch) < LOCAL_TX_BATCH and size + len(outbox[0]) <= LOCAL_TX_BATCH_BYTES
                ):
                    size += len(outbox[0])
                    batch.append(outbox.popleft())
                self.events.publish(LocalTxs(tuple(batch)))
                await self.events.drain()

    # -- requests ------------------------------------------------------------------------------

    async def head(self, request: HeadRequest) -> HeaderSummary:
        return header_summary(self.executor.head)

    async def headers(self, request: HeadersRequest) -> HeadersReply:
        end = min(request.start + min(request.count, MAX_HEADERS), self.executor.head.block_number + 1)
        found = []
        for number in range(request.start, end):
            header = self.backend.reader.header_by_number(number)
            if header is None:
                break
            found.append(rlp.encode(header))
        return HeadersReply(tuple(found))

    async def build_block(self, request: BuildBlockRequest) -> BuiltBlock:
        async with self._block_lane:
            if request.parent != self.executor.head.hash:
                raise SeamError(f"build_block: parent 0x{request.parent.hex()} is not the head")
            candidates = self.pool.pending_for_block(self.backend.next_base_fee(self.executor.head))
            executed = await self._in_worker(
                self.executor.build_block,
                request.parent,
                request.timestamp,
                request.coinbase,
                request.extra_data,
                (pooled.tx for pooled in candidates),
            )
        for tx_hash, reason in executed.skipped:
            log.debug("left tx 0x%s out of block %d: %s", tx_hash.hex(), executed.number, reason)
        return BuiltBlock(
            block=rlp.encode(executed.block),
            hash=bytes(executed.hash),
            number=executed.number,
            tx_count=len(executed.block.transactions),
        )

    async def validate_block(self, request: ValidateBlockRequest) -> BlockValid:
        async with self._block_lane:
            executed = await self._in_worker(self.executor.validate_block, request.block)
        return BlockValid(bytes(executed.hash), executed.number)

    async def commit_block(self, request: CommitBlockRequest) -> BlockCommitted:
        async with self._block_lane:
            executed = await self._in_worker(self.executor.commit_block, request.block)
            head = self.executor.head
            txs = executed.block.transactions
            self.pool.on_new_head(
                head.gas_limit,
                self.backend.next_base_fee(head),
                [bytes(tx.hash) for tx in txs],
                {bytes(tx.sender) for tx in txs},
            )
            # Only now may RPC show the block: its receipts were readable since the worker wrote
            # them, but "latest" and the pending nonces are right only from here (read-your-writes).
            self.backend.publish_head()
        log.info(
            "committed block %d 0x%s txs=%d gas=%d exec=%.0fms",
            head.block_number,
            head.hash.hex()[:12],
            len(txs),
            head.gas_used,
            executed.elapsed_s * 1000,
            extra={
                "block": head.block_number,
                "hash": "0x" + head.hash.hex(),
                "txs": len(txs),
                "gas_used": head.gas_used,
                "exec_ms": round(executed.elapsed_s * 1000, 1),
            },
        )
        # The registry policy's votes for the new head, pushed before HeadChanged so that the
        # consensus side holds them when it proposes on this head.
        self.backend.apply_registry_policy()
        for listener in self.on_commit:
            listener(executed)
        self._pending_sent = self.pool.pending_count()
        self._publish(HeadChanged(head.block_number, bytes(head.hash), self._pending_sent))
        return BlockCommitted(bytes(executed.hash), executed.number)

    async def remote_txs(self, request: RemoteTxsRequest) -> TxsAccepted:
        # One journal fsync for the whole batch; refusals are the peers' problem, not ours.
        results = self.pool.add_batch(request.txs)
        self._check_pending()
        return TxsAccepted(sum(1 for r in results if not isinstance(r, InvalidTransaction)))

    async def blocks(self, request: BlocksRequest) -> BlocksReply:
        """Canonical blocks with their seals from ``start`` (block sync's server side): at most
        ``count`` (<= 128), and no more once ``max_bytes`` is reached (at least one block)."""
        count = max(0, min(request.count, MAX_SYNC_BLOCKS))
        found: list[bytes] = []
        size = 0
        for number in range(request.start, request.start + count):
            raw = await self.backend.raw_block(number)
            if raw is None:
                break
            found.append(raw)
            size += len(raw)
            if size >= request.max_bytes:
                break
        return BlocksReply(tuple(found))

    async def set_sync(self, request: SetSyncRequest) -> Ack:
        """eth_syncing: the range while catching up, false after. The ``syncing`` subscription
        hears when catching up starts and when it stops (geth)."""
        was_syncing = self.backend.sync_status is not None
        progress = request.progress
        self.backend.sync_status = (
            None if progress is None else SyncStatus(progress.starting, progress.current, progress.highest)
        )
        status = self.backend.sync_status
        if (status is not None) != was_syncing:
            for listener in self.on_sync:
                listener(status)
        return Ack()

    async def set_peers(self, request: SetPeersRequest) -> Ack:
        # The backend keeps these in the shapes admin_nodeInfo and admin_peers answer with.
        node = request.node
        self.backend.peers = request.count
        self.backend.p2p_listening = request.listening
        self.backend.p2p_node = (
            None
            if node is None
            else {"id": node.id, "address": _hex(node.address), "listen_addrs": list(node.listen_addrs)}
        )
        self.backend.p2p_peers = [
            {
                "id": peer.id,
                "address": None if peer.address is None else _hex(peer.address),
                "remote_addrs": list(peer.remote_addrs),
                "inbound": peer.inbound,
            }
            for peer in request.peers
        ]
        return Ack()


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def listeners(config: NodeConfig) -> list[tuple[str, str, int]]:
    """What the execution process listens on: (``rpc`` or ``ui``, host, port). The JSON-RPC app
    serves HTTP and WebSocket on each of its ports; the chain page has one of its own, only with
    ``--ui-port``."""
    found = []
    if config.rpc_http_enabled:
        found.append(("rpc", config.rpc_http_host, config.rpc_http_port))
    if config.rpc_ws_enabled and config.rpc_ws_port != config.rpc_http_port:
        found.append(("rpc", config.rpc_ws_host, config.rpc_ws_port))
    if config.ui_port is not None:
        found.append(("ui", config.ui_host, config.ui_port))
    return found


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
        allow_unprotected_txs=config.rpc_allow_unprotected_txs,
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
    # Issue 13: the account allowlists (state/permissions.py) gate the pool and this node's blocks.
    permissions = open_account_permissions(config, spec, lambda: executor.allowlist_read(executor.head))
    backend.permissions = permissions
    if permissions.active:
        pool.sender_check = lambda sender, creates: permissions.check(sender, creates=creates)
    if permissions.local is not None:
        executor.local_sender_filter = permissions.local_problem
    backend.node_permissions = open_node_permissions(config)  # perm_*Nodes* edit the nodes file
    pool.set_head(executor.head.gas_limit, backend.next_base_fee(executor.head))
    restored = pool.load_journal()
    if restored:
        log.info("restored %d transactions from the pool journal", restored)
    # A restarted node carries on the registry policy's drop votes (operators' votes are not
    # kept across a restart); a new seam subscriber gets them with the snapshot.
    backend.apply_registry_policy()
    return db, executor, pool, backend


async def serve(config: NodeConfig, seam_path: str) -> None:
    import uvicorn

    from jsc_node.rpc.app import create_app, server_options
    from jsc_node.rpc.auth import load_authentication
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
    # Issue 13: the chain's node allowlist at the head goes to the consensus process (peer admission)
    # when it subscribes and after each commit that changed the contract's storage.
    chain_nodes = open_chain_nodes(spec, executor.account_storage_root, executor.state_at)

    def snapshot() -> list[Event]:
        events = service.snapshot()
        if chain_nodes is not None:
            events.append(NodesAllowlistChanged(chain_nodes.at_head(executor.head)))
        return events

    def push_chain_nodes(executed: Any) -> None:
        changed = None if chain_nodes is None else chain_nodes.changed(executor.head)
        if changed is not None:
            seam.publish(NodesAllowlistChanged(changed))

    service.on_commit.append(push_chain_nodes)
    handlers = service.handlers()
    if config.metrics_enabled:  # issue 14: build/validate/commit timed, head, pool, RPC meter
        from jsc_node.metrics.execution import instrument_execution

        handlers = instrument_execution(service, pool, handlers, executor.head.block_number)
    seam = SeamServer(seam_path, handlers, snapshot)
    service.events = seam
    Path(seam_path).unlink(missing_ok=True)
    await seam.start()
    stop = asyncio.Event()
    relay = asyncio.create_task(service.relay_local_txs())

    def relay_ended(task: asyncio.Task[None]) -> None:
        # Without the relay, transactions accepted over RPC would never be gossiped while the node
        # looked healthy: stop the node instead (the supervisor reports the exit).
        if not task.cancelled() and task.exception() is not None:
            log.error("relay of RPC transactions to the consensus process failed: %r", task.exception())
            stop.set()  # then serve() raises it: exit status 1, which the supervisor reports

    relay.add_done_callback(relay_ended)

    app = create_app(backend, config, hub, load_authentication(config))
    # uvicorn runs inside this process's uvloop loop (loop="none"), next to the seam server.
    # log_config None: uvicorn's records go through this process's handler and format (a JSON
    # line with --logging-format json), not uvicorn's own.
    options = {**server_options(config), "loop": "none", "log_level": "warning", "log_config": None}
    apps = {"rpc": app}
    if config.ui_port is not None:  # the chain page and its read-only JSON-RPC (rpc/ui.py)
        from jsc_node.rpc.ui import create_ui_app

        apps["ui"] = create_ui_app(backend, config, hub)
    servers = [
        uvicorn.Server(uvicorn.Config(apps[which], host=host, port=port, **options))
        for which, host, port in listeners(config)
    ]
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
        relay.cancel()
        await seam.close()
        pool.close()
        db.close()
    if relay.done() and not relay.cancelled() and (failure := relay.exception()) is not None:
        raise SeamError("relay of RPC transactions to the consensus process failed") from failure
    log.info("execution process stopped cleanly")


def main(config: NodeConfig, seam_path: str) -> None:
    import uvloop

    from jsc_node.state import startup

    startup.install()  # the runtime patches, BFT block hash and RPC time limit, before any chain opens
    uvloop.run(serve(config, seam_path))


__all__ = ["ExecutionService", "InvalidBlock", "listeners", "main", "open_node_state"]
