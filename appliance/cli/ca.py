"""``appliance ca ...``: the client commands of the online CA (as ``step ca ...``)."""

from __future__ import annotations

import functools
import webbrowser
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.cli.lazy import LazyGroup
from appliance.cli.options import default_path, key_type_options, password_file_option, read_password_file
from appliance.client.bootstrap import bootstrap as bootstrap_ca
from appliance.client.files import load_key_file, refuse_overwrite, write_certificates, write_private_key
from appliance.client.acme import AcmeClient
from appliance.client.attestation import attested_key, enrol
from appliance.client.http import TIMEOUT, CaClient, SignedChain, tls_context
from appliance.client.keys import KeyType, created_kms_key, csr_pem, generate_private_key, make_csr
from appliance.client.renewal import Renewer, expires_within, run_hook
from appliance.client.revocation import ocsp_request, ocsp_status, parse_serial_number, verified_crl
from appliance.client.settings import CaSettings, ClientPaths, resolve
from appliance.client.identity import CLOUD_TYPES, cloud_token
from appliance.client.ssh import load_sshpop_key, ssh_sign_claim, ssh_token, sshpop_token
from appliance.client.oidc_login import oidc_device_login, oidc_login
from appliance.client.tokens import (
    K8SSA_TOKEN_PATH,
    find_provisioner,
    nebula_token,
    provisioner_token,
    service_account_token,
    x5c_token,
)
from appliance.pki.clock import utc_now
from appliance.pki.duration import parse_duration
from appliance.pki.pem import load_certificates
from appliance.errors import BadRequest
from appliance.jose import UnverifiedToken, decrypt_jwk, generate_jwk, key_from_dict, thumbprint
from appliance.kms import CertificateStore, open_key_manager
from appliance.sshcert import parse_certificate

F = Callable[..., Any]


def client_paths() -> ClientPaths:
    return ClientPaths.at(default_path())


def ca_options(command: F) -> F:
    """``--ca-url`` and ``--root``; both default to defaults.json."""
    command = click.option("--root", type=click.Path(dir_okay=False),
                           help="The pinned root certificate (default: from defaults.json).")(command)
    return click.option("--ca-url", help="The CA's URL, e.g. https://ca.example:9000 (default: defaults.json).")(command)


def secret(path: str | None, prompt: str) -> bytes:
    """The password in ``path``, or one typed at a hidden prompt."""
    password = read_password_file(path)
    if password is None:
        password = click.prompt(prompt, hide_input=True, err=True).encode()
    return password


def say(message: str) -> None:
    """Progress for people, on stderr (stdout carries tokens and JSON)."""
    click.echo(message, err=True)


@dataclass(frozen=True)
class TokenSource:
    """How to make a token when none is given (``provisioner_options``)."""

    provisioner_name: str | None = None
    kid: str | None = None
    password_file: str | None = None
    x5c_cert: str | None = None
    x5c_key: str | None = None
    nebula_cert: str | None = None
    nebula_key: str | None = None
    sshpop_cert: str | None = None
    sshpop_key: str | None = None
    k8ssa_token_path: str | None = None
    metadata_url: str | None = None
    console: bool = False


_FILE = click.Path(exists=True, dir_okay=False)
_SOURCE_OPTIONS = [
    click.option("--provisioner", "--issuer", "provisioner_name",
                 help="The provisioner that authorises the token (JWK, OIDC, K8sSA, AWS, GCP, Azure; "
                      "X5C with --x5c-cert, Nebula with --nebula-cert)."),
    click.option("--kid", help="The provisioner key id, when several share the name."),
    click.option("--x5c-cert", type=_FILE, help="X5C: the certificate (and chain) that authorises the token."),
    click.option("--x5c-key", type=_FILE, help="X5C: the key of --x5c-cert, which signs the token."),
    click.option("--nebula-cert", type=_FILE, help="Nebula: the host's Nebula certificate."),
    click.option("--nebula-key", type=_FILE, help="Nebula: the host's X25519 key (nebula-cert's .key)."),
    click.option("--sshpop-cert", type=_FILE, help="SSHPOP: the SSH host certificate that authorises the token."),
    click.option("--sshpop-key", type=_FILE, help="SSHPOP: the private key of --sshpop-cert, which signs the token."),
    click.option("--k8ssa-token-path", type=_FILE,
                 help=f"K8sSA: the service-account token file (default {K8SSA_TOKEN_PATH})."),
    click.option("--metadata-url", help="AWS/GCP/Azure: the instance metadata service (default: the cloud's)."),
    click.option("--console", is_flag=True, help="OIDC: log in by device code (no browser on this machine)."),
    password_file_option,
]


def provisioner_options(command: F) -> F:
    """The options of ``TokenSource``, handed to the command as ``source``."""
    names = [field.name for field in fields(TokenSource)]

    @functools.wraps(command)
    def with_source(**values: Any) -> Any:
        return command(source=TokenSource(**{name: values.pop(name) for name in names}), **values)

    for option in reversed(_SOURCE_OPTIONS):
        with_source = option(with_source)
    return with_source


def make_token(client: CaClient, settings: CaSettings, source: TokenSource, *, endpoint: str, subject: str,
               sans: Sequence[str] = (), ssh: dict[str, Any] | None = None) -> str:
    """A one-time token for the named provisioner: JWK (its encrypted key, fetched from
    the CA), X5C (signed by --x5c-key), Nebula (by --nebula-key), SSHPOP (by --sshpop-key),
    OIDC (a login), K8sSA (the service-account token), AWS/GCP/Azure (the metadata service).
    ``ssh``: the ``step.ssh`` claim of an ``ssh/sign`` token (JWK, X5C, Nebula)."""
    name = source.provisioner_name
    if not name:
        raise BadRequest("pass --token, or --provisioner (with --password-file) to make one")
    if (source.x5c_cert is None) != (source.x5c_key is None) or (source.nebula_cert is None) != (source.nebula_key is None) \
            or (source.sshpop_cert is None) != (source.sshpop_key is None):
        raise BadRequest("--x5c-cert and --x5c-key go together, and so do --nebula-cert and --nebula-key, "
                         "and --sshpop-cert and --sshpop-key")
    if source.sshpop_cert and source.sshpop_key:
        if endpoint not in SSHPOP_ENDPOINTS:
            raise BadRequest("an SSHPOP token is for --ssh with --renew, --rekey or --revoke")
        try:
            certificate = parse_certificate(Path(source.sshpop_cert).read_text(), "--sshpop-cert")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadRequest(f"cannot read --sshpop-cert {source.sshpop_cert}: {exc}") from None
        pop_key = load_sshpop_key(Path(source.sshpop_key), read_password_file(source.password_file))
        return sshpop_token(certificate, pop_key, provisioner=name, ca_url=settings.ca_url, endpoint=endpoint,
                            subject=subject)
    if endpoint in ("ssh/renew", "ssh/rekey"):
        raise BadRequest("SSH renew and rekey tokens need --sshpop-cert and --sshpop-key")
    if source.nebula_cert and source.nebula_key:
        return nebula_token(Path(source.nebula_cert).read_bytes(), Path(source.nebula_key).read_bytes(),
                            provisioner=name, ca_url=settings.ca_url, endpoint=endpoint, subject=subject, sans=sans,
                            ssh=ssh)
    if source.x5c_cert and source.x5c_key:
        key = load_key_file(Path(source.x5c_key), read_password_file(source.password_file))
        return x5c_token(load_certificates(Path(source.x5c_cert)), key, provisioner=name, ca_url=settings.ca_url,
                         endpoint=endpoint, subject=subject, sans=sans, root_fingerprint=settings.root_fingerprint,
                         ssh=ssh)
    entry = find_provisioner(client.provisioners(), name, source.kid)
    kind = str(entry.get("type", "")).upper()
    if kind in CLOUD_TYPES:
        if endpoint != "sign":
            raise BadRequest(f"a {kind} provisioner's token only signs: revoke with --cert and --key")
        return cloud_token(entry, ca_url=settings.ca_url, subject=subject, metadata_url=source.metadata_url)
    if kind == "OIDC":
        return oidc_device_login(entry, show=_show_code) if source.console else oidc_login(entry, open_browser=_open_browser)
    if kind == "K8SSA":
        return service_account_token(Path(source.k8ssa_token_path or K8SSA_TOKEN_PATH))
    if kind != "JWK":
        raise BadRequest(f"provisioner '{name}' is of type {kind}: pass its credential with --token")
    key_id = str(entry["key"].get("kid") or thumbprint(key_from_dict(entry["key"])))
    encrypted = entry.get("encryptedKey") or client.encrypted_key(key_id)
    jwk = decrypt_jwk(encrypted, secret(source.password_file, f"Password of provisioner '{name}'"))
    if endpoint == "ssh/sign":
        return ssh_token(jwk, provisioner=name, ca_url=settings.ca_url, endpoint=endpoint, subject=subject,
                         root_fingerprint=settings.root_fingerprint, cert_type=str((ssh or {}).get("certType", "")),
                         principals=list((ssh or {}).get("principals", [])))
    return provisioner_token(jwk, provisioner=name, ca_url=settings.ca_url, endpoint=endpoint,
                             subject=subject, sans=sans, root_fingerprint=settings.root_fingerprint)


#: The endpoints an SSHPOP token serves.
SSHPOP_ENDPOINTS = ("ssh/renew", "ssh/rekey", "ssh/revoke")


def token_endpoint(*, ssh: bool, revoke: bool, renew: bool, rekey: bool) -> str:
    """The endpoint of ``ca token``'s flags (step's token types)."""
    if revoke + renew + rekey > 1:
        raise BadRequest("--revoke, --renew and --rekey exclude each other")
    if not ssh:
        if renew or rekey:
            raise BadRequest("--renew and --rekey need --ssh (X.509 certificates renew with `ca renew`)")
        return "revoke" if revoke else "sign"
    return "ssh/revoke" if revoke else "ssh/renew" if renew else "ssh/rekey" if rekey else "ssh/sign"


def _show_code(url: str, code: str) -> None:
    say(f"Visit {url} and confirm the code {code}.")


def _open_browser(url: str) -> None:
    say(f"Your browser has been opened to visit:\n\n    {url}\n")
    webbrowser.open(url)


@click.group(cls=LazyGroup, lazy={
    "provisioner": "appliance.cli.ca_provisioner:provisioner", "acme": "appliance.cli.acme:acme",
    "admin": "appliance.cli.ca_admin:admin", "policy": "appliance.cli.ca_admin:policy"})
def ca() -> None:
    """Use an online CA: bootstrap trust, get, renew and revoke certificates."""


@ca.command()
@click.option("--ca-url", required=True, help="The CA's URL, e.g. https://ca.example:9000.")
@click.option("--fingerprint", "sha256", required=True, help="The SHA-256 fingerprint of the CA's root.")
@click.option("--force", is_flag=True, help="Overwrite an existing root and defaults.json.")
def bootstrap(ca_url: str, sha256: str, force: bool) -> None:
    """Download the root named by its fingerprint; write it and defaults.json."""
    paths = client_paths()
    settings = bootstrap_ca(paths, ca_url, sha256, force=force)
    say(f"The root certificate has been saved in {settings.root}.")
    say(f"The authority configuration has been saved in {paths.defaults}.")


@ca.command()
@ca_options
def health(ca_url: str | None, root: str | None) -> None:
    """Print "ok" if the CA answers over TLS trusted by the pinned root."""
    with resolve(client_paths(), ca_url, root).client() as client:
        click.echo(client.health())


@ca.command()
@click.argument("subject")
@click.option("--san", multiple=True, help="A name the certificate may hold (repeatable; default: SUBJECT).")
@click.option("--revoke", is_flag=True, help="A token to revoke SUBJECT, a serial number.")
@click.option("--ssh", is_flag=True, help="A token for the SSH API: /ssh/sign, or with --renew, --rekey, --revoke.")
@click.option("--renew", is_flag=True, help="With --ssh: a token to renew a host certificate (SSHPOP).")
@click.option("--rekey", is_flag=True, help="With --ssh: a token to rekey a host certificate (SSHPOP).")
@click.option("--host", is_flag=True, help="With --ssh: a host certificate (default: a user certificate).")
@click.option("--principal", "principals", multiple=True, help="With --ssh: a principal (repeatable; default: SUBJECT).")
@provisioner_options
@ca_options
def token(subject: str, san: tuple[str, ...], revoke: bool, ssh: bool, renew: bool, rekey: bool, host: bool,
          principals: tuple[str, ...], source: TokenSource, ca_url: str | None, root: str | None) -> None:
    """Print a one-time token for /sign (or /revoke; with --ssh, /ssh/sign, /ssh/renew,
    /ssh/rekey or /ssh/revoke) from the named provisioner."""
    if not source.provisioner_name:
        raise BadRequest("--provisioner is required")
    if (host or principals) and not ssh:
        raise BadRequest("--host and --principal need --ssh")
    endpoint = token_endpoint(ssh=ssh, revoke=revoke, renew=renew, rekey=rekey)
    claim = ssh_sign_claim(subject, "host" if host else "user", principals) if endpoint == "ssh/sign" else None
    settings = resolve(client_paths(), ca_url, root)
    with settings.client() as client:
        click.echo(make_token(client, settings, source, endpoint=endpoint, subject=subject, sans=san, ssh=claim))


def _token_sans(ott: str) -> list[str]:
    """The names a given token authorises (its ``sans``), to put in the CSR."""
    sans = UnverifiedToken.parse(ott, allow_special=True).claims.get("sans")
    return [s for s in sans if isinstance(s, str)] if isinstance(sans, list) else []


def _issue(settings: CaSettings, key: PrivateKeyTypes, subject: str, sans: Sequence[str], ott: str | None,
           source: TokenSource, not_before: str, not_after: str) -> SignedChain:
    """CSR, token (unless given), POST /sign; the signed chain, checked to hold our key."""
    with settings.client() as client:
        ott = ott or make_token(client, settings, source, endpoint="sign", subject=subject, sans=sans)
        names = list(sans) or _token_sans(ott)
        signed = client.sign(csr_pem(make_csr(subject, names, key)), ott, not_before=not_before, not_after=not_after)
    if signed.leaf.public_key() != key.public_key():
        raise BadRequest("the CA returned a certificate for another key")
    return signed


@ca.command()
@click.argument("subject")
@click.argument("crt_file", type=click.Path(dir_okay=False))
@click.argument("key_file", required=False, type=click.Path(dir_okay=False))
@click.option("--token", "ott", help="A one-time token (default: made with --provisioner).")
@click.option("--san", multiple=True, help="A name for the certificate (repeatable; default: the token's).")
@click.option("--not-before", default="", help="Validity start: RFC 3339 time or duration from now.")
@click.option("--not-after", default="", help="Validity end: RFC 3339 time or duration from now (e.g. 2h).")
@key_type_options
@click.option("--kms", "kms_uri", help="Create the key in this KMS/HSM instead of a file.")
@click.option("--key-uri", help="The key's URI in --kms (default: KEY_FILE).")
@click.option("--attestation-uri", help="ACME device-attest-01 with the key in this device (yubikey:slot-id=9a; "
                                      "created when the slot is empty); SUBJECT is the device's serial number.")
@click.option("--pin-source", type=click.Path(exists=True, dir_okay=False),
              help="A file holding the PIN of --attestation-uri's device.")
@click.option("--store-certificate", is_flag=True, help="With --attestation-uri: also write the certificate into the slot.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@provisioner_options
@ca_options
def certificate(subject: str, crt_file: str, key_file: str | None, ott: str | None, san: tuple[str, ...],
                not_before: str, not_after: str, kty: str, crv: str | None, size: int | None,
                kms_uri: str | None, key_uri: str | None, attestation_uri: str | None, pin_source: str | None,
                store_certificate: bool, force: bool, source: TokenSource, ca_url: str | None,
                root: str | None) -> None:
    """Create a key (file or KMS), get it certified, write CRT (leaf + chain) and KEY."""
    settings = resolve(client_paths(), ca_url, root)
    key_type = KeyType.parse(kty, crv, size)
    crt = Path(crt_file)
    attested_only = {"--pin-source": pin_source, "--store-certificate": store_certificate}
    if attestation_uri:
        _refuse_with_attestation({"KEY_FILE": key_file, "--token": ott, "--san": san, "--kms": kms_uri,
                                  "--key-uri": key_uri, "--not-before": not_before, "--not-after": not_after})
        refuse_overwrite([crt], force)
        _attested_certificate(settings, subject, crt, attestation_uri, read_password_file(pin_source), key_type,
                              source.provisioner_name, store_certificate)
        return
    if any(attested_only.values()):
        raise BadRequest(f"{', '.join(k for k, v in attested_only.items() if v)} only apply with --attestation-uri")
    if kms_uri:
        uri = key_uri or key_file
        if not uri:
            raise BadRequest("--kms needs --key-uri (or KEY_FILE as the key URI)")
        refuse_overwrite([crt], force)
        with created_kms_key(kms_uri, uri, key_type) as (created, signer):
            signed = _issue(settings, signer, subject, san, ott, source, not_before, not_after)
        write_certificates(crt, signed.certificates)
        say(f"Your certificate has been saved in {crt}; its key is {created}.")
        return
    if not key_file:
        raise BadRequest("KEY_FILE is required (or --kms with --key-uri)")
    refuse_overwrite([crt, Path(key_file)], force)
    key = generate_private_key(key_type)
    signed = _issue(settings, key, subject, san, ott, source, not_before, not_after)
    write_private_key(Path(key_file), key)
    write_certificates(crt, signed.certificates)
    say(f"Your certificate has been saved in {crt}.")
    say(f"Your private key has been saved in {key_file}.")


def _refuse_with_attestation(options: dict[str, Any]) -> None:
    given = [name for name, value in options.items() if value]
    if given:
        raise BadRequest(f"--attestation-uri cannot be combined with {', '.join(given)}: the key is the device's "
                         f"and the order names only SUBJECT")


def _attested_certificate(settings: CaSettings, subject: str, crt: Path, attestation_uri: str, pin: bytes | None,
                          key_type: KeyType, provisioner: str | None, store_certificate: bool) -> None:
    """The device-attest-01 order of ``step ca certificate --attestation-uri`` with an ACME provisioner."""
    if not provisioner:
        raise BadRequest("--attestation-uri needs --provisioner: the ACME provisioner with device-attest-01")
    directory = f"{settings.ca_url}/acme/{provisioner}/directory"
    with open_key_manager(attestation_uri, password=pin) as manager, \
            httpx.Client(verify=tls_context(settings.roots_pem), timeout=TIMEOUT) as http:
        key = attested_key(manager, attestation_uri, key_type)
        if key.created:
            say(f"Created a {key_type.name} key in {key.name}.")
        chain = enrol(AcmeClient(http, directory, generate_jwk("EC")), subject, key)
        if store_certificate:
            if not isinstance(manager, CertificateStore):
                raise BadRequest(f"the {manager.scheme}: backend cannot store certificates")
            manager.store_certificate(attestation_uri, chain[0])
    write_certificates(crt, chain)
    say(f"Your certificate has been saved in {crt}; its key is {key.name}.")


@ca.command()
@click.argument("crt_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite CRT_FILE without asking.")
@click.option("--daemon", is_flag=True,
              help="Keep renewing at 2/3 of each certificate's lifetime (or --expires-in before expiry).")
@click.option("--exec", "exec_command", help="Command to run after each renewal (not through a shell).")
@click.option("--expires-in", help="Renew only if the certificate expires within this duration (e.g. 8h).")
@password_file_option
@ca_options
def renew(crt_file: str, key_file: str, force: bool, daemon: bool, exec_command: str | None,
          expires_in: str | None, password_file: str | None, ca_url: str | None, root: str | None) -> None:
    """Renew a certificate over mutual TLS (an expired one with an x5c token)."""
    renewer = Renewer(resolve(client_paths(), ca_url, root), Path(crt_file), Path(key_file),
                      read_password_file(password_file))
    window = parse_duration(expires_in) if expires_in else None
    if daemon:
        say(f"renewing {crt_file} in the background; stop with Ctrl-C")
        renewer.run_daemon(exec_command, say, expires_in=window)
        return
    if window is not None and not expires_within(renewer.current(), window, renewer.now()):
        say(f"{crt_file} does not expire within {expires_in}: not renewed")
        return
    if not force:
        click.confirm(f"Overwrite {crt_file} with the renewed certificate?", abort=True, err=True)
    renewed = renewer.renew()
    say(f"Your certificate has been saved in {crt_file} (serial {renewed.serial_number}).")
    if exec_command:
        run_hook(exec_command, say)


@ca.command()
@click.argument("serial")
@click.option("--token", "ott", help="A revoke token for SERIAL.")
@click.option("--cert", "cert_file", type=click.Path(exists=True, dir_okay=False),
              help="Revoke over mutual TLS with this certificate (and --key).")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False), help="The key of --cert.")
@click.option("--reason", default="", help="Free-text reason.")
@click.option("--reasonCode", "--reason-code", "reason_code", type=click.IntRange(0, 10), default=0,
              help="RFC 5280 reason code (1 key compromise, 4 superseded, ...).")
@provisioner_options
@ca_options
def revoke(serial: str, ott: str | None, cert_file: str | None, key_file: str | None, reason: str,
           reason_code: int, source: TokenSource, ca_url: str | None, root: str | None) -> None:
    """Revoke a certificate (passively) by serial number."""
    settings = resolve(client_paths(), ca_url, root)
    if (cert_file is None) != (key_file is None):
        raise BadRequest("--cert and --key go together")
    if cert_file and key_file:
        with settings.client((Path(cert_file), Path(key_file))) as client:
            client.revoke(serial, reason_code=reason_code, reason=reason)
    else:
        with settings.client() as client:
            ott = ott or make_token(client, settings, source, endpoint="revoke", subject=serial)
            client.revoke(serial, reason_code=reason_code, reason=reason, ott=ott)
    say(f"Certificate with serial number {serial} has been revoked.")


def _issuer(client: CaClient, settings: CaSettings) -> x509.Certificate:
    """The CA's intermediate, believed only once it verifies to the pinned root."""
    roots = load_certificates(settings.root)
    for intermediate in client.intermediates():
        if any(_issued_by(intermediate, root) for root in roots):
            return intermediate
    raise BadRequest("the CA's intermediate does not verify to the pinned root")


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@ca.command()
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Also write the CRL (DER) to this file.")
@ca_options
def crl(out_file: str | None, ca_url: str | None, root: str | None) -> None:
    """Fetch the CA's CRL, check its signature and print what it says."""
    settings = resolve(client_paths(), ca_url, root)
    with settings.client() as client:
        der = client.crl()
        issuer = _issuer(client, settings)
    parsed = verified_crl(der, issuer, utc_now())
    number = parsed.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    click.echo(f"CRL number {number}, this update {parsed.last_update_utc.isoformat()}, "
               f"next update {parsed.next_update_utc.isoformat() if parsed.next_update_utc else '-'}, "
               f"{len(parsed)} revoked")
    for entry in parsed:
        click.echo(f"  {entry.serial_number} revoked {entry.revocation_date_utc.isoformat()}")
    if out_file:
        Path(out_file).write_bytes(der)


@ca.command()
@click.argument("serial")
@ca_options
def ocsp(serial: str, ca_url: str | None, root: str | None) -> None:
    """Ask the CA's OCSP responder for SERIAL's status (decimal, or hex with 0x); the
    response is checked against the CA's intermediate. Exits 1 unless it is good."""
    number = parse_serial_number(serial)
    settings = resolve(client_paths(), ca_url, root)
    with settings.client() as client:
        issuer = _issuer(client, settings)
        status = ocsp_status(client.ocsp(ocsp_request(number, issuer)), number, issuer, utc_now())
    click.echo(f"{number}: {status}")
    if status.status != "good":
        raise SystemExit(1)
