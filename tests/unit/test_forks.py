"""jsc_node/state/evm/forks.py: the ordered fork list, the fork of a VM (wrapped or not), and the
schedule's one answer to "which fork is this block"."""

from __future__ import annotations

from typing import Any

import pytest
from eth.vm.forks import CancunVM, LondonVM, PragueVM

from jsc_node.genesis import BLOCK_FORKS, TIME_FORKS, load_genesis, parse_genesis
from jsc_node.state.evm.forks import (
    FORK_VMS,
    Fork,
    ForkSchedule,
    fork_of_vm,
    make_imported_vm,
    make_qbft_vm,
)


def test_every_genesis_fork_name_is_a_fork_in_activation_order() -> None:
    names = ["frontier", *(name for name, _key in BLOCK_FORKS), *(name for name, _key in TIME_FORKS)]
    assert [Fork.from_key(name) for name in names] == sorted(Fork)
    assert [fork.key for fork in Fork] == names


@pytest.mark.parametrize("fork", list(Fork))
def test_fork_of_vm_is_the_vms_fork_through_every_wrapper(fork: Fork) -> None:
    vm_class = FORK_VMS[fork]
    assert fork_of_vm(vm_class) == fork
    assert fork_of_vm(make_qbft_vm(vm_class, zero_base_fee=True)) == fork
    assert fork_of_vm(make_imported_vm(vm_class)) == fork


def test_fork_order_is_py_evms_class_order() -> None:
    # fork >= Fork.X is what issubclass(vm, XVM) answered before.
    for fork, vm_class in FORK_VMS.items():
        assert (fork >= Fork.LONDON) == issubclass(vm_class, LondonVM)
        assert (fork >= Fork.CANCUN) == issubclass(vm_class, CancunVM)
        assert (fork >= Fork.PRAGUE) == issubclass(vm_class, PragueVM)


def test_an_unknown_fork_is_named() -> None:
    osaka = type("OsakaVM", (PragueVM,), {"fork": "osaka"})
    with pytest.raises(ValueError, match="'osaka'"):
        fork_of_vm(osaka)


def _schedule(**config: Any) -> ForkSchedule:
    doc = {"config": {"chainId": 1, **config}, "gasLimit": "0x1000000", "difficulty": "0x20000"}
    return ForkSchedule(parse_genesis(doc))


def test_fork_at_block_numbers_then_times() -> None:
    schedule = _schedule(
        homesteadBlock=0,
        byzantiumBlock=5,
        londonBlock=10,
        mergeNetsplitBlock=12,
        shanghaiTime=1_000,
        cancunTime=2_000,
        pragueTime=3_000,
    )
    table = [
        ((0, 0), Fork.HOMESTEAD),
        ((5, 0), Fork.BYZANTIUM),
        ((11, 0), Fork.LONDON),
        ((12, 999), Fork.PARIS),
        ((13, 1_000), Fork.SHANGHAI),
        ((14, 2_999), Fork.CANCUN),
        ((15, 3_000), Fork.PRAGUE),
    ]
    for (number, timestamp), fork in table:
        assert schedule.fork_at(number, timestamp) == fork, (number, timestamp)


def test_fork_of_header_follows_the_difficulty_at_a_merge_by_total_difficulty() -> None:
    schedule = _schedule(homesteadBlock=0, londonBlock=0, terminalTotalDifficulty=100)

    class Header:
        def __init__(self, difficulty: int) -> None:
            self.block_number, self.timestamp, self.difficulty = 7, 10, difficulty

    assert schedule.fork_of_header(Header(5)) == Fork.LONDON  # type: ignore[arg-type]
    assert schedule.fork_of_header(Header(0)) == Fork.PARIS  # type: ignore[arg-type]


def test_dev_chain_runs_prague_from_genesis() -> None:
    schedule = ForkSchedule(load_genesis(None))
    assert schedule.fork_at(0, 0) == Fork.PRAGUE
    assert schedule.vm_class(0, 0).__name__ == "QbftPragueVM"
