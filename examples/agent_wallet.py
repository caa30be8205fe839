"""An AI-agent wallet on jsc-node, end to end, with web3.py (README, "Agent wallets").

The owner's account (an ordinary EOA) delegates to the AgentPolicy contract with EIP-7702, so the
policy's code runs as the owner's account, with the owner's balance. In the same type-4 transaction
the owner sets the policy: which agent key may spend, how much ether and how much of one ERC-20
token a day, which contracts it may call, until when. The agent then spends within those limits,
is refused beyond them with a clear reason, and is refused altogether once the owner revokes it.

    make run                                       # the dev chain, in another terminal
    .venv/bin/python examples/agent_wallet.py      # [--rpc URL] [--owner-key KEY]

The default owner key is dev account 0 of `make run` (a public, insecure key). The agent is a new
key made for each run. Every send lets the client ask the node for the gas (eth_estimateGas), as a
wallet does; a spend the policy refuses is refused at that step, with the contract's reason.

The functions below are the steps; tests/integration/test_agent_wallet.py runs them one by one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.middleware import ExtraDataToPOAMiddleware, SignAndSendRawMiddlewareBuilder
from web3.types import TxReceipt

DEFAULT_RPC = "http://127.0.0.1:8545"
# Dev account 0 of `make run` (jsc_node/devtools.py, the `test test ... junk` mnemonic): public.
DEV_OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
BUILD_DIR = Path(__file__).resolve().parent.parent / "contracts" / "build"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
# EIP-7702: the code of a delegated account is this prefix and the delegate's address.
DELEGATION_PREFIX = bytes.fromhex("ef0100")

ETHER = 10**18
TOKEN = 10**18  # the example token has 18 decimals
TOKEN_SUPPLY = 1_000_000 * TOKEN
ETHER_PER_DAY = ETHER  # 1 ETH a day
TOKEN_PER_DAY = 100 * TOKEN  # 100 JTT a day
AGENT_GAS_MONEY = ETHER // 10  # what the owner gives the agent to pay its own gas
POLICY_LIFETIME_S = 7 * 86_400
RECEIPT_TIMEOUT_S = 60


class Refused(Exception):
    """The node refused a transaction before it was sent: the contract reverted with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@cache
def artifact(name: str) -> dict[str, Any]:
    """A compiled contract of `make contracts`: contracts/build/examples/<name>.json, else
    contracts/build/<name>.json."""
    for path in (BUILD_DIR / "examples" / f"{name}.json", BUILD_DIR / f"{name}.json"):
        if path.exists():
            loaded: dict[str, Any] = json.loads(path.read_text())
            return loaded
    raise FileNotFoundError(f"no build of {name} in {BUILD_DIR}: run `make contracts`")


def connect(rpc_url: str = DEFAULT_RPC) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    # QBFT's extraData is longer than 32 bytes, as on every proof-of-authority chain.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def use_keys(w3: Web3, *accounts: LocalAccount) -> None:
    """Lets ``w3.eth.send_transaction`` and ``contract.functions.f(...).transact`` sign for these
    accounts locally (web3.py's signing middleware). It fills in what a wallet fills in: the nonce,
    the fees, and the gas from eth_estimateGas."""
    w3.middleware_onion.inject(
        SignAndSendRawMiddlewareBuilder.build(list(accounts)),
        name=f"keys-{len(w3.middleware_onion)}",
        layer=0,
    )


def send(w3: Web3, tx: dict[str, Any]) -> TxReceipt:
    """Sends ``tx`` (its ``from`` signed for by :func:`use_keys`) and waits for its receipt. A
    transaction the contract would revert is refused at the gas estimate: :class:`Refused`."""
    try:
        tx_hash = w3.eth.send_transaction(tx)  # type: ignore[arg-type]
    except ContractLogicError as exc:
        raise Refused(revert_reason(exc)) from exc
    return wait(w3, tx_hash)


def transact(w3: Web3, sender: LocalAccount, call: Any, value: int = 0, **extra: Any) -> TxReceipt:
    """Sends a contract call (``contract.functions.f(...)``, or a constructor) from ``sender``;
    a revert at the gas estimate is :class:`Refused`."""
    try:
        tx_hash = call.transact({"from": sender.address, "value": value, **extra})
    except ContractLogicError as exc:
        raise Refused(revert_reason(exc)) from exc
    return wait(w3, tx_hash)


def wait(w3: Web3, tx_hash: Any) -> TxReceipt:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.1)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction 0x{bytes(tx_hash).hex()} failed in block {receipt['blockNumber']}")
    return receipt


def revert_reason(exc: ContractLogicError) -> str:
    """The contract's own words: web3.py's message without its "execution reverted: " prefix."""
    return str(exc.message or exc).removeprefix("execution reverted: ")


def deploy(w3: Web3, account: LocalAccount, name: str, *args: Any) -> Contract:
    built = artifact(name)
    factory = w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
    receipt = transact(w3, account, factory.constructor(*args))
    address = receipt["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=built["abi"])


def policy_at(w3: Web3, owner: str) -> Contract:
    """The owner's account seen through AgentPolicy's ABI: after the delegation its code is the
    policy's, so the agent and the owner call the owner's own address."""
    return w3.eth.contract(address=Web3.to_checksum_address(owner), abi=artifact("AgentPolicy")["abi"])


def delegated_to(w3: Web3, account: str) -> str | None:
    """The contract ``account`` delegates to (EIP-7702), or None when it has no delegation."""
    code = bytes(w3.eth.get_code(Web3.to_checksum_address(account)))
    if len(code) == 23 and code.startswith(DELEGATION_PREFIX):
        return Web3.to_checksum_address(code[3:])
    return None


def delegate_and_set_policy(
    w3: Web3,
    owner: LocalAccount,
    policy_code: str,
    agent: str,
    ether_per_day: int,
    token: str,
    token_per_day: int,
    targets: list[str],
    expiry: int,
) -> TxReceipt:
    """One type-4 transaction the owner sends to itself: its EIP-7702 authorization delegates the
    owner's account to ``policy_code``, and its call data is ``setPolicy``, which runs as the
    owner's account (``msg.sender == address(this)``, the owner-only check)."""
    nonce = w3.eth.get_transaction_count(owner.address, "pending")
    # The sender's nonce goes up before the authorizations are processed, so an authorization
    # signed by the sender itself carries the transaction's nonce + 1 (EIP-7702).
    authorization = Account.sign_authorization(
        {"chainId": w3.eth.chain_id, "address": policy_code, "nonce": nonce + 1}, owner.key
    )
    call = policy_at(w3, owner.address).functions.setPolicy(
        agent, ether_per_day, token, token_per_day, targets, expiry
    )
    return transact(w3, owner, call, nonce=nonce, authorizationList=[authorization])


def undelegate(w3: Web3, owner: LocalAccount) -> TxReceipt:
    """A type-4 transaction whose authorization names address 0: the account's code is removed
    (EIP-7702), and with it every policy function. Its storage stays."""
    nonce = w3.eth.get_transaction_count(owner.address, "pending")
    authorization = Account.sign_authorization(
        {"chainId": w3.eth.chain_id, "address": ZERO_ADDRESS, "nonce": nonce + 1}, owner.key
    )
    return send(
        w3, {"from": owner.address, "to": owner.address, "nonce": nonce, "authorizationList": [authorization]}
    )


def revoke(w3: Web3, owner: LocalAccount) -> TxReceipt:
    return transact(w3, owner, policy_at(w3, owner.address).functions.revoke())


def agent_pay(w3: Web3, agent: LocalAccount, owner: str, to: str, amount: int) -> TxReceipt:
    """The agent sends ``amount`` wei of the owner's ether to ``to``."""
    return transact(w3, agent, policy_at(w3, owner).functions.pay(to, amount))


def agent_pay_token(w3: Web3, agent: LocalAccount, owner: str, to: str, amount: int) -> TxReceipt:
    """The agent sends ``amount`` of the policy's token from the owner's account to ``to``."""
    return transact(w3, agent, policy_at(w3, owner).functions.payToken(to, amount))


def agent_call(
    w3: Web3, agent: LocalAccount, owner: str, target: str, value: int, data: bytes | str
) -> TxReceipt:
    """The agent calls ``target`` from the owner's account with ``value`` wei and ``data``."""
    return transact(w3, agent, policy_at(w3, owner).functions.callTarget(target, value, data))


def refusal(step: Callable[[], object]) -> str:
    """Runs a step that the policy should refuse; returns the reason. Raises if it went through."""
    try:
        step()
    except Refused as refused:
        return refused.reason
    raise AssertionError("the policy let it through")


def ether(wei: int) -> str:
    return f"{(Decimal(wei) / ETHER).normalize():f} ETH"


def tokens(units: int) -> str:
    return f"{units / TOKEN:g} JTT"


@dataclass
class Setup:
    """What the walkthrough deploys and the keys it uses."""

    owner: LocalAccount
    agent: LocalAccount
    token: Contract
    policy_code: Contract
    merchant: Contract


def deploy_all(w3: Web3, owner: LocalAccount) -> tuple[Contract, Contract, Contract]:
    """The token (its whole supply minted to the owner), the policy code, and a merchant to buy from."""
    token = deploy(w3, owner, "ERC20Token", TOKEN_SUPPLY)
    policy_code = deploy(w3, owner, "AgentPolicy")
    merchant = deploy(w3, owner, "Merchant")
    return token, policy_code, merchant


def walkthrough(w3: Web3, owner_key: str, say: Callable[[str], None] = print) -> Setup:
    owner: LocalAccount = Account.from_key(owner_key)
    agent: LocalAccount = Account.create()
    shop: ChecksumAddress = Account.create().address
    use_keys(w3, owner, agent)
    say(f"chain {w3.eth.chain_id}, block {w3.eth.block_number}")
    say(f"owner  {owner.address}  {ether(w3.eth.get_balance(owner.address))}")
    say(f"agent  {agent.address}  (a new key for this run)")

    token, policy_code, merchant = deploy_all(w3, owner)
    say(f"deployed the token JTT at {token.address}, AgentPolicy at {policy_code.address}")
    say(f"deployed a Merchant (the allowlisted target) at {merchant.address}")
    send(w3, {"from": owner.address, "to": agent.address, "value": AGENT_GAS_MONEY})
    say(f"owner gave the agent {ether(AGENT_GAS_MONEY)} for its gas")

    expiry = int(time.time()) + POLICY_LIFETIME_S
    receipt = delegate_and_set_policy(
        w3,
        owner,
        policy_code.address,
        agent.address,
        ETHER_PER_DAY,
        token.address,
        TOKEN_PER_DAY,
        [merchant.address],
        expiry,
    )
    until = datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%d %H:%M UTC")
    say(
        f"owner delegated to AgentPolicy and set the policy in one type-4 transaction "
        f"(block {receipt['blockNumber']}, gas {receipt['gasUsed']:,})"
    )
    say(f"  the owner's code is now 0xef0100 + {delegated_to(w3, owner.address)}")
    say(
        f"  policy: agent {agent.address}, {ether(ETHER_PER_DAY)} and {tokens(TOKEN_PER_DAY)} a day, "
        f"may call {merchant.address}, until {until}"
    )
    policy = policy_at(w3, owner.address)

    before = w3.eth.get_balance(shop)
    receipt = agent_pay(w3, agent, owner.address, shop, ETHER // 4)
    (paid,) = policy.events.EtherPaid().process_receipt(receipt, errors=DISCARD)
    say(
        f"agent paid {ether(paid.args.amount)} to {shop}: EtherPaid event, "
        f"{ether(paid.args.spentToday)} spent today; the shop's balance went up by "
        f"{ether(w3.eth.get_balance(shop) - before)}"
    )

    receipt = agent_pay_token(w3, agent, owner.address, shop, 40 * TOKEN)
    (paid,) = policy.events.TokenPaid().process_receipt(receipt, errors=DISCARD)
    say(
        f"agent paid {tokens(paid.args.amount)} to {shop}: TokenPaid event, "
        f"{tokens(paid.args.spentToday)} spent today; the shop holds {tokens(token.functions.balanceOf(shop).call())}"
    )

    data = merchant.encode_abi("buy", ["coffee beans"])
    receipt = agent_call(w3, agent, owner.address, merchant.address, ETHER // 2, data)
    (called,) = policy.events.TargetCalled().process_receipt(receipt, errors=DISCARD)
    (purchase,) = merchant.events.Purchase().process_receipt(receipt, errors=DISCARD)
    say(
        f"agent bought {purchase.args.item!r} from the Merchant for {ether(purchase.args.price)} "
        f"(buyer: the owner's account {purchase.args.buyer}); {ether(called.args.spentToday)} spent today"
    )

    ether_left, tokens_left = policy.functions.remainingToday().call()
    say(f"left today: {ether(ether_left)}, {tokens(tokens_left)}")
    reason = refusal(lambda: agent_pay(w3, agent, owner.address, shop, ETHER // 2))
    say(f"agent tried to pay {ether(ETHER // 2)}: refused, {reason!r} (nothing was sent)")
    reason = refusal(lambda: agent_pay_token(w3, agent, owner.address, shop, 70 * TOKEN))
    say(f"agent tried to pay {tokens(70 * TOKEN)}: refused, {reason!r}")
    # The token contract is not on the allowlist: the agent cannot move the token around its limit.
    data = token.encode_abi("transfer", [shop, 1_000 * TOKEN])
    reason = refusal(lambda: agent_call(w3, agent, owner.address, token.address, 0, data))
    say(f"agent tried to call the token contract directly (not on the allowlist): refused, {reason!r}")

    receipt = revoke(w3, owner)
    say(f"owner revoked the agent in block {receipt['blockNumber']}")
    reason = refusal(lambda: agent_pay(w3, agent, owner.address, shop, ETHER // 100))
    say(f"agent tried to pay {ether(ETHER // 100)}: refused, {reason!r}")

    receipt = undelegate(w3, owner)
    code = bytes(w3.eth.get_code(owner.address))
    say(
        f"owner removed the delegation (an authorization for address 0, block {receipt['blockNumber']}): "
        f"the owner's code is {'0x' + code.hex()}, an ordinary account again"
    )
    return Setup(owner, agent, token, policy_code, merchant)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rpc", default=DEFAULT_RPC, help=f"JSON-RPC URL (default {DEFAULT_RPC})")
    parser.add_argument(
        "--owner-key", default=DEV_OWNER_KEY, help="the owner's private key (default: dev account 0)"
    )
    args = parser.parse_args(argv)
    w3 = connect(args.rpc)
    if not w3.is_connected():
        print(f"error: no node at {args.rpc} (start one with `make run`)", file=sys.stderr)
        return 1
    walkthrough(w3, args.owner_key)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
