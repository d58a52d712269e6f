"""``appliance ceremony run/check``: the PIN comes from a pin-source file or the
prompt (never argv), ``--kms`` rehearses on another token, errors are one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from appliance.cli.main import cli
from tests.ceremony.files import Ceremonies, softhsm_hsm
from tests.conftest import SoftHSMToken


def _invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["ceremony", *args], input=input)
    return result.exit_code, result.output


@pytest.mark.hsm
def test_pin_is_prompted_when_no_pin_source(soft_ceremonies: Ceremonies, softhsm_token: SoftHSMToken) -> None:
    c = soft_ceremonies
    hsm = softhsm_hsm(softhsm_token, c.folder.parent)
    kms = hsm.kms.split("?")[0]  # no pin-source: the operator types the PIN
    document = c.key()
    document["hsm"] = {"kms": kms, "key": hsm.key("root-key")}
    path = c.write("key.yaml", document)
    code, output = _invoke("run", str(path), input=f"{softhsm_token.pin}\n")
    assert code == 0, output
    assert "PIN for pkcs11:" in output and softhsm_token.pin not in output.split("\n", 1)[1]
    assert "wrote root-key.pub.pem" in output and "transcript entry 1:" in output
    assert softhsm_token.pin not in (c.folder / "transcript.jsonl").read_text()
    assert "root-key" in "\n".join(hsm.snapshot())


@pytest.mark.hsm
def test_kms_override_rehearses_on_another_token(soft_ceremonies: Ceremonies, softhsm_token: SoftHSMToken) -> None:
    c = soft_ceremonies
    rehearsal = softhsm_hsm(softhsm_token, c.folder.parent)
    document = c.key()
    document["hsm"] = {"kms": "pkcs11:module-path=/usr/lib/x86_64-linux-gnu/pkcs11/yubihsm_pkcs11.so;token=YubiHSM"
                              "?pin-source=/run/ceremony/root.pin", "key": rehearsal.key("root-key")}
    path = c.write("key.yaml", document)
    code, output = _invoke("run", str(path), "--kms", rehearsal.kms, "--operator", "Bob Rehearsal")
    assert code == 0, output
    entry = json.loads((c.folder / "transcript.jsonl").read_text())
    assert entry["operator"] == "Bob Rehearsal" and entry["hsm"]["kms-override"] is True
    assert f"token={softhsm_token.label}" in entry["hsm"]["kms"]


def test_pin_value_on_the_command_line_is_refused(soft_ceremonies: Ceremonies) -> None:
    path = soft_ceremonies.write("key.yaml", soft_ceremonies.key())
    code, output = _invoke("run", str(path), "--kms", "pkcs11:module-path=/m.so;token=t?pin-value=123456")
    assert code == 1
    assert "--kms: 'pin-value' puts a secret in the ceremony file" in output and "123456" not in output
    assert not (soft_ceremonies.folder / "transcript.jsonl").exists()


def test_check_validates_without_changing_anything(soft_ceremonies: Ceremonies) -> None:
    c = soft_ceremonies
    path = c.write("key.yaml", c.key())
    code, output = _invoke("check", str(path))
    assert code == 0 and "valid key ceremony, ready to run" in output
    assert c.root_hsm.snapshot() == [] and not (c.folder / "root-key.pub.pem").exists()
    assert not (c.folder / "transcript.jsonl").exists()
    code, output = _invoke("run", str(path))
    assert code == 0, output
    code, output = _invoke("check", str(path))
    assert code == 1 and output.startswith("error: ") and "refusing to overwrite" in output
