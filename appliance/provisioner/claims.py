"""Claims: certificate durations and renewal rules, merged provisioner over
authority over step-ca's defaults (as step-ca's Claimer does)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from appliance.pki.duration import parse_duration
from appliance.errors import BadRequest


class ClaimsError(BadRequest):
    """A claims object in ca.json is invalid."""


_DURATIONS = {
    "minTLSCertDuration": "min_tls_duration",
    "maxTLSCertDuration": "max_tls_duration",
    "defaultTLSCertDuration": "default_tls_duration",
    "minUserSSHCertDuration": "min_user_ssh_duration",
    "maxUserSSHCertDuration": "max_user_ssh_duration",
    "defaultUserSSHCertDuration": "default_user_ssh_duration",
    "minHostSSHCertDuration": "min_host_ssh_duration",
    "maxHostSSHCertDuration": "max_host_ssh_duration",
    "defaultHostSSHCertDuration": "default_host_ssh_duration",
}
_FLAGS = {
    "disableRenewal": "disable_renewal",
    "allowRenewalAfterExpiry": "allow_renewal_after_expiry",
    "disableIssuedAtCheck": "disable_issued_at_check",
    "disableSmallstepExtensions": "disable_smallstep_extensions",
    "enableSSHCA": "enable_ssh_ca",
}


@dataclass(frozen=True)
class Claimer:
    """Resolved claims for one provisioner."""

    min_tls_duration: datetime.timedelta = datetime.timedelta(minutes=5)
    max_tls_duration: datetime.timedelta = datetime.timedelta(hours=24)
    default_tls_duration: datetime.timedelta = datetime.timedelta(hours=24)
    disable_renewal: bool = False
    allow_renewal_after_expiry: bool = False
    disable_issued_at_check: bool = False
    #: Certificates without step-ca's provisioner extension (renewal finds the provisioner
    #: through the certificate's database record).
    disable_smallstep_extensions: bool = False
    #: SSH certificates (step-ca's defaults: user 5m..24h, 16h; host 5m..30d, 30d); only
    #: with ``enableSSHCA``.
    enable_ssh_ca: bool = False
    min_user_ssh_duration: datetime.timedelta = datetime.timedelta(minutes=5)
    max_user_ssh_duration: datetime.timedelta = datetime.timedelta(hours=24)
    default_user_ssh_duration: datetime.timedelta = datetime.timedelta(hours=16)
    min_host_ssh_duration: datetime.timedelta = datetime.timedelta(minutes=5)
    max_host_ssh_duration: datetime.timedelta = datetime.timedelta(days=30)
    default_host_ssh_duration: datetime.timedelta = datetime.timedelta(days=30)

    def merged(self, claims: dict[str, Any] | None, where: str) -> Claimer:
        """These claims with the members of a ca.json ``claims`` object laid over them."""
        if not claims:
            return self
        if not isinstance(claims, dict):
            raise ClaimsError(f"{where}: claims must be an object")
        values: dict[str, Any] = {}
        for name, attribute in _DURATIONS.items():
            if claims.get(name) not in (None, ""):
                try:
                    value = parse_duration(claims[name])
                except BadRequest as exc:
                    raise ClaimsError(f"{where}: claims.{name}: {exc.message}") from None
                if value:
                    values[attribute] = value
        for name, attribute in _FLAGS.items():
            if name in claims and claims[name] is not None:
                if not isinstance(claims[name], bool):
                    raise ClaimsError(f"{where}: claims.{name} must be true or false")
                values[attribute] = claims[name]
        result = Claimer(**{**self.__dict__, **values})
        result.validate(where)
        return result

    def validate(self, where: str) -> None:
        """min <= default <= max, as step-ca requires."""
        if self.max_tls_duration < self.min_tls_duration:
            raise ClaimsError(f"{where}: maxTLSCertDuration is less than minTLSCertDuration")
        if not self.min_tls_duration <= self.default_tls_duration <= self.max_tls_duration:
            raise ClaimsError(f"{where}: defaultTLSCertDuration must lie between the minimum and maximum")
        for kind in ("user", "host"):
            low, default, high = self.ssh_durations(kind)
            name = f"{kind.capitalize()}SSHCertDuration"
            if high < low:
                raise ClaimsError(f"{where}: max{name} is less than min{name}")
            if not low <= default <= high:
                raise ClaimsError(f"{where}: default{name} must lie between the minimum and maximum")

    def ssh_durations(self, cert_type: str) -> tuple[datetime.timedelta, datetime.timedelta, datetime.timedelta]:
        """(minimum, default, maximum) for SSH ``user`` or ``host`` certificates."""
        if cert_type == "user":
            return self.min_user_ssh_duration, self.default_user_ssh_duration, self.max_user_ssh_duration
        return self.min_host_ssh_duration, self.default_host_ssh_duration, self.max_host_ssh_duration
