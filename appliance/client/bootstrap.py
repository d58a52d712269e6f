"""``ca bootstrap``: fetch the root named by its fingerprint and pin it."""

from __future__ import annotations

from appliance.client.files import normalise_fingerprint, refuse_overwrite, write_atomic
from appliance.client.http import CaClient, tls_context
from appliance.client.settings import CaSettings, ClientPaths
from appliance.pki.pem import to_pem
from appliance.config import DefaultsConfig, write_defaults


def bootstrap(paths: ClientPaths, ca_url: str, sha256: str, *, force: bool = False) -> CaSettings:
    """Download the root whose SHA-256 is ``sha256``, check that the CA's TLS
    certificate chains to it, then write the root and defaults.json."""
    wanted = normalise_fingerprint(sha256)
    refuse_overwrite((paths.root, paths.defaults), force)
    with CaClient(ca_url, False) as unverified:  # trust comes from the fingerprint, checked in root()
        root_pem = to_pem(unverified.root(wanted))
    with CaClient(ca_url, tls_context(root_pem)) as pinned:
        pinned.health()
    write_atomic(paths.root, root_pem.encode("ascii"))
    write_defaults(DefaultsConfig(ca_url=ca_url.rstrip("/"), fingerprint=wanted, root=str(paths.root)), paths.defaults)
    return CaSettings(ca_url.rstrip("/"), paths.root)
