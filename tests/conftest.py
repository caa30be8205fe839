"""Every test process runs with what a node's processes install at their start: the execution
side's patches, BFT block hash and RPC time limit (jsc_node/state/startup.py) and the yamux write
fix of the consensus side (jsc_node/p2p/yamux.py). Nothing in jsc_node installs on import.

`make test` runs the files on two pytest-xdist workers (`-n 2 --dist loadgroup`): each file is one
group, so a module-scoped node starts once, and the files that run several nodes at once share one
group, so no two of them load the machine's two cores together."""

from __future__ import annotations

from pathlib import Path

import pytest

from jsc_node.p2p import yamux
from jsc_node.state import startup


def pytest_configure(config: pytest.Config) -> None:
    startup.install()
    yamux.install()


# Files that start several node processes at once: run one after another on one worker.
NETWORK_FILES = frozenset(
    {
        "test_validator_changes.py",
        "test_multi_validator.py",
        "test_devnet.py",
        "test_p2p_gossip.py",
        "test_p2p_network.py",
        "test_p2p_sync.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        group = "network" if path.name in NETWORK_FILES else str(path)
        item.add_marker(pytest.mark.xdist_group(group))
