"""The configuration layer's error."""

from __future__ import annotations

from appliance.errors import BadRequest


class ConfigError(BadRequest):
    """ca.json or defaults.json is unreadable or invalid; the message names the field."""
