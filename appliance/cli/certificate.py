"""``appliance certificate ...``: inspect, fingerprint and verify certificate files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from appliance.client.describe import describe, render_text
from appliance.client.files import fingerprint as sha256_fingerprint
from appliance.client.files import load_certificates
from appliance.client.revocation import check_revocation, distribution_points, ocsp_responders
from appliance.client.verify import verify_chain
from appliance.errors import BadRequest
from appliance.pki.clock import utc_now

crt_argument = click.argument("crt_file", type=click.Path(exists=True, dir_okay=False))
bundle_option = click.option("--bundle", is_flag=True, help="Every certificate in the file, not only the first.")


@click.group()
def certificate() -> None:
    """Look at and check X.509 certificates (PEM bundles or DER)."""


@certificate.command()
@crt_argument
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@bundle_option
def inspect(crt_file: str, output: str, bundle: bool) -> None:
    """Print a certificate's fields."""
    certificates = load_certificates(Path(crt_file))
    described = [describe(c) for c in (certificates if bundle else certificates[:1])]
    if output == "json":
        click.echo(json.dumps(described if bundle else described[0], indent=2))
    else:
        click.echo("".join(render_text(d) for d in described), nl=False)


@certificate.command()
@crt_argument
@bundle_option
def fingerprint(crt_file: str, bundle: bool) -> None:
    """Print the SHA-256 fingerprint (hex) of the certificate."""
    certificates = load_certificates(Path(crt_file))
    for item in certificates if bundle else certificates[:1]:
        click.echo(sha256_fingerprint(item))


@certificate.command()
@crt_argument
@click.option("--roots", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The trusted root certificate(s), a PEM bundle.")
@click.option("--host", help="Check the certificate as a TLS server certificate for this name.")
@click.option("--verify-crl", is_flag=True, help="Check the CRL at the certificate's distribution point.")
@click.option("--crl-endpoint", help="Check the CRL at this URL (implies --verify-crl).")
@click.option("--verify-ocsp", is_flag=True, help="Ask the OCSP responder named in the certificate.")
@click.option("--ocsp-endpoint", help="Ask the OCSP responder at this URL (implies --verify-ocsp).")
def verify(crt_file: str, roots: str, host: str | None, verify_crl: bool, crl_endpoint: str | None,
           verify_ocsp: bool, ocsp_endpoint: str | None) -> None:
    """Verify CRT_FILE (leaf, then intermediates) up to one of the roots, and with the
    revocation flags that neither the CRL nor OCSP says it is revoked; silent when it holds."""
    path = verify_chain(load_certificates(Path(crt_file)), load_certificates(Path(roots)), host=host)
    leaf, issuer = path[0], path[min(1, len(path) - 1)]
    crl_url = crl_endpoint or (_first(distribution_points(leaf), "CRL distribution point") if verify_crl else None)
    ocsp_url = ocsp_endpoint or (_first(ocsp_responders(leaf), "OCSP responder") if verify_ocsp else None)
    if crl_url or ocsp_url:
        check_revocation(leaf, issuer, crl_url=crl_url, ocsp_url=ocsp_url, now=utc_now())


def _first(urls: list[str], what: str) -> str:
    if not urls:
        raise BadRequest(f"the certificate names no {what}: pass its URL")
    return urls[0]
