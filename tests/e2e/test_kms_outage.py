"""An HSM outage under load: the intermediate key's SoftHSM2 token is taken away
(its files moved aside) while clients keep asking for certificates, then given back.

While it is gone every /sign answers 503 with Retry-After in step-ca's JSON,
never 500, and /health reports the KMS unhealthy; once it is back the server
heals by itself (no SIGHUP, no restart) within seconds. The recovery time is
recorded as the test's ``recovery_seconds`` property (``-rA`` / junit XML).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx
import pytest

from tests.conftest import SoftHSMToken
from tests.e2e.harness import CA, csr_pem, init_ca, new_key, start_server, token
from tests.kms.softhsm_files import TokenAway

pytestmark = [pytest.mark.slow, pytest.mark.hsm]

CLIENTS = 4
RECOVERY_BOUND = 10.0  # seconds after the token is back
PHASE_BOUND = 60.0  # a phase that does not end by then has failed


@dataclass(frozen=True)
class Answer:
    at: float
    status: int
    retry_after: str | None
    body: dict[str, object]


class Load:
    """``CLIENTS`` threads signing CSRs without pause until stopped; every answer is kept."""

    def __init__(self, ca: CA) -> None:
        self.ca = ca
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.pool = ThreadPoolExecutor(CLIENTS)
        self.key = new_key()

    def _client(self, number: int) -> None:
        with self.ca.client() as client:
            for index in range(1_000_000):
                if self.stopped.is_set():
                    return
                name = f"load{number}-{index}.example"
                response = client.post("/sign", json={"csr": csr_pem(name, self.key), "ott": token(self.ca, name)})
                answer = Answer(time.monotonic(), response.status_code, response.headers.get("Retry-After"),
                                response.json())
                with self.lock:
                    self.answers.append(answer)

    def __enter__(self) -> Load:
        self.futures = [self.pool.submit(self._client, number) for number in range(CLIENTS)]
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for future in self.futures:
            future.result()
        self.pool.shutdown()

    def since(self, start: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.at >= start]

    def wait_for(self, condition: Callable[[list[Answer]], bool], start: float) -> None:
        """Until the answers since ``start`` meet ``condition`` (the load paces this loop)."""
        deadline = time.monotonic() + PHASE_BOUND
        while not condition(self.since(start)):
            assert time.monotonic() < deadline, f"no such answers within {PHASE_BOUND}s: {self.since(start)[-3:]}"
            self.stopped.wait(0.05)


def _health(client: httpx.Client) -> httpx.Response:
    return client.get("/health")


def test_hsm_outage_is_503_and_heals_by_itself(tmp_path: Path, softhsm_token: SoftHSMToken,
                                               record_property: Callable[[str, object], None]) -> None:
    ca = init_ca(tmp_path, "--kms", softhsm_token.kms_uri, "--root-key-uri", "pkcs11:id=0a;object=root",
                 "--intermediate-key-uri", "pkcs11:id=0b;object=intermediate")
    server = start_server(ca, workers=2)
    away = TokenAway(softhsm_token.label, tmp_path)
    try:
        with Load(ca) as load, ca.client() as probe:
            start = time.monotonic()
            load.wait_for(lambda answers: sum(a.status == 201 for a in answers) >= 8, start)

            away.take()
            gone = time.monotonic()
            load.wait_for(lambda answers: sum(a.status == 503 for a in answers) >= 12, gone)
            deadline = time.monotonic() + PHASE_BOUND
            while (health := _health(probe)).status_code != 503:  # its cached probe expires within seconds
                assert time.monotonic() < deadline, health.text
                load.stopped.wait(0.1)
            assert health.json()["status"] == "unhealthy" and health.headers["Retry-After"]

            away.give_back()
            back = time.monotonic()
            load.wait_for(lambda answers: sum(a.status == 201 for a in answers) >= 8, back)
            while _health(probe).status_code != 200:
                assert time.monotonic() < back + PHASE_BOUND
                load.stopped.wait(0.1)
    finally:
        away.give_back()
        server.stop()

    answers = load.answers
    assert not [a for a in answers if a.status >= 500 and a.status != 503], "a 5xx other than 503"
    outage = [a for a in answers if a.status == 503]
    assert outage and all(a.retry_after and int(a.retry_after) > 0 for a in outage)
    assert all(a.body.get("status") == 503 and "unavailable" in str(a.body.get("message")) for a in outage)
    assert {a.status for a in answers} == {201, 503}
    first_success = min(a.at for a in answers if a.at >= back and a.status == 201)
    last_failure = max(a.at for a in outage)
    recovery = first_success - back
    record_property("recovery_seconds", round(recovery, 3))
    record_property("outage_503s", len(outage))
    print(f"HSM outage: {len(outage)} answers 503, recovery {recovery:.3f}s after the token came back")
    assert recovery < RECOVERY_BOUND
    assert last_failure < back + RECOVERY_BOUND
