"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright
without any browser download): an admin logs in with a client certificate, searches,
opens a certificate, revokes it after confirming, and finds it revoked in the list and
in the CRL (``openssl crl``); a browser without a certificate sees nothing. Another admin
logs in through a real OpenID provider (``oidc-provider``, as the OIDC provisioner tests run
it), revokes, logs out; a person the configuration does not name is refused. Screenshots
of the main pages land in the test's directory (``console-screenshots/``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlencode

import pytest
from cryptography import x509

from tests.e2e.harness import CA, Server, csr_pem, init_ca, new_key, start_server, token, write_pem
from tests.provisioner.openid_provider import OpenIDProvider, signing_key

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = "console-admin.ca.test"
OIDC_ADMIN, OIDC_STRANGER = "alice@ca.test", "mallory@ca.test"


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


def _chromium(tmp_path: Path) -> tuple[Any, Path]:
    """Playwright's sync API (Debian's chromium, no download) and the screenshots' directory."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/install.sh test_debs)")
    shots = tmp_path / "console-screenshots"
    shots.mkdir()
    return playwright_api, shots


def test_console_in_chromium(console_server: tuple[CA, Server], tmp_path: Path) -> None:
    playwright_api, shots = _chromium(tmp_path)
    ca, _ = console_server
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


@pytest.fixture(scope="module")
def oidc_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CA, OpenIDProvider]]:
    """A CA whose console lets the provider's ``alice@ca.test`` in as an admin (no mTLS admin)."""
    directory = tmp_path_factory.mktemp("oidc-console")
    ca = init_ca(directory / "ca")
    callback = f"{ca.url}/console/oidc/callback"
    client = {"client_id": "console", "client_secret": "console-secret", "redirect_uris": [callback]}
    provider = OpenIDProvider(directory, [client], [signing_key("k1")]).start()
    data = ca.data()
    data["console"] = {"enabled": True, "oidc": {
        "configurationEndpoint": provider.configuration_endpoint, "clientID": "console",
        "clientSecret": "console-secret", "redirectURI": callback, "admins": [OIDC_ADMIN]}}
    ca.write(data)
    server = start_server(ca, workers=1)
    try:
        yield ca, provider
    finally:
        server.stop()
        provider.stop()


def _log_in(page: Any, provider: OpenIDProvider, login: str) -> Any:
    """Click the console's login link and go through the provider's prompts (its login and consent
    pages are the fixture's headless ones); the response of the console's last page."""
    with page.expect_navigation():
        page.click("#oidc-login")
    response = None
    for _ in range(4):
        if "/interaction/" not in page.url:
            break
        response = page.goto(f"{page.url.split('?')[0]}/headless?{urlencode({'login': login})}")
    return response


def test_oidc_login_in_chromium(oidc_console: tuple[CA, OpenIDProvider], tmp_path: Path) -> None:
    playwright_api, shots = _chromium(tmp_path)
    ca, provider = oidc_console
    target, _, _ = _issue(ca, "oidc-retire.ca.test", tmp_path)
    base = f"{ca.url}/console"

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            admin = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
            page = admin.new_page()
            response = page.goto(f"{base}/certificates")
            assert response is not None and response.status == 401 and "oidc-retire" not in page.content()
            page.screenshot(path=str(shots / "oidc-login-offered.png"), full_page=True)
            response = _log_in(page, provider, OIDC_ADMIN)
            assert response is not None and response.status == 200 and page.url == f"{base}/", page.url
            assert page.locator("#visitor").inner_text() == f"{OIDC_ADMIN} (admin)"
            page.screenshot(path=str(shots / "oidc-overview.png"), full_page=True)

            page.goto(f"{base}/certificates/{target}")
            page.click("#revoke")
            page.select_option("#reason_code", "5")
            page.fill("#reason", "host retired")
            page.click("#confirm")
            assert page.locator("#cert-status").inner_text() == "revoked"
            page.screenshot(path=str(shots / "oidc-revoked.png"), full_page=True)

            page.click("#logout")
            response = page.goto(f"{base}/certificates")
            assert response is not None and response.status == 401
            admin.close()

            stranger = browser.new_context(ignore_https_errors=True)
            page = stranger.new_page()
            page.goto(f"{base}/")
            response = _log_in(page, provider, OIDC_STRANGER)
            assert response is not None and response.status == 403
            assert "not named in console.oidc" in page.locator("#error").inner_text()
            page.screenshot(path=str(shots / "oidc-refused.png"), full_page=True)
            assert page.goto(f"{base}/certificates").status == 401  # type: ignore[union-attr]
            stranger.close()
        finally:
            browser.close()

    with ca.client() as http:
        crl = http.get("/crl").content
    assert x509.load_der_x509_crl(crl).get_revoked_certificate_by_serial_number(int(target)) is not None
    logins = [(event, json.loads(data)) for event, data in
              ca.query("SELECT event, data FROM audit_records WHERE event LIKE 'console.login%' ORDER BY seq")]
    assert [(event, data.get("method"), data.get("actor")) for event, data in logins] == [
        ("console.login", "oidc", OIDC_ADMIN), ("console.login.refused", "oidc", None)]
    revocation = ca.query(f"SELECT provisioner, reason FROM revocations WHERE serial = '{target}'")
    assert revocation == [(f"console:{OIDC_ADMIN}", "host retired")]
    print(f"console screenshots: {shots}")
