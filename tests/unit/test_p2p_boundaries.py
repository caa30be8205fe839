"""p2p/ lives in the consensus process: it imports no jsc_node.state or jsc_node.rpc, no py-evm
or plyvel, and of consensus only the pure codecs it validates gossip with (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

P2P = Path(__file__).resolve().parents[2] / "jsc_node" / "p2p"
FILES = sorted(P2P.glob("*.py"))
ALLOWED_JSC = (
    "jsc_node.errors",
    "jsc_node.pins",
    "jsc_node.p2p",
    "jsc_node.consensus.messages",
    "jsc_node.consensus.block",
)
FORBIDDEN_TOP = {"eth", "plyvel", "trie", "fastapi", "uvicorn", "asyncio"}


def imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(("jsc_node.p2p." if node.level else "") + (node.module or ""))
    return names


def test_every_p2p_file_is_scanned() -> None:
    assert {p.name for p in FILES} >= {"__init__.py", "host.py", "gossip.py"}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_p2p_imports_stay_inside_its_boundary(path: Path) -> None:
    bad = [
        name
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN_TOP
        or (name.startswith("jsc_node") and not name.startswith(ALLOWED_JSC))
    ]
    assert bad == [], f"{path.name} imports {bad}"
