"""The rpc package stays on its side of the seam (ARCHITECTURE.md: rpc imports no p2p or consensus,
and never py-evm, plyvel or libp2p: the execution side adapts to jsc_node.views.RpcBackend)."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("eth", "plyvel", "libp2p", "trio", "jsc_node.state", "jsc_node.p2p", "jsc_node.consensus")


def test_rpc_imports_nothing_forbidden() -> None:
    probe = (
        "import sys, jsc_node.rpc.app, jsc_node.rpc.dispatch, jsc_node.views\n"
        f"bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in {FORBIDDEN!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
