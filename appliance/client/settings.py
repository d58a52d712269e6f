"""Where a client command finds the CA: flags first, then ``config/defaults.json``
under ``$APPLIANCE_PATH`` (what ``appliance ca bootstrap`` and ``init`` write)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.client.files import fingerprint, load_certificates
from appliance.client.http import CaClient, tls_context
from appliance.config import load_defaults
from appliance.errors import BadRequest


@dataclass(frozen=True)
class ClientPaths:
    """The client's files under ``$APPLIANCE_PATH`` (step's ``$STEPPATH`` layout)."""

    base: Path

    @classmethod
    def at(cls, base: str) -> ClientPaths:
        return cls(Path(base).expanduser())

    @property
    def root(self) -> Path:
        return self.base / "certs" / "root_ca.crt"

    @property
    def defaults(self) -> Path:
        return self.base / "config" / "defaults.json"

    @property
    def ca_json(self) -> Path:
        return self.base / "config" / "ca.json"

    @property
    def identity_certificate(self) -> Path:
        return self.base / "identity" / "identity.crt"

    @property
    def identity_key(self) -> Path:
        return self.base / "identity" / "identity_key"

    @property
    def identity_json(self) -> Path:
        return self.base / "config" / "identity.json"


@dataclass(frozen=True)
class CaSettings:
    """The CA's URL and the root pinned for it."""

    ca_url: str
    root: Path

    @property
    def roots_pem(self) -> str:
        return self.root.read_text(encoding="ascii")

    @property
    def root_fingerprint(self) -> str:
        """The fingerprint of the (first) pinned root: the ``sha`` claim of tokens."""
        return fingerprint(load_certificates(self.root)[0])

    def client(self, client_cert: tuple[Path, Path] | None = None, key_password: bytes | None = None) -> CaClient:
        """A client of the CA, presenting ``client_cert`` (chain file, key file) if given."""
        return CaClient(self.ca_url, tls_context(self.roots_pem, client_cert, key_password))


def resolve(paths: ClientPaths, ca_url: str | None, root: str | None) -> CaSettings:
    """``--ca-url``/``--root``, else the values in defaults.json."""
    if not (ca_url and root) and paths.defaults.exists():
        defaults = load_defaults(paths.defaults)
        ca_url, root = ca_url or defaults.ca_url, root or defaults.root
    if not ca_url:
        raise BadRequest(f"no CA URL: pass --ca-url or run 'appliance ca bootstrap' (no {paths.defaults})")
    root_path = Path(root).expanduser() if root else paths.root
    if not root_path.is_file():
        raise BadRequest(f"no root certificate at {root_path}: pass --root or run 'appliance ca bootstrap'")
    return CaSettings(ca_url.rstrip("/"), root_path)


def resolve_ca_config(paths: ClientPaths, ca_config: str | None) -> Path:
    """``--ca-config``, else defaults.json's ``ca-config``, else ``config/ca.json``."""
    if ca_config:
        return Path(ca_config).expanduser()
    if paths.defaults.exists():
        configured = load_defaults(paths.defaults).ca_config
        if configured:
            return Path(configured).expanduser()
    return paths.ca_json
