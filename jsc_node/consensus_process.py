"""Main of the consensus process (trio): the libp2p network and the QBFT service, talking to the
execution process over the seam.

Tasks: the QBFT service (consensus/service.py) with the libp2p gossip as its GossipPort and its
block gossip; a relay that gossips the transactions this node accepted over RPC and hands the
transactions peers gossip to the execution process; and a reporter of the peer count for
net_peerCount; block sync (p2p/sync.py): its server answers peers from the execution process, its
driver catches this node up when the engine sees later heights (RequestSync) and every few
seconds, committing through the service (seals checked against the validator set at each height).
"""

from __future__ import annotations

import logging
import signal

import trio

from jsc_node.config import NodeConfig
from jsc_node.consensus.block import address_of, private_key
from jsc_node.consensus.engine import EngineConfig, QbftEngine
from jsc_node.consensus.events import Head
from jsc_node.consensus.service import ConsensusService, NoPeers, OwnMessageLog
from jsc_node.genesis import GenesisSpec, load_genesis
from jsc_node.p2p.network import P2PConfig, P2PNetwork
from jsc_node.p2p.permissions import load_nodes_allowlist, watch_allowlist
from jsc_node.p2p.sync import PeerStatus, SyncClient, Syncer, SyncProgress, SyncServer
from jsc_node.seam import SeamClient, hexb, unhex

log = logging.getLogger("jsc_node.consensus")

TX_RELAY_INTERVAL_S = 0.1
TX_RELAY_BATCH = 2_000
PEER_REPORT_INTERVAL_S = 1.0


async def serve(config: NodeConfig, seam_path: str, node_key: bytes) -> None:
    spec = load_genesis(config.genesis_file)
    seam = await SeamClient.connect(seam_path)
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
    await seam.aclose()


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
    head = await service.load_history()
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
        _start_sync(nursery, spec.chain_id, seam, network, service)
        nursery.start_soon(_relay_txs, seam, network)
        nursery.start_soon(_report_peers, seam, network)
        nursery.start_soon(watch_allowlist, config.permissions_nodes_config_file, network)
        log.info(
            "p2p listening on %s:%d as %s", config.p2p_host, config.p2p_port, network.host.node_info().peer_id
        )
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
        raws = await self.seam.request("blocks", start=start, count=count, max_bytes=max_bytes)
        return [unhex(r) for r in raws]


def _start_sync(
    nursery: trio.Nursery, chain_id: int, seam: SeamClient, network: P2PNetwork, service: ConsensusService
) -> Syncer:
    SyncServer(network.host, chain_id, _SeamChainSource(seam, service)).install()

    def local_head() -> int:
        assert service.history is not None
        return service.history.head.number

    async def report(progress: SyncProgress | None) -> None:
        if progress is None:
            await seam.request("set_sync")
        else:
            await seam.request(
                "set_sync", starting=progress.starting, current=progress.current, highest=progress.highest
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


async def _relay_txs(seam: SeamClient, network: P2PNetwork) -> None:
    """Local RPC transactions out to peers (batched: gossip cost is per message), peers' in."""

    async def outbound() -> None:
        while True:
            raws = await seam.request("take_txs", max=TX_RELAY_BATCH)
            if raws:
                await network.gossip.publish_txs([unhex(r) for r in raws])
            else:
                await trio.sleep(TX_RELAY_INTERVAL_S)

    async def inbound() -> None:
        while True:
            raws = await network.gossip.receive_txs()
            await seam.request("remote_txs", txs=[hexb(r) for r in raws])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbound)
        nursery.start_soon(inbound)


async def _report_peers(seam: SeamClient, network: P2PNetwork) -> None:
    """The p2p view for net_peerCount, net_listening, admin_peers and admin_nodeInfo."""
    while True:
        info = network.host.node_info()
        await seam.request(
            "set_peers",
            count=network.host.peer_count(),
            listening=True,
            node={"id": info.peer_id, "address": hexb(info.address), "listen_addrs": list(info.listen_addrs)},
            peers=[
                {
                    "id": peer.peer_id,
                    "address": None if peer.address is None else hexb(peer.address),
                    "remote_addrs": list(peer.remote_addrs),
                    "inbound": peer.inbound,
                }
                for peer in network.host.peers()
            ],
        )
        await trio.sleep(PEER_REPORT_INTERVAL_S)


def main(config: NodeConfig, seam_path: str, node_key: bytes) -> None:
    trio.run(serve, config, seam_path, node_key)
