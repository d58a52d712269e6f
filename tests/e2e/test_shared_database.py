"""Two CA processes sharing one PostgreSQL or MariaDB (MySQL) database: a token
accepted by one is refused by the other, and concurrent issuance never reuses a serial."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509
from tests.db.conftest import mysql_config, postgres_config  # noqa: F401  (fresh database per run, dropped afterwards)
from tests.e2e.harness import CA, Server, csr_pem, init_ca, new_key, start_server, token

pytestmark = [pytest.mark.slow]
CERTIFICATES_PER_INSTANCE = 12


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql)])
def two_instances(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Server, Server]]:
    database: Callable[[], dict[str, Any]] = request.getfixturevalue(f"{request.param}_config")
    first = init_ca(tmp_path)
    data = first.data()
    data["db"] = database()
    first.write(data)
    second = first.another_instance()
    servers: list[Server] = []
    try:
        servers.append(start_server(first, workers=1))
        servers.append(start_server(second, workers=1))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def _sign(ca: CA, name: str, ott: str) -> tuple[int, str]:
    with ca.client() as client:
        response = client.post("/sign", json={"csr": csr_pem(name, new_key()), "ott": ott})
    return response.status_code, response.json().get("crt", "")


def test_token_used_on_one_instance_is_refused_by_the_other(two_instances: tuple[Server, Server]) -> None:
    a, b = (server.ca for server in two_instances)
    ott = token(a, "shared.example")
    assert _sign(a, "shared.example", ott)[0] == 201
    assert _sign(b, "shared.example", ott)[0] == 401


def test_concurrent_issuance_on_both_instances_never_repeats_a_serial(two_instances: tuple[Server, Server]) -> None:
    a, b = (server.ca for server in two_instances)
    jobs = [(ca, f"n{i}.example") for i in range(CERTIFICATES_PER_INSTANCE) for ca in (a, b)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: _sign(job[0], job[1], token(job[0], job[1])), jobs))
    assert all(status == 201 for status, _ in results)
    serials = {x509.load_pem_x509_certificate(crt.encode()).serial_number for _, crt in results}
    assert len(serials) == len(jobs)
    assert a.query("SELECT count(*) FROM certificates WHERE provisioner = 'admin'") == [(len(jobs),)]
