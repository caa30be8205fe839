"""The supervisor's side of the metrics: the multiprocess directory, ``GET /metrics``, and what
is measured at scrape time (process CPU, RSS and open files from /proc; LevelDB's size on disk).

The children's values come from their mmap files (``MultiProcessCollector``); the supervisor
defines no metric of ``registry.py`` itself. Its own collector runs here, in the one process that
serves, as multiprocess mode requires (a child's custom collector would never be asked).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from jsc_node.errors import ConfigError
from jsc_node.metrics.names import MULTIPROC_ENV

log = logging.getLogger("jsc_node.metrics")

METRICS_DIR = "metrics"
"""Under the data dir: the children's value files (emptied at each start)."""

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class MetricsSettings(Protocol):
    @property
    def metrics_enabled(self) -> bool: ...
    @property
    def metrics_host(self) -> str: ...
    @property
    def metrics_port(self) -> int: ...
    @property
    def data_path(self) -> Path: ...


def prepare_multiproc_dir(data_path: Path) -> Path:
    """The directory the children write into, emptied: values of an earlier run (other pids)
    would be summed with this run's."""
    path = data_path / METRICS_DIR
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


def proc_stats(pid: int) -> tuple[float, int, int] | None:
    """(CPU seconds user+system, resident bytes, open file descriptors) of a live process, from
    /proc (proc(5): stat fields 14, 15 and 24); None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    rss = int(fields[21]) * _PAGE_SIZE
    return cpu, rss, fds


def directory_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (LevelDB's tables, logs and manifest). A file
    removed by a compaction while we walk counts as 0."""
    total = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
                elif entry.is_dir(follow_symlinks=False):
                    total += directory_bytes(Path(entry.path))
    return total


class NodeCollector(Collector):
    """Measured at each scrape, in the supervisor: each process's CPU, memory and files, and the
    chain database's size on disk."""

    def __init__(self, chaindata: Path, pids: Callable[[], Mapping[str, int | None]]) -> None:
        self.chaindata = chaindata
        self.pids = pids

    def collect(self) -> Iterable[Metric]:
        cpu = CounterMetricFamily(
            "process_cpu_seconds", "User and system CPU time of each node process", labels=["process"]
        )
        rss = GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory of each node process", labels=["process"]
        )
        fds = GaugeMetricFamily(
            "process_open_fds", "Open file descriptors of each node process", labels=["process"]
        )
        for name, pid in self.pids().items():
            stats = None if pid is None else proc_stats(pid)
            if stats is None:
                continue
            cpu.add_metric([name], stats[0])
            rss.add_metric([name], stats[1])
            fds.add_metric([name], stats[2])
        size = GaugeMetricFamily(
            "jsc_leveldb_size_bytes", "Bytes of the chain database (the chaindata directory) on disk"
        )
        size.add_metric([], directory_bytes(self.chaindata))
        return [cpu, rss, fds, size]


class MetricsServer:
    """``GET /metrics`` on --metrics-host:--metrics-port (prometheus-client's threaded HTTP
    server, a daemon thread of the supervisor)."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def open_metrics(
    config: MetricsSettings, pids: Callable[[], Mapping[str, int | None]]
) -> MetricsServer | None:
    """Before the children start: with --metrics-enabled, empty the multiprocess directory, name
    it to the children (they inherit the environment) and listen; without, make sure the children
    keep their values in memory (an inherited PROMETHEUS_MULTIPROC_DIR would make them write files
    no one reads)."""
    if not config.metrics_enabled:
        os.environ.pop(MULTIPROC_ENV, None)
        return None
    path = prepare_multiproc_dir(config.data_path)
    os.environ[MULTIPROC_ENV] = str(path)
    registry = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    registry.register(NodeCollector(config.data_path / "chaindata", pids))
    try:
        server, thread = start_http_server(config.metrics_port, config.metrics_host, registry)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {config.metrics_port}: cannot listen on {config.metrics_host}:{config.metrics_port} "
            f"({exc.strerror})"
        ) from exc
    log.info("metrics on http://%s:%d/metrics", config.metrics_host, config.metrics_port)
    return MetricsServer(server, thread)
