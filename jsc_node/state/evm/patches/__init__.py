"""The runtime patches of py-evm, py-trie, pyrlp and eth-hash: speed-ups that give the library's own
results, installed once per process by ``install_all()`` (the consensus process: ``install_keccak()``)
after the pinned versions and every replaced internal are checked (jsc_node/pins.py); nothing is
patched on import. The table of what each patch replaces, why, the gain measured and the test that
compares it with the original is README.md in this folder.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from jsc_node.errors import PatchTargetMissing
from jsc_node.pins import check_targets, check_versions, missing_name, patch_path

PATCHES = ("keccak", "rlp_encode", "immutable", "opcodes", "jumpdests", "senders", "roots", "trie_nodes")
"""Every patch module of this package (README.md has a row for each), in the order installed."""

PACKAGES = ("py-evm", "trie", "rlp", "eth-hash")
"""The distributions these patches reach into (their pins: jsc_node/pins.py)."""

_installed: set[str] = set()


def install_all() -> None:
    """Check, then install, every patch; once per process (a second call does nothing)."""
    _install(PATCHES, PACKAGES)


def install_keccak() -> None:
    """The keccak backend alone: what the consensus process (no EVM) needs."""
    _install(("keccak",), ("eth-hash",))


def _install(names: tuple[str, ...], packages: tuple[str, ...]) -> None:
    todo = [name for name in names if name not in _installed]
    if not todo:
        return
    check_versions(*packages)
    modules = [_load(name) for name in todo]
    for module in modules:
        check_targets(patch_path(module.__name__), module.REPLACES, getattr(module, "ADDS", ()))
    for name, module in zip(todo, modules, strict=True):
        module.install()
        _installed.add(name)


def _load(name: str) -> ModuleType:
    module_name = f"{__name__}.{name}"
    try:
        return importlib.import_module(module_name)
    except (ImportError, AttributeError) as exc:  # a name the patch imports from its library is gone
        raise PatchTargetMissing(patch_path(module_name), missing_name(exc, str(exc))) from exc


def installed() -> frozenset[str]:
    return frozenset(_installed)
