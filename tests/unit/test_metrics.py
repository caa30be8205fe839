"""The pure parts of the metrics (jsc_node/metrics/): inclusion-time bookkeeping, the QBFT
observer (round changes, timeouts, proposals made and missed), the RPC meter's label folding, the
/proc and directory readings of the supervisor, its multiprocess directory and port check, and
the README's "Metrics" section against the metrics defined. Values are read from
prometheus-client's default registry (in memory here: no PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from jsc_node.consensus.events import PendingTxs, Timeout
from jsc_node.consensus.validators import proposer_for_round
from jsc_node.errors import ConfigError
from jsc_node.metrics import registry
from jsc_node.metrics.consensus import ConsensusMetrics, missed_proposers, validator_label
from jsc_node.metrics.execution import Arrivals
from jsc_node.metrics.names import MULTIPROC_ENV, UNKNOWN_METHOD
from jsc_node.metrics.server import (
    NodeCollector,
    directory_bytes,
    open_metrics,
    prepare_multiproc_dir,
    proc_stats,
)
from jsc_node.rpc.dispatch import Dispatcher

README = Path(__file__).resolve().parents[2] / "README.md"
VALIDATORS = tuple(bytes([i]) * 20 for i in (1, 2, 3, 4))


def sample(name: str, **labels: str) -> float:
    got = REGISTRY.get_sample_value(name, labels)
    return 0.0 if got is None else got


# --- inclusion time -------------------------------------------------------------------------------


@dataclass
class Pooled:
    hash: bytes


def test_arrivals_measure_admission_to_commit_and_skip_unknown_transactions() -> None:
    now = [100.0]
    arrivals = Arrivals(clock=lambda: now[0])
    arrivals.admitted([Pooled(b"a"), Pooled(b"b")])
    now[0] = 101.5
    arrivals.admitted([Pooled(b"a"), Pooled(b"c")])  # promoted again: the first arrival counts
    now[0] = 103.0
    assert arrivals.included([b"a", b"c", b"never-pooled"]) == [3.0, 1.5]
    assert len(arrivals) == 1  # b: still pooled
    assert arrivals.included([b"a"]) == []  # counted once


def test_arrivals_forget_the_oldest_beyond_the_limit() -> None:
    arrivals = Arrivals(limit=2, clock=lambda: 0.0)
    arrivals.admitted([Pooled(b"1"), Pooled(b"2"), Pooled(b"3")])
    assert len(arrivals) == 2
    assert arrivals.included([b"1", b"2", b"3"]) == [0.0, 0.0]


# --- QBFT -----------------------------------------------------------------------------------------


@dataclass
class Engine:
    height: int | None = None
    round: int | None = None


@dataclass
class Extra:
    round: int


@dataclass
class Block:
    number: int
    coinbase: bytes
    extra: Extra


@dataclass
class History:
    head: Any
    sets: dict[int, tuple[bytes, ...]] = field(default_factory=dict)

    def validators_at(self, height: int) -> tuple[bytes, ...]:
        return self.sets[height]


def test_missed_proposers_are_the_earlier_rounds_proposers() -> None:
    previous = VALIDATORS[0]
    assert missed_proposers(VALIDATORS, previous, 0) == []
    missed = missed_proposers(VALIDATORS, previous, 2)
    assert missed == [proposer_for_round(VALIDATORS, previous, r) for r in (0, 1)]
    assert missed == [VALIDATORS[1], VALIDATORS[2]]  # Besu's changeEachBlock: after the last proposer


def test_round_changes_and_timeouts_of_the_round_in_progress() -> None:
    observer = ConsensusMetrics()
    changes = sample("jsc_qbft_round_changes_total")
    round_timeouts = sample("jsc_qbft_timeouts_total", kind="round")
    block_timers = sample("jsc_qbft_timeouts_total", kind="block")
    engine = Engine(height=7, round=0)
    observer.stepped(PendingTxs(0), engine)
    assert sample("jsc_qbft_round") == 0
    observer.stepped(Timeout(7, 0, "block"), engine)  # the proposer's block period: no timeout
    observer.stepped(Timeout(6, 0, "round"), engine)  # a stale timer of an earlier height
    assert sample("jsc_qbft_timeouts_total", kind="round") == round_timeouts
    engine.round = 1
    observer.stepped(Timeout(7, 0, "round"), engine)  # round 0 timed out: round 1
    assert sample("jsc_qbft_timeouts_total", kind="round") == round_timeouts + 1
    assert sample("jsc_qbft_round_changes_total") == changes + 1
    assert sample("jsc_qbft_round") == 1
    engine.height, engine.round = 8, 0  # the next height: back to round 0, not a round change
    observer.stepped(PendingTxs(0), engine)
    assert sample("jsc_qbft_round_changes_total") == changes + 1
    assert sample("jsc_qbft_round") == 0
    assert sample("jsc_qbft_timeouts_total", kind="block") == block_timers == 0


def test_proposals_made_and_missed_per_validator() -> None:
    observer = ConsensusMetrics()
    history = History(head=Block(9, VALIDATORS[0], Extra(0)), sets={10: VALIDATORS, 11: VALIDATORS})
    labels = [validator_label(v) for v in VALIDATORS]
    made = [sample("jsc_qbft_proposals_total", validator=v) for v in labels]
    missed = [sample("jsc_qbft_proposals_missed_total", validator=v) for v in labels]
    # Block 10 decided in round 2: the proposers of rounds 0 and 1 (validators 2 and 3) missed,
    # validator 4 (round 2's) made it.
    observer.committing(Block(10, VALIDATORS[3], Extra(2)), history)
    history.head = Block(10, VALIDATORS[3], Extra(2))
    observer.committing(Block(11, VALIDATORS[0], Extra(0)), history)
    assert [
        sample("jsc_qbft_proposals_total", validator=v) - m for v, m in zip(labels, made, strict=True)
    ] == [
        1,
        0,
        0,
        1,
    ]
    assert [
        sample("jsc_qbft_proposals_missed_total", validator=v) - m
        for v, m in zip(labels, missed, strict=True)
    ] == [0, 1, 1, 0]
    # Every validator has its series, even one that has not missed a turn.
    assert REGISTRY.get_sample_value("jsc_qbft_proposals_missed_total", {"validator": labels[0]}) is not None


def test_network_and_sync_samples() -> None:
    observer = ConsensusMetrics()
    refused = sample("jsc_p2p_peers_refused_total")
    observer.network_sample(peers=3, refused=2)
    observer.network_sample(peers=2, refused=5)
    observer.network_sample(peers=2, refused=5)
    assert sample("jsc_p2p_peers") == 2
    assert sample("jsc_p2p_peers_refused_total") == refused + 5

    @dataclass
    class Progress:
        current: int
        highest: int

    observer.sync_sample(Progress(40, 90), 40)
    assert (sample("jsc_sync_current_block"), sample("jsc_sync_highest_block")) == (40, 90)
    observer.sync_sample(None, 91)  # caught up: both are the head
    assert (sample("jsc_sync_current_block"), sample("jsc_sync_highest_block")) == (91, 91)


# --- JSON-RPC -------------------------------------------------------------------------------------


async def _version(backend: Any, params: list[Any]) -> str:
    return "test"


async def _fails(backend: Any, params: list[Any]) -> str:
    raise ValueError("boom")


def test_rpc_meter_counts_per_method_and_folds_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.RPC_METER, "enabled", True)
    dispatcher = Dispatcher(
        object(),  # type: ignore[arg-type]  # the handlers here never read the backend
        methods={"web3_clientVersion": _version, "test_fails": _fails},
    )
    before = {
        "ok": sample("jsc_rpc_requests_total", method="web3_clientVersion"),
        "failed": sample("jsc_rpc_errors_total", method="test_fails"),
        "unknown": sample("jsc_rpc_errors_total", method=UNKNOWN_METHOD),
        "duration": sample("jsc_rpc_request_duration_seconds_count", method="web3_clientVersion"),
    }

    async def calls() -> None:
        for method in ("web3_clientVersion", "web3_clientVersion", "test_fails", "nope_a", "nope_b"):
            await dispatcher.handle_message({"jsonrpc": "2.0", "id": 1, "method": method})

    asyncio.run(calls())
    assert sample("jsc_rpc_requests_total", method="web3_clientVersion") == before["ok"]  # tallied
    registry.RPC_METER.flush()
    assert sample("jsc_rpc_requests_total", method="web3_clientVersion") == before["ok"] + 2
    assert (
        sample("jsc_rpc_request_duration_seconds_count", method="web3_clientVersion")
        == before["duration"] + 2
    )
    assert sample("jsc_rpc_errors_total", method="web3_clientVersion") == 0
    assert sample("jsc_rpc_errors_total", method="test_fails") == before["failed"] + 1
    assert sample("jsc_rpc_errors_total", method=UNKNOWN_METHOD) == before["unknown"] + 2
    assert REGISTRY.get_sample_value("jsc_rpc_requests_total", {"method": "nope_a"}) is None


def test_rpc_meter_off_counts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.RPC_METER, "enabled", False)
    dispatcher = Dispatcher(object(), methods={"web3_clientVersion": _version})  # type: ignore[arg-type]
    before = sample("jsc_rpc_requests_total", method="web3_clientVersion")
    asyncio.run(dispatcher.handle_message({"jsonrpc": "2.0", "id": 1, "method": "web3_clientVersion"}))
    registry.RPC_METER.flush()
    assert sample("jsc_rpc_requests_total", method="web3_clientVersion") == before


def test_a_flushed_tally_exposes_what_observe_would() -> None:
    """add_to_histogram writes prometheus-client's internals (no bulk observe exists): the same
    text as one observe() per value, bounds and +Inf included, or an upgrade broke it."""
    values = [0.0001, 0.0005, 0.0005, 0.003, 0.2, 1.0, 7.5, 99.0]
    by_observe, by_tally = CollectorRegistry(), CollectorRegistry()
    observed = Histogram("t_seconds", "t", buckets=registry.RPC_SECONDS_BUCKETS, registry=by_observe)
    tallied = Histogram("t_seconds", "t", buckets=registry.RPC_SECONDS_BUCKETS, registry=by_tally)
    for v in values:
        observed.observe(v)
    counts = [0.0] * (len(registry.RPC_SECONDS_BUCKETS) + 1)
    for v in values:
        counts[bisect_left(registry.RPC_SECONDS_BUCKETS, v)] += 1
    registry.add_to_histogram(tallied, sum(values), counts)

    def text(reg: CollectorRegistry) -> list[bytes]:
        return [line for line in generate_latest(reg).splitlines() if b"_created" not in line]

    assert text(by_tally) == text(by_observe)
    with pytest.raises(ValueError, match="buckets"):
        registry.add_to_histogram(tallied, 1.0, counts[:-1])


# --- the supervisor's side ------------------------------------------------------------------------


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise AssertionError(field_name)


def test_proc_stats_of_this_process() -> None:
    got = proc_stats(os.getpid())
    assert got is not None
    cpu, rss, fds = got
    times = os.times()
    assert cpu == pytest.approx(times.user + times.system, abs=0.1)
    assert rss == pytest.approx(_status_kib("VmRSS") * 1024, rel=0.2)
    assert fds == pytest.approx(len(os.listdir("/proc/self/fd")), abs=2)


def test_proc_stats_of_a_process_that_is_gone() -> None:
    assert proc_stats(2**22 + 12345) is None  # above pid_max's default limit


def test_directory_bytes_counts_nested_files(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 23)
    assert directory_bytes(tmp_path) == 123
    assert directory_bytes(tmp_path / "missing") == 0


def test_node_collector_skips_processes_not_running(tmp_path: Path) -> None:
    (tmp_path / "000005.ldb").write_bytes(b"z" * 10)
    collector = NodeCollector(tmp_path, lambda: {"main": os.getpid(), "execution": None})
    families = {f.name: f for f in collector.collect()}
    assert [s.labels["process"] for s in families["process_cpu_seconds"].samples] == ["main"]
    assert families["jsc_leveldb_size_bytes"].samples[0].value == 10


def test_the_multiprocess_directory_is_emptied_at_start(tmp_path: Path) -> None:
    old = tmp_path / "metrics" / "counter_123.db"
    old.parent.mkdir()
    old.write_bytes(b"\0" * 8)
    assert prepare_multiproc_dir(tmp_path) == tmp_path / "metrics"
    assert not old.exists()


@dataclass
class Settings:
    data_path: Path
    metrics_enabled: bool = True
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0


def test_metrics_off_leaves_no_directory_for_the_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    assert open_metrics(Settings(tmp_path, metrics_enabled=False), dict) is None
    assert MULTIPROC_ENV not in os.environ


def test_a_taken_metrics_port_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--metrics-port {port}: cannot listen"):
            open_metrics(Settings(tmp_path, metrics_port=port), dict)
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)


# --- the README lists every metric ----------------------------------------------------------------


def _defined() -> set[str]:
    names = set()
    for value in vars(registry).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.add(family.name + ("_total" if family.type == "counter" else ""))
    for family in NodeCollector(Path("/nonexistent"), dict).collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def readme_metrics() -> set[str]:
    """The metric names README's "### Metrics" table lists (also read by the integration test)."""
    text = README.read_text()
    section = text[text.index("\n### Metrics\n") + 1 :]
    end = re.search(r"\n#{2,3} ", section)  # the next section or subsection
    assert end is not None
    section = section[: end.start()]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.MULTILINE))


def test_readme_lists_every_metric() -> None:
    assert readme_metrics() == _defined()


# --- flags ----------------------------------------------------------------------------------------


def test_metrics_flags_reach_the_config_with_besus_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from jsc_node.cli import app
    from tests.unit.test_cli_run import FakeNode, install

    fake = FakeNode()
    install(monkeypatch, fake)
    runner = CliRunner()
    data = ["--data-path", str(tmp_path / "d")]
    assert runner.invoke(app, ["run", *data]).exit_code == 0
    flags = ["--metrics-enabled", "--metrics-host", "0.0.0.0", "--metrics-port", "9600"]
    assert runner.invoke(app, ["run", *data, *flags]).exit_code == 0
    toml = tmp_path / "node.toml"
    toml.write_text("metrics-enabled = true\nmetrics-port = 9700\n")
    assert runner.invoke(app, ["run", *data, "--config-file", str(toml)]).exit_code == 0
    bad = runner.invoke(app, ["run", *data, "--metrics-port", "70000"])
    assert bad.exit_code != 0
    assert "metrics_port" in bad.output or "metrics-port" in bad.output
    (_, default), (_, flagged), (_, from_file) = fake.calls
    assert (default.metrics_enabled, default.metrics_host, default.metrics_port) == (False, "127.0.0.1", 9545)
    assert (flagged.metrics_enabled, flagged.metrics_host, flagged.metrics_port) == (True, "0.0.0.0", 9600)
    assert (from_file.metrics_enabled, from_file.metrics_port) == (True, 9700)


# --- jsc-node devnet --metrics --------------------------------------------------------------------


def test_devnet_metrics_ports_flags_json_and_prometheus_yml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The plan, in process (no node starts): each node's metrics port at base+10i+3, its
    ``jsc-node run`` flags parsed by the real CLI, devnet.json's ``metrics`` URL, and a
    prometheus.yml naming every node's target."""
    from typer.testing import CliRunner

    from jsc_node.cli import app
    from jsc_node.devnet import (
        DevnetOptions,
        RunningNode,
        devnet_document,
        prepare_devnet,
        write_prometheus_config,
    )
    from tests.unit.test_cli_run import FakeNode, install

    devnet = prepare_devnet(
        DevnetOptions(tmp_path / "d", validators=2, rpc_nodes=1, base_port=21000, metrics=True)
    )
    assert [p.metrics_port for p in devnet.nodes] == [21003, 21013, 21023]
    fake = FakeNode()
    install(monkeypatch, fake)
    for plan in devnet.nodes:
        result = CliRunner().invoke(app, plan.run_args(devnet.genesis_file, "INFO"))
        assert result.exit_code == 0, result.output
    assert [(c.metrics_enabled, c.metrics_host, c.metrics_port) for _, c in fake.calls] == [
        (True, "127.0.0.1", port) for port in (21003, 21013, 21023)
    ]
    running = [RunningNode(plan, process=None, log_offset=0) for plan in devnet.nodes]  # type: ignore[arg-type]
    doc = devnet_document(devnet.chain_id, running)
    assert [n["metrics"] for n in doc["nodes"]] == [
        f"http://127.0.0.1:{p}/metrics" for p in (21003, 21013, 21023)
    ]
    path = tmp_path / "d" / "prometheus.yml"
    write_prometheus_config(path, devnet.nodes)
    text = path.read_text()
    assert re.findall(r'targets: \["127\.0\.0\.1:(\d+)"\]', text) == ["21003", "21013", "21023"]
    assert re.findall(r'node: "([a-z0-9-]+)", role: "(validator|rpc)"', text) == [
        ("validator-0", "validator"),
        ("validator-1", "validator"),
        ("rpc-0", "rpc"),
    ]
    assert "scrape_configs:\n  - job_name: jsc-node\n" in text
    # Without --metrics: no metrics flags, no metrics key, the usual port range.
    plain = prepare_devnet(DevnetOptions(tmp_path / "d", validators=2, rpc_nodes=1, base_port=21000))
    assert all(p.metrics_port is None for p in plain.nodes)
    assert "--metrics-enabled" not in plain.nodes[0].run_args(plain.genesis_file, "INFO")
    plain_doc = devnet_document(plain.chain_id, [RunningNode(plain.nodes[0], process=None, log_offset=0)])  # type: ignore[arg-type]
    assert "metrics" not in plain_doc["nodes"][0]
