"""Request bodies and the step-ca JSON conventions they use (PEM strings,
``TimeDuration`` values: ``appliance.pki.duration.parse_time_duration``)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import BadRequest
MAX_REASON_CODE = 10  # RFC 5280 aACompromise


class SignBody(BaseModel):
    """``POST /sign``."""

    model_config = ConfigDict(extra="ignore")
    csr: str
    ott: str
    notBefore: str = ""
    notAfter: str = ""
    templateData: dict[str, Any] | None = None


class RekeyBody(BaseModel):
    """``POST /rekey``."""

    model_config = ConfigDict(extra="ignore")
    csr: str


class RevokeBody(BaseModel):
    """``POST /revoke``."""

    model_config = ConfigDict(extra="ignore")
    serial: str = Field(min_length=1)
    ott: str = ""
    reasonCode: int = Field(default=0, ge=0, le=MAX_REASON_CODE)
    reason: str = ""
    passive: bool = False


def parse_csr(pem: str) -> x509.CertificateSigningRequest:
    """A PEM CSR (its signature is the authority's to check, once)."""
    try:
        return x509.load_pem_x509_csr(pem.encode())
    except (ValueError, UnicodeEncodeError):
        raise BadRequest("invalid csr") from None
