"""Identity tokens of the cloud provisioner types, read from the instance's metadata
service as ``step ca token`` does on AWS, GCP and Azure (the endpoint can be given,
e.g. for tests or a proxy)."""

from __future__ import annotations

import base64
import binascii
import os
import time
from typing import Any

import httpx

from appliance.errors import BadRequest, Unavailable
from appliance.jose import sign_hmac

AWS_METADATA = "http://169.254.169.254"
GCP_METADATA = "http://metadata.google.internal"
AZURE_METADATA = "http://169.254.169.254"
AZURE_RESOURCE = "https://management.azure.com/"
TIMEOUT = 5.0
IMDS_TOKEN_TTL = "21600"


def _get(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.request(kwargs.pop("method", "GET"), url, **kwargs)
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach the metadata service at {url}: {type(exc).__name__}; "
                          "is this an instance of that cloud?") from None
    if response.status_code != 200:
        raise Unavailable(f"the metadata service answered HTTP {response.status_code} for {url}")
    return response


def sign_audience(ca_url: str, fragment: str) -> str:
    """The /sign audience with the provisioner's ``#fragment`` (how the CA finds it)."""
    return f"{ca_url.rstrip('/')}/1.0/sign#{fragment}"


def _imds_session(client: httpx.Client, base: str) -> dict[str, str]:
    """IMDSv2: the header carrying a session token, or none where only v1 answers."""
    try:
        session = client.put(f"{base}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": IMDS_TOKEN_TTL})
    except httpx.HTTPError:
        return {}
    return {"X-aws-ec2-metadata-token": session.text} if session.status_code == 200 else {}


def aws_token(*, provisioner: str, ca_url: str, subject: str, metadata_url: str = AWS_METADATA,
              imds_versions: tuple[str, ...] = ("v2", "v1"), now: float | None = None) -> str:
    """step's AWS token: the instance identity document and its signature, HS256 with the
    signature as key. IMDSv2 (session token) first, then v1, as ``imdsVersions`` lists."""
    base = metadata_url.rstrip("/")
    with httpx.Client(timeout=TIMEOUT) as client:
        headers = _imds_session(client, base) if "v2" in imds_versions else {}
        if not headers and "v1" not in imds_versions:
            raise Unavailable(f"the metadata service at {base} gave no IMDSv2 session token")
        document = _get(client, f"{base}/latest/dynamic/instance-identity/document", headers=headers).content
        signature_text = _get(client, f"{base}/latest/dynamic/instance-identity/signature", headers=headers).text
    try:
        signature = base64.b64decode("".join(signature_text.split()), validate=True)
    except (ValueError, binascii.Error):
        raise BadRequest("the instance identity signature is not base64") from None
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": "ec2.amazonaws.com", "sub": subject, "aud": [sign_audience(ca_url, f"aws/{provisioner}")],
        "iat": issued, "nbf": issued, "exp": issued + 300, "jti": os.urandom(32).hex(),
        "amazon": {"document": base64.b64encode(document).decode(), "signature": base64.b64encode(signature).decode()},
    }
    return sign_hmac(claims, signature)


def gcp_token(*, provisioner: str, ca_url: str, metadata_url: str = GCP_METADATA,
              service_account: str = "default") -> str:
    """A Google-signed instance identity token whose audience is the CA's /sign#gcp/<name>."""
    url = f"{metadata_url.rstrip('/')}/computeMetadata/v1/instance/service-accounts/{service_account}/identity"
    params = {"audience": sign_audience(ca_url, f"gcp/{provisioner}"), "format": "full", "licenses": "FALSE"}
    with httpx.Client(timeout=TIMEOUT) as client:
        return _get(client, url, params=params, headers={"Metadata-Flavor": "Google"}).text.strip()


def azure_token(*, resource: str = AZURE_RESOURCE, metadata_url: str = AZURE_METADATA) -> str:
    """The managed identity's access token for ``resource`` from Azure's IMDS."""
    url = f"{metadata_url.rstrip('/')}/metadata/identity/oauth2/token"
    with httpx.Client(timeout=TIMEOUT) as client:
        response = _get(client, url, params={"api-version": "2018-02-01", "resource": resource},
                        headers={"Metadata": "true"})
    try:
        token = response.json()["access_token"]
    except (ValueError, KeyError, TypeError):
        raise Unavailable("Azure's IMDS answered without an access_token") from None
    return str(token)


CLOUD_TYPES = ("AWS", "GCP", "AZURE")


def cloud_token(provisioner: dict[str, Any], *, ca_url: str, subject: str, metadata_url: str | None = None) -> str:
    """The identity token for a cloud provisioner (its ``/provisioners`` entry)."""
    kind, name = str(provisioner.get("type", "")).upper(), str(provisioner.get("name"))
    if kind == "AWS":
        versions = tuple(provisioner.get("imdsVersions") or ("v2", "v1"))
        return aws_token(provisioner=name, ca_url=ca_url, subject=subject, metadata_url=metadata_url or AWS_METADATA,
                         imds_versions=versions)
    if kind == "GCP":
        return gcp_token(provisioner=name, ca_url=ca_url, metadata_url=metadata_url or GCP_METADATA)
    if kind == "AZURE":
        return azure_token(resource=str(provisioner.get("audience") or AZURE_RESOURCE),
                           metadata_url=metadata_url or AZURE_METADATA)
    raise BadRequest(f"'{name}' is not a cloud provisioner")
