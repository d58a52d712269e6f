"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright
without any browser download): an admin logs in with a client certificate, searches,
opens a certificate, revokes it after confirming, and finds it revoked in the list and
in the CRL (``openssl crl``); a browser without a certificate sees nothing. Screenshots
of the main pages land in the test's directory (``console-screenshots/``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509

from tests.e2e.harness import CA, Server, csr_pem, init_ca, new_key, start_server, token, write_pem

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = "console-admin.ca.test"


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CA, Server]]:
    ca = init_ca(tmp_path_factory.mktemp("console"))
    data = ca.data()
    data["crl"] = {**data.get("crl", {}), "enabled": True}
    data["console"] = {"enabled": True, "admins": [ADMIN]}
    ca.write(data)
    server = start_server(ca, workers=1)
    try:
        yield ca, server
    finally:
        server.stop()


def _issue(ca: CA, name: str, directory: Path) -> tuple[str, Path, Path]:
    key = new_key()
    with ca.client() as http:
        response = http.post("/1.0/sign", json={"csr": csr_pem(name, key, (name,)), "ott": token(ca, name)})
    assert response.status_code == 201, response.text
    crt = response.json()["crt"]
    serial = str(x509.load_pem_x509_certificate(crt.encode()).serial_number)
    return serial, write_pem(directory / f"{name}.crt", crt), write_pem(directory / f"{name}.key", key)


def test_console_in_chromium(console_server: tuple[CA, Server], tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/install.sh test_debs)")
    ca, _ = console_server
    shots = tmp_path / "console-screenshots"
    shots.mkdir()
    _, admin_crt, admin_key = _issue(ca, ADMIN, tmp_path)
    target, _, _ = _issue(ca, "retire-me.ca.test", tmp_path)
    _issue(ca, "keep-me.ca.test", tmp_path)
    base = f"{ca.url}/console"

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # Without a client certificate: refused, no data.
            anonymous = browser.new_context(ignore_https_errors=True)
            page = anonymous.new_page()
            response = page.goto(f"{base}/certificates")
            assert response is not None and response.status == 401
            assert "retire-me" not in page.content()
            page.screenshot(path=str(shots / "refused.png"))
            anonymous.close()

            admin = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900},
                                        client_certificates=[{"origin": ca.url, "certPath": str(admin_crt),
                                                              "keyPath": str(admin_key)}])
            page = admin.new_page()
            response = page.goto(f"{base}/")
            assert response is not None and response.status == 200, page.content()
            assert ADMIN in page.locator("#visitor").inner_text()
            page.screenshot(path=str(shots / "overview.png"), full_page=True)

            page.goto(f"{base}/certificates")
            page.screenshot(path=str(shots / "certificates.png"), full_page=True)
            page.fill("#q", "retire-me")
            page.click("#search")
            rows = page.locator("#certificates tr")
            assert rows.count() == 2 and "retire-me.ca.test" in rows.nth(1).inner_text()
            page.click(f"text={target}")
            assert page.locator("#cert-status").inner_text() == "active"
            assert "BEGIN CERTIFICATE" in page.locator("#pem").inner_text()
            page.screenshot(path=str(shots / "certificate.png"), full_page=True)

            page.click("#revoke")
            page.select_option("#reason_code", "4")
            page.fill("#reason", "replaced by a new host")
            page.screenshot(path=str(shots / "revoke-confirmation.png"), full_page=True)
            page.click("#confirm")
            assert page.locator("#cert-status").inner_text() == "revoked"

            page.goto(f"{base}/certificates?status=revoked")
            assert target in page.locator("#certificates").inner_text()
            page.screenshot(path=str(shots / "revoked-list.png"), full_page=True)
            for name in ("provisioners", "acme", "audit"):
                page.goto(f"{base}/{name}")
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

            # A form post without the CSRF token, from the admin's own browser: refused.
            other, _, _ = _issue(ca, "csrf-target.ca.test", tmp_path)
            refused = page.request.post(f"{base}/certificates/{other}/revoke", form={"reason_code": "1"})
            assert refused.status == 403
            admin.close()
        finally:
            browser.close()

    crl_path = tmp_path / "ca.crl"
    with ca.client() as http:
        crl_path.write_bytes(http.get("/crl").content)
    text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(crl_path), "-noout", "-text",
                           "-CAfile", str(ca.intermediate)], check=True, capture_output=True, text=True).stdout
    listed = text.replace(":", "").upper()
    assert f"{int(target):X}" in listed and f"{int(other):X}" not in listed
    print(f"console screenshots: {shots}")
