"""Account keystores: Web3 Secret Storage (V3) files, named and laid out as geth does.

A keystore is a directory of ``UTC--<ISO time>--<address>`` JSON files, each one key encrypted with a
password (scrypt + AES-128-CTR, via eth_account). Plaintext keys are written only when the caller
asks for them by name (``insecure_plaintext=True``), as ``...--<address>.key`` files with mode 0600.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address

from jsc_node.errors import KeystoreError

PRIVATE_KEY_BYTES = 32
# scrypt N for --lightkdf, as geth's (4096 instead of the standard 2^18: ~100x faster, ~100x weaker).
LIGHT_SCRYPT_N = 4096
PLAINTEXT_SUFFIX = ".key"


@dataclass(frozen=True)
class KeystoreEntry:
    address: str
    """EIP-55 checksummed address."""
    path: Path
    """The file holding the key."""
    encrypted: bool
    """False only for files written with insecure_plaintext."""


def default_keystore_dir(data_path: Path) -> Path:
    return data_path / "keystore"


def keystore_file_name(address: str, now: datetime | None = None) -> str:
    """geth's name: ``UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8``
    (colons are not allowed in file names everywhere, hence the dashes; Python has microseconds)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H-%M-%S.%f") + "000Z"
    return f"UTC--{stamp}--{address.lower().removeprefix('0x')}"


def new_account(
    keystore: Path, password: str | None, *, light_kdf: bool = False, insecure_plaintext: bool = False
) -> KeystoreEntry:
    return save_key(
        keystore,
        bytes(Account.create().key),
        password,
        light_kdf=light_kdf,
        insecure_plaintext=insecure_plaintext,
    )


def save_key(
    keystore: Path,
    private_key: bytes,
    password: str | None,
    *,
    light_kdf: bool = False,
    insecure_plaintext: bool = False,
) -> KeystoreEntry:
    """Write one key into ``keystore`` (created with mode 0700 if missing). Encrypted with ``password``
    unless ``insecure_plaintext``; refuses a key whose address is already in the keystore."""
    address = str(Account.from_key(private_key).address)
    if any(entry.address == address for entry in list_accounts(keystore)):
        raise KeystoreError(f"account {address} already exists in {keystore}")
    keystore.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = keystore_file_name(address)
    if insecure_plaintext:
        path = keystore / (name + PLAINTEXT_SUFFIX)
        write_secret(path, "0x" + private_key.hex() + "\n")
        return KeystoreEntry(address=address, path=path, encrypted=False)
    if password is None:
        raise KeystoreError("a password is required to encrypt the key")
    document = Account.encrypt(private_key, password, iterations=LIGHT_SCRYPT_N if light_kdf else None)
    path = keystore / name
    write_secret(path, json.dumps(document))
    return KeystoreEntry(address=address, path=path, encrypted=True)


def list_accounts(keystore: Path) -> list[KeystoreEntry]:
    """Every key file in ``keystore``, oldest first (the names start with their creation time).
    Files that are not keystore or plaintext key files are skipped, as geth does."""
    if not keystore.is_dir():
        return []
    entries = []
    for path in sorted(keystore.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        entry = _read_entry(path)
        if entry is not None:
            entries.append(entry)
    return entries


def unlock(path: Path, password: str | None) -> bytes:
    """The private key held by a keystore file (or a plaintext key file)."""
    if path.name.endswith(PLAINTEXT_SUFFIX):
        return read_private_key_file(path)
    document = _read_json(path)
    if password is None:
        raise KeystoreError(f"{path} is encrypted: a password is required")
    try:
        return bytes(Account.decrypt(document, password))
    except ValueError as exc:
        raise KeystoreError(f"cannot decrypt {path}: {exc}") from exc


def read_private_key_file(path: Path) -> bytes:
    """A secp256k1 key written as hex (0x optional, surrounding whitespace ignored), as geth's
    ``account import`` and Besu's key files use."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeystoreError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise KeystoreError(f"key file {path} is not hex text") from exc
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    try:
        key = bytes.fromhex(digits)
    except ValueError as exc:
        raise KeystoreError(f"key file {path} is not hex") from exc
    if len(key) != PRIVATE_KEY_BYTES:
        raise KeystoreError(f"key file {path} holds {len(key)} bytes, expected {PRIVATE_KEY_BYTES}")
    try:
        Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise KeystoreError(f"key file {path} is not a valid secp256k1 private key") from exc
    return key


def read_password_file(path: Path) -> str:
    """The first line of ``path`` without its line ending (geth's --password)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeystoreError(f"cannot read password file {path}: {exc.strerror or exc}") from exc
    lines = text.splitlines()
    return lines[0] if lines else ""


def _read_entry(path: Path) -> KeystoreEntry | None:
    if path.name.endswith(PLAINTEXT_SUFFIX):
        try:
            key = read_private_key_file(path)
        except KeystoreError:
            return None
        return KeystoreEntry(address=str(Account.from_key(key).address), path=path, encrypted=False)
    try:
        document = _read_json(path)
    except KeystoreError:
        return None
    address = document.get("address")
    if not isinstance(address, str) or ("crypto" not in document and "Crypto" not in document):
        return None
    try:
        checksummed = str(to_checksum_address("0x" + address.lower().removeprefix("0x")))
    except ValueError:
        return None
    return KeystoreEntry(address=checksummed, path=path, encrypted=True)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise KeystoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"{path} is not a JSON keystore file") from exc
    if not isinstance(document, dict):
        raise KeystoreError(f"{path} is not a JSON keystore file")
    return document


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` with ``text``, mode 0600 from the start, never replacing an existing file.

    Written to a temporary name, flushed to disk, then hard-linked into place: a crash leaves either
    no file or the whole file, never a truncated key (geth writes keystores the same way).
    """
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            raise KeystoreError(f"{path} already exists; not overwriting it") from exc
    finally:
        tmp.unlink(missing_ok=True)
