"""Name policy: which names the CA may certify (step-ca's ``policy.x509`` and ``policy.ssh``)."""

from __future__ import annotations

from appliance.policy.ssh import SshPolicy
from appliance.policy.x509 import NamePolicy, NameRules, NamesRefused, name_kind

__all__ = ["NamePolicy", "NameRules", "NamesRefused", "SshPolicy", "name_kind"]
