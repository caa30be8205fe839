"""Main of the consensus process (trio): the QBFT service, talking to the execution process over
the seam. The libp2p host joins here (networking issue); until then a validator has no peers."""

from __future__ import annotations

import logging
import signal

import trio

from jsc_node.config import NodeConfig
from jsc_node.consensus.block import address_of, private_key
from jsc_node.consensus.engine import EngineConfig, QbftEngine
from jsc_node.consensus.service import ConsensusService, NoPeers, OwnMessageLog
from jsc_node.genesis import load_genesis
from jsc_node.seam import SeamClient

log = logging.getLogger("jsc_node.consensus")


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
                NoPeers(),
                OwnMessageLog(config.data_path / "consensus" / "own-messages.log"),
                spec.qbft.epoch_length,
            )
            log.info("consensus ready: validator key 0x%s", address_of(key).hex())
            nursery.start_soon(service.run)
    await seam.aclose()


def main(config: NodeConfig, seam_path: str, node_key: bytes) -> None:
    trio.run(serve, config, seam_path, node_key)
