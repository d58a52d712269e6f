"""``appliance crypto change-pass``: the key is re-encrypted (PKCS#8, AES-256) in
place, readable by openssl with the new password only."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.kms.softkms import encrypted_pem
from tests.cli.conftest import Client


def _secret(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    return path


def test_change_pass(client: Client, tmp_path: Path, openssl: Callable[..., Any]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(encrypted_pem(key, b"old password"))
    key_file.chmod(0o644)
    old, new = _secret(tmp_path / "old", "old password"), _secret(tmp_path / "new", "new password")
    client.ok("crypto", "change-pass", key_file, "--password-file", old, "--new-password-file", new)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    text = openssl("pkey", "-in", key_file, "-passin", f"file:{new}", "-noout", "-text").stdout
    assert "NIST CURVE: P-256" in text
    reloaded = serialization.load_pem_private_key(key_file.read_bytes(), b"new password")
    assert reloaded.public_key() == key.public_key()
    before = key_file.read_bytes()
    assert "wrong password" in client.fails("crypto", "change-pass", key_file, "--password-file", old,
                                            "--new-password-file", new)
    assert key_file.read_bytes() == before


def test_change_pass_encrypts_a_plain_key(client: Client, tmp_path: Path) -> None:
    key_file = tmp_path / "plain.pem"
    key_file.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    new = _secret(tmp_path / "new", "new password")
    client.ok("crypto", "change-pass", key_file, "--new-password-file", new)
    serialization.load_pem_private_key(key_file.read_bytes(), b"new password")


def test_change_pass_prompts_and_refuses_an_empty_password(client: Client, tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(encrypted_pem(ec.generate_private_key(ec.SECP256R1()), b"old password"))
    result = client.run("crypto", "change-pass", key_file, input="old password\nnewer\nnewer\n")
    assert result.exit_code == 0, result.output
    serialization.load_pem_private_key(key_file.read_bytes(), b"newer")
    empty = _secret(tmp_path / "empty", "")
    assert "empty" in client.fails("crypto", "change-pass", key_file, "--password-file",
                                   _secret(tmp_path / "cur", "newer"), "--new-password-file", empty)
