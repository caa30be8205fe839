"""The libraries whose internals jsc-node replaces at run time, the versions it was written against,
and the two checks made before any replacement is installed.

A runtime patch (state/evm/patches/, state/evm/headers.py, state/serve/deadline.py, p2p/yamux.py)
replaces a function or method of py-evm, py-trie, pyrlp, eth-hash or py-libp2p that is not their
public API: another release may move it, rename it or change what it does, and a patch written for
the old one would then fail silently or give other answers. So ``check_versions`` refuses to start
a process on any version but the pinned one (the same pins as pyproject.toml; a unit test keeps the
two equal), and ``check_targets`` resolves every internal a patch names (``"module:Class.attr"``)
before any patch is installed, so a deliberate upgrade (bump both pins) is told by name what is
gone. Whether what is still there behaves the same is for each patch's comparison test to say
(the table in jsc_node/state/evm/patches/__init__.py).
"""

from __future__ import annotations

import importlib.metadata
import pkgutil
import re
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from jsc_node.errors import PatchTargetMissing, PinnedVersionMismatch

PINNED_VERSIONS: dict[str, str] = {
    "py-evm": "0.12.1b1",
    "trie": "4.0.0",
    "rlp": "5.0.0",
    "eth-hash": "0.8.0",
    "libp2p": "0.8.1",
}
"""Distribution name -> the version pinned in pyproject.toml."""


def installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(none)"


def check_versions(*packages: str) -> None:
    """Raise ``PinnedVersionMismatch`` (package, found, expected) unless each of ``packages`` is
    installed at its pinned version."""
    for package in packages:
        expected = PINNED_VERSIONS[package]
        found = installed_version(package)
        if found != expected:
            raise PinnedVersionMismatch(package, found, expected)


def resolve(target: str) -> Any:
    """The object ``target`` names: ``"package.module:Class.attribute"``."""
    if ":" not in target:
        raise ValueError(f"{target!r}: a patch target is written 'module:attribute'")
    return pkgutil.resolve_name(target)


def check_targets(patch: str, replaces: Iterable[str], adds_to: Iterable[str] = ()) -> None:
    """Every internal ``patch`` replaces exists; for ``adds_to`` (``"module:Class.attr"`` the patch
    gives a class that lacks it) the class exists. Raises ``PatchTargetMissing`` naming the first one gone."""
    for target in replaces:
        _check(patch, target, target)
    for target in adds_to:
        _check(patch, target, target.rpartition(".")[0])


def _check(patch: str, target: str, must_exist: str) -> None:
    try:
        resolve(must_exist)
    except (ImportError, AttributeError) as exc:
        raise PatchTargetMissing(patch, missing_name(exc, must_exist)) from exc


def missing_name(exc: ImportError | AttributeError, fallback: str) -> str:
    """What an import or attribute lookup did not find, as ``"module:attribute"`` where it can tell."""
    if isinstance(exc, AttributeError) and exc.name is not None:
        owner = exc.obj
        if isinstance(owner, type):
            return f"{owner.__module__}:{owner.__qualname__}.{exc.name}"
        if isinstance(owner, ModuleType):
            return f"{owner.__name__}:{exc.name}"
    if isinstance(exc, ImportError):
        found = re.match(r"cannot import name '([^']+)' from '([^']+)'", str(exc))
        if found:
            return f"{found[2]}:{found[1]}"
        if exc.name is not None:
            return exc.name
    return fallback


def patch_path(module_name: str) -> str:
    """``jsc_node.p2p.yamux`` -> ``jsc_node/p2p/yamux.py``: how errors and the table name a patch."""
    return module_name.replace(".", "/") + ".py"
