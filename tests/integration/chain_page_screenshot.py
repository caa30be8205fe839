"""Writes the README's picture of the chain page (``make screenshot``; docs/chain-page.png).

A 4-validator ``jsc-node devnet`` whose genesis attests each validator with a Japanese entity (the
devnet reuses a genesis and keys already in its directory), transfers in several blocks, a
candidate's attestation submitted and approved by three validators (QBFT's quorum of 4), all
within the page's 60-block window; then validator-0's page in Debian's headless Chromium, 1280
pixels wide, with the last approval looked up. About two minutes; uses /usr/bin/chromium.

    python -m tests.integration.chain_page_screenshot docs/chain-page.png
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from jsc_node.devnet import free_base_port
from jsc_node.devtools import write_devnet
from jsc_node.governance.identity import AttestationFields
from jsc_node.governance.registry import REGISTRY_ADDRESS, artifact
from tests.integration.conftest import web3_for
from tests.integration.test_chain_page import CHROMIUM, CHROMIUM_ARGS, KEYS, Sender

VIEWPORT = {"width": 1280, "height": 900}
START_HEAD = 40
"""The activity starts here, so that the page's 60-block window holds it all."""
LOAD = (3, 0, 6, 2, 9, 4, 0, 12, 5, 7, 1, 8, 3, 10, 6, 2, 11, 4, 0, 7)
"""Transfers sent one second apart."""
ENTITIES = [
    ("株式会社みなと計算センター", "4011001098993", "JP-13"),
    ("なにわデータ株式会社", "7010705000725", "JP-27"),
    ("北海道ノード合同会社", "2120901007402", "JP-01"),
    ("株式会社博多チェーン", "3430001012345", "JP-40"),
]
CANDIDATE = ("信州検証株式会社", "4180001054321", "JP-20")


def _attestation(name: str, number: str, region: str) -> AttestationFields:
    return AttestationFields(name, number, "JP", region, hashlib.sha256(name.encode()).digest())


def _wait_for_devnet(directory: Path, process: subprocess.Popen[bytes], timeout_s: float = 180) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    path = directory / "devnet.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"devnet exited with {process.returncode}")
        if path.exists():
            nodes: list[Any] = json.loads(path.read_text())["nodes"]
            return nodes
        time.sleep(0.5)
    raise TimeoutError("devnet not up")


def _activity(w3: Web3, directory: Path) -> str:
    sender = Sender(w3)
    validator_keys = [(directory / f"validator-{i}" / "key").read_text().strip() for i in range(3)]
    sender.bursts(LOAD)
    funded = [sender.send(KEYS[0], to=Account.from_key(key).address, value=10**18) for key in validator_keys]
    registry = w3.eth.contract(address=Web3.to_checksum_address(REGISTRY_ADDRESS), abi=artifact()["abi"])
    name, number, region = CANDIDATE
    submit = registry.functions.submit(name, number, "JP", region, hashlib.sha256(name.encode()).digest())
    sender.mined(
        sender.send(KEYS[3], to=registry.address, data=submit._encode_transaction_data(), gas=1_000_000)
    )
    for tx in funded:
        sender.mined(tx)
    approve = registry.functions.approve(Account.from_key(KEYS[3]).address)._encode_transaction_data()
    approvals = [sender.send(key, to=registry.address, data=approve, gas=1_000_000) for key in validator_keys]
    receipts = [sender.mined(tx) for tx in approvals]
    return "0x" + bytes(receipts[-1]["transactionHash"]).hex()


def main(target: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory(prefix="chain-page-") as tmp:
        directory = Path(tmp) / "devnet"
        write_devnet(
            directory,
            4,
            1337,
            1,
            timestamp=int(time.time()),
            empty_block_period_s=1,
            attestations=[_attestation(*entity) for entity in ENTITIES],
        )
        base = free_base_port(4)
        command = [sys.executable, "-m", "jsc_node.cli", "devnet", "-n", "4", "--dir", str(directory)]
        process = subprocess.Popen([*command, "--base-port", str(base)], stdout=subprocess.DEVNULL)
        try:
            nodes = _wait_for_devnet(directory, process)
            w3 = web3_for(nodes[1]["rpc"])  # sent to another node than the page's: gossiped
            while w3.eth.block_number < START_HEAD:
                time.sleep(1)
            approval = _activity(w3, directory)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(nodes[0]["ui"])
                expect(page.locator("#live-text")).to_have_text("live", timeout=15_000)
                page.fill("#lookup-input", approval)
                page.click("#lookup-button")
                page.locator("#lookup-result dl").wait_for()
                time.sleep(1.5)
                page.mouse.move(0, 0)
                page.screenshot(path=str(target), full_page=True)
                browser.close()
        finally:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(60)
            if process.poll() is None:
                process.kill()
    print(f"wrote {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/chain-page.png"))
