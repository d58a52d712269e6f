"""The web console (``/console``): read-only pages of the CA's state, and revocation for admins."""

from __future__ import annotations

from appliance.console.app import ConsoleSettings, console_app
from appliance.console.audit import AuditLog, AuditRecord, ChainStatus
from appliance.console.read_model import ReadModel

__all__ = ["AuditLog", "AuditRecord", "ChainStatus", "ConsoleSettings", "ReadModel", "console_app"]
