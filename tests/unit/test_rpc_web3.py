"""web3.py, a real client, reads our answers: block 45 of the rpc-compat chain (tx types 0-4), its
receipts, fee history, reverts with reasons. The provider posts into the ASGI app (no sockets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from jsc_node.config import RPC_APIS
from jsc_node.errors import ExecutionReverted, InvalidTransaction
from jsc_node.rpc.app import create_app
from jsc_node.views import CallRequest
from tests.unit.test_rpc_fake import AccessSettings, FakeBackend, parse_block, parse_receipt, post

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "rpc-compat"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="rpc-compat fixtures not present")

USER_ERROR = bytes.fromhex(
    "08c379a0"
    "0000000000000000000000000000000000000000000000000000000000000020"
    "000000000000000000000000000000000000000000000000000000000000000a"
    "75736572206572726f7200000000000000000000000000000000000000000000"
)


class Settings(AccessSettings):
    rpc_http_cors_origins: tuple[str, ...] = ()
    rpc_max_request_bytes = 5 << 20
    rpc_http_max_batch_size = 100
    rpc_http_api = RPC_APIS
    rpc_ws_api = RPC_APIS


class AppProvider(JSONBaseProvider):
    def __init__(self, app: Any) -> None:
        super().__init__()
        self._app = app

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self.decode_rpc_response(post(self._app, self.encode_rpc_request(method, params)).content)


def _result(path: str) -> Any:
    for line in (FIXTURES / path).read_text().splitlines():
        if line.startswith("<< "):
            return orjson.loads(line[3:])["result"]
    raise AssertionError(path)


@pytest.fixture
def backend() -> FakeBackend:
    fake = FakeBackend(chain=0xC72DD9D5E883E)
    fake.add_block(parse_block(_result("eth_getBlockByNumber/get-latest.io")))
    for receipt in _result("eth_getBlockReceipts/get-block-receipts-latest.io"):
        view = parse_receipt(receipt)
        fake.receipts[view.transaction_hash] = view
    return fake


@pytest.fixture
def w3(backend: FakeBackend) -> Web3:
    return Web3(AppProvider(create_app(backend, Settings())))


def test_chain_facts(w3: Web3) -> None:
    assert w3.is_connected()
    assert w3.eth.chain_id == 0xC72DD9D5E883E
    assert w3.eth.block_number == 45
    assert w3.eth.syncing is False
    assert w3.net.version == "3503995874084926"


def test_full_block_with_every_tx_type(w3: Web3) -> None:
    block: Any = w3.eth.get_block("latest", full_transactions=True)
    assert block["number"] == 45
    assert block["baseFeePerGas"] == 0x5763D64
    assert block["requestsHash"].hex() == "57cac3e52cdcd73e52bd9e54956e0eae370f00ed41f68edc78266bdb46c3a543"
    types = [tx["type"] for tx in block["transactions"]]
    assert 0 in types
    assert 4 in types
    setcode = next(tx for tx in block["transactions"] if tx["type"] == 4)
    assert setcode["authorizationList"][0]["address"].lower() == "0x58f8fe237b593c19546e1e758a2544561d04bfe0"
    finalized = w3.eth.get_block("finalized")
    assert finalized["hash"] == block["hash"]


def test_transaction_and_receipt(w3: Web3) -> None:
    tx_hash = HexStr("0x16f6724ad864e7664c367893cae3e176d362bea3a47495cec3b246555a7228da")
    tx = w3.eth.get_transaction(tx_hash)
    assert tx["type"] == 4
    assert tx["blockNumber"] == 45
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert receipt["gasUsed"] == 0x8FC0
    assert len(w3.eth.get_block_receipts(45)) == len(w3.eth.get_block(45)["transactions"])


def test_fee_history(w3: Web3) -> None:
    history = w3.eth.fee_history(4, "latest", [10, 90])
    assert history["oldestBlock"] == 42
    assert len(history["reward"]) == 4
    assert len(history["baseFeePerGas"]) == 5


def test_revert_reason_reaches_the_dapp(w3: Web3, backend: FakeBackend) -> None:
    def revert(request: CallRequest) -> bytes:
        raise ExecutionReverted(USER_ERROR)

    backend.call_handler = revert
    call = {"to": Web3.to_checksum_address("0x0ee3ab1371c93e7c0c281cc0c2107cdebc8b1930"), "data": "0x01"}
    with pytest.raises(ContractLogicError, match="execution reverted: user error") as caught:
        w3.eth.call(call)  # type: ignore[arg-type]
    assert caught.value.data == "0x" + USER_ERROR.hex()
    with pytest.raises(ContractLogicError, match="user error"):
        w3.eth.estimate_gas(call)  # type: ignore[arg-type]


def test_pool_refusal_reaches_the_dapp(w3: Web3, backend: FakeBackend) -> None:
    async def refuse(raw: bytes) -> bytes:
        raise InvalidTransaction("replacement transaction underpriced")

    backend.send_raw_transaction = refuse  # type: ignore[method-assign]
    with pytest.raises(Web3RPCError, match="replacement transaction underpriced"):
        w3.eth.send_raw_transaction(b"\x02\xf8")
