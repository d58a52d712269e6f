"""The SSH CA as the HTTP API sees it: requests, results and the narrow interface that
``appliance.authority.ssh.SshAuthority`` implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.serialization import SSHCertificate

from appliance.provisioner.ssh import SshRequestOptions
from appliance.sshcert import SSHPublicKey


@dataclass(frozen=True)
class SshSignRequest:
    """``POST /ssh/sign``: a public key and the options a token authorises."""

    public_key: SSHPublicKey
    token: str
    options: SshRequestOptions = field(default_factory=SshRequestOptions)
    template_data: dict[str, Any] = field(default_factory=dict)
    add_user_public_key: SSHPublicKey | None = None


@dataclass(frozen=True)
class SshSigned:
    """A signed, verified, recorded certificate (and the ``addUserPublicKey`` one)."""

    certificate: SSHCertificate
    add_user_certificate: SSHCertificate | None = None


@dataclass(frozen=True)
class SshRevokeRequest:
    """``POST /ssh/revoke``: a serial (decimal), or a public key (``publicKey``, ours), by token."""

    token: str
    serial: str = ""
    public_key: SSHPublicKey | None = None
    reason_code: int = 0
    reason: str = ""


@dataclass(frozen=True)
class SshKeys:
    """CA public keys by kind, as ``/ssh/roots`` and ``/ssh/federation`` list them."""

    user: tuple[SSHPublicKey, ...] = ()
    host: tuple[SSHPublicKey, ...] = ()


@dataclass(frozen=True)
class SshConfigOutput:
    """One rendered SSH config template (step-ca's ``templates.Output``): what the client
    writes at ``path`` and how (``type``: snippet, prepend-line, file, directory)."""

    name: str
    type: str
    comment: str
    path: str
    content: bytes


@dataclass(frozen=True)
class SshHost:
    """A host this CA certified (step-ca's ``config.Host``): its certificate serial and name."""

    host_id: str
    hostname: str


class SshAuthorityInterface(Protocol):
    """Everything the HTTP API may ask of the SSH CA."""

    def sign(self, request: SshSignRequest) -> SshSigned: ...

    def renew(self, token: str) -> SshSigned:
        """Renew the host certificate whose key signed the SSHPOP ``token``."""
        ...

    def rekey(self, token: str, public_key: SSHPublicKey) -> SshSigned:
        """``renew`` for a new key."""
        ...

    def revoke(self, request: SshRevokeRequest) -> None:
        """Revoke a certificate by serial or a key; ``Conflict`` if already revoked."""
        ...

    def roots(self) -> SshKeys: ...

    def federation(self) -> SshKeys: ...

    def hosts(self) -> list[SshHost]: ...

    def check_host(self, principal: str) -> bool: ...

    def bastion(self, hostname: str) -> dict[str, str] | None:
        """The bastion to reach ``hostname`` through (None: go direct)."""
        ...

    def config_outputs(self, kind: str, data: dict[str, str]) -> list[SshConfigOutput]:
        """The ``user`` or ``host`` SSH configuration rendered with ``data`` as ``.User``."""
        ...

    def krl(self) -> bytes:
        """The current OpenSSH KRL (every revocation recorded by any process)."""
        ...
