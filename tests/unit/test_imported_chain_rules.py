"""Fork selection for imported (non-QBFT) chains: DAO fork config, merge by total difficulty."""

from __future__ import annotations

from typing import Any

import pytest

from jsc_node.errors import GenesisError
from jsc_node.genesis import parse_genesis
from jsc_node.state.evm.forks import ForkSchedule


def _schedule(**config: Any) -> ForkSchedule:
    doc = {"config": {"chainId": 1, **config}, "gasLimit": "0x1000000", "difficulty": "0x20000"}
    return ForkSchedule(parse_genesis(doc))


def test_dao_fork_block_and_support_configure_homestead() -> None:
    schedule = _schedule(homesteadBlock=0, daoForkBlock=5, daoForkSupport=True, eip150Block=10)
    vm = schedule.vm_class(5, 0, difficulty=1)
    assert vm.support_dao_fork is True
    assert vm.get_dao_fork_block_number() == 5
    assert "TangerineWhistle" in schedule.vm_class(10, 0, difficulty=1).__name__


def test_dao_fork_declined_still_checks_the_extra_data_rule() -> None:
    vm = _schedule(homesteadBlock=0, daoForkBlock=5, daoForkSupport=False).vm_class(5, 0, difficulty=1)
    assert vm.support_dao_fork is False
    assert vm.get_dao_fork_block_number() == 5


def test_dao_fork_outside_homestead_is_refused() -> None:
    with pytest.raises(GenesisError, match="daoForkBlock"):
        _schedule(homesteadBlock=0, eip150Block=3, daoForkBlock=5, daoForkSupport=True)


def test_merge_by_terminal_total_difficulty_follows_the_header_difficulty() -> None:
    schedule = _schedule(homesteadBlock=0, londonBlock=0, terminalTotalDifficulty=100, shanghaiTime=1000)
    assert "London" in schedule.vm_class(7, 10, difficulty=5).__name__
    assert "Paris" in schedule.vm_class(8, 20, difficulty=0).__name__
    assert "Shanghai" in schedule.vm_class(9, 1000, difficulty=0).__name__


def test_merge_netsplit_block_decides_when_given() -> None:
    schedule = _schedule(londonBlock=0, mergeNetsplitBlock=10, terminalTotalDifficulty=100)
    assert "London" in schedule.vm_class(9, 0, difficulty=0).__name__
    assert "Paris" in schedule.vm_class(10, 0, difficulty=0).__name__
