"""SCEP (RFC 8894): the protocol core, without a web framework."""

from __future__ import annotations

from appliance.scep.errors import FailInfo, ScepFailure
from appliance.scep.keys import CaSigner
from appliance.scep.server import CA_CERT_TYPE, CA_RA_CERT_TYPE, PKI_MESSAGE_TYPE, CaCertificates, ScepServer

__all__ = ["CA_CERT_TYPE", "CA_RA_CERT_TYPE", "PKI_MESSAGE_TYPE", "CaCertificates", "CaSigner", "FailInfo",
           "ScepFailure", "ScepServer"]
