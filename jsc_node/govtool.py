"""`jsc-node governance attest|approve|revoke|list`: the validator registry from an operator's desk.

Talks to any node over plain JSON-RPC (eth_call, eth_estimateGas, eth_sendRawTransaction): no
jsc_* namespace is needed. Every attestation field is checked first with governance/identity.py
(nothing is sent when one is wrong); a registry revert, at estimate time or in a mined
transaction, is put into words by governance/errors.py.
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from jsc_node.errors import JscError
from jsc_node.governance import identity
from jsc_node.governance.errors import decode_registry_error
from jsc_node.governance.registry import REGISTRY_ADDRESS, Status, jurisdiction_key

DEFAULT_RPC_URL: Final = "http://127.0.0.1:8545"
RPC_TIMEOUT_S: Final = 30.0
RECEIPT_TIMEOUT_S: Final = 60.0
RECEIPT_POLL_S: Final = 0.2
REGISTRY_HEX: Final = "0x" + REGISTRY_ADDRESS.hex()

ATTESTATION_TYPE: Final = (
    "(uint8,uint256,string,uint256,string,string,bytes32,uint256,uint256,address[],uint256,address[])"
)
"""getAttestation's return tuple (contracts/ValidatorRegistry.sol ``struct Attestation``)."""


class GovernanceError(JscError):
    """A `jsc-node governance` command could not do what was asked (the message says why)."""


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def calldata(signature: str, *args: Any) -> bytes:
    inner = signature[signature.index("(") + 1 : -1]
    types = inner.split(",") if inner else []
    return selector(signature) + abi_encode(types, list(args))


def parse_address(text: str, what: str = "address") -> bytes:
    digits = text[2:] if text[:2].lower() == "0x" else text
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise GovernanceError(f"{what} {text!r} is not a 20-byte hex address (0x and 40 hex digits)")
    return raw


def document_sha256(path: Path) -> str:
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise GovernanceError(f"cannot read document {path}: {exc.strerror or exc}") from exc
    return "0x" + digest


# --- JSON-RPC -----------------------------------------------------------------------------------


class Reverted(GovernanceError):
    def __init__(self, data: bytes, message: str) -> None:
        self.data = data
        words = decode_registry_error(data)
        super().__init__(words if words is not None else message)


class Rpc:
    """A minimal JSON-RPC client over HTTP (urllib: no extra dependency)."""

    def __init__(self, url: str, timeout_s: float = RPC_TIMEOUT_S) -> None:
        if not url.startswith(("http://", "https://")):
            raise GovernanceError(f"--rpc-url {url!r} is not an http:// or https:// URL")
        self.url = url
        self.timeout_s = timeout_s
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})
        request = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise GovernanceError(f"{self.url} answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise GovernanceError(f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}") from exc
        except ValueError as exc:
            raise GovernanceError(f"{self.url} answered with something that is not JSON") from exc
        error = answer.get("error") if isinstance(answer, dict) else None
        if error is not None:
            message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
            data = error.get("data") if isinstance(error, dict) else None
            # geth: code 3 "execution reverted" with the revert data in `data` (internal/ethapi/errors.go)
            if isinstance(data, str) and data.startswith("0x") and "revert" in message:
                raise Reverted(bytes.fromhex(data[2:]), message)
            raise GovernanceError(f"{method} failed: {message}")
        if not isinstance(answer, dict) or "result" not in answer:
            raise GovernanceError(f"{self.url}: {method} answered {str(answer)[:200]}")
        return answer["result"]

    def eth_call(self, data: bytes, block: str = "latest", sender: str | None = None) -> bytes:
        tx: dict[str, str] = {"to": REGISTRY_HEX, "data": "0x" + data.hex()}
        if sender is not None:
            tx["from"] = sender
        result = self.call("eth_call", tx, block)
        return bytes.fromhex(str(result)[2:])


def block_tag(block: str) -> str:
    """``latest``/``pending``/``earliest``/``safe``/``finalized``, a decimal or a 0x number."""
    if block in ("latest", "pending", "earliest", "safe", "finalized"):
        return block
    try:
        number = int(block, 0)
    except ValueError:
        number = -1
    if number < 0:
        raise GovernanceError(f"--block {block!r} is not a block number or tag (latest, earliest, ...)")
    return hex(number)


# --- reading the registry -----------------------------------------------------------------------


@dataclass(frozen=True)
class AttestationView:
    address: str
    status: Status
    round: int
    entity_name: str
    corporate_number: str
    jurisdiction: str
    region: str
    document_hash: str
    submitted_at: int
    approved_at: int
    approved_by: list[str]
    revoked_at: int
    revoked_by: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "status": self.status.name.capitalize(),
            "round": self.round,
            "entityName": self.entity_name,
            "corporateNumber": self.corporate_number,
            "jurisdiction": self.jurisdiction,
            "region": self.region,
            "documentHash": self.document_hash,
            "submittedAt": self.submitted_at,
            "approvedAt": self.approved_at,
            "approvedBy": self.approved_by,
            "revokedAt": self.revoked_at,
            "revokedBy": self.revoked_by,
        }


def _checksum(address: str) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


class Registry:
    """The registry contract read with eth_call at one block."""

    def __init__(self, rpc: Rpc, block: str = "latest") -> None:
        self.rpc = rpc
        self.block = block

    def _view(self, signature: str, out: list[str], *args: Any) -> tuple[Any, ...]:
        raw = self.rpc.eth_call(calldata(signature, *args), self.block)
        if not raw:
            raise GovernanceError(
                f"no validator registry at {REGISTRY_HEX} on {self.rpc.url} (block {self.block}): "
                "was the genesis written by jsc-node genesis new / devnet?"
            )
        return tuple(abi_decode(out, raw))

    def quorum(self) -> int:
        return int(self._view("quorum()", ["uint256"])[0])

    def validators(self) -> list[str]:
        return [_checksum(a) for a in self._view("validators()", ["address[]"])[0]]

    def subjects(self) -> list[str]:
        return [_checksum(a) for a in self._view("subjects()", ["address[]"])[0]]

    def jurisdiction_allowed(self, code: str) -> bool:
        key = jurisdiction_key(code)[:2]
        return bool(self._view("jurisdictionAllowed(bytes2)", ["bool"], key)[0])

    def has_voted(self, subject: str, voter: str, revoke: bool) -> bool:
        signature = "hasRevoked(address,address)" if revoke else "hasApproved(address,address)"
        return bool(self._view(signature, ["bool"], subject, voter)[0])

    def attestation(self, address: str) -> AttestationView | None:
        (a,) = self._view("getAttestation(address)", [ATTESTATION_TYPE], address)
        status = Status(a[0])
        if status is Status.NONE:
            return None
        return AttestationView(
            address=_checksum(address),
            status=status,
            round=a[1],
            entity_name=a[2],
            corporate_number=f"{a[3]:013d}",
            jurisdiction=a[4],
            region=a[5],
            document_hash="0x" + bytes(a[6]).hex(),
            submitted_at=a[7],
            approved_at=a[8],
            approved_by=[_checksum(x) for x in a[9]],
            revoked_at=a[10],
            revoked_by=[_checksum(x) for x in a[11]],
        )

    def all(self) -> list[AttestationView]:
        views = [self.attestation(s) for s in self.subjects()]
        return [v for v in views if v is not None]


# --- sending ------------------------------------------------------------------------------------


GAS_HEADROOM_PERCENT: Final = 150
GAS_HEADROOM_MIN: Final = 50_000
"""A registry transaction's gas limit: 1.5 x the estimate + 50,000 (capped at the block gas limit)."""


@dataclass(frozen=True)
class Sent:
    tx_hash: str
    block_number: int
    gas_used: int


def send(
    rpc: Rpc,
    key: bytes,
    data: bytes,
    receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
    progress: Callable[[str], None] | None = None,
) -> Sent:
    """Sign and send a registry call from ``key``'s account and wait for its receipt. A call the
    registry would refuse is refused by eth_estimateGas first (nothing sent), in words."""
    from eth_account import Account

    sender = str(Account.from_key(key).address)
    tx: dict[str, Any] = {"from": sender, "to": REGISTRY_HEX, "data": "0x" + data.hex()}
    estimate = int(rpc.call("eth_estimateGas", tx), 16)
    chain_id = int(rpc.call("eth_chainId"), 16)
    nonce = int(rpc.call("eth_getTransactionCount", sender, "pending"), 16)
    tip = int(rpc.call("eth_maxPriorityFeePerGas"), 16)
    head = rpc.call("eth_getBlockByNumber", "latest", False)
    base_fee = int(head.get("baseFeePerGas", "0x0"), 16)
    # The estimate holds at the head's state; mined after other validators' approvals of the same
    # subject (the one that reaches the quorum writes the approval record) or on a chain still at
    # its genesis, the call writes more slots than estimated. Unused gas is not charged.
    gas = min(estimate * GAS_HEADROOM_PERCENT // 100 + GAS_HEADROOM_MIN, int(head["gasLimit"], 16))
    signed = Account.sign_transaction(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "to": REGISTRY_HEX,
            "value": 0,
            "data": data,
            "gas": gas,
            "maxPriorityFeePerGas": tip,
            # geth's ethclient/bind default: twice the head's base fee plus the tip
            # (accounts/abi/bind/base.go, getGasPrice / estimateGasLimit's caller)
            "maxFeePerGas": 2 * base_fee + tip,
        },
        key,
    )
    tx_hash = str(rpc.call("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex()))
    if progress is not None:
        progress(f"sent {tx_hash} from {sender} (nonce {nonce}); waiting for its receipt")
    deadline = time.monotonic() + receipt_timeout_s
    receipt = None
    while receipt is None:
        receipt = rpc.call("eth_getTransactionReceipt", tx_hash)
        if receipt is None:
            if time.monotonic() > deadline:
                raise GovernanceError(f"{tx_hash} was sent but not mined within {receipt_timeout_s:g} s")
            time.sleep(RECEIPT_POLL_S)
    number = int(receipt["blockNumber"], 16)
    if int(receipt["status"], 16) != 1:
        if int(receipt["gasUsed"], 16) >= gas:
            raise GovernanceError(
                f"{tx_hash} ran out of gas in block {number} (gas limit {gas}, estimated {estimate}): "
                "send it again"
            )
        # Replay at the block it failed in, from its sender, to read the revert data.
        try:
            rpc.eth_call(data, hex(number - 1), sender)
        except Reverted as exc:
            raise GovernanceError(f"{tx_hash} reverted in block {number}: {exc}") from None
        raise GovernanceError(f"{tx_hash} reverted in block {number}")
    return Sent(tx_hash=tx_hash, block_number=number, gas_used=int(receipt["gasUsed"], 16))


def key_address(key: bytes) -> str:
    from eth_account import Account

    return str(Account.from_key(key).address)


# --- the commands -------------------------------------------------------------------------------


def check_attestation(
    entity: str, corporate_number: str, jurisdiction: str, region: str, document_hash: str
) -> identity.AttestationFields:
    """Every field by governance/identity.py's rules; the jurisdiction's form only (the chain's
    policy is asked by ``attest``)."""
    code = identity.validate_jurisdiction_code(jurisdiction)
    return identity.AttestationFields(
        entity_name=identity.validate_entity_name(entity),
        corporate_number=identity.validate_corporate_number(corporate_number),
        jurisdiction=code,
        region=identity.validate_region(region, code),
        document_hash=identity.validate_document_hash(document_hash),
    )


def attest(
    rpc: Rpc,
    key: bytes,
    fields: identity.AttestationFields,
    receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
    progress: Callable[[str], None] | None = None,
) -> tuple[Sent, AttestationView]:
    registry = Registry(rpc)
    if not registry.jurisdiction_allowed(fields.jurisdiction):
        raise GovernanceError(
            f"jurisdiction: {fields.jurisdiction!r} is not allowed by this chain's policy "
            f"(the registry at {REGISTRY_HEX} does not list it)"
        )
    data = calldata(
        "submit(string,string,string,string,bytes32)",
        fields.entity_name,
        fields.corporate_number,
        fields.jurisdiction,
        fields.region,
        fields.document_hash,
    )
    sent = send(rpc, key, data, receipt_timeout_s, progress)
    view = registry.attestation(key_address(key))
    assert view is not None  # a mined submit leaves a Pending attestation
    return sent, view


@dataclass(frozen=True)
class VoteOutcome:
    sent: Sent
    subject: str
    votes: int
    quorum: int
    attestation: AttestationView

    def summary(self, revoke: bool) -> str:
        status = self.attestation.status
        if revoke:
            if status is Status.REVOKED:
                return f"{self.subject}: revoked at block {self.attestation.revoked_at}"
            return (
                f"{self.subject}: missing quorum: {self.votes} of {self.quorum} revocation votes; "
                f"revoked at {self.quorum}"
            )
        if status is Status.VALID:
            return f"{self.subject}: valid since block {self.attestation.approved_at}"
        return (
            f"{self.subject}: missing quorum: {self.votes} of {self.quorum} approvals; valid at {self.quorum}"
        )


def vote(
    rpc: Rpc,
    key: bytes,
    subject_text: str,
    revoke: bool,
    receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
    progress: Callable[[str], None] | None = None,
) -> VoteOutcome:
    subject = _checksum("0x" + parse_address(subject_text).hex())
    data = calldata("revoke(address)" if revoke else "approve(address)", subject)
    sent = send(rpc, key, data, receipt_timeout_s, progress)
    registry = Registry(rpc, hex(sent.block_number))
    view = registry.attestation(subject)
    assert view is not None  # approve/revoke revert on an address without an attestation
    votes = sum(registry.has_voted(subject, v, revoke) for v in registry.validators())
    return VoteOutcome(sent=sent, subject=subject, votes=votes, quorum=registry.quorum(), attestation=view)


def table(views: list[AttestationView]) -> str:
    header = ("ADDRESS", "STATUS", "ENTITY", "CORPORATE NO.", "JUR", "REGION", "APPROVED AT", "APPROVED BY")
    rows = [header]
    for v in views:
        rows.append(
            (
                v.address,
                v.status.name.capitalize(),
                v.entity_name,
                v.corporate_number,
                v.jurisdiction,
                v.region,
                _approved_at(v),
                ",".join(v.approved_by)
                or ("genesis" if v.approved_at == 0 and _approved_at(v) != "-" else "-"),
            )
        )
    widths = [max(_width(r[i]) for r in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(r[:-1], widths, strict=True))
        + "  "
        + r[-1]
        for r in rows
    )


def _approved_at(v: AttestationView) -> str:
    """Block of the approving quorum; ``genesis`` for an attestation written into the genesis."""
    if v.status is Status.PENDING:
        return "-"
    return "genesis" if v.approved_at == 0 else str(v.approved_at)


def _width(text: str) -> int:
    """Terminal columns: East Asian wide and fullwidth characters (株式会社) take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def load_key(
    key_file: Path | None,
    keystore: Path | None,
    sender: str | None,
    password: Callable[[], str],
) -> bytes:
    """The signing key: a hex key file, or a keystore file, or the entry of a keystore directory
    (``sender`` picks it when the directory holds more than one); ``password`` is asked only for
    an encrypted keystore."""
    from jsc_node.accounts import PLAINTEXT_SUFFIX, list_accounts, read_private_key_file, unlock

    if (key_file is None) == (keystore is None):
        raise GovernanceError("give exactly one of --key-file (hex key) or --keystore (file or directory)")
    if key_file is not None:
        key = read_private_key_file(key_file)
    else:
        assert keystore is not None
        path = keystore
        if keystore.is_dir():
            entries = list_accounts(keystore)
            if sender is not None:
                want = parse_address(sender, "--from")
                entries = [e for e in entries if bytes.fromhex(e.address[2:]) == want]
            if len(entries) != 1:
                which = f" for --from {sender}" if sender is not None else " (pick one with --from)"
                raise GovernanceError(f"keystore {keystore} holds {len(entries)} matching accounts{which}")
            path = entries[0].path
        elif not keystore.exists():
            raise GovernanceError(f"keystore {keystore} does not exist")
        key = unlock(path, None if path.name.endswith(PLAINTEXT_SUFFIX) else password())
    if sender is not None and parse_address(sender, "--from") != bytes.fromhex(key_address(key)[2:]):
        raise GovernanceError(f"the key is for {key_address(key)}, not --from {sender}")
    return key
