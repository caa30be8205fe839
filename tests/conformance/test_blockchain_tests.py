"""ethereum/tests BlockchainTests (../shared/conformance/blockchain-tests) through `jsc_node.importer`:
every fixture, in a pool of two processes (see tests/conformance/blockchain_tests.py)."""

from __future__ import annotations

import json

import pytest

from tests.conformance.blockchain_tests import FIXTURES, fixture_files, iter_failures, run_all

pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"blockchain-tests fixtures not present at {FIXTURES}"
)


@pytest.mark.slow
def test_every_blockchain_test_imports_as_its_fixture_says() -> None:
    files = fixture_files()
    expected = sum(len(json.loads(path.read_text())) for path in files)
    outcomes = run_all(files, workers=2)
    assert len(outcomes) == expected
    failures = [f"{outcome.name}: {outcome.failure}" for outcome in iter_failures(outcomes)]
    assert not failures, f"{len(failures)} of {expected} failed:\n" + "\n".join(failures)
