"""Label values and names shared by the processes and the supervisor (no metric is defined here)."""

from __future__ import annotations

from typing import Final

UNKNOWN_METHOD: Final = "unknown"
"""The ``method`` label of every JSON-RPC call to a method this node does not serve (one series,
whatever names clients send)."""

PROCESSES: Final = ("main", "execution", "consensus")
"""The ``process`` label of the process metrics: the supervisor and its two children (node.py)."""

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
