"""Simulation campaigns and scenarios: safety and liveness on seeded, faulty schedules."""

from __future__ import annotations

import time

import pytest

import jsc_node.consensus.engine as engine_module
import jsc_node.consensus.rules as rules_module
from jsc_node.consensus.block import recover_seal_signers
from tests.sim import run as sim_run
from tests.sim.fakes import make_keys
from tests.sim.harness import SIM_ENGINE, SimConfig, SimResult, Simulation
from tests.sim.overhead import measure_overhead

CI_SEEDS = 2000


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_campaign_is_safe_and_live() -> None:
    started = time.monotonic()
    count, safety, liveness = sim_run.campaign(0, CI_SEEDS, [4, 7], workers=2)
    elapsed = time.monotonic() - started
    assert (count, safety, liveness) == (CI_SEEDS, 0, 0)
    print(f"{CI_SEEDS} schedules in {elapsed:.1f}s")


def test_a_few_schedules_in_process() -> None:
    count, safety, liveness = sim_run.campaign(10_000, 20, [4, 7])
    assert (count, safety, liveness) == (20, 0, 0)


def test_single_validator_chain() -> None:
    result = Simulation(SimConfig(n=1, target_height=10)).run()
    assert result.ok, result
    assert result.heights == {0: 10}


def _run_change(config: SimConfig) -> tuple[SimResult, Simulation]:
    sim = Simulation(config)
    return sim.run(), sim


@pytest.mark.parametrize(
    ("name", "config", "expected_size"),
    [
        ("1 -> 2", SimConfig(n=1, observers=1, votes=((0.0, 0, 1, True),), target_height=8), 2),
        (
            "2 -> 3",
            SimConfig(n=2, observers=1, votes=((0.0, 0, 2, True), (0.0, 1, 2, True)), target_height=10),
            3,
        ),
        (
            "4 -> 5",
            SimConfig(n=4, observers=1, votes=tuple((0.0, i, 4, True) for i in range(4)), target_height=12),
            5,
        ),
        ("4 -> 3", SimConfig(n=4, votes=tuple((0.0, i, 3, False) for i in range(3)), target_height=12), 3),
        (
            "crashed validator voted out",
            SimConfig(n=4, down=(3,), votes=tuple((0.0, i, 3, False) for i in range(3)), target_height=14),
            3,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_validator_set_changes(name: str, config: SimConfig, expected_size: int) -> None:
    result, sim = _run_change(config)
    assert result.ok, (result.safety_violations, result.liveness_failure)
    for node in sim.nodes:
        if node.index in config.down:
            continue
        validators = node.history.validators_at(node.head.number + 1)
        assert len(validators) == expected_size, (node.index, len(validators))
        # The last block is sealed by a quorum of the new set (checked on import) and lists it.
        assert len(node.head.extra.validators) == expected_size
    if config.observers:
        newcomer = sim.nodes[-1].address
        seals_by_newcomer = sum(
            newcomer in set(recover_seal_signers(block)) for block in sim.nodes[0].chain[1:]
        )
        assert seals_by_newcomer > 0  # the added validator took part in finality


def test_votes_reset_at_an_epoch_boundary() -> None:
    # Epoch length 2: a vote never gathers 3 of 4 before the tally resets, so the set stays.
    config = SimConfig(
        n=4,
        votes=tuple((0.0, i, 3, False) for i in range(3)),
        target_height=9,
        engine=engine_module.EngineConfig(block_period_s=1, request_timeout_s=1.0, epoch_length=2),
    )
    result, sim = _run_change(config)
    assert result.ok, (result.safety_violations, result.liveness_failure)
    assert all(len(n.history.validators_at(n.head.number + 1)) == 4 for n in sim.nodes)


def test_restart_mid_height_never_double_signs() -> None:
    for seed in range(5):
        config = SimConfig(
            n=4, seed=seed, crash=(seed % 4, 1.2 + seed * 0.3, 1.6 + seed * 0.3), target_height=6
        )
        result = Simulation(config).run()
        assert result.ok, (seed, result.safety_violations, result.liveness_failure)


def test_the_checker_catches_a_broken_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    # With quorum 1 an equivocating proposer gets two blocks committed at one height.
    monkeypatch.setattr(engine_module, "quorum", lambda n: 1)
    result = Simulation(SimConfig(n=4, target_height=2)).run()
    assert any("commit seal count" in v for v in result.safety_violations)  # seal certificates are checked
    monkeypatch.setattr(rules_module, "quorum", lambda n: 1)  # and with that check fooled too, forks are seen
    keys = make_keys(4, salt=0)
    first = min(range(4), key=lambda i: keys[i].public_key.to_canonical_address())
    config = SimConfig(n=4, seed=0, byzantine=(first,), byzantine_modes=("equivocate",), target_height=3)
    result = Simulation(config).run()
    assert result.safety_violations
    assert any("another honest node" in v for v in result.safety_violations)


def test_runner_reports_and_exits_non_zero_on_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engine_module, "quorum", lambda n: n + 1)  # nothing can ever commit
    status = sim_run.main(["--seeds", "1", "--seed", "5", "--validators", "4"])
    out = capsys.readouterr()
    assert status == 1
    assert out.out.strip().splitlines()[-1] == "sim: 1 schedules, 0 safety violations, 1 liveness failures"
    assert "python -m tests.sim.run --seeds 1 --seed 5 --validators 4" in out.err


def test_sim_engine_defaults_are_used() -> None:
    assert SimConfig().engine is SIM_ENGINE


def test_overhead_figures_are_consistent() -> None:
    figures = measure_overhead(4, 3)
    assert figures["heights"] == 3
    # One proposal, n prepares, n commits per height when nothing fails.
    assert figures["broadcasts_per_height"] == 1 + 4 + 4
    assert figures["messages_per_height"] == figures["broadcasts_per_height"] * 3
    assert figures["signature_checks_per_height"] > figures["messages_per_height"]
    assert figures["cpu_ms_per_height"] > 0
