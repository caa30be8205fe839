"""`jsc-node account new/list/import`: encrypted V3 keystores, through the real command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from jsc_node.accounts import KeystoreError, keystore_file_name, list_accounts, read_private_key_file, unlock

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
# anvil/Hardhat dev account #0: a well-known key, safe to have in a test.
DEV_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def run_cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JSC_")}
    return subprocess.run(
        [sys.executable, "-m", "jsc_node.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=120,
        check=False,
        # No controlling terminal: the hidden password prompt reads stdin instead of /dev/tty.
        start_new_session=True,
    )


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text(PASSWORD + "\nsecond line is ignored\n")
    return path


def _only_file(directory: Path) -> Path:
    files = list(directory.iterdir())
    assert len(files) == 1, files
    return files[0]


def test_new_writes_an_encrypted_keystore(tmp_path: Path, password_file: Path) -> None:
    keystore = tmp_path / "ks"
    result = run_cli("account", "new", "--keystore", str(keystore), "--password-file", str(password_file))
    assert result.returncode == 0, result.stderr
    path = _only_file(keystore)
    document = json.loads(path.read_text())
    address = Account.from_key(Account.decrypt(document, PASSWORD)).address
    assert f"Public address of the key:   {address}" in result.stdout
    assert path.name.startswith("UTC--")
    assert path.name.endswith("--" + address.lower()[2:])
    assert document["version"] == 3
    # Without --lightkdf: the standard scrypt cost, as geth and eth_account write it.
    assert document["crypto"]["kdf"] == "scrypt"
    assert document["crypto"]["kdfparams"]["n"] == 262144
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o700


def test_import_encrypts_the_same_key_and_stores_no_plaintext(tmp_path: Path, password_file: Path) -> None:
    keyfile = tmp_path / "key.hex"
    keyfile.write_text("0x" + DEV_KEY + "\n")
    keystore = tmp_path / "ks"
    result = run_cli(
        "account",
        "import",
        str(keyfile),
        "--keystore",
        str(keystore),
        "--password-file",
        str(password_file),
        "--lightkdf",
    )
    assert result.returncode == 0, result.stderr
    assert DEV_ADDRESS in result.stdout
    path = _only_file(keystore)
    text = path.read_text()
    assert DEV_KEY not in text.lower()
    assert Account.decrypt(json.loads(text), PASSWORD).hex().removeprefix("0x") == DEV_KEY
    assert unlock(path, PASSWORD).hex() == DEV_KEY
    with pytest.raises(KeystoreError, match="cannot decrypt"):
        unlock(path, "wrong password")

    again = run_cli(
        "account",
        "import",
        str(keyfile),
        "--keystore",
        str(keystore),
        "--password-file",
        str(password_file),
        "--lightkdf",
    )
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: account {DEV_ADDRESS} already exists in {keystore}"


def test_list_shows_accounts_oldest_first(tmp_path: Path, password_file: Path) -> None:
    keystore = tmp_path / "ks"
    keyfile = tmp_path / "key.hex"
    keyfile.write_text(DEV_KEY)
    common = ("--keystore", str(keystore), "--password-file", str(password_file), "--lightkdf")
    assert run_cli("account", "import", str(keyfile), *common).returncode == 0
    assert run_cli("account", "new", *common).returncode == 0
    (keystore / "notes.txt").write_text("not a key")  # skipped, as geth does

    result = run_cli("account", "list", "--keystore", str(keystore))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"Account #0: {DEV_ADDRESS} {keystore}/UTC--")
    assert lines[1].startswith("Account #1: 0x")
    assert next(e.address for e in list_accounts(keystore)) == DEV_ADDRESS


def test_list_of_an_empty_or_missing_keystore_prints_nothing(tmp_path: Path) -> None:
    result = run_cli("account", "list", "--keystore", str(tmp_path / "none"))
    assert (result.returncode, result.stdout) == (0, "")


def test_default_keystore_is_under_the_data_path(tmp_path: Path, password_file: Path) -> None:
    data = tmp_path / "data"
    result = run_cli(
        "account", "new", "--data-path", str(data), "--password-file", str(password_file), "--lightkdf"
    )
    assert result.returncode == 0, result.stderr
    assert _only_file(data / "keystore").name.startswith("UTC--")
    # JSC_DATA_PATH is honoured as by `run`.
    listed = run_cli("account", "list", env={"JSC_DATA_PATH": str(data)})
    assert listed.stdout.startswith("Account #0: 0x")


def test_password_is_prompted_twice(tmp_path: Path) -> None:
    keystore = tmp_path / "ks"
    result = run_cli(
        "account", "new", "--keystore", str(keystore), "--lightkdf", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.returncode == 0, result.stderr
    assert "Repeat password" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    unlock(_only_file(keystore), PASSWORD)


def test_mismatched_prompted_passwords_write_nothing(tmp_path: Path) -> None:
    keystore = tmp_path / "ks"
    result = run_cli("account", "new", "--keystore", str(keystore), "--lightkdf", stdin="one\ntwo\n")
    assert result.returncode == 1
    assert "do not match" in result.stderr
    assert not keystore.exists()


def test_plaintext_only_when_asked(tmp_path: Path) -> None:
    keystore = tmp_path / "ks"
    result = run_cli("account", "new", "--keystore", str(keystore), "--insecure-plaintext")
    assert result.returncode == 0, result.stderr
    assert "UNENCRYPTED" in result.stderr
    path = _only_file(keystore)
    assert path.name.endswith(".key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = read_private_key_file(path)
    assert Account.from_key(key).address in result.stdout
    assert "(UNENCRYPTED)" in run_cli("account", "list", "--keystore", str(keystore)).stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("0x1234", "holds 2 bytes, expected 32"),
        ("not a key", "is not hex"),
        ("00" * 32, "not a valid secp256k1 private key"),
    ],
)
def test_import_rejects_bad_key_files(
    tmp_path: Path, password_file: Path, content: str, message: str
) -> None:
    keyfile = tmp_path / "key.hex"
    keyfile.write_text(content)
    result = run_cli(
        "account",
        "import",
        str(keyfile),
        "--keystore",
        str(tmp_path / "ks"),
        "--password-file",
        str(password_file),
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ks").exists()


def test_missing_key_and_password_files(tmp_path: Path, password_file: Path) -> None:
    missing = tmp_path / "missing"
    result = run_cli("account", "import", str(missing), "--keystore", str(tmp_path / "ks"))
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"error: cannot read key file {missing}: No such file or directory",
    )
    result = run_cli("account", "new", "--keystore", str(tmp_path / "ks"), "--password-file", str(missing))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot read password file {missing}")


def test_keystore_file_name_matches_geth() -> None:
    from datetime import UTC, datetime

    moment = datetime(2016, 3, 22, 12, 57, 55, 920751, tzinfo=UTC)
    assert keystore_file_name(DEV_ADDRESS, moment) == (
        "UTC--2016-03-22T12-57-55.920751000Z--f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    )
