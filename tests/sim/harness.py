"""Many QBFT engines on a seeded, lossy network with a fake clock and a fake execution layer.

One ``Simulation`` is one schedule: everything random comes from ``random.Random(seed)``, so a
seed replays exactly. The router drops, delays, duplicates and reorders messages and splits the
network into two groups for a while, until ``heal_at``; after that it only delays. Byzantine
validators (at most f) run the honest engine but rewrite what they send: equivocation, invalid
blocks, bad commit seals, replays of old messages, round-change spam, or silence.

Checked on every schedule:
- safety: no two different blocks committed at one height by any honest validator, every
  committed block carries a quorum of valid commit seals, and no honest validator signs two
  different messages for one (height, round, type) — across crashes and restarts too;
- liveness: after the network heals, every honest validator reaches ``target`` height within
  ``liveness_window_s`` simulated seconds.
Every loop is bounded by an event count and by simulated time.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from eth_keys.datatypes import PrivateKey

from jsc_node.consensus.block import QbftBlock, decode_block
from jsc_node.consensus.engine import EngineConfig, QbftEngine
from jsc_node.consensus.events import (
    Action,
    BlockBuilt,
    BlockValidated,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Event,
    Head,
    MessageDropped,
    MessageReceived,
    NewHead,
    PendingTxs,
    PersistOwnMessage,
    ProposeVote,
    RequestSync,
    ScheduleTimeout,
    SealedBlockReceived,
    Start,
    Timeout,
    ValidateBlock,
)
from jsc_node.consensus.messages import (
    Commit,
    Prepare,
    Proposal,
    RoundChange,
    decode_message,
    encode_message,
    make_commit,
    make_prepare,
    make_proposal,
    make_round_change,
    message_type,
)
from jsc_node.consensus.rules import validate_sealed_block
from jsc_node.consensus.validators import ValidatorHistory
from jsc_node.errors import InvalidBlock
from jsc_node.state.evm.patches import install_keccak
from tests.sim.fakes import BAD_TX, make_block, make_genesis, make_keys

SIM_ENGINE = EngineConfig(block_period_s=1, request_timeout_s=1.0, epoch_length=1000)
BYZANTINE_MODES = (
    "equivocate",
    "invalid_block",
    "bad_seal",
    "replay",
    "spam_round_change",
    "silent",
    "hide_prepared",
)


@dataclass(frozen=True)
class SimConfig:
    n: int = 4
    """Validators at genesis."""
    seed: int = 0
    byzantine: tuple[int, ...] = ()
    """Indexes of Byzantine validators (at most f of them)."""
    byzantine_modes: tuple[str, ...] = BYZANTINE_MODES
    drop_rate: float = 0.0
    dup_rate: float = 0.0
    delay_s: tuple[float, float] = (0.002, 0.05)
    partition: tuple[float, float] | None = None
    """Interval during which the network is split in two random groups."""
    heal_at: float = 0.0
    """From this simulated time on: no drops, no partitions."""
    extra_heights: int = 3
    """Liveness target: the highest honest height at ``heal_at`` plus this."""
    target_height: int | None = None
    """Absolute liveness target instead (overrides ``extra_heights``)."""
    liveness_window_s: float = 300.0
    max_events: int = 200_000
    max_wall_s: float = 60.0
    """Real-time budget of one schedule; running out counts as a liveness failure."""
    crash: tuple[int, float, float] | None = None
    """(honest node index, crash time, restart time): restart restores own messages."""
    engine: EngineConfig = SIM_ENGINE
    observers: int = 0
    """Extra nodes that start as non-validators (candidates for votes)."""
    votes: tuple[tuple[float, int, int, bool], ...] = ()
    """(time, voter index, subject index, add): a ProposeVote event."""
    down: tuple[int, ...] = ()
    """Nodes that never run (crashed validators)."""
    tx_rate: float = 0.5
    """Chance a built block carries transactions."""


@dataclass
class SimNode:
    index: int
    key: PrivateKey
    address: bytes
    engine: QbftEngine
    chain: list[QbftBlock]
    history: ValidatorHistory
    byzantine: bool = False
    modes: tuple[str, ...] = ()
    up: bool = True
    records: list[PersistOwnMessage] = field(default_factory=list)
    incarnation: int = 0

    @property
    def head(self) -> QbftBlock:
        return self.chain[-1]

    def head_event(self) -> Head:
        return self.history.as_head()


@dataclass
class SimResult:
    seed: int
    n: int
    safety_violations: list[str]
    liveness_failure: str | None
    heights: dict[int, int]
    events: int
    sim_time: float
    messages: int
    message_bytes: int
    drops: Counter[str]

    @property
    def ok(self) -> bool:
        return not self.safety_violations and self.liveness_failure is None


class Simulation:
    def __init__(
        self,
        config: SimConfig,
        trace: Callable[[Simulation, SimNode, Event, list[Action]], None] | None = None,
    ) -> None:
        install_keccak()  # as the consensus process does at its start (its hashes are most of the cost)
        self.config = config
        self.trace = trace
        self.rng = random.Random(config.seed)
        total = config.n + config.observers
        keys = make_keys(total, salt=config.seed % 7)
        self.genesis = make_genesis([k.public_key.to_canonical_address() for k in keys[: config.n]])
        self.nodes: list[SimNode] = []
        for i, key in enumerate(keys):
            byz = i in config.byzantine
            modes = (self.rng.choice(config.byzantine_modes),) if byz else ()
            self.nodes.append(self._new_node(i, key, byz, modes))
        self.now = 0.0
        self._queue: list[tuple[float, int, int, int, Event | str]] = []
        self._seq = 0
        self.committed: dict[int, bytes] = {}
        self.signed: dict[tuple[bytes, int, int, int], bytes] = {}
        self.safety: list[str] = []
        self.messages = 0
        self.message_bytes = 0
        self.block_copies = 0
        self.block_bytes = 0
        self.drops: Counter[str] = Counter()
        self.seen: list[bytes] = []
        self.events = 0
        self.partition_groups: tuple[set[int], set[int]] | None = None
        if config.partition is not None:
            members = list(range(total))
            self.rng.shuffle(members)
            cut = self.rng.randint(1, total - 1)
            self.partition_groups = (set(members[:cut]), set(members[cut:]))

    def _new_node(self, i: int, key: PrivateKey, byz: bool, modes: tuple[str, ...]) -> SimNode:
        history = ValidatorHistory(self.genesis, self.config.engine.epoch_length)
        return SimNode(
            index=i,
            key=key,
            address=key.public_key.to_canonical_address(),
            engine=QbftEngine(key, self.config.engine),
            chain=[self.genesis],
            history=history,
            byzantine=byz,
            modes=modes,
        )

    # --- queue ----------------------------------------------------------------------------------

    def _push(self, at: float, node: int, item: Event | str) -> None:
        self._seq += 1
        incarnation = self.nodes[node].incarnation
        heapq.heappush(self._queue, (max(at, self.now), self._seq, node, incarnation, item))

    def run(self) -> SimResult:
        cfg = self.config
        for node in self.nodes:
            if node.index in cfg.down:
                node.up = False
                continue
            self._push(self.rng.uniform(0, 0.05), node.index, Start(node.head_event()))
        for at, voter, subject, add in cfg.votes:
            self._push(at, voter, ProposeVote(self.nodes[subject].address, add))
        if cfg.crash is not None:
            idx, down_at, up_at = cfg.crash
            self._push(down_at, idx, "crash")
            self._push(up_at, idx, "restart")
        for node in self.nodes:
            if node.byzantine and "replay" in node.modes:
                self._push(1.0, node.index, "replay")
        target: int | None = cfg.target_height
        deadline = cfg.heal_at + cfg.liveness_window_s
        wall_deadline = time.monotonic() + cfg.max_wall_s
        while self._queue and self.events < cfg.max_events:
            if self.events % 1024 == 0 and time.monotonic() > wall_deadline:
                break
            at, _, idx, incarnation, item = heapq.heappop(self._queue)
            if target is None and at >= cfg.heal_at:
                target = self._honest_height() + cfg.extra_heights
            if at > deadline:
                break
            self.now = at
            node = self.nodes[idx]
            if incarnation != node.incarnation and item != "restart":
                continue
            self.events += 1
            if isinstance(item, str):
                self._special(node, item)
                continue
            if not node.up:
                continue
            self._step(node, item)
            if target is not None and self._honest_height() >= target:
                break
        if target is None:
            target = self._honest_height() + cfg.extra_heights
        liveness = None
        lowest = self._honest_height()
        if lowest < target:
            liveness = (
                f"honest heights {self._heights()} below target {target} at t={self.now:.1f}s "
                f"after {self.events} events"
            )
        return SimResult(
            seed=cfg.seed,
            n=cfg.n,
            safety_violations=self.safety,
            liveness_failure=liveness,
            heights=self._heights(),
            events=self.events,
            sim_time=self.now,
            messages=self.messages,
            message_bytes=self.message_bytes,
            drops=self.drops,
        )

    def _honest(self) -> list[SimNode]:
        return [n for n in self.nodes if not n.byzantine and n.index not in self.config.down]

    def _heights(self) -> dict[int, int]:
        return {n.index: n.head.number for n in self._honest()}

    def _honest_height(self) -> int:
        return min(n.head.number for n in self._honest())

    # --- one node -------------------------------------------------------------------------------

    def _step(self, node: SimNode, event: Event) -> None:
        actions = node.engine.step(event, self.now)
        if self.trace is not None:
            self.trace(self, node, event, actions)
        for action in actions:
            self._act(node, action)

    def _act(self, node: SimNode, action: Action) -> None:
        rng = self.rng
        if isinstance(action, PersistOwnMessage):
            node.records.append(action)
        elif isinstance(action, Broadcast):
            self._broadcast(node, action.message)
        elif isinstance(action, ScheduleTimeout):
            self._push(action.at, node.index, Timeout(action.height, action.round, action.kind))
        elif isinstance(action, BuildBlock):
            txs: list[bytes] = []
            if rng.random() < self.config.tx_rate:
                txs = [rng.randbytes(8) for _ in range(rng.randint(1, 3))]
            if node.byzantine and "invalid_block" in node.modes:
                txs.append(BAD_TX)
            raw = make_block(
                parent_hash=action.parent_hash,
                number=action.height,
                timestamp=action.timestamp,
                coinbase=node.address,
                extra_data=action.extra_data,
                txs=txs,
            )
            self._push(self.now + 0.005, node.index, BlockBuilt(raw))
            if txs:
                self._push(self.now + 0.001, node.index, PendingTxs(len(txs)))
        elif isinstance(action, ValidateBlock):
            ok, reason = self._fake_validate(node, action.block)
            self._push(self.now + 0.005, node.index, BlockValidated(action.digest, ok, reason))
        elif isinstance(action, CommitBlock):
            self._commit(node, action.block)
        elif isinstance(action, RequestSync):
            self._sync(node)
        elif isinstance(action, MessageDropped):
            self.drops[action.reason] += 1

    def _fake_validate(self, node: SimNode, raw: bytes) -> tuple[bool, str]:
        try:
            block = decode_block(raw)
        except InvalidBlock as exc:
            return False, str(exc)
        if block.parent_hash != node.head.onchain_hash or block.number != node.head.number + 1:
            return False, "wrong parent"
        if block.timestamp < node.head.timestamp + self.config.engine.block_period_s:
            return False, "timestamp too early"
        txs = block.body[0] if block.body else []
        if isinstance(txs, list) and BAD_TX in txs:
            return False, "bad transaction"
        return True, ""

    def _import(self, node: SimNode, block: QbftBlock, how: str) -> bool:
        head = node.head
        if block.number <= head.number:
            # Sync got there first: fine if it is the same block (a driver ignores it).
            if node.chain[block.number].onchain_hash != block.onchain_hash and not node.byzantine:
                self.safety.append(f"node {node.index} {how} a different block {block.number} than it holds")
            return False
        if block.number != head.number + 1 or block.parent_hash != head.onchain_hash:
            if not node.byzantine:
                self.safety.append(
                    f"node {node.index} {how} block {block.number} not on its head {head.number}"
                )
            return False
        try:
            # The rule a node's block sync and importer apply: every block an honest node
            # commits, by its engine or by sync, must pass it.
            validate_sealed_block(block, node.history.as_head())
        except InvalidBlock as exc:
            if not node.byzantine:
                self.safety.append(
                    f"node {node.index} {how} block {block.number} refused by the sealed-block rule: {exc}"
                )
            return False
        if not node.byzantine:
            digest = block.onchain_hash
            known = self.committed.setdefault(block.number, digest)
            if known != digest:
                self.safety.append(
                    f"height {block.number}: node {node.index} {how} 0x{digest.hex()[:12]}, "
                    f"another honest node 0x{known.hex()[:12]}"
                )
        node.chain.append(block)
        node.history.append(block)
        return True

    def _commit(self, node: SimNode, raw: bytes) -> None:
        if self._import(node, decode_block(raw), "committed"):
            self._push(self.now + 0.002, node.index, NewHead(node.head_event()))
            for dst in self.nodes:  # honest nodes gossip the sealed block (lossy like every message)
                if dst is not node and not node.byzantine:
                    self._deliver(node, dst, raw, block=True)

    def _sync(self, node: SimNode) -> None:
        peers = [p for p in self.nodes if p.up and p is not node and p.head.number > node.head.number]
        if not peers:
            return
        peer = max(peers, key=lambda p: p.head.number)
        imported = False
        for block in peer.chain[node.head.number + 1 :]:
            if not self._import(node, block, "synced"):
                break
            imported = True
        if imported:
            self._push(self.now + 0.05, node.index, NewHead(node.head_event()))

    def _special(self, node: SimNode, what: str) -> None:
        if what == "crash":
            node.up = False
            node.incarnation += 1
        elif what == "restart":
            node.incarnation += 1
            node.up = True
            node.engine = QbftEngine(node.key, self.config.engine)
            node.engine.restore(node.records)
            self._push(self.now, node.index, Start(node.head_event()))
        elif what == "replay" and node.up and self.seen and self.now < self.config.heal_at + 60:
            for raw in self.rng.sample(self.seen, min(3, len(self.seen))):
                self._send_all(node, raw)
            self._push(self.now + self.rng.uniform(0.2, 1.5), node.index, "replay")

    # --- network --------------------------------------------------------------------------------

    def _deliver(self, src: SimNode, dst: SimNode, raw: bytes, block: bool = False) -> None:
        cfg, rng = self.config, self.rng
        self.messages += 1
        self.message_bytes += len(raw)
        if block:
            self.block_copies += 1
            self.block_bytes += len(raw)
        if not dst.up:
            return
        if self.now < cfg.heal_at:
            if rng.random() < cfg.drop_rate:
                return
            if cfg.partition is not None and self.partition_groups is not None:
                start, end = cfg.partition
                if start <= self.now < end and (src.index in self.partition_groups[0]) != (
                    dst.index in self.partition_groups[0]
                ):
                    return
        delay = rng.uniform(*cfg.delay_s)
        event: Event = SealedBlockReceived(raw) if block else MessageReceived(raw)
        self._push(self.now + delay, dst.index, event)
        if rng.random() < cfg.dup_rate:
            self._push(self.now + rng.uniform(*cfg.delay_s) * 2, dst.index, event)

    def _send_all(self, src: SimNode, raw: bytes) -> None:
        for dst in self.nodes:
            if dst is not src:
                self._deliver(src, dst, raw)

    def _broadcast(self, node: SimNode, raw: bytes) -> None:
        if not node.byzantine:
            self._check_double_sign(node, raw)
            if len(self.seen) < 500:
                self.seen.append(raw)
            self._send_all(node, raw)
            return
        mutate = _BYZANTINE[node.modes[0]] if node.modes else None
        for dst in self.nodes:
            if dst is node:
                continue
            out = mutate(self, node, raw, dst.index) if mutate else [raw]
            for m in out:
                self._deliver(node, dst, m)

    def _check_double_sign(self, node: SimNode, raw: bytes) -> None:
        msg = decode_message(raw)
        key = (node.address, msg.height, msg.round, message_type(msg))
        content = _content(msg)
        known = self.signed.setdefault(key, content)
        if known != content:
            self.safety.append(
                f"node {node.index} signed two different {type(msg).__name__} at h{msg.height} r{msg.round}"
            )


def _content(msg: Proposal | Prepare | Commit | RoundChange) -> bytes:
    if isinstance(msg, RoundChange):
        return repr((msg.prepared_round, msg.prepared_digest)).encode()
    return msg.digest


# --- Byzantine rewrites (each returns what ``dst`` gets instead of ``raw``) ------------------------


def _equivocate(sim: Simulation, node: SimNode, raw: bytes, dst: int) -> list[bytes]:
    if dst % 2 == 0:
        return [raw]
    msg = decode_message(raw)
    key = node.key
    if isinstance(msg, Proposal):
        block = decode_block(msg.block)
        alt = block.with_extra(replace(block.extra, vanity=b"\x01" * 32))
        other = make_proposal(
            key, msg.height, msg.round, alt.onchain_hash, alt.encode(), msg.round_changes, msg.prepares
        )
        return [encode_message(other)]
    if isinstance(msg, Prepare):
        return [encode_message(make_prepare(key, msg.height, msg.round, sim.rng.randbytes(32)))]
    if isinstance(msg, Commit):
        return [encode_message(make_commit(key, msg.height, msg.round, sim.rng.randbytes(32), msg.seal))]
    return [raw]


def _bad_seal(sim: Simulation, node: SimNode, raw: bytes, dst: int) -> list[bytes]:
    msg = decode_message(raw)
    if isinstance(msg, Commit):
        from jsc_node.consensus.block import sign_digest

        seal = sign_digest(node.key, sim.rng.randbytes(32))
        return [encode_message(make_commit(node.key, msg.height, msg.round, msg.digest, seal))]
    return [raw]


def _spam_round_change(sim: Simulation, node: SimNode, raw: bytes, dst: int) -> list[bytes]:
    msg = decode_message(raw)
    out = [raw]
    for _ in range(2):
        r = msg.round + sim.rng.randint(1, 12)
        if sim.rng.random() < 0.5:
            rc = make_round_change(node.key, msg.height, r, r - 1, sim.rng.randbytes(32))
        else:
            rc = make_round_change(node.key, msg.height + sim.rng.randint(0, 2), r)
        out.append(encode_message(rc))
    return out


def _hide_prepared(sim: Simulation, node: SimNode, raw: bytes, dst: int) -> list[bytes]:
    """Its round changes never admit a prepared certificate, and as proposer of a round > 0 it
    justifies a fresh block with the round changes that carry none, whenever a quorum of them
    exists: the attack that QBFT's quorum intersection must defeat."""
    msg = decode_message(raw)
    key = node.key
    if isinstance(msg, RoundChange) and msg.prepared_round is not None:
        return [encode_message(make_round_change(key, msg.height, msg.round))]
    hs = node.engine.state
    if isinstance(msg, Proposal) and msg.round > 0 and hs is not None and hs.height == msg.height:
        bare = [rc for rc in hs.round_changes.get(msg.round, {}).values() if rc.prepared_round is None]
        if len(bare) >= hs.quorum:
            block = decode_block(msg.block)
            fresh = block.with_extra(replace(block.extra, vanity=b"\x02" * 32))
            other = make_proposal(
                key, msg.height, msg.round, fresh.onchain_hash, fresh.encode(), bare[: hs.quorum]
            )
            return [encode_message(other)]
    return [raw]


def _silent(sim: Simulation, node: SimNode, raw: bytes, dst: int) -> list[bytes]:
    return []


def _honest(sim: Simulation, node: SimNode, raw: bytes, dst: int) -> list[bytes]:
    return [raw]


_BYZANTINE: dict[str, Callable[[Simulation, SimNode, bytes, int], list[bytes]]] = {
    "equivocate": _equivocate,
    "invalid_block": _honest,  # its BuildBlock answers carry a bad transaction
    "bad_seal": _bad_seal,
    "replay": _honest,  # and a timer resends old messages of others
    "spam_round_change": _spam_round_change,
    "silent": _silent,
    "hide_prepared": _hide_prepared,
}


def random_config(seed: int, n: int) -> SimConfig:
    """The schedule of ``seed`` for ``n`` validators: the only source of campaign randomness."""
    rng = random.Random(seed * 1_000_003 + n)
    f = (n - 1) // 3
    byz_count = rng.randint(0, f)
    byzantine = tuple(sorted(rng.sample(range(n), byz_count)))
    heal_at = rng.uniform(2.0, 8.0)
    partition: tuple[float, float] | None = None
    if rng.random() < 0.4:
        start = rng.uniform(0.0, heal_at / 2)
        partition = (start, rng.uniform(start, heal_at))
    crash: tuple[int, float, float] | None = None
    honest = [i for i in range(n) if i not in byzantine]
    if rng.random() < 0.2:
        down_at = rng.uniform(0.5, heal_at)
        crash = (rng.choice(honest), down_at, down_at + rng.uniform(0.1, 3.0))
    empty = rng.choice((0, 0, 3))
    return SimConfig(
        n=n,
        seed=seed,
        byzantine=byzantine,
        drop_rate=rng.choice((0.0, 0.05, 0.2, 0.4)),
        dup_rate=rng.choice((0.0, 0.1)),
        delay_s=(0.001, rng.choice((0.05, 0.3, 1.5))),
        partition=partition,
        heal_at=heal_at,
        extra_heights=rng.randint(1, 3),
        crash=crash,
        engine=EngineConfig(
            block_period_s=1,
            empty_block_period_s=empty,
            request_timeout_s=1.0,
            epoch_length=1000,
        ),
        tx_rate=rng.choice((0.0, 0.5, 1.0)),
    )


def run_seed(seed: int, n: int) -> SimResult:
    return Simulation(random_config(seed, n)).run()
