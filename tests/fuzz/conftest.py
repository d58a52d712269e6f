"""Fuzzing the in-process CA: the real CA (tests/api/real_ca.py) with its OpenAPI
description published, and the real ACME server (tests/acme/conftest.py).

Every fuzz test runs twice: ``quick`` in the default run (a few thousand cases
in all) and ``long``, marked ``fuzz``, with ten times the examples: deselected
unless the marker expression names ``fuzz`` (``-m fuzz``), so that neither the
default run nor ``-m "not slow"`` takes it. The cases and 5xx answers are counted per test, carried
in the test's report (so they reach pytest-xdist's controller) and summed at the end of the run by
tests/conftest.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

from appliance.api import ApiSettings
from tests.acme.conftest import AcmeEnv, start
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.api.real_ca import RealCA, start_real_ca
from tests.conftest import FUZZ_CASES

LONG = 10
SCALES = [pytest.param(1, id="quick"), pytest.param(LONG, id="long", marks=pytest.mark.fuzz)]
TALLY: Counter[str] = Counter()  # the running test's cases


def fuzz_settings(examples: int, scale: int) -> Callable[[Any], Any]:
    """Hypothesis settings for ``examples`` cases per quick run; no example database in the tree."""
    return settings(max_examples=examples * scale, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck))


def record(suite: str, status: int) -> None:
    TALLY[f"{suite} cases"] += 1
    if status >= 500:
        TALLY[f"{suite} 5xx"] += 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "fuzz" in (config.option.markexpr or ""):
        return
    long = [item for item in items if item.get_closest_marker("fuzz")]
    if long:
        config.hook.pytest_deselected(items=long)
        items[:] = [item for item in items if not item.get_closest_marker("fuzz")]


@pytest.fixture(autouse=True)
def _report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    TALLY.clear()
    yield
    request.node.user_properties.append((FUZZ_CASES, dict(TALLY)))


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCA]:
    running = start_real_ca(tmp_path_factory.mktemp("ca"), ApiSettings(openapi=True))
    yield running
    running.close()


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeEnv]:
    responders = DnsServer(), HttpServer(), TlsAlpnServer()
    running = start(Path(tmp_path_factory.mktemp("acme")), responders)
    yield running
    running.server.close()
    running.database.close()
    for responder in responders:
        responder.close()
