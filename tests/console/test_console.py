"""The console's pages, access rules, CSRF check and revocation, on a real CA (in process)."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from appliance.audit import AuditLog as ChainLog
from appliance.authority.events import transaction_hook
from appliance.console import AuditRecord, ChainStatus
from appliance.console.app import CONTENT_SECURITY_POLICY, redact
from appliance.console.read_model import CertificateFilter, Cursor, ReadModel, serial_candidates
from tests.console.conftest import ADMIN, VIEWER, ConsoleCA


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_no_certificate_no_data(console_ca: ConsoleCA) -> None:
    leaf = console_ca.issue("secret-host.ca.test")
    http = console_ca.client()
    for path in ("/console/", "/console/certificates", f"/console/certificates/{leaf.serial_number}",
                 "/console/provisioners", "/console/acme", "/console/audit"):
        response = http.get(path)
        assert response.status_code == 401, path
        assert "secret-host" not in response.text and str(leaf.serial_number) not in response.text
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_a_certificate_not_named_is_refused_and_a_revoked_admin_too(console_ca: ConsoleCA) -> None:
    console_ca.issue("secret-host.ca.test")
    stranger = console_ca.client(console_ca.client_certificate("someone@ca.test"))
    assert stranger.get("/console/certificates").status_code == 403
    admin_cert = console_ca.client_certificate(ADMIN)
    console_ca.authority.revoke_authorized(str(admin_cert.serial_number), 1, "lost", "test")
    response = console_ca.client(admin_cert).get("/console/certificates")
    assert response.status_code == 403 and "revoked" in response.text and "secret-host" not in response.text


def test_public_view_shows_pages_without_revoke(console_ca: ConsoleCA) -> None:
    leaf = console_ca.issue("public.ca.test")
    http = console_ca.client(public_view=True)
    assert "public.ca.test" in http.get("/console/certificates").text
    detail = http.get(f"/console/certificates/{leaf.serial_number}")
    assert detail.status_code == 200 and 'id="revoke"' not in detail.text
    assert http.get(f"/console/certificates/{leaf.serial_number}/revoke").status_code == 403


def test_search_filter_and_detail(console_ca: ConsoleCA) -> None:
    web = console_ca.issue("web.ca.test", ["web.ca.test", "www.ca.test"])
    db = console_ca.issue("db.ca.test")
    http = console_ca.client(console_ca.client_certificate(VIEWER))
    listing = http.get("/console/certificates", params={"q": "WWW.ca"})
    assert str(web.serial_number) in listing.text and str(db.serial_number) not in listing.text
    by_hex = http.get("/console/certificates", params={"q": f"{db.serial_number:x}"})
    assert str(db.serial_number) in by_hex.text and str(web.serial_number) not in by_hex.text
    assert "No certificate" in http.get("/console/certificates", params={"provisioner": "nobody"}).text
    assert str(db.serial_number) in http.get("/console/certificates", params={"status": "active"}).text
    assert "No certificate" in http.get("/console/certificates", params={"status": "revoked"}).text
    detail = http.get(f"/console/certificates/{web.serial_number}")
    assert detail.status_code == 200
    assert web.public_bytes(Encoding.PEM).decode().strip() in detail.text.replace("&#43;", "+")
    assert "DNS:www.ca.test" in detail.text and 'id="revoke"' not in detail.text  # a viewer may not revoke
    assert http.get(f"/console/certificates/{web.serial_number}/revoke").status_code == 403


def test_bad_input_is_a_4xx_page(console_ca: ConsoleCA) -> None:
    http = console_ca.client(console_ca.client_certificate(VIEWER))
    assert http.get("/console/certificates", params={"status": "bogus"}).status_code == 400
    assert http.get("/console/certificates", params={"after": "x.y"}).status_code == 400
    assert http.get("/console/certificates", params={"q": "x" * 300}).status_code == 400
    assert http.get("/console/certificates/notaserial").status_code == 400
    assert http.get("/console/certificates/12345").status_code == 404
    assert http.get("/console/audit", params={"page": "-1"}).status_code == 400
    assert http.get("/console/nowhere").status_code == 404


def test_keyset_paging_visits_every_certificate_once(console_ca: ConsoleCA) -> None:
    serials = {str(console_ca.issue(f"h{i}.ca.test").serial_number) for i in range(7)}
    model = ReadModel(console_ca.database.engine)
    now = datetime.datetime.now(datetime.timezone.utc)
    seen: list[str] = []
    after = None
    while True:
        page = model.certificates(CertificateFilter(), now, after, size=3)
        seen.extend(row.serial for row in page.rows)
        if page.next is None:
            break
        after = Cursor.decode(page.next.encode())
    assert sorted(seen) == sorted(serials)


def test_serial_candidates() -> None:
    assert serial_candidates("0x1f") == {"31"}
    assert serial_candidates("1f") == {"31"}
    assert serial_candidates("01:00") == {"256"}
    assert serial_candidates("10") == {"10", "16"}
    assert serial_candidates("host.example") == set()


def test_provisioners_hide_keys_and_secrets(console_ca: ConsoleCA) -> None:
    page = console_ca.client(console_ca.client_certificate(VIEWER)).get("/console/provisioners").text
    assert "admin" in page and "encryptedKey" in page and "(hidden)" in page
    assert console_ca.ca.config().authority.provisioners[0]["encryptedKey"] not in page
    assert redact({"options": {"webhooks": [{"secret": "s3", "url": "u"}]}, "clientSecret": "x"}) == {
        "options": {"webhooks": [{"secret": "(hidden)", "url": "u"}]}, "clientSecret": "(hidden)"}


def test_overview_and_audit(console_ca: ConsoleCA) -> None:
    console_ca.issue("soon.ca.test")
    viewer = console_ca.client_certificate(VIEWER)
    overview = console_ca.client(viewer).get("/console/").text
    assert 'id="crl-status">enabled' in overview and "disabled (<code>ocsp.enabled" in overview
    assert "audit log not configured" in console_ca.client(viewer).get("/console/audit").text

    class Audit:
        def records(self, page: int, size: int) -> list[AuditRecord]:
            return [AuditRecord(7 - page, datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
                                "revocation", "console:admin", "serial 5", "ok", "ab" * 32)]

        def chain_status(self) -> ChainStatus:
            return ChainStatus(intact=False, records=7, detail="record 3 was edited")

    audit = console_ca.client(viewer, audit=Audit()).get("/console/audit").text
    assert "BROKEN" in audit and "record 3 was edited" in audit and "console:admin" in audit


def test_csrf_less_or_cross_site_revocation_changes_nothing(console_ca: ConsoleCA) -> None:
    leaf = console_ca.issue("victim.ca.test")
    http = console_ca.client(console_ca.client_certificate(ADMIN))
    url = f"/console/certificates/{leaf.serial_number}/revoke"
    assert http.post(url, data={"reason_code": "1"}).status_code == 403
    token = _token(http.get(url).text)
    assert http.post(url, data={"reason_code": "1", "csrf_token": "A" * 43}).status_code == 403
    assert http.post(url, data={"reason_code": "1", "csrf_token": token},
                     headers={"origin": "https://evil.test"}).status_code == 403
    assert http.post(url, data={"reason_code": "2", "csrf_token": token}).status_code == 400
    assert not console_ca.authority.is_revoked(str(leaf.serial_number))
    viewer = console_ca.client(console_ca.client_certificate(VIEWER))
    assert viewer.post(url, data={"reason_code": "1", "csrf_token": token},
                       cookies={"__Host-console-csrf": token}).status_code == 403
    assert not console_ca.authority.is_revoked(str(leaf.serial_number))


def test_admin_revokes_and_the_crl_lists_it(console_ca: ConsoleCA, tmp_path: Path) -> None:
    leaf = console_ca.issue("retire.ca.test")
    http = console_ca.client(console_ca.client_certificate(ADMIN))
    url = f"/console/certificates/{leaf.serial_number}/revoke"
    confirm = http.get(url)
    assert confirm.status_code == 200 and "retire.ca.test" in confirm.text
    done = http.post(url, data={"reason_code": "4", "reason": "replaced", "csrf_token": _token(confirm.text)},
                     follow_redirects=False)
    assert done.status_code == 303
    assert 'id="cert-status">revoked' in http.get(done.headers["location"]).text
    listing = http.get("/console/certificates", params={"status": "revoked"}).text
    assert str(leaf.serial_number) in listing
    assert http.get(url).status_code == 409
    crl_path = tmp_path / "ca.crl"
    crl_path.write_bytes(http.get("/crl").content)
    text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(crl_path), "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    assert f"{leaf.serial_number:X}" in text.replace(":", "").upper() and "Superseded" in text
    crl = x509.load_der_x509_crl(crl_path.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None


def test_expiry_timeline_counts_unrevoked_certificates(console_ca: ConsoleCA) -> None:
    leaves = [console_ca.issue(f"t{i}.ca.test") for i in range(3)]  # the provisioner's default: 24 h
    model = ReadModel(console_ca.database.engine)
    now = datetime.datetime.now(datetime.timezone.utc)
    before = dict(model.expiry_timeline(now))
    for leaf in leaves[:2]:
        console_ca.authority.revoke_authorized(str(leaf.serial_number), 0, "", "test")
    after = dict(model.expiry_timeline(now))
    assert after["7 days"] == before["7 days"] - 2 and after["90 days"] == before["90 days"] - 2
    assert before["24 hours"] == before["90 days"] >= 3
    assert dict(model.expiry_timeline(now + datetime.timedelta(days=2)))["90 days"] == 0


def test_no_script_and_no_external_asset_in_any_template() -> None:
    templates = Path(__file__).resolve().parents[2] / "appliance" / "console" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text().lower()
        assert "<script" not in text and "http://" not in text and "https://" not in text, template.name
        assert " style=" not in text and "<style" not in text, template.name  # the CSP allows no inline style


def test_the_console_is_not_served_on_the_insecure_address(console_ca: ConsoleCA) -> None:
    from starlette.testclient import TestClient

    from appliance.api import ApiSettings, create_insecure_app

    settings = ApiSettings(mounts=(("/console", console_ca.client().app),))
    insecure = TestClient(create_insecure_app(console_ca.authority, settings), base_url="http://ca.test")
    assert insecure.get("/console/certificates").status_code == 404


def _chained_audit(console_ca: ConsoleCA) -> ChainLog:
    """The database's audit chain, wired as the serving runtime wires it."""
    audit = ChainLog(console_ca.database.transaction)
    console_ca.authority.audit = audit
    console_ca.database.audit_hook = transaction_hook(audit)
    return audit


def test_a_console_revocation_is_in_the_audit_chain(console_ca: ConsoleCA) -> None:
    audit = _chained_audit(console_ca)
    leaf = console_ca.issue("audited.ca.test")
    http = console_ca.client(console_ca.client_certificate(ADMIN))
    url = f"/console/certificates/{leaf.serial_number}/revoke"
    done = http.post(url, data={"reason_code": "1", "reason": "key lost", "csrf_token": _token(http.get(url).text)},
                     follow_redirects=False)
    assert done.status_code == 303
    revoked = [json.loads(r.data) for r in audit.page(event_prefix="revoke.").records]
    assert revoked == [{"provisioner": f"console:{ADMIN}", "serial": str(leaf.serial_number), "reason_code": 1,
                        "reason": "key lost", "mtls": False, "passive": True}]
    assert audit.verify().ok


def test_console_login_is_audited_once_an_hour_per_certificate(console_ca: ConsoleCA) -> None:
    audit = _chained_audit(console_ca)
    now = [datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.timezone.utc)]
    admin, viewer = console_ca.client_certificate(ADMIN), console_ca.client_certificate(VIEWER)
    as_admin = console_ca.client(admin, audit_sink=audit, clock=lambda: now[0])
    as_admin.cookies.set("__Host-console-csrf", "S" * 43)
    stranger = console_ca.client(console_ca.client_certificate("someone@ca.test"), audit_sink=audit)

    def logins() -> list[dict[str, str]]:
        return [json.loads(r.data) for r in audit.page(event_prefix="console.").records]

    for path in ("/console/", "/console/certificates", "/console/audit"):
        assert as_admin.get(path).status_code == 200
    assert stranger.get("/console/").status_code == 403
    assert console_ca.client(None, public_view=True, audit_sink=audit).get("/console/").status_code == 200
    assert logins() == [{"actor": ADMIN, "role": "admin", "method": "mtls", "subject": admin.subject.rfc4514_string(),
                         "serial": str(admin.serial_number)}]
    now[0] += datetime.timedelta(minutes=59)
    as_admin.get("/console/")
    assert len(logins()) == 1
    now[0] += datetime.timedelta(minutes=1)
    as_admin.get("/console/")
    console_ca.client(viewer, audit_sink=audit).get("/console/")
    assert [(login["serial"], login["role"]) for login in logins()] == [
        (str(admin.serial_number), "admin"), (str(admin.serial_number), "admin"), (str(viewer.serial_number), "viewer")]
    assert "S" * 43 not in json.dumps(logins())  # nothing of the session
    assert audit.verify().ok
