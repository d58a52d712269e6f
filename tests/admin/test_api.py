"""step-ca's admin API on a real CA with ``enableAdmin``, on SQLite, PostgreSQL and
MariaDB: provisioners, admins, policies, webhooks and EAB keys change over HTTP, the CA
serves the change at once (and other instances within the poll interval), and every
refused request leaves the database as it was."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.provisioner.linkedca import provisioner_from_linkedca, provisioner_to_linkedca
from appliance.acme.sql_store import SQLAcmeStore
from appliance.authority.interfaces import RevokeRequest, SignRequest
from appliance.db.admin_store import AdminStore
from appliance.errors import ApplianceError, NotFound
from appliance.jose import generate_jwk
from appliance.jose.jwe import encrypt_jwk
from appliance.jose.jwk import public_dict
from appliance.config.errors import ConfigError
from appliance.db import open_database
from appliance.server.remote_management import POLL_SECONDS, bootstrap
from appliance.server.runtime import scep_server
from tests.admin.conftest import Credential, Instance, now_minus, open_instance, remote_ca
from tests.ca_fixtures import PASSWORD, PROVISIONER, make_csr
from tests.db.conftest import DbConfigFactory

ACME = {"type": "ACME", "name": "acme", "details": {"ACME": {"forceCn": True, "challenges": ["HTTP_01", "DNS_01"]}},
        "claims": {"x509": {"durations": {"default": "12h", "max": "24h"}}}}


def _jwk_message(name: str) -> tuple[dict[str, Any], Any]:
    key = generate_jwk()
    public = public_dict(key)
    message = {"type": "JWK", "name": name, "details": {"JWK": {
        "publicKey": base64.b64encode(json.dumps(public).encode()).decode(),
        "encryptedPrivateKey": base64.b64encode(encrypt_jwk(key, PASSWORD, iterations=1000).encode()).decode()}}}
    return message, key


def test_the_first_start_imports_ca_json_and_makes_step_its_super_admin(single: Instance) -> None:
    instance, step = single, single.step
    admins = instance.call("GET", "/admin/admins", step).json()["admins"]
    listed = instance.call("GET", "/admin/provisioners", step).json()
    assert [(a["subject"], a["type"]) for a in admins] == [("step", "SUPER_ADMIN")]
    assert [p["name"] for p in listed["provisioners"]] == [PROVISIONER] and listed["nextCursor"] == ""
    detail = instance.call("GET", f"/1.0/admin/provisioners/{PROVISIONER}", step).json()
    assert admins[0]["provisionerId"] == detail["id"] and detail["type"] == "JWK"
    assert json.loads(base64.b64decode(detail["details"]["JWK"]["publicKey"]))["kid"] == \
        instance.ca.provisioner_key.kid


def test_a_provisioner_created_updated_and_deleted_over_the_api_is_served_at_once(instance: Instance) -> None:
    step = instance.step
    created = instance.call("POST", "/admin/provisioners", step, ACME)
    assert created.status_code == 201, created.text
    assert created.json()["details"]["ACME"] == {"forceCn": True, "challenges": ["HTTP_01", "DNS_01"]}
    served = instance.authority.provisioner("acme")
    assert served.kind.name == "ACME" and served.claimer.default_tls_duration.total_seconds() == 12 * 3600
    updated = instance.call("PUT", "/admin/provisioners/acme", step,
                            {**ACME, "details": {"ACME": {"challenges": ["TLS_ALPN_01"]}}})
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    assert instance.call("GET", "/admin/provisioners/acme", step).json()["details"]["ACME"] == {
        "challenges": ["TLS_ALPN_01"]}
    assert instance.call("DELETE", "/admin/provisioners/acme", step).json() == {"status": "ok"}
    with pytest.raises(NotFound):
        instance.authority.provisioner("acme")
    assert instance.call("GET", "/admin/provisioners/acme", step).status_code == 404
    changes = AdminStore(instance.database).changes()
    assert [(c.action, c.kind) for c in changes][-3:] == [
        ("create", "provisioner"), ("update", "provisioner"), ("delete", "provisioner")]
    assert changes[-2].actor == f"admin:step@{PROVISIONER}"
    assert changes[-2].before["details"]["challenges"] == ["http-01", "dns-01"]  # type: ignore[index]
    assert changes[-2].after["details"]["challenges"] == ["tls-alpn-01"]  # type: ignore[index]
    actor = f"admin:step@{PROVISIONER}"
    assert instance.audit_events() == [
        (f"admin.provisioner.{action}", {"actor": actor, "id": created.json()["id"], "name": "acme"})
        for action in ("create", "update", "delete")]


def test_a_jwk_provisioner_added_over_the_api_issues_certificates(single: Instance) -> None:
    instance, step = single, single.step
    message, key = _jwk_message("ops")
    assert instance.call("POST", "/admin/provisioners", step, message).status_code == 201
    token = instance.ca.token("web.example", issuer="ops", key=key)
    issued = instance.authority.sign(SignRequest(make_csr("web.example")[0], token))
    assert issued.certificate.subject.rfc4514_string() == "CN=web.example"


def test_an_admin_manages_provisioners_but_not_admins(instance: Instance) -> None:
    step = instance.step
    created = instance.call("POST", "/admin/admins", step,
                            {"subject": "alice", "provisioner": PROVISIONER, "type": "ADMIN"})
    assert created.status_code == 201 and created.json()["type"] == "ADMIN"
    alice = instance.certificate("alice")
    assert instance.call("GET", "/admin/admins", alice).status_code == 200
    assert instance.call("POST", "/admin/provisioners", alice, ACME).status_code == 201
    before = instance.snapshot()
    for method, path, body in (("POST", "/admin/admins", {"subject": "eve", "provisioner": PROVISIONER,
                                                          "type": "SUPER_ADMIN"}),
                               ("PATCH", f"/admin/admins/{created.json()['id']}", {"type": "SUPER_ADMIN"}),
                               ("DELETE", f"/admin/admins/{created.json()['id']}", None)):
        refused = instance.call(method, path, alice, body)
        assert refused.status_code == 401 and "super admin" in refused.json()["message"]
    assert instance.snapshot() == before
    promoted = instance.call("PATCH", f"/admin/admins/{created.json()['id']}", step, {"type": 2})  # linkedca's number
    assert promoted.json()["type"] == "SUPER_ADMIN"
    assert instance.call("POST", "/admin/admins", alice, {"subject": "bob", "provisioner": PROVISIONER,
                                                          "type": "ADMIN"}).status_code == 201


def test_the_last_super_admin_is_kept(single: Instance) -> None:
    instance, step = single, single.step
    admin_id = instance.call("GET", "/admin/admins", step).json()["admins"][0]["id"]
    before = instance.snapshot()
    for method, path, body in (("DELETE", f"/admin/admins/{admin_id}", None),
                               ("PATCH", f"/admin/admins/{admin_id}", {"type": "ADMIN"}),
                               ("DELETE", f"/admin/provisioners/{PROVISIONER}", None)):
        assert instance.call(method, path, step, body).status_code == 400
    assert instance.snapshot() == before


def _self_signed(subject: str) -> Credential:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(key, hashes.SHA256()))
    return Credential([cert], key)


#: step-ca's admin problem types (authority/admin/errors.go): the detail of each.
ADMIN_DETAILS = {"badRequest": "bad request", "unauthorized": "unauthorized", "notFound": "resource not found",
                 "conflict": "conflict"}


def assert_admin_error(response: Any, status: int, problem: str) -> None:
    """step-ca's admin error: the status, and exactly ``type``, ``detail`` and a ``message``, as JSON."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"type", "detail", "message"}, body
    assert (body["type"], body["detail"]) == (problem, ADMIN_DETAILS[problem]) and body["message"], body


#: Refused requests: (what, how to send it) -> the status. Each would create a provisioner.
BAD_REQUESTS: dict[str, tuple[Callable[[Instance, Credential], dict[str, Any]], int]] = {
    "no token": (lambda i, c: {"credential": None}, 401),
    "not a token": (lambda i, c: {"token": "not.a.token"}, 401),
    "a certificate of no admin": (lambda i, c: {"credential": i.certificate("bob")}, 401),
    "a certificate this CA did not issue": (lambda i, c: {"credential": _self_signed("step")}, 401),
    "an expired token": (lambda i, c: {"token": i.token(c, "/admin/provisioners", now=now_minus(600))}, 401),
    "a token for another URL": (lambda i, c: {"token": i.token(c, "/admin/admins")}, 401),
    "a provisioner that would not load": (lambda i, c: {"body": {"type": "JWK", "name": "nokey"}}, 400),
    "an unknown type": (lambda i, c: {"body": {"type": "FOO", "name": "foo"}}, 400),
    "a provisioner name taken": (lambda i, c: {"body": {**ACME, "name": PROVISIONER}}, 400),  # as step-ca
    "bad base64 in details": (lambda i, c: {"body": {"type": "X5C", "name": "x", "details": {
        "X5C": {"roots": ["%%%"]}}}}, 400),
    "a body that is not JSON": (lambda i, c: {"body": "{"}, 400),
}


def test_a_refused_request_changes_nothing_and_a_token_is_used_once(instance: Instance) -> None:
    step = instance.step
    for case, (make, status) in BAD_REQUESTS.items():
        request = {"credential": step, "body": ACME, **make(instance, step)}
        before = instance.snapshot()
        body = request["body"]
        if isinstance(body, str):
            token = instance.token(step, "/admin/provisioners")
            response = instance.http.post("/admin/provisioners", content=body.encode(),
                                          headers={"Authorization": token})
        else:
            response = instance.call("POST", "/admin/provisioners", request["credential"], body,
                                     token=request.get("token"))
        assert response.status_code == status, (case, response.text)
        assert_admin_error(response, status, "unauthorized" if status == 401 else "badRequest")
        assert instance.snapshot() == before, case
    # a replayed token: the first use passes, the second is refused
    token = instance.token(step, "/admin/provisioners")
    assert instance.call("POST", "/admin/provisioners", body=ACME, token=token).status_code == 201
    before = instance.snapshot()
    replayed = instance.call("POST", "/admin/provisioners", body={**ACME, "name": "acme2"}, token=token)
    assert replayed.status_code == 401 and "already used" in replayed.json()["message"]
    assert instance.snapshot() == before


def test_a_revoked_admin_certificate_is_refused(single: Instance) -> None:
    instance, step = single, single.step
    serial = str(step.chain[0].serial_number)
    instance.authority.revoke(RevokeRequest(serial, token=instance.ca.token(serial, endpoint="revoke")))
    assert instance.call("GET", "/admin/admins", step).status_code == 401


def test_eab_keys_with_references(single: Instance) -> None:
    instance, step = single, single.step
    instance.call("POST", "/admin/provisioners", step, ACME)
    created = instance.call("POST", "/admin/acme/eab/acme", step, {"reference": "host-1"})
    assert created.status_code == 201 and len(base64.b64decode(created.json()["hmacKey"])) == 32
    assert instance.call("POST", "/admin/acme/eab/acme", step, {"reference": "host-1"}).status_code == 409
    instance.call("POST", "/admin/acme/eab/acme", step, {})
    assert len(instance.call("GET", "/admin/acme/eab/acme", step).json()["eaks"]) == 2
    found = instance.call("GET", "/admin/acme/eab/acme/host-1", step).json()["eaks"]
    assert [(k["id"], k["reference"], k["hmacKey"]) for k in found] == [(created.json()["id"], "host-1", "")]
    assert instance.call("DELETE", f"/admin/acme/eab/acme/{created.json()['id']}", step).status_code == 200
    assert instance.call("GET", "/admin/acme/eab/acme/host-1", step).json()["eaks"] == []
    assert instance.call("POST", f"/admin/acme/eab/{PROVISIONER}", step, {}).status_code == 400


def test_acme_account_policies_by_reference_and_by_key(single: Instance) -> None:
    instance, step = single, single.step
    instance.call("POST", "/admin/provisioners", step, ACME)
    key_id = instance.call("POST", "/admin/acme/eab/acme", step, {"reference": "host-1"}).json()["id"]
    policy = {"x509": {"allow": {"dns": ["*.example.com"]}}}
    by_reference, by_key = "/admin/acme/policy/acme/reference/host-1", f"/admin/acme/policy/acme/key/{key_id}"
    assert instance.call("GET", by_key, step).status_code == 404
    before = instance.snapshot()
    assert instance.call("POST", by_reference, step, {"x509": {"allow": {"dns": ["*.*.bad"]}}}).status_code == 400
    assert instance.call("POST", "/admin/acme/policy/acme/reference/nope", step, policy).status_code == 404
    assert instance.snapshot() == before
    assert instance.call("POST", by_reference, step, policy).json() == policy
    assert instance.call("POST", by_key, step, policy).status_code == 409
    assert instance.call("GET", by_key, step).json() == policy
    assert SQLAcmeStore(instance.database).get_eab_key("acme", key_id).policy == policy  # type: ignore[union-attr]
    assert instance.call("DELETE", by_key, step).status_code == 200
    assert instance.call("GET", by_reference, step).status_code == 404
    change = AdminStore(instance.database).changes()[-1]
    assert (change.kind, change.object_id, change.before["policy"], change.after["policy"]) == (  # type: ignore[index]
        "eab", key_id, policy, None)


def test_a_provisioner_policy_set_over_the_api_is_enforced(single: Instance) -> None:
    instance, step = single, single.step
    policy = {"x509": {"allow": {"dns": ["*.example.com"]}}}
    path = f"/admin/provisioners/{PROVISIONER}/policy"
    assert instance.call("GET", path, step).status_code == 404
    assert instance.call("POST", path, step, policy).json() == policy
    assert instance.call("POST", path, step, policy).status_code == 409
    assert instance.call("GET", path, step).json() == policy
    with pytest.raises(ApplianceError):
        instance.authority.sign(SignRequest(make_csr("www.other.org")[0], instance.ca.token("www.other.org")))
    instance.authority.sign(SignRequest(make_csr("www.example.com")[0], instance.ca.token("www.example.com")))
    assert instance.call("DELETE", path, step).status_code == 200
    instance.authority.sign(SignRequest(make_csr("www.other.org")[0], instance.ca.token("www.other.org")))


def test_the_authority_policy_set_over_the_api_replaces_ca_json_s(single: Instance) -> None:
    instance, step = single, single.step
    before = instance.snapshot()
    bad = instance.call("POST", "/admin/authority/policy", step, {"x509": {"allow": {"dns": ["*.*.example.com"]}}})
    assert bad.status_code == 400 and instance.snapshot() == before
    locks_out = instance.call("POST", "/admin/authority/policy", step, {"x509": {"allow": {"dns": ["*.example.com"]}}})
    assert locks_out.status_code == 400 and "lock out admin 'step'" in locks_out.json()["message"]
    assert instance.snapshot() == before
    policy = {"x509": {"allow": {"dns": ["*.example.com", "step"]}}}
    assert instance.call("GET", "/admin/authority/policy", step).status_code == 404
    assert instance.call("POST", "/admin/authority/policy", step, policy).status_code == 201
    assert instance.call("POST", "/admin/authority/policy", step, policy).status_code == 409
    assert instance.call("GET", "/admin/authority/policy", step).json() == policy
    with pytest.raises(ApplianceError, match="authority policy"):
        instance.authority.sign(SignRequest(make_csr("www.other.org")[0], instance.ca.token("www.other.org")))
    assert instance.call("DELETE", "/admin/authority/policy", step).status_code == 200
    instance.authority.sign(SignRequest(make_csr("www.other.org")[0], instance.ca.token("www.other.org")))
    changes = AdminStore(instance.database).changes()
    assert [(c.action, c.kind, c.object_id) for c in changes[-2:]] == [
        ("create", "policy", "authority"), ("delete", "policy", "authority")]


def test_webhooks_per_provisioner(single: Instance) -> None:
    instance, step = single, single.step
    path = f"/admin/provisioners/{PROVISIONER}/webhooks"
    hook = {"name": "people", "url": "https://hooks.example/people", "kind": "ENRICHING",
            "bearerToken": {"bearerToken": "t0ken"}}
    created = instance.call("POST", path, step, hook)
    assert created.status_code == 201, created.text
    assert created.json()["id"] and base64.b64decode(created.json()["secret"])
    assert instance.call("POST", path, step, hook).status_code == 409
    changed = instance.call("PUT", f"{path}/people", step, {**hook, "url": "https://hooks.example/v2"})
    assert changed.json()["url"] == "https://hooks.example/v2" and changed.json()["secret"] == created.json()["secret"]
    listed = instance.call("GET", f"/admin/provisioners/{PROVISIONER}", step).json()["webhooks"]
    assert [(h["name"], h["url"], h["bearerToken"]) for h in listed] == [
        ("people", "https://hooks.example/v2", {"bearerToken": "t0ken"})]
    stored = {p.name: p.details for p in AdminStore(instance.database).provisioners()}[PROVISIONER]
    assert "webhooks" not in stored and [h["name"] for h in stored["options"]["webhooks"]] == ["people"]
    assert instance.call("DELETE", f"{path}/people", step).status_code == 200
    assert instance.call("DELETE", f"{path}/people", step).status_code == 404


def test_webhooks_kept_in_our_old_place_are_moved_by_the_next_change(single: Instance) -> None:
    """A provisioner an older appliance kept with top-level ``webhooks``: listed as before;
    the next webhook change stores them all in step-ca's ``options.webhooks``."""
    instance, step = single, single.step
    store = AdminStore(instance.database)
    record = {p.name: p for p in store.provisioners()}[PROVISIONER]
    old = {"id": "1", "name": "old", "url": "https://hooks.example/old", "kind": "AUTHORIZING", "secret": "c2VjcmV0"}
    store.update_provisioner(dataclasses.replace(record, details={**record.details, "webhooks": [old]}), "test",
                             datetime.datetime.now(datetime.timezone.utc))
    listed = instance.call("GET", f"/admin/provisioners/{PROVISIONER}", step).json()["webhooks"]
    assert [(h["name"], h["secret"]) for h in listed] == [("old", "c2VjcmV0")]
    hook = {"name": "new", "url": "https://hooks.example/new", "kind": "ENRICHING"}
    assert instance.call("POST", f"/admin/provisioners/{PROVISIONER}/webhooks", step, hook).status_code == 201
    stored = {p.name: p.details for p in store.provisioners()}[PROVISIONER]
    assert "webhooks" not in stored and [h["name"] for h in stored["options"]["webhooks"]] == ["old", "new"]
    assert stored["options"]["webhooks"][0] == old


def test_another_instance_serves_a_change_within_the_poll_interval(instance: Instance) -> None:
    step = instance.step
    other = open_instance(instance.ca)
    try:
        assert instance.call("POST", "/admin/provisioners", step, ACME).status_code == 201
        other.clock.advance(POLL_SECONDS - 0.1)
        with pytest.raises(NotFound):
            other.authority.provisioner("acme")
        other.clock.advance(0.1)
        assert other.authority.provisioner("acme").kind.name == "ACME"
        # the admin API itself reads the latest revision on every request
        assert instance.call("POST", "/admin/admins", step, {"subject": "carol", "provisioner": PROVISIONER,
                                                             "type": "ADMIN"}).status_code == 201
        assert other.call("GET", "/admin/admins", instance.certificate("carol")).status_code == 200
    finally:
        other.close()


def test_the_linkedca_shape_round_trips(tmp_path: Path) -> None:
    message, _ = _jwk_message("ops")
    message.update({"claims": {"x509": {"durations": {"min": "5m", "max": "24h", "default": "1h"}},
                               "ssh": {"enabled": True, "userDurations": {"default": "8h"}},
                               "disableRenewal": True},
                    "x509Template": {"template": base64.b64encode(b'{"subject": {{ toJson .Subject }}}').decode(),
                                     "data": base64.b64encode(b'{"a": 1}').decode()},
                    "policy": {"x509": {"allow": {"dns": ["*.example"], "ips": ["10.0.0.0/8"]}},
                               "ssh": {"user": {"allow": {"emails": ["@example"]}}}}})
    config = provisioner_from_linkedca(message)
    assert config["claims"] == {"disableRenewal": True, "minTLSCertDuration": "5m", "maxTLSCertDuration": "24h",
                                "defaultTLSCertDuration": "1h", "defaultUserSSHCertDuration": "8h",
                                "enableSSHCA": True}
    assert config["policy"] == {"x509": {"allow": {"dns": ["*.example"], "ip": ["10.0.0.0/8"]}},
                                "ssh": {"user": {"allow": {"email": ["@example"]}}}}
    assert config["options"]["x509"] == {"template": '{"subject": {{ toJson .Subject }}}',
                                         "templateData": {"a": 1}}
    back = provisioner_to_linkedca("id-1", config)
    assert {k: back[k] for k in message} == message


def test_remote_management_on_a_new_database_needs_a_jwk_provisioner(single: Instance) -> None:
    database = open_database({"type": "sqlite", "dataSource": str(single.ca.path / "fresh.sqlite")})
    try:
        with pytest.raises(ConfigError, match="enableAdmin"):
            bootstrap(AdminStore(database), [{"type": "ACME", "name": "acme"}])
    finally:
        database.close()
    assert bootstrap(AdminStore(single.database), [{"type": "ACME", "name": "acme"}]) is False  # imported before


def test_a_scep_provisioner_added_over_the_api_is_served_without_a_restart(
        tmp_path: Path, sqlite_config: DbConfigFactory) -> None:
    instance = open_instance(remote_ca(tmp_path, sqlite_config(), intermediate_kind="RSA"))
    scep = scep_server(instance.authority)
    try:
        message = {"type": "SCEP", "name": "scep", "details": {"SCEP": {"challenge": "s3cret",
                                                                       "capabilities": ["AES", "SHA-256"]}}}
        assert instance.call("POST", "/admin/provisioners", instance.step, message).status_code == 201
        assert scep.capabilities("scep").splitlines() == ["AES", "SHA-256"]
        assert x509.load_der_x509_certificate(scep.ca_certificates("scep").body) == instance.ca.intermediate
    finally:
        scep.close()
        instance.close()


def test_errors_have_step_ca_s_admin_shape_and_status(single: Instance) -> None:
    """Each error path answers as step-ca's admin API (type, detail, message; status as step-ca's),
    under both prefixes, and changes nothing."""
    instance, step = single, single.step
    before = instance.snapshot()
    missing = instance.http.get("/admin/provisioners")  # no token at all
    assert_admin_error(missing, 401, "unauthorized")
    assert missing.json()["message"] == "missing authorization header token"
    assert_admin_error(instance.call("GET", "/1.0/admin/provisioners", token="not.a.token"), 401, "unauthorized")
    unknown = instance.call("GET", "/admin/provisioners/nope", step)
    assert_admin_error(unknown, 404, "notFound")
    assert "nope" in unknown.json()["message"]
    assert_admin_error(instance.call("PUT", "/1.0/admin/provisioners/nope", step, ACME), 404, "notFound")
    assert_admin_error(instance.call("GET", "/admin/admins/no-such-id", step), 404, "notFound")
    assert_admin_error(instance.call("POST", "/admin/admins", step, {"subject": "x", "provisioner": "nope",
                                                                     "type": "ADMIN"}), 404, "notFound")
    assert_admin_error(instance.call("POST", "/admin/provisioners", step, [1, 2]), 400, "badRequest")
    assert_admin_error(instance.call("GET", "/admin/provisioners?limit=x", step), 400, "badRequest")
    assert_admin_error(instance.call("POST", "/admin/admins", step, {"subject": "step", "provisioner": PROVISIONER,
                                                                     "type": "SUPER_ADMIN"}), 400, "badRequest")
    assert instance.snapshot() == before
    policy = {"x509": {"allow": {"dns": ["*.example.com", "step"]}}}
    assert instance.call("POST", "/admin/authority/policy", step, policy).status_code == 201
    conflict = instance.call("POST", "/admin/authority/policy", step, policy)
    assert_admin_error(conflict, 409, "conflict")
    assert conflict.json()["message"] == "authority already has a policy"
    assert_admin_error(instance.http.get("/admin/no-such-path"), 404, "notFound")


def test_the_core_api_keeps_step_ca_s_status_and_message(single: Instance) -> None:
    """Outside /admin/ errors stay step-ca's ``{status, message}``."""
    refused = single.http.post("/sign", json={})
    assert refused.status_code == 400 and set(refused.json()) == {"status", "message"}
