"""The chain page (``--ui-port``, jsc_node/ui/) in a real headless Chromium (Debian's package,
driven by Playwright) against a real node: a one-validator chain whose validator carries a Japanese
attestation in genesis, with transfers in several blocks and a registry submission approved on
chain. The page loads without console errors, shows the node's head, adds a block when a
transaction is committed, lists the validator with its attestation and the governance events, and
a lookup of a real transaction shows its receipt; account and block lookups too; a dropped
WebSocket is opened again and subscribed anew.

Needs /usr/bin/chromium (``apt-get install chromium fonts-noto-cjk``; ``.ci/run`` installs it): the
test skips without it, but fails under CI (``CI`` set). The README's screenshot is made by
tests/integration/chain_page_screenshot.py (``make screenshot``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from jsc_node.devtools import dev_accounts, make_genesis
from jsc_node.genesis import DEV_VALIDATOR_KEY
from jsc_node.governance.identity import AttestationFields
from jsc_node.governance.registry import REGISTRY_ADDRESS, artifact
from tests.integration.conftest import web3_for
from tests.integration.nodeproc import NodeProcess, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
WAIT_MS = 15_000

VALIDATOR = Account.from_key(DEV_VALIDATOR_KEY).address
ENTITY = "株式会社サンプル"
CANDIDATE_ENTITY = "合同会社テスト"
KEYS = [a.private_key for a in dev_accounts()[:5]]
LATE_KEY = dev_accounts()[5].private_key
LATE_ENTITY = "株式会社再接続"
MARKUP_ENTITY = '<img src=x onerror="document.title=1">北海道<b>株式会社</b>'
"""A name anyone may submit (the registry checks only its length): the page must show it as text."""
BURSTS = (2, 5, 3, 8, 1, 4)
"""Transfers sent one second apart: a few blocks with transactions for the charts."""


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (
        f"the chain page's browser test needs Chromium at {CHROMIUM} "
        "(Debian: apt-get install chromium fonts-noto-cjk; .ci/run installs it)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    _need_chromium()
    root = tmp_path_factory.mktemp("page")
    attestation = AttestationFields(
        entity_name=ENTITY,
        corporate_number="4011001098993",
        jurisdiction="JP",
        region="JP-13",
        document_hash=hashlib.sha256(b"registered matters").digest(),
    )
    doc = make_genesis([VALIDATOR], block_period_s=1, empty_block_period_s=1, attestations=[attestation])
    (root / "genesis.json").write_text(json.dumps(doc))
    (root / "key").write_text(DEV_VALIDATOR_KEY.hex())
    proc = NodeProcess(
        root / "data",
        # The RPC port serves the default ETH,NET,WEB3 only: the page's qbft_/jsc_ reads go through
        # its own port.
        http_api=None,
        ws_api=None,
        extra_args=[
            "--genesis-file",
            str(root / "genesis.json"),
            "--node-private-key-file",
            str(root / "key"),
            "--ui-port",
            str(free_port()),
        ],
    )
    proc.ui_url = f"http://127.0.0.1:{proc.extra_args[-1]}/"  # type: ignore[attr-defined]
    proc.start()
    yield proc
    proc.stop()


class Sender:
    """Signs and sends with local nonces (several transactions a block from one account)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.nonces: dict[str, int] = {}
        self.chain_id = w3.eth.chain_id

    def send(self, key: Any, **fields: Any) -> Any:
        account = Account.from_key(key)
        nonce = self.nonces.get(account.address)
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(account.address, "pending")
        self.nonces[account.address] = nonce + 1
        tx = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": 21_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            **fields,
        }
        return self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)

    def bursts(self, counts: tuple[int, ...]) -> Any:
        """``counts[i]`` transfers (from the first three KEYS, to address 0x(i+1)…) a second apart:
        blocks with transactions for the charts. Returns the last one's receipt."""
        last = None
        for i, count in enumerate(counts):
            for j in range(count):
                last = self.send(
                    KEYS[j % 3],
                    to=Web3.to_checksum_address("0x" + f"{i + 1:02x}" * 20),
                    value=10**15 * (j + 1),
                )
            time.sleep(1.0)
        return self.mined(last)

    def mined(self, tx_hash: Any) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
        assert receipt["status"] == 1
        return receipt


@pytest.fixture(scope="module")
def chain(node: NodeProcess) -> dict[str, Any]:
    """Transfers in several blocks, then a candidate's attestation submitted and approved."""
    w3 = web3_for(node.url)
    sender = Sender(w3)
    transfer = sender.bursts(BURSTS)
    registry = w3.eth.contract(address=Web3.to_checksum_address(REGISTRY_ADDRESS), abi=artifact()["abi"])
    funded = sender.send(KEYS[0], to=VALIDATOR, value=10**18)
    submit = registry.functions.submit(
        CANDIDATE_ENTITY, "7010705000725", "JP", "JP-27", hashlib.sha256(b"candidate").digest()
    )
    submitted = sender.send(
        KEYS[3], to=registry.address, data=submit._encode_transaction_data(), gas=1_000_000
    )
    markup = registry.functions.submit(
        MARKUP_ENTITY, "2120901007402", "JP", "JP-01", hashlib.sha256(b"markup").digest()
    )
    sender.send(KEYS[4], to=registry.address, data=markup._encode_transaction_data(), gas=1_000_000)
    sender.mined(funded)
    submitted_receipt = sender.mined(submitted)
    approve = registry.functions.approve(Account.from_key(KEYS[3]).address)
    approved = sender.mined(
        sender.send(
            DEV_VALIDATOR_KEY, to=registry.address, data=approve._encode_transaction_data(), gas=1_000_000
        )
    )
    return {
        "w3": w3,
        "sender": sender,
        "transfer": transfer,
        "submitted": submitted_receipt,
        "approved": approved,
    }


@pytest.fixture(scope="module")
def page(node: NodeProcess, chain: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport=VIEWPORT)
        tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        tab.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        tab.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
        tab.set_default_timeout(WAIT_MS)
        # The page's WebSockets pass through Playwright (to the node, unchanged), so that a test
        # can drop one as a restarting node would.
        sockets: list[Any] = []

        def through(socket: Any) -> None:
            socket.connect_to_server()
            sockets.append(socket)

        tab.route_web_socket(re.compile(r"/ws$"), through)
        tab.sockets = sockets
        tab.goto(node.ui_url)  # type: ignore[attr-defined]
        # Locator waits, not wait_for_function: the page's policy forbids eval, as it should.
        expect(tab.locator("#live-text")).to_have_text("live", timeout=WAIT_MS)
        tab.errors = errors
        yield tab
        browser.close()
    assert errors == [], errors


def _shown_number(page: Any, selector: str) -> int | None:
    text = page.inner_text(selector).replace(",", "")
    return int(text) if text.isdigit() else None


def test_page_loads_and_shows_the_nodes_head(node: NodeProcess, page: Any) -> None:
    # The chain moves every second: the page's head must equal eth_blockNumber between two blocks.
    deadline = time.monotonic() + 10
    seen = []
    while time.monotonic() < deadline:
        head = int(str(node.rpc("eth_blockNumber")), 16)
        shown = _shown_number(page, "#head-number")
        seen.append((shown, head))
        if shown == head:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the page's head never equalled eth_blockNumber: {seen[-5:]}")
    finalized = _shown_number(page, "#finalized-number")
    assert finalized is not None
    assert head - 1 <= finalized <= head + 1  # QBFT: the head is final
    assert page.inner_text("#chain-id") == "chain 1337"
    assert page.errors == []


def test_a_committed_transaction_adds_its_block(page: Any, chain: dict[str, Any]) -> None:
    sender = chain["sender"]
    receipt = sender.mined(sender.send(KEYS[1], to="0x" + "77" * 20, value=1))
    number = receipt["blockNumber"]
    row = page.locator(f'#blocks tr[data-number="{number}"]')
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    # Block, age, proposer, round, txs, commit seals, gas used, hash.
    assert cells[0] == f"{number:,}"
    assert ENTITY in cells[2]
    assert cells[3:6] == ["0", "1", "1 of 1"]
    assert cells[6] == "21,000"
    assert _shown_number(page, "#head-number") >= number  # type: ignore[operator]


def test_the_validator_with_its_attestation(page: Any) -> None:
    rows = page.locator("#validators tbody tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[1:5] == [ENTITY, "4011001098993", "JP", "JP-13"]
    assert cells[5].startswith("Valid")
    assert rows.first.get_attribute("data-address") == VALIDATOR
    assert page.inner_text("#validator-count") == "1"


def test_the_governance_events(page: Any, chain: dict[str, Any]) -> None:
    events = page.locator("#events tbody tr")
    texts = events.all_inner_texts()
    assert any("AttestationSubmitted" in t and CANDIDATE_ENTITY in t and "JP-27" in t for t in texts), texts
    assert any("AttestationValid" in t for t in texts), texts
    submitted = chain["submitted"]
    assert any(t.startswith(str(submitted["blockNumber"])) and "AttestationSubmitted" in t for t in texts)


def _look_up(page: Any, query: str) -> dict[str, str]:
    page.fill("#lookup-input", query)
    page.click("#lookup-button")
    page.locator("#lookup-result dl").wait_for()
    rows = page.locator("#lookup-result .kv")
    return {
        rows.nth(i).get_attribute("data-key"): rows.nth(i).locator("dd").inner_text()
        for i in range(rows.count())
    }


def test_lookup_of_a_transaction_shows_its_receipt(page: Any, chain: dict[str, Any]) -> None:
    receipt = chain["approved"]
    shown = _look_up(page, "0x" + bytes(receipt["transactionHash"]).hex())
    assert shown["status"] == "success"
    assert shown["block"] == str(receipt["blockNumber"])
    assert shown["gasUsed"] == f"{receipt['gasUsed']:,}"
    assert shown["from"] == VALIDATOR.lower()  # as the node answers it (geth: lower case)
    assert shown["to"].lower() == "0x" + REGISTRY_ADDRESS.hex()
    assert shown["logs"] == str(len(receipt["logs"]))


def test_lookup_of_an_account_and_a_block(page: Any, chain: dict[str, Any]) -> None:
    w3 = chain["w3"]
    address = Account.from_key(KEYS[3]).address
    shown = _look_up(page, address)
    assert shown["nonce"] == str(w3.eth.get_transaction_count(address))
    assert shown["codeSize"] == "0 bytes"
    assert shown["balance"].endswith(" ETH")
    registry = _look_up(page, Web3.to_checksum_address(REGISTRY_ADDRESS))
    code = w3.eth.get_code(Web3.to_checksum_address(REGISTRY_ADDRESS))
    assert registry["codeSize"] == f"{len(code):,} bytes"
    number = chain["transfer"]["blockNumber"]
    block = _look_up(page, str(number))
    assert block["number"] == str(number)
    assert block["seals"] == "1 of 1 validators"
    assert block["txs"] == str(len(w3.eth.get_block(number)["transactions"]))
    missing = "0x" + "ab" * 32
    page.fill("#lookup-input", missing)
    page.click("#lookup-button")
    page.get_by_text("No transaction or block with this hash.").wait_for()


def test_screenshot(page: Any, chain: dict[str, Any], tmp_path: Path) -> None:
    # The README's picture is made by tests/integration/chain_page_screenshot.py (make screenshot).
    _look_up(page, "0x" + bytes(chain["approved"]["transactionHash"]).hex())
    page.mouse.move(0, 0)
    path = tmp_path / "chain-page.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    assert page.errors == []


def test_reconnects_when_the_websocket_drops(page: Any, chain: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    # A registry event while the page is connected: the page reads it when it reconnects (the
    # blocks added since its last read of the events, not all of them again).
    w3 = chain["w3"]
    registry = w3.eth.contract(address=Web3.to_checksum_address(REGISTRY_ADDRESS), abi=artifact()["abi"])
    late = registry.functions.submit(
        LATE_ENTITY, "4180001054321", "JP", "JP-14", hashlib.sha256(b"late").digest()
    )
    sender = Sender(w3)
    sender.mined(
        sender.send(LATE_KEY, to=registry.address, data=late._encode_transaction_data(), gas=1_000_000)
    )
    sockets = page.sockets
    assert len(sockets) == 1
    sockets[0].close(code=1012, reason="service restart")  # as uvicorn closes it when the node stops
    expect(page.locator("#live")).to_have_attribute("data-state", "down")
    expect(page.locator("#live-text")).to_have_text("live")
    assert len(sockets) == 2  # a new connection, subscribed again
    expect(page.locator("#events tbody")).to_contain_text(LATE_ENTITY)
    receipt = sender.mined(sender.send(KEYS[2], to="0x" + "78" * 20, value=1))
    page.locator(f'#blocks tr[data-number="{receipt["blockNumber"]}"]').wait_for()
    expect(page.locator("#problem")).to_be_hidden()


def test_extra_data_decoder_agrees_with_the_nodes_codec(page: Any) -> None:
    """jsc_node/ui/rlp.js against jsc_node/chainformat.py: round, seals, vote and validators of
    extraData the node's own encoder made (a round above 0 and a vote, which the live chain lacks)."""
    from jsc_node.chainformat import QbftExtraData, Vote, encode_extra_data

    validators = tuple(bytes([i]) * 20 for i in (1, 2, 3, 4))
    cases = [
        QbftExtraData(b"\0" * 32, validators, Vote(b"\x09" * 20, True), 2, (b"\x11" * 65,) * 3),
        QbftExtraData(b"\0" * 32, validators[:1], Vote(b"\x09" * 20, False), 300, ()),
        QbftExtraData(b"\0" * 32, validators, None, 0, (b"\x22" * 65,) * 4),
    ]
    for case in cases:
        decoded = page.evaluate(
            "async (hex) => (await import('./rlp.js')).decodeQbftExtraData(hex)",
            "0x" + encode_extra_data(case).hex(),
        )
        assert decoded == {
            "validators": ["0x" + v.hex() for v in case.validators],
            "vote": None
            if case.vote is None
            else {"address": "0x" + case.vote.recipient.hex(), "add": case.vote.add},
            "round": case.round,
            "seals": len(case.seals),
        }
    assert page.evaluate("async () => (await import('./rlp.js')).decodeQbftExtraData('0x1234')") is None


def test_chain_strings_are_shown_as_text(page: Any) -> None:
    """An entity name written as HTML is shown as the characters it is: no element, no script run
    (an <img> that loaded would also have logged its failed request, failing the page's error check)."""
    events = page.locator("#events tbody")
    expect_text = events.get_by_text(MARKUP_ENTITY, exact=False)
    assert expect_text.count() >= 1
    assert events.locator("img, b").count() == 0
    assert page.title() == "jsc-node · chain"


def test_a_chain_without_the_registry_shows_the_qbft_validators(node: NodeProcess, page: Any) -> None:
    """On a chain without config.jsc (its jsc_ methods answer -32000), the page falls back to
    qbft_getValidatorsByBlockNumber and says there is no registry. Simulated in a second tab whose
    jsc_ calls get that chain's answer; everything else reaches the node."""
    from playwright.sync_api import expect

    no_registry = {"code": -32000, "message": "no validator registry in this chain's genesis (config.jsc)"}

    def without_registry(route: Any) -> None:
        calls = json.loads(route.request.post_data or "null")
        response = route.fetch()
        answers = response.json()
        if isinstance(calls, list):
            names = {call["id"]: call["method"] for call in calls}
            for answer in answers:
                if names.get(answer["id"], "").startswith("jsc_"):
                    answer.pop("result", None)
                    answer["error"] = no_registry
        route.fulfill(response=response, json=answers)

    errors: list[str] = []
    assert page.context.browser is not None
    tab = page.context.browser.new_page(viewport=VIEWPORT)
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    tab.route("**/rpc", without_registry)
    tab.goto(node.ui_url)  # type: ignore[attr-defined]
    rows = tab.locator("#validators tbody tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[1] == "no attestation"
    assert rows.first.get_attribute("data-address") == VALIDATOR
    expect(tab.locator("#events tbody")).to_have_text("This chain has no validator registry.")
    # The page polls on: let a handler in flight finish before the tab goes, or its fetched
    # response is disposed under it ("Response has been disposed", raised at teardown).
    tab.unroute_all(behavior="wait")
    tab.close()
    assert errors == []
