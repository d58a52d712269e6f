"""``appliance ssh ...``: SSH certificates from the CA (as ``step ssh ...``)."""

from __future__ import annotations

import base64
import datetime
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

from appliance.cli.options import default_path, password_file_option, read_password_file
from appliance.client.http import tls_context
from appliance.client.settings import ClientPaths, resolve
from appliance.client.keys import KeyType, kms_public_key
from appliance.client.ssh import SshClient, load_sshpop_key, ssh_token, sshpop_token
from appliance.client.ssh_agent import SshAgent
from appliance.client.ssh_config import ConfigOutput, Destination, write_output
from appliance.client.ssh_identity import IdentityFiles, token_identity
from appliance.client.ssh_proxy import bastion_command, proxy_direct
from appliance.client.tokens import find_provisioner
from appliance.errors import BadRequest
from appliance.jose import decrypt_jwk, key_from_dict, thumbprint
from appliance.kms import open_key_manager
from appliance.sshcert import (SSHPublicKey, authorized_key, fingerprint, key_blob, key_from_authorized,
                               parse_certificate, ssh_key)


def _client(ca_url: str | None, root: str | None) -> tuple[SshClient, str, str]:
    """The CA client, its URL and the pinned root's fingerprint (``--ca-url``/``--root`` or defaults.json)."""
    settings = resolve(ClientPaths.at(default_path()), ca_url, root)
    return SshClient(settings.ca_url, tls_context(settings.roots_pem)), settings.ca_url, settings.root_fingerprint


F = TypeVar("F", bound=Callable[..., Any])


def _ca_options(command: F) -> F:
    command = click.option("--root", type=click.Path(dir_okay=False),
                           help="The pinned root certificate (default: from defaults.json).")(command)
    return click.option("--ca-url", help="The CA's URL (default: defaults.json).")(command)


def _jwk_token(client: SshClient, ca_url: str, sha: str, provisioner: str, password_file: str | None,
               endpoint: str, subject: str, cert_type: str = "", principals: tuple[str, ...] = ()) -> str:
    entry = find_provisioner(client.provisioners(), provisioner)
    if str(entry.get("type", "")).upper() != "JWK":
        raise BadRequest(f"provisioner '{provisioner}' is not a JWK provisioner: pass its token with --token")
    key_id = str(entry["key"].get("kid") or thumbprint(key_from_dict(entry["key"])))
    password = read_password_file(password_file)
    if password is None:
        password = click.prompt(f"Password of provisioner '{provisioner}'", hide_input=True).encode()
    jwk = decrypt_jwk(entry.get("encryptedKey") or client.encrypted_key(key_id), password)
    return ssh_token(jwk, provisioner=provisioner, ca_url=ca_url, endpoint=endpoint, subject=subject,
                     root_fingerprint=sha, cert_type=cert_type, principals=principals)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _cert_path(key_file: str) -> Path:
    return Path(f"{key_file.removesuffix('.pub')}-cert.pub")


@click.group()
def ssh() -> None:
    """SSH certificates: get, renew, revoke, inspect, log in through ssh-agent; the CA's hosts and KRL."""


def _identity_option(command: F) -> F:
    return click.option("--identity", is_flag=True,
                        help="Also get the X.509 identity certificate (identityCSR), kept in $APPLIANCE_PATH/identity "
                             "(step does so when the CA's /version requires client authentication).")(command)


def _sign_user(client: SshClient, public_key: SSHPublicKey, ott: str, key_id: str, principals: tuple[str, ...],
               identity: bool, valid_after: str = "", valid_before: str = "") -> SSHCertificate:
    """``/ssh/sign`` for a user certificate; with ``identity`` (or when the CA requires client
    authentication, as step decides), the identity certificate is written as step writes it."""
    files = IdentityFiles(ClientPaths.at(default_path()))
    request = files.request(token_identity(ott, key_id)) if identity or client.requires_client_authentication() \
        else None
    signed = client.ssh_sign(public_key, ott, cert_type="user", key_id=key_id, principals=principals,
                             valid_after=valid_after, valid_before=valid_before,
                             identity_csr=request[0] if request else None)
    if request is not None:
        if not signed.identity:
            raise BadRequest("the CA did not return the identity certificate (identityCrt)")
        files.write(signed.identity, request[1])
        click.echo(f"Your identity certificate has been saved in {files.paths.identity_certificate}.", err=True)
    return signed.certificate


@ssh.command()
@click.argument("key_id")
@click.argument("key_file")
@click.option("--host", is_flag=True, help="A host certificate (default: a user certificate).")
@click.option("--principal", "principals", multiple=True, help="A principal (repeatable; default: KEY_ID).")
@click.option("--provisioner", help="The JWK provisioner that makes the token.")
@click.option("--token", "ott", help="A token for /ssh/sign made elsewhere.")
@click.option("--not-before", default="", help="validAfter: a time (RFC 3339) or a duration (-5m).")
@click.option("--not-after", default="", help="validBefore: a time or a duration (8h).")
@click.option("--kms", "kms_uri", help="Keep the private key in this KMS/HSM (created there unless it exists): "
                                       "only KEY_FILE.pub and KEY_FILE-cert.pub are written.")
@click.option("--key-uri", help="The key's URI in --kms (default: KEY_FILE).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@_identity_option
@password_file_option
@_ca_options
def certificate(key_id: str, key_file: str, host: bool, principals: tuple[str, ...], provisioner: str | None,
                ott: str | None, not_before: str, not_after: str, kms_uri: str | None, key_uri: str | None,
                force: bool, identity: bool, password_file: str | None, ca_url: str | None, root: str | None) -> None:
    """Create a key (KEY_FILE, KEY_FILE.pub; an existing KEY_FILE.pub is used as it is; with
    --kms, in the KMS) and get it certified; the certificate goes to KEY_FILE-cert.pub."""
    cert_type = "host" if host else "user"
    if identity and host:
        raise BadRequest("--identity is for user certificates")
    principals = principals or (key_id,)
    key_path, public_path, cert_path = Path(key_file), Path(f"{key_file}.pub"), _cert_path(key_file)
    if cert_path.exists() and not force:
        raise BadRequest(f"{cert_path} exists: pass --force to overwrite it")
    new_key = None
    if kms_uri:
        where, kms_public = kms_public_key(kms_uri, key_uri or key_file, KeyType.EC_P256)
        public_key = ssh_key(kms_public, f"the key {where}")
    elif public_path.exists() and not key_path.exists():
        public_key = key_from_authorized(public_path.read_text())
    else:
        if key_path.exists() and not force:
            raise BadRequest(f"{key_path} exists: pass --force to overwrite it")
        new_key = ec.generate_private_key(ec.SECP256R1())
        public_key = new_key.public_key()
    client, url, sha = _client(ca_url, root)
    with client:
        if not ott:
            if not provisioner:
                raise BadRequest("pass --token, or --provisioner (with --password-file) to make one")
            ott = _jwk_token(client, url, sha, provisioner, password_file, "ssh/sign", key_id, cert_type, principals)
        signed = _sign_user(client, public_key, ott, key_id, principals, identity, not_before, not_after) \
            if not host else client.ssh_sign(public_key, ott, cert_type=cert_type, key_id=key_id,
                                             principals=principals, valid_after=not_before,
                                             valid_before=not_after).certificate
    if new_key is not None:
        _write(key_path, new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                               serialization.NoEncryption()), 0o600)
    if new_key is not None or kms_uri:
        _write(public_path, authorized_key(public_key).encode() + b"\n", 0o644)
    _write(cert_path, signed.public_bytes() + b"\n", 0o644)
    if kms_uri:
        click.echo(f"The private key is {where}.", err=True)
    click.echo(f"Your certificate has been saved in {cert_path} (serial {signed.serial}).", err=True)


def _login(client: SshClient, url: str, sha: str, key_id: str, principals: tuple[str, ...], provisioner: str | None,
           ott: str | None, password_file: str | None, identity: bool, valid_after: str = "",
           valid_before: str = "") -> SSHCertificate:
    """``step ssh login``: a user certificate for a new key held only by the ssh-agent."""
    agent = SshAgent()
    key = ed25519.Ed25519PrivateKey.generate()
    if not ott:
        if not provisioner:
            raise BadRequest("pass --token, or --provisioner (with --password-file) to make one")
        ott = _jwk_token(client, url, sha, provisioner, password_file, "ssh/sign", key_id, "user", principals)
    signed = _sign_user(client, key.public_key(), ott, key_id, principals, identity, valid_after, valid_before)
    lifetime = max(1, signed.valid_before - int(datetime.datetime.now(datetime.timezone.utc).timestamp()))
    agent.add_certificate(key, signed, key_id, lifetime=min(lifetime, 2**32 - 1))
    return signed


@ssh.command()
@click.argument("key_id")
@click.option("--principal", "principals", multiple=True, help="A principal (repeatable; default: KEY_ID).")
@click.option("--provisioner", help="The JWK provisioner that makes the token.")
@click.option("--token", "ott", help="A token for /ssh/sign made elsewhere.")
@click.option("--not-after", default="", help="validBefore: a time or a duration (default: the provisioner's).")
@_identity_option
@password_file_option
@_ca_options
def login(key_id: str, principals: tuple[str, ...], provisioner: str | None, ott: str | None, not_after: str,
          identity: bool, password_file: str | None, ca_url: str | None, root: str | None) -> None:
    """Get a user certificate for a new key held only by the ssh-agent at SSH_AUTH_SOCK,
    which forgets both when the certificate expires."""
    client, url, sha = _client(ca_url, root)
    with client:
        signed = _login(client, url, sha, key_id, principals or (key_id,), provisioner, ott, password_file, identity,
                        valid_before=not_after)
    click.echo(f"The certificate (serial {signed.serial}) and its key are in the ssh-agent.", err=True)


def _agent_certificates(agent: SshAgent) -> list[tuple[bytes, SSHCertificate]]:
    found = []
    for blob, _ in agent.identities():
        if b"-cert-v01@openssh.com" in blob[:64]:
            found.append((blob, parse_certificate(base64.b64encode(blob))))
    return found


def _logged_in(agent: SshAgent, user_ca_keys: list[str], now: int) -> bool:
    """Whether the agent holds a current certificate of one of the CA's user keys (wire
    form, base64); expired ones are removed, as step's ``WithRemoveExpiredCerts``."""
    current = False
    for blob, certificate in _agent_certificates(agent):
        if certificate.valid_before <= now:
            agent.remove(blob)
        elif base64.b64encode(key_blob(certificate.signature_key())).decode() in user_ca_keys and \
                certificate.valid_after <= now:
            current = True
    return current


@ssh.command()
@click.argument("user")
@click.argument("host")
@click.argument("port")
@click.option("--provisioner", help="The JWK provisioner that makes the token, if a login is needed.")
@password_file_option
@_ca_options
def proxycommand(user: str, host: str, port: str, provisioner: str | None, password_file: str | None,
                 ca_url: str | None, root: str | None) -> None:
    """ssh's ProxyCommand (``ProxyCommand appliance ssh proxycommand %r %h %p``), as step's: make
    sure the ssh-agent holds a current user certificate of the CA (else log in as USER), then
    connect to HOST:PORT through the CA's bastion for HOST (with ssh) or directly, piping
    stdin and stdout."""
    client, url, sha = _client(ca_url, root)
    with client:
        now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
        if not _logged_in(SshAgent(), client.ssh_roots().get("userKey", []), now):
            _login(client, url, sha, user, (user,), provisioner, None, password_file, False, valid_after="-1m")
        bastion = client.ssh_bastion(user, host)
    if bastion is not None:
        command = bastion_command(bastion, user, host, port)
        os.execvp(command[0], command)
    proxy_direct(host, port)


@ssh.command()
@click.argument("key_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Every certificate in the agent.")
def logout(key_id: str | None, everything: bool) -> None:
    """Remove the certificates of KEY_ID (or --all) from the ssh-agent."""
    if not key_id and not everything:
        raise BadRequest("name a KEY_ID or pass --all")
    agent = SshAgent()
    removed = 0
    for blob, certificate in _agent_certificates(agent):
        if everything or certificate.key_id.decode() == key_id:
            agent.remove(blob)
            removed += 1
    click.echo(f"{removed} certificate(s) removed from the ssh-agent.", err=True)


@ssh.command(name="list")
def list_certificates() -> None:
    """The certificates in the ssh-agent: key id, type, serial, expiry."""
    for _, certificate in _agent_certificates(SshAgent()):
        described = _describe(certificate)
        click.echo(f"{described['keyID']}\t{described['type']}\t{described['serial']}\t{described['validBefore']}")


@contextmanager
def _sshpop_key(key_file: str, kms_uri: str | None, password_file: str | None) -> Iterator[PrivateKeyTypes]:
    """The key that signs the SSHPOP token: KEY_FILE, or with ``--kms`` the key at the URI
    KEY_FILE in that KMS (it signs there)."""
    if not kms_uri:
        yield load_sshpop_key(Path(key_file), read_password_file(password_file))
        return
    with open_key_manager(kms_uri, password=read_password_file(password_file)) as manager:
        yield manager.create_signer(key_file)


_KMS_SSHPOP = click.option("--kms", "kms_uri", help="KEY_FILE is the key's URI in this KMS/HSM, which signs the "
                                                   "SSHPOP token there.")


@ssh.command()
@click.argument("cert_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("key_file")
@click.option("--provisioner", default="sshpop", show_default=True, help="The SSHPOP provisioner.")
@click.option("--force", is_flag=True, help="Overwrite CERT_FILE.")
@_KMS_SSHPOP
@password_file_option
@_ca_options
def renew(cert_file: str, key_file: str, provisioner: str, force: bool, kms_uri: str | None,
          password_file: str | None, ca_url: str | None, root: str | None) -> None:
    """Renew a host certificate with an SSHPOP token signed by its key; CERT_FILE is rewritten."""
    if not force:
        click.confirm(f"Overwrite {cert_file} with the renewed certificate?", abort=True, err=True)
    old = parse_certificate(Path(cert_file).read_text())
    client, url, _ = _client(ca_url, root)
    with client, _sshpop_key(key_file, kms_uri, password_file) as key:
        renewed = client.ssh_renew(sshpop_token(old, key, provisioner=provisioner, ca_url=url, endpoint="ssh/renew"))
    Path(cert_file).write_bytes(renewed.public_bytes() + b"\n")
    click.echo(f"Your certificate has been saved in {cert_file} (serial {renewed.serial}).", err=True)


@ssh.command()
@click.argument("cert_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("key_file")
@click.option("--provisioner", default="sshpop", show_default=True, help="The SSHPOP provisioner.")
@click.option("--force", is_flag=True, help="Overwrite CERT_FILE, KEY_FILE and KEY_FILE.pub.")
@_KMS_SSHPOP
@click.option("--new-key-uri", help="With --kms: create the new key in the KMS at this URI (CERT_FILE and the "
                                    ".pub beside it are rewritten).")
@password_file_option
@_ca_options
def rekey(cert_file: str, key_file: str, provisioner: str, force: bool, kms_uri: str | None, new_key_uri: str | None,
          password_file: str | None, ca_url: str | None, root: str | None) -> None:
    """Replace a host certificate's key (a new P-256 key) with an SSHPOP token signed by the old
    one; KEY_FILE, KEY_FILE.pub and CERT_FILE are rewritten (with --kms, the new key is made in
    the KMS at --new-key-uri and CERT_FILE's .pub is rewritten)."""
    if bool(kms_uri) != bool(new_key_uri):
        raise BadRequest("--kms and --new-key-uri go together")
    if not force:
        click.confirm(f"Overwrite {key_file} and {cert_file}?", abort=True, err=True)
    old = parse_certificate(Path(cert_file).read_text())
    new_key = None
    if kms_uri and new_key_uri:
        where, kms_public = kms_public_key(kms_uri, new_key_uri, KeyType.EC_P256)
        new_public = ssh_key(kms_public, f"the key {where}")
        public_path = Path(f"{cert_file.removesuffix('-cert.pub')}.pub")
    else:
        new_key = ec.generate_private_key(ec.SECP256R1())
        new_public, public_path = new_key.public_key(), Path(f"{key_file}.pub")
    client, url, _ = _client(ca_url, root)
    with client, _sshpop_key(key_file, kms_uri, password_file) as key:
        token = sshpop_token(old, key, provisioner=provisioner, ca_url=url, endpoint="ssh/rekey")
        rekeyed = client.ssh_rekey(token, new_public)
    if new_key is not None:
        _write(Path(key_file), new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                     serialization.NoEncryption()), 0o600)
    public_path.write_bytes(authorized_key(new_public).encode() + b"\n")
    Path(cert_file).write_bytes(rekeyed.public_bytes() + b"\n")
    click.echo(f"Your certificate has been saved in {cert_file} (serial {rekeyed.serial}).", err=True)


@ssh.command()
@click.argument("serial")
@click.option("--provisioner", help="The JWK provisioner that makes the token.")
@click.option("--token", "ott", help="A token for /ssh/revoke made elsewhere.")
@click.option("--reason", default="", help="Why (free text).")
@password_file_option
@_ca_options
def revoke(serial: str, provisioner: str | None, ott: str | None, reason: str, password_file: str | None,
           ca_url: str | None, root: str | None) -> None:
    """Revoke the SSH certificate SERIAL (it is then in the CA's KRL, /ssh/krl)."""
    client, url, sha = _client(ca_url, root)
    with client:
        if not ott:
            if not provisioner:
                raise BadRequest("pass --token, or --provisioner (with --password-file) to make one")
            ott = _jwk_token(client, url, sha, provisioner, password_file, "ssh/revoke", serial)
        client.ssh_revoke(ott, serial=serial, reason=reason)
    click.echo(f"SSH certificate {serial} has been revoked.", err=True)


@ssh.command()
@click.argument("output", type=click.Path(dir_okay=False))
@_ca_options
def krl(output: str, ca_url: str | None, root: str | None) -> None:
    """Download the CA's KRL (for sshd's RevokedKeys) to OUTPUT."""
    client, _, _ = _client(ca_url, root)
    with client:
        data = client.ssh_krl()
    Path(output).write_bytes(data)


def _describe(certificate: SSHCertificate) -> dict[str, object]:
    def when(value: int) -> str:
        if value >= 2**63 - 1:
            return "forever"
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).isoformat()

    return {
        "type": "user" if certificate.type == SSHCertificateType.USER else "host",
        "keyID": certificate.key_id.decode(), "serial": str(certificate.serial),
        "publicKey": fingerprint(certificate.public_key()),
        "signingKey": fingerprint(certificate.signature_key()),
        "principals": [p.decode() for p in certificate.valid_principals],
        "validAfter": when(certificate.valid_after), "validBefore": when(certificate.valid_before),
        "criticalOptions": {k.decode(): v.decode() for k, v in certificate.critical_options.items()},
        "extensions": {k.decode(): v.decode() for k, v in certificate.extensions.items()},
    }


@ssh.command()
@click.argument("cert_file", type=click.Path(exists=True, dir_okay=False))
def inspect(cert_file: str) -> None:
    """Print an SSH certificate's fields as JSON."""
    click.echo(json.dumps(_describe(parse_certificate(Path(cert_file).read_text())), indent=2))


@ssh.command()
@_ca_options
def hosts(ca_url: str | None, root: str | None) -> None:
    """The hosts holding a current host certificate from the CA."""
    client, _, _ = _client(ca_url, root)
    with client:
        for host in client.ssh_hosts():
            click.echo(str(host.get("hostname", "")))


@ssh.command(name="check-host")
@click.argument("hostname")
@_ca_options
def check_host(hostname: str, ca_url: str | None, root: str | None) -> None:
    """Print true if HOSTNAME holds a current host certificate from the CA, else false (exit 1)."""
    client, _, _ = _client(ca_url, root)
    with client:
        exists = client.ssh_check_host(hostname)
    click.echo("true" if exists else "false")
    if not exists:
        raise SystemExit(1)


def _settings(pairs: tuple[str, ...]) -> dict[str, str]:
    data = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"'{pair}' is not key=value", param_hint="--set")
        data[name] = value
    return data


@ssh.command(name="config")
@click.option("--host", is_flag=True, help="sshd's configuration (default: the client's).")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="Template data (.User.KEY; repeatable), e.g. --set Certificate=ssh_host_ecdsa_key-cert.pub.")
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="Write under this directory: ~ is it, and absolute paths (/etc/ssh/...) go below it.")
@click.option("--dry-run", is_flag=True, help="Print the files instead of writing them.")
@_ca_options
def config(host: bool, pairs: tuple[str, ...], directory: str | None, dry_run: bool, ca_url: str | None,
           root: str | None) -> None:
    """Write the SSH client configuration (trust the host CA) or, with --host, sshd's (trust the user CA)."""
    base = default_path()
    data = {} if host else {"GOOS": "linux", "StepPath": base, "StepBasePath": base}
    data.update(_settings(pairs))
    client, _, _ = _client(ca_url, root)
    with client:
        outputs = [ConfigOutput.from_json(o) for o in client.ssh_config("host" if host else "user", data)]
    destination = Destination(home=Path(directory) if directory else Path.home(), base=Path(base),
                              root=Path(directory) if directory else None)
    now = datetime.datetime.now(datetime.timezone.utc)
    for output in outputs:
        if dry_run:
            click.echo(f"{output.comment} {destination.resolve(output.path)} ({output.type})")
            click.echo(output.content.decode())
        else:
            click.echo(f"{write_output(output, destination, now)}")
