"""`make conformance`: run the conformance suites, print failing names, then one summary line each.

blockchain-tests: N passed, M failed
rpc-compat: N passed, M failed          (or: not run (tests/conformance/rpc_compat.py absent))
"""

from __future__ import annotations

import importlib
import sys

from tests.conformance.blockchain_tests import FIXTURES, iter_failures, run_all

# --- rpc-compat hook -------------------------------------------------------------------------
# The rpc-compat half lives in tests/conformance/rpc_compat.py (another engineer's), with
# ``run() -> tuple[int, int, list[str]]`` = (passed, failed, names of failed tests).
RPC_COMPAT_MODULE = "tests.conformance.rpc_compat"


def run_rpc_compat() -> tuple[int, int, list[str]] | None:
    try:
        module = importlib.import_module(RPC_COMPAT_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != RPC_COMPAT_MODULE:
            raise
        return None
    result: tuple[int, int, list[str]] = module.run()
    return result


def main() -> int:
    status = 0
    if FIXTURES.is_dir():
        outcomes = run_all()
        failed = list(iter_failures(outcomes))
        for outcome in failed:
            print(f"FAIL blockchain-tests {outcome.name}: {outcome.failure}")
        blockchain_line = f"blockchain-tests: {len(outcomes) - len(failed)} passed, {len(failed)} failed"
        status |= bool(failed)
    else:
        blockchain_line = f"blockchain-tests: not run ({FIXTURES} absent)"

    rpc = run_rpc_compat()
    if rpc is None:
        rpc_line = "rpc-compat: not run (tests/conformance/rpc_compat.py absent)"
    else:
        passed, failures, names = rpc
        for name in names:
            print(f"FAIL rpc-compat {name}")
        rpc_line = f"rpc-compat: {passed} passed, {failures} failed"
        status |= bool(failures)

    print(blockchain_line)
    print(rpc_line)
    return status


if __name__ == "__main__":
    sys.exit(main())
