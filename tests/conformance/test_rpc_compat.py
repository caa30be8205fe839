"""The whole execution-apis rpc-compat suite against a real node (hive's rules; see rpc_compat.py).

Counted, not sampled: every fixture must pass. A failure lists each failing fixture with why.
"""

from __future__ import annotations

import pytest

from tests.conformance import rpc_compat

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not rpc_compat.available(), reason=f"rpc-compat fixtures not present at {rpc_compat.FIXTURES}"
    ),
]


def test_rpc_compat_suite() -> None:
    passed, failed, failures = rpc_compat.run()
    total = len(rpc_compat.load_cases())
    assert passed + failed == total
    assert failed == 0, f"rpc-compat: {passed} passed, {failed} failed:\n" + "\n".join(failures)
    assert passed == total == 233
