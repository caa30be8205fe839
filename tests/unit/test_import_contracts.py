"""The import rules of docs/ARCHITECTURE.md, as import-linter contracts in pyproject.toml: kept by the
tree as it is, and broken by a copy of it with one forbidden import added (so a contract that could
never fail would show here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (make install)"
)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract() -> None:
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("jsc_node/consensus/validators.py", "import jsc_node.state.chain", "consensus/ (but its driver"),
        ("jsc_node/consensus/messages.py", "import trio", "consensus/ (but its driver"),
        ("jsc_node/state/chain.py", "import jsc_node.consensus.engine", "state/ (execution side)"),
        ("jsc_node/rpc/encoding.py", "import jsc_node.state.backend", "rpc/ sees only the port"),
        ("jsc_node/p2p/permissions.py", "import plyvel", "p2p/ (consensus side)"),
        ("jsc_node/config.py", "import jsc_node.rpc.dispatch", "shared modules"),
        ("jsc_node/chainformat.py", "import jsc_node.consensus.block", "shared modules"),
        ("jsc_node/seam/codec.py", "import jsc_node.state.backend", "seam/ is the protocol"),
        ("jsc_node/governance/registry.py", "import eth.vm.state", "governance/ (the registry's"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, bad_import: str, contract: str
) -> None:
    shutil.copytree(ROOT / "jsc_node", tmp_path / "jsc_node", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{bad_import}  # added by the test\n")
    out = lint_imports(tmp_path)
    assert out.returncode != 0
    broken = out.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, out.stdout
