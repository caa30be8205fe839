"""The runtime patches as a whole (jsc_node/state/evm/patches/__init__.py, jsc_node/pins.py): nothing
is patched on import; ``install_all`` patches every internal its table names whatever was imported
before or after it; a library at another version than pinned, or without an internal a patch
replaces, stops the process before anything is patched, with one line naming it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from libp2p.stream_muxer.yamux.yamux import YamuxStream

from jsc_node import pins
from jsc_node.errors import PatchTargetMissing, PinnedVersionMismatch
from jsc_node.p2p import yamux
from jsc_node.state.evm import headers, patches
from jsc_node.state.evm.patches import byname
from jsc_node.state.serve import deadline

REPO = Path(__file__).resolve().parents[2]


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter: nothing installed, nothing imported."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- pins ---------------------------------------------------------------------------------------


def test_the_pins_are_pyproject_tomls() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = {}
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition("==")
        pinned[name.split("[")[0]] = version
    assert {name: pinned[name] for name in pins.PINNED_VERSIONS} == pins.PINNED_VERSIONS


def test_the_installed_versions_are_the_pinned_ones() -> None:
    pins.check_versions(*pins.PINNED_VERSIONS)


@pytest.mark.parametrize("package", sorted(pins.PINNED_VERSIONS))
def test_another_version_is_refused_naming_package_found_and_expected(
    monkeypatch: pytest.MonkeyPatch, package: str
) -> None:
    real = pins.installed_version
    monkeypatch.setattr(pins, "installed_version", lambda name: "9.9.9" if name == package else real(name))
    with pytest.raises(PinnedVersionMismatch) as caught:
        pins.check_versions(*pins.PINNED_VERSIONS)
    expected = pins.PINNED_VERSIONS[package]
    assert (caught.value.package, caught.value.found, caught.value.expected) == (package, "9.9.9", expected)
    assert str(caught.value) == (
        f"{package} 9.9.9 is installed, but jsc-node patches the internals of {package} {expected}"
        f" (pinned in pyproject.toml): install {package}=={expected}"
    )


def test_a_missing_package_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pins.importlib.metadata, "version", _not_found)
    with pytest.raises(PinnedVersionMismatch, match=r"^trie \(none\) is installed"):
        pins.check_versions("trie")


def _not_found(name: str) -> str:
    raise pins.importlib.metadata.PackageNotFoundError(name)


# -- the table ---------------------------------------------------------------------------------


def test_the_table_has_a_row_for_every_patch_and_its_comparison_test_exists() -> None:
    folder = REPO / "jsc_node" / "state" / "evm" / "patches"
    rows = [line for line in (folder / "README.md").read_text().splitlines() if line.startswith("| `")]
    by_module = {row.split("`")[1]: row for row in rows}
    assert sorted(by_module) == sorted(f"{name}.py" for name in patches.PATCHES)
    helpers = {"__init__.py", "byname.py"}
    assert {path.name for path in folder.glob("*.py")} == set(by_module) | helpers
    for row in rows:
        test = row.rstrip(" |").rsplit("|", 1)[1].strip().strip("`")
        assert (REPO / test).is_file(), row


# -- internals ----------------------------------------------------------------------------------


def test_every_target_of_every_patch_exists() -> None:
    for name in patches.PATCHES:
        module = sys.modules[f"jsc_node.state.evm.patches.{name}"]
        pins.check_targets(name, module.REPLACES, getattr(module, "ADDS", ()))
    pins.check_targets("headers", headers.REPLACES)
    pins.check_targets("deadline", deadline.REPLACES)
    pins.check_targets("yamux", yamux.REPLACES)


@pytest.mark.parametrize(
    ("target", "named"),
    [
        (
            "eth.vm.code_stream:CodeStream.is_valid_jumpdest",
            "eth.vm.code_stream:CodeStream.is_valid_jumpdest",
        ),
        ("eth.vm.code_stream:NoSuchClass.method", "eth.vm.code_stream:NoSuchClass"),
        ("eth.db.trie:no_such_function", "eth.db.trie:no_such_function"),
        ("eth.no_such_module:function", "eth.no_such_module"),
    ],
)
def test_a_missing_internal_is_named(target: str, named: str) -> None:
    with pytest.raises(PatchTargetMissing) as caught:
        pins.check_targets(
            "jsc_node/state/evm/patches/x.py", ["eth.db.trie:make_trie_root_and_nodes", target]
        )
    assert str(caught.value) == f"jsc_node/state/evm/patches/x.py cannot be installed: {named} is missing"


def test_an_added_attribute_needs_only_its_class() -> None:
    pins.check_targets("x", [], ["eth.vm.forks.berlin.transactions:TypedTransaction.__no_such_method__"])
    with pytest.raises(
        PatchTargetMissing, match=r"eth\.vm\.forks\.berlin\.transactions:NoSuchClass is missing"
    ):
        pins.check_targets("x", [], ["eth.vm.forks.berlin.transactions:NoSuchClass.__deepcopy__"])


def _replacement(items: object) -> None:
    raise AssertionError("never installed")


def test_an_importer_that_holds_something_else_is_refused_before_any_change() -> None:
    installed = pins.resolve("eth.db.trie:make_trie_root_and_nodes")
    with pytest.raises(PatchTargetMissing) as caught:
        byname.replace_by_name(
            "eth.db.trie:make_trie_root_and_nodes",
            _replacement,
            ["eth.vm.base", "eth.vm.forks.frontier.blocks"],
        )
    assert str(caught.value) == (
        "tests/unit/test_patches.py cannot be installed: "
        "eth.vm.forks.frontier.blocks:make_trie_root_and_nodes is missing"
    )
    assert pins.resolve("eth.db.trie:make_trie_root_and_nodes") is installed
    assert pins.resolve("eth.vm.base:make_trie_root_and_nodes") is installed


def test_install_all_is_idempotent() -> None:
    assert patches.installed() == frozenset(patches.PATCHES)  # tests/conftest.py installed them
    patches.install_all()
    assert patches.installed() == frozenset(patches.PATCHES)


# -- in a fresh interpreter ---------------------------------------------------------------------

_SNAPSHOT = """
import importlib, pkgutil, sys
from eth_hash.auto import keccak
keccak(b""), keccak.new(b"")  # eth-hash's own first-use swap of its hasher slots, out of the way
from jsc_node import pins
from jsc_node.p2p import yamux
from jsc_node.state.evm import headers, patches
from jsc_node.state.serve import deadline

def modules():
    out = [importlib.import_module(f"jsc_node.state.evm.patches.{name}") for name in patches.PATCHES]
    return [*out, headers, deadline, yamux]

def targets():
    return {target: pins.resolve(target) for module in modules() for target in module.REPLACES}

def changed(before):
    return [target for target, obj in before.items() if pins.resolve(target) is not obj]

def ours():
    # The targets holding a function of jsc_node's (a property's getter, a bound method's function).
    found = []
    for target, obj in targets().items():
        function = getattr(obj, "fget", None) or getattr(obj, "__func__", None) or obj
        if str(getattr(function, "__module__", "")).startswith("jsc_node"):
            found.append(target)
    return found

def import_everything(*packages):
    for package in packages:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            importlib.import_module(info.name)
"""


def test_nothing_is_patched_by_importing_jsc_node() -> None:
    done = _run_python(
        _SNAPSHOT
        + textwrap.dedent("""
        import_everything("jsc_node")
        assert len(targets()) > 30
        assert ours() == [], ours()
        """)
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("order", ["install-then-import", "import-then-install"])
def test_every_target_is_patched_whatever_is_imported_before_or_after(order: str) -> None:
    """Every internal a patch names is replaced, and no module of py-evm, py-trie or pyrlp, imported
    before or after the install, still holds a function replaced by name."""
    done = _run_python(
        _SNAPSHOT
        + textwrap.dedent("""
        from typing import Any
        from jsc_node.state import startup
        from jsc_node.state.evm.patches import rlp_encode, roots, senders
        assert ours() == []
        before = targets()
        if sys.argv[1] == "import-then-install":
            import_everything("eth", "trie", "rlp")
        startup.install()
        yamux.install()
        import_everything("eth", "trie", "rlp")
        unchanged = sorted(set(before) - set(changed(before)))
        assert unchanged == [], unchanged
        originals: dict[str, Any] = {
            "validate_transaction_signature": before["eth._utils.transactions:validate_transaction_signature"],
            "extract_transaction_sender": before["eth._utils.transactions:extract_transaction_sender"],
            "make_trie_root_and_nodes": before["eth.db.trie:make_trie_root_and_nodes"],
            "encode_raw": before["rlp.codec:encode_raw"],
        }
        holders = [
            f"{module_name}:{name}"
            for module_name, module in list(sys.modules.items())
            if module_name.split(".")[0] in ("eth", "trie", "rlp")
            for name, original in originals.items()
            if getattr(module, name, None) is original
        ]
        assert holders == [], holders
        assert len([m for m in sys.modules if m.startswith("eth.")]) > 300
        print("ok")
        """),
        order,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_version_mismatch_patches_nothing() -> None:
    done = _run_python(
        _SNAPSHOT
        + textwrap.dedent("""
        from jsc_node.errors import PinnedVersionMismatch
        from jsc_node.state import startup
        before = targets()
        pins.installed_version = lambda name: "0.13.0" if name == "py-evm" else pins.PINNED_VERSIONS[name]
        try:
            startup.install()
        except PinnedVersionMismatch as exc:
            print(exc)
        assert patches.installed() == frozenset()
        assert changed(before) == []
        """)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("py-evm 0.13.0 is installed")


def test_a_missing_internal_patches_nothing() -> None:
    done = _run_python(
        _SNAPSHOT
        + textwrap.dedent("""
        from jsc_node.errors import PatchTargetMissing
        from jsc_node.state.evm.patches import trie_nodes
        before = targets()
        trie_nodes.REPLACES = ("trie.hexary:HexaryTrie.get_node_gone",)
        try:
            patches.install_all()
        except PatchTargetMissing as exc:
            print(exc)
        assert patches.installed() == frozenset()
        assert changed(before) == []
        """)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "jsc_node/state/evm/patches/trie_nodes.py cannot be installed: "
        "trie.hexary:HexaryTrie.get_node_gone is missing"
    )


@pytest.mark.parametrize("command", ["run", "init"])
def test_the_node_refuses_to_start_with_one_error_line(command: str, tmp_path: Path) -> None:
    done = _run_python(
        textwrap.dedent("""
        import sys
        from jsc_node import pins
        real = pins.installed_version
        pins.installed_version = lambda name: "4.1.0" if name == "trie" else real(name)
        from jsc_node.cli import main
        sys.argv = ["jsc-node", *sys.argv[1:]]
        main()
        """),
        command,
        "--data-path",
        str(tmp_path / "data"),
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: trie 4.1.0 is installed, but jsc-node patches the internals of trie 4.0.0"
        " (pinned in pyproject.toml): install trie==4.0.0"
    ]
    assert not (tmp_path / "data" / "chaindata").exists()


# -- the yamux patch (consensus process) --------------------------------------------------------


def test_yamux_install_checks_libp2p_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(YamuxStream, "write", yamux.PY_LIBP2P_WRITE)
    monkeypatch.setattr(pins, "installed_version", lambda name: "0.9.0")
    with pytest.raises(PinnedVersionMismatch, match=r"^libp2p 0.9.0 is installed"):
        yamux.install()
    assert YamuxStream.write is yamux.PY_LIBP2P_WRITE
    monkeypatch.setattr(pins, "installed_version", lambda name: pins.PINNED_VERSIONS[name])
    yamux.install()
    assert YamuxStream.write is yamux.write_whole
