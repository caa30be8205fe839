"""A real node with ``--logging-format json``: every line it writes parses as one JSON object with
the documented keys and fields, and ``admin_changeLogLevel`` changes what both of its processes
log without a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.nodeproc import NodeProcess

WAIT_S = 20.0


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = NodeProcess(
        tmp_path_factory.mktemp("jsonlog") / "data", extra_args=["--logging-format", "json"]
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def _lines(node: NodeProcess, start: int = 0) -> list[dict[str, Any]]:
    assert node.log_path is not None
    raw = node.log_path.read_bytes()[start:]
    records = []
    for text in raw.decode().splitlines():
        if text.strip():
            records.append(json.loads(text))  # every line is one JSON object
    return records


def _size(node: NodeProcess) -> int:
    assert node.log_path is not None
    return Path(node.log_path).stat().st_size


def _wait_for(node: NodeProcess, start: int, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        # A line may be half written at the end of the file: parse complete lines only.
        assert node.log_path is not None
        raw = node.log_path.read_bytes()[start:]
        complete = raw[: raw.rfind(b"\n") + 1]
        for text in complete.decode().splitlines():
            if text.strip() and match(record := json.loads(text)):
                return record
        time.sleep(0.2)
    raise TimeoutError(f"no such log record in {WAIT_S} s")


def _call(node: NodeProcess, method: str, *params: object) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=10
    ).json()
    return body


def _committed(record: dict[str, Any]) -> bool:
    return record.get("logger") == "jsc_node.execution" and "block" in record


def test_every_line_is_json_with_the_keys_and_block_fields(node: NodeProcess) -> None:
    node.wait_for_block(2)
    record = _wait_for(node, 0, _committed)
    records = _lines(node)
    assert {"main", "execution", "consensus"} <= {r["process"] for r in records}
    for r in records:
        assert {"time", "level", "process", "pid", "logger", "message"} <= r.keys()
    ready = [r for r in records if r["message"].startswith("jsc-node v") and r["process"] == "main"]
    assert ready
    assert ready[0]["chain_id"] == 1337
    assert ready[0]["rpc_http"] == node.url
    block = _call(node, "eth_getBlockByNumber", hex(record["block"]), False)["result"]
    assert record["hash"] == block["hash"]
    assert record["txs"] == len(block["transactions"])
    assert not [r for r in records if r["level"] == "DEBUG"]


def test_change_log_level_reaches_both_processes_without_a_restart(node: NodeProcess) -> None:
    pid_before = node.process.pid if node.process else None
    start = _size(node)
    assert _call(node, "admin_changeLogLevel", "DEBUG", ["jsc_node.consensus"]) == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": None,
    }
    # The consensus process hears of it over the seam and starts logging the engine's steps.
    _wait_for(node, start, lambda r: r["process"] == "consensus" and r["level"] == "DEBUG")

    # WARN everywhere: the execution process's per-block INFO line stops, and the consensus
    # process's DEBUG lines stop (its jsc_node.consensus level follows jsc_node again).
    assert _call(node, "admin_changeLogLevel", "WARN")["result"] is None
    time.sleep(1.0)  # the consensus process applies it when the event arrives
    quiet_from = _size(node)
    head = int(str(node.rpc("eth_blockNumber")), 16)
    node.wait_for_block(head + 3)
    quiet = _lines(node, quiet_from)
    assert not [r for r in quiet if r["level"] in {"DEBUG", "INFO"}], quiet

    start = _size(node)
    assert _call(node, "admin_changeLogLevel", "INFO")["result"] is None
    _wait_for(node, start, _committed)
    assert node.process is not None
    assert node.process.pid == pid_before


def test_change_log_level_refuses_bad_params(node: NodeProcess) -> None:
    for params in (["LOUD"], ["debug"], [], ["INFO", "jsc_node"], ["INFO", [""]]):
        error = _call(node, "admin_changeLogLevel", *params)["error"]
        assert error["code"] == -32602, (params, error)
    assert "Invalid log level params" in _call(node, "admin_changeLogLevel", "LOUD")["error"]["message"]
    assert "Invalid log filter params" in _call(node, "admin_changeLogLevel", "INFO", 5)["error"]["message"]
