"""``--password-file`` given while the intermediate key on disk is not encrypted:
the CA starts, as step-ca does (the password is simply not needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from appliance.kms.errors import KmsAuthenticationFailed
from appliance.server.runtime import load_runtime
from tests.ca_fixtures import PASSWORD, build_ca


def test_a_password_for_a_key_in_the_clear_is_accepted(tmp_path: Path) -> None:
    ca = build_ca(tmp_path)
    key_file = tmp_path / "secrets" / "intermediate_ca_key"
    key_file.write_bytes(ca.intermediate_key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    runtime = load_runtime(ca.config_path, PASSWORD)
    try:
        assert runtime.authority.intermediates() == [ca.intermediate]
    finally:
        runtime.close()


def test_an_encrypted_key_still_needs_the_right_password(tmp_path: Path) -> None:
    ca = build_ca(tmp_path)
    with pytest.raises(KmsAuthenticationFailed, match="wrong password"):
        load_runtime(ca.config_path, b"not-the-password")
    with pytest.raises(KmsAuthenticationFailed, match="password is required"):
        load_runtime(ca.config_path, None)
