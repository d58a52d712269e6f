"""The URLs of one ACME provisioner, built on the base URL the client used."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Links:
    """``base`` is e.g. ``https://ca.example:9000/acme/my-acme`` (no trailing slash)."""

    base: str

    @classmethod
    def for_provisioner(cls, origin: str, prefix: str, provisioner: str) -> Links:
        """``origin`` is ``scheme://host[:port]``; ``prefix`` ``/acme`` or ``/2.0/acme``."""
        return cls(f"{origin.rstrip('/')}{prefix}/{quote(provisioner, safe='')}")

    def _at(self, *parts: str) -> str:
        return "/".join((self.base, *parts))

    @property
    def directory(self) -> str:
        return self._at("directory")

    @property
    def new_nonce(self) -> str:
        return self._at("new-nonce")

    @property
    def new_account(self) -> str:
        return self._at("new-account")

    @property
    def new_order(self) -> str:
        return self._at("new-order")

    @property
    def revoke_cert(self) -> str:
        return self._at("revoke-cert")

    @property
    def key_change(self) -> str:
        return self._at("key-change")

    @property
    def renewal_info(self) -> str:
        return self._at("renewal-info")

    def account(self, account_id: str) -> str:
        return self._at("account", account_id)

    def account_id(self, url: str) -> str | None:
        """The id in an account URL of this provisioner, or None."""
        prefix = self._at("account", "")
        rest = url[len(prefix):] if url.startswith(prefix) else ""
        return rest if rest and "/" not in rest else None

    def orders(self, account_id: str) -> str:
        return self._at("account", account_id, "orders")

    def order(self, order_id: str) -> str:
        return self._at("order", order_id)

    def finalize(self, order_id: str) -> str:
        return self._at("order", order_id, "finalize")

    def authorization(self, authorization_id: str) -> str:
        return self._at("authz", authorization_id)

    def challenge(self, authorization_id: str, challenge_id: str) -> str:
        return self._at("challenge", authorization_id, challenge_id)

    def certificate(self, certificate_id: str) -> str:
        return self._at("certificate", certificate_id)
