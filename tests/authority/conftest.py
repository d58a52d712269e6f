"""An in-process CA (softkms intermediate, real SQLite) for authority tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from appliance.authority.authority import Authority
from appliance.db import open_database
from tests.ca_fixtures import TestCA, build_ca


@pytest.fixture
def make_authority(tmp_path: Path) -> Iterator[Callable[..., tuple[Authority, TestCA]]]:
    """Build a CA with ``build_ca(**kwargs)`` and open an Authority on it."""
    opened: list[Authority] = []

    def make(**kwargs: Any) -> tuple[Authority, TestCA]:
        ca = build_ca(tmp_path / f"ca{len(opened)}", **kwargs)
        config = ca.config()
        authority = Authority.from_config(config, open_database(config.db), password=ca.password)
        opened.append(authority)
        return authority, ca

    yield make
    for authority in opened:
        authority.close()
        authority.database.close()


@pytest.fixture
def ca(make_authority: Callable[..., tuple[Authority, TestCA]]) -> tuple[Authority, TestCA]:
    return make_authority()
