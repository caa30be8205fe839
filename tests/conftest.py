"""Every test process runs with what a node's processes install at their start: the execution
side's patches, BFT block hash and RPC time limit (jsc_node/state/startup.py) and the yamux write
fix of the consensus side (jsc_node/p2p/yamux.py). Nothing in jsc_node installs on import.

`make test` runs the files on two pytest-xdist workers (`-n 2 --dist loadfile`): a file's tests
stay on one worker, so a module-scoped node starts once."""

from __future__ import annotations

import pytest

from jsc_node.p2p import yamux
from jsc_node.state import startup


def pytest_configure(config: pytest.Config) -> None:
    startup.install()
    yamux.install()
