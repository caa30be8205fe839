"""A time limit for eth_call and its kin, as geth's ``--rpc.evmtimeout`` (default 5 s).

A call runs in a worker thread of the execution process, beside block building and validation:
a contract that loops until the 50M gas cap runs out keeps the CPU (and the GIL) for tens of
seconds, and a few such calls at once would slow the node's consensus work past its round timers.
Here the calls run under a per-thread deadline. The computations such a thread creates get a gas
meter that looks at the clock every ``CHECK_EVERY`` gas charges (every instruction is charged) and
aborts the whole call with geth's error, ``execution aborted (timeout = 5s)``. Threads without a
deadline (block building, validation, import) get py-evm's own meter, untouched. Installed once
per process by ``install()`` (jsc_node/state/startup.py); a feature, not a speed-up, so it is not
in the patch table of state/evm/patches/.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import eth.vm.forks  # noqa: F401  (every fork's computation class, patched below)
from eth.vm.computation import BaseComputation
from eth.vm.gas_meter import GasMeter

from jsc_node.errors import CallTimedOut
from jsc_node.pins import check_targets, patch_path

REPLACES = (
    "eth.vm.computation:BaseComputation._configure_gas_meter",
    "eth.vm.forks.constantinople.computation:ConstantinopleComputation._configure_gas_meter",
    "eth.vm.forks.istanbul.computation:IstanbulComputation._configure_gas_meter",
)
"""Where py-evm's computation classes build their gas meter (the forks' refund rules); ``install``
wraps every computation class that defines its own, these three in py-evm 0.12.1b1."""

CHECK_EVERY = 1024
"""Gas charges between two looks at the clock (~1 ms of EVM work)."""

_local = threading.local()


class DeadlineGasMeter(GasMeter):  # type: ignore[misc]
    """py-evm's gas meter, plus a look at the clock every ``CHECK_EVERY`` charges."""

    def __init__(self, start_gas: int, refund_strategy: Any, deadline: float, limit_s: float) -> None:
        super().__init__(start_gas, refund_strategy)
        self._deadline = deadline
        self._limit_s = limit_s
        self._countdown = CHECK_EVERY

    def consume_gas(self, amount: int, reason: str) -> None:
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = CHECK_EVERY
            if time.monotonic() > self._deadline:
                raise CallTimedOut(f"execution aborted (timeout = {_seconds(self._limit_s)})")
        super().consume_gas(amount, reason)


def _seconds(limit_s: float) -> str:
    # geth prints a Go duration: 5s, 1.5s, 500ms.
    if limit_s >= 1:
        return f"{limit_s:g}s"
    return f"{limit_s * 1000:g}ms"


def _with_deadline(configure: Any) -> Any:
    """A computation class's ``_configure_gas_meter`` (forks choose their refund rule there),
    giving the same meter with a deadline when this thread has one."""

    def configure_gas_meter(self: Any) -> GasMeter:
        meter: GasMeter = configure(self)
        limit = getattr(_local, "limit", None)
        if limit is None:
            return meter
        return DeadlineGasMeter(meter.start_gas, meter.refund_strategy, _local.deadline, limit)

    configure_gas_meter.__wrapped__ = configure  # type: ignore[attr-defined]
    return configure_gas_meter


@contextmanager
def time_limit(limit_s: float | None) -> Iterator[None]:
    """Computations started in this thread within the block are aborted once ``limit_s`` seconds
    have passed (``None`` or 0: no limit)."""
    if not limit_s:
        yield
        return
    outer = getattr(_local, "limit", None), getattr(_local, "deadline", None)
    _local.limit, _local.deadline = limit_s, time.monotonic() + limit_s
    try:
        yield
    finally:
        _local.limit, _local.deadline = outer


def _computation_classes() -> Iterator[type]:
    seen: set[type] = set()
    todo: list[type] = [BaseComputation]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            yield cls
            todo.extend(cls.__subclasses__())


def install() -> None:
    check_targets(patch_path(__name__), REPLACES)
    for cls in _computation_classes():
        configure = vars(cls).get("_configure_gas_meter")
        if configure is not None and not hasattr(configure, "__wrapped__"):
            cls._configure_gas_meter = _with_deadline(configure)  # type: ignore[attr-defined]
