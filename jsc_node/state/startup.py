"""What the execution side installs into its libraries before it opens a chain: one call, once per
process, from each process start (jsc_node/execution_process.py, ``jsc-node init`` in
jsc_node/node.py, ``jsc-node import`` in jsc_node/importer.py, the tests' conftest, bench's in-process
node side).

In order: the speed-up patches (state/evm/patches/, after their pinned-version and internals
checks), the BFT block hash (state/evm/headers.py, a chain-format rule) and the RPC EVM time limit
(state/serve/deadline.py). Nothing is installed by importing a module, so a process that skips this
call runs py-evm as released: slower, and with plain Ethereum block hashes, which a QBFT chain
does not use.
"""

from __future__ import annotations

from jsc_node.state.evm import headers, patches
from jsc_node.state.serve import deadline


def install() -> None:
    """Idempotent. Raises ``DependencyMismatch`` (``error: ...`` on the command line) when a library
    is not as pinned: the versions are checked before anything is patched."""
    patches.install_all()
    headers.install()
    deadline.install()
