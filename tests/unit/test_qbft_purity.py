"""The consensus core stays pure: no network, storage, EVM, event loop or clock imports
(ARCHITECTURE.md: only consensus/service.py, the driver, may touch the outside world)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONSENSUS = Path(__file__).resolve().parents[2] / "jsc_node" / "consensus"
ALLOWED_TOP = {"__future__", "rlp", "eth_hash", "eth_keys", "eth_utils", "jsc_node"}
STDLIB_OK = {
    "collections",
    "contextlib",
    "dataclasses",
    "enum",
    "functools",
    "itertools",
    "math",
    "typing",
    "abc",
    "operator",
    "bisect",
    "heapq",
}
FORBIDDEN_JSC = ("jsc_node.p2p", "jsc_node.state", "jsc_node.rpc", "jsc_node.consensus.service")
FILES = sorted(p for p in CONSENSUS.glob("*.py") if p.name != "service.py")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.append("jsc_node.consensus." + (node.module or ""))
            else:
                names.append(node.module or "")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            names.append("<dynamic __import__>")
    return names


def test_every_core_file_is_scanned() -> None:
    assert {p.name for p in FILES} >= {
        "block.py",
        "engine.py",
        "events.py",
        "messages.py",
        "rules.py",
        "validators.py",
    }


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_core_imports_only_pure_modules(path: Path) -> None:
    bad = []
    for name in imported_modules(path):
        top = name.split(".")[0]
        if name.startswith(FORBIDDEN_JSC) or (top not in ALLOWED_TOP and top not in STDLIB_OK):
            bad.append(name)
    assert bad == [], f"{path.name} imports {bad} (time, trio, asyncio, libp2p, plyvel, eth are not allowed)"


def test_the_scan_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import time\nfrom trio import sleep\nfrom eth.vm import forks\nimport rlp\n")
    assert imported_modules(sample) == ["time", "trio", "eth.vm", "rlp"]
