"""Main of the consensus process (trio): the libp2p network and the QBFT service, talking to the
execution process over the seam.

Tasks: the seam client's reader (jsc_node/seam/client.py), which hands the execution process's
events to the service (pending count, votes, head) and to the relay (transactions accepted over
RPC); the QBFT service (consensus/service.py) with the libp2p gossip as its GossipPort and its
block gossip; a relay that gossips the transactions this node accepted over RPC and hands the
transactions peers gossip to the execution process; and a reporter of the peer count for
net_peerCount; block sync (p2p/sync.py): its server answers peers from the execution process, its
driver catches this node up when the engine sees later heights (RequestSync) and every few
seconds, committing through the service (seals checked against the validator set at each height).
"""

from __future__ import annotations

import logging
import signal
from collections import deque

import trio

from jsc_node.config import NodeConfig
from jsc_node.consensus.block import address_of, private_key
from jsc_node.consensus.engine import EngineConfig, QbftEngine
from jsc_node.consensus.events import Head
from jsc_node.consensus.service import ConsensusService, NoPeers, OwnMessageLog
from jsc_node.genesis import GenesisSpec, load_genesis
from jsc_node.logs import change_levels
from jsc_node.p2p.network import P2PConfig, P2PNetwork
from jsc_node.p2p.permissions import ChainNodes, load_nodes_allowlist, watch_allowlist
from jsc_node.p2p.sync import PeerStatus, SyncClient, Syncer, SyncProgress, SyncServer
from jsc_node.seam.client import SeamClient
from jsc_node.seam.messages import (
    HeadChanged,
    LocalTxs,
    LogLevelChanged,
    NodesAllowlistChanged,
    P2PNode,
    P2PPeer,
    PendingChanged,
    SyncRange,
    VoteDiscarded,
    VoteProposed,
)

log = logging.getLogger("jsc_node.consensus")

TX_RELAY_BATCH = 2_000
TX_OUTBOX = 20_000
PEER_REPORT_INTERVAL_S = 1.0


async def serve(config: NodeConfig, seam_path: str, node_key: bytes) -> None:
    spec = load_genesis(config.genesis_file)
    async with SeamClient.open(seam_path) as seam:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:

                async def stop_on_signal() -> None:
                    async for _ in signals:
                        log.info("consensus process stopping")
                        nursery.cancel_scope.cancel()
                        return

                nursery.start_soon(stop_on_signal)
                if spec.qbft is None:
                    log.info("genesis has no qbft section: following only, no block production")
                    return
                await _run_qbft(nursery, config, spec, seam, node_key)


async def _run_qbft(
    nursery: trio.Nursery, config: NodeConfig, spec: GenesisSpec, seam: SeamClient, node_key: bytes
) -> None:
    assert spec.qbft is not None
    key = private_key(node_key)
    engine = QbftEngine(
        key,
        EngineConfig(
            block_period_s=spec.qbft.block_period_s,
            empty_block_period_s=spec.qbft.empty_block_period_s,
            request_timeout_s=spec.qbft.request_timeout_s,
            epoch_length=spec.qbft.epoch_length,
        ),
    )
    service = ConsensusService(
        engine,
        seam,
        gossip=NoPeers(),
        own_messages=OwnMessageLog(config.data_path / "consensus" / "own-messages.log"),
        epoch_length=spec.qbft.epoch_length,
    )
    metrics = None
    if config.metrics_enabled:  # issue 14: QBFT, p2p and sync metrics
        from jsc_node.metrics.consensus import ConsensusMetrics

        service.observer = metrics = ConsensusMetrics()
    head = await service.load_history()
    seam.listen(service.on_execution_event, PendingChanged, HeadChanged, VoteProposed, VoteDiscarded)
    seam.listen(_change_log_level, LogLevelChanged)
    if config.p2p_enabled:
        network = P2PNetwork(
            P2PConfig(
                secret=node_key,
                chain_id=spec.chain_id,
                listen_host=config.p2p_host,
                listen_port=config.p2p_port,
                bootnodes=tuple(config.bootnodes),
                extra_peers=load_nodes_allowlist(config.permissions_nodes_config_file),
            ),
            head.validators,
        )
        await nursery.start(network.run)
        service.gossip = network.gossip
        service.blocks = network.gossip

        async def follow_validators(new_head: Head) -> None:
            await network.set_validators(new_head.validators)

        service.on_new_head = follow_validators
        syncer = _start_sync(nursery, spec.chain_id, seam, network, service)
        if metrics is not None:
            nursery.start_soon(metrics.watch_network, network.host, syncer)
        outbox = TxOutbox(TX_OUTBOX)
        seam.listen(outbox.add, LocalTxs)
        nursery.start_soon(_relay_txs, seam, network, outbox)
        nursery.start_soon(_report_peers, seam, network)
        nursery.start_soon(watch_allowlist, config.permissions_nodes_config_file, network)
        # The chain's node allowlist (issue 13), pushed at subscribe and after each commit changing it.
        chain_nodes = ChainNodes()
        seam.listen(lambda event: chain_nodes.push(event.nodes), NodesAllowlistChanged)
        nursery.start_soon(chain_nodes.run, network)
        log.info(
            "p2p listening on %s:%d as %s", config.p2p_host, config.p2p_port, network.host.node_info().peer_id
        )
    await seam.subscribe()
    role = "validator" if address_of(key) in head.validators else "follower (not in the validator set)"
    log.info("consensus ready: key 0x%s, %s, head %d", address_of(key).hex(), role, head.number)
    nursery.start_soon(service.run)


class _SeamChainSource:
    """Block sync's server: the head from the service's memory, blocks from the execution side."""

    def __init__(self, seam: SeamClient, service: ConsensusService) -> None:
        self.seam = seam
        self.service = service

    async def status(self) -> PeerStatus:
        assert self.service.history is not None
        head = self.service.history.head
        return PeerStatus(head.number, head.onchain_hash, self.service.genesis_hash)

    async def blocks(self, start: int, count: int, max_bytes: int) -> list[bytes]:
        return list((await self.seam.blocks(start, count, max_bytes)).blocks)


def _start_sync(
    nursery: trio.Nursery, chain_id: int, seam: SeamClient, network: P2PNetwork, service: ConsensusService
) -> Syncer:
    SyncServer(network.host, chain_id, _SeamChainSource(seam, service)).install()

    def local_head() -> int:
        assert service.history is not None
        return service.history.head.number

    async def report(progress: SyncProgress | None) -> None:
        await seam.set_sync(
            None if progress is None else SyncRange(progress.starting, progress.current, progress.highest)
        )

    syncer = Syncer(
        SyncClient(network.host, chain_id),
        network.host,
        service.genesis_hash,
        local_head,
        service.import_synced_block,
        report,
    )
    service.on_request_sync = lambda height: syncer.trigger()
    nursery.start_soon(syncer.run)
    return syncer


class TxOutbox:
    """Transactions execution pushed (``local_txs`` events) that wait to be gossiped. Bounded: if
    gossip falls behind, the oldest are dropped (they stay pooled and are mined here)."""

    def __init__(self, limit: int) -> None:
        self._txs: deque[bytes] = deque(maxlen=limit)
        self._ready = trio.Event()

    def add(self, event: LocalTxs) -> None:
        self._txs.extend(event.txs)
        self._ready.set()

    async def take(self, most: int) -> list[bytes]:
        """At least one transaction, at most ``most``, oldest first: what piled up while the
        last batch was gossiped goes out as one batch."""
        while not self._txs:
            await self._ready.wait()
            self._ready = trio.Event()
        return [self._txs.popleft() for _ in range(min(most, len(self._txs)))]


async def _relay_txs(seam: SeamClient, network: P2PNetwork, outbox: TxOutbox) -> None:
    """Local RPC transactions out to peers (batched: gossip cost is per message), peers' in."""

    async def outbound() -> None:
        while True:
            await network.gossip.publish_txs(await outbox.take(TX_RELAY_BATCH))

    async def inbound() -> None:
        while True:
            raws = await network.gossip.receive_txs()
            await seam.remote_txs(tuple(raws))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbound)
        nursery.start_soon(inbound)


async def _report_peers(seam: SeamClient, network: P2PNetwork) -> None:
    """The p2p view for net_peerCount, net_listening, admin_peers and admin_nodeInfo."""
    while True:
        info = network.host.node_info()
        await seam.set_peers(
            count=network.host.peer_count(),
            listening=True,
            node=P2PNode(info.peer_id, info.address, tuple(info.listen_addrs)),
            peers=tuple(
                P2PPeer(peer.peer_id, peer.address, tuple(peer.remote_addrs), peer.inbound)
                for peer in network.host.peers()
            ),
        )
        await trio.sleep(PEER_REPORT_INTERVAL_S)


def _change_log_level(event: LogLevelChanged) -> None:
    """admin_changeLogLevel, as the execution process applied it to itself."""
    changed = change_levels(event.level, event.loggers)
    log.info("log level %s on %s", logging.getLevelName(event.level), ", ".join(changed))


def main(config: NodeConfig, seam_path: str, node_key: bytes) -> None:
    from jsc_node.p2p import yamux
    from jsc_node.state.evm.patches import install_keccak

    install_keccak()  # the fast keccak backend (no EVM here: no other patch)
    yamux.install()  # whole writes on a yamux stream
    trio.run(serve, config, seam_path, node_key)
