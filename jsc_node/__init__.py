"""jsc-node: a permissioned, Ethereum-compatible QBFT node."""

__version__ = "0.1.0"
CLIENT_NAME = "jsc-node"

from jsc_node import hashing as _hashing  # noqa: E402,F401  (one fast keccak backend for the process)
