"""Replacing a function that py-evm, py-trie and pyrlp modules import by name.

``from eth._utils.transactions import validate_transaction_signature`` copies the function into the
importing module, so setting it on the defining module alone leaves every importer calling the
original. ``replace_by_name`` imports the defining module and every importer a patch names, points
each of them at the replacement, and then any other loaded module of the same libraries still
holding the original. Because it imports the modules it patches itself, what the process imported
before or imports after does not matter (tests/unit/test_patches.py imports every py-evm module after
``install_all`` and finds none holding an original).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

from jsc_node.errors import PatchTargetMissing
from jsc_node.pins import patch_path, resolve


def replace_by_name(target: str, replacement: Any, imported_by: Sequence[str]) -> None:
    """Point ``target`` (``"module:function"``) and its by-name imports in ``imported_by`` (module
    names) at ``replacement``. A listed importer that holds neither the original nor the replacement
    under that name is a changed library: ``PatchTargetMissing``."""
    defined_in, name = target.split(":")
    original = resolve(target)
    if original is replacement:
        return
    modules = [importlib.import_module(module_name) for module_name in (defined_in, *imported_by)]
    for module in modules:  # all checked before any is changed
        held = getattr(module, name, None)
        if held is not original and held is not replacement:
            raise PatchTargetMissing(patch_path(replacement.__module__), f"{module.__name__}:{name}")
    for module in modules:
        setattr(module, name, replacement)
    libraries = {module_name.split(".")[0] for module_name in (defined_in, *imported_by)}
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] in libraries and getattr(module, name, None) is original:
            setattr(module, name, replacement)
