"""CRL numbers come from one source in the database: whichever worker or instance
a client asks, the numbers it sees never go backwards, even between instances
whose clocks disagree, and a CRL always lists every revocation made before."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from cryptography import x509

from appliance.authority.authority import Authority
from appliance.authority.interfaces import RevokeRequest, SignRequest
from appliance.db import open_database
from tests.ca_fixtures import TestCA, build_ca, make_csr
from tests.db.conftest import DbConfigFactory
from tests.e2e.harness import csr_pem, init_ca, new_key, start_server, token



class Clock:
    """An injected clock, set at ``at`` (the database lists as active the revocations of
    certificates unexpired by the host's clock, so tests start from the host's time)."""

    def __init__(self, at: datetime.datetime) -> None:
        self.at = at

    def __call__(self) -> datetime.datetime:
        return self.at


def _number(der: bytes) -> int:
    return x509.load_der_x509_crl(der).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


@pytest.fixture
def instances(db_config: DbConfigFactory, tmp_path: Path) -> Iterator[tuple[TestCA, list[Authority], list[Clock]]]:
    """Two authorities on one database, the second one's clock 30 minutes behind."""
    test_ca = build_ca(tmp_path, crl={"enabled": True, "cacheDuration": "2h"})
    config, shared = test_ca.config(), db_config()
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    clocks = [Clock(start), Clock(start - datetime.timedelta(minutes=30))]
    authorities = [Authority(config, open_database(shared), test_ca.intermediate_key,  # type: ignore[arg-type]
                             roots=[test_ca.root], intermediates=[test_ca.intermediate], now=clock,
                             started_at=start - datetime.timedelta(days=1))
                   for clock in clocks]
    yield test_ca, authorities, clocks
    for authority in authorities:
        authority.close()
        authority.database.close()


def _revoke_one(authority: Authority, test_ca: TestCA, clock: Clock) -> int:
    csr, _ = make_csr("host.test")
    issued = authority.sign(SignRequest(csr=csr, token=test_ca.token("host.test", not_before=clock.at.timestamp())))
    serial = issued.certificate.serial_number
    authority.revoke(RevokeRequest(serial=str(serial), passive=True, token=test_ca.token(
        str(serial), endpoint="revoke", not_before=clock.at.timestamp())))
    return serial


def test_numbers_never_go_backwards_between_skewed_instances(
        instances: tuple[TestCA, list[Authority], list[Clock]]) -> None:
    test_ca, (a, b), clocks = instances
    seen = [_number(a.crl()), _number(b.crl()), _number(a.crl())]
    assert seen == [1, 1, 1]  # one CRL, served by both
    serial = _revoke_one(b, test_ca, clocks[1])
    latest = b.crl()  # the instance whose clock is behind builds the next one
    assert _number(latest) == 2
    assert x509.load_der_x509_crl(a.crl()).get_revoked_certificate_by_serial_number(serial) is not None
    assert a.crl() == latest
    for clock in clocks:
        clock.at += datetime.timedelta(hours=1, minutes=21)  # past renewPeriod (2/3 of 2h): rebuilt once
    assert [_number(x.crl()) for x in (b, a, b, a)] == [3, 3, 3, 3]  # b rebuilds; a, ahead, finds it fresh


def test_concurrent_builds_publish_distinct_growing_numbers(
        instances: tuple[TestCA, list[Authority], list[Clock]]) -> None:
    test_ca, authorities, clocks = instances
    observed: list[list[int]] = [[] for _ in range(4)]

    def fetch(index: int) -> None:
        for _ in range(10):
            observed[index].append(_number(authorities[index % 2].crl()))

    for _ in range(3):
        _revoke_one(authorities[0], test_ca, clocks[0])
        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for numbers in observed:
        assert numbers == sorted(numbers)
    assert max(max(numbers) for numbers in observed) == 3  # one new CRL per revocation, not one per builder


@pytest.mark.slow
def test_two_workers_serve_growing_numbers(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    data = ca.data()
    data["crl"] = {"enabled": True, "cacheDuration": "24h"}
    ca.write(data)
    server = start_server(ca, workers=2)
    numbers: list[int] = []
    try:
        for round_ in range(4):
            with ca.client() as client:
                signed = client.post("/sign", json={"csr": csr_pem(f"r{round_}.example", new_key()),
                                                    "ott": token(ca, f"r{round_}.example")}).json()
                serial = str(x509.load_pem_x509_certificate(signed["crt"].encode()).serial_number)
                revoked = client.post("/revoke", json={"serial": serial, "passive": True,
                                                       "ott": token(ca, serial, endpoint="revoke")})
                assert revoked.status_code == 200, revoked.text
            for _ in range(6):  # a new connection each time: both workers answer
                with ca.client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
                    crl = x509.load_der_x509_crl(client.get("/crl").content)
                assert crl.get_revoked_certificate_by_serial_number(int(serial)) is not None
                numbers.append(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    finally:
        server.stop()
    assert numbers == sorted(numbers) and numbers[0] == 1 and numbers[-1] == 4
