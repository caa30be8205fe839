"""Consensus overhead per block: ``measure_overhead(n, heights)`` on a fault-free simulated network.

Counts what n validators exchange to decide ``heights`` blocks and what it costs them:
- ``broadcasts_per_height``: consensus messages signed and sent;
- ``messages_per_height`` / ``bytes_per_height``: their point-to-point copies (full mesh);
- ``block_gossip_*``: copies of the sealed block each validator gossips after committing;
- ``signature_checks_per_height``: secp256k1 recoveries done by all validators together; every
  engine step starts with cold caches, so this is an upper bound (a real node's caches also
  absorb gossip duplicates);
- ``cpu_ms_per_height`` (all validators) and ``cpu_ms_per_height_per_validator``: process time
  spent inside ``QbftEngine.step``, signing and checking included, harness excluded.

Run ``python -m tests.sim.overhead`` for n = 4, 7, 10.
"""

from __future__ import annotations

import sys
import time

from jsc_node.consensus import block as block_module
from jsc_node.consensus import messages as messages_module
from jsc_node.consensus.events import Action, Broadcast, Event
from tests.sim.harness import SimConfig, SimNode, Simulation


def _clear_caches() -> None:
    block_module._recover_cached.cache_clear()
    block_module._decode_block_cached.cache_clear()
    messages_module._decode_cached.cache_clear()


class _Meter(Simulation):
    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.cpu_s = 0.0
        self.recoveries = 0
        self.broadcasts = 0

    def _step(self, node: SimNode, event: Event) -> None:
        _clear_caches()
        started = time.process_time()
        actions: list[Action] = node.engine.step(event, self.now)
        self.cpu_s += time.process_time() - started
        self.recoveries += block_module._recover_cached.cache_info().misses
        self.broadcasts += sum(isinstance(a, Broadcast) for a in actions)
        for action in actions:
            self._act(node, action)


def measure_overhead(n: int, heights: int) -> dict[str, float]:
    """Per-height consensus cost for ``n`` validators over ``heights`` blocks (no faults)."""
    if n < 1 or heights < 1:
        raise ValueError("need at least one validator and one height")
    config = SimConfig(n=n, seed=n, target_height=heights, delay_s=(0.001, 0.01), tx_rate=1.0)
    sim = _Meter(config)
    result = sim.run()
    if not result.ok:
        raise RuntimeError(f"fault-free run failed: {result.safety_violations} {result.liveness_failure}")
    decided = min(result.heights.values())
    return {
        "validators": float(n),
        "heights": float(decided),
        "broadcasts_per_height": sim.broadcasts / decided,
        "messages_per_height": (result.messages - sim.block_copies) / decided,
        "bytes_per_height": (result.message_bytes - sim.block_bytes) / decided,
        "block_gossip_copies_per_height": sim.block_copies / decided,
        "block_gossip_bytes_per_height": sim.block_bytes / decided,
        "signature_checks_per_height": sim.recoveries / decided,
        "cpu_ms_per_height": sim.cpu_s * 1000 / decided,
        "cpu_ms_per_height_per_validator": sim.cpu_s * 1000 / decided / n,
    }


def main() -> int:
    for n in (4, 7, 10):
        figures = measure_overhead(n, 20)
        print(f"n={n}: " + ", ".join(f"{k}={v:.1f}" for k, v in figures.items() if k != "validators"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
