"""Fixtures: an initialised CA and a running server per module (killed in teardown), and the
test DNS server the ACME tests and the step CLI test share."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.acme.challtestsrv import ChallTestSrv, start_challtestsrv
from tests.e2e.harness import CA, Server, init_ca, running_server


@pytest.fixture(scope="module")
def softkms_ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return init_ca(tmp_path_factory.mktemp("softkms"))


@pytest.fixture(scope="module")
def server(softkms_ca: CA) -> Iterator[Server]:
    with running_server(softkms_ca) as running:
        yield running


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="package")
def challtestsrv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChallTestSrv]:
    """pebble-challtestsrv: the DNS server ACME validations (and dns-persist-01 records) go through."""
    running = start_challtestsrv(tmp_path_factory.mktemp("challtestsrv"))
    try:
        yield running
    finally:
        running.stop()
