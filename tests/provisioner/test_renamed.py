"""Our old names of step-ca's provisioner members (top-level ``webhooks``, SCEP's
``decrypterKeyURI``): read, refused together with step-ca's name, moved by writers, and
converted to linkedca's messages as step-ca's names are."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from appliance.authority.authority import Authority
from appliance.db import open_database
from appliance.errors import BadRequest
from appliance.provisioner.linkedca import provisioner_from_linkedca, provisioner_to_linkedca
from appliance.provisioner.renamed import step_ca_names
from tests.ca_fixtures import PROVISIONER, build_ca

HOOK = {"id": "1", "name": "gate", "url": "https://gate.test/", "kind": "AUTHORIZING", "secret": "c2VjcmV0"}


def _starts(tmp_path: Path, provisioner: dict[str, Any]) -> Authority:
    ca = build_ca(tmp_path, provisioner=provisioner)
    config = ca.config()
    return Authority.from_config(config, open_database(config.db), password=ca.password)


def test_a_provisioner_with_webhooks_in_both_places_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match=r"provisioner .admin@ca.test.: both 'options.webhooks' \(step-ca's name\) and "
                                         r"'webhooks' \(appliance's old name of it\) are set"):
        _starts(tmp_path, {"webhooks": [HOOK], "options": {"webhooks": [{**HOOK, "name": "other"}]}})


def test_options_webhooks_is_read_and_its_secret_never_listed(tmp_path: Path) -> None:
    authority = _starts(tmp_path, {"options": {"webhooks": [HOOK]}})
    try:
        provisioner = authority.provisioner(PROVISIONER)
        assert [(h.name, h.kind, h.secret) for h in provisioner.webhooks] == [("gate", "AUTHORIZING", b"secret")]
        listed = provisioner.to_json()
        assert listed["options"]["webhooks"] == [{"id": "1", "name": "gate", "kind": "AUTHORIZING", "certType": "ALL"}]
        assert "c2VjcmV0" not in str(listed)
    finally:
        authority.close()
        authority.database.close()


def test_writers_move_our_old_names_to_step_cas() -> None:
    old = {"type": "SCEP", "name": "s", "webhooks": [HOOK], "decrypterKeyURI": "softkms:path=/ra.key",
           "options": {"x509": {"templateData": {"a": 1}}}}
    assert step_ca_names(old) == {"type": "SCEP", "name": "s", "decrypterKey": "softkms:path=/ra.key",
                                  "options": {"x509": {"templateData": {"a": 1}}, "webhooks": [HOOK]}}
    assert "webhooks" in old  # a copy
    with pytest.raises(BadRequest, match="both 'decrypterKey'"):
        step_ca_names({"decrypterKey": "a", "decrypterKeyURI": "b"})


def test_linkedca_carries_options_webhooks_and_the_scep_decrypter() -> None:
    certificate = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n...").decode()
    message = {"type": "SCEP", "name": "s",
               "details": {"SCEP": {"challenge": "c", "excludeIntermediate": True, "decrypter": {
                   "certificate": certificate, "keyUri": "pkcs11:token=ca;object=ra",
                   "keyPassword": base64.b64encode(b"pw").decode()}}},
               "webhooks": [{"name": "gate", "id": "1", "url": "https://gate.test/", "kind": "AUTHORIZING",
                             "secret": "c2VjcmV0", "bearerToken": {"bearerToken": "t"}}]}
    config = provisioner_from_linkedca(message)
    assert config == {"type": "SCEP", "name": "s", "challenge": "c", "excludeIntermediate": True,
                      "decrypterCertificate": certificate, "decrypterKey": "pkcs11:token=ca;object=ra",
                      "decrypterKeyPassword": "pw",
                      "options": {"webhooks": [{"name": "gate", "id": "1", "url": "https://gate.test/",
                                                "kind": "AUTHORIZING", "secret": "c2VjcmV0", "bearerToken": "t"}]}}
    back = provisioner_to_linkedca("id-1", config)
    assert back["details"] == message["details"] and back["webhooks"] == message["webhooks"]
    # a provisioner kept under our old names goes out as step-ca's
    legacy = step_ca_names(config)
    legacy["decrypterKeyURI"] = legacy.pop("decrypterKey")
    legacy["webhooks"] = legacy.pop("options")["webhooks"]
    assert provisioner_to_linkedca("id-1", legacy) == back
