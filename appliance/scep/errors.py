"""SCEP failures: a CertRep FAILURE with its failInfo (RFC 8894 section 3.2.1.4.5)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography import x509

from appliance.errors import ApplianceError, ErrorKind


class FailInfo(enum.Enum):
    """failInfo values, as the decimal strings SCEP sends."""

    BAD_ALG = "0"
    BAD_MESSAGE_CHECK = "1"
    BAD_REQUEST = "2"
    BAD_TIME = "3"
    BAD_CERT_ID = "4"


@dataclass(frozen=True)
class Addressee:
    """Who a CertRep answers: enough of a request to reply even when it is refused."""

    transaction_id: str
    sender_nonce: bytes
    signer: x509.Certificate
    digest: str = "sha256"


class ScepFailure(ApplianceError):
    """The request is refused with ``fail_info``; answered as a CertRep FAILURE when the
    request's signer is known (else HTTP 400). The message is for the log, not the client:
    a CertRep carries only the failInfo."""

    kind = ErrorKind.BAD_REQUEST

    def __init__(self, fail_info: FailInfo, message: str) -> None:
        super().__init__(message)
        self.fail_info = fail_info
        self.addressee: Addressee | None = None

    def addressed(self, addressee: Addressee) -> ScepFailure:
        """This failure, answerable to ``addressee`` (kept if one was set closer to the request)."""
        if self.addressee is None:
            self.addressee = addressee
        return self
