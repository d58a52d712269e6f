"""The supervisor raises its soft descriptor limit to the hard one (its workers inherit it)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from appliance.config.connections import ConnectionSettings
from appliance.server.descriptors import MARGIN, descriptors_needed, raise_descriptor_limit


@pytest.fixture
def limits() -> Iterator[tuple[int, int]]:
    """The limits of this process, restored afterwards."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        yield saved
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_the_soft_limit_is_raised_to_the_hard_limit(limits: tuple[int, int]) -> None:
    hard = limits[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    assert raise_descriptor_limit(ConnectionSettings(max_connections_per_worker=100)) == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)


def test_a_hard_limit_below_the_need_is_reported() -> None:
    # in a child: lowering the hard limit cannot be undone without privilege
    script = (
        "import logging, resource\n"
        "from appliance.config.connections import ConnectionSettings\n"
        "from appliance.server.descriptors import raise_descriptor_limit\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (200, 300))\n"
        "print(raise_descriptor_limit(ConnectionSettings(max_connections_per_worker=1024)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "300"
    assert descriptors_needed(ConnectionSettings(max_connections_per_worker=1024)) == 1024 + MARGIN
    assert "limit is 300 but a worker may need 1088" in result.stderr


def test_the_systemd_unit_gives_a_worker_what_the_default_cap_needs() -> None:
    unit = Path(__file__).resolve().parents[2] / "systemd" / "appliance.service"
    (limit,) = [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith("LimitNOFILE=")]
    assert int(limit) >= descriptors_needed(ConnectionSettings())
