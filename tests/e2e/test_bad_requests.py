"""Malformed JSON, CSRs and tokens, and a 10 MB body: a 4xx and nothing recorded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import Server, csr_pem, new_key, token

pytestmark = pytest.mark.slow
TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize(
    "body",
    [
        b'{"csr": "x", "ott": ',
        b'{"csr": "-----BEGIN CERTIFICATE REQUEST-----\\nAAAA\\n-----END CERTIFICATE REQUEST-----\\n", "ott": "x"}',
        b"TOKEN",
        b'{"csr": "CSR", "ott": "not.a.token"}',
        b'{"csr": "CSR", "ott": "eyJhbGciOiJub25lIn0.eyJpc3MiOiJhZG1pbiJ9."}',
    ],
    ids=["malformed-json", "malformed-csr", "not-an-object", "malformed-token", "alg-none-token"],
)
def test_malformed_requests_leave_nothing_behind(server: Server, body: bytes) -> None:
    ca = server.ca
    before = ca.rows()
    body = body.replace(b"CSR", csr_pem("bad.example", new_key()).replace("\n", "\\n").encode())
    body = body.replace(b"TOKEN", f'"{token(ca, "bad.example")}"'.encode())
    with ca.client() as client:
        response = client.post("/sign", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["status"] == response.status_code
    assert ca.rows() == before


def test_ten_megabyte_body_is_refused(server: Server) -> None:
    ca = server.ca
    before = ca.rows()
    with ca.client() as client:
        response = client.post("/sign", content=b"{" + b" " * TEN_MB + b"}",
                               headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert ca.rows() == before
    assert server.process.poll() is None


def test_ten_megabyte_chunked_body_is_refused(server: Server, work: Path) -> None:
    ca = server.ca
    before = ca.rows()
    big = work / "big.json"
    big.write_bytes(b"{" + b" " * TEN_MB + b"}")
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "--cacert", str(ca.root), "-H", "Transfer-Encoding: chunked",
         "-H", "content-type: application/json", "--data-binary", f"@{big}", "-o", "/dev/null", "-w", "%{http_code}",
         f"{ca.url}/sign"], capture_output=True, text=True, timeout=60,
    )
    assert result.stdout == "413", result.stderr
    assert ca.rows() == before
    with ca.client() as client:
        assert client.get("/health").status_code == 200
