"""Where relying parties find a leaf's revocation status and its issuer: the CRL
distribution point and the AIA (OCSP responder, CA issuers) put in every leaf
while the CRL or the OCSP responder is enabled."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from appliance.config import CaConfig

ISSUER_PATH = "/1.0/intermediate.crt"
ROOT_PATH = "/1.0/root.crt"


@dataclass(frozen=True)
class RevocationUrls:
    crl: str = ""
    ocsp: str = ""
    ca_issuers: str = ""


def public_base(dns_names: tuple[str, ...], address: str, insecure_address: str) -> str:
    """Plain HTTP on ``insecure_address`` when there is one (relying parties fetch CRLs and
    OCSP over HTTP, RFC 5280/5019), else the HTTPS address; the host is the first DNS name."""
    host = dns_names[0]
    host = f"[{host}]" if ":" in host else host
    scheme, address = ("http", insecure_address) if insecure_address else ("https", address)
    port = address.rsplit(":", 1)[1] if ":" in address else ""
    default = {"http": "80", "https": "443"}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def revocation_urls(config: CaConfig) -> RevocationUrls:
    """The URLs of ca.json (``crl.idpURL``, ``ocsp.url``), else this CA's own."""
    if not (config.crl.enabled or config.ocsp.enabled):
        return RevocationUrls()
    base = public_base(config.dns_names, config.address, config.insecure_address)
    return RevocationUrls(
        crl=(config.crl.idp_url or f"{base}/1.0/crl") if config.crl.enabled else "",
        ocsp=(config.ocsp.url or f"{base}/ocsp") if config.ocsp.enabled else "",
        ca_issuers=f"{base}{ISSUER_PATH}",
    )


def url_extensions(urls: RevocationUrls, present: list[x509.Extension[x509.ExtensionType]]
                   ) -> list[x509.Extension[x509.ExtensionType]]:
    """The CDP and AIA extensions for ``urls`` that a template did not set itself."""
    have = {extension.oid for extension in present}
    added: list[x509.Extension[x509.ExtensionType]] = []
    if urls.crl and x509.CRLDistributionPoints.oid not in have:
        cdp = x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(urls.crl)], relative_name=None, reasons=None, crl_issuer=None)])
        added.append(x509.Extension(cdp.oid, False, cdp))
    access = []
    if urls.ocsp:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)))
    if urls.ca_issuers:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                             x509.UniformResourceIdentifier(urls.ca_issuers)))
    if access and x509.AuthorityInformationAccess.oid not in have:
        aia = x509.AuthorityInformationAccess(access)
        added.append(x509.Extension(aia.oid, False, aia))
    return added
