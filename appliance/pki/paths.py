"""Relative paths of ca.json, resolved as step-ca's ``config.StepAbs`` does: against
the CA's base directory ($STEPPATH, the directory above ``config/ca.json``)."""

from __future__ import annotations

import re
from pathlib import Path

_KMS_URI = re.compile(r"^[a-z][a-z0-9]*:")


def resolve_path(base: Path | None, value: str) -> Path:
    """``value`` (``~`` expanded) under ``base`` unless absolute; as given without a base."""
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else base / path


def resolve_key(base: Path | None, value: str) -> str:
    """A key setting: a KMS URI as given (its ``path=`` is the KMS's business), a bare
    file path resolved as ``resolve_path`` does."""
    return value if _KMS_URI.match(value) else str(resolve_path(base, value))
