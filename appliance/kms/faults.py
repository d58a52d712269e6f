"""Device and cloud KMS faults: classified by error class, healed once, else 503.

A signer's device can vanish and come back: a PKCS#11 session is lost or the
token logged out or removed, a cloud credential expires, a cloud KMS throttles
or has a bad minute, a smart card is pulled. :func:`classify` names such
faults from the SDK's exception class (or a cloud error's code), looking at
the domain error and the SDK exception it was raised from, without importing
any optional SDK. :func:`with_one_retry` runs a signing operation; on a fault
it lets the backend heal (re-initialise, open a new session, log in again,
find the key again, or recreate a cloud client) and tries exactly once more.
A fault that persists, or a heal that fails, is :class:`KmsUnavailable`: the
API answers it with 503 and ``Retry-After``, never 500.
"""

from __future__ import annotations

import enum
from typing import Callable, TypeVar

from appliance.errors import ApplianceError, ErrorKind
from appliance.kms.errors import KmsError

RETRY_AFTER_SECONDS = 5

T = TypeVar("T")


class Fault(enum.Enum):
    """What kind of fault an error is, hence what healing means."""

    SESSION = "session"  # lost PKCS#11/PIV session, logged out, stale object handle
    DEVICE = "device"  # token or card absent, removed, not recognised
    CREDENTIALS = "credentials"  # expired or refused cloud credentials: recreate the client
    TRANSIENT = "transient"  # throttling, 5xx, timeouts, lost connections: retry


class KmsUnavailable(KmsError):
    """The key's device or service is unavailable for now; try again after ``retry_after`` s."""

    kind = ErrorKind.UNAVAILABLE

    def __init__(self, message: str, *, fault: Fault = Fault.TRANSIENT,
                 retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.fault = fault
        self.retry_after = retry_after


# Exceptions by "module.Class" (any class in the exception's MRO).
_BY_CLASS: dict[str, Fault] = {
    **{f"pkcs11.exceptions.{name}": Fault.SESSION for name in (
        "SessionHandleInvalid", "SessionClosed", "ObjectHandleInvalid", "KeyHandleInvalid", "UserNotLoggedIn",
        "OperationNotInitialized", "GeneralError", "FunctionFailed")},
    **{f"pkcs11.exceptions.{name}": Fault.DEVICE for name in (
        "TokenNotPresent", "TokenNotRecognised", "DeviceRemoved", "DeviceError", "DeviceMemory", "SlotIDInvalid")},
    **{f"botocore.exceptions.{name}": Fault.TRANSIENT for name in (
        "EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError", "ReadTimeoutError",
        "ConnectionError", "HTTPClientError")},
    "botocore.exceptions.CredentialRetrievalError": Fault.CREDENTIALS,
    **{f"google.api_core.exceptions.{name}": Fault.TRANSIENT for name in (
        "ServiceUnavailable", "DeadlineExceeded", "InternalServerError", "TooManyRequests", "ResourceExhausted",
        "Aborted", "RetryError", "GatewayTimeout", "BadGateway")},
    "google.api_core.exceptions.Unauthenticated": Fault.CREDENTIALS,
    "google.auth.exceptions.RefreshError": Fault.CREDENTIALS,
    "google.auth.exceptions.TransportError": Fault.TRANSIENT,
    "azure.core.exceptions.ServiceRequestError": Fault.TRANSIENT,
    "azure.core.exceptions.ServiceResponseError": Fault.TRANSIENT,
    "azure.core.exceptions.ClientAuthenticationError": Fault.CREDENTIALS,
    "azure.identity._exceptions.CredentialUnavailableError": Fault.CREDENTIALS,
    "smartcard.Exceptions.CardConnectionException": Fault.DEVICE,
    "smartcard.Exceptions.NoCardException": Fault.DEVICE,
    "smartcard.pcsc.PCSCExceptions.BaseSCardException": Fault.DEVICE,
}
# botocore ClientError codes (AWS KMS's documented transient and credential errors).
_AWS_CODES: dict[str, Fault] = {
    **dict.fromkeys(("ExpiredTokenException", "ExpiredToken", "RequestExpired", "InvalidClientTokenId",
                     "UnrecognizedClientException"), Fault.CREDENTIALS),
    **dict.fromkeys(("ThrottlingException", "KMSInternalException", "DependencyTimeoutException",
                     "KeyUnavailableException", "ServiceUnavailable", "InternalFailure", "RequestTimeout"),
                    Fault.TRANSIENT),
}


def _classify_one(exc: BaseException) -> Fault | None:
    if isinstance(exc, KmsUnavailable):
        return exc.fault
    names = [f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__]
    for name in names:
        if name in _BY_CLASS:
            return _BY_CLASS[name]
    if "botocore.exceptions.ClientError" in names:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return _AWS_CODES.get(code)
    if "azure.core.exceptions.HttpResponseError" in names:
        status = getattr(exc, "status_code", None) or 0
        if status == 401:
            return Fault.CREDENTIALS
        if status in (408, 429) or status >= 500:
            return Fault.TRANSIENT
    if isinstance(exc, ApplianceError) and exc.kind is ErrorKind.UNAVAILABLE:
        return Fault.TRANSIENT
    return None


def classify(exc: BaseException) -> Fault | None:
    """The fault ``exc`` is, or None for an error that retrying cannot help (wrong
    algorithm, a signature that does not verify, a bad request). Follows the chain
    of exceptions a domain error was raised from (``raise ... from None`` keeps it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        fault = _classify_one(current)
        if fault is not None:
            return fault
        current = current.__cause__ or current.__context__
    return None


def unavailable(what: str, exc: BaseException, fault: Fault) -> KmsUnavailable:
    """The error a request gets while the device stays down (its text holds no secret)."""
    detail = exc.message if isinstance(exc, ApplianceError) else type(exc).__name__
    return KmsUnavailable(f"{what} is unavailable ({fault.value}): {detail}", fault=fault)


def with_one_retry(what: str, operation: Callable[[], T], heal: Callable[[Fault], None]) -> T:
    """``operation()``; on a fault, ``heal(fault)`` and one more try; else :class:`KmsUnavailable`.

    ``what`` names the device in the error (``PKCS#11 token 'ca'``); ``heal``
    re-opens whatever the fault broke, so that ``operation`` finds a live session.
    """
    try:
        return operation()
    except Exception as first:
        fault = classify(first)
        if fault is None:
            raise
    try:
        heal(fault)
    except Exception as exc:
        raise unavailable(what, exc, classify(exc) or fault) from None
    try:
        return operation()
    except Exception as second:
        again = classify(second)
        if again is None:
            raise
        raise unavailable(what, second, again) from None
