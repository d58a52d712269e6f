"""step-ca's admin API (remote management) without HTTP: authentication of admin tokens,
authorisation by admin type, and changes to the provisioners, admins, policies, webhooks
and ACME EAB keys kept in the database (``appliance.api.admin`` serves it)."""

from appliance.admin.service import ADMIN, SUPER_ADMIN, AdminApi, Caller

__all__ = ["ADMIN", "SUPER_ADMIN", "AdminApi", "Caller"]
