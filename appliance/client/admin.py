"""The admin API's client (step's ``step ca admin``, ``step ca provisioner`` with remote
management): an admin certificate and key, from files or asked of the CA with a JWK
provisioner's token, and one fresh admin token per request."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.client.files import load_key_file
from appliance.client.http import CaClient
from appliance.client.keys import csr_pem, make_csr
from appliance.client.provisioners import ProvisionerOptions, credential_handler, with_claims
from appliance.client.settings import CaSettings
from appliance.client.tokens import admin_token, find_provisioner, provisioner_token
from appliance.errors import BadRequest, NotFound
from appliance.jose import decrypt_jwk, key_from_dict, thumbprint
from appliance.pki.pem import load_certificates
from appliance.client.webhooks import WebhookOptions, apply_webhook_options
from appliance.provisioner.linkedca import (
    provisioner_from_linkedca, provisioner_to_linkedca, webhook_from_linkedca, webhook_to_linkedca,
)


@dataclass(frozen=True)
class AdminCredential:
    """An admin certificate (with its chain) and its key."""

    chain: list[x509.Certificate]
    key: PrivateKeyTypes

    @property
    def subject(self) -> str:
        names = self.chain[0].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if not names:
            raise BadRequest("the admin certificate has no common name")
        return str(names[0].value)


def load_admin_credential(cert: Path, key: Path, password: bytes | None) -> AdminCredential:
    """``--admin-cert`` and ``--admin-key``."""
    return AdminCredential(load_certificates(cert), load_key_file(key, password))


def request_admin_credential(client: CaClient, settings: CaSettings, subject: str, provisioner: str,
                             password: bytes) -> AdminCredential:
    """A short-lived certificate for ``subject`` from the JWK ``provisioner`` (its key
    decrypted with ``password``), kept in memory (``--admin-subject``/``--admin-provisioner``)."""
    entry = find_provisioner(client.provisioners(), provisioner)
    if str(entry.get("type", "")).upper() != "JWK":
        raise BadRequest(f"--admin-provisioner '{provisioner}' is not a JWK provisioner")
    kid = str(entry["key"].get("kid") or thumbprint(key_from_dict(entry["key"])))
    jwk = decrypt_jwk(entry.get("encryptedKey") or client.encrypted_key(kid), password)
    token = provisioner_token(jwk, provisioner=provisioner, ca_url=settings.ca_url, endpoint="sign", subject=subject,
                              root_fingerprint=settings.root_fingerprint)
    key = ec.generate_private_key(ec.SECP256R1())
    signed = client.sign(csr_pem(make_csr(subject, [subject], key)), token)
    return AdminCredential(list(signed.certificates), key)


class AdminSession:
    """Admin API calls on one connection, each with its own admin token."""

    def __init__(self, client: CaClient, credential: AdminCredential) -> None:
        self._client = client
        self._credential = credential

    def call(self, method: str, path: str, body: Any = None) -> Any:
        token = admin_token(self._credential.chain, self._credential.key, ca_url=self._client.ca_url,
                            path=urllib.parse.urlsplit(path).path, subject=self._credential.subject)
        return self._client.admin(method, path, token, body)

    def pages(self, path: str, member: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged list (``nextCursor``)."""
        cursor = ""
        while True:
            query = urllib.parse.urlencode({"cursor": cursor, "limit": 100})
            answer = self.call("GET", f"{path}?{query}")
            yield from answer.get(member) or []
            cursor = answer.get("nextCursor") or ""
            if not cursor:
                return

    def provisioner_id(self, name: str) -> str:
        return str(self.call("GET", f"/admin/provisioners/{_quote(name)}")["id"])

    def find_admin(self, subject: str, provisioner: str | None) -> dict[str, Any]:
        """The admin with ``subject`` (on ``provisioner`` when given); ``BadRequest`` if ambiguous."""
        provisioner_id = self.provisioner_id(provisioner) if provisioner else None
        found = [a for a in self.pages("/admin/admins", "admins") if a.get("subject") == subject
                 and (provisioner_id is None or a.get("provisionerId") == provisioner_id)]
        if not found:
            raise NotFound(f"no admin with subject '{subject}'")
        if len(found) > 1:
            raise BadRequest(f"several admins have subject '{subject}': pass --provisioner")
        return found[0]


class RemoteProvisioners:
    """``appliance ca provisioner`` edits through the admin API (the CA keeps provisioners
    in its database): the same ca.json objects, sent as linkedca messages."""

    def __init__(self, session: AdminSession) -> None:
        self._session = session

    def list(self) -> list[dict[str, Any]]:
        return list(self._session.pages("/admin/provisioners", "provisioners"))

    def get(self, name: str) -> dict[str, Any]:
        """A provisioner's ca.json object."""
        return provisioner_from_linkedca(self._session.call("GET", f"/admin/provisioners/{_quote(name)}"))

    def add(self, name: str, type_name: str, options: ProvisionerOptions) -> dict[str, Any]:
        entry = with_claims(credential_handler(type_name).new(name, options), options.claims)
        self._session.call("POST", "/admin/provisioners", provisioner_to_linkedca("", entry))
        return entry

    def remove(self, name: str) -> None:
        self._session.call("DELETE", f"/admin/provisioners/{_quote(name)}")

    def update(self, name: str, options: ProvisionerOptions) -> dict[str, Any]:
        entry = self.get(name)
        updated = with_claims(credential_handler(str(entry["type"])).update(entry, options), options.claims)
        self.replace(name, updated)
        return updated

    def replace(self, name: str, entry: dict[str, Any]) -> None:
        self._session.call("PUT", f"/admin/provisioners/{_quote(name)}", provisioner_to_linkedca("", entry))

    def add_webhook(self, provisioner: str, name: str, options: WebhookOptions) -> dict[str, Any]:
        """A new webhook (the CA makes its id and signing secret); as ca.json has it."""
        if not options.url:
            raise BadRequest("a webhook needs --url")
        entry = apply_webhook_options({"name": name, "kind": "ENRICHING", "certType": "ALL"}, options)
        return webhook_from_linkedca(self._session.call("POST", f"/admin/provisioners/{_quote(provisioner)}/webhooks",
                                                        webhook_to_linkedca(entry)))

    def update_webhook(self, provisioner: str, name: str, options: WebhookOptions) -> None:
        hooks = (self.get(provisioner).get("options") or {}).get("webhooks") or []
        entry = next((h for h in hooks if h.get("name") == name), None)
        if entry is None:
            raise NotFound(f"provisioner '{provisioner}' has no webhook named '{name}'")
        self._session.call("PUT", f"/admin/provisioners/{_quote(provisioner)}/webhooks/{_quote(name)}",
                           webhook_to_linkedca(apply_webhook_options(entry, options)))

    def remove_webhook(self, provisioner: str, name: str) -> None:
        self._session.call("DELETE", f"/admin/provisioners/{_quote(provisioner)}/webhooks/{_quote(name)}")


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
