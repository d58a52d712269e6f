"""Client side of the CA: its HTTPS API with a pinned root, tokens, keys and CSRs,
renewal, certificate files, and administration of ca.json provisioners."""

from __future__ import annotations
