"""EST (RFC 7030): certificate enrolment over HTTPS for devices, through EST provisioners."""

from appliance.est.server import EstCredentials, EstServer, ServerGeneratedKey

__all__ = ["EstCredentials", "EstServer", "ServerGeneratedKey"]
