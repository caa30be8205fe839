"""jsc-node: a permissioned, Ethereum-compatible QBFT node."""

__version__ = "0.1.0"
CLIENT_NAME = "jsc-node"
