"""The ACME server (RFC 8555) core: no web framework; ``appliance.api.acme`` serves it."""

from __future__ import annotations

from appliance.acme.context import AcmeRequest, AcmeSettings, Reply, Signed
from appliance.acme.problems import AcmeError, Problem, Subproblem
from appliance.acme.server import AcmeServer, KeyUse
from appliance.acme.store import AcmeStore
from appliance.acme.validation import ValidationSettings

__all__ = ["AcmeError", "AcmeRequest", "AcmeServer", "AcmeSettings", "AcmeStore", "KeyUse", "Problem", "Reply",
           "Signed", "Subproblem", "ValidationSettings"]
