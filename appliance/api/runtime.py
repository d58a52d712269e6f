"""What one process serves from: the loaded ca.json, its authority and API settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.api.app import ApiSettings
from appliance.authority.interfaces import AuthorityInterface
from appliance.config import CaConfig, load_config


@dataclass
class Runtime:
    """A configuration and the authority built from it."""

    config: CaConfig
    authority: AuthorityInterface
    settings: ApiSettings

    def close(self) -> None:
        close = getattr(self.authority, "close", None)
        if close is not None:
            close()


def load_runtime(config_path: Path, password: bytes | None, *, report: bool = False) -> Runtime:
    """Load ca.json and open its authority (database, KMS); raises on any error."""
    from appliance.authority import open_authority  # provided by the authority package

    config = load_config(config_path, report=report)
    authority = open_authority(config, password=password)
    return Runtime(config, authority, ApiSettings(log_format=str(config.logger.get("format", "text"))))
