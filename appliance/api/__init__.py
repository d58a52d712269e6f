"""The HTTP API (FastAPI): step-ca's paths and JSON; the only layer that speaks HTTP."""

from __future__ import annotations

from appliance.api.app import ApiSettings, create_app, create_insecure_app

__all__ = ["ApiSettings", "create_app", "create_insecure_app"]
