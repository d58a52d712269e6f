"""One CA for every ACME end-to-end test: ``appliance init``, three ACME provisioners
(``acme``, ``acme-eab`` that requires external account binding, ``acme-persist`` that
offers only dns-persist-01) whose validation uses the test's DNS server and free
loopback ports, served by a real ``appliance serve``. Failing tests get the tail of the server log in their report."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.e2e.acme.challtestsrv import ChallTestSrv
from tests.e2e.acme.clients import Endpoint
from tests.e2e.acme.harness import CRL_CACHE, ISSUERS, AcmeCA, add_acme_provisioner
from tests.e2e.harness import Server, free_port, init_ca, start_server

LOG_TAIL = 60


@pytest.fixture(scope="package")
def acme(tmp_path_factory: pytest.TempPathFactory, challtestsrv: ChallTestSrv) -> Iterator[AcmeCA]:
    ca = init_ca(tmp_path_factory.mktemp("acme-ca"))
    http_port, tls_port = free_port(), free_port()
    for name, require_eab in (("acme", False), ("acme-eab", True)):
        add_acme_provisioner(ca, name, require_eab=require_eab, http_port=http_port, tls_port=tls_port,
                             resolver=challtestsrv.resolver)
    add_acme_provisioner(ca, "acme-persist", require_eab=False, http_port=http_port, tls_port=tls_port,
                         resolver=challtestsrv.resolver, challenges=["dns-persist-01"], issuerDomainNames=ISSUERS)
    data = ca.data()
    data["crl"] = {"enabled": True, "cacheDuration": f"{CRL_CACHE.total_seconds():.0f}s"}
    ca.write(data)
    server: Server = start_server(ca)
    try:
        yield AcmeCA(server, challtestsrv, http_port, tls_port)
    finally:
        server.stop()


@pytest.fixture(scope="package")
def endpoint(acme: AcmeCA) -> Endpoint:
    return acme.endpoint("acme")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    acme_ca = getattr(item, "funcargs", {}).get("acme")
    if report.failed and isinstance(acme_ca, AcmeCA):
        tail = "\n".join(acme_ca.server.log().splitlines()[-LOG_TAIL:])
        report.sections.append(("appliance serve log (tail)", tail))
