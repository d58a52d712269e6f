"""``appliance init``: a new PKI in step-ca's layout (root, intermediate, one JWK
provisioner, ca.json, defaults.json), keys on disk or in an HSM/KMS; or the online
CA of a key ceremony (its root and intermediate certificates, the intermediate key
in the online HSM, no root key)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance.authority.root_crl import ROOT_CRL_PATH
from appliance.authority.urls import ROOT_PATH, public_base
from appliance.ceremony.build import authority_key_identifier, ca_certificate
from appliance.ceremony.model import CertificateProfile, Subject
from appliance.cli.options import default_path, key_type_options, password_file_option, read_password_file
from appliance.client.settings import ClientPaths
from appliance.server.remote_management import DEFAULT_ADMIN_SUBJECT
from appliance.config import DefaultsConfig, parse_config, write_defaults, write_json
from appliance.errors import BadRequest
from appliance.jose import encrypt_jwk, generate_jwk, public_dict
from appliance.kms import KeyManager, KeyType, open_key_manager, parse_uri
from appliance.kms.softkms import load_private_key
from appliance.lint import lint_crl
from appliance.pki.keys import signature_hash

CA_VALIDITY = datetime.timedelta(days=3650)
ROOT_CRL_VALIDITY = datetime.timedelta(days=365)
CA_KEY_USAGES = frozenset({"cert-sign", "crl-sign"})
KEY_TYPE = KeyType.EC_P256  # the default of --kty, and the SSH CA keys' type
TLS_DEFAULTS = {
    "cipherSuites": [
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ],
    "minVersion": 1.2,
    "maxVersion": 1.3,
    "renegotiation": False,
}


@dataclass(frozen=True)
class Layout(ClientPaths):
    """step-ca's directory layout under ``$STEPPATH``: the client's files and the CA's."""

    @property
    def root_crl(self) -> Path:
        return self.base / "certs" / "root_ca.crl"

    @property
    def intermediate_crt(self) -> Path:
        return self.base / "certs" / "intermediate_ca.crt"

    @property
    def root_key(self) -> Path:
        return self.base / "secrets" / "root_ca_key"

    @property
    def intermediate_key(self) -> Path:
        return self.base / "secrets" / "intermediate_ca_key"

    @property
    def database(self) -> Path:
        return self.base / "db" / "appliance.sqlite"


@dataclass(frozen=True)
class InitOptions:
    """Everything ``appliance init`` asks for."""

    path: Path
    name: str
    dns_names: tuple[str, ...]
    address: str
    provisioner: str
    password: bytes
    kms_uri: str | None = None
    root_key_uri: str | None = None
    intermediate_key_uri: str | None = None
    root_cert: Path | None = None
    root_key_file: Path | None = None
    intermediate_cert: Path | None = None
    insecure_address: str = ""
    ocsp: bool = False
    #: ``--ssh``: an SSH CA too (user and host keys in --kms, or files under secrets/).
    ssh: bool = False
    ssh_user_key_uri: str | None = None
    ssh_host_key_uri: str | None = None
    #: ``--remote-management``: ``enableAdmin`` (provisioners and admins in the database).
    remote_management: bool = False
    #: ``--kty/--crv/--size``: the type of the new root and intermediate keys.
    key_type: KeyType = KEY_TYPE


@dataclass(frozen=True)
class CaKey:
    """A CA key: its signer and what ca.json calls it."""

    signer: PrivateKeyTypes
    reference: str


def _profile(common_name: str, organization: str, path_length: int,
             issuer_urls: tuple[str, ...] = (), crl_urls: tuple[str, ...] = ()) -> CertificateProfile:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return CertificateProfile(
        subject=Subject(common_name=common_name, organization=organization),
        not_before=now - datetime.timedelta(minutes=1),
        not_after=now + CA_VALIDITY,
        path_length=path_length,
        key_usages=CA_KEY_USAGES,
        issuer_urls=issuer_urls,
        crl_urls=crl_urls,
    )


def _new_key(manager: KeyManager, uri: str, key_type: KeyType = KEY_TYPE) -> CaKey:
    """A new key named ``uri`` (a KMS key URI, or a path for softkms)."""
    created = manager.create_key(uri, key_type)
    return CaKey(manager.create_signer(created.uri), uri)


def load_certificate_file(path: Path) -> x509.Certificate:
    """A PEM or DER certificate."""
    try:
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except OSError as exc:
        raise BadRequest(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise BadRequest(f"{path} is not a PEM or DER certificate") from None


def _is_key_of(public_key: PublicKeyTypes, certificate: x509.Certificate) -> bool:
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return public_key.public_bytes(serialization.Encoding.DER, public) == certificate.public_key().public_bytes(
        serialization.Encoding.DER, public)


def _existing_root(options: InitOptions) -> tuple[x509.Certificate, PrivateKeyTypes]:
    """``--root CERT --key KEY``: the key may be PKCS#1, PKCS#8 or SEC1, PEM or DER, encrypted or not."""
    assert options.root_cert is not None and options.root_key_file is not None
    certificate = load_certificate_file(options.root_cert)
    try:
        data = options.root_key_file.read_bytes()
    except OSError as exc:
        raise BadRequest(f"cannot read {options.root_key_file}: {exc.strerror}") from None
    encrypted = b"ENCRYPTED" in data
    key = load_private_key(data, options.password if encrypted else None)
    if not _is_key_of(key.public_key(), certificate):
        raise BadRequest(f"{options.root_key_file} is not the key of {options.root_cert}")
    return certificate, key


def _ceremony_pki(options: InitOptions) -> tuple[x509.Certificate, x509.Certificate, str]:
    """``--root CERT --intermediate CERT --intermediate-key-uri URI``: a key ceremony's outputs, checked
    before anything is written: the intermediate is an unexpired CA certificate signed by the root, and
    the key in the KMS is the intermediate's. The root key is never asked for."""
    assert options.root_cert is not None and options.intermediate_cert is not None
    assert options.intermediate_key_uri is not None
    root = load_certificate_file(options.root_cert)
    intermediate = load_certificate_file(options.intermediate_cert)
    try:
        intermediate.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise BadRequest(f"{options.intermediate_cert} is not signed by {options.root_cert}") from None
    try:
        is_ca = intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise BadRequest(f"{options.intermediate_cert} is not a CA certificate")
    expiry = intermediate.not_valid_after_utc
    if expiry <= datetime.datetime.now(datetime.timezone.utc):
        raise BadRequest(f"{options.intermediate_cert} expired on {expiry:%Y-%m-%d %H:%M:%SZ}")
    with open_key_manager(options.kms_uri or "softkms:", password=options.password) as manager:
        public_key = manager.create_signer(options.intermediate_key_uri).public_key()
    if not _is_key_of(public_key, intermediate):
        key_name = parse_uri(options.intermediate_key_uri, default_scheme="softkms")  # str() leaves out the query
        raise BadRequest(f"the key {key_name} is not the key of {options.intermediate_cert}")
    return root, intermediate, options.intermediate_key_uri


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _provisioner(name: str, password: bytes, ssh: bool) -> dict[str, Any]:
    """A JWK provisioner whose private key is stored encrypted, like step's (signing SSH
    certificates too with ``--ssh``, as ``step ca init --ssh`` sets it up)."""
    key = generate_jwk()
    provisioner = {"type": "JWK", "name": name, "key": public_dict(key), "encryptedKey": encrypt_jwk(key, password)}
    if ssh:
        provisioner["claims"] = {"enableSSHCA": True}
    return provisioner


def _ssh_keys(options: InitOptions, layout: Layout) -> dict[str, str]:
    """The SSH CA's user and host keys, new, in --kms or as files (their public keys in
    ``certs/ssh_{user,host}_ca_key.pub``); the ca.json ``ssh`` section."""
    section: dict[str, str] = {}
    with open_key_manager(options.kms_uri or "softkms:", password=options.password) as manager:
        for kind, uri in (("user", options.ssh_user_key_uri), ("host", options.ssh_host_key_uri)):
            key = _new_key(manager, uri or str(layout.base / "secrets" / f"ssh_{kind}_ca_key"))
            public = key.signer.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                          serialization.PublicFormat.OpenSSH)
            (layout.base / "certs" / f"ssh_{kind}_ca_key.pub").write_bytes(public + b"\n")
            section[f"{kind}Key"] = key.reference
    return section


def _ca_json(options: InitOptions, layout: Layout, intermediate_key: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "root": str(layout.root),
        "federatedRoots": None,
        "crt": str(layout.intermediate_crt),
        "key": intermediate_key,
        "address": options.address,
        "insecureAddress": options.insecure_address,
        "dnsNames": list(options.dns_names),
        "logger": {"format": "text"},
        "db": {"type": "sqlite", "dataSource": str(layout.database)},
        "authority": {"provisioners": [_provisioner(options.provisioner, options.password, options.ssh)]},
        "tls": TLS_DEFAULTS,
        "crl": {"enabled": True},
    }
    if options.ocsp:
        data["ocsp"] = {"enabled": True}
    if options.remote_management:
        data["authority"]["enableAdmin"] = True
    if options.kms_uri:
        data["kms"] = {"type": parse_uri(options.kms_uri).scheme, "uri": options.kms_uri}
    return data


def _check(options: InitOptions, layout: Layout) -> None:
    if layout.ca_json.exists():
        raise BadRequest(f"{layout.ca_json} exists: refusing to overwrite an initialised CA")
    if not options.dns_names:
        raise BadRequest("at least one --dns name is required")
    if not options.password:
        raise BadRequest("a password is required (it encrypts the keys on disk and the provisioner key)")
    if options.intermediate_cert is not None:
        if options.root_cert is None or not options.intermediate_key_uri:
            raise BadRequest("--intermediate needs --root (the ceremony's root certificate) and --intermediate-key-uri")
        if options.root_key_file is not None or options.root_key_uri:
            raise BadRequest("--intermediate takes no root key (--key, --root-key-uri): the online CA never needs it")
    elif (options.root_cert is None) != (options.root_key_file is None):
        raise BadRequest("--root and --key go together (or --root with --intermediate, from a key ceremony)")
    if options.kms_uri and not options.intermediate_key_uri:
        raise BadRequest("--kms needs --intermediate-key-uri (and --root-key-uri unless --root is given)")
    if options.kms_uri and options.root_cert is None and not options.root_key_uri:
        raise BadRequest("--kms needs --root-key-uri unless an existing root is given with --root/--key")
    if options.kms_uri and options.ssh and not (options.ssh_user_key_uri and options.ssh_host_key_uri):
        raise BadRequest("--ssh with --kms needs --ssh-user-key-uri and --ssh-host-key-uri")
    if (options.ssh_user_key_uri or options.ssh_host_key_uri) and not options.ssh:
        raise BadRequest("--ssh-user-key-uri and --ssh-host-key-uri go with --ssh")
    if options.key_type is not KEY_TYPE and options.intermediate_cert is not None:
        raise BadRequest("--kty/--crv/--size choose new keys: a key ceremony's (--intermediate) exist already")


def _make_directories(layout: Layout, *, secrets: bool) -> None:
    directories = [("certs", 0o755), ("config", 0o755), ("db", 0o700)] + ([("secrets", 0o700)] if secrets else [])
    for directory, mode in directories:
        (layout.base / directory).mkdir(parents=True, exist_ok=True, mode=mode)


def _root_crl(root: x509.Certificate, signer: PrivateKeyTypes) -> bytes:
    """An empty root CRL, number 1, valid a year, as a root CRL ceremony signs it; DER, linted."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root.subject).last_update(now)
           .next_update(now + ROOT_CRL_VALIDITY)
           .add_extension(x509.CRLNumber(1), critical=False)
           .add_extension(authority_key_identifier(root), critical=False)
           .sign(signer, signature_hash(signer)))  # type: ignore[arg-type]
    der = crl.public_bytes(serialization.Encoding.DER)
    errors = [finding for finding in lint_crl(der) if finding.is_error]
    if errors:
        raise BadRequest("the root CRL fails its lint: " + "; ".join(map(str, errors)))
    return der


def _new_pki(options: InitOptions, layout: Layout) -> tuple[x509.Certificate, x509.Certificate, str, bytes]:
    """A new intermediate (and root, unless reused) with new keys; the certificates, the
    key's reference and the root CRL signed while the root key is at hand."""
    with open_key_manager(options.kms_uri or "softkms:", password=options.password) as manager:
        if options.root_cert is not None:
            root, root_signer = _existing_root(options)
        else:
            root_key = _new_key(manager, options.root_key_uri or str(layout.root_key), options.key_type)
            root = ca_certificate(_profile(f"{options.name} Root CA", options.name, 1),
                                  root_key.signer.public_key(), root_key.signer, None)
            root_signer = root_key.signer
        intermediate_key = _new_key(manager, options.intermediate_key_uri or str(layout.intermediate_key),
                                    options.key_type)
        # the CRL is enabled, so leaves carry URLs: the intermediate names its issuer and the issuer's CRL
        base = public_base(options.dns_names, options.address, options.insecure_address)
        intermediate = ca_certificate(_profile(f"{options.name} Intermediate CA", options.name, 0,
                                               (base + ROOT_PATH,), (base + ROOT_CRL_PATH,)),
                                      intermediate_key.signer.public_key(), root_signer, root)
        root_crl = _root_crl(root, root_signer)
    return root, intermediate, intermediate_key.reference, root_crl


def initialise(options: InitOptions) -> Layout:
    """Create the PKI (or take a key ceremony's) and its configuration; the layout written."""
    layout = Layout(options.path.expanduser().resolve())
    _check(options, layout)
    if options.intermediate_cert is not None:
        root, intermediate, intermediate_key = _ceremony_pki(options)
        _make_directories(layout, secrets=False)
        root_crl = None
    else:
        _make_directories(layout, secrets=True)
        root, intermediate, intermediate_key, root_crl = _new_pki(options, layout)
    layout.root.write_bytes(_pem(root))
    layout.intermediate_crt.write_bytes(_pem(intermediate))
    data = _ca_json(options, layout, intermediate_key)
    if root_crl is not None:
        layout.root_crl.write_bytes(root_crl)
        data["crl"]["rootCRL"] = str(layout.root_crl)
    if options.ssh:
        data["ssh"] = _ssh_keys(options, layout)
    parse_config(data, path=layout.ca_json)
    write_json(layout.ca_json, data)
    write_defaults(DefaultsConfig(
        ca_url=f"https://{options.dns_names[0]}:{options.address.rsplit(':', 1)[-1] or '443'}",
        fingerprint=root.fingerprint(hashes.SHA256()).hex(),
        root=str(layout.root),
        ca_config=str(layout.ca_json),
    ), layout.defaults)
    return layout


def _prompt_name(ctx: click.Context, param: click.Parameter, name: str | None) -> str:
    """``--name``, or asked for unless the PKI comes from a key ceremony (``--intermediate``)."""
    if name is not None:
        return name
    if ctx.params.get("intermediate_cert") is not None:
        return ""
    return str(click.prompt("Name of the new PKI"))


def _prompt_dns(ctx: click.Context, param: click.Parameter, dns: tuple[str, ...]) -> tuple[str, ...]:
    """``--dns`` values, or asked for (in option order) when none were given."""
    if dns:
        return dns
    answer = click.prompt("DNS names or IP addresses of the CA (comma separated)", default="localhost")
    return tuple(name.strip() for name in answer.split(",") if name.strip())


@click.command()
@click.option("--path", default=default_path, show_default="$APPLIANCE_PATH or ~/.appliance",
              type=click.Path(file_okay=False), help="Directory of the new CA ($STEPPATH layout).")
@click.option("--name", callback=_prompt_name,
              help="The PKI's name (root and intermediate subjects); not used with --intermediate.")
@click.option("--dns", multiple=True, callback=_prompt_dns, help="A DNS name or IP address of the CA (repeatable).")
@click.option("--address", prompt="Address the CA listens on", default=":8443", show_default=True,
              help="host:port to listen on.")
@click.option("--provisioner", prompt="Name of the first provisioner", help="Name of the first JWK provisioner.")
@click.option("--insecure-address", default="",
              help="host:port of the plain-HTTP listener (CRL, OCSP, CA certificates); their URLs then use it.")
@click.option("--ocsp", is_flag=True, help="Enable the OCSP responder (leaves then carry its URL).")
@password_file_option
@click.option("--kms", "kms_uri", help="The KMS/HSM of the CA keys (e.g. a pkcs11: URI).")
@click.option("--root-key-uri", help="The root key's URI in --kms.")
@click.option("--intermediate-key-uri", help="The intermediate key's URI in --kms.")
@click.option("--remote-management", is_flag=True,
              help="Keep provisioners and admins in the database, managed over the admin API; the first "
                   "start makes 'step' the super admin of the first provisioner.")
@key_type_options
@click.option("--ssh", is_flag=True, help="An SSH CA too: user and host CA keys, SSH on the first provisioner.")
@click.option("--ssh-user-key-uri", help="The SSH user CA key's URI in --kms.")
@click.option("--ssh-host-key-uri", help="The SSH host CA key's URI in --kms.")
@click.option("--root", "root_cert", type=click.Path(exists=True, dir_okay=False),
              help="Reuse this root certificate (with --key, or with --intermediate from a key ceremony).")
@click.option("--key", "root_key_file", type=click.Path(exists=True, dir_okay=False), help="The key of --root.")
@click.option("--intermediate", "intermediate_cert", type=click.Path(exists=True, dir_okay=False),
              help="Use this intermediate certificate from a key ceremony (signed by --root, its key at "
                   "--intermediate-key-uri); no key is created and no root key is needed.")
def init(path: str, name: str, dns: tuple[str, ...], address: str, provisioner: str, password_file: str | None,
         kms_uri: str | None, root_key_uri: str | None, intermediate_key_uri: str | None,
         root_cert: str | None, root_key_file: str | None, intermediate_cert: str | None,
         insecure_address: str, ocsp: bool, ssh: bool, ssh_user_key_uri: str | None,
         ssh_host_key_uri: str | None, remote_management: bool, kty: str, crv: str | None, size: int | None) -> None:
    """Create a root and an intermediate CA, or take them from a key ceremony (--root, --intermediate);
    a JWK provisioner, ca.json and defaults.json. --kty/--crv/--size choose the type of both new CA
    keys (ML-DSA too); SSH CA keys stay EC P-256."""
    key_type = KeyType.parse(kty, crv, size)
    password = read_password_file(password_file)
    if password is None:
        password = click.prompt("Password for the CA keys and the provisioner key", hide_input=True,
                                confirmation_prompt=True).encode()
    layout = initialise(InitOptions(
        path=Path(path), name=name, dns_names=dns, address=address, provisioner=provisioner,
        password=password, kms_uri=kms_uri, root_key_uri=root_key_uri, intermediate_key_uri=intermediate_key_uri,
        root_cert=Path(root_cert) if root_cert else None, root_key_file=Path(root_key_file) if root_key_file else None,
        intermediate_cert=Path(intermediate_cert) if intermediate_cert else None,
        insecure_address=insecure_address, ocsp=ocsp, ssh=ssh, ssh_user_key_uri=ssh_user_key_uri,
        ssh_host_key_uri=ssh_host_key_uri, remote_management=remote_management, key_type=key_type,
    ))
    root = load_certificate_file(layout.root)
    click.echo(f"Root certificate: {layout.root}")
    click.echo(f"Root fingerprint: {root.fingerprint(hashes.SHA256()).hex()}")
    click.echo(f"Intermediate certificate: {layout.intermediate_crt}")
    if ssh:
        click.echo(f"SSH user CA key: {layout.base / 'certs' / 'ssh_user_ca_key.pub'}")
        click.echo(f"SSH host CA key: {layout.base / 'certs' / 'ssh_host_ca_key.pub'}")
    if remote_management:
        click.echo(f"Remote management: on; the first start makes '{DEFAULT_ADMIN_SUBJECT}' the super admin "
                   f"of provisioner '{provisioner}'")
    click.echo(f"Configuration: {layout.ca_json}")
    click.echo(f"Defaults: {layout.defaults}")
